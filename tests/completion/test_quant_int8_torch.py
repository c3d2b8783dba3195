import pytest
import torch

from completion.errors import CompletionError
from completion.models import create as create_model
from completion.models.tofnet import TofNet, TofNetConfig
from completion.quant.bitwidths import LayerBits, preset_plan
from completion.quant.int8_torch import Int8TofNet, convert_int8, default_engine
from completion.quant.qat import calibrate, prepare_qat, quantizable_layers

pytestmark = pytest.mark.skipif(default_engine() is None, reason="this torch build has no quantized CPU engine")

H, W = 32, 48


def _batch(h=H, w=W, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "rgb": torch.rand(1, 3, h, w, generator=g),
        "prefill": 1 + 2 * torch.rand(1, 1, h, w, generator=g),
        "nearest": 1 + 2 * torch.rand(1, 1, h, w, generator=g),
        "dist": 8 * torch.rand(1, 1, h, w, generator=g),
        "spot_status": (torch.rand(1, 2, h, w, generator=g) > 0.8).float(),
    }


def _qat_model(plan_fn, **cfg):
    torch.manual_seed(0)
    model = TofNet(TofNetConfig(base_width=4, num_scales=3, **cfg)).eval()
    with torch.no_grad():
        model.core.head.weight.normal_(std=0.05)  # a head that matters, so the check is not trivial
    qmodel = prepare_qat(model, plan_fn(quantizable_layers(model)))
    calibrate(qmodel, _batch())
    return qmodel.eval()


def _steps_of_output(qmodel) -> float:
    # one step of the last block's output, through the head: the scale of a one-step rounding difference
    head = qmodel.core.head
    with torch.no_grad():
        return float(head.a_quant.tied_to.step * head.quantized_weight().abs().sum() * qmodel.cfg.residual_scale_m)


@pytest.mark.parametrize("preset", ["w8a8", "w4a8", "w4a4"])
def test_int8_model_matches_the_fake_quant_model(preset):
    qmodel = _qat_model(lambda names: preset_plan(preset, names))
    int8 = convert_int8(qmodel)
    batch = _batch(seed=1)
    with torch.no_grad():
        want = qmodel(batch)
    got = int8(batch)
    assert got.shape == want.shape and got.dtype == torch.float32
    error = (got - want).abs()
    # the same integers but for rounding ties and float summation order: almost every pixel equal to 1e-5 m,
    # the rest within a few activation steps
    assert float((error > 1e-5).float().mean()) < 0.05
    assert float(error.max()) < 3 * _steps_of_output(qmodel)


@pytest.mark.parametrize(
    "cfg", [{"skip": "add"}, {"upsample": "bilinear"}, {"nearest_channel": False}, {"status_channels": True}]
)
def test_int8_model_follows_architecture_options(cfg):
    qmodel = _qat_model(lambda names: preset_plan("w8a8", names), **cfg)
    int8 = convert_int8(qmodel)
    batch = _batch(seed=2)
    with torch.no_grad():
        want = qmodel(batch)
    error = (int8(batch) - want).abs()
    assert float((error > 1e-5).float().mean()) < 0.05
    assert float(error.max()) < 3 * _steps_of_output(qmodel)


def test_int8_model_pads_sizes_off_the_stride():
    qmodel = _qat_model(lambda names: preset_plan("w8a8", names))
    batch = _batch(30, 45, seed=3)
    with torch.no_grad():
        want = qmodel(batch)
    got = convert_int8(qmodel)(batch)
    assert got.shape == (1, 1, 30, 45)
    assert float((got - want).abs().max()) < 3 * _steps_of_output(qmodel)


def test_int8_model_stores_integer_weights():
    int8 = convert_int8(_qat_model(lambda names: preset_plan("w8a8", names)))
    assert isinstance(int8, Int8TofNet)
    weight = int8.enc[0][0].conv.weight()
    assert weight.dtype == torch.qint8 and weight.qscheme() == torch.per_channel_affine


def test_float_model_is_refused():
    model = TofNet(TofNetConfig(base_width=4, num_scales=3)).eval()
    with pytest.raises(CompletionError, match="needs every convolution quantized; core.enc.0.0.conv is float"):
        convert_int8(model)


def test_partly_float_plan_is_refused():
    def plan(names):
        return {n: LayerBits(8, 8) for n in names if n != "core.head"}

    with pytest.raises(CompletionError, match="core.head is float: use --runtime torch"):
        convert_int8(_qat_model(plan))


def test_other_models_are_refused():
    with pytest.raises(CompletionError, match="supports tofnet only"):
        convert_int8(create_model("nearest"))


def test_unknown_engine_is_refused():
    qmodel = _qat_model(lambda names: preset_plan("w8a8", names))
    with pytest.raises(CompletionError, match="engine 'tpu' is not available in this build"):
        convert_int8(qmodel, engine="tpu")
