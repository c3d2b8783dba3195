"""Run configs for dataset generation and conversion: frozen keyword-only dataclasses, TOML, presets, hashes.

A config is built from defaults in code, optionally a named preset, and a plain dict (from a TOML file or
CLI options) merged on top. `from_dict` is strict: an unknown key raises `ConfigError` listing the valid ones.
The resolved config (`to_dict()`) is saved in every dataset's manifest with its `config_hash`.

Example TOML file for ``tofsim generate --config FILE``::

    preset = "sds"            # optional base preset; every key below overrides it
    seed = 7
    n_frames = 6
    frames_per_scene = 3
    shard_size = 4

    [camera]
    width_px = 160
    height_px = 120
    fx_px = 146.25
    fy_px = 146.25

    [sensor]
    preset = "sds"            # base sensor preset; other keys override its fields

    [rgb_camera]              # optional: colour from a second camera 2.5 cm to the right
    enabled = true
    baseline_m = [0.025, 0.0, 0.0]
    calibration_error_deg = 0.1

    [split_fractions]
    train = 0.8
    val = 0.1
    test = 0.1
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser is the `tomli` package
    import tomli as tomllib  # type: ignore[no-redef]

from tofsim.camera import Intrinsics
from tofsim.errors import ConfigError, InputFileError, RegistryError, TofsimError
from tofsim.provenance import json_sha256
from tofsim.registry import Registry
from tofsim.rgb_camera import RgbCameraConfig
from tofsim.sequence import SequenceConfig
from tofsim.strict import check_keys, check_types, from_dict, merged_value, to_plain

__all__ = [
    "CameraConfig",
    "camera_override",
    "spots_on_image",
    "GenerateConfig",
    "ConvertConfig",
    "generate_presets",
    "get_generate_preset",
    "resolve_sensor",
    "load_toml",
    "config_hash",
]

DEFAULT_SPLIT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
# Keys left out of `GenerateConfig.to_dict` at these values, so datasets made before they existed keep their hash.
_MESH_DEFAULTS: dict[str, Any] = {
    "mesh_up_axis": "z",
    "mesh_scale_per_m": 1.0,
    "pose_file": None,
    "renderer": "raycast",
}
C = TypeVar("C", "GenerateConfig", "ConvertConfig")


# ---------------------------------------------------------------------------------------------------------------
# Lazy access to the parts other modules own (scene and sensor); imported on use so `tofsim.config` stays light.


def _room_config_cls() -> type:
    from tofsim.scene.procedural import RoomConfig

    return RoomConfig


def _pose_config_cls() -> type:
    from tofsim.scene.cameras import PoseConfig

    return PoseConfig


def _default_poses() -> Any:
    return _pose_config_cls()()


def _sensor_preset(name: str) -> Any:
    from tofsim.sensor import get_sensor_preset

    return get_sensor_preset(name)


def _default_sensor() -> Any:
    return _sensor_preset("sds")


def _default_room() -> Any:
    return _room_config_cls()()


# ---------------------------------------------------------------------------------------------------------------
# Configs


@dataclass(frozen=True, kw_only=True)
class CameraConfig:
    """Pinhole camera of generated frames.

    Attributes:
        width_px, height_px: image size in pixels.
        fx_px, fy_px: focal lengths in pixels.
        cx_px, cy_px: principal point in pixels; None puts it at the image centre ``(W - 1) / 2``,
            ``(H - 1) / 2`` (pixel centres at integer coordinates).
    """

    width_px: int = 640
    height_px: int = 480
    fx_px: float = 585.0
    fy_px: float = 585.0
    cx_px: float | None = None
    cy_px: float | None = None

    def __post_init__(self) -> None:
        check_types(self, "camera")
        self.intrinsics()  # validates (positive focal lengths and size, finite values)

    def intrinsics(self) -> Intrinsics:
        """The `Intrinsics` of this camera. Raises `ConfigError` for non-finite or non-positive values."""
        cx = (self.width_px - 1) / 2.0 if self.cx_px is None else float(self.cx_px)
        cy = (self.height_px - 1) / 2.0 if self.cy_px is None else float(self.cy_px)
        try:
            return Intrinsics(
                fx_px=float(self.fx_px), fy_px=float(self.fy_px), cx_px=cx, cy_px=cy,
                width_px=int(self.width_px), height_px=int(self.height_px),
            )  # fmt: skip
        except TofsimError as err:
            raise ConfigError(f"camera: {err}") from None


def camera_override(
    camera: CameraConfig, *, width_px: int | None = None, height_px: int | None = None, fov_deg: float | None = None
) -> CameraConfig:
    """`camera` resized and/or given a new horizontal field of view, with the principal point at the centre.

    A size without `fov_deg` keeps the camera's horizontal field of view ``2 atan((W / 2) / fx)``; one missing
    dimension follows the camera's aspect ratio. The focal length is ``fx = (W / 2) / tan(fov / 2)`` and
    ``fy`` keeps the camera's ``fy / fx`` (square pixels stay square).

    Raises:
        ConfigError: for a non-positive size or a field of view outside (0, 180) degrees.
    """
    if width_px is None and height_px is None and fov_deg is None:
        return camera
    for name, value in (("--width", width_px), ("--height", height_px)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name}: must be a positive number of pixels, got {value!r}")
    if fov_deg is not None and not (math.isfinite(fov_deg) and 0 < fov_deg < 180):
        raise ConfigError(f"--fov-deg: the horizontal field of view must be in (0, 180) degrees, got {fov_deg}")
    if width_px is None and height_px is None:
        width_px, height_px = camera.width_px, camera.height_px
    elif width_px is None:
        width_px = max(1, round(height_px * camera.width_px / camera.height_px))
    elif height_px is None:
        height_px = max(1, round(width_px * camera.height_px / camera.width_px))
    if fov_deg is None:  # the same field of view: fx scales with the width
        fx = camera.fx_px * width_px / camera.width_px
    else:
        fx = (width_px / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    fy = fx * (camera.fy_px / camera.fx_px)
    return CameraConfig(width_px=width_px, height_px=height_px, fx_px=fx, fy_px=fy, cx_px=None, cy_px=None)


def spots_on_image(sensor: Any, camera: CameraConfig) -> tuple[int, int]:
    """(spots on the image, spots) for `sensor`'s pattern seen through `camera`.

    Each spot direction is projected through the intrinsics (at infinity, so the projector baseline does not
    matter) and counts when its nearest pixel is inside the image, as the sensor model decides.
    """
    from tofsim.spots import create_pattern

    d = create_pattern(sensor.pattern, **sensor.pattern_kwargs).directions
    intr = camera.intrinsics()
    u = intr.fx_px * d[:, 0] / d[:, 2] + intr.cx_px
    v = intr.fy_px * d[:, 1] / d[:, 2] + intr.cy_px
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    inside = (d[:, 2] > 0) & (ui >= 0) & (ui < intr.width_px) & (vi >= 0) & (vi < intr.height_px)
    return int(inside.sum()), int(d.shape[0])


def _check_common(cfg: Any, where: str) -> None:
    check_types(cfg, where)
    if cfg.seed < 0:
        raise ConfigError(f"{where}.seed: must be >= 0, got {cfg.seed}")
    if cfg.shard_size < 1:
        raise ConfigError(f"{where}.shard_size: must be >= 1, got {cfg.shard_size}")
    fractions = cfg.split_fractions
    if not isinstance(fractions, Mapping) or sorted(fractions) != sorted(DEFAULT_SPLIT_FRACTIONS):
        raise ConfigError(
            f"{where}.split_fractions: expected the keys {', '.join(DEFAULT_SPLIT_FRACTIONS)}, got {fractions!r}"
        )
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 for v in fractions.values()):
        raise ConfigError(f"{where}.split_fractions: expected non-negative numbers per split, got {fractions!r}")
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ConfigError(f"{where}.split_fractions: fractions must sum to 1, got {fractions!r}")


@dataclass(frozen=True, kw_only=True)
class GenerateConfig:
    """Everything that defines a generated dataset (besides the code version).

    Sample ``i`` belongs to scene ``i // frames_per_scene``; a scene's geometry comes from
    ``sample_rng(seed, scene_index, "scene")``, its camera poses from ``sample_rng(seed, scene_index, "camera")``
    and sample ``i``'s sensor noise from ``sample_rng(seed, i, "noise")``. The data therefore do not depend on
    `shard_size` or on the number of workers.

    Attributes:
        seed: global seed (0 is a seed).
        n_frames: number of samples.
        frames_per_scene: consecutive samples that share one room (or mesh) and differ by camera pose.
        shard_size: samples per HDF5 shard (changes the files, not the data).
        camera: the depth camera.
        sensor: a `tofsim.sensor.SensorConfig`.
        room: a `tofsim.scene.procedural.RoomConfig` (ignored when `mesh_path` is set).
        poses: a `tofsim.scene.cameras.PoseConfig`: how camera poses are sampled in each scene.
        mesh_path: a mesh file (PLY/OBJ/OFF/STL/GLB/glTF) to use instead of procedural rooms; None for rooms.
        mesh_up_axis, mesh_scale_per_m: the mesh file's up axis ("z"; "y" for glTF and Blender, "-y" for 7-Scenes
            scans: `tofsim.scene.mesh.UP_AXES`) and units per metre (1000 for mm). Out of `to_dict` at defaults.
        pose_file: poses from a file (`tofsim.scene.pose_file`) instead of sampled ones: frame i uses pose i and
            `n_frames` must equal their number. Needs `mesh_path`; not with `sequence`. Out of `to_dict` if None.
        split_fractions: fraction of scenes per split (``train``/``val``/``test``), summing to 1.
        rgb_camera: a `tofsim.rgb_camera.RgbCameraConfig`: colour from a separate camera with the spots registered
            into it (off by default). Its calibration error comes from ``sample_rng(seed, k, "rgb_calibration")``
            with k the scene (or sample) index. A disabled table is left out of `to_dict` (and so of the config
            hash), so a dataset made without it keeps its bytes.
        sequence: a `tofsim.sequence.SequenceConfig`: with ``enabled``, each scene's
            `frames_per_scene` frames follow one smooth trajectory (poses from ``sample_rng(seed, scene_index,
            "camera")``, noise still per sample). Left out of `to_dict` when disabled, like `rgb_camera`.
    """

    seed: int = 0
    n_frames: int = 100
    frames_per_scene: int = 10
    shard_size: int = 32
    camera: CameraConfig = field(default_factory=CameraConfig)
    sensor: Any = field(default_factory=_default_sensor)
    room: Any = field(default_factory=_default_room)
    poses: Any = field(default_factory=_default_poses)
    mesh_path: str | None = None
    mesh_up_axis: str = "z"
    mesh_scale_per_m: float = 1.0
    pose_file: str | None = None
    split_fractions: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLIT_FRACTIONS))
    rgb_camera: RgbCameraConfig = field(default_factory=RgbCameraConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    renderer: str = "raycast"

    def __post_init__(self) -> None:
        _check_common(self, "generate")
        if not isinstance(self.sequence, SequenceConfig):
            raise ConfigError(f"generate.sequence: expected a table of keys, got {self.sequence!r}")
        if not isinstance(self.rgb_camera, RgbCameraConfig):
            raise ConfigError(f"generate.rgb_camera: expected a table of keys, got {self.rgb_camera!r}")
        self.rgb_camera.intrinsics(self.camera.intrinsics())  # validates the colour camera against the image
        if self.n_frames < 1:
            raise ConfigError(f"generate.n_frames: must be >= 1, got {self.n_frames}")
        if self.frames_per_scene < 1:
            raise ConfigError(f"generate.frames_per_scene: must be >= 1, got {self.frames_per_scene}")
        self._check_mesh()

    def _check_mesh(self) -> None:
        from tofsim.scene.mesh import UP_AXES

        for failed, message in (
            (self.mesh_up_axis not in UP_AXES, f"mesh_up_axis (--up-axis): the mesh file's axis that points up, one "
             f"of {', '.join(UP_AXES)}; got {self.mesh_up_axis!r}"),
            (not 0 < self.mesh_scale_per_m < math.inf, "mesh_scale_per_m (--mesh-scale-per-m): the mesh file's units "
             f"per metre (1000 for mm) must be > 0, got {self.mesh_scale_per_m}"),
            (self.pose_file is not None and self.mesh_path is None, "pose_file (--poses): camera poses from a file "
             "need a mesh; add --mesh (mesh_path)"),
            (self.renderer not in ("raycast", "raster"), f"renderer (--renderer): raycast or raster, got "
             f"{self.renderer!r}"),
            (self.pose_file is not None and self.sequence.enabled, "pose_file (--poses) and generate.sequence "
             "(--sequence) both set the camera path; use one"),
        ):  # fmt: skip
            if failed:
                raise ConfigError(f"generate.{message}")

    @property
    def n_scenes(self) -> int:
        """Number of scenes, ``ceil(n_frames / frames_per_scene)``."""
        return -(-self.n_frames // self.frames_per_scene)

    def to_dict(self) -> dict[str, Any]:
        """The full resolved config as plain nested dicts (what the manifest stores); no ``rgb_camera`` or
        ``sequence`` table when off.
        """  # noqa: D205
        out = _fields_to_plain(self)
        if not self.rgb_camera.enabled:
            del out["rgb_camera"]
        if not self.sequence.enabled:
            del out["sequence"]
        return {k: v for k, v in out.items() if k not in _MESH_DEFAULTS or v != _MESH_DEFAULTS[k]}  # same hash

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GenerateConfig:
        """Strictly build a config from a plain dict (e.g. a parsed TOML file).

        A ``preset`` key names the base config (default: the code defaults); every other key overrides it,
        nested tables key by key. ``sensor`` may be a sensor preset name or a table with an optional
        ``preset`` key.

        Raises:
            ConfigError: for an unknown key (the message lists the valid ones), a bad value or unknown preset.
        """
        return _config_from_dict(cls, d, "generate", get_generate_preset)

    def replace(self, **changes: Any) -> GenerateConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class ConvertConfig:
    """How a real RGB-D source becomes a dataset.

    Sample ``i`` (the i-th selected source frame) gets its sensor noise from ``sample_rng(seed, i, "noise")``.

    Attributes:
        seed: global seed (0 is a seed).
        sensor: a `tofsim.sensor.SensorConfig`.
        shard_size: samples per HDF5 shard.
        kind: source reader name (``"auto"`` detects it); see `tofsim.sources`.
        depth_scale_per_m: file units per metre for 16-bit PNG depth (1000 for mm, 5000 for TUM); None lets
            the source reader choose.
        intrinsics_path: a text file with the 3x3 K; None uses what the source provides.
        max_frames: convert at most this many frames (after `frame_stride`); None converts all.
        frame_stride: take every n-th source frame.
        split_fractions: fraction of scenes per split, summing to 1.
    """

    seed: int = 0
    sensor: Any = field(default_factory=_default_sensor)
    shard_size: int = 32
    kind: str = "auto"
    depth_scale_per_m: float | None = None
    intrinsics_path: str | None = None
    max_frames: int | None = None
    frame_stride: int = 1
    split_fractions: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLIT_FRACTIONS))

    def __post_init__(self) -> None:
        _check_common(self, "convert")
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError(f"convert.max_frames: must be >= 1 or None, got {self.max_frames}")
        if self.frame_stride < 1:
            raise ConfigError(f"convert.frame_stride: must be >= 1, got {self.frame_stride}")
        if self.depth_scale_per_m is not None and not (self.depth_scale_per_m > 0):
            raise ConfigError(f"convert.depth_scale_per_m: must be > 0, got {self.depth_scale_per_m}")

    def to_dict(self) -> dict[str, Any]:
        """The full resolved config as plain nested dicts."""
        return _fields_to_plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConvertConfig:
        """Strictly build a config from a plain dict; a ``preset`` key picks the sensor (as for generate).

        Raises:
            ConfigError: for an unknown key (the message lists the valid ones), a bad value or unknown preset.
        """
        return _config_from_dict(cls, d, "convert", lambda name: cls(sensor=resolve_sensor(name)))

    def replace(self, **changes: Any) -> ConvertConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _fields_to_plain(config: Any) -> dict[str, Any]:
    return {f.name: to_plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _sensor_over(current: Any, value: Any, where: str) -> Any:
    """The sensor a config's ``sensor`` value gives: a preset name, or a table (with an optional ``preset`` key)
    merged over `current` (or over that preset).
    """  # noqa: D205
    if isinstance(value, str):
        return resolve_sensor(value)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a sensor preset name or a table, got {value!r}")
    value = dict(value)
    name = value.pop("preset", None)
    return merged_value(current if name is None else resolve_sensor(name), value, where=where)


def _config_from_dict(cls: type[C], d: Mapping[str, Any], where: str, preset_fn: Callable[[str], C]) -> C:
    """`strict.from_dict` over the preset named by a ``preset`` key (default: the code defaults)."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected a table of keys, got {type(d).__name__}")
    d = dict(d)
    check_keys(d, [*(f.name for f in dataclasses.fields(cls)), "preset"], where)
    preset = d.pop("preset", None)
    base = preset_fn(preset) if preset is not None else cls()
    if "sensor" in d:
        d["sensor"] = _sensor_over(base.sensor, d["sensor"], f"{where}.sensor")
    return from_dict(cls, d, where=where, base=base)


