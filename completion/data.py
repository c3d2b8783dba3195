"""The one numpy <-> torch boundary: network inputs, augmentation, the torch `Dataset` wrapper and `collate`.

A `tofsim.frame.Sample` (numpy, (H, W) arrays, metres) becomes a dict of channel-first float32 arrays
(`make_inputs`), then a batch of tensors (`collate` / `to_batch`). Every model sees the same batch keys:

=========  ===================  ==============================================================
key        shape, dtype          meaning
=========  ===================  ==============================================================
rgb        (B, 3, H, W) float32  colour / 255, in [0, 1]
sparse     (B, 1, H, W) float32  ToF z-depth in metres at spot pixels, 0 elsewhere
mask       (B, 1, H, W) float32  1 at valid spots, 0 elsewhere
prefill    (B, 1, H, W) float32  linear (default) or nearest fill of the spots in metres (`completion.prefill`)
dist       (B, 1, H, W) float32  Euclidean distance in pixels to the nearest valid spot
nearest    (B, 1, H, W) float32  nearest-neighbour fill of the spots in metres (whatever ``prefill`` is)
spot_status (B, 2, H, W) float32 1 where the nearest spot reported far / dropout (`prefill.spot_status_maps`)
K          (B, 3, 3) float32     intrinsics of the (possibly cropped / flipped) image
depth      (B, 1, H, W) float32  ground-truth z-depth in metres, 0 where invalid (for the loss)
index      (B,) int64            position of the sample in the wrapped dataset
=========  ===================  ==============================================================

Augmentation (`augment_sample`) only offers operations whose effect on the intrinsics is exact: a horizontal
flip (``cx' = W - 1 - cx``), a crop (``cx' = cx - x0``, ``cy' = cy - y0``) and colour jitter (RGB only).
Vertical flips, rotations and resizes are deliberately not offered. The pre-fill and the distance map are
computed after augmentation, from the augmented sparse map. Randomness comes from a generator seeded by
``(seed, epoch, index)``, so a sample's augmentation does not depend on worker count or order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from completion import augment_rgb, augment_spots
from completion.errors import ConfigError, ShapeError
from completion.prefill import PREFILL_KINDS, make_prefill, nearest_fill, spot_status_maps
from tofsim.dataset.schema import SAMPLE_FIELDS
from tofsim.errors import ShapeError as TofsimShapeError
from tofsim.frame import SPOT_DTYPE, Sample

__all__ = [
    "AugmentConfig",
    "as_sample",
    "CompletionDataset",
    "INPUT_KEYS",
    "augment_sample",
    "collate",
    "make_inputs",
    "to_batch",
    "toy_samples",
    "validate_sample",
]

#: Keys of a batch that are model inputs (``depth`` and ``index`` are targets / bookkeeping).
INPUT_KEYS = ("rgb", "sparse", "mask", "prefill", "dist", "nearest", "spot_status", "K")


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Training-time augmentation; every operation keeps the intrinsics exact.

    Attributes:
        hflip_prob: probability of a horizontal flip (cx' = W - 1 - cx).
        crop_hw_px: (height, width) of a random crop, or None for no crop (cx, cy shift by the offset).
        brightness: colour jitter, RGB multiplied by a factor drawn from [1 - b, 1 + b].
        contrast: colour jitter, deviation from the image mean scaled by a factor from [1 - c, 1 + c].
        saturation: colour jitter, deviation from the per-pixel grey scaled by a factor from [1 - s, 1 + s].
        camera_degrade: strength in [0, 1] of camera effects on the RGB (`completion.augment_rgb.camera_degrade`).
        pattern_prob: probability of overlaying colour patterns with no depth edge (`overlay_patterns`).
        rgb_drop_prob: probability of replacing the RGB by its mean grey (a depth-only fallback).
        rgb_shift_px: largest shift of the RGB against the depth, per axis (`augment_rgb.misregister_rgb`; 0 off).
        spot_hole_prob: probability that a sample loses spots to sensor holes (`augment_spots.drop_spots`).
        spot_hole_max_fraction: largest share of its measured spots such a sample loses.
        spot_dim_prob: probability that a sample's spots are dimmed as if its room were darker
            (`augment_spots.dim_spots`): weak spots become DROPOUT, the rest noisier.
        spot_dim_min_gain: the dimming gain is log-uniform in [spot_dim_min_gain, 1].
        spot_dim_floor_e: the detection edge in photo-electrons (sds preset: 85).
    """

    hflip_prob: float = 0.5
    crop_hw_px: tuple[int, int] | None = None
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    camera_degrade: float = 0.0
    pattern_prob: float = 0.0
    rgb_drop_prob: float = 0.0
    rgb_shift_px: int = 0
    spot_hole_prob: float = 0.0
    spot_hole_max_fraction: float = 0.15
    spot_dim_prob: float = 0.0
    spot_dim_min_gain: float = 0.1
    spot_dim_floor_e: float = 85.0

    def __post_init__(self) -> None:
        if not (isinstance(self.rgb_shift_px, int) and self.rgb_shift_px >= 0):
            raise ConfigError(f"rgb_shift_px must be an integer >= 0, got {self.rgb_shift_px!r}")
        probabilities = ("hflip_prob", "camera_degrade", "pattern_prob", "rgb_drop_prob")
        if not 0.0 < self.spot_dim_min_gain <= 1.0:
            raise ConfigError(f"spot_dim_min_gain must be in (0, 1], got {self.spot_dim_min_gain}")
        if not self.spot_dim_floor_e > 0.0:
            raise ConfigError(f"spot_dim_floor_e must be > 0, got {self.spot_dim_floor_e}")
        for name in (*probabilities, "spot_hole_prob", "spot_hole_max_fraction", "spot_dim_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value}")
        if self.crop_hw_px is not None:
            crop = tuple(int(c) for c in self.crop_hw_px)
            if len(crop) != 2 or min(crop) <= 0:
                raise ConfigError(f"crop_hw_px must be two positive ints (height, width), got {self.crop_hw_px}")
            object.__setattr__(self, "crop_hw_px", crop)


