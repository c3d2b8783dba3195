"""Colour-image augmentations that break the renderer's "every colour edge is a depth edge" shortcut.

Rendered rooms have flat-coloured objects: a network trained on them learns to cut the depth wherever the colour
changes, and on a real photo (wood grain, posters, book spines, shadows, sensor noise) it invents depth edges.
These operations change only the RGB image, never the depth, spots or intrinsics:

- `camera_degrade`: what a real camera adds: gamma and white-balance shifts, Gaussian blur, Gaussian + shot noise.
- `overlay_patterns`: colour edges with no depth edge: random rectangles, ellipses and stripe blocks (posters,
  book spines, tiles) and a smooth multiplicative shading field (shadows, vignetting), alpha-blended on top.
- `drop_rgb`: the image replaced by its mean grey, so the network keeps a depth-only fallback.
- `misregister_rgb`: the colour image shifted by a few pixels against the depth, as a colour camera beside the ToF
  sensor is after an imperfect registration (Kinect-style RGB-D frames are off by a few pixels at edges).

All take and return ``(H, W, 3)`` uint8 and draw only from the `numpy.random.Generator` passed in.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["camera_degrade", "drop_rgb", "misregister_rgb", "overlay_patterns"]


def camera_degrade(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Gamma, white balance, blur and noise, each drawn with a scale up to `strength` (0 returns a copy).

    Args:
        rgb: (H, W, 3) uint8 image.
        strength: in [0, 1]; 1 means gamma in [0.6, 1.67], per-channel gains in [0.85, 1.15], blur sigma up to
            1.5 px, noise up to 6 grey levels plus shot noise up to 0.6 * sqrt(level).
        rng: the sample's generator.

    Returns:
        (H, W, 3) uint8.
    """
    if strength <= 0:
        return rgb.copy()
    x = rgb.astype(np.float32) / 255.0
    gamma = float(np.exp(rng.uniform(-0.5, 0.5) * strength))
    gains = 1.0 + rng.uniform(-0.15, 0.15, size=3).astype(np.float32) * strength
    x = np.clip(x, 0.0, 1.0) ** gamma * gains
    sigma = float(rng.uniform(0.0, 1.5 * strength))
    if sigma > 0.3:
        x = ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0.0), mode="nearest")
    x = x * 255.0
    read = float(rng.uniform(0.0, 6.0 * strength))
    shot = float(rng.uniform(0.0, 0.6 * strength))
    std = np.sqrt(read * read + shot * shot * np.maximum(x, 0.0))
    x = x + std * rng.standard_normal(x.shape).astype(np.float32)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _shape_mask(yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W) float32 in [0, 1]: one rectangle or ellipse, optionally filled with stripes.

    Args:
        yy, xx: (H, W) float32 pixel row and column coordinates (``np.mgrid``), shared by every shape.
        rng: the sample's generator.
    """
    h, w = yy.shape
    ph = int(rng.integers(max(2, h // 16), max(3, h // 2)))
    pw = int(rng.integers(max(2, w // 16), max(3, w // 2)))
    y0, x0 = int(rng.integers(0, max(1, h - ph))), int(rng.integers(0, max(1, w - pw)))
    if rng.random() < 0.5:
        m = (yy >= y0) & (yy < y0 + ph) & (xx >= x0) & (xx < x0 + pw)
    else:
        cy, cx = y0 + ph / 2, x0 + pw / 2
        m = ((yy - cy) / (ph / 2)) ** 2 + ((xx - cx) / (pw / 2)) ** 2 <= 1.0
    m = m.astype(np.float32)
    if rng.random() < 0.4:  # stripes: book spines, blinds, tiles' grout
        period = float(rng.uniform(3.0, 24.0))
        angle = float(rng.uniform(0, np.pi))
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        m *= (np.floor(phase) % 2).astype(np.float32)
    return m


def overlay_patterns(rgb: np.ndarray, rng: np.random.Generator, *, max_shapes: int = 8) -> np.ndarray:
    """Alpha-blend random coloured shapes and a smooth shading field over the image.

    Args:
        rgb: (H, W, 3) uint8 image.
        rng: the sample's generator.
        max_shapes: up to this many shapes (at least one).

    Returns:
        (H, W, 3) uint8 with new colour edges where the depth has none.
    """
    h, w, _ = rgb.shape
    x = rgb.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        alpha = float(rng.uniform(0.3, 0.9)) * _shape_mask(yy, xx, rng)
        colour = rng.uniform(0, 255, size=3).astype(np.float32)
        x = x * (1.0 - alpha[..., None]) + colour * alpha[..., None]
    # a smooth multiplicative field in [0.5, 1.2]: soft shadows and uneven light on flat surfaces
    coarse = rng.uniform(0.5, 1.2, size=(4, 5)).astype(np.float32)
    field = ndimage.zoom(coarse, (h / 4, w / 5), order=1, mode="nearest")[:h, :w]
    pad_h, pad_w = h - field.shape[0], w - field.shape[1]
    if pad_h or pad_w:
        field = np.pad(field, ((0, pad_h), (0, pad_w)), mode="edge")
    x = x * field[..., None]
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def drop_rgb(rgb: np.ndarray) -> np.ndarray:
    """The image replaced by its mean grey level: (H, W, 3) uint8, constant."""
    return np.full_like(rgb, int(np.rint(rgb.mean())))


def misregister_rgb(rgb: np.ndarray, max_shift_px: int, rng: np.random.Generator) -> np.ndarray:
    """The image shifted by (dy, dx), each drawn uniformly from the integers in [-max_shift_px, max_shift_px].

    Content moves by (dy, dx): ``out[y, x] = rgb[y - dy, x - dx]``, with the border pixels repeated where nothing
    moves in. Depth, spots and intrinsics stay as they are: only the colour is off.

    Args:
        rgb: (H, W, 3) uint8 image.
        max_shift_px: the largest shift along each axis (>= 0; 0 returns a copy and draws nothing).
        rng: the sample's generator.

    Returns:
        (H, W, 3) uint8.
    """
    if max_shift_px <= 0:
        return rgb.copy()
    dy, dx = (int(d) for d in rng.integers(-max_shift_px, max_shift_px + 1, size=2))
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
    y0, x0 = abs(dy) - dy, abs(dx) - dx
    return np.ascontiguousarray(padded[y0 : y0 + h, x0 : x0 + w])
