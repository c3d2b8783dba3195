"""Scenes without downloads: the `Scene` type, procedural rooms, mesh files and camera poses.

World frame: metres, z up. Cameras: OpenCV axes (x right, y down, z forward); poses are camera-to-world
``T_world_from_cam``. Nothing here imports Open3D at module import (only `load_mesh` and the renderer do, inside).
"""

from tofsim.scene.cameras import camera_pose, load_poses, sample_camera_poses
from tofsim.scene.mesh import load_mesh
from tofsim.scene.procedural import RoomConfig, generate_room
from tofsim.scene.types import Material, Scene

__all__ = [
    "Material",
    "RoomConfig",
    "Scene",
    "camera_pose",
    "generate_room",
    "load_mesh",
    "load_poses",
    "sample_camera_poses",
]
