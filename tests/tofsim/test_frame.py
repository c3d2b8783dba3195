"""`tofsim.frame.Sample`: fields with units, checked where the sample is made."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tofsim.dataset import schema
from tofsim.dataset.reader import FIELDS
from tofsim.errors import ShapeError
from tofsim.frame import Sample, empty_spots

H, W = 6, 8


def _sample(**changes) -> Sample:
    sparse = np.zeros((H, W), np.float32)
    sparse[2, 3] = 1.5
    fields = {
        "rgb": np.zeros((H, W, 3), np.uint8),
        "depth_m": np.full((H, W), 2.0, np.float32),
        "sparse_m": sparse,
        "spot_mask": sparse > 0,
        "spots": empty_spots(1),
        "K": np.array([[10.0, 0, 3.5], [0, 10.0, 2.5], [0, 0, 1]]),
        "pose": np.eye(4),
    }
    return Sample(**(fields | changes))


def test_a_valid_sample_reads_by_attribute():
    s = _sample()
    assert s.depth_m.shape == s.sparse_m.shape == s.spot_mask.shape == (H, W)
    assert s.meta == {} and s.zones is None
    assert not hasattr(s, "keys") and not hasattr(s, "__getitem__")  # no dict-style duck typing
    assert {"depth_m", "sparse_m", "spot_mask"} <= set(vars(s))  # what ../shared/tools/realism.py looks for


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rgb": np.zeros((H, W, 4), np.uint8)}, r"Sample\.rgb: expected shape \(H, W, 3\), got \(6, 8, 4\)"),
        ({"rgb": np.zeros((H, W, 3), np.float32)}, r"Sample\.rgb: expected dtype uint8, got float32"),
        ({"depth_m": np.zeros((H, W), np.float64)}, r"Sample\.depth_m: expected dtype float32, got float64"),
        (
            {"depth_m": np.zeros((H, W - 1), np.float32)},
            r"Sample\.depth_m: expected shape \(6, 8\) \(the H, W of rgb\)",
        ),
        ({"sparse_m": np.zeros((H, W), np.float16)}, r"Sample\.sparse_m: expected dtype float32, got float16"),
        ({"sparse_m": np.zeros((H, W, 1), np.float32)}, r"Sample\.sparse_m: expected shape \(H, W\), got \(6, 8, 1\)"),
        ({"spot_mask": np.zeros((H, W), np.uint8)}, r"Sample\.spot_mask: expected dtype bool, got uint8"),
        ({"spot_mask": np.zeros((H + 1, W), bool)}, r"Sample\.spot_mask: expected shape \(6, 8\)"),
        ({"K": np.eye(4)}, r"Sample\.K: expected shape \(3, 3\), got \(4, 4\)"),
        ({"K": np.full((3, 3), np.nan)}, r"Sample\.K: contains NaN or infinite values"),
        ({"pose": np.eye(3)}, r"Sample\.pose: expected shape \(4, 4\), got \(3, 3\)"),
        ({"zones": {"zone_map": np.zeros((H, 2), np.int16)}}, r"Sample\.zones\['zone_map'\]: expected shape \(6, 8\)"),
    ],
)
def test_a_wrong_field_names_itself(changes, message):
    with pytest.raises(ShapeError, match=message):
        _sample(**changes)
    with pytest.raises(ValueError, match=message):  # ShapeError is also a ValueError
        dataclasses.replace(_sample(), **changes)


def test_the_first_image_field_present_sets_the_size():
    with pytest.raises(ShapeError, match=r"Sample\.sparse_m: expected shape \(6, 8\) \(the H, W of depth_m\)"):
        _sample(rgb=None, sparse_m=np.zeros((3, 3), np.float32))


def test_fields_not_read_are_none_and_not_checked():
    s = Sample(rgb=None, depth_m=None, sparse_m=None, spot_mask=None, spots=None, K=None, pose=np.eye(4))
    assert s.depth_m is None and s.meta == {}
    assert _sample(depth_m=None).depth_m is None  # an input without ground truth


def test_every_image_field_maps_to_its_unchanged_hdf5_name():
    assert schema.SAMPLE_FIELDS == {
        "rgb": "rgb", "depth_m": "depth", "sparse_m": "sparse", "spot_mask": "mask", "K": "K", "pose": "pose"
    }  # fmt: skip
    assert set(schema.SAMPLE_FIELDS) | {"spots", "meta", "zones"} == set(FIELDS)
    assert set(FIELDS) == {f.name for f in dataclasses.fields(Sample)}
