"""`apply_overrides` (``leaderboard reproduce --frames/--epochs/--device``): fields set, bad values one line.

The CLI side (recorded in ``reproduce.json``, no folder on a bad value) is in ``test_lb_reproduce.py``.
"""

from __future__ import annotations

import pytest

from leaderboard.errors import ConfigError
from leaderboard.reproduce import apply_overrides, get_preset


def test_overrides_change_only_their_fields():
    quick = get_preset("quick")
    p, changed = apply_overrides(quick, frames=24, epochs="2", device="cuda:1")
    assert changed == {"n_frames": 24, "tofnet_epochs": 2, "nlspn_epochs": 2, "device": "cuda:1"}
    assert (p.n_frames, p.tofnet_epochs, p.nlspn_epochs, p.device) == (24, 2, 2, "cuda:1")
    assert p.qat_epochs == quick.qat_epochs and p.height_px == quick.height_px and p.sha256() != quick.sha256()
    same, none = apply_overrides(quick)
    assert same is quick and none == {}
    shipped, changed = apply_overrides(get_preset("shipped"), frames=4, device="cpu")
    assert shipped.n_frames == 4 and changed == {"n_frames": 4, "device": "cpu"}


@pytest.mark.parametrize(
    ("preset", "kwargs", "match"),
    [
        ("quick", {"frames": "abc"}, r"^--frames 'abc': must be a positive integer$"),
        ("quick", {"frames": "2.5"}, r"^--frames '2.5': must be a positive integer$"),
        ("quick", {"frames": 5}, r"^--frames 5: preset 'quick': n_frames 5 must hold at least 3 scenes of 6"),
        ("quick", {"epochs": "0"}, r"^--epochs '0': must be a positive integer$"),
        ("quick", {"device": "gpu"}, r"^--device 'gpu': must be cpu, auto, cuda or cuda:N$"),
        ("shipped", {"epochs": 3}, r"^--epochs: preset 'shipped' trains nothing"),
    ],
)
def test_bad_overrides_are_one_line_naming_the_option(preset, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(get_preset(preset), **kwargs)


def test_preset_refuses_an_unknown_device():
    with pytest.raises(ConfigError, match="device 'tpu' must be cpu, auto, cuda or cuda:N"):
        get_preset("quick", device="tpu")
