import dataclasses

import numpy as np
import pytest
import torch

from completion.data import (
    AugmentConfig,
    CompletionDataset,
    as_sample,
    augment_sample,
    collate,
    make_inputs,
    to_batch,
    toy_samples,
)
from completion.errors import ConfigError, ShapeError
from completion.prefill import nearest_fill
from tofsim.camera import Intrinsics, backproject
from tofsim.frame import Sample


@pytest.fixture
def samples(rng):
    out = toy_samples(3, height_px=32, width_px=48, rng=rng)
    # an off-centre principal point, so that forgetting to update cx after a flip would show
    for s in out:
        s.K[0, 2], s.K[1, 2] = 19.0, 13.5
    return out


def _points(depth, K):  # noqa: N803
    return backproject(depth, Intrinsics.from_K(K, depth.shape[1], depth.shape[0]))


def _plane_fit(points, valid):
    """Least-squares plane n . X = d through the valid points (float64): returns (n, d, max residual)."""
    p = points[valid]
    c = p.mean(axis=0)
    n = np.linalg.svd(p - c)[2][-1]
    return n, float(n @ c), float(np.abs((p - c) @ n).max())


def test_make_inputs_shapes_values_and_prefill(samples):
    s = samples[0]
    x = make_inputs(s)
    assert {k: v.shape for k, v in x.items()} == {
        "rgb": (3, 32, 48), "sparse": (1, 32, 48), "mask": (1, 32, 48), "prefill": (1, 32, 48),
        "dist": (1, 32, 48), "nearest": (1, 32, 48), "spot_status": (2, 32, 48), "K": (3, 3), "depth": (1, 32, 48),
    }  # fmt: skip
    assert all(v.dtype == np.float32 for v in x.values())
    assert np.array_equal(x["rgb"][1], s.rgb[..., 1] / np.float32(255))
    fill, dist = nearest_fill(s.sparse_m, s.spot_mask)
    assert np.array_equal(x["dist"][0], dist)
    assert np.array_equal(make_inputs(s, prefill="nearest")["prefill"][0], fill)
    assert np.array_equal(x["nearest"][0], fill)
    # default linear fill: spots keep their depth, and on a grid row the pixel halfway between two neighbouring
    # spots (an edge of every Delaunay triangulation of a regular grid) is their mean
    ys, xs = np.nonzero(s.spot_mask)
    assert np.allclose(x["prefill"][0][ys, xs], s.sparse_m[ys, xs], atol=1e-6)
    y, x0 = ys[len(ys) // 2], xs[len(xs) // 2]
    x1 = xs[(ys == y) & (xs > x0)].min()
    assert (x1 - x0) % 2 == 0
    mid = 0.5 * (s.sparse_m[y, x0] + s.sparse_m[y, x1])
    assert abs(x["prefill"][0][y, (x0 + x1) // 2] - mid) < 1e-5
    assert set(np.unique(x["mask"])) == {0.0, 1.0}
    assert np.array_equal(x["depth"][0], s.depth_m)


def test_flip_and_crop_keep_the_3d_plane(samples):
    s = samples[1]
    valid = s.depth_m > 0
    n0, d0, res0 = _plane_fit(_points(s.depth_m, s.K), valid)
    assert res0 < 1e-5
    cfg = AugmentConfig(hflip_prob=1.0, crop_hw_px=(20, 30), brightness=0, contrast=0, saturation=0)
    a = augment_sample(s, cfg, rng=np.random.default_rng(5))
    assert a.depth_m.shape == (20, 30) and a.rgb.shape == (20, 30, 3)
    pts = _points(a.depth_m, a.K)
    mirrored = pts * np.array([-1.0, 1.0, 1.0])  # a horizontal flip mirrors x
    ok = a.depth_m > 0
    # every augmented point lies on the original plane (within float32 rounding of depth)
    assert np.abs(mirrored[ok] @ n0 - d0).max() < 1e-5
    # same points, not just the same plane: the crop is a window of the flipped original
    x0 = int(round((47 - s.K[0, 2]) - a.K[0, 2]))  # cx' = (W - 1 - cx) - x0
    y0 = int(round(s.K[1, 2] - a.K[1, 2]))
    orig = _points(s.depth_m, s.K)[y0 : y0 + 20, ::-1][:, x0 : x0 + 30]
    assert np.allclose(mirrored, orig, atol=1e-12)
    # and the intrinsics really had to change: the un-updated K puts the points off the plane
    wrong = _points(a.depth_m, s.K) * np.array([-1.0, 1.0, 1.0])
    assert np.abs(wrong[ok] @ n0 - d0).max() > 1e-2


def test_crop_recomputes_prefill_from_the_cropped_spots(samples):
    s = dataclasses.replace(samples[0])
    ds = CompletionDataset([s], augment=AugmentConfig(hflip_prob=0, crop_hw_px=(10, 40), brightness=0, contrast=0,
                                                      saturation=0), seed=3)  # fmt: skip
    item = ds[0]
    sparse = item["sparse"][0].numpy()
    fill, dist = nearest_fill(sparse, sparse > 0)
    assert np.array_equal(item["prefill"][0].numpy(), fill)
    assert np.array_equal(item["dist"][0].numpy(), dist)
    x0, y0 = s.K[0, 2] - float(item["K"][0, 2]), s.K[1, 2] - float(item["K"][1, 2])
    assert x0 == int(x0) and y0 == int(y0) and 0 <= x0 <= 8 and 0 <= y0 <= 22
    x0, y0 = int(x0), int(y0)
    assert np.array_equal(sparse, s.sparse_m[y0 : y0 + 10, x0 : x0 + 40])
    # spots outside the crop no longer count: the distances differ from the crop of the full distance map
    _, full_dist = nearest_fill(s.sparse_m, s.spot_mask)
    assert (dist >= full_dist[y0 : y0 + 10, x0 : x0 + 40]).all()
    assert not np.array_equal(dist, full_dist[y0 : y0 + 10, x0 : x0 + 40])


def test_colour_jitter_touches_only_rgb(samples):
    s = samples[2]
    cfg = AugmentConfig(hflip_prob=0.0, brightness=0.5, contrast=0.5, saturation=0.5)
    a = augment_sample(s, cfg, rng=np.random.default_rng(1))
    assert a.rgb.dtype == np.uint8 and not np.array_equal(a.rgb, s.rgb)
    for key in ("depth_m", "sparse_m", "spot_mask", "K"):
        assert np.array_equal(getattr(a, key), getattr(s, key))


def test_augmentation_depends_only_on_seed_epoch_index(samples):
    cfg = AugmentConfig(hflip_prob=0.5, crop_hw_px=(16, 24))
    a = CompletionDataset(samples, augment=cfg, seed=7)
    b = CompletionDataset(samples, augment=cfg, seed=7)
    forward = [a[i] for i in range(3)]
    backward = [b[i] for i in reversed(range(3))][::-1]  # other order, same result
    for x, y in zip(forward, backward, strict=True):
        assert all(torch.equal(x[k], y[k]) for k in x)
    epochs = []
    for epoch in range(4):
        a.set_epoch(epoch)
        epochs.append(a[0]["rgb"])
    assert any(not torch.equal(epochs[0], e) for e in epochs[1:])
    assert not torch.equal(CompletionDataset(samples, augment=cfg, seed=8)[0]["rgb"], forward[0]["rgb"])


def test_collate_and_to_batch(samples):
    ds = CompletionDataset(samples, indices=[2, 0])
    batch = collate([ds[0], ds[1]])
    assert batch["rgb"].shape == (2, 3, 32, 48) and batch["K"].shape == (2, 3, 3)
    assert batch["index"].tolist() == [2, 0]
    one = to_batch(samples[0])
    assert one["depth"].shape == (1, 1, 32, 48) and torch.equal(one["depth"][0], batch["depth"][1])


def test_sample_without_ground_truth_gets_zero_depth(samples):
    s = dataclasses.replace(samples[0], depth_m=None)
    assert not make_inputs(s)["depth"].any()
    for names in (("rgb", "sparse_m", "spot_mask", "K"), ("rgb", "sparse", "mask", "K")):  # field or on-disk names
        as_dict = dict(zip(names, (s.rgb, s.sparse_m, s.spot_mask, s.K), strict=True))
        x = make_inputs(as_dict)
        assert not x["depth"].any() and np.array_equal(x["sparse"][0], samples[0].sparse_m)
        assert np.array_equal(x["prefill"], make_inputs(s)["prefill"])


def test_as_sample_is_the_one_mapping_adapter(samples):
    s = samples[0]
    assert as_sample(s) is s
    old = {"rgb": s.rgb, "depth": s.depth_m.astype(np.float64), "sparse": s.sparse_m, "mask": s.spot_mask.astype(int),
           "spots": s.spots, "K": s.K, "pose": s.pose, "meta": s.meta}  # fmt: skip
    got = as_sample(old)
    assert isinstance(got, Sample) and got.depth_m.dtype == np.float32 and got.spot_mask.dtype == bool
    for name in ("rgb", "depth_m", "sparse_m", "spot_mask", "K", "pose"):
        assert np.array_equal(getattr(got, name), getattr(s, name)), name
    assert got.spots is s.spots and got.meta == s.meta
    assert as_sample({"rgb": s.rgb}).depth_m is None
    with pytest.raises(ShapeError, match=r"sample 3: expected a tofsim Sample or a mapping .* got list"):
        as_sample([s.rgb], name="sample 3")


def test_bad_samples_and_configs(samples):
    s = samples[0]
    mapping = {"rgb": s.rgb, "depth_m": s.depth_m, "sparse_m": s.sparse_m, "spot_mask": s.spot_mask, "K": s.K}
    with pytest.raises(ShapeError, match=r"sample: Sample\.rgb: expected shape \(H, W, 3\)"):
        make_inputs(mapping | {"rgb": s.rgb[..., :2]})
    with pytest.raises(ShapeError, match=r"Sample\.rgb: expected dtype uint8"):
        make_inputs(mapping | {"rgb": s.rgb.astype(np.float32)})
    with pytest.raises(ShapeError, match=r"Sample\.sparse_m: expected shape \(32, 48\)"):
        make_inputs(mapping | {"sparse_m": s.sparse_m[:10]})
    with pytest.raises(ShapeError, match=r"Sample\.K: expected shape \(3, 3\)"):
        make_inputs(mapping | {"K": np.eye(4)})
    with pytest.raises(ShapeError, match=r"sample 0: expected a tofsim Sample with .*missing: depth_m, sparse_m"):
        CompletionDataset([{"rgb": s.rgb}])[0]
    with pytest.raises(ShapeError, match="missing: sparse_m, spot_mask, K"):
        make_inputs(dataclasses.replace(s, sparse_m=None, spot_mask=None, K=None))
    small = toy_samples(1, height_px=16, width_px=24, rng=np.random.default_rng(0))[0]
    with pytest.raises(ShapeError, match="different sizes"):
        collate([make_inputs(s), make_inputs(small)])
    with pytest.raises(ConfigError, match="larger than the image"):
        augment_sample(small, AugmentConfig(crop_hw_px=(20, 20)), rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="hflip_prob"):
        AugmentConfig(hflip_prob=2.0)
    with pytest.raises(ConfigError, match="crop_hw_px"):
        AugmentConfig(crop_hw_px=(0, 5))


def test_spot_status_follows_flip_and_crop(samples):
    from completion.prefill import spot_status_maps
    from tofsim.frame import SpotStatus

    s = dataclasses.replace(samples[0])
    ys, xs = np.nonzero(s.spot_mask)
    spots = np.zeros(len(ys) + 1, dtype=s.spots.dtype) if s.spots is not None else None
    assert spots is not None
    spots["u"][:-1], spots["v"][:-1] = xs, ys
    spots["u"][-1], spots["v"][-1], spots["status"][-1] = 3.0, 4.0, SpotStatus.OUT_OF_RANGE  # left, not on a spot
    s = dataclasses.replace(s, spots=spots)
    assert make_inputs(s)["spot_status"][0].any()  # the far flag lights the out-of-range spot's cell
    aug = AugmentConfig(hflip_prob=1.0, crop_hw_px=(20, 30), brightness=0, contrast=0, saturation=0)
    out = augment_sample(s, aug, rng=np.random.default_rng(1))
    got = make_inputs(out)["spot_status"]
    assert np.array_equal(got, spot_status_maps(out.spots, (20, 30)))
    # the flipped, cropped spot table is the flipped, cropped image: spot pixels match the augmented mask
    valid = out.spots["status"] == 0
    inside = (out.spots["u"] >= 0) & (out.spots["u"] < 30) & (out.spots["v"] >= 0) & (out.spots["v"] < 20)
    pick = valid & inside
    assert out.spot_mask[out.spots["v"][pick].astype(int), out.spots["u"][pick].astype(int)].all()
