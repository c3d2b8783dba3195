import json

import numpy as np
import pytest
import torch
from torch import nn

from completion import models
from completion.errors import ConfigError
from completion.models.layers import ConvBNReLU, Merge, Resize2x, UpConv
from completion.models.nlspn import load_torchvision_resnet
from completion.models.resnet import resnet18, resnet34
from completion.models.tofnet import tofnet_inputs


def make_batch(b=2, h=60, w=84, seed=0):
    g = torch.Generator().manual_seed(seed)
    sparse = torch.zeros(b, 1, h, w)
    sparse[:, :, 3::9, 2::11] = 1.0 + 3.0 * torch.rand(b, 1, len(range(3, h, 9)), len(range(2, w, 11)), generator=g)
    mask = (sparse > 0).float()
    prefill = torch.empty(b, 1, h, w)
    dist = torch.empty(b, 1, h, w)
    from completion.prefill import nearest_fill

    for i in range(b):
        f, d = nearest_fill(sparse[i, 0].numpy())
        prefill[i, 0], dist[i, 0] = torch.from_numpy(f), torch.from_numpy(d)
    K = torch.tensor([[50.0, 0, w / 2], [0, 50.0, h / 2], [0, 0, 1]]).expand(b, 3, 3)
    return {
        "rgb": torch.rand(b, 3, h, w, generator=g),
        "sparse": sparse,
        "mask": mask,
        "prefill": prefill,
        "nearest": prefill,
        "dist": dist,
        "K": K,
    }


SMALL_CFG = {"nlspn": {"num_iters": 2}, "cspn": {"num_iters": 2}}  # full encoder, fewer steps, to keep it quick
FULL_SIZE = ("nlspn", "cspn")  # ResNet-34 at width 64: slow to build and run


# every model at 60x84 and 37x53 (odd); the full-size nlspn and cspn only at 60x84, batch 1
SHAPE_CASES = [(n, s) for n in models.names() for s in [(60, 84), (37, 53)] if n not in FULL_SIZE or s == (60, 84)]


@pytest.mark.parametrize(("name", "size"), SHAPE_CASES)
def test_every_model_shape_dtype_and_config_round_trip(name, size):
    torch.manual_seed(0)
    model = models.create(name, **SMALL_CFG.get(name, {})).eval()
    b = 1 if name in FULL_SIZE else 2
    batch = make_batch(b, *size)
    with torch.no_grad():
        out = model(batch)
    assert out.shape == (b, 1, *size) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and (out >= 0).all()
    assert model.name == name
    cfg = json.loads(json.dumps(model.config))
    assert models.create(name, **cfg).config == model.config