#: Fields `make_inputs` needs; ``depth_m`` (the target) may be None (no ground truth), ``spots`` too.
_INPUT_FIELDS = ("rgb", "sparse_m", "spot_mask", "K")


def as_sample(sample: Sample | Mapping[str, Any], *, name: str = "sample") -> Sample:
    """The one adapter from a mapping to a `tofsim.frame.Sample` (a `Sample` is returned as is).

    A mapping (e.g. inputs read from a folder, without ground truth) names the fields as `Sample` does
    (``depth_m``, ``sparse_m``, ``spot_mask``, ...) or by their on-disk names (``depth``, ``sparse``, ``mask``,
    `tofsim.dataset.schema.SAMPLE_FIELDS`). Missing fields become None; depth and sparse maps are cast to
    float32, the mask to bool and K to float64, so the `Sample` checks see the contract's dtypes.

    Args:
        sample: a `Sample`, or a mapping with at least rgb, sparse(_m), (spot_)mask and K.
        name: how to call it in messages (e.g. ``"sample 3"``).

    Returns:
        A validated `Sample`.

    Raises:
        ShapeError: `sample` is neither a `Sample` nor a mapping, or a field has the wrong shape or dtype.
    """
    if isinstance(sample, Sample):
        return sample
    if not isinstance(sample, Mapping):
        want = ", ".join(_INPUT_FIELDS)
        raise ShapeError(f"{name}: expected a tofsim Sample or a mapping with {want}, got {type(sample).__name__}")
    casts = {"depth_m": np.float32, "sparse_m": np.float32, "spot_mask": bool, "K": np.float64}
    fields: dict[str, Any] = {}
    for field in ("rgb", "depth_m", "sparse_m", "spot_mask", "spots", "K", "pose"):
        key = field if field in sample else SAMPLE_FIELDS.get(field, field)
        value = sample.get(key)
        fields[field] = value if value is None or field not in casts else np.asarray(value, dtype=casts[field])
    try:
        return Sample(**fields, meta=dict(sample.get("meta") or {}))
    except TofsimShapeError as err:
        raise ShapeError(f"{name}: {err}") from None


def validate_sample(sample: Sample | Mapping[str, Any], *, name: str = "sample") -> tuple[int, int]:
    """Check that a sample has what training and prediction need and return its (H, W).

    Shapes, dtypes and finite intrinsics are checked where the `Sample` is made; this adds that rgb,
    depth_m, sparse_m, spot_mask and K are present.

    Args:
        sample: a `tofsim.frame.Sample`, or a mapping (`as_sample`).
        name: how to call it in messages (e.g. ``"sample 3"``).

    Returns:
        (H, W).

    Raises:
        ShapeError: a missing field, a wrong shape or dtype, or non-finite intrinsics.
    """
    s = as_sample(sample, name=name)
    _require(s, ("depth_m", *_INPUT_FIELDS), name)
    return s.rgb.shape[:2]


