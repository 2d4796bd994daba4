"""A robot's command wire, decided in one place for every adapter.

Which message carries the arm's joint targets (ros2_control: a ``joint_trajectory_controller``
takes ``trajectory_msgs/msg/JointTrajectory``, a forward position controller
``std_msgs/msg/Float64MultiArray``), on which topic, and where the gripper's one-value
``Float64MultiArray`` goes (or that it goes nowhere). The DDS sink, the stand-in's DDS
endpoint, the rclpy sink, the rosbag2 recorder and the in-process link all ask this module
instead of each branching on ``RobotConfig.command_type``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardware.core.samples import JointCommand
from hardware.robots.base import FLOAT64_MULTI_ARRAY, JOINT_TRAJECTORY, RobotConfig
from hardware.ros import messages


@dataclass(frozen=True)
class CommandIO:
    """The command topics and message types of one robot.

    Attributes:
        arm_topic: The arm controller's command topic.
        arm_type: Its ROS 2 type name (``JOINT_TRAJECTORY`` or ``FLOAT64_MULTI_ARRAY``).
        arm_joints: The arm's joints in command order.
        gripper_topic: The gripper's forward controller topic (a ``Float64MultiArray`` of
            one per-finger target), or None where the bridge sends no gripper command.
    """

    arm_topic: str
    arm_type: str
    arm_joints: tuple[str, ...]
    gripper_topic: str | None

    @property
    def trajectory(self) -> bool:
        """True for a ``joint_trajectory_controller``, False for a forward controller."""
        return self.arm_type == JOINT_TRAJECTORY

    @property
    def gripper_type(self) -> str:
        """The gripper command's ROS 2 type name."""
        return FLOAT64_MULTI_ARRAY

    def arm_class(self, types: messages.MessageTypes | None = None) -> type:
        """The arm command's message class among ``types`` (default: the DDS structs)."""
        types = types or messages.dds_types()
        return types.JointTrajectory if self.trajectory else types.Float64MultiArray

    def gripper_class(self, types: messages.MessageTypes | None = None) -> type:
        """The gripper command's message class among ``types`` (default: the DDS structs)."""
        return (types or messages.dds_types()).Float64MultiArray

    def arm_msg(self, command: JointCommand, lead: float, types=None):
        """The arm command message: a one-point trajectory ``lead`` seconds ahead with a zero
        stamp ("start now"), or the positions for a forward controller."""
        if self.trajectory:
            return messages.joint_trajectory_msg(
                command.names, command.positions, lead, types=types
            )
        return messages.float64_multi_array_msg(command.positions, types=types)

    def gripper_msg(self, command: JointCommand, types=None):
        """The gripper command message, or None when the robot has no gripper topic or the
        command carries no gripper target."""
        if self.gripper_topic is None or command.gripper is None:
            return None
        return messages.float64_multi_array_msg([command.gripper], types=types)

    def arm_from_msg(self, msg) -> messages.TrajectoryCommand:
        """A received arm command in :attr:`arm_joints` order (a forward controller's
        positions as one point at time 0).

        Raises:
            MessageError: for a malformed message (:mod:`hardware.ros.messages`).
        """
        if self.trajectory:
            return messages.joint_trajectory_from_msg(msg, self.arm_joints)
        q = messages.float64_multi_array_from_msg(msg, len(self.arm_joints))
        return messages.TrajectoryCommand(np.zeros(1), q[None, :])

    def gripper_from_msg(self, msg) -> float:
        """A received per-finger gripper target.

        Raises:
            MessageError: for a malformed message.
        """
        return float(messages.float64_multi_array_from_msg(msg, 1)[0])


def command_io(robot: RobotConfig) -> CommandIO:
    """The command wire of ``robot``."""
    g = robot.gripper
    return CommandIO(
        arm_topic=robot.command_topic,
        arm_type=robot.command_type,
        arm_joints=tuple(robot.arm_joints),
        gripper_topic=g.command_topic if g is not None else None,
    )