@pytest.mark.parametrize("name", models.names())
def test_default_config_is_what_create_uses(name):
    assert models.create(name).config == models.default_config(name)


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown model 'tofnett' \(did you mean tofnet.*valid names: .*nlspn"):
        models.create("tofnett")
    with pytest.raises(ConfigError, match="valid names"):
        models.default_config("dyspn")


def test_unknown_or_bad_config_key():
    with pytest.raises(ConfigError, match=r"base_widht.*did you mean base_width.*valid keys"):
        models.create("tofnet", base_widht=8)
    with pytest.raises(ConfigError, match="skip"):
        models.create("tofnet", skip="sum")
    with pytest.raises(ConfigError, match="width"):
        models.create("nlspn", width=30)


def test_tofnet_is_quantization_friendly():
    model = models.create("tofnet")
    allowed = (
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.Identity,
        Resize2x,
        Merge,
        ConvBNReLU,
        UpConv,
        nn.Sequential,
        nn.ModuleList,
        type(model),
        type(model.core),
    )
    kinds = {type(m) for m in model.modules()}
    assert not any(issubclass(k, nn.ConvTranspose2d) for k in kinds)
    assert all(issubclass(k, allowed) for k in kinds), kinds
    blocks = [m for m in model.modules() if isinstance(m, ConvBNReLU)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(blocks) + 1  # every conv but the head sits in a ConvBNReLU
    assert all(isinstance(b.conv, nn.Conv2d) and isinstance(b.bn, nn.BatchNorm2d) for b in blocks)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 500_000


@pytest.mark.parametrize("cfg", [{}, {"skip": "add", "upsample": "bilinear", "num_scales": 3, "convs_per_scale": 2}])
def test_tofnet_global_residual(cfg):
    model = models.create("tofnet", **cfg).eval()
    nn.init.zeros_(model.core.head.weight)
    nn.init.zeros_(model.core.head.bias)
    batch = make_batch(2, 45, 71, seed=3)
    with torch.no_grad():
        out = model(batch)
    torch.testing.assert_close(out, batch["prefill"], rtol=0, atol=0)


def test_tofnet_inputs_normalisation():
    batch = make_batch(1, 8, 10)
    x = tofnet_inputs(batch, max_depth_m=5.0, max_dist_px=4.0)
    assert x.shape == (1, 5, 8, 10)
    torch.testing.assert_close(x[:, 0:1], batch["prefill"] / 5.0)
    torch.testing.assert_close(x[:, 1:2], torch.clamp(batch["dist"], max=4.0) / 4.0)
    assert x[:, 1].max() <= 1.0 and x[0, 1][batch["mask"][0, 0] > 0].eq(0).all()
    torch.testing.assert_close(x[:, 2:], batch["rgb"])


@pytest.mark.parametrize("name", ["tofnet", "nlspn-small", "cspn-small"])
def test_trainable_models_get_gradients(name):
    torch.manual_seed(0)
    model = models.create(name).train()
    batch = make_batch(2, 32, 40)
    out = model(batch)
    loss = (out - 2.0).abs().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_torchvision_style_resnet_names_and_sizes():
    # reference sizes of torchvision's resnet18 / resnet34 (parameter tensors, elements, state-dict entries)
    for make, n_tensors, n_params, n_keys in [(resnet18, 62, 11_689_512, 122), (resnet34, 110, 21_797_672, 218)]:
        net = make()
        assert len(list(net.parameters())) == n_tensors
        assert sum(p.numel() for p in net.parameters()) == n_params
        assert len(net.state_dict()) == n_keys
    sd = resnet18().state_dict()
    for key in [
        "conv1.weight",
        "bn1.running_var",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.bias",
        "layer4.1.bn2.num_batches_tracked",
        "fc.weight",
    ]:
        assert key in sd
    assert resnet18()(torch.rand(1, 3, 64, 64)).shape == (1, 1000)


def test_load_torchvision_resnet_into_nlspn():
    torch.manual_seed(1)
    model = models.create("nlspn", num_iters=1)
    tv = resnet34()
    for p in tv.parameters():  # distinctive values, so the copy is visible
        nn.init.uniform_(p, -1, 1)
    sd = {f"module.{k}" if i % 2 else k: v for i, (k, v) in enumerate(tv.state_dict().items())}
    report = load_torchvision_resnet(model, sd)
    layer_keys = sorted(k for k in tv.state_dict() if k.startswith("layer"))
    assert report["loaded"] == layer_keys
    assert report["ignored"] == sorted(k for k in tv.state_dict() if not k.startswith("layer"))
    own = model.state_dict()
    for k in layer_keys:
        target = "conv" + str(int(k[5]) + 1) + k[6:]
        torch.testing.assert_close(own[target], tv.state_dict()[k], rtol=0, atol=0)


def test_load_torchvision_resnet_mismatch():
    model = models.create("nlspn", num_iters=1)
    with pytest.raises(ConfigError, match="does not match the resnet34 encoder"):
        load_torchvision_resnet(model, resnet18().state_dict())
    small = models.create("nlspn-small")
    with pytest.raises(ConfigError, match="shape of layer1"):
        load_torchvision_resnet(small, resnet18().state_dict())


def test_baseline_models_have_no_parameters_and_match_numpy():
    from completion.baselines import linear_depth

    batch = make_batch(2, 30, 41, seed=5)
    out = models.create("linear")(batch)
    for i in range(2):
        ref = linear_depth(batch["sparse"][i, 0].numpy(), batch["mask"][i, 0].numpy() > 0)
        np.testing.assert_array_equal(out[i, 0].numpy(), ref)
    assert not list(models.create("ipbasic").parameters())


def test_benchmark_mac_counter_hand_computed():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "completion_speed.py"
    spec = importlib.util.spec_from_file_location("completion_speed", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, padding=1)
            self.g = nn.Conv2d(8, 8, 3, padding=1, groups=4)
            self.t = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
            self.fc = nn.Linear(4 * 20 * 20, 5)

        def forward(self, batch):
            x = self.t(self.g(self.a(batch["rgb"])))
            return self.fc(x.flatten(1))

    macs = bench.count_macs(Tiny(), {"rgb": torch.rand(1, 3, 10, 10)})
    # conv: 8 out x 100 px x 27; grouped: 8 x 100 x (2 x 9); transposed: 8 x 100 inputs x 4 x 9; linear: 1600 x 5
    assert macs == 8 * 100 * 27 + 8 * 100 * 18 + 8 * 100 * 36 + 1600 * 5
    tof = models.create("tofnet")
    assert bench.count_macs(tof, make_batch(1, 48, 64)) > 0


def test_tofnet_status_channels_are_read_and_reach_the_output():
    torch.manual_seed(0)
    model = models.create("tofnet", base_width=4, num_scales=2, status_channels=True).eval()
    assert model.input_keys[-1] == "spot_status" and model.cfg.in_channels == 8
    nn.init.normal_(model.core.head.weight, std=0.1)  # the zero-initialised head would hide every input
    batch = make_batch(1, 24, 32)
    batch["spot_status"] = torch.zeros(1, 2, 24, 32)
    far = dict(batch, spot_status=torch.ones(1, 2, 24, 32))
    x = tofnet_inputs(far, 10.0, 32.0, True, 1.0, True)
    assert x.shape[1] == 8 and torch.equal(x[:, 6:], far["spot_status"])
    with torch.no_grad():
        assert not torch.allclose(model(batch), model(far))
    with torch.no_grad():  # a batch without spot flags reads as every spot valid (zeros)
        assert torch.equal(model({k: v for k, v in batch.items() if k != "spot_status"}), model(batch))
