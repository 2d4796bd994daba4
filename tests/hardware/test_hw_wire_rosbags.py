"""An independent wire check: our Cyclone DDS types against rosbags' ROS 2 typestores.

rosbags carries its own copy of every ROS 2 message definition (from common_interfaces)
and its own CDR codec, written apart from cyclonedds. For every type in
:data:`hardware.ros.idl.ROS_TYPES` a message with a distinct value in every field (nested
structs, sequences of structs, strings, bytes) is built on both sides from one value tree,
then each side's CDR bytes (4-byte encapsulation header included) are decoded by the other
and compared field by field, for Humble and Jazzy. A field out of order, a wrong width, a
missing field or a different type name would break it.
"""

import dataclasses

import numpy as np
import pytest
import rosbags.typesys as rosbags_typesys
from rosbags.interfaces import Nodetype

from hardware.ros import idl

STORES = {"humble": rosbags_typesys.Stores.ROS2_HUMBLE, "jazzy": rosbags_typesys.Stores.ROS2_JAZZY}

# (numpy dtype, value for element k) of each base type; distinct per field via ``seed``.
_BASE = {
    "bool": (np.bool_, lambda s: bool(s % 2)),
    "byte": (np.uint8, lambda s: (37 * s + 11) % 256),
    "uint8": (np.uint8, lambda s: (53 * s + 7) % 256),
    "int32": (np.int32, lambda s: -(10**6) - 7919 * s),
    "uint32": (np.uint32, lambda s: 3 * 10**9 + 104729 * s),
    "float64": (np.float64, lambda s: -1.5e-3 * s + 1e6 / (s + 3)),
    "string": (str, lambda s: f"f{s}-\u00e9\u4e2d"),  # UTF-8 of more than one byte
}


class _Seed:
    def __init__(self):
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def _value_tree(ts, typename: str, seed: _Seed, depth: int = 0) -> dict:
    """Field name -> value (base values, lists, nested trees) for ``typename``."""
    out = {}
    for name, (kind, detail) in ts.fielddefs[typename][1]:
        if kind == Nodetype.BASE:
            out[name] = _BASE[detail[0]][1](seed())
        elif kind == Nodetype.NAME:
            out[name] = _value_tree(ts, detail, seed, depth + 1)
        elif kind == Nodetype.SEQUENCE:
            (sub_kind, sub), _ = detail
            n = 3 if depth < 2 else 1
            if sub_kind == Nodetype.BASE:
                out[name] = [_BASE[sub[0]][1](seed()) for _ in range(n)]
            else:
                out[name] = [_value_tree(ts, sub, seed, depth + 1) for _ in range(n)]
        else:  # no fixed-size arrays in our types; a new one must extend this test
            raise AssertionError(f"{typename}.{name}: node type {kind} not covered")
    return out


def _theirs(ts, typename: str, tree: dict):
    """A rosbags message from the tree (numeric sequences as numpy arrays, as rosbags does)."""
    cls = ts.types[typename]
    kwargs = {}
    for name, (kind, detail) in ts.fielddefs[typename][1]:
        v = tree[name]
        if kind == Nodetype.NAME:
            kwargs[name] = _theirs(ts, detail, v)
        elif kind == Nodetype.SEQUENCE:
            (sub_kind, sub), _ = detail
            if sub_kind == Nodetype.NAME:
                kwargs[name] = [_theirs(ts, sub, x) for x in v]
            elif sub[0] == "string":
                kwargs[name] = list(v)
            else:
                kwargs[name] = np.array(v, dtype=_BASE[sub[0]][0])
        elif detail[0] == "byte":
            kwargs[name] = _int8(v)
        else:
            kwargs[name] = v
    return cls(**kwargs)


def _int8(octet: int) -> int:
    # rosbags types ROS 2 ``byte`` as int8, cyclonedds (like the IDL: ``octet``) as 0..255;
    # one bit pattern on the wire, so each side gets it in its own convention.
    return octet - 256 if octet > 127 else octet


