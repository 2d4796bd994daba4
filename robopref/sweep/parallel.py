"""Episodes split over Ray workers: ``robopref rollout --workers N``, ``robopref eval
--workers N``.

Every episode depends on its index alone (its seed, its own policy random stream, its file
name: `robopref.rollout.record_rollouts`; a deterministic policy from ``reset(seed)``:
`robopref.rl.evaluate.evaluate_episodes`), so the indices are cut into contiguous slices,
one per worker, and the results put back in index order: the same episode files, in the
same order on disk, and the same figures as a serial run.
"""

from __future__ import annotations

import os
from typing import Any

from robopref.rl.config import from_dict
from robopref.rollout import RolloutConfig, RolloutResult, record_rollouts, rollout_summary


def split(n: int, parts: int) -> list[range]:
    """``range(n)`` in at most ``parts`` contiguous, near-equal, non-empty slices."""
    parts = max(1, min(parts, n))
    size, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + size + (i < extra)
        out.append(range(start, stop))
        start = stop
    return out


def _rollout_slice(config: RolloutConfig, indices: list[int]) -> list[RolloutResult]:
    return record_rollouts(config, indices)


def parallel_rollouts(config: RolloutConfig, workers: int, address: str | None = None) -> dict:
    """`robopref.rollout.run_rollouts` on ``workers`` Ray workers; the same summary."""
    import ray

    from robopref.sweep.cluster import ray_session

    with ray_session(address):
        task = ray.remote(_rollout_slice).options(num_cpus=1)
        refs = [task.remote(config, list(s)) for s in split(config.episodes, workers)]
        results = [r for part in ray.get(refs) for r in part]
    return rollout_summary(config, results)


def _eval_slice(
    config_data: dict[str, Any],
    run_dir: str,
    seeds: list[int],
    video_dir: str | None,
    video_seed: int,
    codec: str,
    deterministic: bool = True,
) -> tuple[list[tuple[float, bool]], dict[str, str]]:
    from robopref.rl.evaluate import evaluate_episodes
    from robopref.rl.policy import load_run_policy

    policy = load_run_policy(run_dir, deterministic=deterministic)
    return evaluate_episodes(
        from_dict(config_data),
        policy,
        seeds,
        video_dir=video_dir,
        video_seed=video_seed,
        codec=codec,
    )


def parallel_evaluate(
    config,
    run_dir: str | os.PathLike[str],
    episodes: int,
    workers: int,
    *,
    seed: int,
    video_dir: str | os.PathLike[str] | None = None,
    codec: str = "h264",
    address: str | None = None,
    deterministic: bool = True,
) -> dict:
    """`robopref.rl.evaluate.evaluate_policy` of a run's policy on ``workers`` Ray workers
    (each loads the policy from ``run_dir``; ``deterministic=False``: its stochastic
    policy); the same figures."""
    import ray

    from robopref.rl.evaluate import evaluate_policy, evaluation_figures
    from robopref.sweep.cluster import ray_session

    if episodes < 1:
        return evaluate_policy(config, None, episodes)
    seeds = list(range(seed, seed + episodes))
    video = str(video_dir) if video_dir is not None else None
    with ray_session(address):
        task = ray.remote(_eval_slice).options(num_cpus=1)
        refs = [
            task.remote(
                config.to_dict(),
                str(run_dir),
                [seeds[i] for i in s],
                video,
                seed,
                codec,
                deterministic,
            )
            for s in split(episodes, workers)
        ]
        parts = ray.get(refs)
    results = [r for part, _ in parts for r in part]
    videos: dict[str, str] = next((v for _, v in parts if v), {})
    return evaluation_figures(config, results, videos)


__all__ = ["parallel_evaluate", "parallel_rollouts", "split"]
