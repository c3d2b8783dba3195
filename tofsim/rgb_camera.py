"""A colour camera beside the ToF camera: its config, the ToF-to-RGB extrinsics and their believed (calibrated) copy.

With ``[rgb_camera] enabled = true`` a generated sample is seen from the colour camera, as on a phone or an RGB-D
module: the ToF camera renders the dense frame that the sensor model samples (spots keep their exact rays), the
colour camera renders rgb and the ground-truth depth from its own pose, and the spots are registered into the
colour frame with the *believed* extrinsics (`tofsim.sensor.registration`), which differ from the true ones by an
optional calibration error. Equations: ``docs/scenes-and-rendering.md`` ("A separate colour camera").

Frames (OpenCV axes, x right, y down, z forward): the RGB camera's centre sits at ``baseline_m`` in the ToF camera
frame and its axes are the ToF axes turned by the rotation vector ``rotation_deg``, so
``T_tof_from_rgb = [[R, baseline_m], [0, 1]]`` and ``X_rgb = R^T (X_tof - baseline_m)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, TofsimError
from tofsim.strict import check_types

__all__ = [
    "RgbCameraConfig",
    "rotation_from_vector_deg",
    "extrinsics",
    "believed_extrinsics",
    "rgb_pose",
    "CALIBRATION_STREAM",
]

#: Name of the `tofsim.rng.sample_rng` stream of the calibration error (per scene or per frame).
CALIBRATION_STREAM = "rgb_calibration"
_PER = ("scene", "frame")


def _vec3(value: Any, where: str) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected three numbers (x, y, z), got {value!r}") from None
    if len(out) != 3 or not all(math.isfinite(v) for v in out):
        raise ConfigError(f"{where}: expected three finite numbers (x, y, z), got {value!r}")
    return out  # type: ignore[return-value]


@dataclass(frozen=True, kw_only=True)
class RgbCameraConfig:
    """The colour camera of generated frames (``[rgb_camera]`` in a generate config).

    Attributes:
        enabled: render rgb and the ground truth from this camera and register the spots into it; False (the
            default) keeps colour in the ToF camera's frame, and the dataset is byte-identical to one made without
            this table.
        baseline_m: (x, y, z) position of the RGB camera's centre in the ToF camera frame, metres; default 2.5 cm
            to the right, as on phones and RGB-D modules.
        rotation_deg: rotation vector (axis times angle, degrees) that turns the ToF camera's axes into the RGB
            camera's, ``R_tof_from_rgb``; default none.
        fx_px, fy_px, cx_px, cy_px: the RGB camera's intrinsics; None takes the ToF camera's value (same image size).
        calibration_error_m: 1-sigma error per axis of the believed baseline, metres (0: perfect calibration).
        calibration_error_deg: 1-sigma error per axis of the believed rotation vector, degrees.
        calibration_error_per: ``"scene"`` (one calibration per room, as one device records one sequence) or
            ``"frame"`` (a new error every frame, more variety for training).
    """

    enabled: bool = False
    baseline_m: tuple[float, float, float] = (0.025, 0.0, 0.0)
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fx_px: float | None = None
    fy_px: float | None = None
    cx_px: float | None = None
    cy_px: float | None = None
    calibration_error_m: float = 0.0
    calibration_error_deg: float = 0.0
    calibration_error_per: str = "scene"

    def __post_init__(self) -> None:
        check_types(self, "rgb_camera")
        object.__setattr__(self, "baseline_m", _vec3(self.baseline_m, "rgb_camera.baseline_m"))
        object.__setattr__(self, "rotation_deg", _vec3(self.rotation_deg, "rgb_camera.rotation_deg"))
        for name in ("calibration_error_m", "calibration_error_deg"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"rgb_camera.{name}: expected a standard deviation >= 0, got {value}")
        if self.calibration_error_per not in _PER:
            raise ConfigError(
                f"rgb_camera.calibration_error_per: expected one of {', '.join(_PER)}, "
                f"got {self.calibration_error_per!r}"
            )
        for name in ("fx_px", "fy_px"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"rgb_camera.{name}: expected a positive focal length in pixels or None, got {value}")
        for name in ("cx_px", "cy_px"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"rgb_camera.{name}: expected a finite principal point (px) or None, got {value}")

    def intrinsics(self, tof: Intrinsics) -> Intrinsics:
        """The RGB camera's intrinsics: this table's values, the ToF camera's `tof` where None (same image size)."""
        pick = {name: getattr(tof, name) if getattr(self, name) is None else getattr(self, name)
                for name in ("fx_px", "fy_px", "cx_px", "cy_px")}  # fmt: skip
        try:
            return Intrinsics(**pick, width_px=tof.width_px, height_px=tof.height_px)
        except TofsimError as err:
            raise ConfigError(f"rgb_camera: {err}") from None

    def extrinsics(self) -> np.ndarray:
        """(4, 4) float64 ``T_rgb_from_tof`` of the true rig (what the colour camera is rendered with)."""
        return extrinsics(self.baseline_m, self.rotation_deg)

    def calibration_index(self, sample_index: int, scene_index: int) -> int:
        """The index of the `sample_rng` stream of the calibration error: the scene's or the sample's."""
        return int(scene_index) if self.calibration_error_per == "scene" else int(sample_index)


