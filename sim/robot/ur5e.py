"""The Universal Robots UR5e, described by its published kinematics (no meshes: bridge only).

Sources:
  * Universal Robots' DH parameters of the UR5e ("DH parameters for calculations of
    kinematics and dynamics", universal-robots.com): d1 = 0.1625, a2 = -0.425,
    a3 = -0.3922, d4 = 0.1333, d5 = 0.0997, d6 = 0.0996 m; alpha1 = pi/2, alpha4 = pi/2,
    alpha5 = -pi/2; every other a, d and alpha zero.
  * The frame tree of Universal_Robots_ROS2_Description ``urdf/ur_macro.xacro``, joint origins
    as in its ``config/ur5e/default_kinematics.yaml`` (the DH table above written as URDF
    origins): ``base_link`` is REP-103 aligned (x forward), turned by pi about z from the
    controller's base frame (``base_link_inertia``, DH frame 0); ``tool0`` is the flange frame
    the teach pendant reports with a zero TCP offset. These are the frames ur_robot_driver's
    TF uses, so a target in ``base_link`` here is one in the driver's ``base_link``.
  * Joint limits: ``config/ur5e/joint_limits.yaml`` of the same package, as
    ``hardware/robots/ur5e.py`` (a test checks both agree).

``tests/sim/test_kinematics_controller.py`` checks this chain against the DH table computed
independently, and the zero pose against its known TCP position.
"""

from __future__ import annotations

import math

from sim.robot.panda import RobotSpec
from sim.robot.urdf import UrdfJoint, serial_urdf

PI = math.pi
D1, A2, A3, D4, D5, D6 = 0.1625, -0.425, -0.3922, 0.1333, 0.0997, 0.0996
ARM_JOINTS = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
)
_V = PI  # 180 deg/s on every joint
#: (lower, upper, velocity): +-360 deg, but +-180 deg on the elbow.
LIMITS = ((-2 * PI, 2 * PI, _V),) * 2 + ((-PI, PI, _V),) + ((-2 * PI, 2 * PI, _V),) * 3

_JOINTS = (
    UrdfJoint("base_link-base_link_inertia", "base_link", "base_link_inertia", rpy=(0, 0, PI)),
    UrdfJoint(ARM_JOINTS[0], "base_link_inertia", "shoulder_link", (0, 0, D1), limits=LIMITS[0]),
    UrdfJoint(
        ARM_JOINTS[1], "shoulder_link", "upper_arm_link", rpy=(PI / 2, 0, 0), limits=LIMITS[1]
    ),
    UrdfJoint(ARM_JOINTS[2], "upper_arm_link", "forearm_link", (A2, 0, 0), limits=LIMITS[2]),
    UrdfJoint(ARM_JOINTS[3], "forearm_link", "wrist_1_link", (A3, 0, D4), limits=LIMITS[3]),
    UrdfJoint(
        ARM_JOINTS[4], "wrist_1_link", "wrist_2_link", (0, -D5, 0), (PI / 2, 0, 0), LIMITS[4]
    ),
    UrdfJoint(
        ARM_JOINTS[5], "wrist_2_link", "wrist_3_link", (0, D6, 0), (PI / 2, PI, PI), LIMITS[5]
    ),
    UrdfJoint("wrist_3-flange", "wrist_3_link", "flange", rpy=(0, -PI / 2, -PI / 2)),
    UrdfJoint("flange-tool0", "flange", "tool0", rpy=(PI / 2, 0, PI / 2)),
)

UR5E = RobotSpec(
    name="ur5e",
    urdf_relpath=None,
    urdf_xml=serial_urdf("ur5e", _JOINTS),
    arm_joints=ARM_JOINTS,
    finger_joints=(),
    base_link="base_link",
    ee_link="tool0",
    wrist_link="wrist_3_link",
    # tool0 pointing down at (0.45, 0, 0.25), the Panda's home TCP, elbow up.
    home_q=(-0.3007, -1.5284, 2.1789, -2.2213, -1.5708, -0.3007),
    finger_open=0.0,
)
