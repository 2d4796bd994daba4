"""Episode validation and slicing, the on-disk format, crash safety, and EpisodeStore."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robopref.data import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Episode,
    EpisodeFormatError,
    EpisodeStore,
    load_episode,
    save_episode,
    storage,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_episode(
    T: int = 12,
    cameras: tuple[str, ...] = ("front", "wrist"),
    size: tuple[int, int] = (16, 20),
    with_progress: bool = True,
    seed: int = 0,
    **overrides,
) -> Episode:
    rng = np.random.default_rng(seed)
    reward = rng.normal(size=T).astype(np.float32)
    reward[::3] = np.nan  # unknown rewards must survive the round trip
    fields = dict(
        state=rng.normal(size=(T + 1, 7)).astype(np.float32),
        action=rng.uniform(-1, 1, size=(T, 4)).astype(np.float32),
        reward=reward,
        success=np.arange(T) >= T - 2,
        timestamp=np.arange(T + 1, dtype=np.float64) / 20 + 1e9,
        metadata={
            "task": "push",
            "source": "expert",
            "backend": "mujoco",
            "seed": seed,
            "robot": "panda",
            "control_hz": 20,
            "extra": {"domain_randomization": [0.1, 0.2], "note": "ünïcode"},
        },
        frames={
            cam: rng.integers(0, 256, size=(T + 1, *size, 3), dtype=np.uint8) for cam in cameras
        },
        progress=np.linspace(0, 1, T + 1, dtype=np.float32) if with_progress else None,
        terminated=True,
        truncated=False,
    )
    fields.update(overrides)
    return Episode(**fields)


def assert_same_episode(a: Episode, b: Episode) -> None:
    for name in ("state", "action", "reward", "success", "timestamp", "progress"):
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)  # NaN == NaN here
    assert a.cameras == b.cameras
    for cam in a.cameras:
        assert a.frames[cam].dtype == np.uint8
        np.testing.assert_array_equal(a.frames[cam], b.frames[cam], err_msg=cam)
    assert a.metadata == b.metadata
    assert (a.episode_id, a.terminated, a.truncated) == (b.episode_id, b.terminated, b.truncated)


# --- Episode -------------------------------------------------------------------------------


def test_episode_coerces_dtypes_and_reports_properties():
    T = 5
    ep = Episode(
        state=np.zeros((T + 1, 3), np.float64),
        action=[[0.5, -0.5]] * T,
        reward=np.zeros(T, np.float64),
        success=[0, 0, 0, 1, 0],
        timestamp=list(range(T + 1)),
        metadata={"task": "reach", "source": "random", "backend": "bullet", "seed": np.int64(4),
                  "robot": "panda", "control_hz": 10.0},
        progress=np.linspace(0, 1, T + 1),
    )  # fmt: skip
    assert ep.state.dtype == np.float32 and ep.action.dtype == np.float32
    assert ep.reward.dtype == np.float32 and ep.progress.dtype == np.float32
    assert ep.success.dtype == np.bool_ and ep.timestamp.dtype == np.float64
    assert ep.length == T and ep.cameras == () and ep.is_success
    assert ep.metadata["seed"] == 4 and type(ep.metadata["seed"]) is int
    assert re.fullmatch(r"[0-9a-f]{32}", ep.episode_id)
    assert make_episode().episode_id != make_episode().episode_id
    assert not make_episode(success=np.zeros(12, bool)).is_success
    assert "T=5" in repr(ep)


T0 = 12
BAD_FIELDS = [
    ({"state": np.zeros((T0, 7))}, r"state: expected 13 rows .*shape \(12, 7\)"),
    ({"state": np.zeros(T0 + 1)}, r"state: expected a 2-D array, got shape \(13,\)"),
    ({"state": np.full((T0 + 1, 7), np.inf)}, r"state: contains NaN or inf"),
    ({"state": np.zeros((T0 + 1, 7), complex)}, r"state: expected a real numeric array"),
    ({"action": np.zeros(T0)}, r"action: expected a 2-D array, got shape \(12,\) dtype float64"),
    ({"action": np.full((T0, 4), np.nan)}, r"action: contains NaN or inf"),
    ({"action": np.zeros((0, 4))}, r"action: expected shape \(T, A\) with T >= 1"),
    ({"action": np.array([["a"] * 4] * T0)}, r"action: expected a real numeric array"),
    ({"reward": np.zeros(T0 + 1)}, r"reward: expected 12 rows"),
    ({"reward": np.full(T0, np.inf)}, r"reward: contains inf; use NaN"),
    ({"success": np.full(T0, 2)}, r"success: expected a bool array \(or 0/1\)"),
    ({"success": np.zeros(T0 - 1, bool)}, r"success: expected 12 rows"),
    ({"timestamp": np.zeros(T0)}, r"timestamp: expected 13 rows"),
    ({"timestamp": np.arange(T0 + 1)[::-1]}, r"timestamp: expected non-decreasing"),
    ({"progress": np.full(T0 + 1, 1.5)}, r"progress: expected finite values in \[0, 1\]"),
    ({"progress": np.zeros(T0)}, r"progress: expected 13 rows"),
    (
        {"frames": {"front": np.zeros((T0 + 1, 8, 8, 3), np.float32)}},
        r"frames\['front'\]: expected uint8 \(T\+1, H, W, 3\), got shape \(13, 8, 8, 3\) "
        r"dtype float32",
    ),
    ({"frames": {"front": np.zeros((T0 + 1, 8, 8), np.uint8)}}, r"frames\['front'\]"),
    ({"frames": {"front": np.zeros((T0, 8, 8, 3), np.uint8)}}, r"frames\['front'\]: .*13 rows"),
    ({"frames": {"a/b": np.zeros((T0 + 1, 8, 8, 3), np.uint8)}}, r"'a/b' is not a valid name"),
    ({"episode_id": "../escape"}, r"episode_id: '../escape' is not a valid name"),
    ({"episode_id": "abc\n"}, r"episode_id: .* is not a valid name"),
    ({"metadata": {"task": "push"}}, r"metadata: missing required keys \['source', 'backend'"),
    ({"terminated": "yes"}, r"terminated: expected a bool"),
]


@pytest.mark.parametrize(("overrides", "match"), BAD_FIELDS)
def test_episode_rejects_malformed_fields(overrides, match):
    with pytest.raises(ValueError, match=match):
        make_episode(T=T0, **overrides)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("seed", True, r"metadata\['seed'\]: expected an int or None"),
        ("seed", 1.5, r"metadata\['seed'\]"),
        ("control_hz", 0, r"metadata\['control_hz'\]: expected a positive number"),
        ("task", "", r"metadata\['task'\]: expected a non-empty str"),
        ("extra", object(), r"metadata: must be strict-JSON serializable"),
        ("extra", float("nan"), r"metadata: must be strict-JSON serializable"),
    ],
)
def test_episode_rejects_bad_metadata(key, value, match):
    metadata = {**make_episode().metadata, key: value}
    with pytest.raises(ValueError, match=match):
        make_episode(metadata=metadata)


def test_metadata_is_normalized_to_json_and_copied():
    metadata = {**make_episode().metadata, "extra": {"pair": (1, 2)}}
    ep = make_episode(metadata=metadata)
    metadata["task"] = "changed later"
    assert ep.metadata["task"] == "push"
    assert ep.metadata["extra"] == {"pair": [1, 2]}  # what a load returns, too


def test_segment_slices_every_field():
    ep = make_episode(T=12)
    seg = ep.segment(3, 4)
    assert seg.length == 4
    np.testing.assert_array_equal(seg.state, ep.state[3:8])
    np.testing.assert_array_equal(seg.timestamp, ep.timestamp[3:8])
    np.testing.assert_array_equal(seg.progress, ep.progress[3:8])
    np.testing.assert_array_equal(seg.action, ep.action[3:7])
    np.testing.assert_array_equal(seg.reward, ep.reward[3:7])
    np.testing.assert_array_equal(seg.success, ep.success[3:7])
    for cam in ep.cameras:
        np.testing.assert_array_equal(seg.frames[cam], ep.frames[cam][3:8])
    # Cut before the end: not terminated, but truncated.
    assert (seg.terminated, seg.truncated) == (False, True)
    assert seg.metadata["segment"] == {"episode_id": ep.episode_id, "start": 3, "length": 4}
    assert seg.metadata["task"] == "push"
    assert seg.episode_id == f"{ep.episode_id}_seg3_4"

    tail = ep.segment(8, 4)
    assert (tail.terminated, tail.truncated) == (True, False)
    # A segment of a segment points into the root episode.
    inner = seg.segment(1, 2)
    assert inner.metadata["segment"] == {"episode_id": ep.episode_id, "start": 4, "length": 2}
    np.testing.assert_array_equal(inner.action, ep.action[4:6])


@pytest.mark.parametrize(
    ("start", "length", "match"),
    [
        (-1, 3, r"segment\(start=-1, length=3\) is out of range .* of length 12"),
        (10, 3, r"start \+ length <= 12"),
        (0, 0, r"length >= 1"),
        (0, 13, r"out of range"),
        (1.0, 3, r"start must be an int"),
        (0, True, r"length must be an int"),
    ],
)
def test_segment_rejects_bad_ranges(start, length, match):
    with pytest.raises(ValueError, match=match):
        make_episode(T=12).segment(start, length)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), T=st.integers(1, 30))
def test_segment_property(data, T):
    ep = make_episode(T=T, cameras=("c",), size=(2, 2))
    start = data.draw(st.integers(0, T - 1))
    length = data.draw(st.integers(1, T - start))
    seg = ep.segment(start, length)
    assert seg.length == length and seg.state.shape[0] == length + 1
    assert seg.frames["c"].shape[0] == length + 1
    np.testing.assert_array_equal(seg.action, ep.action[start : start + length])
    assert seg.timestamp[0] == ep.timestamp[start]
    assert seg.timestamp[-1] == ep.timestamp[start + length]


# --- file format --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"cameras": (), "with_progress": False}, {"T": 1, "cameras": ("only",)}],
    ids=["cameras+progress", "state-only", "one-step"],
)
def test_round_trip_preserves_every_field(tmp_path, kwargs):
    ep = make_episode(**kwargs)
    path = save_episode(ep, tmp_path)
    assert path == tmp_path / f"{ep.episode_id}.episode.npz"
    assert_same_episode(load_episode(path), ep)
    assert os.listdir(tmp_path) == [path.name]  # no temp file left behind


def test_file_is_a_documented_npz(tmp_path):
    ep = make_episode()
    path = save_episode(ep, tmp_path / "named.episode.npz")
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["state"], ep.state)
        np.testing.assert_array_equal(npz["frames/wrist"], ep.frames["wrist"])
        meta = json.loads(npz["__meta__.json"])
    assert meta["format"] == FORMAT_NAME == "robopref.episode"
    assert meta["version"] == FORMAT_VERSION == 1
    assert meta["cameras"] == ["front", "wrist"] and meta["length"] == 12
    assert meta["metadata"] == ep.metadata and meta["terminated"] is True
    assert set(meta["arrays"]) == {"state", "action", "reward", "success", "timestamp",
                                   "progress", "frames/front", "frames/wrist"}  # fmt: skip
    assert meta["arrays"]["success"]["dtype"] == "bool"
    assert re.fullmatch(r"[0-9a-f]{64}", meta["arrays"]["state"]["sha256"])
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    with pytest.raises(ValueError, match=r"neither an existing directory nor a path ending"):
        save_episode(ep, tmp_path / "wrong.npz")


def _rewrite(path: Path, edit) -> None:
    """Rewrites the zip at ``path`` after ``edit`` changes its {member: bytes} dict."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    edit(members)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _edit_meta(**changes):
    def edit(members):
        meta = json.loads(members["__meta__.json"])
        meta.update(changes)
        members["__meta__.json"] = json.dumps(meta).encode()

    return edit


