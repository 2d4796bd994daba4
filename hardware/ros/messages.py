"""Conversions between ROS 2 messages and the bridge's samples, as pure functions.

The readers use attribute access only (``msg.header.stamp.sec``, ``msg.name``, ...), so the
same functions read rclpy messages and the Cyclone DDS structs of :mod:`hardware.ros.idl`. The
writers build messages from a :class:`MessageTypes` namespace: :func:`dds_types` here, one
made from the rclpy packages in the rclpy node.

Every reader validates what a driver or a broken sender could get wrong and raises
:class:`~hardware.core.errors.MessageError` saying what and what is allowed.
"""

from __future__ import annotations

import array
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from hardware.core.errors import MessageError
from hardware.core.samples import ImageSample, JointStateSample

#: Largest accepted image side; a bigger header is a corrupt or hostile message.
MAX_IMAGE_SIDE = 8192
#: Largest accepted compressed payload, bytes.
MAX_COMPRESSED_BYTES = 64 * 1024 * 1024

# encoding -> (channels, bytes per channel)
IMAGE_ENCODINGS = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "16UC1": (1, 2),
    "mono16": (1, 2),
}


@dataclass(frozen=True)
class MessageTypes:
    """The message classes writers build; rclpy's or the DDS structs'.

    ``byte`` converts an int to the Python value of a ``byte`` field (an int for the DDS
    structs, a length-1 ``bytes`` for rclpy).
    """

    Time: type
    Duration: type
    Header: type
    Bool: type
    Float64MultiArray: type
    JointState: type
    Image: type
    CompressedImage: type
    JointTrajectory: type
    JointTrajectoryPoint: type
    DiagnosticArray: type
    DiagnosticStatus: type
    KeyValue: type
    byte: Callable[[int], Any] = int


@functools.cache
def dds_types() -> MessageTypes:
    """The Cyclone DDS structs of :mod:`hardware.ros.idl` (imported on first use, so that the
    conversions, and the rclpy node using them, do not need cyclonedds)."""
    from hardware.ros import idl

    return MessageTypes(
        Time=idl.Time_,
        Duration=idl.Duration_,
        Header=idl.Header_,
        Bool=idl.Bool_,
        Float64MultiArray=idl.Float64MultiArray_,
        JointState=idl.JointState_,
        Image=idl.Image_,
        CompressedImage=idl.CompressedImage_,
        JointTrajectory=idl.JointTrajectory_,
        JointTrajectoryPoint=idl.JointTrajectoryPoint_,
        DiagnosticArray=idl.DiagnosticArray_,
        DiagnosticStatus=idl.DiagnosticStatus_,
        KeyValue=idl.KeyValue_,
    )


#: ``diagnostic_msgs/DiagnosticStatus`` levels (``byte`` constants of the .msg file).
DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE = 0, 1, 2, 3


# --- time -----------------------------------------------------------------------------------


def stamp_to_seconds(stamp, *, allow_zero: bool = False) -> float:
    """A ``builtin_interfaces/Time`` (or ``Duration``) in seconds.

    Raises:
        MessageError: for a missing or non-integer ``sec`` or ``nanosec``, ``nanosec``
            outside [0, 1e9), a negative time, or a zero (unset) stamp unless ``allow_zero``.
    """
    try:
        sec, nsec = int(stamp.sec), int(stamp.nanosec)
    except (AttributeError, TypeError, ValueError, OverflowError) as e:
        raise MessageError(
            f"stamp is not a builtin_interfaces/Time with integer sec and nanosec ({e})"
        ) from None
    if not 0 <= nsec < 1_000_000_000:
        raise MessageError(f"stamp nanosec {nsec} outside [0, 1e9)")
    if sec < 0:
        raise MessageError(f"negative stamp {sec} s")
    if sec == 0 and nsec == 0 and not allow_zero:
        raise MessageError("header stamp is zero (unset); every sample must be stamped")
    return sec + nsec * 1e-9


def seconds_to_stamp(t: float, cls: type | None = None):
    """Seconds (>= 0, finite) as a ``cls`` (default: the DDS ``Time``) with ``sec`` and
    ``nanosec``, nanoseconds rounded."""
    cls = cls or dds_types().Time
    if not (math.isfinite(t) and 0 <= t < 2**31):
        raise ValueError(f"time {t!r} is not representable as a ROS 2 stamp")
    ns = int(round(t * 1e9))
    out = cls()
    out.sec, out.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
    return out


