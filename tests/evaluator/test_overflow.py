"""Heads whose float32 sums can overflow: refused at load by the C parser and the NumPy twin
alike (the overflow rule of `robopref.evaluator.heads`), so the oracle and the extension
never split into "a number" and "non-finite output" (issue 15)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import BACKENDS, VIEWS, make_evaluator, refix_crc

from robopref.evaluator import BlobFormatError, Evaluator, heads
from robopref.evaluator.blob import encode_blob

HUGE = np.float32(2e38)  # finite, a ninth below float32's largest value


def _patched(data: bytes, array: np.ndarray, updates: dict[tuple[int, ...], float]) -> bytes:
    """``data`` with elements of ``array`` (stored in it as float32) replaced, CRC refixed:
    a blob the writer would refuse, behind a valid checksum."""
    at = data.index(np.ascontiguousarray(array, np.float32).tobytes())
    out = bytearray(data)
    for index, value in updates.items():
        flat = int(np.ravel_multi_index(index, array.shape))
        struct.pack_into("<f", out, at + 4 * flat, value)
    return refix_crc(bytes(out))


def _outcome(ev: Evaluator, method: str, *args) -> object:
    """What ``ev.method(*args)`` gives: its result, or "non-finite output" when it says so."""
    try:
        return getattr(ev, method)(*args)
    except ValueError as e:
        assert "non-finite output" in str(e)
        return "non-finite output"


@pytest.fixture
def prm_head():
    return heads.random_prm_head(np.random.default_rng(1234), VIEWS, dim=12, hidden=(10,), bins=5)


@pytest.fixture
def pref_head():
    rng = np.random.default_rng(7)
    return heads.random_preference_head(rng, 5, 2, hidden=(16, 9), members=3)


def test_the_issue_blob_is_refused_by_every_backend(prm_head, backend):
    # Before the overflow rule this blob loaded everywhere; then the C kernels (AVX2 and
    # generic) said "non-finite output" while the NumPy twin gave a finite potential.
    w0 = prm_head["weights"][0]
    data = _patched(encode_blob(prm=prm_head), w0, {(2, 1): -HUGE, (4, 1): HUGE})
    with pytest.raises(ValueError, match="PRM (head|section): layer 0 can overflow float32"):
        make_evaluator(data, backend)


def test_both_loaders_raise_the_blob_error(prm_head, pref_head):
    data = _patched(encode_blob(prm=prm_head), prm_head["weights"][1], {(3, 0): HUGE})
    for backend in ("c", "numpy"):
        with pytest.raises(BlobFormatError, match="x.rpe: PRM .*layer 1 can overflow float32"):
            Evaluator.from_bytes(data, backend, name="x.rpe")
    data = encode_blob(pref_head, obs_dim=5)
    data = _patched(data, pref_head["weights"][0], {(1, 0, 0): HUGE, (1, 3, 0): -HUGE})
    for backend in ("c", "numpy"):
        with pytest.raises(BlobFormatError, match="preference .*member 1: layer 0 can overflow"):
            Evaluator.from_bytes(data, backend, name="x.rpe")


@pytest.mark.parametrize(
    ("field", "index", "message"),
    [
        ("attn_query", (0,), "attention scores"),
        ("view_embed", (1, 4), "attention scores"),
        ("norm_weight", (3,), "layer 0"),
        ("norm_bias", (3,), "layer 0"),
    ],
)
def test_attention_and_layernorm_parameters_are_bounded_too(
    prm_head, backend, field, index, message
):
    data = _patched(encode_blob(prm=prm_head), prm_head[field], {index: HUGE})
    with pytest.raises(ValueError, match=f"{message} can overflow float32"):
        make_evaluator(data, backend)


def test_the_writer_refuses_what_the_readers_refuse(prm_head, pref_head):
    bad = {**prm_head, "weights": [w.copy() for w in prm_head["weights"]]}
    bad["weights"][0][2, 1] = HUGE
    with pytest.raises(ValueError, match="PRM head: layer 0 can overflow float32"):
        encode_blob(prm=bad)
    tanh_capped = {**pref_head, "activation": "tanh"}
    tanh_capped["weights"] = [w.copy() for w in pref_head["weights"]]
    tanh_capped["weights"][0][0, 0, 0] = 1e30  # tanh caps this unit's output at 1
    encode_blob(tanh_capped, obs_dim=5)
    tanh_capped["weights"][1][0, 0, 0] = 1e31  # but not a sum of 1e31 times 1
    with pytest.raises(ValueError, match="member 0: layer 1 can overflow float32"):
        encode_blob(tanh_capped, obs_dim=5)


def test_large_but_safe_weights_load_and_every_backend_agrees(prm_head, pref_head):
    prm = {**prm_head, "weights": [w.copy() for w in prm_head["weights"]]}
    prm["weights"][0][:, 1] = 1e20 * np.sign(prm["weights"][0][:, 1])
    pref = {**pref_head, "weights": [w.copy() for w in pref_head["weights"]]}
    pref["weights"][0][:, :3, 0] = 1e25
    pref["output_activation"] = "none"
    data = encode_blob(pref, prm, obs_dim=5, gamma=0.9)
    evs = [make_evaluator(data, b) for b in BACKENDS]
    rng = np.random.default_rng(0)
    for scale in (1.0, 1e3, 1e6):
        f = (scale * rng.normal(size=(32, 3, 12))).astype(np.float32)
        s = (scale * rng.normal(size=(32, 5))).astype(np.float32)
        a = (scale * rng.normal(size=(32, 2))).astype(np.float32)
        phis = [_outcome(ev, "potential_batch", f) for ev in evs]
        means = [_outcome(ev, "reward_batch", s, a)[0] for ev in evs]
        for got in phis[1:]:
            np.testing.assert_allclose(got, phis[0], rtol=1e-5, atol=1e-5)
        for got in means[1:]:
            np.testing.assert_allclose(got, means[0], rtol=1e-4)
        assert np.isfinite(phis[0]).all() and np.isfinite(means[0]).all()


def test_random_huge_weights_never_split_the_backends(prm_head):
    # Groups of +-2e38 (and smaller) weights in one column: the float32 sum overflows or not
    # depending on the order of its terms. Each blob must be refused by all, or agree.
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 12)).astype(np.float32)
    base = encode_blob(prm=prm_head)
    refused = 0
    for _ in range(300):
        layer = int(rng.integers(0, 2))
        w = prm_head["weights"][layer]
        column = int(rng.integers(0, w.shape[1]))
        rows = rng.choice(w.shape[0], int(rng.integers(2, 5)), replace=False)
        magnitude = float(rng.choice([2e38, 1e37, 1e29]))
        signs = rng.choice([-1.0, 1.0], len(rows))
        data = _patched(base, w, {(int(r), column): s * magnitude for r, s in zip(rows, signs)})
        outcomes = []
        for backend in BACKENDS:
            try:
                ev = make_evaluator(data, backend)
            except ValueError as e:
                assert "can overflow float32" in str(e)
                outcomes.append("refused")
                continue
            outcomes.append(_outcome(ev, "potential", f))
        if outcomes[0] == "refused":
            refused += 1
        assert all(type(o) is type(outcomes[0]) for o in outcomes), outcomes
        if not isinstance(outcomes[0], str):
            np.testing.assert_allclose(outcomes, outcomes[0], rtol=1e-5, atol=1e-6)
    assert 0 < refused < 300  # both kinds of blob were tried (1e29 weights are allowed)
