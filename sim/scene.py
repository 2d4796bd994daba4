"""The workcell both simulators build: table, one object, a goal marker, lights, cameras.

Everything here is plain data in the robot base frame (metres, x forward, z up, table top
at z = 0), so the MuJoCo and PyBullet backends build the same scene from one description
and domain randomization edits one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

CAMERA_NAMES = ("front", "side", "wrist")


@dataclass(frozen=True)
class CameraSpec:
    """A pinhole camera looking from ``pos`` at ``target``, in its parent's frame.

    Attributes:
        name: Observation key of the camera.
        pos: Eye position in the parent frame.
        target: Point looked at, in the parent frame.
        up: Approximate up direction, in the parent frame.
        fovy: Vertical field of view, degrees.
        parent: ``None`` for a fixed camera, else the robot link it rides on.
    """

    name: str
    pos: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float]
    fovy: float
    parent: str | None = None

    def rotation(self) -> np.ndarray:
        """Camera-to-parent rotation in the OpenGL/MuJoCo convention (looks along -z, y up)."""
        return look_at_rotation(self.pos, self.target, self.up)


def look_at_rotation(pos, target, up) -> np.ndarray:
    """Columns are the camera x (right), y (up) and z (backward) axes in the parent frame.

    Raises:
        ValueError: if ``pos == target`` or ``up`` is parallel to the viewing direction.
    """
    pos, target, up = (np.asarray(v, dtype=float) for v in (pos, target, up))
    back = pos - target
    n = np.linalg.norm(back)
    if n < 1e-9:
        raise ValueError(f"camera position {pos} equals its target")
    z = back / n
    x = np.cross(up, z)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError(f"camera up {up} is parallel to the viewing direction {-z}")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


@dataclass(frozen=True)
class SceneSpec:
    """Geometry, appearance and dynamics of the workcell.

    Attributes:
        table_half_size: Half extents of the table box; its top is at z = 0.
        table_center_xy: Table centre in the base frame.
        object_half_size: Half extent of the cube the tasks manipulate.
        object_mass: Cube mass, kg.
        object_friction: Sliding friction of the cube (and the table under it).
        object_rgba: Cube colour.
        table_rgba: Table colour.
        goal_radius: Radius of the goal marker (visual only, never collides).
        goal_rgba: Goal marker colour.
        light_dir: Direction of the single directional light.
        light_diffuse: Its intensity, per channel.
        joint_damping_scale: Multiplier on the arm's joint damping.
        cameras: The three cameras of DESIGN.md contract 1.
    """

    table_half_size: tuple[float, float, float] = (0.45, 0.6, 0.02)
    table_center_xy: tuple[float, float] = (0.45, 0.0)
    object_half_size: float = 0.02
    object_mass: float = 0.1
    object_friction: float = 1.0
    object_rgba: tuple[float, float, float, float] = (0.85, 0.15, 0.1, 1.0)
    table_rgba: tuple[float, float, float, float] = (0.55, 0.45, 0.35, 1.0)
    goal_radius: float = 0.025
    goal_rgba: tuple[float, float, float, float] = (0.1, 0.8, 0.2, 0.6)
    light_dir: tuple[float, float, float] = (0.3, 0.2, -1.0)
    light_diffuse: float = 0.8
    joint_damping_scale: float = 1.0
    cameras: tuple[CameraSpec, ...] = field(
        default_factory=lambda: (
            CameraSpec("front", (1.0, 0.0, 0.5), (0.48, 0.0, 0.1), (0.0, 0.0, 1.0), 50.0),
            CameraSpec("side", (0.52, -0.7, 0.45), (0.52, 0.0, 0.1), (0.0, 0.0, 1.0), 50.0),
            # Rides on the hand, beside the fingers, looking down past the fingertips.
            CameraSpec(
                "wrist", (0.06, 0.0, 0.02), (0.0, 0.0, 0.2), (1.0, 0.0, 0.0), 75.0, "panda_hand"
            ),
        )
    )

    def camera(self, name: str) -> CameraSpec:
        """The camera called ``name``.

        Raises:
            ValueError: naming the valid cameras when ``name`` is unknown.
        """
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise ValueError(f"unknown camera {name!r}; valid: {[c.name for c in self.cameras]}")

    def with_camera(self, cam: CameraSpec) -> SceneSpec:
        """A copy with the camera of the same name replaced."""
        return replace(self, cameras=tuple(cam if c.name == cam.name else c for c in self.cameras))
