"""The UFACTORY xArm6, described by its published kinematics (no meshes: bridge only).

Sources:
  * Joint origins: xarm_ros2 ``xarm_description/urdf/xarm6/xarm6.urdf.xacro`` (the values of
    ``config/kinematics/default/xarm6_default_kinematics.yaml``): joint1 at z = 0.267; joint2
    turned by -pi/2 about x; joint3 at (0.0535, -0.2845, 0); joint4 at (0.0775, 0.3425, 0)
    turned by -pi/2; joint5 turned by pi/2; joint6 at (0.076, 0.097, 0) turned by -pi/2;
    ``link_eef`` on ``link6`` with no offset (the flange). The vendor file writes the
    quarter turns as 1.5708; exact pi/2 is used here.
  * UFACTORY's modified-DH table of the xArm6 (UFACTORY docs, support article "xArm6
    kinematic and dynamic parameters"): d = (267, 0, 0, 342.5, 0, 97) mm, a = (0, 0, a2,
    77.5, 0, 76) mm, alpha = (0, -pi/2, 0, -pi/2, pi/2, -pi/2), a2 = sqrt(284.5^2 + 53.5^2) =
    289.48866 mm and joint offsets T2 = -atan(284.5 / 53.5) = -1.3849179 rad, T3 = -T2. The
    origins above are that table in URDF form (the offsets folded into joint3's origin);
    ``tests/sim/test_kinematics_controller.py`` checks the chain against the table.
  * Joint limits: as ``hardware/robots/xarm6.py`` (xarm_ros2's URDF defaults), which a
    test checks against this description.

At zero every joint, the flange points straight down at (0.207, 0, 0.112) m.
"""

from __future__ import annotations

import math

from sim.robot.panda import RobotSpec
from sim.robot.urdf import UrdfJoint, serial_urdf

PI = math.pi
_D = PI / 180.0
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 7))
_V = 2.14  # rad/s on every joint (xarm_moveit_config joint_limits.yaml)
#: (lower, upper, velocity) per joint: the position limits of xarm_ros2's
#: ``xarm_description/urdf/xarm6/xarm6.urdf.xacro`` defaults, as hardware/robots/xarm6.py
#: (sim may not import hardware/; a test checks the two agree). Joints 1, 4 and 6 turn +-2 pi;
#: joint 3 stops at 0.19198 rad (11 degrees).
LIMITS = (
    (-2 * PI, 2 * PI, _V),
    (-2.059, 2.0944, _V),
    (-3.927, 0.19198, _V),
    (-2 * PI, 2 * PI, _V),
    (-1.69297, PI, _V),
    (-2 * PI, 2 * PI, _V),
)

_JOINTS = (
    UrdfJoint("joint1", "link_base", "link1", (0, 0, 0.267), limits=LIMITS[0]),
    UrdfJoint("joint2", "link1", "link2", rpy=(-PI / 2, 0, 0), limits=LIMITS[1]),
    UrdfJoint("joint3", "link2", "link3", (0.0535, -0.2845, 0), limits=LIMITS[2]),
    UrdfJoint("joint4", "link3", "link4", (0.0775, 0.3425, 0), (-PI / 2, 0, 0), LIMITS[3]),
    UrdfJoint("joint5", "link4", "link5", rpy=(PI / 2, 0, 0), limits=LIMITS[4]),
    UrdfJoint("joint6", "link5", "link6", (0.076, 0.097, 0), (-PI / 2, 0, 0), LIMITS[5]),
    UrdfJoint("joint_eef", "link6", "link_eef"),
)

XARM6 = RobotSpec(
    name="xarm6",
    urdf_relpath=None,
    urdf_xml=serial_urdf("xarm6", _JOINTS),
    arm_joints=ARM_JOINTS,
    finger_joints=(),
    base_link="link_base",
    ee_link="link_eef",
    wrist_link="link6",
    # Flange pointing down at (0.45, 0, 0.25), the Panda's home TCP, elbow up.
    home_q=(0.0, 0.1065, -0.8585, 0.0, 0.752, 0.0),
    finger_open=0.0,
)
