import pytest
import torch

from completion.errors import ConfigError
from completion.models.tofnet import TofNet, TofNetConfig
from completion.quant.memory import weight_bytes
from completion.quant.wstar import float_weight_bytes, layer_sensitivity, layer_sizes, search_plan


def _model_and_eval():
    torch.manual_seed(0)
    model = TofNet(TofNetConfig(base_width=4, num_scales=2)).eval()
    g = torch.Generator().manual_seed(0)
    batch = {
        "rgb": torch.rand(1, 3, 16, 16, generator=g),
        "prefill": 1 + torch.rand(1, 1, 16, 16, generator=g),
        "nearest": 1 + torch.rand(1, 1, 16, 16, generator=g),
        "dist": 5 * torch.rand(1, 1, 16, 16, generator=g),
    }
    with torch.no_grad():
        for p in model.parameters():  # a non-trivial head so quantization changes the output
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        ref = model(batch)

    def evaluate(m):
        with torch.no_grad():
            return float(((m(batch) - ref) ** 2).mean().sqrt())

    return model, evaluate


def test_sensitivity_falls_with_bits_and_plan_meets_budget():
    model, evaluate = _model_and_eval()
    sens = layer_sensitivity(model, evaluate)
    assert set(sens) == set(layer_sizes(model))
    for per_bits in sens.values():
        assert per_bits[2] >= per_bits[8] >= 0
    fp32 = float_weight_bytes(model)
    budget = fp32 // 6
    plan, summary = search_plan(model, sens, budget_bytes=budget)
    sizes = layer_sizes(model)
    total = sum(weight_bytes(*sizes[n], plan[n].weight_bits) for n in plan)
    assert total == summary["weight_bytes"] <= budget
    assert summary["ratio_vs_fp32"] == pytest.approx(fp32 / total)
    # a generous budget gives every layer its least sensitive width
    free, _ = search_plan(model, sens, budget_bytes=fp32)
    for name, bits in free.items():
        assert sens[name][bits.weight_bits] == min(sens[name].values())


def test_impossible_budget_is_a_clear_error():
    model, evaluate = _model_and_eval()
    sens = {n: {2: 1.0, 8: 0.0} for n in layer_sizes(model)}
    with pytest.raises(ConfigError, match="below the smallest possible size"):
        search_plan(model, sens, budget_bytes=10)