def _require(sample: Sample, fields: Sequence[str], name: str) -> None:
    missing = [f for f in fields if getattr(sample, f) is None]
    if missing:
        raise ShapeError(f"{name}: expected a tofsim Sample with {', '.join(fields)}; missing: {', '.join(missing)}")


def make_inputs(sample: Sample | Mapping[str, Any], *, prefill: str = "linear") -> dict[str, np.ndarray]:
    """Turn one sample into channel-first float32 network inputs (no batch axis).

    Args:
        sample: a `tofsim.frame.Sample`, or a mapping (`as_sample`). ``depth_m`` may be None or absent (no
            ground truth, e.g. a folder of RGB + sparse inputs); it then becomes zeros.
        prefill: which fill becomes ``prefill``: "linear" (Delaunay, nearest outside the hull) or "nearest"
            (`completion.prefill.PREFILL_KINDS`); a model's ``prefill`` attribute says which it was trained on.

    Returns:
        dict with ``rgb`` (3, H, W) in [0, 1]; ``sparse``, ``mask``, ``prefill`` (metres), ``dist`` (px),
        ``nearest`` (metres) and ``depth`` (metres, 0 invalid), each (1, H, W); ``spot_status`` (2, H, W) from
        the sample's spot table (zeros without one, `completion.prefill.spot_status_maps`); ``K`` (3, 3); all
        float32.

    Raises:
        ShapeError: if the sample breaks the contract (see `validate_sample`).
    """
    s = as_sample(sample)
    _require(s, _INPUT_FIELDS, "sample")
    sparse_m = np.asarray(s.sparse_m, dtype=np.float32)
    mask = s.spot_mask & np.isfinite(sparse_m) & (sparse_m > 0)
    sparse_m = np.where(mask, sparse_m, 0.0).astype(np.float32)
    nearest_m, dist_px = nearest_fill(sparse_m, mask)
    fill_m = nearest_m if prefill == "nearest" else make_prefill(sparse_m, mask, prefill)
    depth_m = np.zeros(sparse_m.shape, np.float32) if s.depth_m is None else s.depth_m
    depth_m = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, 0.0).astype(np.float32)
    return {
        "rgb": np.ascontiguousarray(s.rgb.transpose(2, 0, 1), dtype=np.float32) / np.float32(255),
        "sparse": sparse_m[None],
        "mask": mask.astype(np.float32)[None],
        "prefill": fill_m[None],
        "dist": dist_px[None],
        "nearest": nearest_m[None],
        "spot_status": spot_status_maps(s.spots, sparse_m.shape),
        "K": np.asarray(s.K, dtype=np.float32),
        "depth": depth_m[None],
    }


def _flip_spots(spots: np.ndarray, width_px: int) -> np.ndarray:
    if spots is None or spots.dtype.names is None or "u" not in spots.dtype.names:
        return spots
    out = spots.copy()
    out["u"] = (width_px - 1) - out["u"]
    return out


def _shift_spots(spots: np.ndarray, x0: int, y0: int) -> np.ndarray:
    if spots is None or spots.dtype.names is None or "u" not in spots.dtype.names:
        return spots
    out = spots.copy()
    out["u"] -= x0
    out["v"] -= y0
    return out


