"""Message conversions, checked through Cyclone DDS serialization (the ROS 2 wire format)."""

import struct
from dataclasses import dataclass, field

import cyclonedds.idl as cidl
import cyclonedds.idl.annotations as annotate
import cyclonedds.idl.types as types
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.core.errors import MessageError
from hardware.ros import idl, messages

ARM = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGERS = ("panda_finger_joint1", "panda_finger_joint2")


def wire(msg):
    """The message after a trip through its CDR encoding, as a DDS reader would get it."""
    return type(msg).deserialize(msg.serialize())


# --- the DDS types themselves ---------------------------------------------------------------


def test_type_names_are_ros2_dds_names():
    for ros_name, cls in idl.ROS_TYPES.items():
        assert cls.__idl_typename__.replace(".", "::") == idl.dds_type_name(ros_name)
    assert idl.dds_type_name("sensor_msgs/msg/JointState") == "sensor_msgs::msg::dds_::JointState_"


def test_field_order_matches_ros2_msg_files():
    def fields(cls):
        return list(cls.__dataclass_fields__)

    assert fields(idl.JointState_) == ["header", "name", "position", "velocity", "effort"]
    assert fields(idl.Image_) == [
        "header",
        "height",
        "width",
        "encoding",
        "is_bigendian",
        "step",
        "data",
    ]
    assert fields(idl.CompressedImage_) == ["header", "format", "data"]
    assert fields(idl.JointTrajectory_) == ["header", "joint_names", "points"]
    assert fields(idl.JointTrajectoryPoint_) == [
        "positions",
        "velocities",
        "accelerations",
        "effort",
        "time_from_start",
    ]
    assert fields(idl.Float64MultiArray_) == ["layout", "data"]
    assert fields(idl.DiagnosticStatus_) == ["level", "name", "message", "hardware_id", "values"]
    assert fields(idl.Time_) == ["sec", "nanosec"]


def test_encoding_is_plain_cdr_little_endian_like_rmw_cyclonedds():
    b = idl.Time_(sec=3, nanosec=7).serialize()
    assert b[:4] == b"\x00\x01\x00\x00"  # CDR_LE encapsulation, XCDR1
    assert struct.unpack("<iI", b[4:]) == (3, 7)
    h = idl.Header_(stamp=idl.Time_(1, 2), frame_id="ab").serialize()
    # stamp (8 bytes), then string: uint32 length incl. NUL, chars, NUL
    assert h[4:] == struct.pack("<iII", 1, 2, 3) + b"ab\x00"


@dataclass
@annotate.final
class _GenericImage(cidl.IdlStruct, typename="test::GenericImage_"):
    """Image_'s layout with cyclonedds' generic codec, to check the fast one against."""

    header: idl.Header_ = field(default_factory=idl.Header_)
    height: types.uint32 = 0
    width: types.uint32 = 0
    encoding: str = ""
    is_bigendian: types.uint8 = 0
    step: types.uint32 = 0
    data: types.sequence[types.uint8] = field(default_factory=list)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 21168])
def test_fast_image_codec_is_byte_identical_to_the_generic_one(n):
    assert idl.FAST_IMAGE_CODEC
    data = bytes(np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8))
    head = dict(header=idl.Header_(idl.Time_(5, 6), "cam"), height=1, width=n, encoding="mono8")
    fast = idl.Image_(**head, step=n, data=data).serialize()
    generic = _GenericImage(**head, step=n, data=list(data)).serialize()
    assert fast == generic
    back = idl.Image_.deserialize(generic)
    assert bytes(back.data) == data and back.encoding == "mono8"


def test_every_type_round_trips_through_cdr():
    msgs = [
        messages.joint_state_msg(12.5, ARM, np.arange(7.0), np.ones(7)),
        messages.image_msg(1.0, np.zeros((2, 3, 3), np.uint8)),
        messages.joint_trajectory_msg(ARM, np.arange(7.0), 0.05),
        messages.float64_multi_array_msg([1.0, 2.0]),
        messages.bool_msg(True),
        messages.diagnostic_array_msg(
            3.0, [messages.DiagnosticEntry("b", 2, "m", "hw", {"k": "v"})]
        ),
        messages.compressed_image_msg(2.0, np.zeros((8, 8, 3), np.uint8), "png"),
    ]
    for m in msgs:
        assert wire(m) == m