def _replace_state(members):
    # A well-formed array with the header's dtype and shape but other values.
    import io

    buf = io.BytesIO()
    np.save(buf, np.zeros((13, 7), np.float32))
    members["state.npy"] = buf.getvalue()


@pytest.fixture
def saved(tmp_path) -> Path:
    return save_episode(make_episode(), tmp_path)


def _member_data_offsets(path: Path) -> dict[str, int]:
    """Offset of the middle byte of each member's compressed data."""
    raw = path.read_bytes()
    offsets = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            h = info.header_offset
            name_len = int.from_bytes(raw[h + 26 : h + 28], "little")
            extra_len = int.from_bytes(raw[h + 28 : h + 30], "little")
            offsets[info.filename] = h + 30 + name_len + extra_len + info.compress_size // 2
    return offsets


def test_flipped_byte_in_any_member_is_detected(saved):
    original = saved.read_bytes()
    offsets = _member_data_offsets(saved)
    assert len(offsets) == 9
    for member, offset in offsets.items():
        corrupt = bytearray(original)
        corrupt[offset] ^= 0xFF
        saved.write_bytes(bytes(corrupt))
        with pytest.raises(EpisodeFormatError, match=re.escape(str(saved))) as info:
            load_episode(saved)
        assert isinstance(info.value, ValueError), member
        assert info.value.__cause__ is not None or "SHA-256" in str(info.value), member


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (lambda b: b[: len(b) // 2], r"corrupt or truncated"),
        (lambda b: b[:-1], r"corrupt or truncated"),
        (lambda b: b[:10], r"corrupt or truncated"),
        (lambda b: b"", r"corrupt or truncated"),
        (lambda b: np.random.default_rng(0).bytes(4096), r"corrupt or truncated"),
        (lambda b: b"PK\x03\x04" + b"\x00" * 100, r"corrupt or truncated"),
    ],
    ids=["half", "minus-one-byte", "ten-bytes", "empty", "random-bytes", "fake-zip-magic"],
)
def test_truncated_or_garbage_file_raises_format_error(saved, mangle, match):
    saved.write_bytes(mangle(saved.read_bytes()))
    with pytest.raises(EpisodeFormatError, match=match) as info:
        load_episode(saved)
    assert str(saved) in str(info.value)
    assert info.value.__cause__ is not None  # chained, so the low-level reason is kept


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_edit_meta(version=2), r"format version 2 is newer than this reader understands"),
        (_edit_meta(version=0), r"unsupported format version 0"),
        (_edit_meta(version="1"), r"unsupported format version '1'"),
        (_edit_meta(format="something.else"), r"format is 'something.else'"),
        (lambda m: m.pop("__meta__.json"), r"no __meta__.json member"),
        (lambda m: m.pop("frames/front.npy"), r"do not match the header"),
        (_replace_state, r"array 'state' fails its SHA-256 check"),
        (lambda m: m.update({"__meta__.json": b"{not json"}), r"JSONDecodeError"),
    ],
    ids=["future", "zero", "str-version", "format", "no-meta", "missing", "sha", "bad-json"],
)
def test_wrong_format_or_version_raises_format_error(saved, edit, match):
    _rewrite(saved, edit)
    with pytest.raises(EpisodeFormatError, match=match) as info:
        load_episode(saved)
    assert str(saved) in str(info.value)


