"""Folders of 16-bit PNG depth + colour images (7-Scenes, TUM RGB-D, generic ``depth/`` + ``rgb/``).

Layouts (detected in the given folder, or in each of its immediate sub-folders, e.g. 7-Scenes ``seq-01``):

* 7-Scenes: ``frame-NNNNNN.depth.png`` + ``frame-NNNNNN.color.png|jpg`` (+ ``frame-NNNNNN.pose.txt``,
  camera-to-world, metres). Default depth scale 1000 per metre (millimetres).
* generic: ``depth/*.png`` + ``rgb/`` (or ``color/``, ``colour/``, ``image/``) ``*.png|jpg`` matched by file stem,
  optional ``pose/<stem>.txt``. Default depth scale 1000 per metre.
* TUM RGB-D: ``depth/`` + ``rgb/`` beside ``depth.txt`` and ``rgb.txt``; colour is associated with each depth image
  by the nearest timestamp (file stems are timestamps) within 20 ms. Default depth scale 5000 per metre. Poses
  from ``groundtruth.txt`` (``timestamp tx ty tz qx qy qz qw``, camera-to-world) by the nearest timestamp within
  20 ms (`tofsim.sources.timestamps`); a frame without one keeps an unknown (identity) pose.

Intrinsics: the ``intrinsics`` option, else ``camera-intrinsics.txt`` / ``intrinsics.txt`` / ``K.txt`` in the
frame folder or one folder up (3x3 K, or ``fx fy cx cy``); otherwise opening fails with a clear error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.depth_png import decode_png16, read_png16
from tofsim.errors import ConfigError, InputFileError
from tofsim.frame import DenseFrame
from tofsim.sources.base import SOURCES, FrameSource, image_file_size, make_dense_frame, read_rgb_image
from tofsim.sources.intrinsics_file import INTRINSICS_FILENAMES, read_intrinsics_file, read_pose_file
from tofsim.sources.timestamps import TUM_POSE_MAX_DT_S, associate_nearest, read_tum_trajectory

__all__ = ["RgbdFolderSource"]

COLOUR_DIRS = ("rgb", "color", "colour", "image")
COLOUR_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Maximum colour-to-depth timestamp difference for TUM association, seconds.
TUM_MAX_DT_S = 0.02
#: A frame's pose: a pose file (4 rows of 4 numbers), the 16 numbers of a camera-to-world pose read from a
#: trajectory (TUM ``groundtruth.txt``, row-major), or None (unknown: identity).
Pose = str | tuple[float, ...] | None


def _find_intrinsics(folder: Path) -> Path | None:
    for d in (folder, folder.parent):
        for name in INTRINSICS_FILENAMES:
            if (d / name).is_file():
                return d / name
    return None


def _scene_of(folder: Path) -> str:
    # 7-Scenes sequences (seq-01, ...) belong to the scene named by their parent folder.
    if folder.name.startswith("seq-") and folder.parent.name:
        return folder.parent.name
    return folder.name


def _seven_scenes(folder: Path) -> list[tuple[str, str, Pose]]:
    items = []
    for depth in sorted(folder.glob("*.depth.png")):
        stem = depth.name[: -len(".depth.png")]
        colours = [folder / f"{stem}.color{s}" for s in COLOUR_SUFFIXES]
        colour = next((c for c in colours if c.is_file()), None)
        if colour is None:
            raise InputFileError(f"{depth}: no colour image {stem}.color.png|jpg beside it")
        pose = folder / f"{stem}.pose.txt"
        items.append((str(depth), str(colour), str(pose) if pose.is_file() else None))
    return items


def _as_timestamps(stems: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(s) for s in stems], dtype=np.float64)
    except ValueError:
        return None


def _generic(folder: Path) -> tuple[list[tuple[str, str, Pose]], str]:
    depth_dir = folder / "depth"
    colour_dir = next((folder / d for d in COLOUR_DIRS if (folder / d).is_dir()), None)
    if colour_dir is None:
        raise InputFileError(f"{folder}: has depth/ but no colour folder ({', '.join(COLOUR_DIRS)})")
    depths = sorted(depth_dir.glob("*.png"))
    colours = sorted(p for p in colour_dir.iterdir() if p.suffix.lower() in COLOUR_SUFFIXES)
    by_stem = {p.stem: p for p in colours}
    tum = (folder / "depth.txt").is_file() and (folder / "rgb.txt").is_file()
    items: list[tuple[str, str, Pose]] = []
    if tum:
        d_t, c_t = _as_timestamps([p.stem for p in depths]), _as_timestamps([p.stem for p in colours])
        if d_t is None or c_t is None:
            raise InputFileError(f"{folder}: TUM layout (rgb.txt, depth.txt) but file names are not timestamps")
        order = np.argsort(d_t, kind="stable")  # time order (file names sort the same way for TUM's fixed widths)
        depths, d_t = [depths[k] for k in order], d_t[order]
        colour_of = associate_nearest(d_t, c_t, max_dt=TUM_MAX_DT_S)
        poses: list[Pose] = [None] * len(depths)
        if (folder / "groundtruth.txt").is_file():
            pose_t, T_world_from_cam = read_tum_trajectory(folder / "groundtruth.txt")
            pose_of = associate_nearest(d_t, pose_t, max_dt=TUM_POSE_MAX_DT_S)
            poses = [tuple(T_world_from_cam[j].ravel().tolist()) if j >= 0 else None for j in pose_of]
        for depth, j, pose in zip(depths, colour_of, poses, strict=True):
            if j >= 0:
                items.append((str(depth), str(colours[j]), pose))
        return items, "tum"
    for depth in depths:
        colour = by_stem.get(depth.stem)
        if colour is None:
            raise InputFileError(f"{depth}: no colour image with the same stem in {colour_dir}")
        pose = folder / "pose" / f"{depth.stem}.txt"
        items.append((str(depth), str(colour), str(pose) if pose.is_file() else None))
    return items, "generic"


def _frame_and_time(depth: Path, position: int, layout: str) -> tuple[int, float | None]:
    """(frame number, timestamp in s or None) of a depth file: 7-Scenes ``frame-000123``; TUM stems are seconds."""
    if layout == "7scenes":
        digits = depth.name.split(".", 1)[0].rsplit("-", 1)[-1]
        return (int(digits) if digits.isdigit() else position), None
    if layout == "tum":
        return position, float(depth.stem)
    return position, None


def _scan(folder: Path) -> tuple[list[tuple[str, str, Pose]], str] | None:
    if any(folder.glob("*.depth.png")):
        return _seven_scenes(folder), "7scenes"
    if (folder / "depth").is_dir():
        return _generic(folder)
    return None


@SOURCES.register("rgbd-folder")
class RgbdFolderSource(FrameSource):
    """16-bit PNG depth + colour folders; see the module docstring for the layouts.

    Args:
        path: the folder (or a folder of sequence folders).
        depth_scale_per_m: PNG value per metre; default 1000 (5000 for the TUM layout).
        intrinsics: overrides any intrinsics file.

    Raises:
        InputFileError: missing or empty folder, colour missing, no intrinsics.
        ShapeError: NaN intrinsics in the file.
    """

    kind = "rgbd-folder"

    def __init__(
        self, path: Path, *, depth_scale_per_m: float | None = None, intrinsics: Intrinsics | None = None
    ) -> None:
        super().__init__()
        root = Path(path)
        if not root.is_dir():
            raise InputFileError(f"{root}: folder not found")
        self.root = root
        self.sequences: list[tuple[str, int, float | None]] = []
        self.intrinsics = intrinsics
        folders = [root] + sorted(p for p in root.iterdir() if p.is_dir() and p.name not in ("depth", *COLOUR_DIRS))
        layouts = set()
        for folder in folders:
            found = _scan(folder)
            if found is None:
                continue
            items, layout = found
            layouts.add(layout)
            intr_file = None if intrinsics is not None else _find_intrinsics(folder)
            if intrinsics is None and intr_file is None and items:
                raise InputFileError(
                    f"{folder}: no intrinsics; pass --intrinsics K.txt (a 3x3 K or 'fx fy cx cy') or put one in "
                    f"{' / '.join(INTRINSICS_FILENAMES)} beside the frames"
                )
            scene = _scene_of(folder)
            self.items += [(d, c, p, str(intr_file) if intr_file else None, scene) for d, c, p in items]
            seq = f"{scene}/{folder.name}" if scene != folder.name else folder.name
            self.sequences += [(seq, *_frame_and_time(Path(d), k, layout)) for k, (d, _, _) in enumerate(items)]
            if folder == root and items:
                break  # frames directly in the given folder: do not also descend
        if not self.items:
            raise InputFileError(
                f"{root}: no RGB-D frames found (expected frame-*.depth.png + .color.jpg, or depth/ + rgb/ folders)"
            )
        if depth_scale_per_m is None:
            depth_scale_per_m = 5000.0 if layouts == {"tum"} else 1000.0
        if not np.isfinite(depth_scale_per_m) or depth_scale_per_m <= 0:
            raise ConfigError(f"depth_scale_per_m must be a positive number, got {depth_scale_per_m}")
        self.depth_scale_per_m = float(depth_scale_per_m)
        self.layout = "+".join(sorted(layouts))
        # Fail early on a broken intrinsics file (NaN, wrong count), not in a worker halfway through a run.
        for intr_file in sorted({it[3] for it in self.items if it[3] is not None}):
            read_intrinsics_file(Path(intr_file), width_px=1, height_px=1)

    def load(self, i: int) -> DenseFrame:
        """Frame `i`: depth = PNG / depth_scale_per_m (0 and 65535 -> 0), pose from its file or identity."""
        depth_file, colour_file, pose_file, intr_file, scene = self.items[self._check_index(i)]
        depth_m = decode_png16(read_png16(depth_file), scale_per_m=self.depth_scale_per_m)
        rgb = read_rgb_image(Path(colour_file))
        h, w = depth_m.shape
        if self.intrinsics is not None:
            intr = self.intrinsics
        else:
            intr = read_intrinsics_file(Path(intr_file), width_px=w, height_px=h)
        if isinstance(pose_file, tuple):  # from a trajectory file
            pose = np.array(pose_file, dtype=np.float64).reshape(4, 4)
        else:
            pose = read_pose_file(Path(pose_file)) if pose_file is not None else None
        meta = {
            "scene_id": scene,
            "source_file": depth_file,
            "source_kind": self.kind,
            "depth_scale_per_m": self.depth_scale_per_m,
            "pose_known": pose_file is not None,
        }
        return make_dense_frame(
            rgb=rgb, depth_m=depth_m, intrinsics=intr, pose=pose, meta=meta, depth_file=Path(depth_file)
        )

    def image_size(self, i: int) -> tuple[int, int]:
        """(H, W) of frame `i` from its depth PNG header."""
        return image_file_size(Path(self.items[self._check_index(i)][0]))

    def name(self, i: int) -> str:
        """Depth file stem without the 7-Scenes ``.depth`` suffix (``frame-000000``)."""
        stem = Path(self.items[self._check_index(i)][0]).stem
        return stem[: -len(".depth")] if stem.endswith(".depth") else stem

    def scene_id(self, i: int) -> str:
        """The sequence folder's name (the parent's for 7-Scenes ``seq-NN`` folders)."""
        return self.items[self._check_index(i)][4]

    def sequence_of(self, i: int) -> tuple[str, int, float | None]:
        """(sequence id, frame number, timestamp in s or None) of frame `i`: the folder (``chess/seq-01`` for
        7-Scenes), the 7-Scenes frame number (else the position in the folder), TUM's file-name timestamp.
        """  # noqa: D205
        return self.sequences[self._check_index(i)]
