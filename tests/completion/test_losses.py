import math

import numpy as np
import pytest
import torch

from completion.errors import ConfigError, ShapeError
from completion.losses import GeometryLoss, LossConfig, depth_normals, geometry_loss

H, W = 12, 16
FX, FY, CX, CY = 14.0, 15.0, 7.3, 5.6


def _K(b=1):  # noqa: N802
    return torch.tensor([[FX, 0, CX], [0, FY, CY], [0, 0, 1.0]], dtype=torch.float64).expand(b, 3, 3).clone()


def _rays():
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    return np.stack([(u - CX) / FX, (v - CY) / FY, np.ones_like(u)], axis=-1)


def _plane(normal, d):
    """Exact z-depth of the 3-D plane n . X = d seen through the test camera, (1, 1, H, W) float64."""
    n = np.asarray(normal, dtype=np.float64)
    n = n / np.linalg.norm(n)
    z = d / (_rays() @ n)
    return torch.from_numpy(z)[None, None]


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))[None, None]


def test_tilted_plane_against_itself_is_zero():
    z = _plane([0.3, -0.2, -1.0], -2.5)
    total, terms = geometry_loss(z, z.clone(), _K())
    assert float(total) == pytest.approx(0.0, abs=1e-12)
    for name in ("depth", "grad", "normal"):
        assert float(terms[name]) == pytest.approx(0.0, abs=1e-12)


def test_normals_of_a_plane_are_its_normal_pointing_to_the_camera():
    n = np.array([0.3, -0.2, -1.0])
    n /= np.linalg.norm(n)
    normals = depth_normals(_plane(n, -2.5), _K())
    assert normals.shape == (1, 3, H - 1, W - 1)
    expected = torch.from_numpy(n).view(1, 3, 1, 1).expand_as(normals)
    assert torch.allclose(normals, expected, atol=1e-9)


def test_shifted_fronto_parallel_plane_known_terms():
    gt, pred = torch.full((1, 1, H, W), 2.0, dtype=torch.float64), torch.full((1, 1, H, W), 3.0, dtype=torch.float64)
    cfg = LossConfig(depth_weight=1.0, grad_weight=0.7, normal_weight=0.3)
    total, terms = geometry_loss(pred, gt, _K(), cfg)
    # every pixel is off by exactly 1 m; differences and normals ((0, 0, -1) for both) agree
    assert float(terms["depth"]) == pytest.approx(1.0)
    assert float(terms["grad"]) == pytest.approx(0.0, abs=1e-12)
    assert float(terms["normal"]) == pytest.approx(0.0, abs=1e-12)
    assert float(total) == pytest.approx(1.0)


@pytest.mark.parametrize("angle_deg", [10.0, 35.0])
def test_rotated_plane_gives_one_minus_cos_of_the_angle(angle_deg):
    a = math.radians(angle_deg)
    gt = _plane([0, 0, -1.0], -2.0)  # z = 2 everywhere
    n = [math.sin(a), 0.0, -math.cos(a)]  # rotated about the y axis through (0, 0, 2)
    pred = _plane(n, float(np.dot(n, [0, 0, 2.0])))
    _, terms = geometry_loss(pred, gt, _K())
    assert float(terms["normal"]) == pytest.approx(1.0 - math.cos(a), rel=1e-9)


def test_gradient_term_on_ramps_by_hand():
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    gt = _t(2.0 + 0.01 * u)
    pred = _t(2.0 + 0.03 * u + 0.005 * v)
    _, terms = geometry_loss(pred, gt, _K())
    # x-differences differ by 0.02 everywhere, y-differences by 0.005: mean over x-pairs + mean over y-pairs
    assert float(terms["grad"]) == pytest.approx(0.02 + 0.005)
    assert float(terms["depth"]) == pytest.approx(np.mean(0.02 * u + 0.005 * v))


def test_huber_depth_term_by_hand():
    gt = torch.full((1, 1, H, W), 2.0, dtype=torch.float64)
    cfg = LossConfig(depth_loss="huber", huber_delta_m=0.1)
    _, big = geometry_loss(gt + 1.0, gt, _K(), cfg)
    _, small = geometry_loss(gt + 0.05, gt, _K(), cfg)
    assert float(big["depth"]) == pytest.approx(1.0 - 0.05)  # |e| - delta / 2
    assert float(small["depth"]) == pytest.approx(0.5 * 0.05**2 / 0.1)  # e^2 / (2 delta)


