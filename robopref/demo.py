"""``robopref demo``: the main job on embedded defaults, a short real training run.

The robot learns ``panda-reach`` with the manipulation recipe (``rlpd``: SAC with LayerNorm
critics and 10 scripted demonstrations in the replay buffer) from the sparse task reward, a
preference reward fit to 50 labels of the scripted oracle teacher (PEBBLE loop), and
potential shaping from a process reward model that the run first trains from scripted
episodes: every part of the training path, in a few minutes on a laptop CPU. It writes a
run directory like any ``robopref train`` run, plus a clip of the trained policy per camera
and a picture of the three views, and prints the JSON line of ``robopref train`` with where
the plot and the clips are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: The demo's config: `robopref.rl.config.TrainConfig` keys (dotted), over its defaults.
DEMO_DEFAULTS: dict[str, Any] = {
    "task": "panda-reach",
    "reward": "sparse+pref+prm",
    "teacher.name": "oracle",
    "labels": 50,
    "steps": 6000,
    "demos": "10",
    "eval_episodes": 20,
    "checkpoint_every": 2500,
    "log_every": 500,
    "learner.algo": "rlpd",
    "learner.gradient_steps": 2,
    "learner.learning_starts": 500,
    "pebble.query_every": 500,
    "pebble.segment_length": 20,
}


def camera_grid(env_frames: dict[str, np.ndarray], scale: int = 2) -> np.ndarray:
    """The camera views side by side, upscaled (nearest) so 84x84 frames are legible."""
    views = [np.kron(f, np.ones((scale, scale, 1), dtype=np.uint8)) for f in env_frames.values()]
    return np.concatenate(views, axis=1)


def save_views_png(task: str, backend: str, path: Path, seed: int = 0, steps: int = 0) -> None:
    """Save the three camera views of ``task`` after ``steps`` expert steps as a PNG."""
    import cv2

    import sim

    env = sim.make(task, backend=backend)
    try:
        obs, info = env.reset(seed=seed)
        policy = sim.expert(task)
        for _ in range(steps):
            obs, _, term, trunc, info = env.step(policy(obs, info))
            if term or trunc:
                break
        grid = camera_grid({c: obs[c] for c in env.cameras})
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


def free_run_dir(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... when it already holds a run (demo reruns)."""
    candidate, n = Path(base), 1
    while (candidate / "config.json").exists():
        n += 1
        candidate = Path(f"{base}-{n}")
    return str(candidate)


def run_demo(run_dir: str = "runs/demo", overrides: dict[str, Any] | None = None) -> dict:
    """Train the demo run; returns the summary printed as the final JSON line."""
    from robopref.rl.config import load_config
    from robopref.rl.train import train

    config = load_config(
        overrides={**DEMO_DEFAULTS, **(overrides or {}), "run_dir": free_run_dir(run_dir)}
    )
    from robopref.rl.evaluate import evaluate_policy
    from robopref.rl.policy import load_run_policy
    from robopref.runs import RunPaths

    summary = train(config)
    run = RunPaths.of(summary["run"])
    save_views_png(config.task, config.env.backend, run.plots / "views.png")
    # One more evaluation episode, filmed by every camera (the summary's figures are over
    # eval_episodes seeds; this clip is the first of them).
    clips = evaluate_policy(config, load_run_policy(run.root), 1, video_dir=run.videos)
    return {**summary, "plot": str(run.plots / "training.png"), "videos": clips["videos"]}
