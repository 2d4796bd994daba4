"""The PRM's success and preference heads in the blob and the evaluator (issue 14 item 6):
parity with torch's `ProcessRewardModel` on every backend, old blobs without them, and every
malformed head section refused alike by the C parser and the NumPy reader."""

from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest
import torch
from conftest import BACKENDS, VIEWS, make_evaluator

from robopref.evaluator import BlobFormatError, Evaluator, decode_blob, export_models, heads
from robopref.evaluator.blob import PRM, PRM_PREFERENCE, PRM_SUCCESS, encode_blob

TOL = 1e-5
HUGE = np.float32(2e38)  # the issue 15 weight: finite, near float32's largest


def refused(data: bytes, backend: str) -> str:
    """The message with which ``backend`` ("c" or "numpy") refuses ``data``."""
    with pytest.raises(BlobFormatError) as e:
        Evaluator.from_bytes(data, backend=backend, name="x.rpe")
    assert str(e.value).startswith("x.rpe: ")
    return str(e.value)


def sections(data: bytes) -> list[tuple[int, bytes]]:
    """``(kind, payload)`` of each section of a blob, in order."""
    out, pos = [], 32
    for _ in range(struct.unpack_from("<I", data, 12)[0]):
        kind, _, size = struct.unpack_from("<IIQ", data, pos)
        out.append((kind, data[pos + 16 : pos + 16 + size]))
        pos += 16 + size
    return out


def assemble(parts: list[tuple[int, bytes]]) -> bytes:
    """A blob of these sections with a valid header, size and checksum (contents unchecked)."""
    body = b"".join(struct.pack("<IIQ", k, 0, len(p)) + p for k, p in parts)
    head = b"\x89RPE\r\n\x1a\n" + struct.pack("<IIQQ", 1, len(parts), 32 + len(body) + 4, 0)
    data = head + body
    return data + struct.pack("<I", zlib.crc32(data))


def replaced(data: bytes, kind: int, payload: bytes) -> bytes:
    return assemble([(k, payload if k == kind else p) for k, p in sections(data)])


@pytest.fixture
def head(rng):
    """A small PRM head with both heads (dim 12, hidden 10)."""
    return heads.random_prm_head(rng, VIEWS, dim=12, hidden=(10,), bins=5,
                                 extra_heads=heads.PRM_HEADS)  # fmt: skip


def random_mask(rng: np.random.Generator, n: int, v: int) -> np.ndarray:
    mask = rng.random((n, v)) < 0.6
    mask[np.arange(n), rng.integers(0, v, n)] = True
    return mask


# --- parity -------------------------------------------------------------------------------------
def small_prm(seed: int = 0):
    """A small PRM whose success and preference heads have spread-out outputs, marked trained."""
    from robopref.rewards.prm import PRMConfig, ProcessRewardModel

    model = ProcessRewardModel(PRMConfig(image_size=36, feature_dim=24, hidden=(32,), seed=seed))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("success", "preference"):  # scale up so sigmoid leaves its linear middle
            for layer in getattr(model.net, name):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.6)
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen) * 0.3)
    model.trained_heads = {"success", "preference"}
    return model


def test_success_and_preference_match_the_torch_prm_on_frames(rng):
    model = small_prm()
    # Noise scaled by a brightness per frame: an untrained encoder tells those apart.
    level = np.linspace(0.05, 1.0, 60)[:, None, None, None]
    frames = {
        v: (rng.integers(0, 256, (60, 36, 36, 3)) * level).astype(np.uint8)
        for v in ("front", "wrist")
    }
    feats, mask = model.features(frames)  # the side view is absent: masked
    with torch.no_grad():  # centre the logits on these frames: P around 0.5, not saturated
        z = model.net.fuse(torch.from_numpy(feats), torch.from_numpy(mask))
        model.net.success[-1].bias.sub_(float(model.net.success_logit(z).mean()))
    want_p = model.success_probability(frames)
    want_s = model.preference_scores(frames)
    want_phi = model.predict(frames).potential
    data = encode_blob(prm=model.numpy_head())
    for backend in BACKENDS:
        ev = make_evaluator(data, backend)
        assert ev.info["prm"]["heads"] == ("success", "preference")
        p = ev.success_probability_batch(feats, mask)
        assert p.dtype == np.float32 and ((p >= 0) & (p <= 1)).all()
        assert np.abs(p - want_p).max() <= TOL, backend
        assert np.abs(ev.preference_score_batch(feats, mask) - want_s).max() <= TOL, backend
        assert np.abs(ev.potential_batch(feats, mask) - want_phi).max() <= TOL, backend
        assert abs(ev.success_probability(feats[7], mask[7]) - p[7]) <= TOL
    assert np.ptp(want_p) > 0.05 and np.ptp(want_s) > 0.05  # not a vacuous comparison