def _header(types: MessageTypes, stamp: float, frame_id: str = ""):
    h = types.Header()
    h.stamp = seconds_to_stamp(stamp, types.Time)
    h.frame_id = frame_id
    return h


# --- arrays and names -----------------------------------------------------------------------


@overload
def _float_array(
    what: str, values, n: int, *, allow_empty: Literal[False], finite: bool = True
) -> np.ndarray: ...
@overload
def _float_array(
    what: str, values, n: int, *, allow_empty: bool, finite: bool = True
) -> np.ndarray | None: ...
def _float_array(
    what: str, values, n: int, *, allow_empty: bool, finite: bool = True
) -> np.ndarray | None:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise MessageError(f"{what}: not a sequence of numbers ({e})") from e
    if a.ndim != 1:
        raise MessageError(f"{what}: expected a 1-D sequence, got shape {a.shape}")
    if a.size == 0 and allow_empty:
        return None
    if a.size != n:
        raise MessageError(f"{what}: {a.size} values for {n} joint names")
    if finite and not np.isfinite(a).all():
        raise MessageError(f"{what}: contains NaN or inf: {a.tolist()}")
    return a


def map_names(
    what: str,
    got: Sequence,
    required: Sequence[str],
    optional: Sequence[str] = (),
    *,
    ignore_unknown: bool = False,
):
    """Indices into ``got`` of ``required`` then of the ``optional`` names present.

    Args:
        ignore_unknown: Skip names neither required nor optional instead of refusing them.

    Raises:
        MessageError: for names that are not a sequence (None, a bare string), non-str,
            duplicate or missing names, and unknown ones unless ``ignore_unknown``.
    """
    # A hand-built or half-filled message may carry None (or one string) where a list of
    # names belongs; list() would raise TypeError (or split the string into letters).
    if isinstance(got, str | bytes):
        raise MessageError(f"{what}: joint names must be a sequence of strings, got {got!r}")
    try:
        got = list(got)
    except TypeError:
        raise MessageError(
            f"{what}: joint names must be a sequence of strings, got {got!r}"
        ) from None
    if not all(isinstance(g, str) for g in got):
        raise MessageError(f"{what}: joint names must be strings, got {got!r}")
    dup = sorted({g for g in got if got.count(g) > 1})
    if dup:
        raise MessageError(f"{what}: duplicate joint names {dup}")
    allowed = set(required) | set(optional)
    unknown = [g for g in got if g not in allowed]
    if unknown and not ignore_unknown:
        raise MessageError(f"{what}: unknown joints {unknown}; expected {list(allowed)}")
    missing = [r for r in required if r not in got]
    if missing:
        raise MessageError(f"{what}: missing joints {missing}")
    present = [o for o in optional if o in got]
    return [got.index(n) for n in list(required) + present], tuple(required) + tuple(present)


# --- sensor_msgs/JointState -----------------------------------------------------------------


def joint_state_from_msg(msg, names: Sequence[str], optional: Sequence[str] = ()):
    """A :class:`JointStateSample` for ``names`` (all required) plus any ``optional`` ones.

    The message may list the joints in any order; an empty ``velocity`` is allowed (None).
    Joints it names beyond those are ignored: ``joint_state_publisher`` re-publishes every
    movable URDF joint (ros/joint_state_publisher ``joint_state_publisher.py``, mimic and
    gripper joints included), so a whole-message refusal would drop every state of an arm
    with, say, its gripper loaded. Every array must still hold one value per name, but
    only the joints returned must be finite.

    Raises:
        MessageError: for names that are not a list of strings (None included), missing or
            duplicate names, length mismatches, non-finite values or a bad or missing stamp.
    """
    idx, order = map_names("JointState", msg.name, names, optional, ignore_unknown=True)
    n = len(msg.name)
    arrays = {
        key: _float_array(
            f"JointState.{key}", getattr(msg, key), n, allow_empty=empty, finite=False
        )
        for key, empty in (("position", False), ("velocity", True), ("effort", True))
    }
    # Only the joints used must be finite: xarm_ros2's gripper states carry NaN velocities
    # (xarm_api/src/xarm_driver.cpp), which joint_state_publisher passes on in /joint_states.
    for key, a in arrays.items():
        if a is not None and not np.isfinite(a[idx]).all():
            raise MessageError(f"JointState.{key}: contains NaN or inf: {a[idx].tolist()}")
    pos, vel = arrays["position"], arrays["velocity"]
    assert pos is not None  # allow_empty=False
    return JointStateSample(
        stamp=stamp_to_seconds(getattr(getattr(msg, "header", None), "stamp", None)),
        names=order,
        position=pos[idx],
        velocity=None if vel is None else vel[idx],
    )