def _ours(ts, typename: str, tree: dict):
    """Our DDS struct from the tree (set field by field on a default instance)."""
    msg = idl.ROS_TYPES[typename]()
    for name, (kind, detail) in ts.fielddefs[typename][1]:
        v = tree[name]
        if kind == Nodetype.NAME:
            v = _ours(ts, detail, v)
        elif kind == Nodetype.SEQUENCE:
            (sub_kind, sub), _ = detail
            if sub_kind == Nodetype.NAME:
                v = [_ours(ts, sub, x) for x in v]
            elif sub[0] == "uint8" and isinstance(getattr(msg, name), bytes):
                v = bytes(v)  # image payloads are carried as bytes (hardware.ros.idl)
            else:
                v = list(v)
        setattr(msg, name, v)
    return msg


def _assert_fields(ts, typename: str, got, tree: dict, where: str) -> None:
    for name, (kind, detail) in ts.fielddefs[typename][1]:
        path = f"{where}.{name}"
        v = getattr(got, name)
        want = tree[name]
        if kind == Nodetype.NAME:
            _assert_fields(ts, detail, v, want, path)
        elif kind == Nodetype.SEQUENCE and detail[0][0] == Nodetype.NAME:
            assert len(v) == len(want), path
            for i, (a, b) in enumerate(zip(v, want)):
                _assert_fields(ts, detail[0][1], a, b, f"{path}[{i}]")
        elif kind == Nodetype.SEQUENCE:
            base = detail[0][1][0]
            if base == "string":
                assert list(v) == want, path
            else:
                a = np.frombuffer(v, np.uint8) if isinstance(v, bytes) else np.asarray(v)
                np.testing.assert_array_equal(a, np.array(want, dtype=_BASE[base][0]), path)
        elif kind == Nodetype.BASE and detail[0] == "byte":
            assert v & 0xFF == want, f"{path}: octet {v & 0xFF:#x} != {want:#x}"
        else:
            assert v == want, f"{path}: {v!r} != {want!r}"


def _types():
    return sorted(idl.ROS_TYPES)


@pytest.mark.parametrize("distro", sorted(STORES))
def test_every_type_we_define_is_in_the_typestore_with_the_same_fields(distro):
    ts = rosbags_typesys.get_typestore(STORES[distro])
    for typename, cls in idl.ROS_TYPES.items():
        assert typename in ts.fielddefs, f"{typename} unknown to rosbags {distro}"
        theirs = [n for n, _ in ts.fielddefs[typename][1]]
        ours = [f.name for f in dataclasses.fields(cls)]
        assert ours == theirs, f"{typename}: our fields {ours}, {distro}: {theirs}"
        assert cls.__idl_typename__ == idl.dds_type_name(typename)


@pytest.mark.parametrize("typename", _types())
@pytest.mark.parametrize("distro", sorted(STORES))
def test_our_cdr_decodes_in_rosbags_and_theirs_in_ours(distro, typename):
    ts = rosbags_typesys.get_typestore(STORES[distro])
    tree = _value_tree(ts, typename, _Seed())
    ours = _ours(ts, typename, tree)
    theirs = _theirs(ts, typename, tree)

    our_bytes = ours.serialize()
    # XCDR1 little endian (CDR_LE), options 0: what rmw_cyclonedds and rosbag2 store.
    assert our_bytes[:4] == b"\x00\x01\x00\x00"
    _assert_fields(ts, typename, ts.deserialize_cdr(our_bytes, typename), tree, typename)

    their_bytes = bytes(ts.serialize_cdr(theirs, typename))
    _assert_fields(ts, typename, type(ours).deserialize(their_bytes), tree, typename)
    assert their_bytes == our_bytes  # padding and alignment agree too


def test_a_wrong_field_would_be_caught():
    """The comparison is not vacuous: a changed value fails it."""
    ts = rosbags_typesys.get_typestore(STORES["jazzy"])
    tree = _value_tree(ts, "sensor_msgs/msg/JointState", _Seed())
    msg = _ours(ts, "sensor_msgs/msg/JointState", tree)
    msg.velocity[1] += 1.0
    decoded = ts.deserialize_cdr(msg.serialize(), "sensor_msgs/msg/JointState")
    with pytest.raises(AssertionError, match="velocity"):
        _assert_fields(ts, "sensor_msgs/msg/JointState", decoded, tree, "JointState")