# --- time -----------------------------------------------------------------------------------


@given(st.floats(0, 2**31 - 1, allow_nan=False))
def test_stamp_round_trip_is_within_a_nanosecond_and_normalized(t):
    s = wire(messages.seconds_to_stamp(t))
    assert 0 <= s.nanosec < 1_000_000_000
    assert abs(messages.stamp_to_seconds(s, allow_zero=True) - t) <= 1e-9 * max(1.0, t) + 1e-9


def test_bad_stamps_are_refused():
    with pytest.raises(MessageError, match="nanosec"):
        messages.stamp_to_seconds(idl.Time_(1, 1_000_000_000))
    with pytest.raises(MessageError, match="zero"):
        messages.stamp_to_seconds(idl.Time_(0, 0))
    with pytest.raises(MessageError, match="negative"):
        messages.stamp_to_seconds(idl.Time_(-1, 0))
    with pytest.raises(ValueError):
        messages.seconds_to_stamp(float("nan"))


# --- JointState -----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.permutations(ARM + FINGERS), st.data())
def test_joint_state_maps_by_name_in_any_order(order, data):
    values = data.draw(st.lists(st.floats(-3, 3), min_size=9, max_size=9))
    vel = data.draw(st.one_of(st.just(None), st.lists(st.floats(-2, 2), min_size=9, max_size=9)))
    msg = wire(messages.joint_state_msg(7.25, order, values, vel))
    s = messages.joint_state_from_msg(msg, ARM, FINGERS)
    assert s.names == ARM + FINGERS and s.stamp == pytest.approx(7.25)
    expect = dict(zip(order, values))
    assert s.position.tolist() == [expect[n] for n in ARM + FINGERS]
    if vel is None:
        assert s.velocity is None
    else:
        assert s.velocity.tolist() == [dict(zip(order, vel))[n] for n in ARM + FINGERS]


def test_joints_we_do_not_know_are_ignored_and_known_ones_still_required():
    # joint_state_publisher re-publishes every movable URDF joint: an xArm's /joint_states
    # with its gripper loaded carries the gripper's joints (and their NaN velocities, from
    # xarm_api's gripper states) beside joint1..6.
    xarm = tuple(f"joint{i}" for i in range(1, 7))
    grip = ("drive_joint", "left_finger_joint", "right_outer_knuckle_joint")
    names = grip[:1] + xarm[::-1] + grip[1:]
    pos = [0.3] + list(np.arange(6.0)) + [0.3, 0.3]
    vel = [float("nan")] + [0.1] * 6 + [float("nan")] * 2
    m = idl.JointState_(
        header=idl.Header_(idl.Time_(2, 0)), name=list(names), position=pos, velocity=vel
    )
    s = messages.joint_state_from_msg(wire(m), xarm)
    assert s.names == xarm and s.position.tolist() == list(np.arange(6.0)[::-1])
    assert s.velocity.tolist() == [0.1] * 6
    # The Panda with its hand: fingers known (optional), a mimic joint not.
    m = messages.joint_state_msg(1.0, ARM + FINGERS + ("panda_hand_tcp_joint",), [0.0] * 10)
    assert messages.joint_state_from_msg(wire(m), ARM, FINGERS).names == ARM + FINGERS
    # A gripper-only message is still not an arm state.
    with pytest.raises(MessageError, match="missing joints"):
        messages.joint_state_from_msg(wire(messages.joint_state_msg(1.0, grip, [0.0] * 3)), xarm)


def test_optional_joints_may_be_absent():
    s = messages.joint_state_from_msg(
        wire(messages.joint_state_msg(1.0, ARM[::-1], np.arange(7.0))), ARM, FINGERS
    )
    assert s.names == ARM and s.position.tolist() == list(np.arange(7.0)[::-1])


