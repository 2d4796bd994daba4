"""ROS 2 message types as Cyclone DDS IDL structs, under their DDS names.

ROS 2 maps ``pkg/msg/Name`` to the DDS type ``pkg::msg::dds_::Name_`` and topic ``/t`` to
``rt/t``; rmw_cyclonedds matches endpoints by that type name and serializes plain (XCDR1)
CDR. These structs keep each ``.msg`` file's field order and types (``uint8[]`` is
``sequence<uint8>``, ``byte`` is ``octet``, ``string`` is unbounded), are ``final`` (the
default extensibility, encoded as XCDR1 like rmw_cyclonedds does) and have defaults for
every field, so ``JointState_()`` builds an empty message just as rclpy's classes do.

Message constants (``DiagnosticStatus.OK`` ...) are not part of the wire type; they are
constants of :mod:`hardware.ros.messages`.

The ``data`` of images is declared ``sequence<uint8>`` but carried as ``bytes`` in Python:
cyclonedds-python would otherwise move every pixel through a Python int (tens of ms per
VGA frame). :func:`_carry_bytes` swaps in cyclonedds' ``bytes`` codec, whose encoding
(4-byte aligned uint32 length, then the octets) is the same CDR; the declared type, and so
the type information sent in discovery, is unchanged. The tests check byte equality.
"""

# No ``from __future__ import annotations``: cyclonedds resolves the field annotations at
# run time and needs them as objects, not strings.
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cyclonedds.idl as idl
import cyclonedds.idl.annotations as annotate
import cyclonedds.idl.types as types

if TYPE_CHECKING:
    # ``types.sequence[T]`` is ``Annotated[typing.Sequence[T], sequence(T)]`` at run time, but
    # mypy only sees the plain class unless cyclonedds' mypy plugin is loaded; this is the
    # type that plugin gives it. At run time the annotations stay cyclonedds' own.
    from collections.abc import Sequence as sequence
else:
    from cyclonedds.idl.types import sequence

log = logging.getLogger(__name__)

# --- builtin_interfaces ---------------------------------------------------------------------