def _jitter_rgb(rgb: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    x = rgb.astype(np.float32)
    b, c, s = rng.uniform(-1.0, 1.0, size=3)
    x = x * (1.0 + cfg.brightness * b)
    x = x.mean() + (x - x.mean()) * (1.0 + cfg.contrast * c)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * (1.0 + cfg.saturation * s)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _realistic_rgb(rgb: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Pattern overlay, camera effects, then RGB drop (each only when enabled, so old configs draw as before)."""
    if cfg.pattern_prob > 0 and rng.random() < cfg.pattern_prob:
        rgb = augment_rgb.overlay_patterns(rgb, rng)
    if cfg.camera_degrade > 0:
        rgb = augment_rgb.camera_degrade(rgb, cfg.camera_degrade, rng)
    if cfg.rgb_drop_prob > 0 and rng.random() < cfg.rgb_drop_prob:
        rgb = augment_rgb.drop_rgb(rgb)
    return rgb


def augment_sample(sample: Sample, cfg: AugmentConfig, *, rng: np.random.Generator) -> Sample:
    """Randomly flip, crop and colour-jitter a sample, keeping its intrinsics exact.

    Args:
        sample: the input sample (not modified).
        cfg: which operations and how strong.
        rng: the generator for this sample (e.g. from ``(seed, epoch, index)``).

    Returns:
        A new `Sample` whose rgb, depth_m, sparse_m, spot_mask, spots and K describe the augmented image:
        back-projecting its depth through its K gives the original 3-D points (x mirrored by a flip).

    Raises:
        ConfigError: if the crop is larger than the image.
    """
    h, w = np.shape(sample.depth_m)
    rgb, depth, sparse, mask = sample.rgb, sample.depth_m, sample.sparse_m, sample.spot_mask
    K = np.array(sample.K, dtype=np.float64)  # noqa: N806
    spots = sample.spots
    if cfg.rgb_shift_px > 0:  # before flip and crop: the shift brings in real content from outside the crop
        rgb = augment_rgb.misregister_rgb(np.asarray(rgb), cfg.rgb_shift_px, rng)
    if rng.random() < cfg.hflip_prob:
        rgb, depth, sparse, mask = (a[:, ::-1] for a in (rgb, depth, sparse, mask))
        K[0, 2] = (w - 1) - K[0, 2]
        K[0, 1] = -K[0, 1]  # a skew term changes sign under a mirror (0 for every tofsim camera)
        spots = _flip_spots(spots, w)
    if cfg.crop_hw_px is not None:
        ch, cw = cfg.crop_hw_px
        if ch > h or cw > w:
            raise ConfigError(f"crop_hw_px {cfg.crop_hw_px} is larger than the image ({h}, {w}); use a smaller crop")
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        rgb, depth, sparse, mask = (a[y0 : y0 + ch, x0 : x0 + cw] for a in (rgb, depth, sparse, mask))
        K[0, 2] -= x0
        K[1, 2] -= y0
        spots = _shift_spots(spots, x0, y0)
    if cfg.spot_hole_prob > 0 and spots is not None and rng.random() < cfg.spot_hole_prob:
        sparse, mask, spots = augment_spots.drop_spots(
            np.asarray(sparse), np.asarray(mask), spots, np.asarray(depth),
            max_fraction=cfg.spot_hole_max_fraction, rng=rng,
        )  # fmt: skip
    if cfg.spot_dim_prob > 0 and spots is not None and rng.random() < cfg.spot_dim_prob:
        gain = float(np.exp(rng.uniform(np.log(cfg.spot_dim_min_gain), 0.0)))
        sparse, mask, spots = augment_spots.dim_spots(
            np.asarray(sparse), np.asarray(mask), spots, gain=gain, floor_e=cfg.spot_dim_floor_e, rng=rng
        )
    if cfg.brightness or cfg.contrast or cfg.saturation:
        rgb = _jitter_rgb(np.asarray(rgb), cfg, rng)
    rgb = _realistic_rgb(np.asarray(rgb), cfg, rng)
    return dataclasses.replace(
        sample,
        rgb=np.ascontiguousarray(rgb),
        depth_m=np.ascontiguousarray(depth),
        sparse_m=np.ascontiguousarray(sparse),
        spot_mask=np.ascontiguousarray(mask),
        spots=spots,
        K=K,
        meta=dict(sample.meta) | {"augmented": True},
    )


class CompletionDataset(torch.utils.data.Dataset):
    """Wrap any indexable of `tofsim.frame.Sample` (a tofsim dataset, a list, ...) as a torch `Dataset`.

    Items are dicts of tensors without the batch axis (see the module docstring); batch them with `collate`.

    Args:
        samples: anything with ``len`` and ``samples[i] -> Sample``.
        indices: which positions of `samples` to serve (default all); item ``i`` is ``samples[indices[i]]``
            and its ``index`` entry is ``indices[i]``.
        augment: augmentation config, or None for none (validation, prediction).
        seed: augmentation seed; sample ``i`` in epoch ``e`` uses ``SeedSequence([seed, e, indices[i]])``.
        prefill: the fill in ``prefill`` (see `make_inputs`); use the model's ``prefill`` attribute.

    Example:
        >>> ds = CompletionDataset(toy_samples(2, rng=np.random.default_rng(0)), augment=None)
        >>> sorted(ds[0])
        ['K', 'depth', 'dist', 'index', 'mask', 'nearest', 'prefill', 'rgb', 'sparse']
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        indices: Sequence[int] | None = None,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        prefill: str = "linear",
    ) -> None:
        if prefill not in PREFILL_KINDS:
            raise ConfigError(f"prefill must be one of {', '.join(PREFILL_KINDS)}, got {prefill!r}")
        self.samples = samples
        self.prefill = prefill
        self.indices = list(range(len(samples))) if indices is None else [int(i) for i in indices]
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of `epoch` (call before each epoch, in the main process)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        index = self.indices[i]
        sample = as_sample(self.samples[index], name=f"sample {index}")
        validate_sample(sample, name=f"sample {index}")
        if self.augment is not None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, index]))
            sample = augment_sample(sample, self.augment, rng=rng)
        item = {k: torch.from_numpy(v) for k, v in make_inputs(sample, prefill=self.prefill).items()}
        item["index"] = torch.tensor(index, dtype=torch.int64)
        return item


