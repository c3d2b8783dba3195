"""NYU Depth v2 as distributed by sparse-to-dense (Ma & Karaman): one ``.h5`` file per frame.

Each file holds ``rgb`` (3, H, W) uint8 and ``depth`` (H, W) float metres (z-depth, 0 or NaN where invalid).
Folder layout ``<split>/<scene_name>/<NNNNN>.h5``; the scene id is the file's parent folder name.
The files carry no intrinsics and no pose: the default is the NYU Depth v2 colour-camera calibration at
640 x 480 (`NYU_INTRINSICS_640x480`), scaled to the stored size per axis; the pose is the identity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.errors import InputFileError, ShapeError
from tofsim.frame import DenseFrame
from tofsim.sources.base import SOURCES, FrameSource, check_metres_scale, find_files, h5_image_size, make_dense_frame

__all__ = ["NyuH5Source", "NYU_INTRINSICS_640x480", "nyu_intrinsics"]

#: NYU Depth v2 toolbox calibration (camera_params.m, RGB camera) at 640 x 480, pixels.
NYU_INTRINSICS_640x480 = Intrinsics(
    fx_px=5.1885790117450188e02,
    fy_px=5.1946961112127485e02,
    cx_px=3.2558244941119034e02,
    cy_px=2.5373616633400465e02,
    width_px=640,
    height_px=480,
)


def nyu_intrinsics(width_px: int, height_px: int) -> Intrinsics:
    """The NYU calibration scaled to an image of `width_px` x `height_px` (per axis, pixel-centre convention).

    The sparse-to-dense files are stored at 640 x 480, where this is the calibration unchanged.
    """
    base = NYU_INTRINSICS_640x480
    sx, sy = width_px / base.width_px, height_px / base.height_px
    return Intrinsics(
        fx_px=base.fx_px * sx,
        fy_px=base.fy_px * sy,
        cx_px=(base.cx_px + 0.5) * sx - 0.5,
        cy_px=(base.cy_px + 0.5) * sy - 0.5,
        width_px=width_px,
        height_px=height_px,
    )


def _read_h5(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "rgb" not in f or "depth" not in f:
                raise InputFileError(f"{path}: expected datasets 'rgb' and 'depth', found {sorted(f.keys())}")
            rgb, depth = f["rgb"][()], f["depth"][()]
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read HDF5 ({e})") from None
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ShapeError(f"{path}: 'rgb' must be (3, H, W) uint8, got {rgb.shape} {rgb.dtype}")
    if depth.ndim != 2:
        raise ShapeError(f"{path}: 'depth' must be (H, W) metres, got {depth.shape}")
    rgb = np.ascontiguousarray(np.transpose(rgb, (1, 2, 0))).astype(np.uint8, copy=False)
    return rgb, depth.astype(np.float32, copy=False)


@SOURCES.register("nyu-h5")
class NyuH5Source(FrameSource):
    """NYUv2 sparse-to-dense ``.h5`` files: one file, or a folder searched recursively (sorted paths).

    Args:
        path: a ``.h5`` file or a folder of them.
        depth_scale_per_m: must be None or 1 (the files store metres).
        intrinsics: overrides the default NYU calibration.

    Raises:
        InputFileError: missing path or a folder without ``.h5`` files.
    """

    kind = "nyu-h5"

    def __init__(
        self, path: Path, *, depth_scale_per_m: float | None = None, intrinsics: Intrinsics | None = None
    ) -> None:
        super().__init__()
        path = Path(path)
        check_metres_scale(path, depth_scale_per_m, kind="nyu-h5")
        files = find_files(path, "*.h5", what="NYUv2")
        self.root = path
        self.intrinsics = intrinsics
        self.items = [str(p) for p in files]

    def load(self, i: int) -> DenseFrame:
        """Frame `i`: depth as stored (metres), NaN and <= 0 -> 0."""
        path = Path(self.items[self._check_index(i)])
        rgb, depth_m = _read_h5(path)
        h, w = depth_m.shape
        intr = self.intrinsics if self.intrinsics is not None else nyu_intrinsics(w, h)
        meta = {
            "scene_id": self.scene_id(i),
            "source_file": str(path),
            "source_kind": self.kind,
            "pose_known": False,
        }
        return make_dense_frame(rgb=rgb, depth_m=depth_m, intrinsics=intr, pose=None, meta=meta, depth_file=path)

    def image_size(self, i: int) -> tuple[int, int]:
        """(H, W) of frame `i` from the shape of its ``depth`` dataset."""
        return h5_image_size(Path(self.items[self._check_index(i)]), "depth")

    def name(self, i: int) -> str:
        """File stem (``00001``)."""
        return Path(self.items[self._check_index(i)]).stem

    def scene_id(self, i: int) -> str:
        """The parent folder's name (``bedroom_0001``)."""
        return Path(self.items[self._check_index(i)]).parent.name
