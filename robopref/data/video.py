"""Browser-playable clips of episode frames, for the query UI.

Encoding uses the ffmpeg binary shipped by ``imageio-ffmpeg`` (it has libx264 and
libvpx-vp9; ffprobe is not shipped, so probing parses ``ffmpeg -i`` output). OpenCV's
``mp4v`` is not used because Chromium does not play MPEG-4 Part 2.

* ``codec="h264"`` -> ``.mp4``: libx264, ``yuv420p``, main profile, ``+faststart`` (the
  index is at the front, so the browser starts playing before the download ends).
* ``codec="vp9"`` -> ``.webm``: libvpx-vp9, ``yuv420p``, constant quality.
* Colours: BT.709 limited range, tagged in the stream.

``yuv420p`` needs even width and height, so odd sizes are padded by repeating the last
row/column. Small renders (84x84) can be upscaled with nearest neighbour (``scale``,
``min_size``) so they are not a blur in the page. Files are written atomically.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np

from robopref.data.episode import Episode
from robopref.data.storage import atomic_path

CODECS: dict[str, dict[str, Any]] = {
    "h264": {
        "suffix": ".mp4",
        "args": [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-profile:v", "main",
            "-movflags", "+faststart", "-f", "mp4",
        ],
    },
    "vp9": {
        "suffix": ".webm",
        "args": [
            "-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-deadline", "realtime",
            "-cpu-used", "8", "-row-mt", "1", "-f", "webm",
        ],
    },
}  # fmt: skip


# RGB -> BT.709 limited-range 4:2:0, tagged as such: browsers disagree on how to show an
# untagged stream (BT.601 or BT.709), and every one of them honours explicit BT.709 tags.
_COLOR_ARGS = [
    "-vf", "scale=out_color_matrix=bt709:out_range=tv", "-pix_fmt", "yuv420p",
    "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
    "-color_range", "tv",
]  # fmt: skip


def _ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def _check_frames(frames: Any) -> np.ndarray:
    a = np.asarray(frames)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[3] != 3:
        raise ValueError(f"frames: expected uint8 (T, H, W, 3), got shape {a.shape} {a.dtype}")
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"frames: expected at least one non-empty frame, got shape {a.shape}")
    return a


def _upscale_factor(h: int, w: int, scale: int, min_size: int | None) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale: expected an int >= 1, got {scale!r}")
    if min_size is None:
        return scale
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_size: expected an int >= 1 or None, got {min_size!r}")
    return max(scale, math.ceil(min_size / min(h, w)))


def _prepare(frame: np.ndarray, k: int) -> np.ndarray:
    if k > 1:
        frame = frame.repeat(k, axis=0).repeat(k, axis=1)
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        # Edge padding rather than black: a black border bleeds into chroma at 4:2:0.
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(frame)


def encode_clip(
    frames: np.ndarray,
    path: str | os.PathLike[str],
    fps: float = 20,
    codec: str = "h264",
    *,
    scale: int = 1,
    min_size: int | None = None,
) -> Path:
    """Encodes frames into a clip that browsers play (H.264 MP4 or VP9 WebM).

    Args:
        frames: uint8 ``(T, H, W, 3)`` RGB frames, ``T >= 1``.
        path: output file; must end in ``.mp4`` for h264 and ``.webm`` for vp9. Written
            atomically (temp file, then rename); an existing file is replaced.
        fps: frames per second, > 0.
        codec: ``"h264"`` or ``"vp9"``.
        scale: integer nearest-neighbour upscale factor.
        min_size: if given, upscale (nearest neighbour, integer factor) until the shorter
            side is at least this many pixels, e.g. 168 for 84x84 renders.

    Returns:
        The path written. Odd output sizes are padded to even.

    Raises:
        ValueError: on bad frames, fps, codec, scale or suffix.
        RuntimeError: if ffmpeg fails (with its error output).
    """
    if codec not in CODECS:
        raise ValueError(f"codec: unknown {codec!r}; valid: {sorted(CODECS)}")
    frames = _check_frames(frames)
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not 0 < fps < math.inf:
        raise ValueError(f"fps: expected a positive number, got {fps!r}")
    fps = float(fps)
    path = Path(path)
    suffix = CODECS[codec]["suffix"]
    if path.suffix != suffix:
        raise ValueError(f"path: {codec} clips must end in {suffix!r}, got {path.name!r}")
    k = _upscale_factor(frames.shape[1], frames.shape[2], scale, min_size)
    h, w = _prepare(frames[0], k).shape[:2]
    with atomic_path(path) as tmp:
        cmd = [
            _ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", repr(fps),
            "-i", "pipe:0", "-an", *_COLOR_ARGS, *CODECS[codec]["args"], str(tmp),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdin is not None
            for frame in frames:
                proc.stdin.write(_prepare(frame, k).data)
        except BrokenPipeError:
            pass  # ffmpeg exited early; its return code and stderr say why, below.
        finally:
            # communicate() closes stdin and drains stderr, so ffmpeg can never block on it.
            _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(
                f"ffmpeg failed encoding {path.name} ({codec}, {w}x{h}, {len(frames)} "
                f"frames): {err.decode(errors='replace').strip()[-2000:]}"
            )
    return path


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+)(.*)")
_SIZE_RE = re.compile(r", (\d+)x(\d+)[,\s]")
_FPS_RE = re.compile(r"([\d.]+)(k?) (?:fps|tbr)")  # "fps" comes first; "tbr" if no fps
_PIX_FMT_RE = re.compile(r", ([a-z0-9_]+)[(,]")
_PROFILE_RE = re.compile(r"^ \(([^)/]+)\)")
_FRAMES_RE = re.compile(r"frame=\s*(\d+)")


def probe_clip(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a clip's video stream properties with ffmpeg.

    Returns:
        ``{"codec", "width", "height", "frames", "fps", "pix_fmt", "profile"}``: codec and
        pix_fmt as ffmpeg names them ("h264", "vp9"; "yuv420p"), the profile as ffmpeg
        prints it ("Main", "Profile 0"; "" if none), frames counted exactly.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if ffmpeg finds no readable video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no clip at {path}")
    # Stream-copy to the null muxer: counts frames exactly without decoding them.
    cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-c", "copy", "-f", "null", "-"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    err = proc.stderr
    stream = _STREAM_RE.search(err)
    size = _SIZE_RE.search(stream.group(2)) if stream else None
    frames = _FRAMES_RE.findall(err)
    if proc.returncode != 0 or not stream or not size or not frames:
        raise ValueError(f"{path}: not a video clip ffmpeg can read: {err.strip()[-1000:]}")
    details = stream.group(2)
    fps = _FPS_RE.search(details)
    pix_fmt = _PIX_FMT_RE.search(details)
    profile = _PROFILE_RE.search(details)
    return {
        "codec": stream.group(1),
        "width": int(size.group(1)),
        "height": int(size.group(2)),
        "frames": int(frames[-1]),
        "fps": float(fps.group(1)) * (1000 if fps.group(2) else 1) if fps else 0.0,
        "pix_fmt": pix_fmt.group(1) if pix_fmt else "",
        "profile": profile.group(1) if profile else "",
    }


def decode_clip(path: str | os.PathLike[str]) -> np.ndarray:
    """Decodes every frame of a clip to uint8 ``(T, H, W, 3)`` RGB (for tests, thumbnails).

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if it is not a readable clip.
    """
    info = probe_clip(path)
    w, h = info["width"], info["height"]
    cmd = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
           "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "pipe:1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True)
    raw = proc.stdout
    if proc.returncode != 0 or len(raw) % (w * h * 3):
        raise ValueError(f"{path}: decoding failed: {proc.stderr.decode(errors='replace')}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, h, w, 3)


def write_episode_videos(
    ep: Episode,
    out_dir: str | os.PathLike[str],
    fps: float | None = None,
    codec: str = "h264",
    *,
    min_size: int | None = None,
) -> dict[str, Path]:
    """Encodes one clip per camera of ``ep``, named ``<episode_id>_<camera>.mp4`` (or .webm).

    Args:
        ep: the episode; all ``T + 1`` frames of each camera are encoded.
        out_dir: output directory, created if missing.
        fps: frame rate; default the episode's ``metadata["control_hz"]``.
        codec: ``"h264"`` or ``"vp9"``.
        min_size: passed to `encode_clip`.

    Returns:
        Camera name -> clip path; empty for an episode without frames.
    """
    if codec not in CODECS:
        raise ValueError(f"codec: unknown {codec!r}; valid: {sorted(CODECS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fps = float(ep.metadata["control_hz"]) if fps is None else fps
    suffix = CODECS[codec]["suffix"]
    return {
        camera: encode_clip(
            frames,
            out_dir / f"{ep.episode_id}_{camera}{suffix}",
            fps=fps,
            codec=codec,
            min_size=min_size,
        )
        for camera, frames in ep.frames.items()
    }
