"""Raw SUN3D sequence folders: bit-rotated 16-bit depth PNGs, colour paired by timestamp, ``intrinsics.txt``.

Layout (SUN3D's own toolbox, ``SUN3Dfuse`` / ``depthRead.m``): a sequence folder holding

* ``depth/NNNNNNN-TTTTTTTTTTTT.png``: 16-bit depth whose stored value ``v`` is the depth in millimetres rotated
  by three bits; ``depth_mm = (v >> 3) | (v << 13)`` in uint16 arithmetic; 0 is invalid;
* ``image/NNNNNNN-TTTTTTTTTTTT.jpg``: colour; the number after the dash is a timestamp, and each depth image
  takes the colour image with the nearest timestamp (SUN3D's frame numbers of depth and colour differ);
* ``intrinsics.txt``: the 3x3 K of the (registered) camera.

The given folder may be a sequence or hold sequence folders. Poses (SUN3D's ``extrinsics/``) are not read: the
pose is identity and ``pose_known`` False.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.depth_png import read_png16
from tofsim.errors import ConfigError, InputFileError
from tofsim.frame import DenseFrame
from tofsim.sources.base import SOURCES, FrameSource, image_file_size, make_dense_frame, read_rgb_image
from tofsim.sources.intrinsics_file import read_intrinsics_file
from tofsim.sources.timestamps import associate_nearest

__all__ = ["Sun3dSource", "decode_sun3d_depth", "is_sun3d_folder", "SUN3D_NAME"]

#: SUN3D frame file names: ``<frame number>-<timestamp>.<ext>``.
SUN3D_NAME = re.compile(r"^(\d+)-(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)
#: Stored depth units per metre after undoing the bit rotation (millimetres).
SUN3D_DEPTH_SCALE_PER_M = 1000.0


def decode_sun3d_depth(values: np.ndarray, *, scale_per_m: float = SUN3D_DEPTH_SCALE_PER_M) -> np.ndarray:
    """SUN3D PNG values -> metres: undo the 3-bit rotation, then divide by `scale_per_m`.

    Args:
        values: (H, W) uint16 stored PNG values.
        scale_per_m: units per metre after the rotation (1000: millimetres).

    Returns:
        (H, W) float32 z-depth in metres, 0 where invalid.
    """
    v = np.asarray(values, dtype=np.uint16)
    mm = (v >> np.uint16(3)) | (v << np.uint16(13))  # uint16 arithmetic: the high bits of v << 13 fall off
    return (mm.astype(np.float32) / np.float32(scale_per_m)).astype(np.float32)


def _timestamp(path: Path) -> int:
    return int(SUN3D_NAME.match(path.name).group(2))


def _frames(folder: Path, sub: str, suffixes: tuple[str, ...]) -> list[Path]:
    d = folder / sub
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.suffix.lower() in suffixes and SUN3D_NAME.match(p.name))


def is_sun3d_folder(folder: Path) -> bool:
    """True when `folder` has ``image/`` and ``depth/`` with SUN3D-named depth PNGs (``0000001-000000000000.png``)."""
    return (folder / "image").is_dir() and bool(_frames(folder, "depth", (".png",)))


@SOURCES.register("sun3d")
class Sun3dSource(FrameSource):
    """Raw SUN3D sequences; see the module docstring for the layout.

    Args:
        path: a sequence folder, or a folder of sequence folders.
        depth_scale_per_m: units per metre after undoing the bit rotation; default 1000 (millimetres).
        intrinsics: overrides ``intrinsics.txt``.

    Raises:
        InputFileError: missing folder, no SUN3D frames, no colour images, no intrinsics.
        ShapeError: NaN intrinsics in the file.
    """

    kind = "sun3d"

    def __init__(
        self, path: Path, *, depth_scale_per_m: float | None = None, intrinsics: Intrinsics | None = None
    ) -> None:
        super().__init__()
        root = Path(path)
        if not root.is_dir():
            raise InputFileError(f"{root}: folder not found")
        scale = SUN3D_DEPTH_SCALE_PER_M if depth_scale_per_m is None else depth_scale_per_m
        if not np.isfinite(scale) or scale <= 0:
            raise ConfigError(f"depth_scale_per_m must be a positive number, got {depth_scale_per_m}")
        self.depth_scale_per_m = float(scale)
        self.intrinsics = intrinsics
        folders = [root] if is_sun3d_folder(root) else sorted(p for p in root.iterdir() if is_sun3d_folder(p))
        for folder in folders:
            depths = _frames(folder, "depth", (".png",))
            colours = _frames(folder, "image", (".jpg", ".jpeg", ".png"))
            if not colours:
                raise InputFileError(f"{folder / 'image'}: no colour images named like 0000001-000000000000.jpg")
            intr_file = folder / "intrinsics.txt"
            if intrinsics is None and not intr_file.is_file():
                raise InputFileError(
                    f"{folder}: no intrinsics.txt; pass --intrinsics K.txt (a 3x3 K or 'fx fy cx cy') or put "
                    "SUN3D's intrinsics.txt beside depth/ and image/"
                )
            if intrinsics is None:  # fail early on a broken file, not in a worker
                read_intrinsics_file(intr_file, width_px=1, height_px=1)
            d_t = np.array([_timestamp(p) for p in depths], dtype=np.float64)
            c_t = np.array([_timestamp(p) for p in colours], dtype=np.float64)
            for depth, j, t in zip(depths, associate_nearest(d_t, c_t), d_t, strict=True):
                dt = int(c_t[j] - t)
                self.items.append((str(depth), str(colours[j]), str(intr_file), folder.name, dt))
        if not self.items:
            raise InputFileError(
                f"{root}: no SUN3D frames found (expected depth/NNNNNNN-TTTTTTTTTTTT.png and image/*.jpg)"
            )

    def load(self, i: int) -> DenseFrame:
        """Frame `i`: depth from the bit-rotated PNG (`decode_sun3d_depth`), its nearest colour image, pose unknown."""
        depth_file, colour_file, intr_file, scene, dt = self.items[self._check_index(i)]
        depth_m = decode_sun3d_depth(read_png16(depth_file), scale_per_m=self.depth_scale_per_m)
        rgb = read_rgb_image(Path(colour_file))
        h, w = depth_m.shape
        intr = self.intrinsics or read_intrinsics_file(Path(intr_file), width_px=w, height_px=h)
        meta = {
            "scene_id": scene,
            "source_file": depth_file,
            "colour_file": colour_file,
            "colour_minus_depth_timestamp": dt,
            "source_kind": self.kind,
            "depth_scale_per_m": self.depth_scale_per_m,
            "pose_known": False,
        }
        return make_dense_frame(rgb=rgb, depth_m=depth_m, intrinsics=intr, pose=None, meta=meta,
                                depth_file=Path(depth_file))  # fmt: skip

    def image_size(self, i: int) -> tuple[int, int]:
        """(H, W) of frame `i` from its depth PNG header."""
        return image_file_size(Path(self.items[self._check_index(i)][0]))

    def name(self, i: int) -> str:
        """Depth file stem (``0000001-000000000000``)."""
        return Path(self.items[self._check_index(i)][0]).stem

    def scene_id(self, i: int) -> str:
        """The sequence folder's name."""
        return self.items[self._check_index(i)][3]

    def sequence_of(self, i: int) -> tuple[str, int, float | None]:
        """(sequence folder name, frame number from the file name, None): SUN3D's timestamps have no stated unit."""
        depth_file, _, _, scene, _ = self.items[self._check_index(i)]
        return scene, int(SUN3D_NAME.match(Path(depth_file).name).group(1)), None