# ---------------------------------------------------------------------------------------------------------------
# Presets


generate_presets: Registry[GenerateConfig] = Registry("generate preset")


@generate_presets.register("sds")
def _sds() -> GenerateConfig:
    """640x480, f = 585 camera (Kinect-like, as 7-Scenes), the `sds` spot sensor, default rooms."""
    return GenerateConfig(camera=CameraConfig(), sensor=_sensor_preset("sds"), room=_default_room())


@generate_presets.register("sds-qvga")
def _sds_qvga() -> GenerateConfig:
    """The `sds` set-up at 320x240 (f = 292.5): same field of view, a quarter of the pixels."""
    camera = CameraConfig(width_px=320, height_px=240, fx_px=292.5, fy_px=292.5)
    return GenerateConfig(camera=camera, sensor=_sensor_preset("sds"), room=_default_room())


@generate_presets.register("dtof-24x24")
def _dtof() -> GenerateConfig:
    """640x480, f = 585 camera with a 24 x 24 dot direct-ToF sensor."""
    return GenerateConfig(camera=CameraConfig(), sensor=_sensor_preset("dtof-24x24"), room=_default_room())


@generate_presets.register("zones-8x8")
def _zones() -> GenerateConfig:
    """640x480, f = 585 camera with an 8 x 8 zone sensor (VL53L5-like)."""
    return GenerateConfig(camera=CameraConfig(), sensor=_sensor_preset("zones-8x8"), room=_default_room())


