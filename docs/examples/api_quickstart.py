"""The toolkit's six verbs from Python, end to end on tiny synthetic data (no network, no data files).

    python docs/examples/api_quickstart.py [OUT_DIR]

1. `tofsim.generate`: eight 160 x 120 frames of procedural rooms seen by the SDS spot sensor (four rooms,
   split 2 / 1 / 1 into train / val / test by room).
2. `completion.train`: a tiny tofnet (base width 4, two scales) for one epoch on the training frames.
3. `completion.predict`: depth for the test frames from that run and from nearest-neighbour fill.
4. `leaderboard.score`: both methods against the test frames' ground truth (``OUT_DIR/scores``).
5. `leaderboard.report`: the static HTML report of that score folder (``OUT_DIR/scores/report/index.html``).

It takes about 6 s on a 2-core CPU; `tests/test_api.py` runs it. The numbers say nothing about the methods:
one epoch on four frames trains nothing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import completion
import leaderboard
import tofsim
from completion.train_config import TrainConfig
from leaderboard.io import open_ground_truth
from tofsim.config import GenerateConfig


def main(out_dir: Path) -> Path:
    """Run the five steps into `out_dir` (created) and return the report's ``index.html``."""
    config = GenerateConfig.from_dict(
        {
            "preset": "sds",
            "seed": 0,
            "n_frames": 8,
            "frames_per_scene": 2,
            "camera": {"width_px": 160, "height_px": 120, "fx_px": 146.25, "fy_px": 146.25},
            "split_fractions": {"train": 0.5, "val": 0.25, "test": 0.25},
        }
    )
    data = tofsim.generate(config, out_dir / "data")

    run = completion.train(
        TrainConfig(
            data=str(data), model="tofnet", model_cfg={"base_width": 4, "num_scales": 2}, epochs=1, batch_size=2,
            device="cpu", cpu_threads=1, seed=0,
        ),
        out_dir / "runs" / "tofnet-tiny",
    )  # fmt: skip
    preds = {
        "tofnet-tiny": completion.predict(run, data, out_dir / "preds" / "tofnet-tiny", split="test"),
        "nearest": completion.predict("nearest", data, out_dir / "preds" / "nearest", split="test"),
    }

    result = leaderboard.score(open_ground_truth(data, split="test"), preds, out_dir / "scores")
    for row in result.rows:
        print(f"{row['method']:>12}: RMSE {row['rmse']:.3f} m, MAE {row['mae']:.3f} m over {row['n_images']} frames")
    return leaderboard.report(result.out_dir, figures=False)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(main(Path(sys.argv[1])))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print(main(Path(tmp)))
