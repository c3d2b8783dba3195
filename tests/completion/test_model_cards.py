"""Model cards: sha256 checked on load, one-line errors, and every shipped checkpoint matches its card."""

import hashlib

import pytest
import torch

from completion.checkpoint import PRETRAINED, PRETRAINED_DIR, load_model, model_payload, save_checkpoint
from completion.errors import InputFileError
from completion.model_cards import ModelCard, file_sha256, read_card, verified_checkpoint, write_card
from completion.models import create


def _ship(tmp_path, name="toy"):
    model = create("tofnet", base_width=4, num_scales=2)
    path = save_checkpoint(model_payload(model), tmp_path / f"{name}.pt")
    write_card(ModelCard(name=name, summary="a toy", sha256=hashlib.sha256(path.read_bytes()).hexdigest()), tmp_path)
    return path


def test_card_round_trip_and_sha256_against_hashlib(tmp_path):
    path = _ship(tmp_path)
    card = read_card("toy", tmp_path)
    assert card.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == file_sha256(path)
    assert verified_checkpoint("toy", tmp_path) == path
    assert card.test_rmse_m("synthetic") is None


def test_a_changed_file_is_refused_naming_it(tmp_path):
    path = _ship(tmp_path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match=r"toy\.pt: sha256 .* does not match its model card") as err:
        verified_checkpoint("toy", tmp_path)
    assert "\n" not in str(err.value)


def test_missing_and_broken_cards(tmp_path):
    with pytest.raises(InputFileError, match="model card not found"):
        read_card("nothing", tmp_path)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputFileError, match="not valid JSON"):
        read_card("bad", tmp_path)
    (tmp_path / "odd.json").write_text('{"name": "odd"}')
    with pytest.raises(InputFileError, match="not a model card"):
        read_card("odd", tmp_path)
    write_card(ModelCard(name="gone", summary="", sha256="0" * 64), tmp_path)
    with pytest.raises(InputFileError, match="pretrained model 'gone' is not installed"):
        verified_checkpoint("gone", tmp_path)


@pytest.mark.parametrize("name", sorted(PRETRAINED))
def test_every_shipped_model_matches_its_card_and_runs(name):
    if not (PRETRAINED_DIR / f"{name}.json").is_file():
        pytest.skip(f"{name} has no card in this checkout")
    card = read_card(name)
    assert card.name == name and card.recipe and card.commands and card.test_metrics
    assert file_sha256(PRETRAINED_DIR / f"{name}.pt") == card.sha256
    model = load_model(name)
    full = torch.full((1, 1, 48, 64), 2.0)
    batch = {
        "rgb": torch.rand(1, 3, 48, 64), "sparse": torch.zeros(1, 1, 48, 64), "mask": torch.zeros(1, 1, 48, 64),
        "prefill": full, "nearest": full, "dist": torch.zeros(1, 1, 48, 64), "K": torch.eye(3)[None],
    }  # fmt: skip
    batch["sparse"][..., 4::8, 4::8] = 2.0
    batch["mask"] = (batch["sparse"] > 0).float()
    with torch.no_grad():
        out = model(batch)
    assert out.shape == (1, 1, 48, 64) and torch.isfinite(out).all()
