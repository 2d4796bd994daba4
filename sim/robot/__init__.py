"""Robot descriptions shared by both simulators and the hardware bridge."""

from sim.robot.panda import PANDA, RobotSpec
from sim.robot.ur5e import UR5E
from sim.robot.xarm6 import XARM6

__all__ = ["PANDA", "UR5E", "XARM6", "RobotSpec"]
