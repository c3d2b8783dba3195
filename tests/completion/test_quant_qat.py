import pytest
import torch
from torch import nn

from completion.models.tofnet import TofNet, TofNetConfig
from completion.quant.bitwidths import BIT_PRESETS, LayerBits, preset_plan
from completion.quant.qat import QuantConv2d, calibrate, fold_all_bn, fold_bn, prepare_qat, quantizable_layers


def _batch(h=24, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    prefill = 1 + 3 * torch.rand(2, 1, h, w, generator=g)
    return {
        "rgb": torch.rand(2, 3, h, w, generator=g),
        "sparse": prefill * (torch.rand(2, 1, h, w, generator=g) > 0.9),
        "mask": torch.zeros(2, 1, h, w),
        "prefill": prefill,
        "nearest": prefill,
        "dist": 10 * torch.rand(2, 1, h, w, generator=g),
        "K": torch.eye(3).expand(2, 3, 3),
    }


def _trained_bn(model):
    # give BatchNorm non-trivial running statistics and affine parameters
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def test_fold_bn_preserves_conv_bn_output():
    conv, bn = nn.Conv2d(3, 5, 3, padding=1, bias=False), _trained_bn(nn.BatchNorm2d(5))
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(fold_bn(conv, bn)(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


def test_fold_all_bn_preserves_tofnet_output():
    model = _trained_bn(TofNet(TofNetConfig(base_width=4, num_scales=3)))
    batch = _batch()
    with torch.no_grad():
        torch.testing.assert_close(fold_all_bn(model)(batch), model(batch), rtol=1e-4, atol=1e-5)


def test_float_plan_equals_folded_model():
    model = _trained_bn(TofNet(TofNetConfig(base_width=4, num_scales=3)))
    names = quantizable_layers(model)
    qmodel = prepare_qat(model, {n: LayerBits(None, None) for n in names}).eval()
    batch = _batch()
    with torch.no_grad():
        torch.testing.assert_close(qmodel(batch), model(batch), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset", ["w8a8", "w4a8", "w4a4"])
def test_qat_model_quantizes_every_conv_and_trains(preset):
    model = _trained_bn(TofNet(TofNetConfig(base_width=4, num_scales=3)))
    names = quantizable_layers(model)
    qmodel = prepare_qat(model, preset_plan(preset, names))
    calibrate(qmodel, _batch())
    qconvs = [m for m in qmodel.modules() if isinstance(m, QuantConv2d)]
    assert len(qconvs) == len(names)
    want_w = BIT_PRESETS.create(preset).weight_bits
    assert sorted({m.bits.weight_bits for m in qconvs}) == sorted({want_w, 8})
    for m in qconvs:  # weights on the integer grid of their per-channel step
        ints = m.quantized_weight().detach() / m.w_quant.step.detach().abs()
        torch.testing.assert_close(ints, ints.round(), atol=1e-3, rtol=0)
        q_min, q_max = m.w_quant.range
        assert ints.min() >= q_min - 1e-3 and ints.max() <= q_max + 1e-3
    out = qmodel(_batch(seed=3))
    out.mean().backward()
    steps = [m.w_quant.log_step.grad for m in qconvs]
    assert all(s is not None and torch.isfinite(s).all() for s in steps)
    # 8-bit fake quantization stays close to the float (folded) model
    if preset == "w8a8":
        with torch.no_grad():
            diff = (qmodel.eval()(_batch(seed=4)) - model(_batch(seed=4))).abs().max()
        assert diff < 0.05
