import numpy as np
import pytest
import torch

from completion.errors import ConfigError, ShapeError
from completion.export import export_onnx
from completion.models.tofnet import TofNet, TofNetConfig
from completion.quant.bitwidths import LayerBits, preset_plan
from completion.quant.qat import QuantConv2d, calibrate, prepare_qat, quantizable_layers
from completion.runtime_onnx import OnnxRunner

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

H, W = 32, 48


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "rgb": torch.rand(1, 3, H, W, generator=g),
        "prefill": 1 + 2 * torch.rand(1, 1, H, W, generator=g),
        "nearest": 1 + 2 * torch.rand(1, 1, H, W, generator=g),
        "dist": 8 * torch.rand(1, 1, H, W, generator=g),
    }


def _qat_model(plan_fn):
    torch.manual_seed(0)
    model = TofNet(TofNetConfig(base_width=4, num_scales=3)).eval()
    with torch.no_grad():
        model.core.head.weight.normal_(std=0.05)  # a head that matters, so the check is not trivial
    qmodel = prepare_qat(model, plan_fn(quantizable_layers(model)))
    calibrate(qmodel, _batch())
    return qmodel.eval()


def _run(path, batch):
    return OnnxRunner(path)({k: v.numpy() for k, v in batch.items()})


def _run_unfused(path, batch):
    """Run the QDQ graph as written (no fusion): exactly the fake-quant arithmetic, in float."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v.numpy() for k, v in batch.items() if k in names})[0]


def _has_vnni() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


# onnxruntime's u8s8 kernels on AVX2 CPUs without VNNI add pairs of u8 x s8 products in int16 (vpmaddubsw),
# which saturates for full-range 8-bit weights: a few layers then differ by some steps. With VNNI (or 7-bit
# weights, checked below) the fused model equals the fake-quant one.
FUSED_TOLERANCE_M = 2e-3 if _has_vnni() else 6e-3


@pytest.mark.parametrize("storage", ["int8", "packed"])
def test_w8a8_export_matches_fake_quant_model_and_uses_integer_kernels(tmp_path, storage):
    qmodel = _qat_model(lambda names: preset_plan("w8a8", names))
    info = export_onnx(qmodel, tmp_path / "m.onnx", height_px=H, width_px=W, weight_storage=storage)
    graph = onnx.load(info["path"]).graph
    weights = [t for t in graph.initializer if t.name.endswith("export_weight_quantized")]
    assert len(weights) == sum(1 for n in graph.node if n.op_type == "Conv")
    assert {t.data_type for t in weights} == {onnx.TensorProto.INT8}
    assert not [t for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT and t.name.endswith("weight")]
    batch = _batch(seed=1)
    with torch.no_grad():
        want = qmodel(batch).numpy()
    # the exported graph computes exactly what the fake-quant model computes
    assert np.abs(_run_unfused(info["path"], batch) - want).max() < 1e-5
    # the fused integer kernels: a few quantization steps of the output
    assert np.abs(_run(info["path"], batch) - want).max() < FUSED_TOLERANCE_M
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(info["path"], opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
    # every convolution runs as an integer kernel except the head, whose output feeds the float residual
    assert ops.count("QLinearConv") == sum(1 for n in graph.node if n.op_type == "Conv") - 1


def test_fused_int8_kernels_are_exact_when_weights_cannot_saturate(tmp_path):
    # weights within 7 bits keep every int16 pair sum of the AVX2 kernel in range: fused equals fake-quant
    qmodel = _qat_model(lambda names: preset_plan("w8a8", names))
    with torch.no_grad():
        for module in qmodel.modules():
            if isinstance(module, QuantConv2d) and module.w_quant.enabled:
                module.w_quant.set_step(module.w_quant.step * 2.01)
    info = export_onnx(qmodel, tmp_path / "m.onnx", height_px=H, width_px=W)
    batch = _batch(seed=3)
    with torch.no_grad():
        want = qmodel(batch).numpy()
    error = np.abs(_run(info["path"], batch) - want)
    # identical but for an occasional rounding tie (the saturating case differs at most pixels)
    assert np.mean(error > 1e-5) < 0.05
    assert error.max() < 1e-3


def test_packed_int4_and_int2_weights_round_trip(tmp_path):
    def mixed(names):
        return {n: LayerBits([2, 4, 8][i % 3], 8) for i, n in enumerate(names)}

    qmodel = _qat_model(mixed)
    info = export_onnx(qmodel, tmp_path / "m.onnx", height_px=H, width_px=W, weight_storage="packed")
    assert info["opset"] == 25
    kinds = sorted(set(info["weights"].values()))
    assert kinds == ["INT2", "INT4", "INT8"]
    batch = _batch(seed=2)
    with torch.no_grad():
        want = qmodel(batch).numpy()
    assert np.abs(_run(info["path"], batch) - want).max() < 2e-3
    int8 = export_onnx(qmodel, tmp_path / "m8.onnx", height_px=H, width_px=W, weight_storage="int8")
    assert info["bytes"] < int8["bytes"]


def _plain_session(path):
    """A plain onnxruntime session, all optimisations on: what a user outside this package gets."""
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _optimized_ops(path, tmp_path):
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return onnx.load(opts.optimized_model_filepath).graph


@pytest.mark.parametrize("hw", [(64, 40), (24, 16), (30, 45)])
def test_exported_graph_runs_at_other_sizes(tmp_path, hw):
    # traced at 32x48, run at other multiples of the stride (4) and, through the runner's padding, at any size
    qmodel = _qat_model(lambda names: preset_plan("w8a8", names))
    info = export_onnx(qmodel, tmp_path / "m.onnx", height_px=H, width_px=W, weight_storage="int8")
    batch = {k: torch.nn.functional.interpolate(v, size=hw, mode="nearest") for k, v in _batch(seed=4).items()}
    with torch.no_grad():
        want = qmodel(batch).numpy()
    got = _run(info["path"], batch)
    assert got.shape == (1, 1, *hw)
    assert np.abs(got - want).max() < FUSED_TOLERANCE_M


def test_export_refuses_a_trace_size_off_the_stride(tmp_path):
    model = TofNet(TofNetConfig(base_width=4, num_scales=3)).eval()
    with pytest.raises(ConfigError, match="multiple of the network's stride 4, got 30x48"):
        export_onnx(model, tmp_path / "f.onnx", height_px=30, width_px=W)


def test_runner_rejects_other_input_size_for_fixed_size_files(tmp_path):
    model = TofNet(TofNetConfig(base_width=4, num_scales=3)).eval()
    info = export_onnx(model, tmp_path / "f.onnx", height_px=H, width_px=W)
    old = onnx.load(info["path"])  # a file from before dynamic sizes: fixed size in its metadata
    old.metadata_props.add(key="tofbench.input_hw", value=f"{H},{W}")
    onnx.save(old, tmp_path / "old.onnx")
    small = {k: v[..., :16, :16].numpy() for k, v in _batch().items()}
    with pytest.raises(ShapeError, match="exported for 32x48 inputs, got 16x16; re-export it"):
        OnnxRunner(tmp_path / "old.onnx")(small)


def test_packed_file_loads_in_plain_onnxruntime_with_integer_kernels(tmp_path):
    def mixed(names):
        return {n: LayerBits([2, 4, 8][i % 3], 8) for i, n in enumerate(names)}

    qmodel = _qat_model(mixed)
    info = export_onnx(qmodel, tmp_path / "m.onnx", height_px=H, width_px=W, weight_storage="packed")
    batch = _batch(seed=5)
    with torch.no_grad():
        want = qmodel(batch).numpy()
    session = _plain_session(info["path"])
    got = session.run(None, {i.name: batch[i.name].numpy() for i in session.get_inputs()})[0]
    assert np.abs(got - want).max() < FUSED_TOLERANCE_M
    ops = [n.op_type for n in _optimized_ops(info["path"], tmp_path).node]
    convs = sum(1 for n in onnx.load(info["path"]).graph.node if n.op_type == "Conv")
    assert ops.count("QLinearConv") == convs - 1  # INT2 and INT4 layers too; the head stays float


def test_stem_input_channels_are_padded_for_the_fast_kernel(tmp_path):
    qmodel = _qat_model(lambda names: preset_plan("w8a8", names))
    info = export_onnx(qmodel, tmp_path / "m.onnx", height_px=H, width_px=W, weight_storage="int8")
    graph = onnx.load(info["path"]).graph
    stem = next(t for t in graph.initializer if t.name == "model.core.enc.0.0.conv.export_weight_quantized")
    assert list(stem.dims)[:2] == [4, 8]  # 6 input channels + 2 zero ones
    assert onnx.numpy_helper.to_array(stem)[:, 6:].max() == 0
    assert [n.op_type for n in graph.node].count("Pad") == 1


def test_float_model_exports_unchanged(tmp_path):
    model = TofNet(TofNetConfig(base_width=4, num_scales=3)).eval()
    info = export_onnx(model, tmp_path / "f.onnx", height_px=H, width_px=W)
    batch = _batch()
    with torch.no_grad():
        want = model(batch).numpy()
    np.testing.assert_allclose(_run(info["path"], batch), want, atol=1e-5)


def test_status_channel_model_exports_with_its_status_input(tmp_path):
    torch.manual_seed(0)
    model = TofNet(TofNetConfig(base_width=4, num_scales=3, status_channels=True)).eval()
    with torch.no_grad():
        model.core.head.weight.normal_(std=0.05)
    qmodel = prepare_qat(model, preset_plan("w8a8", quantizable_layers(model)))
    g = torch.Generator().manual_seed(4)
    batch = _batch() | {"spot_status": (torch.rand(1, 2, H, W, generator=g) > 0.7).float()}
    calibrate(qmodel, batch)
    qmodel.eval()
    info = export_onnx(qmodel, tmp_path / "s.onnx", height_px=H, width_px=W, weight_storage="int8")
    graph = onnx.load(info["path"]).graph
    assert [i.name for i in graph.input][-1] == "spot_status"
    stem = next(t for t in graph.initializer if t.name == "model.core.enc.0.0.conv.export_weight_quantized")
    assert list(stem.dims)[:2] == [4, 8]  # 8 input channels: no padding needed
    with torch.no_grad():
        want = qmodel(batch).numpy()
    np.testing.assert_allclose(_run_unfused(info["path"], batch), want, atol=1e-4)
    zeros = batch | {"spot_status": torch.zeros(1, 2, H, W)}
    without = {k: v for k, v in batch.items() if k != "spot_status"}
    np.testing.assert_array_equal(_run(info["path"], without), _run(info["path"], zeros))  # absent = every spot valid
