"""The policy section of the blob: round trip, the C kernels against the NumPy twin, inputs,
and blobs refused (corrupt, truncated, another policy version, bad contents)."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from conftest import BACKENDS, make_evaluator, refix_crc

from robopref.evaluator import _evaluator, blob, heads
from robopref.evaluator.blob import encode_blob

OBS = 18


@pytest.fixture
def policy(rng):
    return heads.random_policy_head(rng, OBS, 4, hidden=(24, 9), obs_clip=5.0, layout="τ layout")


@pytest.fixture
def policy_blob(policy) -> bytes:
    return encode_blob(policy=policy)


def refused(data: bytes, backend: str) -> str:
    with pytest.raises(ValueError) as e:
        make_evaluator(data, backend)
    return str(e.value)


def test_round_trip_keeps_every_field(policy, policy_blob):
    got = blob.decode_blob(policy_blob).policy
    for key, value in policy.items():
        if isinstance(value, list):
            assert all(np.array_equal(a, b) for a, b in zip(got[key], value)), key
        elif isinstance(value, np.ndarray):
            assert np.array_equal(got[key], value) and got[key].dtype == value.dtype, key
        else:
            assert got[key] == value, key
    assert got["obs_mean"].dtype == np.float64  # the learner normalizes in float64


def test_c_and_numpy_describe_the_same_policy(policy_blob):
    infos = [make_evaluator(policy_blob, b).info for b in BACKENDS]
    assert infos[0] == infos[1] == infos[2]
    info = infos[0]["policy"]
    assert info["sizes"] == (OBS, 24, 9, 4) and info["layout"] == "τ layout"
    assert (info["output"], info["obs_clip"], info["robot"]) == ("tanh", 5.0, "panda")
    assert infos[0]["preference"] is None and infos[0]["gamma"] is None
    assert _evaluator.POLICY_VERSION == heads.POLICY_VERSION
    assert _evaluator.MAX_TEXT_BYTES == heads.MAX_TEXT_BYTES


@pytest.mark.parametrize(
    "activation, output, clip",
    [("relu", "tanh", 0.0), ("tanh", "clip", 10.0), ("leaky_relu", "tanh", 2.0)],
)
def test_kernels_match_the_numpy_twin(rng, activation, output, clip):
    head = heads.random_policy_head(rng, OBS, 4, (70, 33), activation, output, clip)
    head["action_low"] = np.array([-1, -2, 0, -0.5], np.float32)
    head["action_high"] = np.array([1, 0.5, 3, 0.5], np.float32)
    data = encode_blob(policy=head)
    states = rng.normal(0, 3, (2000, OBS)).astype(np.float32)
    want = make_evaluator(data, "numpy").action_batch(states)
    assert (want >= head["action_low"]).all() and (want <= head["action_high"]).all()
    for backend in ("c", "c-generic"):
        ev = make_evaluator(data, backend)
        assert np.abs(ev.action_batch(states) - want).max() <= 1e-5
        assert np.abs(ev.action(states[3]) - want[3]).max() <= 1e-5
        out = np.zeros(4, np.float32)
        assert ev.action(states[4], out) is out and np.abs(out - want[4]).max() <= 1e-5


def test_a_blob_with_every_section_loads(rng, policy, backend):
    pref = heads.random_preference_head(rng, 5, 2, hidden=(8,), members=2)
    prm = heads.random_prm_head(rng, ("front",), dim=6, hidden=(5,), bins=3)
    ev = make_evaluator(encode_blob(pref, prm, 0.9, policy=policy), backend)
    assert all(ev.info[k] is not None for k in ("preference", "prm", "policy", "gamma"))
    ev.reward(np.zeros(5, np.float32), np.zeros(2, np.float32))
    assert ev.action(np.zeros(OBS, np.float32)).shape == (4,)


def test_inputs_are_checked(policy_blob, backend):
    ev = make_evaluator(policy_blob, backend)
    x = np.zeros(OBS, np.float32)
    with pytest.raises(ValueError, match=r"state: expected shape \(18,\)"):
        ev.action(np.zeros(17, np.float32))
    with pytest.raises(ValueError, match="state: expected float32"):
        ev.action(x.astype(np.float64))
    bad = x.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="state: NaN or inf, index 5"):
        ev.action(bad)
    rows = np.zeros((3, OBS), np.float32)
    rows[2, 1] = np.inf
    with pytest.raises(ValueError, match="states: NaN or inf at row 2, index 1"):
        ev.action_batch(rows)
    with pytest.raises(ValueError, match="out: expected shape"):
        ev.action(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="the blob has no policy"):
        make_evaluator(encode_blob(gamma=0.5), backend).action(x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refuses_every_truncation_and_bit_flips(policy_blob, backend):
    for n in range(0, len(policy_blob), 3):
        refused(policy_blob[:n], backend)
    rng = np.random.default_rng(11)
    for bit in rng.choice(len(policy_blob) * 8, 200, replace=False):
        data = bytearray(policy_blob)
        data[bit // 8] ^= 1 << (bit % 8)
        assert "checksum" in refused(bytes(data), backend) or bit < 32 * 8


# Offsets: header 32 B, the policy section header 16 B, then its payload: u32 version, algo,
# activation, output, layers, sizes[4], then the task string.
_POL = 48


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    return refix_crc(
        data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt) :]
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "offset, fmt, value, match",
    [
        (_POL, "<I", 2, "policy section: version 2"),  # a newer policy payload
        (_POL + 4, "<I", 3, "algo"),
        (_POL + 8, "<I", 3, "activation"),
        (_POL + 12, "<I", 2, "output"),
        (_POL + 16, "<I", 0, "layers"),
        (_POL + 20, "<I", 5000, "outside"),  # obs_dim beyond MAX_DIM
        (_POL + 36, "<I", 0, "task of 0 bytes"),
        (_POL + 36, "<I", 4000, "task of 4000 bytes"),
        (_POL + 40, "<B", 0xFF, "UTF-8"),  # the task's first byte
    ],
)
def test_refuses_bad_contents_behind_a_valid_checksum(
    policy_blob, backend, offset, fmt, value, match
):
    message = refused(_patch(policy_blob, offset, fmt, value), backend)
    assert re.search(match, message), message


@pytest.mark.parametrize("backend", BACKENDS)
def test_refuses_bad_statistics_bounds_and_overflow(policy, backend):
    std = policy["obs_std"].copy()
    std[3] = 0.0
    # Written past the writer's own check, so the readers' checks are what is tested.
    data = encode_blob(policy=policy)
    at = data.index(policy["obs_std"].astype("<f8").tobytes())
    zero_std = refix_crc(data[:at] + std.astype("<f8").tobytes() + data[at + 8 * OBS :])
    assert re.search("obs_std", refused(zero_std, backend))
    low = policy["action_low"].astype("<f4").tobytes()
    at = data.index(low + policy["action_high"].astype("<f4").tobytes())
    swapped = refix_crc(data[:at] + policy["action_high"].astype("<f4").tobytes() + low + data[-4:])
    assert re.search("action_low.*(below|high)", refused(swapped, backend))
    big = {**policy, "weights": [w * 1e30 for w in policy["weights"]]}
    with pytest.raises(ValueError, match="overflow"):
        encode_blob(policy=big)


def test_writer_refuses_malformed_heads(policy):
    with pytest.raises(ValueError, match="unknown 'td3'"):
        encode_blob(policy={**policy, "algo": "td3"})
    with pytest.raises(ValueError, match="layout: 0 UTF-8 bytes"):
        encode_blob(policy={**policy, "layout": ""})
    with pytest.raises(ValueError, match="action_low.*below"):
        encode_blob(policy={**policy, "action_high": policy["action_low"]})
    with pytest.raises(ValueError, match="obs_clip"):
        encode_blob(policy={**policy, "obs_clip": -1.0})
