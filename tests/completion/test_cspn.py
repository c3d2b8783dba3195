"""CSPN's propagation against a per-pixel float64 loop written from the paper's equations (Eq. 1 and 3), and the
`cspn` model: re-injection of the spots, constant fields, stability, the network shared with NLSPN, one training run."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from completion import models
from completion.checkpoint import load_model
from completion.data import toy_samples
from completion.errors import ConfigError, ShapeError
from completion.models.cspn_propagation import ConvSpatialPropagation, cspn_propagate, normalize_affinity
from completion.train import TrainConfig, fit

# (dy, dx) of neighbour k: the 3x3 kernel positions without the centre, row-major
OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def reference_affinities(aff_raw, affinity):
    """Per pixel: drop the neighbours outside the image, divide by the sum of |raw|, centre = 1 - sum."""
    _, h, w = aff_raw.shape
    kappa = np.zeros((8, h, w))
    centre = np.ones((h, w))
    for y in range(h):
        for x in range(w):
            raw = []
            for k, (dy, dx) in enumerate(OFFSETS):
                inside = 0 <= y + dy < h and 0 <= x + dx < w
                v = float(aff_raw[k, y, x]) if inside else 0.0
                raw.append(abs(v) if affinity == "abs" else v)
            total = sum(abs(v) for v in raw)
            if total > 0:
                for k in range(8):
                    kappa[k, y, x] = raw[k] / total
            centre[y, x] = 1.0 - sum(kappa[:, y, x])
    return kappa, centre


def reference_cspn(depth_init, aff_raw, sparse, iters, affinity):
    """Eq. 1 and 3 with explicit loops: H_0 = init with the spots written in; each step (centre weight times H_0,
    neighbour weights times H_t), then the spots again."""
    kappa, centre = reference_affinities(aff_raw, affinity)
    h, w = depth_init.shape
    feat = h0 = np.where(sparse > 0, sparse, depth_init)
    steps = []
    for _ in range(iters):
        new = np.zeros_like(feat)
        for y in range(h):
            for x in range(w):
                v = centre[y, x] * h0[y, x]
                for k, (dy, dx) in enumerate(OFFSETS):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        v += kappa[k, y, x] * feat[y + dy, x + dx]
                new[y, x] = v
        feat = np.where(sparse > 0, sparse, new)
        steps.append(feat)
    return feat, steps


def _case(seed, h=4, w=5):
    g = np.random.default_rng(seed)
    depth = g.uniform(1.0, 4.0, (h, w))
    aff = g.normal(0.0, 1.0, (8, h, w))
    sparse = np.zeros((h, w))
    sparse[1, 1], sparse[3, 4], sparse[0, 3] = 2.5, 1.2, 3.7
    return depth, aff, sparse


def _t(a):
    return torch.from_numpy(np.asarray(a, np.float64))[None] if a.ndim == 3 else torch.from_numpy(a)[None, None]


def test_hand_computed_affinities_of_one_pixel():
    aff = torch.zeros(1, 8, 3, 3, dtype=torch.float64)
    aff[0, :, 1, 1] = torch.tensor([1.0, -1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 4.0])  # sum of |raw| = 8
    nb, ref = normalize_affinity(aff, "signed")
    torch.testing.assert_close(nb[0, :, 1, 1], torch.tensor([1, -1, 2, 0, 0, 0, 0, 4], dtype=torch.float64) / 8)
    assert float(ref[0, 0, 1, 1]) == pytest.approx(1 - (1 - 1 + 2 + 4) / 8)  # 0.25
    nb, ref = normalize_affinity(aff, "abs")
    torch.testing.assert_close(nb[0, :, 1, 1], torch.tensor([1, 1, 2, 0, 0, 0, 0, 4], dtype=torch.float64) / 8)
    assert float(ref[0, 0, 1, 1]) == 0.0
    # corner (0, 0): only neighbours 4 (right), 6 (below), 7 (below right) lie inside the image
    aff[0, :, 0, 0] = 1.0
    nb, ref = normalize_affinity(aff, "signed")
    torch.testing.assert_close(nb[0, :, 0, 0], torch.tensor([0, 0, 0, 0, 1, 0, 1, 1], dtype=torch.float64) / 3)
    # all raw affinities 0: the pixel keeps its value
    assert float(ref[0, 0, 2, 2]) == 1.0 and float(nb[0, :, 2, 2].abs().sum()) == 0.0


@pytest.mark.parametrize("affinity", ["abs", "signed"])
@pytest.mark.parametrize("iters", [1, 2, 3])
def test_propagation_matches_the_per_pixel_loop(affinity, iters):
    depth, aff, sparse = _case(seed=iters)
    ref, ref_steps = reference_cspn(depth, aff, sparse, iters, affinity)
    out, steps = cspn_propagate(_t(depth), _t(aff), _t(sparse), num_iters=iters, affinity=affinity)
    np.testing.assert_allclose(out[0, 0].numpy(), ref, rtol=0, atol=1e-12)
    assert len(steps) == iters
    for got, want in zip(steps, ref_steps, strict=True):
        np.testing.assert_allclose(got[0, 0].numpy(), want, rtol=0, atol=1e-12)
    no_spots, _ = reference_cspn(depth, aff, np.zeros_like(sparse), iters, affinity)
    out, _ = cspn_propagate(_t(depth), _t(aff), None, num_iters=iters, affinity=affinity)
    np.testing.assert_allclose(out[0, 0].numpy(), no_spots, rtol=0, atol=1e-12)


@pytest.mark.parametrize("affinity", ["abs", "signed"])
def test_spot_pixels_equal_the_sparse_input_after_every_step(affinity):
    g = torch.Generator().manual_seed(0)
    depth = 1 + 3 * torch.rand(2, 1, 23, 31, generator=g)
    sparse = torch.zeros_like(depth)
    sparse[:, :, 2::5, 1::6] = 0.5 + 4 * torch.rand_like(sparse[:, :, 2::5, 1::6])
    spots = sparse > 0
    _, steps = cspn_propagate(depth, torch.randn(2, 8, 23, 31, generator=g), sparse, num_iters=5, affinity=affinity)
    for step in steps:
        assert torch.equal(step[spots], sparse[spots])


@pytest.mark.parametrize("affinity", ["abs", "signed"])
def test_a_constant_field_stays_constant(affinity):
    g = torch.Generator().manual_seed(1)
    depth = torch.full((1, 1, 17, 22), 2.75)
    sparse = torch.zeros_like(depth)
    sparse[:, :, ::4, ::5] = 2.75
    for fixed in (None, sparse):
        aff = torch.randn(1, 8, 17, 22, generator=g)
        out, _ = cspn_propagate(depth, aff, fixed, num_iters=24, affinity=affinity)
        torch.testing.assert_close(out, depth, rtol=0, atol=1e-5)  # the border included


def test_abs_affinities_average_so_values_stay_in_range():
    g = torch.Generator().manual_seed(2)
    depth = 1 + 3 * torch.rand(1, 1, 20, 20, generator=g)
    out, _ = cspn_propagate(depth, torch.randn(1, 8, 20, 20, generator=g), None, num_iters=30, affinity="abs")
    assert out.min() >= depth.min() - 1e-6 and out.max() <= depth.max() + 1e-6


def test_signed_centre_weight_multiplies_the_initial_depth_so_steps_do_not_compound():
    # k = -1/8 everywhere: centre weight 2. On a checkerboard b the 8 neighbours cancel, so H_1 = 2 b; the centre
    # term reads H_0 (Eq. 1), so H_t stays 2 b in the interior (a centre term on H_t would give 2^t b)
    # (the border, where fewer neighbours are renormalised, reaches one pixel further inwards per step)
    yy, xx = torch.meshgrid(torch.arange(20), torch.arange(20), indexing="ij")
    board = ((-1.0) ** (yy + xx)).to(torch.float64)[None, None]
    aff = -torch.ones(1, 8, 20, 20, dtype=torch.float64)
    _, steps = cspn_propagate(board, aff, None, num_iters=6, affinity="signed")
    for step in steps:
        torch.testing.assert_close(step[..., 7:-7, 7:-7], 2 * board[..., 7:-7, 7:-7], rtol=0, atol=1e-12)


def test_zero_affinities_and_zero_steps_keep_the_initial_depth():
    depth = 1 + torch.rand(1, 1, 9, 11)
    out, steps = cspn_propagate(depth, torch.zeros(1, 8, 9, 11), None, num_iters=3)
    assert torch.equal(out, depth) and len(steps) == 3
    out, steps = cspn_propagate(depth, torch.randn(1, 8, 9, 11), None, num_iters=0)
    assert torch.equal(out, depth) and steps == []


def test_module_equals_function_and_rejects_bad_settings():
    g = torch.Generator().manual_seed(3)
    depth, aff = 1 + torch.rand(1, 1, 8, 9, generator=g), torch.randn(1, 8, 8, 9, generator=g)
    sparse = torch.zeros_like(depth)
    sparse[0, 0, 2, 3] = 5.0
    layer = ConvSpatialPropagation(num_iters=4, affinity="signed")
    out, steps = layer(depth, aff, sparse)
    ref, ref_steps = cspn_propagate(depth, aff, sparse, num_iters=4, affinity="signed")
    assert torch.equal(out, ref) and all(torch.equal(a, b) for a, b in zip(steps, ref_steps, strict=True))
    out, _ = ConvSpatialPropagation(num_iters=4, affinity="signed", preserve_input=False)(depth, aff, sparse)
    assert torch.equal(out, cspn_propagate(depth, aff, None, num_iters=4, affinity="signed")[0])
    assert not list(layer.parameters())
    with pytest.raises(ConfigError, match="affinity must be one of abs, signed"):
        ConvSpatialPropagation(affinity="tgass")
    with pytest.raises(ConfigError, match="num_iters must be >= 0"):
        ConvSpatialPropagation(num_iters=-1)
    with pytest.raises(ShapeError, match="guidance: CSPN needs 8 affinity maps, got 3"):
        layer(depth, aff[:, :3], sparse)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"affinity": "tgass"}, "affinity must be one of abs, signed"),
        ({"num_iters": -2}, "num_iters must be an integer >= 0"),
        ({"encoder": "resnet50"}, "encoder must be one of"),
        ({"width": 30}, "width must be a positive multiple of 4"),
        ({"conf_prop": True}, r"unknown config key.*'conf_prop'.*valid keys: encoder, width, num_iters"),
    ],
)
def test_bad_config_raises_config_error(cfg, match):
    with pytest.raises(ConfigError, match=match):
        models.create("cspn-small", **cfg)


def test_cspn_shares_nlspns_network_and_differs_only_in_the_propagation():
    cspn, nlspn = models.create("cspn-small"), models.create("nlspn-small")
    cs, ns = cspn.state_dict(), nlspn.state_dict()
    assert all(ns[k].shape == v.shape for k, v in cs.items())  # every CSPN tensor is NLSPN's, same shape
    assert sorted({k.split(".")[0] for k in set(ns) - set(cs)}) == ["cf_dec0", "cf_dec1", "prop_layer"]
    assert (cspn.cfg.encoder, cspn.cfg.width) == (nlspn.cfg.encoder, nlspn.cfg.width)
    assert (models.default_config("cspn")["encoder"], models.default_config("cspn")["width"]) == ("resnet34", 64)


def test_forward_all_outputs_and_spots_in_the_prediction():
    torch.manual_seed(0)
    model = models.create("cspn-small", num_iters=3).eval()
    sparse = torch.zeros(1, 1, 30, 41)
    sparse[:, :, 2::6, 3::7] = 2.0 + torch.rand(1, 1, 5, 6)
    with torch.no_grad():
        out = model.forward_all({"rgb": torch.rand(1, 3, 30, 41), "sparse": sparse})
    assert out["guidance"].shape == (1, 8, 30, 41) and len(out["pred_inter"]) == 3
    assert torch.equal(out["pred"][sparse > 0], sparse[sparse > 0])
    assert torch.equal(out["pred"], torch.clamp(out["pred_inter"][-1], min=0.0))


class _Splits(list):
    """An in-memory dataset with tofsim-style splits."""

    splits = {"train": [0, 1, 2], "val": [3], "test": []}


def test_one_training_run_through_completion_train(tmp_path):
    samples = toy_samples(4, height_px=32, width_px=48, rng=np.random.default_rng(5))

    config = TrainConfig(model="cspn-small", model_cfg={"width": 8, "num_iters": 2}, epochs=1, batch_size=2,
                         lr=1e-3, crop_hw_px=(24, 32), device="cpu", cpu_threads=1, seed=0)  # fmt: skip
    result = fit(config, tmp_path / "run", dataset=_Splits(samples))
    assert math.isfinite(result.best_val_rmse_m)
    model = load_model(tmp_path / "run")
    assert model.name == "cspn-small" and model.config == result.model.config
    saved, trained = model.state_dict(), result.model.state_dict()
    assert saved.keys() == trained.keys() and all(torch.equal(saved[k], trained[k]) for k in saved)


def test_recipe_is_nlspn_small_sds_with_cspn_small_from_scratch():
    recipes = Path(__file__).resolve().parents[2] / "completion" / "pretrained" / "recipes"
    cspn = TrainConfig.from_toml(recipes / "cspn-small-sds.toml")
    nlspn = TrainConfig.from_toml(recipes / "nlspn-small-sds.toml")
    assert (cspn.model, cspn.epochs, nlspn.epochs, cspn.init_from) == ("cspn-small", 4, 4, None)
    assert cspn.to_dict() | {"model": "nlspn-small", "model_cfg": {"init_fill": True}} == nlspn.to_dict()
