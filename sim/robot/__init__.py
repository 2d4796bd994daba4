"""Robot descriptions shared by both simulators and the hardware bridge."""

from sim.robot.panda import PANDA, RobotSpec

__all__ = ["PANDA", "RobotSpec"]
