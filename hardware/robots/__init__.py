"""Robot configurations, by name: :mod:`hardware.robots.base` holds the types and the registry,
one module per arm holds its numbers with the vendor sources they come from.

The arm modules import :mod:`hardware.robots.base` and nothing here; this package imports each
of them explicitly and registers them, so importing any part of ``hardware.robots`` (the types
included) gives a filled registry, and no module imports one that imports it back.
"""

from hardware.robots.base import get_robot, list_robots, register_robot
from hardware.robots.franka_fr3 import FR3
from hardware.robots.franka_panda import FRANKA_PANDA, PANDA_MUJOCO
from hardware.robots.ur5e import UR5E, UR5E_FORWARD
from hardware.robots.xarm6 import XARM6

BUILTIN_ROBOTS = (FR3, FRANKA_PANDA, PANDA_MUJOCO, UR5E, UR5E_FORWARD, XARM6)

for _config in BUILTIN_ROBOTS:
    register_robot(_config)

__all__ = [
    "BUILTIN_ROBOTS",
    "FR3",
    "FRANKA_PANDA",
    "PANDA_MUJOCO",
    "UR5E",
    "UR5E_FORWARD",
    "XARM6",
    "get_robot",
    "list_robots",
    "register_robot",
]
