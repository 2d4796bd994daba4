"""``robopref eval RUN``: success rate and true return of a run's policy over N seeds.

Evaluation runs the deterministic policy on fresh seeds (apart from training seeds) on the
task reward alone: learned rewards train the policy, the task judges it. With videos, the
first episode is recorded with every camera and one clip per camera is written.
"""

from __future__ import annotations

import numpy as np

from robopref.rl.config import TrainConfig
from robopref.rl.env import episode_metadata, make_task_env, policy_keys
from robopref.rollout import record_episode

EVAL_SEED = 10_000


def evaluate_policy(
    config: TrainConfig,
    policy,
    episodes: int,
    *,
    seed: int = EVAL_SEED,
    video_dir=None,
    codec: str = "h264",
) -> dict:
    """Rolls ``policy`` (``obs -> action``) out for ``episodes`` seeds; returns the figures."""
    if episodes < 1:
        return {"episodes": 0, "success_rate": float("nan"), "true_return": float("nan")}
    import sim

    probe = make_task_env(config)
    keys = policy_keys(config, probe)
    probe.close()
    cameras = tuple(config.env.cameras) if video_dir is not None or keys != ("state",) else ()
    env = make_task_env(config, cameras=cameras, seed=seed)
    meta = episode_metadata(config, env)
    returns, successes, videos = [], [], {}
    try:
        for i in range(episodes):
            ep = record_episode(
                env,
                lambda obs, info: policy(obs),
                seed=seed + i,
                task=config.task,
                source="eval",
                backend=meta["backend"],
                robot=meta["robot"],
                control_hz=meta["control_hz"],
            )
            returns.append(float(np.nansum(ep.reward)))
            successes.append(ep.is_success)
            if i == 0 and video_dir is not None and ep.cameras:
                from robopref.data.video import write_episode_videos

                paths = write_episode_videos(ep, video_dir, codec=codec, min_size=168)
                videos = {cam: str(p) for cam, p in paths.items()}
    finally:
        env.close()
    is_dmc = config.task.startswith(sim.DMC_PREFIX)
    return {
        "episodes": episodes,
        "success_rate": float("nan") if is_dmc else float(np.mean(successes)),
        "true_return": float(np.mean(returns)),
        "true_return_std": float(np.std(returns)),
        "videos": videos,
    }
