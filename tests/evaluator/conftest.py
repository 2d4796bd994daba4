"""Shared fixtures of the evaluator tests: small heads, blobs, and one evaluator per backend.

Every behavioural test runs on three evaluators: the C extension with the kernels this CPU
picks ("c", AVX2+FMA here), the C extension's generic kernels ("c-generic"), and the NumPy
twin ("numpy"). The C ones import the compiled module directly: a missing build fails them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from robopref.evaluator import Evaluator, decode_blob, heads
from robopref.evaluator.blob import encode_blob
from robopref.evaluator.reference import NumpyEvaluator

BACKENDS = ("c", "c-generic", "numpy")
VIEWS = ("front", "side", "wrist")


def make_evaluator(data: bytes, backend: str) -> Evaluator:
    """An `Evaluator` on ``backend`` (one of `BACKENDS`) from blob bytes."""
    if backend == "numpy":
        return Evaluator(NumpyEvaluator(decode_blob(data)), "numpy", "<test>")
    from robopref.evaluator import _evaluator  # no skip: a missing build must fail

    kernel = "generic" if backend == "c-generic" else "auto"
    return Evaluator(_evaluator.Evaluator(data, kernel=kernel), "c", "<test>")


def refix_crc(data: bytes) -> bytes:
    """``data`` with its trailing CRC-32 recomputed (to test checks behind the checksum)."""
    body = bytes(data[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def small_heads(rng) -> dict[str, Any]:
    """A state_action preference head and a PRM head, small enough to fuzz quickly."""
    return {
        "preference": heads.random_preference_head(rng, 5, 2, hidden=(16, 9), members=3),
        "prm": heads.random_prm_head(rng, VIEWS, dim=12, hidden=(10,), bins=5),
    }


@pytest.fixture
def small_blob(small_heads) -> bytes:
    return encode_blob(small_heads["preference"], small_heads["prm"], gamma=0.9, scale=2.0)


@pytest.fixture
def make(backend) -> Callable[..., Evaluator]:
    """``make(**encode_blob kwargs)`` -> an Evaluator on this test's backend."""
    return lambda **kw: make_evaluator(encode_blob(**kw), backend)
