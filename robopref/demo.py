"""``robopref demo``: the main job on embedded defaults.

Until the training loop lands (issue 4) this records scripted-expert episodes of every
Panda task with a clip per camera and a picture of the three views, into a run directory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from robopref.rollout import RolloutConfig, run_rollouts


@dataclass(frozen=True)
class DemoConfig:
    """Embedded defaults of ``make demo``.

    Attributes:
        run_dir: Run directory to write (DESIGN.md contract 6).
        episodes: Expert episodes per task.
        backend: Simulator backend.
        seed: First seed.
    """

    run_dir: str = "runs/demo"
    episodes: int = 2
    backend: str = "mujoco"
    seed: int = 0


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


def run_demo(config: DemoConfig) -> dict:
    """Record the demo run; returns the summary printed as the final JSON line."""
    import sim

    run = Path(config.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    results = []
    for task in sim.list_tasks(include_dmc=False):
        rollout = RolloutConfig(
            task=task,
            backend=config.backend,
            episodes=config.episodes,
            out=str(run / "episodes" / task),
            seed=config.seed,
        )
        results.append(run_rollouts(rollout))
        save_views_png(task, config.backend, run / "plots" / f"{task}_views.png", config.seed, 10)
    summary = {
        "run": str(run),
        "tasks": {r["task"]: r["success_rate"] for r in results},
        "episodes": sum(r["episodes"] for r in results),
        "success_rate": float(np.mean([r["success_rate"] for r in results])),
    }
    (run / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
