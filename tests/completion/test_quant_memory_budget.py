import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from completion.errors import ConfigError
from completion.quant.budget import LayerOptions, allocate_bits
from completion.quant.memory import activation_memory, peak_live_bytes, trace_activations, weight_bytes


def test_weight_bytes_hand_computed():
    # 3x3 conv 16->16: 2304 weights, 16 channels
    assert weight_bytes(2304, 16, None) == 4 * 2304 + 4 * 16
    assert weight_bytes(2304, 16, 8) == 2304 + 16 * 4 + 16 * 4
    assert weight_bytes(2304, 16, 4) == 1152 + 128
    assert weight_bytes(2304, 16, 2) == 576 + 128
    assert weight_bytes(9, 1, 4) == 5 + 8  # 36 bits round up to 5 bytes


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, b):
        x = b["prefill"]
        a = F.relu(self.bn(self.c1(x)))
        d = F.relu(self.c2(a))
        u = F.interpolate(d, scale_factor=2.0, mode="nearest")
        return x + self.c3(torch.cat([a, u], 1))


def test_activation_liveness_hand_computed():
    batch = {"prefill": torch.rand(1, 1, 8, 8), "K": torch.eye(3)[None]}
    nodes = trace_activations(_Tiny().eval(), batch)
    # input(64) conv1+bn+relu(256) conv2+relu(64) upsample(256) cat(512) conv3(64) add(64)
    assert [n.elements for n in nodes] == [64, 256, 64, 256, 512, 64, 64]
    assert [n.inputs for n in nodes] == [[], [0], [1], [2], [1, 3], [4], [0, 5]]
    # at the concat: input (still needed by the final add) + a + upsampled + cat output
    assert peak_live_bytes(nodes, 8) == (64 + 256 + 256 + 512, 4)
    assert peak_live_bytes(nodes, 4)[0] == (64 + 256 + 256 + 512) // 2
    mem = activation_memory(_Tiny().eval(), batch, 32)
    assert mem["peak_bytes"] == 4 * (64 + 256 + 256 + 512)
    assert mem["max_tensor_bytes"] == 4 * 512
    assert mem["sum_bytes"] == 4 * (64 + 256 + 64 + 256 + 512 + 64 + 64)


def _brute_force(layers, budget):
    best = (math.inf, math.inf, None)
    for combo in itertools.product(*[sorted(opt.size_bytes) for opt in layers]):
        size = sum(opt.size_bytes[b] for opt, b in zip(layers, combo, strict=True))
        cost = sum(opt.cost[b] for opt, b in zip(layers, combo, strict=True))
        if size <= budget and (cost, size) < best[:2]:
            best = (cost, size, combo)
    return best


@pytest.mark.parametrize("trial", range(20))
def test_budget_solver_is_optimal_against_brute_force(trial):
    rng = np.random.default_rng(trial)
    layers = []
    for i in range(5):
        n = int(rng.integers(1, 40)) * 8
        cost = {8: float(rng.uniform(0, 0.1)), 4: float(rng.uniform(0.05, 0.5)), 2: float(rng.uniform(0.3, 2))}
        layers.append(LayerOptions(f"l{i}", cost, {b: weight_bytes(n, 4, b) for b in (2, 4, 8)}))
    lo = sum(min(o.size_bytes.values()) for o in layers)
    hi = sum(max(o.size_bytes.values()) for o in layers)
    budget = int(rng.integers(lo, hi + 1))
    bits, cost, size = allocate_bits(layers, budget)
    want_cost, want_size, want_combo = _brute_force(layers, budget)
    assert cost == pytest.approx(want_cost)
    assert size <= budget
    assert sum(o.cost[bits[o.name]] for o in layers) == pytest.approx(cost)
    assert size == sum(o.size_bytes[bits[o.name]] for o in layers)


def test_budget_below_minimum_is_a_clear_error():
    layer = LayerOptions("a", {2: 1.0, 8: 0.0}, {2: 100, 8: 400})
    with pytest.raises(ConfigError, match="below the smallest possible size 100"):
        allocate_bits([layer], 99)


def test_peak_counts_each_tagged_tensor_at_its_own_bits():
    from completion.quant.memory import ActivationNode, peak_live_bytes

    # a (100 elements, 8 bits) -> b (100, default 4 bits) -> c (10, 8 bits); a dies when b is made
    nodes = [
        ActivationNode("a", 100, [], 1, bits=8),
        ActivationNode("b", 100, [0], 2),
        ActivationNode("c", 10, [1], 2, 8),
    ]
    assert peak_live_bytes(nodes, 4) == (100 + 50, 1)
    assert peak_live_bytes(nodes, 32, node_bits=False) == (800, 1)
