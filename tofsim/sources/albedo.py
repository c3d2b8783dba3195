"""NIR albedo proxy from an RGB image, for real frames that carry no infrared reflectance.

Real NIR reflectance (850-940 nm) differs from visible colour (many dark fabrics and plastics are bright in the
NIR), so this is only a proxy: the linear-light luminance of the sRGB image.
"""

from __future__ import annotations

import numpy as np

from tofsim.checks import check_dtype, check_shape

__all__ = ["albedo_from_rgb", "srgb_to_linear"]


def _srgb_lut() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


_SRGB_TO_LINEAR = _srgb_lut()
#: Rec. 709 / sRGB luminance weights of linear R, G, B.
_LUMA_709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 sRGB -> (..., 3) float32 linear light in [0, 1] (IEC 61966-2-1 transfer curve)."""
    check_dtype(rgb, [np.uint8], name="rgb")
    return _SRGB_TO_LINEAR[rgb]


def albedo_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Albedo proxy: linearised Rec. 709 luminance of an sRGB image.

    ``albedo = 0.2126 R_lin + 0.7152 G_lin + 0.0722 B_lin`` with the sRGB curve undone per channel.

    Args:
        rgb: (H, W, 3) uint8 sRGB image.

    Returns:
        (H, W) float32 reflectance proxy in [0, 1] (0 for black, 1 for white).

    Raises:
        ShapeError: if `rgb` is not (H, W, 3) uint8.

    Example:
        >>> float(albedo_from_rgb(np.full((1, 1, 3), 255, np.uint8))[0, 0])
        1.0
    """
    check_shape(rgb, ("H", "W", 3), name="rgb")
    lin = srgb_to_linear(rgb)
    return np.clip(lin @ _LUMA_709, 0.0, 1.0).astype(np.float32)