def collate(items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack per-sample dicts (tensors or numpy arrays without batch axis) into a batch.

    Raises:
        ShapeError: if the samples have different image sizes (crop them to one size, or use batch size 1).
    """
    if not items:
        raise ShapeError("collate: got an empty list of samples")
    shapes = {tuple(np.shape(it["depth"])) for it in items}
    if len(shapes) > 1:
        raise ShapeError(
            f"samples in one batch have different sizes {sorted(shapes)}; set a crop size or use batch size 1"
        )
    return {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in items[0]}


def to_batch(sample: Any, device: torch.device | str = "cpu", *, prefill: str = "linear") -> dict[str, torch.Tensor]:
    """One sample (or the dict from `make_inputs`) -> a batch of one on `device` (`prefill`: see `make_inputs`)."""
    inputs = sample if isinstance(sample, dict) and "prefill" in sample else make_inputs(sample, prefill=prefill)
    return {k: v.to(device) for k, v in collate([inputs]).items()}


def toy_samples(
    n: int,
    *,
    height_px: int = 32,
    width_px: int = 48,
    spot_stride_px: int = 6,
    rng: np.random.Generator,
) -> list[Sample]:
    """Tiny analytic samples (one tilted plane each, a regular spot grid) for tests, docs and smoke runs.

    The ground truth is an exact plane ``n . X = d`` seen through a pinhole (fx = fy = width, centred
    principal point): ``depth = d / (n . ((u - cx) / fx, (v - cy) / fy, 1))``. The spots sample it without noise;
    a small rectangle of invalid ground truth (0) is cut out; the colour encodes the depth plus a texture.

    Args:
        n: number of samples.
        height_px, width_px: image size.
        spot_stride_px: spacing of the spot grid.
        rng: generator (planes, invalid patch, texture).

    Returns:
        A list of `tofsim.frame.Sample`.
    """
    fx = float(width_px)
    K = np.array([[fx, 0, (width_px - 1) / 2], [0, fx, (height_px - 1) / 2], [0, 0, 1]], dtype=np.float64)  # noqa: N806
    v, u = np.mgrid[0:height_px, 0:width_px].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    out = []
    for i in range(n):
        tilt = rng.uniform(-0.4, 0.4, size=2)
        normal = np.array([tilt[0], tilt[1], -1.0])
        normal /= np.linalg.norm(normal)
        d = -rng.uniform(1.5, 4.0)  # n . X = d with n pointing towards the camera (negative z)
        depth = (d / (rays @ normal)).astype(np.float32)
        y0, x0 = int(rng.integers(0, height_px - 4)), int(rng.integers(0, width_px - 6))
        depth[y0 : y0 + 3, x0 : x0 + 5] = 0.0
        texture = rng.uniform(0, 40, size=(height_px, width_px, 1))
        code = np.clip(depth[..., None] / 5.0, 0, 1) * np.array([200.0, 120.0, 60.0])
        rgb = np.clip(code + texture, 0, 255).astype(np.uint8)
        mask = np.zeros((height_px, width_px), dtype=bool)
        mask[spot_stride_px // 2 :: spot_stride_px, spot_stride_px // 2 :: spot_stride_px] = True
        mask &= depth > 0
        sparse = np.where(mask, depth, 0.0).astype(np.float32)
        ys, xs = np.nonzero(mask)
        spots = np.zeros(len(ys), dtype=SPOT_DTYPE)
        spots["u"], spots["v"], spots["z_m"] = xs, ys, sparse[ys, xs]
        out.append(
            Sample(
                rgb=rgb, depth_m=depth, sparse_m=sparse, spot_mask=mask, spots=spots, K=K.copy(), pose=np.eye(4),
                meta={"scene": f"toy-plane-{i}", "split": "train", "source": "completion.data.toy_samples"},
            )
        )  # fmt: skip
    return out
