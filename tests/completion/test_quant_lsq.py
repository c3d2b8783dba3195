import math

import pytest
import torch

from completion.quant.lsq import LsqQuantizer, lsq_fake_quant, mse_step, qrange


@pytest.mark.parametrize("bits,signed", [(8, True), (4, True), (2, True), (8, False), (4, False)])
def test_lsq_per_tensor_matches_torch_learnable_fake_quant(bits, signed):
    g = torch.Generator().manual_seed(bits * 10 + signed)
    x = torch.randn(2, 3, 5, 7, generator=g) * 2
    q_min, q_max = qrange(bits, signed=signed)
    factor = 1.0 / math.sqrt(x.numel() * q_max)
    x1, s1 = x.clone().requires_grad_(), torch.tensor([0.37], requires_grad=True)
    x2, s2 = x.clone().requires_grad_(), torch.tensor([0.37], requires_grad=True)
    y1 = lsq_fake_quant(x1, s1, q_min, q_max, factor)
    y2 = torch._fake_quantize_learnable_per_tensor_affine(x2, s2, torch.tensor([0.0]), q_min, q_max, factor)
    upstream = torch.randn(y1.shape, generator=g)
    (y1 * upstream).sum().backward()
    (y2 * upstream).sum().backward()
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(s1.grad, s2.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("channels", [4, 1])  # 1: a head with one output channel (a one-element step)
def test_lsq_per_channel_matches_torch(channels):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(channels, 3, 3, 3, generator=g)
    step = torch.rand(channels, generator=g) * 0.2 + 0.05
    q_min, q_max = qrange(4, signed=True)
    factor = 1.0 / math.sqrt(w[0].numel() * q_max)
    w1, s1 = w.clone().requires_grad_(), step.clone().view(channels, 1, 1, 1).requires_grad_()
    w2, s2 = w.clone().requires_grad_(), step.clone().requires_grad_()
    y1 = lsq_fake_quant(w1, s1, q_min, q_max, factor)
    y2 = torch._fake_quantize_learnable_per_channel_affine(w2, s2, torch.zeros(channels), 0, q_min, q_max, factor)
    upstream = torch.randn(w.shape, generator=g)
    (y1 * upstream).sum().backward()
    (y2 * upstream).sum().backward()
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(w1.grad, w2.grad)
    torch.testing.assert_close(s1.grad.flatten(), s2.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_quantize_dequantize_error_within_half_a_step(bits):
    q = LsqQuantizer(bits, signed=True, per_channel=True, channels=8)
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(bits))
    q.set_step(w.abs().flatten(1).amax(1).view(8, 1, 1, 1) / (2 ** (bits - 1) - 1))
    with torch.no_grad():
        y = q(w)
    step = q.step.detach()
    q_min, q_max = qrange(bits, signed=True)
    inside = (w / step >= q_min - 1e-4) & (w / step <= q_max + 1e-4)
    assert inside.all()
    assert ((y - w).abs() <= step / 2 + 1e-7).all()
    # values lie on the integer grid
    ints = y / step
    torch.testing.assert_close(ints, ints.round())


def test_weight_calibration_8_bit_covers_the_extremes_lower_bits_clip():
    w = torch.zeros(2, 1, 3, 3)
    w[0, 0, :, 0] = torch.tensor([0.5, -2.54, 0.1])  # channel 0: largest magnitude 2.54 (negative)
    w[1, 0, 0, :] = torch.tensor([0.2, 0.3, 12.7])  # channel 1: one outlier far above the rest
    q8 = LsqQuantizer(8, signed=True, per_channel=True, channels=2)
    q8.calibrate(w)
    torch.testing.assert_close(q8.step.detach().reshape(-1), torch.tensor([2.54 / 128, 12.7 / 127]))
    with torch.no_grad():
        torch.testing.assert_close(q8(w)[1, 0, 0, 2], torch.tensor(12.7))  # the outlier is kept, not clipped
    q4 = LsqQuantizer(4, signed=True, per_channel=True, channels=2)
    q4.calibrate(w)
    # 4 bits: the MSE step gives up the outlier for a finer grid on the rest (a smaller step than max/7)
    assert q4.step.detach().reshape(-1)[1] < 12.7 / 7


def test_mse_step_bounds_a_negative_extreme():
    # the largest magnitude is negative: the step grid starts from it, so nothing is clipped at 8 bits
    x = torch.tensor([[-1.0, 0.25, 0.5, -0.125]])
    step = mse_step(x, -128, 127, per_channel=False)
    assert 1 / 128 * 0.9 < float(step) <= 1 / 128 + 1e-9
    q = torch.clamp(torch.round(x / step), -128, 127) * step
    assert (q - x).abs().max() <= step / 2 + 1e-7


def test_disabled_quantizer_is_identity():
    x = torch.randn(3, 3)
    assert torch.equal(LsqQuantizer(None, signed=True)(x), x)
    assert torch.equal(LsqQuantizer(32, signed=True)(x), x)


@pytest.mark.parametrize("per_channel,relu", [(False, False), (False, True), (True, False)])
def test_autograd_function_matches_composite_reference(per_channel, relu):
    from completion.quant.lsq import lsq_fake_quant_reference

    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, 6, 5, generator=g) * 1.5
    step = torch.rand(4, 1, 1, 1, generator=g) * 0.2 + 0.1 if per_channel else torch.tensor(0.23)
    q_min, q_max = qrange(4, signed=not relu)
    factor = 1.0 / math.sqrt((x[0].numel() if per_channel else x.numel()) * q_max)
    x1, s1 = x.clone().requires_grad_(), step.clone().requires_grad_()
    x2, s2 = x.clone().requires_grad_(), step.clone().requires_grad_()
    y1 = lsq_fake_quant(x1, s1, q_min, q_max, factor, relu=relu)
    y2 = lsq_fake_quant_reference(torch.relu(x2) if relu else x2, s2, q_min, q_max, factor)
    upstream = torch.randn(y1.shape, generator=g)
    (y1 * upstream).sum().backward()
    (y2 * upstream).sum().backward()
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(s1.grad, s2.grad, rtol=1e-4, atol=1e-6)
    if relu:  # the fused ReLU passes no gradient where x <= 0
        assert (x1.grad[x <= 0] == 0).all()
