"""What a task environment needs from a simulator, and nothing more.

dm_control keeps Physics, Task and Environment apart; so do we. A backend owns the
simulator state and knows the robot, the scene and the cameras; it knows no task, no
reward and no action scaling (that is :mod:`sim.controller`).
"""

from __future__ import annotations

import abc
import importlib

import numpy as np

from sim.scene import CameraSpec, SceneSpec

# name -> "module:Class", imported lazily so that importing sim never loads pybullet.
BACKENDS = {
    "mujoco": "sim.backends.mujoco_backend:MujocoBackend",
    "bullet": "sim.backends.bullet_backend:BulletBackend",
}

CONTROL_HZ = 20.0


class PhysicsBackend(abc.ABC):
    """A simulated Panda workcell. Positions are in the robot base frame.

    Args:
        robot: A :class:`sim.robot.RobotSpec`.
        scene: The :class:`sim.scene.SceneSpec` to build.
        image_size: ``(height, width)`` of rendered frames.
    """

    name: str = ""
    control_dt: float = 1.0 / CONTROL_HZ

    def __init__(self, robot, scene: SceneSpec, image_size: tuple[int, int]):
        self.robot = robot
        self.scene = scene
        self.image_size = image_size

    # --- episode set-up -------------------------------------------------------------------
    @abc.abstractmethod
    def reset(
        self,
        arm_q: np.ndarray,
        finger: float,
        object_pos: np.ndarray,
        object_yaw: float,
        goal_pos: np.ndarray,
    ) -> None:
        """Put the arm at ``arm_q`` (at rest, targets equal to it), the cube and the goal."""

    @abc.abstractmethod
    def apply_scene(self, scene: SceneSpec) -> None:
        """Apply a (randomized) scene: masses, friction, damping, colours, light, cameras."""

    # --- control --------------------------------------------------------------------------
    @abc.abstractmethod
    def set_targets(self, arm_q: np.ndarray, finger: float) -> None:
        """Joint position targets for the arm and the per-finger opening."""

    @abc.abstractmethod
    def step(self) -> None:
        """Advance the simulation by one control period, ``control_dt`` seconds."""

    # --- state ----------------------------------------------------------------------------
    @abc.abstractmethod
    def arm_q(self) -> np.ndarray:
        """Measured arm joint positions (7,)."""

    @abc.abstractmethod
    def arm_qd(self) -> np.ndarray:
        """Measured arm joint velocities (7,)."""

    @abc.abstractmethod
    def finger_width(self) -> float:
        """Distance between the fingers (sum of both finger joints), metres."""

    @abc.abstractmethod
    def tcp_pos(self) -> np.ndarray:
        """Tool centre point (between the fingertips) position, from the simulator."""

    @abc.abstractmethod
    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Cube position (3,) and orientation quaternion (4,), scalar first (w, x, y, z)."""

    @abc.abstractmethod
    def object_velocity(self) -> np.ndarray:
        """Cube linear velocity (3,)."""

    @abc.abstractmethod
    def fingers_touch_object(self) -> tuple[bool, bool]:
        """Whether the left and the right finger are in contact with the cube."""

    @abc.abstractmethod
    def time(self) -> float:
        """Simulated time since reset, seconds."""

    # --- kinematics check and rendering ---------------------------------------------------
    @abc.abstractmethod
    def link_pose(self, q: np.ndarray, link: str) -> np.ndarray:
        """4x4 pose of ``link`` with the arm at ``q`` (for the FK-agreement test)."""

    @abc.abstractmethod
    def render(self, camera: CameraSpec) -> np.ndarray:
        """uint8 ``(H, W, 3)`` image from ``camera`` (as set by the last ``apply_scene``)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free simulator resources."""


def make_backend(name: str, robot, scene: SceneSpec, image_size: tuple[int, int]):
    """Instantiate the backend called ``name``.

    Raises:
        ValueError: listing the valid backends when ``name`` is unknown.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid: {sorted(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)(robot, scene, image_size)