def joint_state_msg(
    stamp: float,
    names: Sequence[str],
    position,
    velocity=None,
    frame_id: str = "",
    types: MessageTypes | None = None,
):
    """A ``sensor_msgs/JointState``."""
    types = types or dds_types()
    m = types.JointState()
    m.header = _header(types, stamp, frame_id)
    m.name = list(names)
    m.position = [float(v) for v in position]
    m.velocity = [] if velocity is None else [float(v) for v in velocity]
    m.effort = []
    return m


# --- sensor_msgs/Image and CompressedImage --------------------------------------------------


def _as_uint8(what: str, data) -> np.ndarray:
    # bytes from the DDS structs, array.array('B') from rclpy: both without a copy.
    if isinstance(data, bytes | bytearray | memoryview | array.array):
        view = memoryview(data)
        if view.itemsize == 1:
            return np.frombuffer(view.cast("B"), dtype=np.uint8)
    a = np.asarray(data)
    if a.ndim != 1 or a.dtype.kind not in "iu" or (a.size and (a.min() < 0 or a.max() > 255)):
        raise MessageError(f"{what}: data must be bytes (uint8[]), got {a.dtype} {a.shape}")
    return a.astype(np.uint8, copy=False)


def image_from_msg(msg) -> ImageSample:
    """Decodes a ``sensor_msgs/Image`` to RGB uint8 ``(H, W, 3)`` or depth uint16 ``(H, W)``.

    rgb8, bgr8, rgba8, bgra8 and mono8 become RGB (alpha dropped, mono repeated); 16UC1 and
    mono16 become uint16 depth, honouring ``is_bigendian``. Row padding (``step`` larger
    than a row) is stripped.

    Raises:
        MessageError: for an unknown encoding, a zero or huge size, ``step`` shorter than a
            row, or a data buffer whose length is not ``step * height``.
    """
    enc = str(msg.encoding)
    if enc not in IMAGE_ENCODINGS:
        raise MessageError(f"Image encoding {enc!r} not handled; valid: {list(IMAGE_ENCODINGS)}")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if not (0 < h <= MAX_IMAGE_SIDE and 0 < w <= MAX_IMAGE_SIDE):
        raise MessageError(f"Image size {w}x{h} outside 1..{MAX_IMAGE_SIDE}")
    ch, size = IMAGE_ENCODINGS[enc]
    row = w * ch * size
    if step < row:
        raise MessageError(f"Image step {step} < width * bytes per pixel = {row} ({enc})")
    data = _as_uint8("Image", msg.data)
    if data.size != step * h:
        raise MessageError(
            f"Image data has {data.size} bytes, expected step * height = {step} * {h} = {step * h}"
        )
    rows = data.reshape(h, step)[:, :row]
    if size == 2:
        dt = np.dtype(">u2" if int(msg.is_bigendian) else "<u2")
        depth = np.ascontiguousarray(rows).view(dt).reshape(h, w).astype(np.uint16)
        return ImageSample(stamp_to_seconds(msg.header.stamp), depth, enc, msg.header.frame_id)
    px = rows.reshape(h, w, ch)
    if enc == "rgb8":
        rgb = px
    elif enc == "bgr8":
        rgb = px[:, :, ::-1]
    elif enc == "rgba8":
        rgb = px[:, :, :3]
    elif enc == "bgra8":
        rgb = px[:, :, 2::-1]
    else:  # mono8
        rgb = np.repeat(px, 3, axis=2)
    return ImageSample(
        stamp_to_seconds(msg.header.stamp),
        np.ascontiguousarray(rgb),
        enc,
        msg.header.frame_id,
    )


