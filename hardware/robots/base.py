"""Robot configurations: joint names and order, vendor limits, controller and camera topics.

One frozen dataclass per arm, checked in ``__post_init__`` (LeRobot's ``config_*.py``
pattern), registered by name. The numbers live in ``hardware/robots/<robot>.py`` with the
vendor file each comes from; this module holds the types and the registry only, and imports
none of the arm modules (``hardware/robots/__init__.py`` registers them).

Command interfaces follow ros2_control: a ``joint_trajectory_controller`` listens on
``/<controller>/joint_trajectory`` (``trajectory_msgs/msg/JointTrajectory``), a forward
position controller on ``/<controller>/commands`` (``std_msgs/msg/Float64MultiArray``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
FLOAT64_MULTI_ARRAY = "std_msgs/msg/Float64MultiArray"
COMMAND_TYPES = (JOINT_TRAJECTORY, FLOAT64_MULTI_ARRAY)
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)


def _check_topic(what: str, topic: str) -> None:
    if not isinstance(topic, str) or not topic.startswith("/") or topic.endswith("/"):
        raise ValueError(f"{what}: {topic!r} is not an absolute ROS 2 topic name like '/a/b'")
    if "//" in topic or any(c.isspace() for c in topic):
        raise ValueError(f"{what}: {topic!r} contains '//' or whitespace")


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits, in the order of the robot's ``arm_joints``.

    Attributes:
        lower: Position lower limits, rad.
        upper: Position upper limits, rad.
        velocity: Maximum speed, rad/s.
        acceleration: Maximum acceleration, rad/s^2.
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    velocity: tuple[float, ...]
    acceleration: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.lower)
        for name in ("upper", "velocity", "acceleration"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"JointLimits.{name} has {len(getattr(self, name))} values, lower has {n}"
                )
        for name in ("lower", "upper", "velocity", "acceleration"):
            values = getattr(self, name)
            if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
                raise ValueError(f"JointLimits.{name} must be finite numbers, got {values}")
        bad = [i for i, (lo, hi) in enumerate(zip(self.lower, self.upper)) if not lo < hi]
        if bad:
            raise ValueError(f"JointLimits: lower >= upper at joints {bad}")
        for name in ("velocity", "acceleration"):
            if not all(v > 0 for v in getattr(self, name)):
                raise ValueError(f"JointLimits.{name} must be > 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class CameraConfig:
    """One camera: its observation key (a sim camera name) and its ROS 2 topic.

    Attributes:
        name: Observation key, one of ``sim.CAMERA_NAMES`` so sim-trained policies apply.
        topic: Image topic.
        msg_type: ``sensor_msgs/msg/Image`` or ``sensor_msgs/msg/CompressedImage``.
    """

    name: str
    topic: str
    msg_type: str = IMAGE

    def __post_init__(self) -> None:
        from sim.scene import CAMERA_NAMES

        if self.name not in CAMERA_NAMES:
            raise ValueError(f"camera name {self.name!r}; valid: {list(CAMERA_NAMES)}")
        _check_topic(f"camera {self.name!r} topic", self.topic)
        if self.msg_type not in IMAGE_TYPES:
            raise ValueError(f"camera msg_type {self.msg_type!r}; valid: {list(IMAGE_TYPES)}")


@dataclass(frozen=True)
class GripperConfig:
    """A parallel gripper seen as joints in a ``sensor_msgs/JointState`` stream.

    Attributes:
        joints: Finger joint names; their positions sum to the finger width.
        open_position: Per-finger position when fully open, metres.
        command_topic: Forward position controller topic (one value: the per-finger
            target), or None where the driver commands the gripper otherwise (e.g.
            franka_gripper's actions), in which case the bridge sends no gripper command.
        state_topic: The gripper's own ``JointState`` topic where the driver publishes the
            fingers apart from the arm (franka_gripper's ``~/joint_states``); the adapters
            join its latest fingers onto each arm state (:mod:`hardware.ros.gripper_state`).
            None: the fingers come in the robot's ``joint_state_topic``.
    """

    joints: tuple[str, ...]
    open_position: float
    command_topic: str | None = None
    state_topic: str | None = None

    def __post_init__(self) -> None:
        if not self.joints or len(set(self.joints)) != len(self.joints):
            raise ValueError(f"gripper joints must be unique and non-empty, got {self.joints}")
        if not (math.isfinite(self.open_position) and self.open_position > 0):
            raise ValueError(f"gripper open_position must be > 0, got {self.open_position}")
        if self.command_topic is not None:
            _check_topic("gripper command_topic", self.command_topic)
        if self.state_topic is not None:
            _check_topic("gripper state_topic", self.state_topic)


@dataclass(frozen=True)
class RobotConfig:
    """An arm as its ROS 2 driver exposes it.

    Attributes:
        name: Registry name.
        driver: The ROS 2 driver package this config mirrors.
        arm_joints: Arm joint names in command order.
        limits: Vendor joint limits in that order.
        command_topic: Joint command topic of the arm's controller.
        command_type: One of :data:`COMMAND_TYPES`.
        joint_state_topic: ``sensor_msgs/msg/JointState`` topic.
        gripper: The gripper, or None.
        cameras: Cameras, keyed like the sim's.
        kinematics: Name of the :mod:`sim.robot` spec whose URDF gives the kinematics the
            shared controller needs (a key of :data:`KINEMATIC_MODELS`: ``"panda"``,
            ``"ur5e"``, ``"xarm6"``), or None for an arm without a model here: such a robot
            can be monitored but not driven by a policy.
        model_joints: The kinematic model's names of ``arm_joints``, in the same order,
            where the driver names the same chain otherwise (the FR3's ``fr3_joint1..7``
            are the Panda model's ``panda_joint1..7``); None: the same names.
        sources: Where the numbers come from.
    """

    name: str
    driver: str
    arm_joints: tuple[str, ...]
    limits: JointLimits
    command_topic: str
    command_type: str
    joint_state_topic: str = "/joint_states"
    gripper: GripperConfig | None = None
    cameras: tuple[CameraConfig, ...] = ()
    kinematics: str | None = None
    model_joints: tuple[str, ...] | None = None
    sources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"robot name must be a non-empty str, got {self.name!r}")
        if not self.arm_joints or len(set(self.arm_joints)) != len(self.arm_joints):
            raise ValueError(f"{self.name}: arm_joints must be unique and non-empty")
        if len(self.limits.lower) != len(self.arm_joints):
            raise ValueError(
                f"{self.name}: {len(self.limits.lower)} joint limits for "
                f"{len(self.arm_joints)} arm joints"
            )
        if self.command_type not in COMMAND_TYPES:
            raise ValueError(
                f"{self.name}: command_type {self.command_type!r}; valid: {list(COMMAND_TYPES)}"
            )
        _check_topic(f"{self.name} command_topic", self.command_topic)
        _check_topic(f"{self.name} joint_state_topic", self.joint_state_topic)
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: camera names must be unique, got {names}")
        if self.gripper and set(self.gripper.joints) & set(self.arm_joints):
            raise ValueError(f"{self.name}: gripper joints overlap the arm joints")
        if self.kinematics is not None and self.kinematics not in KINEMATIC_MODELS:
            raise ValueError(
                f"{self.name}: kinematics {self.kinematics!r}; valid: {sorted(KINEMATIC_MODELS)}"
            )
        if self.model_joints is not None and len(self.model_joints) != len(self.arm_joints):
            raise ValueError(
                f"{self.name}: {len(self.model_joints)} model_joints for "
                f"{len(self.arm_joints)} arm joints"
            )

    @property
    def n_arm(self) -> int:
        return len(self.arm_joints)

    @property
    def gripper_joints(self) -> tuple[str, ...]:
        return self.gripper.joints if self.gripper else ()

    def robot_spec(self):
        """The :class:`sim.robot.RobotSpec` the shared controller and FK are built from.

        Raises:
            ValueError: for a robot without a kinematic model here, naming those with one.
        """
        if self.kinematics is None:
            have = [n for n, c in _ROBOTS.items() if c.kinematics is not None]
            raise ValueError(
                f"robot {self.name!r} has no kinematic model in this repository, so a policy "
                f"cannot drive it yet; robots with one: {have}"
            )
        spec = KINEMATIC_MODELS[self.kinematics]()
        expected = self.model_joints or self.arm_joints
        if tuple(spec.arm_joints) != expected:
            raise ValueError(
                f"{self.name}: arm joints {expected} differ from the model's "
                f"{tuple(spec.arm_joints)}"
            )
        return spec

    def summary(self) -> dict:
        """The config as plain JSON values (``robopref robots`` prints one per robot)."""
        g = self.gripper
        return {
            "name": self.name,
            "driver": self.driver,
            "joint_names": list(self.arm_joints),
            "lower": list(self.limits.lower),
            "upper": list(self.limits.upper),
            "velocity": list(self.limits.velocity),
            "acceleration": list(self.limits.acceleration),
            "state_topic": self.joint_state_topic,
            "command_topic": self.command_topic,
            "command_type": self.command_type,
            "gripper": None
            if g is None
            else {
                "joints": list(g.joints),
                "open_position": g.open_position,
                "command_topic": g.command_topic,
                "state_topic": g.state_topic,
            },
            "cameras": [
                {"name": c.name, "topic": c.topic, "type": c.msg_type} for c in self.cameras
            ],
            "kinematics": self.kinematics,
            "sources": list(self.sources),
        }


def _spec(name: str):
    # Imported on demand: sim.robot pulls in nothing heavy, but robot configs are read by
    # tools (the launch-file tests, the UI) that never build a controller.
    import sim.robot

    return getattr(sim.robot, name)


#: Kinematic models the shared controller can be built for (name -> RobotSpec factory).
KINEMATIC_MODELS = {
    "panda": lambda: _spec("PANDA"),
    "ur5e": lambda: _spec("UR5E"),
    "xarm6": lambda: _spec("XARM6"),
}

_ROBOTS: dict[str, RobotConfig] = {}


def register_robot(config: RobotConfig, *, overwrite: bool = False) -> RobotConfig:
    """Adds ``config`` to the registry under ``config.name``.

    Raises:
        ValueError: if the name is taken and ``overwrite`` is False.
    """
    reg = _ROBOTS
    if config.name in reg and not overwrite:
        raise ValueError(f"robot {config.name!r} is already registered")
    reg[config.name] = config
    return config


def list_robots() -> list[str]:
    """Registered robot names, sorted."""
    return sorted(_ROBOTS)


def get_robot(name: str) -> RobotConfig:
    """The config registered as ``name``.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    reg = _ROBOTS
    if name not in reg:
        raise ValueError(f"unknown robot {name!r}; valid: {sorted(reg)}")
    return reg[name]