def test_plain_npz_is_not_an_episode(tmp_path):
    path = tmp_path / "plain.episode.npz"
    with open(path, "wb") as f:
        np.savez(f, state=np.zeros(3))
    with pytest.raises(EpisodeFormatError, match=r"plain.episode.npz: no __meta__.json"):
        load_episode(path)
    with pytest.raises(FileNotFoundError):
        load_episode(tmp_path / "missing.episode.npz")


def test_failed_write_leaves_no_temp_and_keeps_old_file(tmp_path, monkeypatch):
    ep = make_episode()
    path = save_episode(ep, tmp_path)
    calls = []

    def failing_write_member(zf, name, array):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return real_write_member(zf, name, array)

    real_write_member = storage._write_member
    monkeypatch.setattr(storage, "_write_member", failing_write_member)
    changed = make_episode(episode_id=ep.episode_id, seed=1)
    with pytest.raises(OSError, match="disk full"):
        save_episode(changed, tmp_path)
    assert len(calls) == 3
    assert os.listdir(tmp_path) == [path.name]
    assert_same_episode(load_episode(path), ep)  # the old version, intact


_CRASH_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from robopref.data import Episode, EpisodeStore

    store, run = EpisodeStore(sys.argv[1]), sys.argv[2]
    rng = np.random.default_rng(0)
    T = 60
    # Incompressible frames make each write take long enough to be killed in the middle.
    frames = {c: rng.integers(0, 256, (T + 1, 96, 96, 3), dtype=np.uint8) for c in "ab"}
    md = dict(task="t", source="random", backend="mujoco", seed=0, robot="r", control_hz=20)

    def episode(episode_id, i):
        return Episode(state=np.full((T + 1, 3), i), action=np.zeros((T, 2)),
                       reward=np.zeros(T), success=np.zeros(T, bool),
                       timestamp=np.arange(T + 1.0), metadata=md, frames=frames,
                       episode_id=episode_id)

    print("ready", flush=True)
    i = 0
    while True:
        store.save(episode(f"{run}-{i:04d}", i))
        store.save(episode("overwritten", i))  # replaces an existing file each time
        i += 1
    """
)


@pytest.mark.subprocess
def test_sigkill_mid_write_never_leaves_a_partial_episode(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    store = EpisodeStore(tmp_path)
    for run, delay in enumerate([0.05, 0.15, 0.3, 0.45, 0.7]):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CRASH_WRITER, str(tmp_path), f"run{run}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = proc.stdout.readline()
            assert line == "ready\n", proc.stderr.read()
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        # Every file under a final name loads completely (checksums verified).
        for path in tmp_path.glob("*.episode.npz"):
            ep = load_episode(path)
            assert ep.length == 60 and ep.frames["a"].shape == (61, 96, 96, 3)
    ids = store.ids()
    assert "overwritten" in ids and len(ids) > 1, "the writer never finished a save"
    assert all(not i.startswith(".") and ".tmp-" not in i for i in ids)
    assert len(store) == len(ids) == len(list(store))
    temps = list(tmp_path.glob(".*.tmp-*"))
    # Kills that landed mid-write leave temp files: proof the crash window was exercised.
    assert temps, "no kill landed during a write; the test did not exercise anything"
    assert store.clean_temp_files(min_age_s=3600) == 0  # too young: maybe still being written
    assert store.clean_temp_files(min_age_s=0) == len(temps)
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in store.paths())


# --- EpisodeStore ---------------------------------------------------------------------------


def test_store_saves_lists_iterates_and_loads(tmp_path):
    store = EpisodeStore(tmp_path / "episodes")  # created on demand
    assert len(store) == 0 and store.ids() == [] and list(store) == []
    episodes = [make_episode(seed=i, T=3 + i, cameras=("front",)) for i in range(4)]
    for ep in episodes:
        assert store.save(ep) == store.path(ep.episode_id)
    (store.root / ".junk.episode.npz.tmp-123").write_bytes(b"partial")
    (store.root / "notes.txt").write_text("ignored")

    by_id = {ep.episode_id: ep for ep in episodes}
    assert store.ids() == sorted(by_id)
    assert [p.name for p in store.paths()] == [f"{i}.episode.npz" for i in sorted(by_id)]
    assert len(store) == 4
    loaded = list(store)
    assert [ep.episode_id for ep in loaded] == sorted(by_id)
    for ep in loaded:
        assert_same_episode(ep, by_id[ep.episode_id])
    some = episodes[2]
    assert some.episode_id in store and "nope" not in store and "../x" not in store
    assert_same_episode(store.load(some.episode_id), some)
    assert "4 episodes" in repr(store)


def test_store_unknown_id_raises_key_error(tmp_path):
    store = EpisodeStore(tmp_path)
    store.save(make_episode())
    store.save(make_episode())
    with pytest.raises(KeyError, match=r"no episode 'missing' in .* \(2 episodes stored\)"):
        store.load("missing")
    with pytest.raises(KeyError, match=r"2 episodes stored"):
        store.load("../" + store.ids()[0])


def test_store_detects_renamed_file(tmp_path):
    store = EpisodeStore(tmp_path)
    path = store.save(make_episode(episode_id="original"))
    path.rename(store.path("renamed"))
    with pytest.raises(EpisodeFormatError, match=r"holds episode 'original'"):
        store.load("renamed")
