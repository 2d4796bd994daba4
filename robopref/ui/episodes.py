"""Labelling without a trainer: import recorded episodes into a run and queue queries.

Episodes recorded by the bridge (``hardware/core/recorder.py``) or by ``robopref rollout`` use the
one episode format, so a person can label them like the trainer's: `import_episodes` copies
them into the run's ``episodes/`` (checking each file on the way), and `add_uniform_queries`
queues random pairs of segments with the ``uniform`` selector.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robopref.data import Episode, EpisodeStore
from robopref.preferences import LabelStore, SegmentPool, select_queries
from robopref.runs import RunPaths

#: Default segment length (steps) for queries over imported episodes: 2.5 s at 20 Hz.
DEFAULT_SEGMENT_LENGTH = 50


def import_episodes(run: RunPaths, directory: str | os.PathLike[str]) -> list[str]:
    """Copies every episode file of ``directory`` into ``run``'s ``episodes/``.

    Each file is fully read and verified (`robopref.data.load_episode`) before it is saved,
    so a corrupt recording fails here, naming the file, rather than in the page. An episode
    already in the run is replaced (same id, same content, when imported twice).

    Returns:
        The imported episode ids, sorted.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        ValueError: it holds no episode, or a corrupt one.
    """
    source = Path(directory)
    if not source.is_dir():
        raise FileNotFoundError(f"no episodes directory at {source}")
    found = EpisodeStore(source)
    if len(found) == 0:
        raise ValueError(f"no episode files (*.episode.npz) in {source}")
    target = EpisodeStore(run.episodes)
    if target.root.resolve() == found.root.resolve():
        return found.ids()
    for episode in found:  # loads and verifies each file
        target.save(episode)
    return found.ids()


def add_uniform_queries(
    run: RunPaths,
    n: int,
    *,
    episode_ids: list[str] | None = None,
    segment_length: int | None = None,
    seed: int = 0,
    k: int = 1,
) -> list[int]:
    """Queues ``n`` uniformly random pairs of segments of the run's episodes.

    Args:
        run: the run; its label store is created if missing.
        n: pairs wanted (fewer if the episodes have fewer distinct pairs).
        episode_ids: episodes to pair up; default all of the run's.
        segment_length: steps per segment; default `DEFAULT_SEGMENT_LENGTH`, or the
            shortest episode's length when that is shorter.
        seed: seed of the uniform draw.
        k: labels wanted per query.

    Returns:
        The new query ids.

    Raises:
        ValueError: no episodes, or too few windows to make a pair.
    """
    store = EpisodeStore(run.episodes)
    ids = store.ids() if episode_ids is None else list(episode_ids)
    if not ids:
        raise ValueError(f"no episodes in {store.root} to make queries from")
    episodes: list[Episode] = [store.load(i) for i in ids]
    if segment_length is None:
        segment_length = min(DEFAULT_SEGMENT_LENGTH, min(ep.length for ep in episodes))
    pool = SegmentPool(episodes, segment_length, stride=1)
    specs = select_queries("uniform", pool, n, np.random.default_rng(seed), k=k)
    with LabelStore(run.labels) as labels:
        return labels.add_queries(specs)


def run_task(run: RunPaths) -> str:
    """The run's task from its ``config.json``; empty when the run has no config (imported
    episodes labelled without a trainer: each query then shows its episodes' task).

    Raises:
        RunDirError: a ``config.json`` that is unreadable or names no task.
    """
    return run.task() if run.config.exists() else ""
