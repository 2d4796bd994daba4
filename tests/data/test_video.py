"""Clip encoding for the browser: codecs, frame counts, content, padding, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from robopref.data import (
    Episode,
    decode_clip,
    encode_clip,
    probe_clip,
    video,
    write_episode_videos,
)

SUFFIX = {"h264": ".mp4", "vp9": ".webm"}


def moving_square(T: int = 24, H: int = 64, W: int = 80, side: int = 12) -> np.ndarray:
    """Gray gradient background with a red square moving right 2 px per frame."""
    yy, xx = np.mgrid[:H, :W]
    frames = np.empty((T, H, W, 3), np.uint8)
    frames[:] = (40 + (xx + yy) % 64)[..., None].astype(np.uint8)
    for t in range(T):
        x0, y0 = 2 + 2 * t, H // 3
        frames[t, y0 : y0 + side, x0 : x0 + side] = (230, 20, 20)
    return frames


def red_centroids(frames: np.ndarray) -> np.ndarray:
    f = frames.astype(int)
    mask = (f[..., 0] > 150) & (f[..., 1] < 90) & (f[..., 2] < 90)
    xs = np.arange(frames.shape[2])
    return np.array([xs[m.any(axis=0)].mean() for m in mask])


@pytest.mark.parametrize("codec", ["h264", "vp9"])
def test_encode_probe_decode_round_trip(tmp_path, codec):
    frames = moving_square()
    path = encode_clip(frames, tmp_path / f"clip{SUFFIX[codec]}", fps=15, codec=codec)
    info = probe_clip(path)
    assert info["codec"] == codec
    assert info["pix_fmt"] == "yuv420p"  # the only 4:2:0 layout every browser decodes
    assert (info["width"], info["height"], info["frames"]) == (80, 64, 24)
    assert info["fps"] == pytest.approx(15)
    decoded = decode_clip(path)
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    mae = np.abs(decoded.astype(int) - frames).mean(axis=(1, 2, 3))
    assert mae.max() < 4, mae
    # Content lines up frame by frame: no dropped, duplicated or reordered frames.
    np.testing.assert_allclose(red_centroids(decoded), red_centroids(frames), atol=1.0)
    assert os.listdir(tmp_path) == [path.name]  # no temp file left behind


def test_h264_is_main_profile_with_faststart(tmp_path):
    path = encode_clip(moving_square(T=5), tmp_path / "clip.mp4")
    assert probe_clip(path)["profile"] == "Main"
    data = path.read_bytes()
    # faststart: the index (moov) precedes the media data, so playback starts at once.
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize("codec", ["h264", "vp9"])
def test_odd_sizes_are_padded_to_even(tmp_path, codec):
    frames = moving_square(T=6, H=33, W=47, side=8)
    path = encode_clip(frames, tmp_path / f"odd{SUFFIX[codec]}", codec=codec)
    info = probe_clip(path)
    assert (info["width"], info["height"], info["frames"]) == (48, 34, 6)
    decoded = decode_clip(path)
    assert np.abs(decoded[:, :33, :47].astype(int) - frames).mean() < 4
    # Edge padding repeats the last column/row rather than adding a black border.
    assert np.abs(decoded[:, :33, 47].astype(int) - frames[:, :, 46]).mean() < 8


def test_min_size_and_scale_upscale_with_nearest_neighbour(tmp_path):
    frames = moving_square(T=4, H=21, W=30, side=6)
    path = encode_clip(frames, tmp_path / "up.mp4", min_size=84)
    info = probe_clip(path)
    assert (info["width"], info["height"]) == (120, 84)  # factor ceil(84 / 21) = 4
    decoded = decode_clip(path)
    # Sampling block centres recovers the original pixels.
    assert np.abs(decoded[:, 2::4, 2::4].astype(int) - frames).mean() < 4

    path = encode_clip(frames, tmp_path / "x3.mp4", scale=3)
    info = probe_clip(path)
    assert (info["width"], info["height"]) == (90, 64)  # 63 padded to 64
    big = moving_square(T=2, H=200, W=200)
    path = encode_clip(big, tmp_path / "big.mp4", min_size=168)
    assert probe_clip(path)["width"] == 200  # already large enough: unchanged


@pytest.mark.parametrize(
    ("frames", "kwargs", "match"),
    [
        (np.zeros((3, 8, 8, 3), np.float32), {}, r"expected uint8 \(T, H, W, 3\), got shape"),
        (np.zeros((8, 8, 3), np.uint8), {}, r"expected uint8 \(T, H, W, 3\)"),
        (np.zeros((3, 8, 8, 4), np.uint8), {}, r"got shape \(3, 8, 8, 4\)"),
        (np.zeros((0, 8, 8, 3), np.uint8), {}, r"at least one non-empty frame"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"codec": "mp4v"}, r"unknown 'mp4v'; valid: \['h264'"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"fps": 0}, r"fps: expected a positive number"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"scale": 0}, r"scale: expected an int >= 1"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"min_size": -1}, r"min_size: expected"),
        (np.zeros((2, 8, 8, 3), np.uint8), {"codec": "vp9"}, r"vp9 clips must end in '.webm'"),
    ],
)
def test_encode_rejects_bad_input(tmp_path, frames, kwargs, match):
    with pytest.raises(ValueError, match=match):
        encode_clip(frames, tmp_path / "clip.mp4", **kwargs)
    assert os.listdir(tmp_path) == []


def test_ffmpeg_failure_raises_and_leaves_nothing(tmp_path, monkeypatch):
    broken = {**video.CODECS["h264"], "args": ["-c:v", "no_such_encoder", "-f", "mp4"]}
    monkeypatch.setitem(video.CODECS, "h264", broken)
    with pytest.raises(RuntimeError, match=r"ffmpeg failed encoding clip.mp4"):
        encode_clip(moving_square(T=3), tmp_path / "clip.mp4")
    assert os.listdir(tmp_path) == []


def test_probe_and_decode_reject_non_video(tmp_path):
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"this is not a video" * 50)
    with pytest.raises(ValueError, match=r"bogus.mp4: not a video clip ffmpeg can read"):
        probe_clip(bogus)
    with pytest.raises(ValueError, match=r"not a video clip"):
        decode_clip(bogus)
    with pytest.raises(FileNotFoundError):
        probe_clip(tmp_path / "missing.mp4")


def _episode(T: int, frames: dict[str, np.ndarray]) -> Episode:
    return Episode(
        state=np.zeros((T + 1, 2)),
        action=np.zeros((T, 2)),
        reward=np.zeros(T),
        success=np.zeros(T, bool),
        timestamp=np.arange(T + 1) / 10,
        metadata={"task": "reach", "source": "policy", "backend": "mujoco", "seed": 1,
                  "robot": "panda", "control_hz": 10},
        frames=frames,
    )  # fmt: skip


@pytest.mark.parametrize("codec", ["h264", "vp9"])
def test_write_episode_videos_one_clip_per_camera(tmp_path, codec):
    T = 9
    ep = _episode(T, {"front": moving_square(T + 1, 32, 32, 6), "wrist": moving_square(T + 1)})
    clips = write_episode_videos(ep, tmp_path / "videos", codec=codec)
    assert set(clips) == {"front", "wrist"}
    for camera, path in clips.items():
        assert path.name == f"{ep.episode_id}_{camera}{SUFFIX[codec]}"
        info = probe_clip(path)
        assert info["codec"] == codec and info["frames"] == T + 1
        assert info["fps"] == pytest.approx(10)  # control_hz by default
    clips = write_episode_videos(ep, tmp_path / "big", fps=5, min_size=64)
    assert probe_clip(clips["front"])["width"] == 64 and probe_clip(clips["front"])["fps"] == 5
    assert write_episode_videos(_episode(T, {}), tmp_path / "none") == {}
