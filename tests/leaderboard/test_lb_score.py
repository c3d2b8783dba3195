"""leaderboard.score: the output folder contract, tofsim datasets as GT, missing files, threads, torch blocked."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leaderboard.errors import ConfigError, InputFileError, ShapeError
from leaderboard.io import PredictionSource, open_ground_truth
from leaderboard.methods import MethodSpec
from leaderboard.protocol import Protocol
from leaderboard.score import score
from leaderboard.score_folder import FILES as OUTPUT_FILES

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ["method", "rmse", "mae", "irmse", "imae", "rel", "d1", "d2", "d3"]


def make_folders(root: Path, rng, n=5, h=12, w=16):
    """GT folder + two prediction folders of .npy files; returns the arrays too."""
    gts, preds = [], {"good": [], "bad": []}
    for d in ("gt", "good", "bad"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        g = rng.uniform(0.5, 6.0, (h, w)).astype(np.float32)
        g[0, :3] = 0.0
        good = (g + rng.normal(0, 0.01, g.shape)).astype(np.float32)
        bad = (g + rng.normal(0, 0.10, g.shape)).astype(np.float32)
        np.save(root / "gt" / f"{i:06d}.npy", g)
        np.save(root / "good" / f"{i:06d}.npy", good)
        np.save(root / "bad" / f"{i:06d}.npy", bad)
        gts.append(g)
        preds["good"].append(good)
        preds["bad"].append(bad)
    return gts, preds


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def per_image_mean(metric, preds, gts):
    from leaderboard.metrics import METRICS

    return float(np.mean([METRICS.get(metric)(p, g) for p, g in zip(preds, gts, strict=True)]))


def test_output_folder_contract(tmp_path, rng):
    gts, preds = make_folders(tmp_path, rng)
    res = score(tmp_path / "gt", {"good": tmp_path / "good", "bad": tmp_path / "bad"}, tmp_path / "out")
    out = tmp_path / "out"
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name
    rows = read_csv(out / "metrics.csv")
    assert [r["method"] for r in rows] == ["good", "bad"]
    assert set(REQUIRED) <= set(rows[0])
    for r in rows:
        for k in ("rmse", "mae", "d1", "irmse"):
            assert float(r[k]) == pytest.approx(per_image_mean(k, preds[r["method"]], gts), rel=1e-12)
        assert float(r["rmse_ci_lo"]) <= float(r["rmse"]) <= float(r["rmse_ci_hi"])
        assert r["n_images"] == "5" and r["missing_policy"] == "penalise" and float(r["density"]) == 1.0
    assert float(rows[0]["rmse"]) < float(rows[1]["rmse"])
    per_image = read_csv(out / "per_image.csv")
    assert len(per_image) == 10 and {"method", "index", "name", "rmse", "density", "sha256"} <= set(per_image[0])
    assert per_image[0]["name"] == "000000" and len(per_image[0]["sha256"]) == 64
    bins = read_csv(out / "bins.csv")
    assert [b["bin"] for b in bins[:5]] == ["0-1", "1-2", "2-3", "3-5", "5-10"]
    n_scored = sum(int(b["n_pixels"]) for b in bins if b["method"] == "good")
    assert n_scored == 5 * (12 * 16 - 3)
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["protocol"]["valid_min_m"] == 1e-4 and doc["protocol"]["hash"] == Protocol().hash()
    assert set(doc["confidence_intervals"]["by_method"]["good"]) >= {"rmse", "mae", "d1"}
    assert doc["versions"]["numpy"] == np.__version__
    assert len(doc["checksums"]["predictions_sha256"]["good"]) == 64
    assert doc["paired_tests"][0]["p_value"] == 2 / 32  # better on all 5 frames: the smallest exact p-value
    assert doc["paired_tests"][0]["p_holm"] == 2 / 32  # one pair of methods: a family of one test per metric
    methods = json.loads((out / "methods.json").read_text())
    assert methods["good"]["path"] == str((tmp_path / "good").resolve()) and methods["good"]["format"] == "npy"
    assert json.loads((out / "protocol.json").read_text())["missing"] == "penalise"
    assert res.rows[0]["method"] == "good" and "good" in res.results


def test_threads_and_processes_do_not_change_numbers(tmp_path, rng):
    make_folders(tmp_path, rng, n=7)
    preds = {"good": tmp_path / "good", "bad": tmp_path / "bad"}
    score(tmp_path / "gt", preds, tmp_path / "o1", workers=1)
    score(tmp_path / "gt", preds, tmp_path / "o2", workers=2)
    score(tmp_path / "gt", preds, tmp_path / "o3", workers=2, executor="process")
    for name in ("metrics.csv", "per_image.csv", "bins.csv", "regions.csv", "paired.csv"):
        ref = (tmp_path / "o1" / name).read_text()
        assert (tmp_path / "o2" / name).read_text() == ref, name
        assert (tmp_path / "o3" / name).read_text() == ref, name
    with pytest.raises(ConfigError, match="executor='fork'; valid: thread, process"):
        score(tmp_path / "gt", preds, tmp_path / "o4", executor="fork")


def test_missing_prediction_files(tmp_path, rng):
    gts, preds = make_folders(tmp_path, rng, n=4)
    (tmp_path / "bad" / "000002.npy").unlink()
    sources = {"bad": tmp_path / "bad"}
    with pytest.raises(InputFileError, match=r"1 of 4 GT frames have no prediction .* \(missing: 000002\)"):
        score(tmp_path / "gt", sources, tmp_path / "o")
    res = score(tmp_path / "gt", sources, tmp_path / "pen", protocol=Protocol(missing_files="penalise"))
    per = res.results["bad"]
    assert per.counts["n_images"] == 4 and res.rows[0]["n_missing_files"] == 1
    g = gts[2]
    assert per.column("mae")[2] == pytest.approx(float(g[g > 1e-4].mean()), rel=1e-6)  # all-zero prediction
    res = score(tmp_path / "gt", sources, tmp_path / "exc", protocol=Protocol(missing_files="exclude"))
    assert res.results["bad"].names == ["000000", "000001", "000003"]
    keep = [0, 1, 3]
    assert res.rows[0]["mae"] == pytest.approx(
        per_image_mean("mae", [preds["bad"][i] for i in keep], [gts[i] for i in keep])
    )
    rows = read_csv(tmp_path / "pen" / "per_image.csv")
    assert [r["missing_file"] for r in rows] == ["0", "0", "1", "0"]


def test_size_mismatch_is_refused(tmp_path, rng):
    make_folders(tmp_path, rng, n=2)
    np.save(tmp_path / "bad" / "000001.npy", np.ones((6, 8), np.float32))
    with pytest.raises(
        ShapeError, match=r"prediction .*000001.npy has size \(6, 8\) but GT frame 000001 has \(12, 16\)"
    ):
        score(tmp_path / "gt", {"bad": tmp_path / "bad"}, tmp_path / "o")


def write_tofsim_dataset(root: Path, rng, n=4, h=12, w=16):
    from tofsim.dataset import schema
    from tofsim.dataset.manifest import make_manifest, split_by_scene, write_manifest
    from tofsim.dataset.writer import write_shard
    from tofsim.frame import Sample, empty_spots

    samples = []
    for i in range(n):
        depth = rng.uniform(0.5, 4.0, (h, w)).astype(np.float32)
        sparse = np.zeros((h, w), np.float32)
        sparse[2::4, 3::5] = depth[2::4, 3::5]
        samples.append(
            Sample(
                rgb=np.zeros((h, w, 3), np.uint8),
                depth_m=depth,
                sparse_m=sparse,
                spot_mask=sparse > 0,
                spots=empty_spots(0),
                K=np.array([[20.0, 0, 7.5], [0, 20.0, 5.5], [0, 0, 1]]),
                pose=np.eye(4),
                meta={"index": i, "scene_id": f"s{i}", "seed": 0, "split": None},
            )
        )
    root.mkdir(parents=True)
    shard = write_shard(root / schema.shard_filename(0), samples, attrs={"seed": 0, "config_hash": "x"})
    splits = split_by_scene([s.meta["scene_id"] for s in samples], (0.5, 0.25, 0.25), seed=0)
    write_manifest(root, make_manifest([shard], config={}, splits=splits, seed=0))
    return samples


def test_tofsim_dataset_gt_with_nlspn_and_npy_predictions(tmp_path, rng):
    pytest.importorskip("tofsim.dataset.reader")
    samples = write_tofsim_dataset(tmp_path / "ds", rng)
    (tmp_path / "npy").mkdir()
    (tmp_path / "nlspn").mkdir()
    for i, s in enumerate(samples):
        np.save(tmp_path / "npy" / f"{i:06d}.npy", s.depth_m + np.float32(0.01))
        Image.fromarray((s.depth_m * 256.0).astype(np.uint16)).save(tmp_path / "nlspn" / f"{i:010d}.png")
    specs = [
        MethodSpec(name="ours", source=PredictionSource(path=tmp_path / "npy"), metadata={"bits": 8}),
        MethodSpec(name="NLSPN", source=PredictionSource(path=tmp_path / "nlspn", fmt="nlspn")),
    ]
    res = score(tmp_path / "ds", specs, tmp_path / "out")
    ours, nlspn = res.rows
    assert ours["mae"] == pytest.approx(0.01, rel=1e-4) and ours["bits"] == 8
    assert 0 < nlspn["mae"] < 1 / 256  # truncation error only
    assert ours["rds"] == pytest.approx(float(np.mean([0.01 / s.sparse_m[s.spot_mask] for s in samples])), rel=1e-4)
    assert np.isfinite(ours["mae_at_spot"]) and np.isfinite(ours["mae_away_from_spot"])
    regions = {r["region"]: r for r in res.results["ours"].regions}
    assert regions["at_spot"]["n_pixels"] == sum(int(s.spot_mask.sum()) for s in samples)
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert doc["ground_truth"]["kind"] == "tofsim" and doc["ground_truth"]["n_frames"] == 4
    score(tmp_path / "ds", specs, tmp_path / "out_proc", executor="process")  # the dataset travels to workers
    assert (tmp_path / "out_proc" / "per_image.csv").read_text() == (tmp_path / "out" / "per_image.csv").read_text()


def test_scoring_works_with_torch_blocked(tmp_path, rng):
    make_folders(tmp_path, rng, n=2)
    code = textwrap.dedent(
        f"""
        import sys
        class BlockTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch.") or name == "completion":
                    raise ImportError("torch is blocked in this test")
                return None
        sys.meta_path.insert(0, BlockTorch())
        from typer.testing import CliRunner
        from leaderboard.cli import app
        from leaderboard.score import score
        score({str(tmp_path / "gt")!r}, {{"good": {str(tmp_path / "good")!r}}}, {str(tmp_path / "lib")!r})
        r = CliRunner().invoke(app, ["score", "--gt", {str(tmp_path / "gt")!r}, "--out", {str(tmp_path / "cli")!r},
                                     "--pred", "bad={tmp_path / "bad"}", "-q"])
        assert r.exit_code == 0, r.output
        assert "torch" not in sys.modules and "completion" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
    assert (tmp_path / "lib" / "metrics.csv").is_file() and (tmp_path / "cli" / "metrics.csv").is_file()