def rotation_from_vector_deg(rotation_deg: Any) -> np.ndarray:
    """(3, 3) float64 rotation matrix of a rotation vector (axis times angle) in degrees (Rodrigues)."""
    w = np.radians(np.asarray(rotation_deg, dtype=np.float64).reshape(3))
    angle = float(np.linalg.norm(w))
    if angle == 0.0:
        return np.eye(3)
    k = w / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * (kx @ kx)


def extrinsics(baseline_m: Any, rotation_deg: Any) -> np.ndarray:
    """(4, 4) float64 ``T_rgb_from_tof`` of an RGB camera at `baseline_m` turned by `rotation_deg` (ToF frame).

    ``T_tof_from_rgb = [[R, b], [0, 1]]`` with ``R = rotation_from_vector_deg(rotation_deg)``, so
    ``T_rgb_from_tof = [[R^T, -R^T b], [0, 1]]``.
    """
    return _rgb_from_tof(rotation_from_vector_deg(rotation_deg), np.asarray(baseline_m, dtype=np.float64).reshape(3))


def _rgb_from_tof(rot: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = rot.T
    out[:3, 3] = -rot.T @ b
    return out


def believed_extrinsics(config: RgbCameraConfig, *, rng: np.random.Generator) -> np.ndarray:
    """(4, 4) float64 ``T_rgb_from_tof`` that the registration believes: the true rig plus a calibration error.

    Six standard normals are drawn whatever the settings (translation x, y, z, then rotation x, y, z), so a run
    with a larger error scales the same errors: believed baseline ``b + calibration_error_m * n[:3]`` and believed
    rotation ``R @ rotation_from_vector_deg(calibration_error_deg * n[3:])`` (the error in the RGB camera's axes).
    """
    n = rng.standard_normal(6)
    b = np.asarray(config.baseline_m, dtype=np.float64) + config.calibration_error_m * n[:3]
    rot = rotation_from_vector_deg(config.rotation_deg) @ rotation_from_vector_deg(config.calibration_error_deg * n[3:])
    return _rgb_from_tof(rot, b)


def rgb_pose(pose_tof: np.ndarray, T_rgb_from_tof: np.ndarray) -> np.ndarray:  # noqa: N803
    """(4, 4) float64 ``T_world_from_rgb = T_world_from_tof @ inv(T_rgb_from_tof)`` of the colour camera."""
    return np.asarray(pose_tof, dtype=np.float64) @ np.linalg.inv(np.asarray(T_rgb_from_tof, dtype=np.float64))
