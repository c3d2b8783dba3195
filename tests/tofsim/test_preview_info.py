"""tofsim.preview.contact_sheet and tofsim.info.summarize on small hand-built datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tofsim.dataset import schema
from tofsim.dataset.manifest import make_manifest, write_manifest
from tofsim.dataset.reader import open_dataset
from tofsim.dataset.writer import write_shard
from tofsim.errors import ConfigError, OutputError
from tofsim.frame import Sample, SpotStatus, empty_spots
from tofsim.info import format_summary, summarize
from tofsim.preview import HEADER_PX, contact_sheet, sheet_size_px

H, W = 30, 40
STATUSES = [
    [SpotStatus.VALID, SpotStatus.VALID, SpotStatus.DROPOUT],
    [SpotStatus.VALID, SpotStatus.MIXED, SpotStatus.OUT_OF_RANGE, SpotStatus.NO_HIT, SpotStatus.DROPOUT],
    [],
]


def hand_sample(i: int, depth_value: float) -> Sample:
    status = np.array(STATUSES[i], dtype=np.uint8)
    spots = empty_spots(len(status))
    spots["u"] = np.arange(len(status)) * 5 + 3
    spots["v"] = 10
    spots["status"] = status
    ok = status == SpotStatus.VALID
    spots["z_m"][ok] = depth_value
    sparse = np.zeros((H, W), np.float32)
    sparse[10, spots["u"][ok].astype(int)] = depth_value
    depth = np.full((H, W), depth_value, np.float32)
    return Sample(
        rgb=np.full((H, W, 3), 40 * i, np.uint8),
        depth_m=depth,
        sparse_m=sparse,
        spot_mask=sparse > 0,
        spots=spots,
        K=np.array([[30.0, 0, 19.5], [0, 30.0, 14.5], [0, 0, 1]]),
        pose=np.eye(4),
        meta={"index": i, "scene_id": f"s{i}"},
    )


@pytest.fixture
def small_dataset(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    samples = [hand_sample(0, 1.0), hand_sample(1, 3.0), hand_sample(2, 0.0)]  # sample 2: no valid depth
    info = write_shard(out / schema.shard_filename(0), samples, attrs={"seed": 4})
    manifest = make_manifest(
        [info], config={"preset": "sds"}, splits={"train": [0, 1], "val": [2], "test": []}, seed=4, preset="sds"
    )
    write_manifest(out, manifest)
    return open_dataset(out)


def test_contact_sheet_size_and_panels(small_dataset, tmp_path):
    out = contact_sheet(small_dataset, tmp_path / "sheet.png", panel_width_px=80, depth_range_m=(0.0, 4.0))
    with Image.open(out) as im:
        assert im.size == sheet_size_px(3, (H, W), 80) == (320, HEADER_PX + 3 * 60 + 20)
        img = np.asarray(im.convert("RGB")).astype(int)
    panel_h = 60
    # GT depth panel (column 1): sample 2 has no valid depth -> grey; samples 0 and 1 are magma at 1/4 and 3/4.
    centre = lambda row, col: img[HEADER_PX + row * panel_h + panel_h // 2, col * 80 + 40]  # noqa: E731
    np.testing.assert_allclose(centre(2, 1), [128, 128, 128], atol=2)
    from matplotlib import colormaps

    for row, frac in ((0, 0.25), (1, 0.75)):
        expected = np.array(colormaps["magma"](frac)[:3]) * 255
        np.testing.assert_allclose(centre(row, 1), expected, atol=12)
    np.testing.assert_allclose(centre(1, 0), [40, 40, 40], atol=2)  # RGB panel shows the colour
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "sheet.png"]


def test_contact_sheet_rows_and_errors(small_dataset, tmp_path):
    out = contact_sheet(small_dataset, tmp_path / "one.png", indices=[-1], panel_width_px=40)
    with Image.open(out) as im:
        assert im.size == sheet_size_px(1, (H, W), 40)
    out = contact_sheet(small_dataset, tmp_path / "two.png", max_rows=2, panel_width_px=40)
    with Image.open(out) as im:
        assert im.size == sheet_size_px(2, (H, W), 40)
    with pytest.raises(ConfigError, match="out of range"):
        contact_sheet(small_dataset, tmp_path / "x.png", indices=[3])
    with pytest.raises(OutputError, match="does not exist"):
        contact_sheet(small_dataset, tmp_path / "missing" / "x.png")


def test_summarize_counts(small_dataset):
    d = summarize(small_dataset)
    assert d["count"] == 3 and d["scanned"] == 3 and d["image_size"] == [H, W]
    assert d["splits"] == {"test": 0, "train": 2, "val": 1}
    assert d["spots_per_frame"] == {"mean": pytest.approx(8 / 3), "min": 0, "max": 5}
    assert d["valid_spots_per_frame"] == {"mean": 1.0, "min": 0, "max": 2}
    assert d["valid_spot_fraction"] == pytest.approx(3 / 8)
    assert d["status_counts"] == {"valid": 3, "dropout": 2, "mixed": 1, "out_of_range": 1, "no_hit": 1}
    assert d["depth_range_m"] == [1.0, 3.0]
    assert d["valid_depth_fraction"] == pytest.approx(2 / 3)
    assert d["preset"] == "sds" and d["seed"] == 4 and d["config"] == {"preset": "sds"}
    assert "tofsim" in d["versions"]
    assert json.loads(json.dumps(d)) == d  # JSON-ready for `tofsim info --json`
    text = format_summary(d)
    assert "samples      3" in text and "1.000 - 3.000 m" in text and "valid 3" in text
    part = summarize(small_dataset.subset("train"), max_samples=1)
    assert part["count"] == 2 and part["scanned"] == 1 and part["spots_per_frame"]["max"] == 3
    assert "first 1" in format_summary(part)
