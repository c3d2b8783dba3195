"""NLSPN propagation against a slow, obviously-correct float64 reference written from the official code's semantics:
a modulated deformable conv with unit weights samples neighbour k of pixel p at p + g_k + offset_k(p), bilinearly,
with zeros outside the image; offsets are (dy, dx) pairs of cat(o1, o2) with a zero pair inserted at the centre."""

import math

import numpy as np
import pytest
import torch

from completion import models
from completion.models.nlspn_propagation import GEOMETRIES, NonLocalPropagation


def bilinear_zero_pad(img, y, x):
    """Value of img (H, W) at real (y, x); pixels outside the image count as 0."""
    h, w = img.shape
    y0, x0 = math.floor(y), math.floor(x)
    total = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * img[yy, xx]
    return total


def reference_propagation(conv_out, gamma, confidence, depth_init, sparse, iters, geometry, preserve):
    """conv_out (24, H, W), confidence/depth_init/sparse (H, W), all float64 numpy."""
    c_prop, c_conf = {"consistent": (1, 1), "official": (1, 0), "legacy": (2, 1)}[geometry]
    _, h, w = conv_out.shape
    o1, o2, aff_raw = conv_out[0:8], conv_out[8:16], conv_out[16:24]
    pairs = np.concatenate([o1, o2], axis=0).reshape(8, 2, h, w)  # official: cat(o1, o2).view(B, 8, 2, H, W)
    kernel_pos = [k for k in range(9) if k != 4]  # zero offset inserted at the centre (index 4)
    grid = [((k // 3) - 1, (k % 3) - 1) for k in kernel_pos]  # (dy, dx) of the 3x3 kernel position
    aff = np.zeros((8, h, w))
    aff_ref = np.zeros((h, w))
    for py in range(h):
        for px in range(w):
            a = [math.tanh(aff_raw[i, py, px]) / (gamma + 1e-8) for i in range(8)]
            for i in range(8):
                cy = py + c_conf * grid[i][0] + pairs[i, 0, py, px]
                cx = px + c_conf * grid[i][1] + pairs[i, 1, py, px]
                a[i] *= bilinear_zero_pad(confidence, cy, cx)
            s = max(sum(abs(v) for v in a) + 1e-4, 1.0)
            for i in range(8):
                aff[i, py, px] = a[i] / s
            aff_ref[py, px] = 1.0 - sum(aff[:, py, px])
    feat = depth_init.copy()
    for _ in range(iters):
        if preserve:
            feat = np.where(sparse > 0, sparse, feat)
        new = np.zeros_like(feat)
        for py in range(h):
            for px in range(w):
                v = aff_ref[py, px] * feat[py, px]
                for i in range(8):
                    sy = py + c_prop * grid[i][0] + pairs[i, 0, py, px]
                    sx = px + c_prop * grid[i][1] + pairs[i, 1, py, px]
                    v += aff[i, py, px] * bilinear_zero_pad(feat, sy, sx)
                new[py, px] = v
        feat = new
    return feat


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
@pytest.mark.parametrize("preserve", [True, False])
def test_propagation_matches_slow_reference(geometry, preserve):
    g = torch.Generator().manual_seed(7)
    h, w, iters = 6, 7, 3
    layer = NonLocalPropagation(8, num_iters=iters, affinity_gamma=0.3, geometry=geometry, preserve_input=preserve)
    layer = layer.double()
    with torch.no_grad():  # non-zero weights: offsets of a few pixels (some leave the image), strong affinities
        layer.conv_offset_aff.weight.copy_(torch.randn(layer.conv_offset_aff.weight.shape, generator=g) * 0.6)
        layer.conv_offset_aff.bias.copy_(torch.randn(24, generator=g))
    guidance = torch.randn(1, 8, h, w, generator=g, dtype=torch.float64)
    confidence = torch.rand(1, 1, h, w, generator=g, dtype=torch.float64)
    depth_init = 1 + 3 * torch.rand(1, 1, h, w, generator=g, dtype=torch.float64)
    sparse = torch.zeros(1, 1, h, w, dtype=torch.float64)
    sparse[0, 0, 1, 2], sparse[0, 0, 4, 5], sparse[0, 0, 5, 0] = 2.5, 0.7, 4.0
    with torch.no_grad():
        out, steps = layer(depth_init, guidance, confidence, sparse)
        conv_out = layer.conv_offset_aff(guidance)[0].numpy()
    assert len(steps) == iters and out.dtype == torch.float64
    offsets = conv_out[:16]
    assert np.abs(offsets).max() > 1.5  # the case really samples off-grid and outside the image
    ref = reference_propagation(
        conv_out,
        float(layer.aff_scale_const.detach()),
        confidence[0, 0].numpy(),
        depth_init[0, 0].numpy(),
        sparse[0, 0].numpy(),
        iters,
        geometry,
        preserve,
    )
    np.testing.assert_allclose(out[0, 0].numpy(), ref, rtol=1e-10, atol=1e-10)


def test_geometries_differ():
    # the three geometries are different functions on the same inputs (else the option would mean nothing)
    torch.manual_seed(0)
    outs = []
    for geometry in sorted(GEOMETRIES):
        layer = NonLocalPropagation(8, num_iters=2, geometry=geometry).double()
        torch.manual_seed(1)
        with torch.no_grad():
            layer.conv_offset_aff.weight.normal_(0, 0.5)
        torch.manual_seed(2)
        args = [torch.rand(1, c, 9, 9, dtype=torch.float64) for c in (1, 8, 1)]
        with torch.no_grad():
            outs.append(layer(*args)[0])
    assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2])


def test_fresh_layer_is_identity_with_preserved_input():
    # zero-initialised conv: tanh(0) = 0 affinities, a_ref = 1: the depth is kept, the spots are written in
    layer = NonLocalPropagation(8, num_iters=4)
    init = torch.rand(2, 1, 10, 12)
    sparse = torch.zeros(2, 1, 10, 12)
    sparse[:, :, 2, 3] = 5.0
    out, _ = layer(init, torch.randn(2, 8, 10, 12), torch.rand(2, 1, 10, 12), sparse)
    torch.testing.assert_close(out, torch.where(sparse > 0, sparse, init))


def test_config_flags_select_geometry():
    assert models.create("nlspn-small").prop_layer.geometry == "consistent"
    assert models.create("nlspn-small", legacy=True).prop_layer.geometry == "legacy"
    assert models.create("nlspn-small", confidence_at="offset").prop_layer.geometry == "official"
    assert models.create("nlspn-small", legacy=True, confidence_at="offset").prop_layer.geometry == "legacy"


def test_nlspn_forward_all_and_official_names():
    model = models.create("nlspn-small", num_iters=3).eval()
    h, w = 29, 45
    batch = {"rgb": torch.rand(1, 3, h, w), "sparse": torch.zeros(1, 1, h, w)}
    batch["sparse"][0, 0, ::6, ::7] = 2.0
    with torch.no_grad():
        out = model.forward_all(batch)
    assert out["pred"].shape == out["pred_init"].shape == out["confidence"].shape == (1, 1, h, w)
    assert out["guidance"].shape == (1, 8, h, w) and len(out["pred_inter"]) == 3
    assert ((out["confidence"] > 0) & (out["confidence"] < 1)).all()
    keys = model.state_dict().keys()
    for key in [
        "conv1_rgb.0.weight",
        "conv2.0.conv1.weight",
        "conv6.1.running_mean",
        "dec5.0.weight",
        "id_dec0.0.bias",
        "gd_dec0.0.weight",
        "cf_dec0.0.weight",
        "prop_layer.conv_offset_aff.weight",
        "prop_layer.aff_scale_const",
    ]:
        assert key in keys
    assert float(model.prop_layer.aff_scale_const.detach()) == pytest.approx(0.5 * 8)


def test_init_fill_starts_at_the_fill_and_learns_a_signed_correction():
    # fresh propagation is the identity (test above) and the correction head starts at zero: the output is the fill
    # with the spots written in; after a change of the head's bias, pred_init moves by exactly that (no ReLU)
    model = models.create("nlspn-small", num_iters=3, init_fill=True).eval()
    h, w = 29, 45
    batch = {"rgb": torch.rand(1, 3, h, w), "sparse": torch.zeros(1, 1, h, w), "prefill": 1.0 + torch.rand(1, 1, h, w)}
    batch["sparse"][0, 0, ::6, ::7] = 2.0
    with torch.no_grad():
        out = model.forward_all(batch)
        torch.testing.assert_close(out["pred_init"], batch["prefill"])
        torch.testing.assert_close(out["pred"], torch.where(batch["sparse"] > 0, batch["sparse"], batch["prefill"]))
        model.id_dec0[0].bias.fill_(-0.25)
        torch.testing.assert_close(model.forward_all(batch)["pred_init"], batch["prefill"] - 0.25)
    official = models.create("nlspn-small")
    assert isinstance(official.id_dec0[-1], torch.nn.LeakyReLU)  # the official head keeps its activation
