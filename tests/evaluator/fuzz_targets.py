"""Hypothesis fuzzing of the C evaluator, run as a script in a subprocess by test_robustness.py
(so that a crash fails that test instead of killing pytest).

``FUZZ_EXAMPLES=N python fuzz_targets.py`` runs two properties with N examples each:

* blob mutations (bit flips, byte edits, insertions, deletions, truncations; the checksum
  usually recomputed so the parser behind it is reached): the C parser and the Python
  reader accept exactly the same blobs, describe them alike, and evaluate them alike;
* call paths: arrays of random dtype, shape, layout and values (NaN, inf, huge) given to
  every method: the C backend raises ValueError exactly when the NumPy twin does, and
  otherwise agrees with it.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robopref.evaluator import _evaluator, heads
from robopref.evaluator.blob import BlobFormatError, decode_blob, encode_blob
from robopref.evaluator.reference import NumpyEvaluator

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
_RNG = np.random.default_rng(0)
PREF = heads.random_preference_head(_RNG, 3, 2, hidden=(9,), members=2)
PRM = heads.random_prm_head(
    _RNG, ("a", "b"), dim=5, hidden=(6,), bins=3, extra_heads=heads.PRM_HEADS
)
BLOB = encode_blob(PREF, PRM, gamma=0.9, scale=1.5)


def refix(data: bytes) -> bytes:
    body = data[:-4] if len(data) >= 4 else data
    return body + struct.pack("<I", zlib.crc32(body))


edits = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
        st.integers(0, len(BLOB) - 1),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for op, pos, val in ops:
        pos = min(pos, max(len(b) - 1, 0))
        if op == "flip" and b:
            b[pos] ^= 1 << (val % 8)
        elif op == "set" and b:
            b[pos] = val
        elif op == "insert":
            b[pos:pos] = bytes([val])
        elif op == "delete" and b:
            del b[pos]
        elif op == "truncate":
            del b[pos:]
    return bytes(b)


def load_both(data: bytes):
    try:
        c = _evaluator.Evaluator(data)
    except ValueError:
        c = None
    try:
        py = NumpyEvaluator(decode_blob(data))
    except BlobFormatError:
        py = None
    assert (c is None) == (py is None), f"C accepts: {c is not None}, Python: {py is not None}"
    return c, py


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None)
@given(ops=edits, fix_crc=st.booleans())
def blob_mutations(ops, fix_crc):
    data = mutate(BLOB, ops)
    c, py = load_both(refix(data) if fix_crc else data)
    if c is not None:
        assert c.info == py.info
        f = np.linspace(-1, 1, 10, dtype=np.float32).reshape(2, 5)
        if (
            c.info["prm"] is not None
            and c.info["prm"]["dim"] == 5
            and len(c.info["prm"]["views"]) == 2
        ):
            assert abs(c.potential(f) - py.potential(f)) <= 1e-5
            if "success" in c.info["prm"]["heads"]:
                assert abs(c.success_probability(f) - py.success_probability(f)) <= 1e-5


PRM_HEAD_METHODS = ("success_probability", "preference_score")
STATUS: dict[str, int] = {}  # outcomes seen, to report that both paths were exercised


@st.composite
def arrays(draw, shape):
    """Mostly the right shape and dtype, sometimes not; sometimes non-contiguous."""
    if draw(st.integers(0, 9)) == 0:
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    dtype = draw(st.sampled_from([np.float32] * 16 + [np.float64, np.int32, np.bool_, np.float16]))
    n = int(np.prod(shape))
    values = draw(st.lists(st.floats(-1e6, 1e6, width=32), min_size=n, max_size=n))
    a = np.array(values, dtype=np.float64).reshape(shape)
    if n and draw(st.integers(0, 5)) == 0:  # now and then one NaN or inf
        a.flat[draw(st.integers(0, n - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with np.errstate(all="ignore"):
        a = a.astype(dtype)
    if a.ndim and a.shape[-1] > 1 and draw(st.integers(0, 9)) == 0:
        a = np.repeat(a, 2, axis=-1)[..., ::2]  # same values, strided
    return a


def masks(shape):
    return st.one_of(
        st.none(),
        st.lists(st.booleans(), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
            lambda v: np.array(v, bool).reshape(shape)
        ),
    )


@st.composite
def calls(draw):
    n = draw(st.integers(0, 3))
    method = draw(
        st.sampled_from(
            ["reward", "reward_batch", "potential", "potential_batch", "shaped", "shaped_batch"]
            + [*PRM_HEAD_METHODS, *(m + "_batch" for m in PRM_HEAD_METHODS)]
        )
    )
    no_action = draw(st.integers(0, 9)) == 0
    if method == "reward":
        return method, (draw(arrays((3,))), None if no_action else draw(arrays((2,)))), 0
    if method == "reward_batch":
        args = (draw(arrays((n, 3))), None if no_action else draw(arrays((n, 2))))
        return method, (*args, np.empty(n, np.float32), np.empty(n, np.float32)), 2
    if method == "potential" or method in PRM_HEAD_METHODS:
        return method, (draw(arrays((2, 5))), draw(masks((2,)))), 0
    if method == "potential_batch" or method.removesuffix("_batch") in PRM_HEAD_METHODS:
        return method, (draw(arrays((n, 2, 5))), draw(masks((n, 2))), np.empty(n, np.float32)), 1
    if method == "shaped":
        term = draw(st.sampled_from([True, False, 0, 1, 0.5, np.nan, "x"]))
        f, g = draw(arrays((2, 5))), draw(arrays((2, 5)))
        return method, (f, g, term, draw(masks((2,))), draw(masks((2,)))), 0
    term = draw(masks((n,)).filter(lambda m: m is not None))
    f, g = draw(arrays((n, 2, 5))), draw(arrays((n, 2, 5)))
    args = (f, g, term, draw(masks((n, 2))), draw(masks((n, 2))))
    return method, (*args, np.empty(n, np.float64)), 1


def run(impl, method, args, n_out):
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        out = getattr(impl, method)(*copies)
    except ValueError:
        return "ValueError", None
    return "ok", copies[len(copies) - n_out :] if n_out else [np.asarray(out)]


C_EV = _evaluator.Evaluator(BLOB)
PY_EV = NumpyEvaluator(decode_blob(BLOB))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(call=calls())
def call_paths(call):
    method, args, n_out = call
    c_status, c_out = run(C_EV, method, args, n_out)
    py_status, py_out = run(PY_EV, method, args, n_out)
    assert c_status == py_status, (method, c_status, py_status)
    STATUS[f"{method}:{c_status}"] = STATUS.get(f"{method}:{c_status}", 0) + 1
    if c_status == "ok":
        for a, b in zip(c_out, py_out):
            assert np.allclose(a, b, rtol=1e-4, atol=1e-5), (method, a, b)


if __name__ == "__main__":
    blob_mutations()
    call_paths()
    print(
        f"fuzz ok: {EXAMPLES} examples each; call outcomes {sorted(STATUS.items())}",
        file=sys.stderr,
    )