def test_split_of_a_tofsim_dataset_matches_predictions_by_dataset_index(tmp_path, rng):
    samples = write_tofsim_dataset(tmp_path / "ds", rng, n=8)
    import tofsim

    splits = tofsim.open_dataset(tmp_path / "ds").splits
    # a split whose frames are not the first ones of the dataset
    split, test_idx = next((k, v) for k, v in splits.items() if v and v != list(range(len(v))))
    (tmp_path / "pred").mkdir()
    for i in test_idx:  # predictions exist for the test split only, named by dataset index
        np.save(tmp_path / "pred" / f"{i:06d}.npy", samples[i].depth_m + np.float32(0.02))
    gt = open_ground_truth(tmp_path / "ds", split=split)
    assert gt.names == [f"{i:06d}" for i in test_idx]
    res = score(gt, {"ours": tmp_path / "pred"}, tmp_path / "out")
    assert res.rows[0]["mae"] == pytest.approx(0.02, rel=1e-4)
    assert res.rows[0]["n_images"] == len(test_idx)
    with pytest.raises(ConfigError, match="--split needs a tofsim dataset"):
        open_ground_truth(tmp_path / "pred", split=split)


def test_paired_tests_carry_holm_adjusted_p_values(tmp_path, rng):
    from leaderboard.stats import holm_adjust

    make_folders(tmp_path, rng, n=6)
    (tmp_path / "worse").mkdir()
    for i in range(6):
        np.save(tmp_path / "worse" / f"{i:06d}.npy", np.load(tmp_path / "bad" / f"{i:06d}.npy") + np.float32(0.2))
    preds = {"good": tmp_path / "good", "bad": tmp_path / "bad", "worse": tmp_path / "worse"}
    score(tmp_path / "gt", preds, tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "paired.csv")
    assert list(rows[0])[-2:] == ["p_value", "p_holm"] and len(rows) == 6  # 3 pairs x (rmse, mae)
    for metric in ("rmse", "mae"):
        family = [r for r in rows if r["metric"] == metric]
        want = holm_adjust(np.array([float(r["p_value"]) for r in family]))
        np.testing.assert_allclose([float(r["p_holm"]) for r in family], want, rtol=1e-12)
        assert all(float(r["p_holm"]) >= float(r["p_value"]) for r in family)
    doc = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "Holm-Bonferroni" in doc["paired_tests_correction"]
