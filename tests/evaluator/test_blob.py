"""The RPE blob: round trips, crash-safe export, and refusing every corrupt or foreign blob
in both the Python reader and the C parser (with a typed error, never a crash)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import BACKENDS, make_evaluator, refix_crc

from robopref.evaluator import (
    BlobFormatError,
    Evaluator,
    _evaluator,
    blob,
    decode_blob,
    export_blob,
    heads,
    read_blob,
)
from robopref.evaluator.blob import MAGIC, encode_blob


def refused(data: bytes, backend: str) -> str:
    """The error message with which ``backend`` refuses ``data`` (fails if it accepts)."""
    with pytest.raises(BlobFormatError) as e:
        if backend == "numpy":
            decode_blob(data, "x.rpe")
        else:
            Evaluator.from_bytes(data, backend="c", name="x.rpe")
    assert str(e.value).startswith("x.rpe: ")
    return str(e.value)


def test_round_trip_keeps_every_array(small_heads, tmp_path):
    path = export_blob(tmp_path / "h.rpe", small_heads["preference"], small_heads["prm"], 0.97, -3)
    got = read_blob(path)
    assert (got.gamma, got.scale) == (0.97, -3.0)
    for name in ("preference", "prm"):
        want = small_heads[name]
        for key, value in want.items():
            if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
                assert all(np.array_equal(a, b) for a, b in zip(getattr(got, name)[key], value))
            elif isinstance(value, np.ndarray):
                assert np.array_equal(getattr(got, name)[key], value) and value.dtype == np.float32
            else:
                assert getattr(got, name)[key] == value, key


def test_c_and_numpy_describe_the_same_heads(small_blob):
    infos = [make_evaluator(small_blob, b).info for b in BACKENDS]
    assert infos[0] == infos[1] == infos[2]
    pref, prm = infos[0]["preference"], infos[0]["prm"]
    assert pref["sizes"] == (7, 16, 9, 1) and (pref["obs_dim"], pref["act_dim"]) == (5, 2)
    assert prm["views"] == ("front", "side", "wrist") and prm["sizes"] == (12, 10, 5)
    assert (infos[0]["gamma"], infos[0]["scale"]) == (0.9, 2.0)


def test_limits_agree_between_c_and_python():
    assert _evaluator.VERSION == blob.VERSION
    assert (_evaluator.MAX_DIM, _evaluator.MAX_LAYERS) == (heads.MAX_DIM, heads.MAX_LAYERS)
    assert (_evaluator.MAX_MEMBERS, _evaluator.MAX_VIEWS) == (heads.MAX_MEMBERS, heads.MAX_VIEWS)


def test_export_is_atomic_and_replaces(small_heads, tmp_path):
    path = tmp_path / "h.rpe"
    export_blob(path, prm=small_heads["prm"], gamma=0.5)
    export_blob(path, preference=small_heads["preference"])
    assert read_blob(path).prm is None and read_blob(path).preference is not None
    assert [p.name for p in tmp_path.iterdir()] == ["h.rpe"]  # no temp file left behind
    with pytest.raises(ValueError, match="rank 2|must be lists|expected"):
        export_blob(path, preference={**small_heads["preference"], "weights": [np.ones(3)]})
    assert read_blob(path).preference is not None  # a failed export leaves the old file


@pytest.mark.parametrize(
    "change, match",
    [
        ({"activation": "gelu"}, "unknown 'gelu'"),
        ({"input": "pixels"}, "unknown 'pixels'"),
        ({"input_std": np.zeros(7)}, "input_std must be > 0"),
        ({"input_mean": np.full(7, np.nan)}, "NaN or inf"),
        ({"obs_dim": 7}, "obs_dim"),
    ],
)
def test_writer_refuses_bad_preference_heads(small_heads, change, match):
    with pytest.raises(ValueError, match=match):
        encode_blob(preference={**small_heads["preference"], **change})


@pytest.mark.parametrize(
    "change, match",
    [
        ({"views": ["a", "a", "b"]}, "unique"),
        ({"norm_eps": 0.0}, "norm_eps"),
        ({"bin_centers": np.zeros(4)}, "bin_centers"),
        ({"view_embed": np.zeros((3, 11))}, "view_embed"),
        ({"weights": [np.zeros((12, 10 + 1)), np.zeros((10, 5))]}, "takes 10 inputs"),
    ],
)
def test_writer_refuses_bad_prm_heads(small_heads, change, match):
    with pytest.raises(ValueError, match=match):
        encode_blob(prm={**small_heads["prm"], **change})


def test_writer_refuses_bad_constants_and_paths(small_heads, tmp_path):
    for gamma in (0.0, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="gamma"):
            encode_blob(gamma=gamma)
    with pytest.raises(ValueError, match="scale"):
        encode_blob(gamma=0.9, scale=float("inf"))
    with pytest.raises(ValueError, match="nothing to export"):
        encode_blob()
    with pytest.raises(ValueError, match="must end in"):
        export_blob(tmp_path / "h.bin", gamma=0.9)
    with pytest.raises(ValueError, match="needs obs_dim"):
        encode_blob({k: v for k, v in small_heads["preference"].items() if k != "obs_dim"})


def test_gamma_rule_is_the_shaping_modules():
    from robopref.rewards.shaping import check_gamma

    for g in (1e-9, 0.5, 1.0, 0.0, -0.1, 1.0000001, float("nan"), float("inf")):
        try:
            check_gamma(g)
            ok = True
        except ValueError:
            ok = False
        try:
            heads.check_shaping(g)
            assert ok, g
        except ValueError:
            assert not ok, g


@pytest.mark.parametrize("backend", BACKENDS)
def test_refuses_foreign_and_damaged_headers(small_blob, backend):
    assert "magic" in refused(b"PK\x03\x04" + small_blob[4:], backend)
    newer = small_blob[:8] + struct.pack("<I", 2) + small_blob[12:]
    assert "version 2" in refused(newer, backend)
    assert "checksum" in refused(small_blob[:100] + b"\x00" + small_blob[101:], backend)
    assert "size mismatch" in refused(small_blob + b"\x00", backend)
    assert "truncated" in refused(b"", backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refuses_every_truncation(small_blob, backend):
    for n in range(len(small_blob)):
        refused(small_blob[:n], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refuses_random_bit_flips(small_blob, backend):
    rng = np.random.default_rng(7)
    for bit in rng.choice(len(small_blob) * 8, 400, replace=False):
        data = bytearray(small_blob)
        data[bit // 8] ^= 1 << (bit % 8)
        refused(bytes(data), backend)


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    return refix_crc(
        data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt) :]
    )


# Offsets into `small_blob`: header 32 B, then the preference section header (16 B) and its
# payload: u32 input, activation, output_activation, members, layers, obs_dim, sizes...
_PREF = 48


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "offset, fmt, value, match",
    [
        (12, "<I", 4, "sections"),  # section count
        (24, "<Q", 1, "reserved"),  # reserved header field
        (32, "<I", 9, "section"),  # unknown section kind
        (36, "<I", 1, "section"),  # reserved section field
        (40, "<Q", 1 << 40, "past the end"),  # section size
        (_PREF + 4, "<I", 3, "activation"),  # activation code
        (_PREF + 12, "<I", 65, "members"),  # members beyond the limit
        (_PREF + 16, "<I", 0, "layers"),  # no layers
        (_PREF + 20, "<I", 7, "obs_dim"),  # obs_dim = in for a state_action head
        (_PREF + 24, "<I", 8, "short|left over|input_std"),  # in size disagrees with arrays
        (_PREF + 24, "<I", 5000, "outside"),  # a size beyond MAX_DIM
        (_PREF + 40, "<f", float("nan"), "non-finite|NaN"),  # input_mean[0]
        (_PREF + 40 + 28, "<f", -1.0, "input_std|non-positive"),  # input_std[0]
    ],
)
def test_refuses_inconsistent_contents_behind_a_valid_checksum(
    small_blob, backend, offset, fmt, value, match
):
    import re

    message = refused(_patch(small_blob, offset, fmt, value), backend)
    assert re.search(match, message), message


@pytest.mark.parametrize("backend", BACKENDS)
def test_refuses_a_repeated_section_and_stray_bytes(small_heads, backend):
    one = encode_blob(gamma=0.9)
    section = one[32:-4]
    doubled = one[:12] + struct.pack("<IQ", 2, len(one) + len(section)) + one[24:-4] + section
    assert "repeated" in refused(refix_crc(doubled + b"\0\0\0\0"), backend)
    grown = one[:16] + struct.pack("<Q", len(one) + 4) + one[24:-4] + b"\0\0\0\0"
    assert "stray" in refused(refix_crc(grown + b"\0\0\0\0"), backend)
    bad_gamma = _patch(one, 48, "<d", 1.5)
    assert "gamma" in refused(bad_gamma, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refuses_bad_view_names(small_heads, backend):
    data = encode_blob(prm={**small_heads["prm"], "views": ["aa", "ab", "ac"]})
    at = data.index(b"ab")
    assert "unique" in refused(refix_crc(data[:at] + b"aa" + data[at + 2 :]), backend)
    assert "UTF-8" in refused(refix_crc(data[:at] + b"\xff\xfe" + data[at + 2 :]), backend)
    assert "padding" in refused(refix_crc(data[: at + 2] + b"\x01" + data[at + 3 :]), backend)


def test_load_names_the_file(tmp_path, small_blob):
    path = tmp_path / "bad.rpe"
    path.write_bytes(small_blob[:-1])
    for backend in ("c", "numpy"):
        with pytest.raises(BlobFormatError, match=f"{path}: .*size mismatch"):
            Evaluator.load(path, backend=backend)
    with pytest.raises(FileNotFoundError):
        Evaluator.load(tmp_path / "missing.rpe")
    assert blob.MAGIC == MAGIC == b"\x89RPE\r\n\x1a\n"
