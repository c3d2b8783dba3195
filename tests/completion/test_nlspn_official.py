"""NLSPN's official checkpoint layout ({"net": state dict, "args": Namespace}, `module.` prefixes, the constant
tensors of its deformable propagation) loads into our `nlspn` and predicts exactly what our own weights do."""

from __future__ import annotations

import argparse

import pytest
import torch
from typer.testing import CliRunner

from completion import models
from completion.checkpoint import load_model
from completion.cli import app
from completion.errors import ConfigError
from completion.models.nlspn_official import config_from_official, load_official_nlspn

#: Key names as the official NLSPNModel writes them (checked literally, not derived from our model).
OFFICIAL_KEYS = [
    "conv1_rgb.0.weight",
    "conv1_dep.0.bias",
    "conv2.0.conv1.weight",
    "conv3.0.downsample.1.running_var",
    "conv6.1.num_batches_tracked",
    "dec2.0.weight",
    "id_dec0.0.bias",
    "gd_dec0.0.weight",
    "cf_dec0.0.weight",
    "prop_layer.conv_offset_aff.bias",
    "prop_layer.aff_scale_const",
    "prop_layer.w",
    "prop_layer.b",
    "prop_layer.w_conf",
]


def _ours(**cfg) -> torch.nn.Module:
    torch.manual_seed(0)
    model = models.create("nlspn", encoder="resnet18", width=16, num_iters=3, **cfg)
    with torch.no_grad():  # non-trivial weights and BN statistics, so that a wrong mapping changes the output
        for name, p in model.state_dict().items():
            if p.is_floating_point():
                p.copy_(torch.rand_like(p) * 0.2 + (0.9 if name.endswith(("running_var", "bn1.weight")) else -0.1))
    return model.eval()


def _official_checkpoint(model: torch.nn.Module, args: argparse.Namespace) -> dict:
    net = {f"module.{k}": v.clone() for k, v in model.state_dict().items()}
    net["module.prop_layer.w"] = torch.ones(1, 1, 3, 3)
    net["module.prop_layer.b"] = torch.zeros(1)
    net["module.prop_layer.w_conf"] = torch.ones(1, 1, 1, 1)
    return {"net": net, "args": args}


def _args(**kw) -> argparse.Namespace:
    base = dict(network="resnet18", prop_time=3, prop_kernel=3, affinity="TGASS", affinity_gamma=0.5)
    return argparse.Namespace(**{**base, "preserve_input": True, "conf_prop": True, "lr": 0.001, **kw})


def _batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    sparse = torch.zeros(1, 1, 20, 28)
    sparse[0, 0, ::5, ::6] = torch.rand(4, 5, generator=g) * 4 + 0.5
    return {"rgb": torch.rand(1, 3, 20, 28, generator=g), "sparse": sparse}


@pytest.mark.parametrize("legacy", [True, False])
def test_official_checkpoint_file_predicts_like_our_weights(tmp_path, legacy):
    ours = _ours(preserve_input=True, legacy=legacy, confidence_at="offset")
    ckpt = _official_checkpoint(ours, _args(legacy=legacy))
    assert all(f"module.{k}" in ckpt["net"] for k in OFFICIAL_KEYS)
    torch.save(ckpt, tmp_path / "model_00020.pt")
    loaded = load_model(tmp_path / "model_00020.pt")
    assert loaded.name == "nlspn" and not loaded.training
    assert (loaded.cfg.encoder, loaded.cfg.width, loaded.cfg.num_iters, loaded.cfg.legacy) == (
        "resnet18",
        16,
        3,
        legacy,
    )
    with torch.no_grad():
        assert torch.equal(loaded(_batch()), ours(_batch()))


def test_args_of_the_eccv20_code_mean_the_legacy_geometry():
    sd = _official_checkpoint(_ours(), _args())["net"]
    cfg = config_from_official(_args(), sd)  # no `legacy` attribute: the code before the 2021 fix
    assert cfg["legacy"] is True and cfg["width"] == 16 and cfg["encoder"] == "resnet18"
    assert config_from_official(_args(legacy=False), sd)["confidence_at"] == "offset"
    model = load_official_nlspn(_official_checkpoint(_ours(), _args()), num_iters=1)  # overrides win
    assert model.cfg.num_iters == 1 and model.prop_layer.geometry == "legacy"
    with pytest.raises(ConfigError, match="affinity 'AS' is not implemented"):
        config_from_official(_args(affinity="AS"), sd)


def test_mismatched_keys_are_named():
    ckpt = _official_checkpoint(_ours(), _args())
    del ckpt["net"]["module.conv6.0.weight"]
    ckpt["net"]["module.extra.weight"] = torch.zeros(1)
    with pytest.raises(ConfigError, match=r"missing conv6\.0\.weight; unexpected extra\.weight"):
        load_official_nlspn(ckpt)
    resnet34_args = _official_checkpoint(_ours(), _args(network="resnet34"))
    with pytest.raises(ConfigError, match=r"missing conv2\.2\.conv1\.weight"):
        load_official_nlspn(resnet34_args)
    bad_constant = _official_checkpoint(_ours(), _args())
    bad_constant["net"]["module.prop_layer.w"] = torch.zeros(1, 1, 3, 3)
    with pytest.raises(ConfigError, match="prop_layer.w should hold 1.0"):
        load_official_nlspn(bad_constant)


def test_cli_reports_a_mismatched_checkpoint_in_one_line(split_dataset, tmp_path):
    ckpt = _official_checkpoint(_ours(), _args())
    del ckpt["net"]["module.id_dec1.1.weight"]
    torch.save(ckpt, tmp_path / "model.pt")
    args = [
        "predict",
        "--model",
        str(tmp_path / "model.pt"),
        "--data",
        str(split_dataset),
        "--out",
        str(tmp_path / "p"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "model.pt: checkpoint keys do not match NLSPN" in lines[0]
    assert "missing id_dec1.1.weight" in lines[0]