@pytest.mark.parametrize(
    "names, position, velocity, match",
    [
        (ARM[:6], [0.0] * 6, [], "missing joints"),
        (ARM[:6] + ("elbow",), [0.0] * 7, [], "missing joints"),
        (ARM + ("elbow",), [0.0] * 7, [], "7 values for 8"),
        (ARM + ("elbow",), [0.0] * 8, [0.0] * 6 + [float("nan"), 0.0], "velocity: contains NaN"),
        (ARM[:6] + ARM[:1], [0.0] * 7, [], "duplicate"),
        (ARM, [0.0] * 6, [], "6 values for 7"),
        (ARM, [0.0] * 6 + [float("nan")], [], "NaN or inf"),
        (ARM, [0.0] * 6 + [float("inf")], [], "NaN or inf"),
        (ARM, [0.0] * 7, [0.0] * 3, "velocity: 3 values"),
    ],
)
def test_malformed_joint_states_are_refused(names, position, velocity, match):
    m = idl.JointState_(
        header=idl.Header_(idl.Time_(1, 0)), name=list(names), position=position, velocity=velocity
    )
    with pytest.raises(MessageError, match=match):
        messages.joint_state_from_msg(wire(m), ARM, FINGERS)


def _hand_built_joint_state(**fields):
    """A JointState as a node might build it by hand (no serialization to catch bad types)."""
    m = idl.JointState_(
        header=idl.Header_(idl.Time_(1, 0)), name=list(ARM), position=[0.0] * 7, velocity=[]
    )
    for key, value in fields.items():
        setattr(m, key, value)
    return m


@pytest.mark.parametrize(
    "fields, match",
    [
        # Issue 15: name=None raised TypeError from list(None), past every except clause.
        ({"name": None}, "joint names must be a sequence of strings, got None"),
        ({"name": 7}, "joint names must be a sequence of strings, got 7"),
        ({"name": "panda_joint1"}, "joint names must be a sequence of strings"),
        ({"name": b"panda_joint1"}, "joint names must be a sequence of strings"),
        ({"name": [*ARM[:6], None]}, "joint names must be strings"),
        ({"header": None}, "stamp is not a builtin_interfaces/Time"),
        ({"header": idl.Header_(None)}, "stamp is not a builtin_interfaces/Time"),
        ({"header": idl.Header_(idl.Time_(None, 0))}, "stamp is not a builtin_interfaces/Time"),
        ({"position": None}, "JointState.position: expected a 1-D sequence"),
    ],
)
def test_hand_built_joint_states_with_wrong_types_are_a_message_error(fields, match):
    with pytest.raises(MessageError, match=match):
        messages.joint_state_from_msg(_hand_built_joint_state(**fields), ARM, FINGERS)


def test_the_rclpy_callback_rejects_a_nameless_joint_state_and_goes_on(clock):
    # The node's subscription callback, run on a real bridge without rclpy: a malformed
    # message is counted and kept as the bridge's last error, never raised into the executor.
    from types import SimpleNamespace

    from hw_helpers import hold_still, make_bridge

    from hardware.ros.rclpy_node import BridgeNode

    bridge, _ = make_bridge(clock, hold_still)
    node = SimpleNamespace(bridge=bridge)
    BridgeNode._on_joint_state(node, _hand_built_joint_state(name=None))
    assert bridge.counters.rejected_messages == 1
    assert isinstance(bridge.last_error, MessageError) and "None" in str(bridge.last_error)
    from sim.robot import PANDA

    good = _hand_built_joint_state(
        name=list(ARM + FINGERS), position=[*PANDA.home_q, 0.04, 0.04], velocity=[0.0] * 9
    )
    BridgeNode._on_joint_state(node, good)
    assert bridge.counters.rejected_messages == 1  # a good one after it is taken


# --- Image ----------------------------------------------------------------------------------


def _image(enc, arr, step=None, be=0, data=None):
    h, w = arr.shape[:2]
    row = arr[0].nbytes
    step = row if step is None else step
    rows = [arr[i].tobytes().ljust(step, b"\x00") for i in range(h)]
    return idl.Image_(
        header=idl.Header_(idl.Time_(4, 500)),
        height=h,
        width=w,
        encoding=enc,
        is_bigendian=be,
        step=step,
        data=b"".join(rows) if data is None else data,
    )