def test_success_matches_torch_on_10k_random_features_and_masks(rng):
    model = small_prm(seed=3)
    n, v, d = 10_000, len(model.config.views), model.config.feature_dim
    feats = rng.normal(0, 1, (n, v, d)).astype(np.float32)
    mask = random_mask(rng, n, v)
    with torch.no_grad():
        z = model.net.fuse(torch.from_numpy(feats), torch.from_numpy(mask))
        want_p = torch.sigmoid(model.net.success_logit(z)).numpy()
        want_s = model.net.preference_score(z).numpy()
    feats[~mask] = np.nan  # absent views are never read
    data = encode_blob(prm=model.numpy_head())
    for backend in BACKENDS:
        ev = make_evaluator(data, backend)
        p = ev.success_probability_batch(feats, mask)
        assert np.abs(p - want_p).max() <= TOL, backend
        assert np.abs(ev.preference_score_batch(feats, mask) - want_s).max() <= TOL, backend
        for i in range(0, n, 997):  # the one-row path gives the batch path's numbers
            one = ev.success_probability(feats[i], mask[i])
            assert abs(one - p[i]) <= (TOL if backend == "numpy" else 0)
    assert want_p.min() < 0.1 and want_p.max() > 0.9


def test_numpy_head_exports_only_trained_heads(tmp_path):
    from robopref.rewards.prm import PRMConfig, ProcessRewardModel

    model = ProcessRewardModel(PRMConfig(image_size=36, feature_dim=8, hidden=(16,)))
    assert not set(heads.PRM_HEADS) & set(model.numpy_head())  # untrained: not exported
    with pytest.raises(ValueError, match="success head was never trained"):
        model.numpy_head(heads=("success",))
    with pytest.raises(ValueError, match="unknown head 'hop'"):
        model.numpy_head(heads=("hop",))
    model.trained_heads = {"success"}
    path = export_models(tmp_path / "prm.rpe", prm_model=model.save(tmp_path / "prm.pt"))
    for backend in ("c", "numpy"):
        assert Evaluator.load(path, backend).info["prm"]["heads"] == ("success",)


# --- old blobs and missing heads ----------------------------------------------------------------
def test_a_blob_without_the_heads_loads_and_says_it_has_none(head, backend, rng):
    old = {k: v for k, v in head.items() if k not in heads.PRM_HEADS}
    ev = make_evaluator(encode_blob(prm=old, gamma=0.9), backend)
    assert ev.info["prm"]["heads"] == ()
    f = rng.normal(0, 1, (4, 3, 12)).astype(np.float32)
    assert np.isfinite(ev.potential_batch(f)).all()
    for call, what in [
        (lambda: ev.success_probability(f[0]), "success_probability: the blob has no PRM success"),
        (lambda: ev.success_probability_batch(f), "success_probability_batch: the blob has no"),
        (lambda: ev.preference_score(f[0]), "preference_score: the blob has no PRM preference"),
        (lambda: ev.preference_score_batch(f), "preference_score_batch: the blob has no"),
    ]:
        with pytest.raises(ValueError, match=what):
            call()
    pref = heads.random_preference_head(rng, 4)
    only_pref = make_evaluator(encode_blob(preference=pref), backend)
    with pytest.raises(ValueError, match="the blob has no PRM success head"):
        only_pref.success_probability(f[0])


def test_the_old_blob_bytes_are_unchanged(head):
    """A PRM without the heads encodes exactly as before them: section for section."""
    old = {k: v for k, v in head.items() if k not in heads.PRM_HEADS}
    new = encode_blob(prm=head, gamma=0.9)
    assert [k for k, _ in sections(new)] == [PRM, 3, PRM_SUCCESS, PRM_PREFERENCE]
    assert assemble(sections(new)[:2]) == encode_blob(prm=old, gamma=0.9)


def test_round_trip_and_both_backends_describe_the_same_heads(head):
    data = encode_blob(prm=head)
    got = decode_blob(data).prm
    for name in heads.PRM_HEADS:
        for key in ("weights", "biases"):
            assert all(np.array_equal(a, b) for a, b in zip(got[name][key], head[name][key]))
    infos = [make_evaluator(data, b).info for b in BACKENDS]
    assert infos[0] == infos[1] == infos[2]
    ones = {"success": {k: head["success"][k] for k in ("weights", "biases")}}
    data = encode_blob(prm={**{k: v for k, v in head.items() if k != "preference"}, **ones})
    assert [make_evaluator(data, b).info["prm"]["heads"] for b in BACKENDS] == [("success",)] * 3


