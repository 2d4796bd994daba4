"""``robopref bench sim``: environment throughput against raw physics, one core.

One JSON line per task and backend:
``{"task", "backend", "steps_per_s_state", "steps_per_s_3cam", "raw_physics_steps_per_s",
"overhead_ratio"}``, where ``overhead_ratio`` is the time of one state-only environment
step over the time of its raw physics substeps (``mj_step`` / ``stepSimulation``), timed
inside the same steps: 1.0 would be a free environment layer.
"""

from __future__ import annotations

import os
import time

import numpy as np


def pin_to_one_core() -> None:
    """Run on one core, as the targets are stated; llvmpipe gets one render thread too."""
    os.environ.setdefault("LP_NUM_THREADS", "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def _env_steps_per_s(env, steps: int, seed: int) -> tuple[float, float]:
    """Env steps/s, and physics-only steps/s measured inside the same steps.

    Timing the raw physics call (``mj_step`` with the env's substeps, or PyBullet's
    ``stepSimulation`` loop) inside the very steps the environment takes compares the two on
    the same states and contacts, interleaved, so machine noise hits both alike.
    """
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, (steps, env.action_space.shape[0])).astype(np.float32)
    backend = env.backend
    physics_step = backend.step
    physics = 0.0

    def timed_physics_step():
        nonlocal physics
        t0 = time.perf_counter()
        physics_step()
        physics += time.perf_counter() - t0

    backend.step = timed_physics_step
    try:
        env.reset(seed=seed)
        busy = 0.0
        for a in actions:
            t0 = time.perf_counter()
            _, _, term, trunc, _ = env.step(a)
            busy += time.perf_counter() - t0
            if term or trunc:
                env.reset()  # resets are not steps: kept out of the timing
    finally:
        backend.step = physics_step
    return steps / busy, steps / physics


def bench_task(task: str, backend: str, steps: int = 300, image_size: int = 84) -> dict:
    """Measure one task on one backend."""
    import sim

    env = sim.make(task, backend=backend, cameras=())
    try:
        _env_steps_per_s(env, min(steps, 50), 1)  # warm-up
        state, raw = _env_steps_per_s(env, steps, 0)
    finally:
        env.close()
    env = sim.make(task, backend=backend, image_size=image_size)
    try:
        _env_steps_per_s(env, min(steps, 20), 1)
        cam, _ = _env_steps_per_s(env, steps, 0)
    finally:
        env.close()
    return {
        "task": task,
        "backend": backend,
        "steps_per_s_state": round(state, 1),
        "steps_per_s_3cam": round(cam, 1),
        "raw_physics_steps_per_s": round(raw, 1),
        "overhead_ratio": round(raw / state, 3),
    }


def bench_experts(task: str, backend: str, seeds: int = 100) -> dict:
    """Scripted-expert success rate over ``seeds`` seeds (state only, no rendering)."""
    import sim

    env = sim.make(task, backend=backend, cameras=())
    policy = sim.expert(task)
    wins, lengths = 0, []
    t0 = time.perf_counter()
    try:
        for seed in range(seeds):
            obs, info = env.reset(seed=seed)
            done, n = False, 0
            while not done:
                obs, _, term, trunc, info = env.step(policy(obs, info))
                done, n = term or trunc, n + 1
            wins += info["success"]
            lengths.append(n)
    finally:
        env.close()
    return {
        "task": task,
        "backend": backend,
        "seeds": seeds,
        "success_rate": wins / seeds,
        "mean_steps": float(np.mean(lengths)),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