def image_msg(
    stamp: float,
    image: np.ndarray,
    encoding: str = "rgb8",
    frame_id: str = "",
    types: MessageTypes | None = None,
):
    """A ``sensor_msgs/Image`` from uint8 ``(H, W, 3)`` (rgb8/bgr8), ``(H, W)`` (mono8) or
    uint16 ``(H, W)`` (16UC1, little endian), rows unpadded.

    Raises:
        ValueError: if the array does not fit ``encoding``.
    """
    a = np.ascontiguousarray(image)
    want = {
        "rgb8": (np.uint8, 3),
        "bgr8": (np.uint8, 3),
        "mono8": (np.uint8, 2),
        "16UC1": (np.uint16, 2),
    }
    if encoding not in want:
        raise ValueError(f"image_msg encodes {list(want)}, not {encoding!r}")
    dtype, ndim = want[encoding]
    if a.dtype != dtype or a.ndim != ndim or (ndim == 3 and a.shape[2] != 3):
        raise ValueError(
            f"{encoding} needs a {dtype.__name__} array of rank {ndim}, got {a.dtype} {a.shape}"
        )
    types = types or dds_types()
    m = types.Image()
    m.header = _header(types, stamp, frame_id)
    m.height, m.width = a.shape[0], a.shape[1]
    m.encoding = encoding
    m.is_bigendian = 0
    m.step = a.shape[1] * a.itemsize * (3 if ndim == 3 else 1)
    m.data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    return m


def compressed_image_from_msg(msg) -> ImageSample:
    """Decodes a ``sensor_msgs/CompressedImage`` (JPEG or PNG, via OpenCV) to RGB uint8.

    Raises:
        MessageError: for a depth stream (``compressedDepth``), an empty or oversized
            payload, or bytes OpenCV cannot decode.
    """
    import cv2

    fmt = str(msg.format)
    if "compresseddepth" in fmt.lower():
        raise MessageError(f"CompressedImage format {fmt!r} is a depth stream; not handled")
    data = _as_uint8("CompressedImage", msg.data)
    if not 0 < data.size <= MAX_COMPRESSED_BYTES:
        raise MessageError(f"CompressedImage payload of {data.size} bytes")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise MessageError(f"CompressedImage ({fmt!r}, {data.size} bytes) could not be decoded")
    return ImageSample(
        stamp_to_seconds(msg.header.stamp),
        np.ascontiguousarray(bgr[:, :, ::-1]),
        fmt,
        msg.header.frame_id,
    )