def test_invalid_ground_truth_is_ignored_by_every_term():
    gt = torch.full((2, 1, H, W), 2.0, dtype=torch.float64)
    gt[:, :, :, 5] = 0.0
    gt[1, 0, 3, 2] = float("nan")
    pred = gt.clone()
    pred[:, :, :, 5] = 100.0  # wrong only where the ground truth is invalid
    pred[1, 0, 3, 2] = -4.0
    total, terms = geometry_loss(pred, gt, _K(2))
    assert all(float(t) == 0.0 for t in terms.values()) and float(total) == 0.0
    pred[0, 0, 7, 9] = 2.5  # one valid pixel wrong -> depth term = 0.5 / number of valid pixels
    _, terms = geometry_loss(pred, gt, _K(2))
    n_valid = int((torch.isfinite(gt) & (gt > 0)).sum())
    assert float(terms["depth"]) == pytest.approx(0.5 / n_valid)


def test_gradients_finite_with_zero_prediction_and_no_valid_ground_truth():
    pred = torch.zeros((1, 1, H, W), requires_grad=True)
    total, terms = geometry_loss(pred, torch.full((1, 1, H, W), 2.0), _K().float())
    total.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    pred2 = torch.rand((1, 1, H, W), requires_grad=True)
    total2, _ = geometry_loss(pred2, torch.zeros((1, 1, H, W)), _K().float())
    total2.backward()
    assert total2.item() == 0.0 and torch.isfinite(pred2.grad).all()


def test_module_twin_matches_function(rng):
    gt = torch.from_numpy(rng.uniform(1, 3, (2, 1, H, W)))
    pred = gt + torch.from_numpy(rng.normal(0, 0.1, (2, 1, H, W)))
    cfg = LossConfig(depth_loss="huber", grad_weight=0.3, normal_weight=0.2)
    t1, d1 = geometry_loss(pred, gt, _K(2), cfg)
    t2, d2 = GeometryLoss(cfg)(pred, gt, _K(2))
    assert torch.equal(t1, t2) and all(torch.equal(d1[k], d2[k]) for k in d1)
    expected = d1["depth"] + 0.3 * d1["grad"] + 0.2 * d1["normal"]
    assert float(t1) == pytest.approx(float(expected))


def test_bad_shapes_and_config():
    z = torch.ones((1, 1, H, W))
    with pytest.raises(ShapeError, match=r"pred: expected shape \(B, 1, H, W\)"):
        geometry_loss(torch.ones((1, H, W)), z, _K())
    with pytest.raises(ShapeError, match="gt has shape"):
        geometry_loss(z, torch.ones((1, 1, H, W + 1)), _K())
    with pytest.raises(ShapeError, match="K: expected shape"):
        geometry_loss(z, z, _K(2))
    with pytest.raises(ConfigError, match="depth_loss"):
        LossConfig(depth_loss="l2")
    with pytest.raises(ConfigError, match="unknown loss option.*valid: depth_loss"):
        LossConfig.from_dict({"normal_wieght": 1.0})


def test_prefill_error_cap_drops_unexplained_pixels():
    # gt: a plane at 2 m; the prefill is wrong by 5 m on one quarter (a wrapped echo); pred = prefill.
    gt = torch.full((1, 1, 8, 8), 2.0)
    prefill = gt.clone()
    prefill[..., :4, :4] += 5.0
    K = torch.tensor([[[10.0, 0, 4], [0, 10.0, 4], [0, 0, 1]]])  # noqa: N806
    cfg = LossConfig(grad_weight=0.0, normal_weight=0.0, max_prefill_error_m=1.0)
    _, kept = geometry_loss(prefill, gt, K, LossConfig(grad_weight=0.0, normal_weight=0.0), prefill=prefill)
    _, capped = geometry_loss(prefill, gt, K, cfg, prefill=prefill)
    assert float(kept["depth"]) == pytest.approx(5.0 * 16 / 64)
    assert float(capped["depth"]) == 0.0  # the 16 unexplained pixels are out, the rest are exact
    _, no_prefill = geometry_loss(prefill, gt, K, cfg)
    assert float(no_prefill["depth"]) == pytest.approx(5.0 * 16 / 64)


def test_l1_plus_l2_depth_term_by_hand():
    gt = torch.full((1, 1, H, W), 2.0, dtype=torch.float64)
    _, terms = geometry_loss(gt + 0.5, gt, _K(), LossConfig(depth_loss="l1+l2"))
    assert float(terms["depth"]) == pytest.approx(0.5 + 0.25)
    with pytest.raises(ConfigError, match="l1\\+l2"):
        LossConfig(depth_loss="l2")
