"""``robopref bench reward``: reward-model inference speed, one core.

JSON lines:
- ``{"bench": "prm_latency", "prm_latency_ms_p50", "prm_latency_ms_p95", ...}``: one
  observation of three 84x84 views (``--image-size``: another square size, frames and PRM
  input alike) through `ProcessRewardModel.potential` (preprocessing, encoder, fusion and
  bins), what the learner pays per environment step;
- ``{"bench": "prm_batch", "prm_batch_frames_per_s", ...}``: `potential_batch` over a
  buffer of observations, what relabelling a replay buffer pays;
- ``{"bench": "pref_latency", "pref_latency_us_p50", ...}``: the default preference
  ensemble (3 members, state -> 256 -> 256 -> 1) at one (state, action).

Latencies are the median (and 95th percentile) of individually timed calls after warm-up.
The weights are untrained: the cost does not depend on their values.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def _percentiles(fn: Callable[[], object], calls: int, warmup: int = 20) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t0
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def _frames(n: int, size: int, views, rng) -> dict[str, np.ndarray]:
    return {v: rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8) for v in views}


def bench_reward(
    calls: int = 300, batch_frames: int = 2048, seed: int = 0, image_size: int | None = None
) -> list[dict]:
    """Measure the PRM and preference-ensemble latencies and the PRM batch throughput, the
    PRM at ``image_size`` pixels (default: `PRMConfig`'s)."""
    import torch

    from robopref.rewards.preference import PreferenceRewardModel
    from robopref.rewards.prm import PRMConfig, ProcessRewardModel

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    prm = ProcessRewardModel(
        PRMConfig() if image_size is None else PRMConfig(image_size=image_size)
    )
    cfg = prm.config
    one = {v: f[0] for v, f in _frames(1, cfg.image_size, cfg.views, rng).items()}
    p50, p95 = _percentiles(lambda: prm.potential(one), calls)
    rows = [
        {
            "bench": "prm_latency",
            "prm_latency_ms_p50": p50 * 1e3,
            "prm_latency_ms_p95": p95 * 1e3,
            "views": len(cfg.views),
            "image_size": cfg.image_size,
            "threads": torch.get_num_threads(),
        }
    ]
    batch = _frames(batch_frames, cfg.image_size, cfg.views, rng)
    prm.potential_batch({v: f[:64] for v, f in batch.items()})  # warm-up
    t0 = time.perf_counter()
    prm.potential_batch(batch)
    rows.append(
        {
            "bench": "prm_batch",
            "prm_batch_frames_per_s": batch_frames / (time.perf_counter() - t0),
            "frames": batch_frames,
            "views": len(cfg.views),
            "image_size": cfg.image_size,
        }
    )
    import sim  # the state size of the tasks' full observation

    env = sim.make("panda-push", cameras=())
    obs_dim, act_dim = env.observation_space["state"].shape[0], env.action_space.shape[0]
    env.close()
    pref = PreferenceRewardModel(obs_dim, act_dim)
    s = rng.standard_normal((1, obs_dim)).astype(np.float32)
    a = rng.uniform(-1, 1, (1, act_dim)).astype(np.float32)
    p50, p95 = _percentiles(lambda: pref.reward(s, a), calls * 3)
    rows.append(
        {
            "bench": "pref_latency",
            "pref_latency_us_p50": p50 * 1e6,
            "pref_latency_us_p95": p95 * 1e6,
            "ensemble": pref.config.ensemble_size,
            "hidden": list(pref.config.hidden),
            "obs_dim": obs_dim,
        }
    )
    return rows
