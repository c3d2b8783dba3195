"""`TrainConfig`: everything that defines a training run (saved as ``config.json``; TOML recipes read into it)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from completion.data import AugmentConfig
from completion.errors import ConfigError, InputFileError
from completion.losses import LossConfig

__all__ = ["TrainConfig"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json``).

    Attributes:
        data: tofsim dataset folder (``tofsim.open_dataset``).
        model: registered model name (``completion models`` lists them).
        model_cfg: keyword arguments for the model (e.g. ``{"base_width": 8}``).
        epochs: total number of epochs (raising it on resume extends the run; the cosine follows the new total).
        batch_size: samples per step (per process under DDP).
        lr: peak AdamW learning rate.
        min_lr_ratio: the cosine schedule decays per step from ``lr`` to ``lr * min_lr_ratio``.
        weight_decay: AdamW weight decay.
        grad_clip_norm: clip the gradient norm at this value; 0 disables.
        crop_hw_px: (height, width) random training crop, or None for full images.
        hflip_prob: probability of a horizontal flip.
        color_jitter: brightness, contrast and saturation jitter strength (0 disables).
        camera_degrade: strength in [0, 1] of camera effects on the RGB: gamma, white balance, blur, noise.
        pattern_prob: probability of overlaying colour patterns that have no depth edge (posters, stripes, shading).
        rgb_drop_prob: probability of replacing a training image's RGB by its mean grey.
        rgb_shift_px: largest shift in pixels of the RGB against the depth, per axis (misregistration; 0 off).
        spot_hole_prob: probability that a training sample loses spots to sensor holes (NO_HIT; 0 off).
        spot_hole_max_fraction: largest share of its measured spots such a sample loses.
        spot_dim_prob: probability that a training sample's spots are dimmed as if its room were darker (weak
            spots become DROPOUT; `completion.augment_spots.dim_spots`; 0 off).
        spot_dim_min_gain: smallest dimming gain (log-uniform up to 1).
        spot_dim_floor_e: the sensor's detection edge in photo-electrons (85 for the sds preset).
        init_from: start from these weights (a run folder, a ``.pt`` file or a pretrained name such as
            ``tofnet-sds``); the model and its config must match. None trains from a random initialisation.
        loss: the geometry-preserving loss config.
        seed: seed of initialisation, order and augmentation (0 is a seed).
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        amp: use float16 autocast and a gradient scaler on CUDA (ignored on CPU).
        cpu_bf16: use bfloat16 autocast for the forward pass on CPU (2.5x faster steps on a CPU with AVX512-BF16,
            measured for tofnet at base width 16; slow where the CPU has no bfloat16 instructions). Weights,
            optimizer, loss and validation stay float32.
        num_workers: DataLoader worker processes (results do not depend on it).
        cpu_threads: torch intra-op CPU threads during the run (restored afterwards); None keeps torch's setting.
        train_split, val_split: split names of the dataset; a dataset without splits trains and validates on
            all samples; an empty validation split validates on the training samples.
        max_train_samples, max_val_samples: use only the first N samples of a split (None = all).
    """

    data: str = ""
    model: str = "tofnet"
    model_cfg: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 8
    lr: float = 2e-3
    min_lr_ratio: float = 0.01
    weight_decay: float = 1e-4
    grad_clip_norm: float = 1.0
    crop_hw_px: tuple[int, int] | None = None
    hflip_prob: float = 0.5
    color_jitter: float = 0.1
    camera_degrade: float = 0.0
    pattern_prob: float = 0.0
    rgb_drop_prob: float = 0.0
    rgb_shift_px: int = 0
    spot_hole_prob: float = 0.0
    spot_hole_max_fraction: float = 0.15
    spot_dim_prob: float = 0.0
    spot_dim_min_gain: float = 0.1
    spot_dim_floor_e: float = 85.0
    init_from: str | None = None
    loss: LossConfig = field(default_factory=LossConfig)
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    cpu_bf16: bool = False
    num_workers: int = 0
    cpu_threads: int | None = None
    train_split: str = "train"
    val_split: str = "val"
    max_train_samples: int | None = None
    max_val_samples: int | None = None

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ConfigError(f"cpu_threads must be >= 1 or None, got {self.cpu_threads}")
        if self.num_workers < 0 or self.grad_clip_norm < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError("num_workers and grad_clip_norm must be >= 0 and min_lr_ratio in [0, 1]")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if isinstance(self.loss, dict):
            object.__setattr__(self, "loss", LossConfig.from_dict(self.loss))
        if self.crop_hw_px is not None:
            object.__setattr__(self, "crop_hw_px", tuple(int(c) for c in self.crop_hw_px))
        object.__setattr__(self, "model_cfg", dict(self.model_cfg))
        self.augment_config()  # validates hflip_prob, color_jitter, crop

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict (TOML, JSON), rejecting unknown keys.

        Raises:
            ConfigError: for an unknown key (listing the valid ones) or a bad value.
        """
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
        try:
            return cls(**values)
        except TypeError as err:
            raise ConfigError(f"bad training config: {err}") from None

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Read a TOML file (top-level keys as fields, ``[loss]`` and ``[model_cfg]`` tables), then apply overrides.

        Raises:
            InputFileError: if the file is missing or not valid TOML.
            ConfigError: for an unknown key or a bad value.
        """
        path = Path(path)
        try:
            values = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise InputFileError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as err:
            raise InputFileError(f"{path} is not valid TOML: {err}") from None
        return cls.from_dict(values | overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (round-trips through `from_dict`)."""
        d = dataclasses.asdict(self)
        d["crop_hw_px"] = list(self.crop_hw_px) if self.crop_hw_px is not None else None
        return d

    def sha256(self) -> str:
        """Hash of the resolved config (sorted JSON)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def augment_config(self) -> AugmentConfig:
        """The training augmentation this config asks for."""
        j = self.color_jitter
        return AugmentConfig(
            hflip_prob=self.hflip_prob,
            crop_hw_px=self.crop_hw_px,
            brightness=j,
            contrast=j,
            saturation=j,
            camera_degrade=self.camera_degrade,
            pattern_prob=self.pattern_prob,
            rgb_drop_prob=self.rgb_drop_prob,
            rgb_shift_px=self.rgb_shift_px,
            spot_hole_prob=self.spot_hole_prob,
            spot_hole_max_fraction=self.spot_hole_max_fraction,
            spot_dim_prob=self.spot_dim_prob,
            spot_dim_min_gain=self.spot_dim_min_gain,
            spot_dim_floor_e=self.spot_dim_floor_e,
        )