def test_color_encodings_decode_to_rgb():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    alpha = np.full((5, 7, 1), 9, np.uint8)
    cases = {
        "rgb8": rgb,
        "bgr8": rgb[:, :, ::-1],
        "rgba8": np.concatenate([rgb, alpha], 2),
        "bgra8": np.concatenate([rgb[:, :, ::-1], alpha], 2),
    }
    for enc, arr in cases.items():
        s = messages.image_from_msg(wire(_image(enc, np.ascontiguousarray(arr))))
        assert s.is_color and np.array_equal(s.image, rgb), enc
        assert s.stamp == pytest.approx(4.0000005)
    mono = rgb[:, :, 0].copy()
    s = messages.image_from_msg(wire(_image("mono8", mono)))
    assert np.array_equal(s.image, np.repeat(mono[:, :, None], 3, 2))


def test_rclpy_style_array_data_is_read_without_conversion():
    import array

    m = _image("rgb8", np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    m.data = array.array("B", bytes(m.data))  # what rclpy hands a subscriber
    assert messages.image_from_msg(m).image.reshape(-1).tolist() == list(range(12))
    m.data = list(range(12))  # cyclonedds' generic codec gives a list of ints
    assert messages.image_from_msg(m).image.reshape(-1).tolist() == list(range(12))
    m.data = [300] * 12
    with pytest.raises(MessageError, match="bytes"):
        messages.image_from_msg(m)


def test_row_padding_is_stripped():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    s = messages.image_from_msg(wire(_image("rgb8", rgb, step=16)))
    assert np.array_equal(s.image, rgb)


@pytest.mark.parametrize("be", [0, 1])
def test_16uc1_depth_is_decoded_with_its_byte_order(be):
    depth = np.array([[0, 1, 513], [65535, 1000, 7]], dtype=np.uint16)
    raw = depth.astype(">u2" if be else "<u2")
    s = messages.image_from_msg(wire(_image("16UC1", raw, be=be)))
    assert s.image.dtype == np.uint16 and np.array_equal(s.image, depth) and not s.is_color


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(encoding="yuv422"), "not handled"),
        (dict(height=0), "outside"),
        (dict(width=100_000), "outside"),
        (dict(step=8), "step 8 < width"),
        (dict(data=b"\x00" * 35), "35 bytes, expected"),
        (dict(data=b"\x00" * 37), "37 bytes, expected"),
    ],
)
def test_malformed_images_are_refused(kw, match):
    m = _image("rgb8", np.zeros((3, 4, 3), np.uint8))
    for k, v in kw.items():
        setattr(m, k, v)
    with pytest.raises(MessageError, match=match):
        messages.image_from_msg(wire(m))


@settings(max_examples=200, deadline=None)
@given(
    enc=st.sampled_from(sorted(messages.IMAGE_ENCODINGS) + ["jpeg", ""]),
    h=st.integers(0, 6),
    w=st.integers(0, 6),
    step=st.integers(0, 40),
    n=st.integers(0, 300),
)
def test_random_image_headers_either_decode_consistently_or_are_refused(enc, h, w, step, n):
    m = idl.Image_(
        header=idl.Header_(idl.Time_(1, 0)),
        height=h,
        width=w,
        encoding=enc,
        step=step,
        data=bytes(n),
    )
    try:
        s = messages.image_from_msg(wire(m))
    except MessageError:
        return
    ch, size = messages.IMAGE_ENCODINGS[enc]
    assert n == step * h and step >= w * ch * size
    assert s.image.shape[:2] == (h, w)


