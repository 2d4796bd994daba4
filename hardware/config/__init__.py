"""Built-in robot configurations, one module per arm, each citing its vendor sources."""

from hardware.config.franka_fr3 import FR3
from hardware.config.franka_panda import FRANKA_PANDA, PANDA_MUJOCO
from hardware.config.ur5e import UR5E, UR5E_FORWARD
from hardware.config.xarm6 import XARM6

BUILTIN_ROBOTS = (FR3, FRANKA_PANDA, PANDA_MUJOCO, UR5E, UR5E_FORWARD, XARM6)

__all__ = ["BUILTIN_ROBOTS", "FR3", "FRANKA_PANDA", "PANDA_MUJOCO", "UR5E", "UR5E_FORWARD", "XARM6"]