def resolve_sensor(name: str) -> Any:
    """The `SensorConfig` a preset name stands for: a generate preset's sensor, or a sensor preset.

    Raises:
        ConfigError: if `name` is neither (the message lists the generate presets and the sensor presets).
    """
    if name in generate_presets:
        return generate_presets.create(name).sensor
    try:
        return _sensor_preset(name)
    except (RegistryError, ConfigError, ValueError, KeyError) as err:
        raise ConfigError(
            f"unknown preset {name!r}; valid presets: {', '.join(generate_presets.names())} (or a sensor preset: {err})"
        ) from None


def get_generate_preset(name: str) -> GenerateConfig:
    """A named generate config (`generate_presets.names()`); another sensor preset name (e.g. ``random-500``,
    ``grid-20x30``) gives the default 640x480 camera with that sensor.

    Raises:
        ConfigError: for an unknown name, listing the valid ones.
    """  # noqa: D205
    if name in generate_presets:
        return generate_presets.create(name)
    return GenerateConfig(sensor=resolve_sensor(name))


# ---------------------------------------------------------------------------------------------------------------
# Files and hashes


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML config file into a dict.

    Raises:
        InputFileError: if the file is missing or unreadable.
        ConfigError: if it is not valid TOML.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"config file not found: {path}")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    except OSError as err:
        raise InputFileError(f"cannot read config file {path}: {err}") from None


def config_hash(config: Any) -> str:
    """SHA-256 (hex) of a config's deterministic JSON (`to_dict()`, sorted keys); the manifest stores the same."""
    return json_sha256(to_plain(config))