# --- bad input ----------------------------------------------------------------------------------
def _payload(version=1, sizes=(12, 10, 1), arrays: bytes | None = None) -> bytes:
    layers = len(sizes) - 1
    n = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    body = arrays if arrays is not None else np.full(n, 0.01, "<f4").tobytes()
    return struct.pack(f"<{2 + len(sizes)}I", version, layers, *sizes) + body


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda p: p[:-4], r"PRM success section: payload too short for its shapes"),
        (lambda p: p[:10], r"PRM success section: payload too short for its shapes"),
        (lambda p: p + b"\0\0\0\0", r"PRM success section: 4 bytes left over"),
        (lambda p: _payload(sizes=(13, 10, 1)), r"PRM success section: the first layer takes 13"),
        (lambda p: _payload(sizes=(12, 10, 2)), r"PRM success section: the last layer has 2"),
        (lambda p: _payload(sizes=(12, 5000, 1)), r"PRM success section: layer size.*5000"),
        (lambda p: _payload(version=2), r"PRM success section: version 2; this reader"),
        (lambda p: _payload(sizes=(12,)), r"PRM success section: 0 layers"),
    ],
)
@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_a_malformed_success_section_is_named_by_both_backends(head, backend, change, match):
    data = encode_blob(prm=head)
    payload = dict(sections(data))[PRM_SUCCESS]
    message = refused(replaced(data, PRM_SUCCESS, change(payload)), backend)
    assert re.search(match, message), message


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_a_head_section_needs_the_prm_section_before_it(head, backend):
    parts = sections(encode_blob(prm=head))
    no_prm = [(k, p) for k, p in parts if k != PRM]
    assert "PRM success section: needs the PRM section" in refused(assemble(no_prm), backend)
    swapped = [parts[2], parts[0], parts[1]]  # preference head first
    assert "PRM preference section: needs the PRM section" in refused(assemble(swapped), backend)
    twice = [*parts, parts[1]]
    assert "repeated" in refused(assemble(twice), backend)


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_head_weights_are_refused_by_both(head, backend, value):
    data = encode_blob(prm=head)
    payload = bytearray(dict(sections(data))[PRM_SUCCESS])
    struct.pack_into("<f", payload, 16 + 4 * 7, value)  # weights[0] of the success head
    message = refused(replaced(data, PRM_SUCCESS, bytes(payload)), backend)
    assert re.search(r"PRM success (section|head).*(non-finite|NaN or inf)", message), message


@pytest.mark.parametrize("name, kind", [("success", PRM_SUCCESS), ("preference", PRM_PREFERENCE)])
def test_head_weights_that_can_overflow_are_refused_alike(head, name, kind):
    # issue 15: a 2e38 weight once gave a number on one backend and "non-finite" on the other.
    w0 = head[name]["weights"][0].copy()
    w0[2, 1], w0[4, 1] = -HUGE, HUGE
    bad = {**head, name: {**head[name], "weights": [w0, *head[name]["weights"][1:]]}}
    with pytest.raises(ValueError, match=f"PRM {name} head: layer 0 can overflow float32"):
        encode_blob(prm=bad)  # the writer refuses it
    sane = encode_blob(prm=head)
    payload = bytearray(dict(sections(sane))[kind])
    at = 4 * (2 + 3)  # version, layers, sizes (12, 10, 1)
    for i, value in (((2, 1), -HUGE), ((4, 1), HUGE)):
        struct.pack_into("<f", payload, at + 4 * (i[0] * 10 + i[1]), value)
    data = replaced(sane, kind, bytes(payload))
    for backend in ("c", "numpy"):
        message = refused(data, backend)
        assert re.search(f"PRM {name} (head|section): layer 0 can overflow float32", message)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"weights": [np.zeros((11, 10)), np.zeros((10, 1))]}, "first layer takes 11"),
        (
            {"weights": [np.zeros((12, 10)), np.zeros((10, 3))], "biases": [np.zeros(10)] * 2},
            "last layer must have 1 output",
        ),
        ({"biases": [np.zeros(10), np.full(1, np.nan)]}, r"biases\[1\]: contains NaN"),
        ({"weights": []}, "1 to 16 layers"),
    ],
)
def test_the_writer_refuses_bad_heads(head, change, match):
    with pytest.raises(ValueError, match=f"PRM success head: .*{match}"):
        encode_blob(prm={**head, "success": {**head["success"], **change}})
    with pytest.raises(ValueError, match="expected a dict"):
        encode_blob(prm={**head, "success": [1, 2]})


def test_every_section_kind_at_once_loads(head, rng):
    data = encode_blob(
        preference=heads.random_preference_head(rng, 5, 2, hidden=(8,), members=2),
        prm=head,
        gamma=0.9,
        policy=heads.random_policy_head(rng, 6, hidden=(8,)),
    )
    assert len(sections(data)) == 6
    infos = [make_evaluator(data, b).info for b in BACKENDS]
    assert infos[0] == infos[1] == infos[2]