def test_compressed_images_decode_with_opencv():
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[:, :12] = (255, 0, 0)  # left half red
    png = wire(messages.compressed_image_msg(3.0, rgb, "png"))
    assert png.format == "rgb8; png compressed bgr8"
    assert np.array_equal(messages.compressed_image_from_msg(png).image, rgb)
    jpg = messages.compressed_image_from_msg(wire(messages.compressed_image_msg(3.0, rgb)))
    # Lossy, so compare loosely; the red stays in the R channel (BGR handled).
    assert np.abs(jpg.image.astype(int) - rgb).mean() < 8
    assert jpg.image[8, 2, 0] > 200 and jpg.image[8, 2, 2] < 50
    bad = idl.CompressedImage_(header=idl.Header_(idl.Time_(1, 0)), format="jpeg", data=b"xx")
    with pytest.raises(MessageError, match="could not be decoded"):
        messages.compressed_image_from_msg(wire(bad))
    depth = idl.CompressedImage_(idl.Header_(idl.Time_(1, 0)), "16UC1; compressedDepth", b"x")
    with pytest.raises(MessageError, match="depth"):
        messages.compressed_image_from_msg(depth)
    with pytest.raises(MessageError, match="0 bytes"):
        messages.compressed_image_from_msg(idl.CompressedImage_(idl.Header_(idl.Time_(1, 0))))


def test_image_msg_refuses_arrays_that_do_not_fit_the_encoding():
    with pytest.raises(ValueError, match="rgb8 needs"):
        messages.image_msg(1.0, np.zeros((4, 4), np.uint8), "rgb8")
    with pytest.raises(ValueError, match="encodes"):
        messages.image_msg(1.0, np.zeros((4, 4, 3), np.uint8), "yuv422")
    d = messages.image_from_msg(
        wire(messages.image_msg(1.0, np.full((2, 2), 300, np.uint16), "16UC1"))
    )
    assert (d.image == 300).all()


# --- commands -------------------------------------------------------------------------------


def test_joint_trajectory_round_trip_in_any_joint_order():
    q = np.linspace(-1, 1, 7)
    m = wire(messages.joint_trajectory_msg(ARM, q, 0.05))
    assert (m.header.stamp.sec, m.header.stamp.nanosec) == (0, 0)  # "start now"
    assert (m.points[0].time_from_start.sec, m.points[0].time_from_start.nanosec) == (0, 50_000_000)
    m.joint_names = list(ARM[::-1])
    m.points[0].positions = list(q[::-1])
    traj = messages.joint_trajectory_from_msg(wire(m), ARM)
    assert np.allclose(traj.positions[0], q) and traj.times.tolist() == [0.05]


def test_malformed_trajectories_are_refused():
    m = messages.joint_trajectory_msg(ARM, np.zeros(7), 0.05)
    m.points = []
    with pytest.raises(MessageError, match="no points"):
        messages.joint_trajectory_from_msg(m, ARM)
    m = messages.joint_trajectory_msg(ARM, np.zeros(7), 0.05)
    m.points = [m.points[0], m.points[0]]
    with pytest.raises(MessageError, match="increase"):
        messages.joint_trajectory_from_msg(m, ARM)
    m = messages.joint_trajectory_msg(ARM, [0.0] * 6 + [float("nan")], 0.05)
    with pytest.raises(MessageError, match="NaN"):
        messages.joint_trajectory_from_msg(m, ARM)
    m = messages.joint_trajectory_msg(ARM[:6], np.zeros(6), 0.05)
    with pytest.raises(MessageError, match="missing"):
        messages.joint_trajectory_from_msg(m, ARM)


def test_float64_multi_array_commands():
    m = wire(messages.float64_multi_array_msg([0.5] * 7))
    assert m.layout.dim == [] and messages.float64_multi_array_from_msg(m, 7).tolist() == [0.5] * 7
    with pytest.raises(MessageError, match="6 values for 7"):
        messages.float64_multi_array_from_msg(wire(messages.float64_multi_array_msg([0.5] * 6)), 7)


def test_diagnostics_round_trip_and_level_check():
    entries = [
        messages.DiagnosticEntry("bridge", messages.DIAG_WARN, "stale", "panda", {"holds": "3"}),
        messages.DiagnosticEntry("other", messages.DIAG_OK),
    ]
    back = messages.diagnostics_from_msg(wire(messages.diagnostic_array_msg(9.0, entries)))
    assert back == entries
    with pytest.raises(ValueError, match="diagnostic level"):
        messages.DiagnosticEntry("x", 7)
    rclpy_style = idl.DiagnosticArray_(status=[idl.DiagnosticStatus_()])
    rclpy_style.status[0].level = b"\x02"  # rclpy represents a byte field as bytes
    assert messages.diagnostics_from_msg(rclpy_style)[0].level == 2
