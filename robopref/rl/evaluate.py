"""``robopref eval RUN``: success rate and true return of a run's policy over N seeds.

Evaluation runs the deterministic policy (``robopref eval --stochastic``: SAC's stochastic
one, its noise seeded per episode) on fresh seeds (apart from training seeds) on the task
reward alone: learned rewards train the policy, the task judges it. With videos, the
first episode is recorded with every camera and one clip per camera is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from robopref.data import Episode
from robopref.rl.config import TrainConfig
from robopref.rl.env import episode_metadata, make_task_env, policy_keys
from robopref.rollout import record_episode

EVAL_SEED = 10_000


def evaluate_episodes(
    config: TrainConfig,
    policy,
    seeds: Sequence[int],
    *,
    video_dir=None,
    video_seed: int | None = None,
    codec: str = "h264",
    cameras: Sequence[str] = (),
    on_episode: Callable[[int, Episode], None] | None = None,
) -> tuple[list[tuple[float, bool]], dict[str, str]]:
    """Rolls ``policy`` out once per seed; ``(true return, success)`` per seed, and clips.

    Every episode starts from ``env.reset(seed=seed)`` and a stochastic policy's noise is
    reseeded with it (``policy.reseed(seed)``, where the policy has one), so an episode
    depends on its seed alone: ``robopref eval --workers N`` splits the seeds over
    Ray workers and gets the figures of a serial run. Clips are written for the episode of
    ``video_seed`` (when ``video_dir`` is given and that seed is among ``seeds``).
    ``cameras`` are rendered besides those the policy and the clips need (a reward model's
    views), and ``on_episode(seed, episode)`` sees each recorded episode before it is
    dropped (`robopref.rl.reward_report` scores them with a PRM).
    """
    probe = make_task_env(config)
    keys = policy_keys(config, probe)
    probe.close()
    needed = tuple(config.env.cameras) if video_dir is not None or keys != ("state",) else ()
    cameras = (*needed, *(c for c in cameras if c not in needed))
    env = make_task_env(config, cameras=cameras, seed=seeds[0] if seeds else 0)
    meta = episode_metadata(config, env)
    results, videos = [], {}
    reseed = getattr(policy, "reseed", None)
    try:
        for seed in seeds:
            if reseed is not None:
                reseed(seed)
            ep = record_episode(
                env,
                lambda obs, info: policy(obs),
                seed=seed,
                task=config.task,
                source="eval",
                backend=meta["backend"],
                robot=meta["robot"],
                control_hz=meta["control_hz"],
            )
            results.append((float(np.nansum(ep.reward)), bool(ep.is_success)))
            if on_episode is not None:
                on_episode(seed, ep)
            if seed == video_seed and video_dir is not None and ep.cameras:
                from robopref.data.video import write_episode_videos

                paths = write_episode_videos(ep, video_dir, codec=codec, min_size=168)
                videos = {cam: str(p) for cam, p in paths.items()}
    finally:
        env.close()
    return results, videos


def evaluation_figures(
    config: TrainConfig, results: Sequence[tuple[float, bool]], videos: dict[str, str]
) -> dict:
    """What ``robopref eval`` reports, from every episode's ``(return, success)`` in seed
    order."""
    import sim

    returns = [r for r, _ in results]
    is_dmc = config.task.startswith(sim.DMC_PREFIX)
    return {
        "episodes": len(results),
        "success_rate": float("nan") if is_dmc else float(np.mean([s for _, s in results])),
        "true_return": float(np.mean(returns)),
        "true_return_std": float(np.std(returns)),
        "videos": videos,
    }


def evaluate_policy(
    config: TrainConfig,
    policy,
    episodes: int,
    *,
    seed: int = EVAL_SEED,
    video_dir=None,
    codec: str = "h264",
) -> dict:
    """Rolls ``policy`` (``obs -> action``) out for ``episodes`` seeds; returns the figures.

    With videos, the first episode is recorded with every camera.
    """
    if episodes < 1:
        return {"episodes": 0, "success_rate": float("nan"), "true_return": float("nan")}
    seeds = list(range(seed, seed + episodes))
    results, videos = evaluate_episodes(
        config, policy, seeds, video_dir=video_dir, video_seed=seed, codec=codec
    )
    return evaluation_figures(config, results, videos)
