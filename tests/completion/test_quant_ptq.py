import math

import pytest
import torch
from torch import nn

from completion.models.tofnet import TofNet, TofNetConfig
from completion.quant.bitwidths import LayerBits, preset_plan
from completion.quant.lsq import LsqQuantizer
from completion.quant.ptq import (
    MAX_CHANNEL_SCALE,
    depth_error_m,
    equalization_graph,
    equalize_activations,
    refine_activation_steps,
)
from completion.quant.qat import calibrate, fold_all_bn, prepare_qat, quantizable_layers


def _batch(h=24, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    prefill = 1 + 3 * torch.rand(3, 1, h, w, generator=g)
    depth = prefill + 0.2 * torch.randn(3, 1, h, w, generator=g)
    depth[:, :, :2] = 0  # invalid ground truth is left out of the error
    return {
        "rgb": torch.rand(3, 3, h, w, generator=g),
        "prefill": prefill,
        "nearest": prefill,
        "dist": 10 * torch.rand(3, 1, h, w, generator=g),
        "depth": depth,
    }


def _model(seed=0, **cfg):
    """A tofnet with BatchNorm statistics from data, channel ranges spread by about e^±3, and a non-zero head."""
    torch.manual_seed(seed)
    model = TofNet(TofNetConfig(**{"base_width": 4, "num_scales": 3, **cfg}))
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.copy_(torch.exp(1.5 * torch.randn(m.num_features, generator=g)))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.momentum = None  # running statistics = the average over the passes below
    model.train()
    with torch.no_grad():
        for k in range(3):
            model(_batch(seed=100 + k))
    nn.init.normal_(model.core.head.weight, std=0.002)
    return model.eval()


def _block_maxima(model, batch, blocks):
    out = {}
    hooks = [
        model.get_submodule(b).register_forward_hook(
            lambda _m, _i, o, b=b: out.__setitem__(b, o.transpose(0, 1).flatten(1).amax(1).double())
        )
        for b in blocks
    ]
    with torch.no_grad():
        model(dict(batch))
    for h in hooks:
        h.remove()
    return out


@pytest.mark.parametrize(
    "cfg", [{}, {"skip": "add"}, {"num_scales": 2, "convs_per_scale": 1}, {"upsample": "bilinear", "skip": "add"}]
)
def test_equalization_keeps_the_float_function_and_balances_channels(cfg):
    model = _model(**cfg)
    folded = fold_all_bn(model).double()  # float64: the check is of the algebra, not of float32 rounding
    batch = {k: v.double() for k, v in _batch().items()}
    other = {k: v.double() for k, v in _batch(seed=5).items()}
    plan = preset_plan("w8a8", quantizable_layers(model))
    nodes = equalization_graph(folded)
    blocks = [n.block for n in nodes]
    before = _block_maxima(folded, batch, blocks)
    with torch.no_grad():
        expected = folded(dict(batch))
    done = equalize_activations(folded, batch, plan, strength=0.5)
    assert sorted(done) == sorted(blocks)  # every block of an all-8-bit plan
    with torch.no_grad():
        torch.testing.assert_close(folded(dict(batch)), expected, rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(folded(dict(other)), fold_all_bn(model).double()(dict(other)), rtol=1e-10, atol=1e-9)
    after = _block_maxima(folded, batch, blocks)
    if cfg.get("skip") == "add":
        return  # summed blocks share one scale vector, set by their joint maxima: the rule below is per block
    for n in nodes:
        if n.step_group != n.block:
            continue  # merged blocks share R with their partner
        r, big = before[n.block], float(before[n.block].max())
        # s_c = (R / r_c) ** 0.5, so the new maximum is sqrt(R * r_c), unless the scale hit its cap
        s = (big / r.clamp_min(1e-30)).sqrt()
        free = (r > 0) & (s < MAX_CHANNEL_SCALE)
        torch.testing.assert_close(after[n.block][free], (big * r[free]).sqrt(), rtol=1e-4, atol=1e-6)


def test_equalization_leaves_blocks_read_by_sub_8_bit_weights_alone():
    model = _model()
    plan = preset_plan("w4a8", quantizable_layers(model))  # 8-bit first and last layer, 4 bits between
    folded = fold_all_bn(model)
    reference = {k: v.clone() for k, v in folded.state_dict().items()}
    done = equalize_activations(folded, _batch(), plan)
    assert done == ["core.dec.1.1"]  # only the head (8-bit) reads it
    changed = {k for k, v in folded.state_dict().items() if not torch.equal(v, reference[k])}
    assert changed == {"core.dec.1.1.conv.weight", "core.dec.1.1.conv.bias", "core.head.weight"}
    no_act = {name: LayerBits(8, None) for name in plan}
    assert equalize_activations(fold_all_bn(model), _batch(), no_act) == []
    assert equalization_graph(nn.Conv2d(1, 1, 3)) == []


def _w8a8_case(seed):
    """A folded tofnet, its W8A8 plan, a batch and the float depth on it."""
    model = _model(seed=seed)
    folded = fold_all_bn(model)
    batch = _batch()
    with torch.no_grad():
        reference = folded(dict(batch))
    return folded, preset_plan("w8a8", quantizable_layers(model)), batch, reference


def _calibrated(folded, plan, batch):
    qmodel = prepare_qat(folded, plan)
    calibrate(qmodel, batch)
    return qmodel.eval()


def test_equalization_lowers_the_8_bit_error_of_badly_balanced_channels():
    folded, plan, batch, reference = _w8a8_case(seed=3)
    plain = _calibrated(folded, plan, batch)
    equalize_activations(folded, batch, plan)
    balanced = _calibrated(folded, plan, batch)
    assert depth_error_m(balanced, reference, batch) < 0.9 * depth_error_m(plain, reference, batch)


def test_depth_error_is_the_mean_per_image_rmse_on_valid_pixels():
    batch = _batch()

    class Fixed(nn.Module):
        def forward(self, b):
            return b["prefill"] + 0.01 * torch.arange(3.0).view(3, 1, 1, 1)

    # image i is off by 0.01 * i m everywhere: per-image RMSE 0, 0.01, 0.02 -> mean 0.01
    assert depth_error_m(Fixed(), batch["prefill"], batch) == pytest.approx(0.01, rel=1e-6)
    batch["depth"][1] = 0  # an image without valid ground truth is skipped: mean of 0 and 0.02
    assert depth_error_m(Fixed(), batch["prefill"], batch) == pytest.approx(0.01, rel=1e-6)
    batch["depth"][0] = 0
    assert depth_error_m(Fixed(), batch["prefill"], batch) == pytest.approx(0.02, rel=1e-6)


def test_refinement_recovers_a_spoiled_step_and_never_raises_the_error():
    folded, plan, batch, reference = _w8a8_case(seed=2)
    qmodel = _calibrated(folded, plan, batch)
    calibrated_error = depth_error_m(qmodel, reference, batch)
    last = qmodel.get_submodule("core.dec.1.1.act.1")
    assert isinstance(last, LsqQuantizer)
    good = last.log_step.detach().clone()
    with torch.no_grad():
        last.log_step.add_(math.log(8.0))  # a step 8x too coarse for the tensor the head reads
    spoiled_error = depth_error_m(qmodel, reference, batch)
    assert spoiled_error > 1.2 * calibrated_error
    calls = []
    start, end = refine_activation_steps(
        qmodel, reference, batch, factors=(1 / 8,), progress=lambda done, _total: calls.append(done)
    )
    assert start == pytest.approx(spoiled_error)
    assert end <= calibrated_error * (1 + 1e-6) and end == pytest.approx(depth_error_m(qmodel, reference, batch))
    torch.testing.assert_close(last.log_step.detach(), good, rtol=0, atol=1e-6)
    assert calls == list(range(1, len(calls) + 1)) and len(calls) > 10
    again_start, again_end = refine_activation_steps(qmodel, reference, batch)
    assert again_end <= again_start == pytest.approx(end)
