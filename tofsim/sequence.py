"""The sequence mode's settings (``[sequence]`` of a generate config): light, so `tofsim.config` can import it.

The trajectories themselves are drawn by `tofsim.scene.trajectories.sample_trajectory`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tofsim.errors import ConfigError
from tofsim.strict import check_types

__all__ = ["SequenceConfig", "TrajectoryWarning", "MOTIONS"]

#: The motion models `sample_trajectory` knows.
MOTIONS = ("handheld", "robot", "static")


class TrajectoryWarning(UserWarning):
    """Some poses of a trajectory were dropped and re-drawn (the ``tofsim`` CLI prints one ``warning:`` line)."""


@dataclass(frozen=True, kw_only=True)
class SequenceConfig:
    """Sequence mode of ``tofsim generate`` (``[sequence]`` in a generate config; ``--sequence N`` on the CLI).

    With ``enabled`` each scene holds one sequence of ``frames_per_scene`` frames along a trajectory
    (`tofsim.scene.trajectories.sample_trajectory`), and each sample's meta gets ``sequence_id``,
    ``sequence_frame`` and ``timestamp_s``.
    A disabled table is left out of the config hash, so datasets made without it keep their bytes.

    Attributes:
        enabled: render sequences instead of independent poses.
        motion: ``handheld``, ``robot`` or ``static`` (see the module docstring).
        fps_hz: frame rate; frame k of a sequence has ``timestamp_s = k / fps_hz``.
        max_speed_m_s: bound on the camera centre's speed.
        max_rotation_deg_s: bound on the rotation rate (angle between consecutive frames times ``fps_hz``).
        tau_s: correlation time of the random velocity (larger: smoother, straighter paths).
    """

    enabled: bool = False
    motion: str = "handheld"
    fps_hz: float = 30.0
    max_speed_m_s: float = 0.6
    max_rotation_deg_s: float = 60.0
    tau_s: float = 1.0

    def __post_init__(self) -> None:
        check_types(self, "sequence")
        if self.motion not in MOTIONS:
            raise ConfigError(f"sequence.motion: expected one of {', '.join(MOTIONS)}, got {self.motion!r}")
        for name in ("fps_hz", "max_speed_m_s", "max_rotation_deg_s", "tau_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"sequence.{name}: expected a positive number, got {value}")
