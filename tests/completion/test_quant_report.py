import torch

from completion.models.tofnet import TofNet, TofNetConfig
from completion.quant.bitwidths import preset_plan
from completion.quant.memory import weight_bytes
from completion.quant.qat import calibrate, prepare_qat, quantizable_layers
from completion.quant.report import format_memory_report, memory_report


def test_memory_report_counts_every_conv_once_and_matches_hand_count():
    model = TofNet(TofNetConfig(base_width=4, num_scales=2)).eval()
    names = quantizable_layers(model)
    qmodel = prepare_qat(model, preset_plan("w4a4", names))
    batch = {"rgb": torch.rand(1, 3, 8, 8), "prefill": torch.rand(1, 1, 8, 8) + 1, "dist": torch.rand(1, 1, 8, 8)}
    calibrate(qmodel, batch | {"nearest": torch.rand(1, 1, 8, 8) + 1})
    rep = memory_report(qmodel, height_px=8, width_px=8)
    assert [r["name"] for r in rep["layers"]] == names
    # first conv: 6 -> 4 channels (both fills, dist, rgb), 3x3, 8-bit (edge layer): 216 weights + 4 scales + 4 biases
    first = rep["layers"][0]
    assert (first["weight_bits"], first["weights"], first["bytes"]) == (8, 216, 216 + 16 + 16)
    second = rep["layers"][1]  # 4 -> 4, 3x3 at 4 bits: 144 weights -> 72 bytes
    assert (second["weight_bits"], second["bytes"]) == (4, 72 + 32)
    assert rep["weights"]["bytes"] == sum(r["bytes"] for r in rep["layers"])
    fp32 = sum(weight_bytes(r["weights"], r["channels"], None) for r in rep["layers"])
    assert rep["weights"]["fp32_bytes"] == fp32
    acts = rep["activations"]
    assert acts["bits"] == 4 and acts["max_bits"] == 8 and acts["computed_not_measured"]
    # the first layer's and the head's inputs are stored at 8 bits, the rest at 4 (here the peak is at the 8-bit input)
    assert 4 * acts["peak_bytes"] <= acts["fp32_peak_bytes"] < 8 * acts["peak_bytes"]
    text = format_memory_report(rep)
    assert "computed from tensor liveness, not measured" in text
    assert names[0] in text
