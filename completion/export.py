"""ONNX export with QuantizeLinear/DequantizeLinear placed for onnxruntime's integer kernels.

The QAT model is traced with every LSQ quantizer emitting an 8-bit QDQ pair (`set_export_mode`), then the graph
is rewritten so that it stores what a deployed model stores:

- each convolution weight becomes integer data (INT8, or packed INT4 / INT2 for layers planned at 4 or 2 bits
  when ``weight_storage="packed"``) feeding a per-channel DequantizeLinear; packed weights pass through a
  ``Cast`` to INT8 first, which onnxruntime folds when it loads the file, so every file loads in a plain
  ``onnxruntime.InferenceSession`` and packed layers run on the same integer kernels as INT8 ones;
- each convolution bias becomes INT32 at scale ``input step x weight step`` feeding a DequantizeLinear, the form
  onnxruntime needs to fuse ``DQ -> Conv -> Q`` into one integer convolution (QLinearConv);
- a quantized convolution that quantizes a float tensor whose channels are not a multiple of `CHANNEL_MULTIPLE`
  (the 6-channel stem) gets zero channels padded onto that tensor and zero weights: onnxruntime's fast symmetric
  int8 convolution needs multiples of 4 and ran the 6-channel stem at half the speed of the 16-channel layers.
  The values are unchanged.

Height and width are dynamic: a graph takes any input whose height and width are multiples of the network's
stride (metadata ``tofbench.stride``; `completion.runtime_onnx.OnnxRunner` pads other sizes and crops back).
The opset is raised to 21 when INT4 is stored and 25 when INT2 is.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from completion.errors import CompletionError, ConfigError
from completion.prefill import SPOT_STATUS_CHANNELS
from completion.quant.qat import QuantConv2d, set_export_mode
from tofsim.provenance import atomic_path

__all__ = ["export_onnx", "ONNX_INPUTS", "CHANNEL_MULTIPLE"]

ONNX_INPUTS = ("rgb", "prefill", "dist")
EXPORT_OPSET = 17
#: quantized convolutions reading a float tensor get its channels padded to a multiple of this
CHANNEL_MULTIPLE = 4


class _DictInput(nn.Module):
    def __init__(self, model: nn.Module, keys: Sequence[str]) -> None:
        super().__init__()
        self.model, self.keys = model, tuple(keys)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(dict(zip(self.keys, tensors, strict=True)))


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError as e:
        raise CompletionError("ONNX export needs the onnx extra: pip install 'tofbench[onnx]'") from e


def export_onnx(
    model: nn.Module,
    out_path: str | Path,
    *,
    height_px: int = 480,
    width_px: int = 640,
    weight_storage: str = "packed",
    input_keys: Sequence[str] | None = None,
) -> dict:
    """Export a float or QAT model to ONNX; the graph takes any height and width that are multiples of its stride.

    Args:
        model: a model from `completion.models.create` or `completion.quant.qat.prepare_qat`.
        out_path: the .onnx file (written atomically).
        height_px, width_px: input size the graph is traced at (multiples of the model's stride); the graph
            itself has dynamic height and width.
        weight_storage: "packed" (INT4/INT2 where planned) or "int8" (every quantized weight as INT8: fastest).
        input_keys: batch keys passed as graph inputs, in order; each is (1, C, H, W) float32 (default: the
            model's ``input_keys``, else `ONNX_INPUTS`).

    Returns:
        A summary: path, opset, file bytes, per-layer stored weight type.

    Raises:
        ConfigError: for an unknown `weight_storage`, or a trace size that is not a multiple of the stride.
        CompletionError: when onnx is not installed.
    """
    if weight_storage not in ("packed", "int8"):
        raise ConfigError(f"weight_storage must be 'packed' or 'int8', got {weight_storage!r}")
    stride = int(getattr(getattr(model, "core", None), "stride", 1))
    if height_px % stride or width_px % stride:
        raise ConfigError(
            f"export traces at a multiple of the network's stride {stride}, got {height_px}x{width_px}; the "
            "exported graph still takes any such size"
        )
    _require_onnx()
    import copy

    import onnx

    input_keys = tuple(input_keys or getattr(model, "input_keys", ONNX_INPUTS))
    model = copy.deepcopy(model).eval().cpu()
    set_export_mode(model, True)
    channels = {"rgb": 3, "spot_status": len(SPOT_STATUS_CHANNELS)}
    g = torch.Generator().manual_seed(0)
    example = tuple(torch.rand(1, channels.get(k, 1), height_px, width_px, generator=g) + 0.5 for k in input_keys)
    buf = io.BytesIO()
    # tracing turns the quantizers' Python-side constants (steps, bit ranges) into graph constants, as intended
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            _DictInput(model, input_keys), example, buf, input_names=list(input_keys), output_names=["depth"],
            opset_version=EXPORT_OPSET, dynamo=False, do_constant_folding=False,
            dynamic_axes={k: {2: "height", 3: "width"} for k in (*input_keys, "depth")},
        )  # fmt: skip
    graph_model = onnx.load_from_string(buf.getvalue())
    bits_by_weight = {
        f"model.{name}.export_weight": m.bits.weight_bits
        for name, m in model.named_modules()
        if isinstance(m, QuantConv2d)
    }
    _pad_quantized_input_channels(graph_model.graph, CHANNEL_MULTIPLE)
    layers = _store_integer_weights(graph_model, bits_by_weight, weight_storage)
    _cast_packed_weights(graph_model.graph)
    opset = max([EXPORT_OPSET] + [{"INT4": 21, "INT2": 25}.get(t, 0) for t in layers.values()])
    for imp in graph_model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = opset
    graph_model.metadata_props.add(key="tofbench.input_keys", value=",".join(input_keys))
    graph_model.metadata_props.add(key="tofbench.stride", value=str(stride))
    graph_model.metadata_props.add(key="tofbench.prefill", value=getattr(model, "prefill", "linear"))
    onnx.checker.check_model(graph_model)
    out_path = Path(out_path)
    with atomic_path(out_path, what="ONNX model") as tmp:
        onnx.save(graph_model, tmp)
    return {"path": str(out_path), "opset": opset, "bytes": out_path.stat().st_size, "weights": layers}


def _store_integer_weights(model, bits_by_weight: dict[str, int | None], storage: str) -> dict[str, str]:
    """Rewrite QuantizeLinear(weight) -> DequantizeLinear into stored integers; biases into INT32 + DQ."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    init = {t.name: t for t in graph.initializer}

    producer = {out: n for n in graph.node for out in n.output}

    def value(name: str) -> np.ndarray | None:
        # a constant tensor: an initializer, a Constant node, or an Identity/Cast of one
        if name in init:
            return numpy_helper.to_array(init[name])
        node = producer.get(name)
        if node is None:
            return None
        if node.op_type == "Constant":
            return numpy_helper.to_array(node.attribute[0].t)
        if node.op_type in ("Identity", "Cast"):
            inner = value(node.input[0])
            if inner is not None and node.op_type == "Cast":
                to = next(a.i for a in node.attribute if a.name == "to")
                inner = inner.astype(helper.tensor_dtype_to_np_dtype(to))
            return inner
        return None

    stored: dict[str, str] = {}
    remove = []
    for node in list(graph.node):
        if node.op_type != "QuantizeLinear" or node.input[0] not in init:
            continue
        weight_name = node.input[0]
        w = numpy_helper.to_array(init[weight_name])
        scale = value(node.input[1])
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * w.ndim
        shape[axis] = -1
        ints = np.round(w / scale.reshape(shape)).astype(np.int64)
        bits = bits_by_weight.get(weight_name, 8)
        kind, dtype = "INT8", TensorProto.INT8
        if storage == "packed" and bits is not None and bits <= 4:
            kind, dtype = ("INT2", TensorProto.INT2) if bits <= 2 else ("INT4", TensorProto.INT4)
        int_name = weight_name + "_quantized"
        graph.initializer.append(_int_tensor(int_name, dtype, ints))
        zero = _int_tensor(int_name + "_zero", dtype, np.zeros(ints.shape[axis], np.int64))
        graph.initializer.append(zero)
        for consumer in graph.node:  # the DequantizeLinear reading this Q's output
            if consumer.op_type == "DequantizeLinear" and consumer.input[0] == node.output[0]:
                consumer.input[0] = int_name
                consumer.input[2] = zero.name
        remove.append(node)
        stored[weight_name.removeprefix("model.").removesuffix(".export_weight")] = kind
        init.pop(weight_name)
    for node in remove:
        graph.node.remove(node)
    _bias_to_int32(graph, value, producer)
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return stored


def _pad_quantized_input_channels(graph, multiple: int) -> None:
    """Conv(DQ(Q(x)), DQ(Q(w))), x float, C_in % multiple != 0: x gets zero channels (a Pad before Q), w zeros.

    x must not itself be a DequantizeLinear output: a Pad there would split a fused integer chain.
    """
    from onnx import helper, numpy_helper

    init = {t.name: t for t in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    uses: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        a_dq, w_dq = producer.get(conv.input[0]), producer.get(conv.input[1])
        if a_dq is None or w_dq is None or a_dq.op_type != "DequantizeLinear" or w_dq.op_type != "DequantizeLinear":
            continue
        a_q, w_q = producer.get(a_dq.input[0]), producer.get(w_dq.input[0])
        if a_q is None or w_q is None or a_q.op_type != "QuantizeLinear" or w_q.input[0] not in init:
            continue
        source = producer.get(a_q.input[0])
        if source is not None and source.op_type == "DequantizeLinear":
            continue
        if uses.get(a_q.output[0]) != 1 or uses.get(a_dq.output[0]) != 1 or uses.get(w_q.input[0]) != 1:
            continue
        w = numpy_helper.to_array(init[w_q.input[0]])
        extra = (-w.shape[1]) % multiple
        if extra == 0:
            continue
        padded = np.concatenate([w, np.zeros((w.shape[0], extra, *w.shape[2:]), w.dtype)], axis=1)
        init[w_q.input[0]].CopyFrom(numpy_helper.from_array(padded, w_q.input[0]))
        name = f"{conv.name or conv.output[0]}_input_channel_pad"
        graph.initializer.append(numpy_helper.from_array(np.array([0, 0, 0, 0, 0, extra, 0, 0], np.int64), name))
        graph.node.append(helper.make_node("Pad", [a_q.input[0], name], [name + "_out"], mode="constant", name=name))
        a_q.input[0] = name + "_out"
    _toposort(graph)


def _cast_packed_weights(graph) -> None:
    """DequantizeLinear(INT4/INT2 initializer) -> DequantizeLinear(Cast(..., INT8)): loads and fuses anywhere.

    onnxruntime's optimiser fuses ``DQ(INT2) -> Conv`` into a QLinearConv that rejects INT2 weights (the file
    then fails to load); with the Cast, which it constant-folds at load time, the fused kernel sees INT8.
    """
    from onnx import TensorProto, helper

    init = {t.name: t for t in graph.initializer}
    packed = (TensorProto.INT4, TensorProto.INT2)
    made: set[str] = set()
    for dq in [n for n in graph.node if n.op_type == "DequantizeLinear"]:
        if dq.input[0] not in init or init[dq.input[0]].data_type not in packed:
            continue
        for k in (0, 2):  # the integers and their zero point
            src = dq.input[k]
            if src not in made:
                graph.node.append(
                    helper.make_node("Cast", [src], [src + "_int8"], to=TensorProto.INT8, name=src + "_cast")
                )
                made.add(src)
            dq.input[k] = src + "_int8"
    _toposort(graph)


def _int_tensor(name: str, dtype: int, ints: np.ndarray):
    """An integer initializer stored as raw bytes; INT4 and INT2 packed little end first (ONNX's layout)."""
    from onnx import TensorProto, helper

    flat = ints.astype(np.int64).ravel()
    if dtype == TensorProto.INT8:
        raw = flat.astype(np.int8).tobytes()
    elif dtype == TensorProto.INT32:
        raw = flat.astype("<i4").tobytes()
    else:
        width = 4 if dtype == TensorProto.INT4 else 2
        per_byte = 8 // width
        codes = (flat & ((1 << width) - 1)).astype(np.uint8)
        codes = np.concatenate([codes, np.zeros((-len(codes)) % per_byte, np.uint8)]).reshape(-1, per_byte)
        shifts = (np.arange(per_byte) * width).astype(np.uint8)
        raw = np.bitwise_or.reduce(codes << shifts, axis=1).astype(np.uint8).tobytes()
    return helper.make_tensor(name, dtype, list(ints.shape), raw, raw=True)


def _bias_to_int32(graph, value, producer) -> None:
    """Conv bias b (float) -> round(b / (s_x * s_w)) as INT32 behind a per-channel DequantizeLinear."""
    from onnx import TensorProto, helper, numpy_helper

    for conv in [n for n in graph.node if n.op_type == "Conv" and len(n.input) == 3]:
        x_dq, w_dq = producer.get(conv.input[0]), producer.get(conv.input[1])
        bias = value(conv.input[2])
        if bias is None or x_dq is None or w_dq is None:
            continue
        if x_dq.op_type != "DequantizeLinear" or w_dq.op_type != "DequantizeLinear":
            continue
        scale = (value(x_dq.input[1]).astype(np.float64) * value(w_dq.input[1]).astype(np.float64)).astype(np.float32)
        ints = np.round(bias / scale).astype(np.int64)
        name = conv.input[2] + "_int32"
        graph.initializer.append(_int_tensor(name, TensorProto.INT32, ints))
        graph.initializer.append(numpy_helper.from_array(scale.astype(np.float32), name + "_scale"))
        graph.initializer.append(_int_tensor(name + "_zero", TensorProto.INT32, np.zeros(len(ints), np.int64)))
        out = name + "_dq"
        graph.node.append(
            helper.make_node("DequantizeLinear", [name, name + "_scale", name + "_zero"], [out], axis=0, name=out)
        )
        conv.input[2] = out
    # keep the graph topologically sorted: move the new bias DQ nodes before their consumers
    _toposort(graph)


def _toposort(graph) -> None:
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    nodes, ordered = list(graph.node), []
    while nodes:
        progressed = False
        for n in list(nodes):
            if all(i in available for i in n.input):
                ordered.append(n)
                available.update(n.output)
                nodes.remove(n)
                progressed = True
        if not progressed:
            raise CompletionError("internal error: ONNX graph has a cycle after rewriting")
    del graph.node[:]
    graph.node.extend(ordered)
