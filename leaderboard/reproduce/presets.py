"""Named study settings for `leaderboard reproduce`: ``quick`` (the demo), ``standard`` (CPU study), ``paper`` (GPU).

A preset is a frozen keyword-only dataclass: image size, dataset size, training epochs per model, QAT epochs,
model configs, which NLSPN variant, which test frames the figures show, and how much of the real-data study
to run. `get_preset(name, **overrides)` returns one (overrides are validated like the fields), and the
resolved preset is saved as ``DIR/reproduce.json`` beside the outputs (with its hash: a folder holds one study).

| preset | images | frames (train/val/test) | tofnet epochs | QAT epochs | NLSPN / CSPN, epochs | expected wall time |
|---|---|---|---|---|---|---|
| ``quick`` | 120 x 160 | 48 (36/6/6) | 4 | 1 (12 samples) | ``*-small``, 2 | ~2-3 min, 2-core CPU |
| ``standard`` | 240 x 320 (crops 120 x 160) | 400 (320/40/40) | 20 | 3 | ``*-small``, 10 | ~37 min, idle 2 cores |
| ``paper`` | 480 x 640 (crops 240 x 320) | 2000 (1600/200/200) | 40 | 10 | ``nlspn``, ``cspn``, 20 | ~3-5 h, one GPU |
| ``shipped`` | 480 x 640 | 8 (all test, fresh seed) | shipped | shipped | ``nlspn-small-sds`` | ~80 s, 2-core CPU |

``shipped`` (the demo, ``make demo``) trains nothing: it scores the pretrained models shipped with the package
(`SHIPPED_MODELS`, each checked against its model card) on freshly generated frames and on the real frames.
No CSPN is shipped, so that study leaves CSPN out (`study_methods`).

The camera keeps the 7-Scenes field of view at every size (f = 585 px at 640 px wide), so real Kinect frames
subsampled to the same size look like the training data to the networks.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from leaderboard.errors import ConfigError
from tofsim.registry import Registry

__all__ = [
    "ReproducePreset",
    "PRESETS",
    "get_preset",
    "preset_names",
    "apply_overrides",
    "OVERRIDE_OPTIONS",
    "BASELINES",
    "METHODS",
    "QUANT_PRESETS",
    "SHIPPED_MODELS",
    "TRAINED",
    "study_methods",
]

#: QAT methods (method name = `completion.quant` bit-width preset name).
QUANT_PRESETS = ("w8a8", "w4a8", "w4a4", "wstar")
#: Methods with a run folder: float32 tofnet, its QAT runs, NLSPN and CSPN (trained the same way as NLSPN).
TRAINED = ("float32", *QUANT_PRESETS, "nlspn", "cspn")
#: The training-free baselines, predicted by name.
BASELINES = ("nearest", "linear", "ipbasic")
#: Every method of the study, in table and figure order (a pretrained study runs `study_methods`).
METHODS = (*TRAINED, *BASELINES)
#: Focal length in pixels of a 640-pixel-wide image (7-Scenes / Kinect v1); other widths scale it.
VGA_FOCAL_PX = 585.0
#: The pretrained model (``completion/pretrained/<name>.pt``) each trained method uses when ``pretrained``.
SHIPPED_MODELS = {"float32": "tofnet-sds", "w8a8": "tofnet-sds-w8a8", "w4a8": "tofnet-sds-w4a8",
                  "w4a4": "tofnet-sds-w4a4", "wstar": "tofnet-sds-wstar", "nlspn": "nlspn-small-sds"}  # fmt: skip
VGA_WIDTH_PX = 640


def _valid_device(device: str) -> bool:
    """``cpu``, ``auto`` (CUDA when present), ``cuda`` or ``cuda:N`` (what `completion.train.TrainConfig` takes)."""
    return device in ("cpu", "auto", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())


@dataclass(frozen=True, kw_only=True)
class ReproducePreset:
    """Everything that defines one reproduction study.

    Attributes:
        name: preset name (``quick``, ``standard``, ``paper``; a test may override fields but keeps the name).
        height_px, width_px: image size of the generated data (and of the subsampled real frames); the width must
            divide 640 so real 640 x 480 frames can be subsampled exactly.
        n_frames: generated samples; frames_per_scene: consecutive samples sharing one procedural room.
        sensor: tofsim sensor preset of the spots.
        seed: global seed of data, training and QAT (0 is a seed).
        batch_size, lr: training batch size and peak learning rate (every trained model).
        crop_hw_px: random training crop (height, width), or None for full images.
        tofnet_epochs, tofnet_cfg: float32 tofnet training.
        qat_epochs: QAT fine-tuning epochs per quantized preset.
        qat_max_train_samples: fine-tune on only the first N training samples (None = all); fake quantization
            makes a QAT step several times as expensive as a float step on CPU, so ``quick`` uses a subset.
        wstar_ratio: the W* weight budget as a compression factor against the float32 weights (14 in the paper).
        nlspn_model, nlspn_epochs, nlspn_cfg: the NLSPN variant (``nlspn-small`` or ``nlspn``) and its training.
        cspn_model, cspn_cfg: the CSPN variant (``cspn-small`` or ``cspn``, the encoder-decoder of the NLSPN
            variant of the same size); it trains for ``nlspn_epochs`` with everything else as NLSPN.
        figure_frames: positions within the test split shown in the comparison figure and error maps.
        device: training device (``cpu``, ``auto``: CUDA when present); prediction always runs on CPU, whose
            per-sample latency the tables report.
        realdata_frames: real frames scored (7-Scenes, every n-th frame); 0 skips the real-data study.
        mesh_fuse_stride: fuse every n-th real frame that is not held out into the TSDF mesh.
        mesh_holdout_every: every n-th real frame (offset n // 2) is held out for the mesh comparison.
        mesh_voxel_m: TSDF voxel size in metres.
        expected_time: what the docs promise for the whole run (shown in ``results.md``).
        pretrained: score the shipped pretrained models (`SHIPPED_MODELS`) instead of training; every generated
            frame is then a test frame (the seed must differ from the training data's, see the model cards).
    """

    name: str
    height_px: int = 120
    width_px: int = 160
    n_frames: int = 48
    frames_per_scene: int = 6
    sensor: str = "sds"
    seed: int = 0
    batch_size: int = 4
    lr: float = 2e-3
    crop_hw_px: tuple[int, int] | None = None
    tofnet_epochs: int = 4
    tofnet_cfg: dict[str, Any] = field(default_factory=dict)
    qat_epochs: int = 1
    qat_max_train_samples: int | None = 12
    wstar_ratio: float = 14.0
    nlspn_model: str = "nlspn-small"
    nlspn_epochs: int = 2
    nlspn_cfg: dict[str, Any] = field(default_factory=dict)
    cspn_model: str = "cspn-small"
    cspn_cfg: dict[str, Any] = field(default_factory=dict)
    figure_frames: tuple[int, ...] = (0, 3)
    device: str = "cpu"
    realdata_frames: int = 10
    mesh_fuse_stride: int = 3
    mesh_holdout_every: int = 10
    mesh_voxel_m: float = 0.02
    expected_time: str = ""
    pretrained: bool = False

    def __post_init__(self) -> None:
        positive = ("height_px", "width_px", "n_frames", "frames_per_scene", "batch_size", "tofnet_epochs",
                    "qat_epochs", "nlspn_epochs", "mesh_fuse_stride", "mesh_holdout_every")  # fmt: skip
        for key in positive:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"preset {self.name!r}: {key} must be a positive integer, got {value!r}")
        if VGA_WIDTH_PX % self.width_px or self.height_px * 4 != self.width_px * 3:
            raise ConfigError(
                f"preset {self.name!r}: image size {self.height_px}x{self.width_px} must be 3:4 with a width that "
                "divides 640 (e.g. 60x80, 120x160, 240x320, 480x640)"
            )
        if not self.pretrained and self.n_frames < 3 * self.frames_per_scene:
            raise ConfigError(
                f"preset {self.name!r}: n_frames {self.n_frames} must hold at least 3 scenes of "
                f"{self.frames_per_scene} frames (train, val and test)"
            )
        if not (self.lr > 0 and self.wstar_ratio >= 1 and self.mesh_voxel_m > 0):
            raise ConfigError(f"preset {self.name!r}: lr > 0, wstar_ratio >= 1 and mesh_voxel_m > 0 are required")
        if self.nlspn_model not in ("nlspn", "nlspn-small"):
            raise ConfigError(f"preset {self.name!r}: nlspn_model must be 'nlspn' or 'nlspn-small'")
        if self.cspn_model not in ("cspn", "cspn-small"):
            raise ConfigError(f"preset {self.name!r}: cspn_model must be 'cspn' or 'cspn-small'")
        if not isinstance(self.realdata_frames, int) or self.realdata_frames < 0:
            raise ConfigError(f"preset {self.name!r}: realdata_frames must be >= 0 (0 skips the real data)")
        if not isinstance(self.device, str) or not _valid_device(self.device):
            raise ConfigError(f"preset {self.name!r}: device {self.device!r} must be cpu, auto, cuda or cuda:N")
        if self.qat_max_train_samples is not None and self.qat_max_train_samples < 1:
            raise ConfigError(f"preset {self.name!r}: qat_max_train_samples must be >= 1 or None")
        if self.crop_hw_px is not None:
            object.__setattr__(self, "crop_hw_px", tuple(int(c) for c in self.crop_hw_px))
        object.__setattr__(self, "figure_frames", tuple(int(i) for i in self.figure_frames))
        if not self.figure_frames:
            raise ConfigError(f"preset {self.name!r}: figure_frames needs at least one test frame")
        object.__setattr__(self, "tofnet_cfg", dict(self.tofnet_cfg))
        object.__setattr__(self, "nlspn_cfg", dict(self.nlspn_cfg))
        object.__setattr__(self, "cspn_cfg", dict(self.cspn_cfg))

    @property
    def focal_px(self) -> float:
        """Focal length in pixels at this width (the 7-Scenes / Kinect field of view)."""
        return VGA_FOCAL_PX * self.width_px / VGA_WIDTH_PX

    @property
    def subsample(self) -> int:
        """Factor by which real 640 x 480 frames are subsampled to this size."""
        return VGA_WIDTH_PX // self.width_px

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        d = dataclasses.asdict(self)
        d["crop_hw_px"] = None if self.crop_hw_px is None else list(self.crop_hw_px)
        d["figure_frames"] = list(self.figure_frames)
        return d

    def sha256(self) -> str:
        """Hash of what changes the results (everything but the name and the expected-time note)."""
        d = {k: v for k, v in self.to_dict().items() if k not in ("expected_time",)}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes: Any) -> ReproducePreset:
        """A copy with some fields changed (validated again).

        Raises:
            ConfigError: an unknown field (listing the valid ones) or a bad value.
        """
        valid = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise ConfigError(f"unknown preset field(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
        return dataclasses.replace(self, **changes)


PRESETS: Registry[ReproducePreset] = Registry("reproduce preset")


@PRESETS.register("quick")
def _quick() -> ReproducePreset:
    """The demo (``make demo``): every method in every output within 15 minutes on a 2-core CPU."""
    return ReproducePreset(name="quick", expected_time="about 2 min on an idle 2-core CPU (measured)")


@PRESETS.register("standard")
def _standard() -> ReproducePreset:
    """The CPU study of ``docs/results.md``: QVGA images, 120 x 160 training crops, a few hours on 2 cores."""
    return ReproducePreset(
        name="standard",
        height_px=240,
        width_px=320,
        n_frames=400,
        frames_per_scene=10,
        batch_size=8,
        crop_hw_px=(120, 160),
        tofnet_epochs=20,
        qat_epochs=3,
        qat_max_train_samples=None,
        nlspn_epochs=10,
        figure_frames=(0, 10, 20, 30),
        realdata_frames=50,
        mesh_fuse_stride=1,
        mesh_voxel_m=0.01,
        expected_time="about 37 min on an idle 2-core CPU (32 min measured before CSPN; its training estimated), "
        "longer on a busy one",
    )


@PRESETS.register("paper")
def _paper() -> ReproducePreset:
    """The paper's full-size setting (VGA, full NLSPN) for one GPU."""
    return ReproducePreset(
        name="paper",
        height_px=480,
        width_px=640,
        n_frames=2000,
        frames_per_scene=10,
        batch_size=8,
        crop_hw_px=(240, 320),
        tofnet_epochs=40,
        qat_epochs=10,
        qat_max_train_samples=None,
        nlspn_model="nlspn",
        nlspn_epochs=20,
        cspn_model="cspn",
        figure_frames=(0, 50, 100, 150),
        device="auto",
        realdata_frames=100,
        mesh_fuse_stride=1,
        mesh_voxel_m=0.01,
        expected_time="about 3-5 h on one GPU (H100 class) plus CPU prediction and scoring",
    )


@PRESETS.register("shipped")
def _shipped() -> ReproducePreset:
    """The demo (``make demo``): the shipped trained models on fresh synthetic frames and on the real frames."""
    return ReproducePreset(
        name="shipped",
        height_px=480,
        width_px=640,
        n_frames=8,
        frames_per_scene=2,
        seed=20261206,
        figure_frames=(0, 3, 6),
        realdata_frames=8,
        mesh_fuse_stride=4,
        pretrained=True,
        expected_time="about 80 s on a 2-core CPU (measured 2026-12-06), set-up aside",
    )


#: ``leaderboard reproduce`` options that override a preset, and the fields each one sets.
OVERRIDE_OPTIONS = {
    "--frames": ("n_frames",),
    "--epochs": ("tofnet_epochs", "nlspn_epochs"),
    "--device": ("device",),
}


def _positive_int(option: str, value: int | str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or str(n) != str(value).strip() or n < 1:
        raise ConfigError(f"{option} {value!r}: must be a positive integer")
    return n


def apply_overrides(
    preset: ReproducePreset,
    *,
    frames: int | str | None = None,
    epochs: int | str | None = None,
    device: str | None = None,
) -> tuple[ReproducePreset, dict[str, Any]]:
    """The CLI overrides on top of a named preset: ``--frames``, ``--epochs``, ``--device`` (`OVERRIDE_OPTIONS`).

    ``--frames`` sets ``n_frames`` (generated frames; with ``shipped``, the test frames), ``--epochs`` the training
    epochs of float32 tofnet and of NLSPN and CSPN (QAT keeps the preset's ``qat_epochs``), ``--device`` the training
    device. Each is validated like the preset's fields.

    Returns:
        ``(preset, overrides)``: the new preset and the fields changed (recorded in ``reproduce.json``).

    Raises:
        ConfigError: a bad value, in one line naming the option; ``--epochs`` with a preset that trains nothing.
    """
    given = {"--frames": frames, "--epochs": epochs, "--device": device}
    changes: dict[str, Any] = {}
    for option, value in given.items():
        if value is None:
            continue
        if option == "--device":
            if not isinstance(value, str) or not _valid_device(value.strip()):
                raise ConfigError(f"--device {value!r}: must be cpu, auto, cuda or cuda:N")
            value = value.strip()
        else:
            value = _positive_int(option, value)
        if option == "--epochs" and preset.pretrained:
            raise ConfigError(f"--epochs: preset {preset.name!r} trains nothing (it scores the shipped models)")
        try:
            preset.replace(**dict.fromkeys(OVERRIDE_OPTIONS[option], value))
        except ConfigError as err:
            raise ConfigError(f"{option} {value}: {err}") from None
        changes.update(dict.fromkeys(OVERRIDE_OPTIONS[option], value))
    return (preset.replace(**changes) if changes else preset), changes


def study_methods(preset: ReproducePreset) -> tuple[str, ...]:
    """The methods a study runs, in `METHODS` order.

    All of them, except that a pretrained preset (``shipped``) leaves out a trained method without a shipped
    model (CSPN): its steps are skipped with that reason, and the study is not partial for lack of it.
    """
    if not preset.pretrained:
        return METHODS
    return tuple(m for m in METHODS if m in BASELINES or m in SHIPPED_MODELS)


def preset_names() -> list[str]:
    """Names of the registered presets."""
    return PRESETS.names()


def get_preset(name: str | ReproducePreset, **overrides: Any) -> ReproducePreset:
    """A named preset (or a given one) with `overrides` applied.

    Raises:
        ConfigError: an unknown name (listing the valid ones, with close matches), an unknown field or a bad value.
    """
    if isinstance(name, ReproducePreset):
        preset = name
    else:
        if not isinstance(name, str) or name not in PRESETS.names():
            close = difflib.get_close_matches(str(name), PRESETS.names(), n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"unknown preset {name!r}{hint}; valid presets: {', '.join(PRESETS.names())}")
        preset = PRESETS.create(name)
    return preset.replace(**overrides) if overrides else preset
