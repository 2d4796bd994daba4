"""Episodes: the in-memory type, the crash-safe on-disk format, a store, and UI clips."""

from robopref.data.episode import REQUIRED_METADATA, Episode
from robopref.data.storage import (
    FORMAT_NAME,
    FORMAT_VERSION,
    EpisodeFormatError,
    EpisodeStore,
    load_episode,
    save_episode,
)
from robopref.data.video import decode_clip, encode_clip, probe_clip, write_episode_videos

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "REQUIRED_METADATA",
    "Episode",
    "EpisodeFormatError",
    "EpisodeStore",
    "decode_clip",
    "encode_clip",
    "load_episode",
    "probe_clip",
    "save_episode",
    "write_episode_videos",
]