@dataclass
@annotate.final
class Time_(idl.IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: types.int32 = 0
    nanosec: types.uint32 = 0


@dataclass
@annotate.final
class Duration_(idl.IdlStruct, typename="builtin_interfaces::msg::dds_::Duration_"):
    sec: types.int32 = 0
    nanosec: types.uint32 = 0


# --- std_msgs -------------------------------------------------------------------------------


@dataclass
@annotate.final
class Header_(idl.IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time_ = field(default_factory=Time_)
    frame_id: str = ""


@dataclass
@annotate.final
class Bool_(idl.IdlStruct, typename="std_msgs::msg::dds_::Bool_"):
    data: bool = False


@dataclass
@annotate.final
class MultiArrayDimension_(idl.IdlStruct, typename="std_msgs::msg::dds_::MultiArrayDimension_"):
    label: str = ""
    size: types.uint32 = 0
    stride: types.uint32 = 0


@dataclass
@annotate.final
class MultiArrayLayout_(idl.IdlStruct, typename="std_msgs::msg::dds_::MultiArrayLayout_"):
    dim: sequence[MultiArrayDimension_] = field(default_factory=list)
    data_offset: types.uint32 = 0


@dataclass
@annotate.final
class Float64MultiArray_(idl.IdlStruct, typename="std_msgs::msg::dds_::Float64MultiArray_"):
    layout: MultiArrayLayout_ = field(default_factory=MultiArrayLayout_)
    data: sequence[types.float64] = field(default_factory=list)


# --- sensor_msgs ----------------------------------------------------------------------------


@dataclass
@annotate.final
class JointState_(idl.IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    header: Header_ = field(default_factory=Header_)
    name: sequence[str] = field(default_factory=list)
    position: sequence[types.float64] = field(default_factory=list)
    velocity: sequence[types.float64] = field(default_factory=list)
    effort: sequence[types.float64] = field(default_factory=list)


@dataclass
@annotate.final
class Image_(idl.IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    header: Header_ = field(default_factory=Header_)
    height: types.uint32 = 0
    width: types.uint32 = 0
    encoding: str = ""
    is_bigendian: types.uint8 = 0
    step: types.uint32 = 0
    data: sequence[types.uint8] = field(default_factory=bytes)


@dataclass
@annotate.final
class CompressedImage_(idl.IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    header: Header_ = field(default_factory=Header_)
    format: str = ""
    data: sequence[types.uint8] = field(default_factory=bytes)


# --- trajectory_msgs ------------------------------------------------------------------------


@dataclass
@annotate.final
class JointTrajectoryPoint_(
    idl.IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectoryPoint_"
):
    positions: sequence[types.float64] = field(default_factory=list)
    velocities: sequence[types.float64] = field(default_factory=list)
    accelerations: sequence[types.float64] = field(default_factory=list)
    effort: sequence[types.float64] = field(default_factory=list)
    time_from_start: Duration_ = field(default_factory=Duration_)


@dataclass
@annotate.final
class JointTrajectory_(idl.IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectory_"):
    header: Header_ = field(default_factory=Header_)
    joint_names: sequence[str] = field(default_factory=list)
    points: sequence[JointTrajectoryPoint_] = field(default_factory=list)


# --- diagnostic_msgs ------------------------------------------------------------------------


@dataclass
@annotate.final
class KeyValue_(idl.IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    key: str = ""
    value: str = ""


@dataclass
@annotate.final
class DiagnosticStatus_(idl.IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    level: types.byte = 0
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: sequence[KeyValue_] = field(default_factory=list)


@dataclass
@annotate.final
class DiagnosticArray_(idl.IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticArray_"):
    header: Header_ = field(default_factory=Header_)
    status: sequence[DiagnosticStatus_] = field(default_factory=list)


def _carry_bytes(cls, member: str) -> bool:
    """Encodes ``cls.member`` (a ``sequence<uint8>``) from and to ``bytes``; see module doc.

    Returns whether the codec was swapped; if cyclonedds' internals ever differ from what
    this expects, the standard (slow, equally correct) codec stays and a warning is logged.
    """
    from cyclonedds.idl._machinery import (
        BytesMachine,
        PlainCdrV2SequenceOfPrimitiveMachine,
        StructMachine,
    )

    cls.__idl__.populate()
    machines = [cls.__idl__.v1_machine, cls.__idl__.v2_machine]
    ok = all(
        isinstance(m, StructMachine)
        and isinstance(m.members_machines.get(member), PlainCdrV2SequenceOfPrimitiveMachine)
        and m.members_machines[member].code == "B"
        for m in machines
    )
    if not ok:
        log.warning("cyclonedds internals changed: %s.%s uses the generic codec", cls, member)
        return False
    for m in machines:
        m.members_machines[member] = BytesMachine()
    return True


FAST_IMAGE_CODEC = _carry_bytes(Image_, "data") and _carry_bytes(CompressedImage_, "data")

#: Every message type here, by ROS 2 name.
ROS_TYPES = {
    "builtin_interfaces/msg/Time": Time_,
    "builtin_interfaces/msg/Duration": Duration_,
    "std_msgs/msg/Header": Header_,
    "std_msgs/msg/Bool": Bool_,
    "std_msgs/msg/MultiArrayDimension": MultiArrayDimension_,
    "std_msgs/msg/MultiArrayLayout": MultiArrayLayout_,
    "std_msgs/msg/Float64MultiArray": Float64MultiArray_,
    "sensor_msgs/msg/JointState": JointState_,
    "sensor_msgs/msg/Image": Image_,
    "sensor_msgs/msg/CompressedImage": CompressedImage_,
    "trajectory_msgs/msg/JointTrajectoryPoint": JointTrajectoryPoint_,
    "trajectory_msgs/msg/JointTrajectory": JointTrajectory_,
    "diagnostic_msgs/msg/KeyValue": KeyValue_,
    "diagnostic_msgs/msg/DiagnosticStatus": DiagnosticStatus_,
    "diagnostic_msgs/msg/DiagnosticArray": DiagnosticArray_,
}


def dds_type_name(ros_type: str) -> str:
    """``"sensor_msgs/msg/JointState"`` -> ``"sensor_msgs::msg::dds_::JointState_"``."""
    pkg, kind, name = ros_type.split("/")
    return f"{pkg}::{kind}::dds_::{name}_"