def compressed_image_msg(
    stamp: float,
    image_rgb: np.ndarray,
    fmt: str = "jpeg",
    quality: int = 90,
    frame_id: str = "",
    types: MessageTypes | None = None,
):
    """A ``sensor_msgs/CompressedImage`` (image_transport's ``rgb8; <fmt> compressed bgr8``)."""
    import cv2

    ext = {"jpeg": ".jpg", "png": ".png"}
    if fmt not in ext:
        raise ValueError(f"compressed format {fmt!r}; valid: {list(ext)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else []
    ok, buf = cv2.imencode(ext[fmt], np.ascontiguousarray(image_rgb[:, :, ::-1]), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image_rgb.shape} image as {fmt}")
    types = types or dds_types()
    m = types.CompressedImage()
    m.header = _header(types, stamp, frame_id)
    m.format = f"rgb8; {fmt} compressed bgr8"
    m.data = buf.tobytes()
    return m


# --- commands: trajectory_msgs/JointTrajectory, std_msgs/Float64MultiArray ------------------


@dataclass(frozen=True)
class TrajectoryCommand:
    """A received joint trajectory, in the receiver's joint order.

    Attributes:
        times: float64 ``(k,)`` time from start of each point, seconds, increasing.
        positions: float64 ``(k, n)`` position targets.
    """

    times: np.ndarray
    positions: np.ndarray


def joint_trajectory_msg(
    names: Sequence[str],
    positions,
    time_from_start: float,
    stamp: float = 0.0,
    types: MessageTypes | None = None,
):
    """A one-point ``trajectory_msgs/JointTrajectory``.

    A zero ``stamp`` means "start now" to a joint_trajectory_controller, which is what a
    streaming bridge wants: the controller interpolates from its current state to the point
    over ``time_from_start``.
    """
    types = types or dds_types()
    m = types.JointTrajectory()
    m.header = types.Header()
    m.header.stamp = seconds_to_stamp(stamp, types.Time)
    m.joint_names = list(names)
    p = types.JointTrajectoryPoint()
    p.positions = [float(v) for v in positions]
    p.time_from_start = seconds_to_stamp(time_from_start, types.Duration)
    m.points = [p]
    return m


def joint_trajectory_from_msg(msg, names: Sequence[str]) -> TrajectoryCommand:
    """The points of a ``JointTrajectory`` for joints ``names`` (sent in any order).

    Raises:
        MessageError: for bad names, no points, wrong lengths, non-finite positions or
            times that do not increase.
    """
    idx, _ = map_names("JointTrajectory", msg.joint_names, names)
    n = len(msg.joint_names)
    if not len(msg.points):
        raise MessageError("JointTrajectory has no points")
    times, rows = [], []
    for i, p in enumerate(msg.points):
        pos = _float_array(
            f"JointTrajectory.points[{i}].positions", p.positions, n, allow_empty=False
        )
        rows.append(pos[idx])
        times.append(stamp_to_seconds(p.time_from_start, allow_zero=True))
    t = np.asarray(times)
    if (np.diff(t) <= 0).any():
        raise MessageError(f"JointTrajectory time_from_start must increase, got {t.tolist()}")
    return TrajectoryCommand(times=t, positions=np.asarray(rows))


def float64_multi_array_msg(values, types: MessageTypes | None = None):
    """A ``std_msgs/Float64MultiArray`` with an empty layout, as forward controllers expect."""
    types = types or dds_types()
    m = types.Float64MultiArray()
    m.data = [float(v) for v in values]
    return m


def float64_multi_array_from_msg(msg, n: int) -> np.ndarray:
    """The ``n`` finite values of a ``Float64MultiArray`` command.

    Raises:
        MessageError: for a different length or non-finite values.
    """
    return _float_array("Float64MultiArray.data", msg.data, n, allow_empty=False)


# --- std_msgs/Bool, diagnostic_msgs/DiagnosticArray -----------------------------------------


def bool_msg(value: bool, types: MessageTypes | None = None):
    types = types or dds_types()
    m = types.Bool()
    m.data = bool(value)
    return m


def bool_from_msg(msg) -> bool:
    return bool(msg.data)


@dataclass(frozen=True)
class DiagnosticEntry:
    """One ``diagnostic_msgs/DiagnosticStatus``, with ``level`` as an int (OK=0 .. STALE=3)."""

    name: str
    level: int
    message: str = ""
    hardware_id: str = ""
    values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in (DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE):
            raise ValueError(
                f"diagnostic level {self.level!r}; valid: 0 OK, 1 WARN, 2 ERROR, 3 STALE"
            )


def diagnostic_array_msg(
    stamp: float, entries: Sequence[DiagnosticEntry], types: MessageTypes | None = None
):
    """A ``diagnostic_msgs/DiagnosticArray``."""
    types = types or dds_types()
    m = types.DiagnosticArray()
    m.header = _header(types, stamp)
    out = []
    for e in entries:
        s = types.DiagnosticStatus()
        s.level = types.byte(e.level)
        s.name, s.message, s.hardware_id = e.name, e.message, e.hardware_id
        kvs = []
        for k, v in e.values.items():
            kv = types.KeyValue()
            kv.key, kv.value = str(k), str(v)
            kvs.append(kv)
        s.values = kvs
        out.append(s)
    m.status = out
    return m


def diagnostics_from_msg(msg) -> list[DiagnosticEntry]:
    """The entries of a ``DiagnosticArray`` (rclpy's ``bytes`` levels read as ints)."""
    out = []
    for s in msg.status:
        level = s.level
        level = int.from_bytes(level, "little") if isinstance(level, bytes) else int(level)
        try:
            out.append(
                DiagnosticEntry(
                    s.name, level, s.message, s.hardware_id, {kv.key: kv.value for kv in s.values}
                )
            )
        except ValueError as e:
            raise MessageError(str(e)) from e
    return out
