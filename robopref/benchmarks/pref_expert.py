"""Does a run's learned preference reward prefer what the scripted expert does?

A preference model is fitted to the segments its run asked about, mostly early, unskilled
behaviour; what it says about states nobody labelled (the cube held up, the goal reached)
is extrapolation. This scores the task's scripted expert, in the run's own environment
settings (randomization included), with the run's final ``reward/pref.pt``, and prints one
JSON line per expert episode and a summary:

* ``pref_return`` and ``quarters``: the learned return of the episode and of each quarter
  of it (the expert approaches, grasps and then holds: a reward that ranks the task as its
  teacher did is positive where the expert holds the task done);
* ``rho_level`` and ``rho_gain``: Spearman's rank correlation of the per-step learned
  reward with the privileged progress reached after each step and with its gain
  (``teacher.signal`` ``progress-level`` and ``progress``);
* the summary adds the mean learned return of the run's own last training episodes, so a
  reward that rates the expert's success below the failing policy shows at once.

    python -m robopref.benchmarks.pref_expert runs/bench-learning-v2/lift-rand-s0 --episodes 6

Why lift-rand failed (README, "Randomized lift"): its failing seeds' models rated the
expert's successful randomized lift far below their own runs' failures.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

#: Seed offset of the expert's episodes: away from the demonstrations' (`rl.demos`).
SEED_OFFSET = 7_777


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None  # constant: no ranking to correlate
    return round(float(spearmanr(x, y).statistic), 4)


def episode_row(model, episode) -> dict[str, Any]:
    """The learned reward along one episode with privileged progress."""
    reward, _ = model.reward(episode.state[:-1], episode.action)
    reward = np.asarray(reward, np.float64)
    progress = np.asarray(episode.progress, np.float64)
    quarters = np.array_split(reward, 4)
    return {
        "pref_return": round(float(reward.sum()), 3),
        "quarters": [round(float(q.sum()), 3) for q in quarters],
        "rho_level": _spearman(reward, progress[1:]),
        "rho_gain": _spearman(reward, np.diff(progress)),
        "success": bool(np.asarray(episode.success).any()),
    }


def check(run_dir: str, episodes: int = 6, recent: int = 10) -> list[dict[str, Any]]:
    """The rows (expert episodes, then the summary) for ``run_dir``.

    Raises:
        FileNotFoundError: the run has no ``reward/pref.pt`` (no preference reward).
        ValueError: the run's task has no scripted expert, or a bad count.
    """
    import sim
    from robopref.data import EpisodeStore
    from robopref.rewards.preference import PreferenceRewardModel
    from robopref.rl.config import from_dict
    from robopref.rl.demos import record_expert_demos
    from robopref.runs import RunPaths

    if episodes < 1 or recent < 0:
        raise ValueError(f"need episodes >= 1 and recent >= 0, got {episodes}, {recent}")
    run = RunPaths.of(run_dir)
    config = from_dict(run.read_config())
    path = run.reward / "pref.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the run has no preference reward model")
    if config.task not in sim.PANDA_TASKS:
        raise ValueError(f"{config.task} has no scripted expert")
    model = PreferenceRewardModel.load(path)
    # The expert in the run's env settings, on seeds of its own (demo_noise as the run's).
    expert = record_expert_demos(config.replace(seed=config.seed + SEED_OFFSET), episodes, ())
    rows = [
        {"episode": i, "source": "expert", **episode_row(model, ep)} for i, ep in enumerate(expert)
    ]
    store = EpisodeStore(run.episodes)
    own = [store.load(i) for i in sorted(store.ids())[-recent:]] if recent else []
    own_returns = [float(model.reward(ep.state[:-1], ep.action)[0].sum()) for ep in own]
    summary: dict[str, Any] = {
        "run": str(run.root),
        "task": config.task,
        "randomize": bool(config.env.randomize),
        "teacher_signal": config.teacher.signal,
        "expert_episodes": episodes,
        "expert_success": float(np.mean([r["success"] for r in rows])),
        "expert_pref_return": round(float(np.mean([r["pref_return"] for r in rows])), 3),
        "expert_rho_level": _mean([r["rho_level"] for r in rows]),
        "expert_rho_gain": _mean([r["rho_gain"] for r in rows]),
        "run_episodes": len(own),
        "run_pref_return": round(float(np.mean(own_returns)), 3) if own_returns else None,
        "run_success": float(np.mean([ep.success.any() for ep in own])) if own else None,
    }
    return [*rows, summary]


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m robopref.benchmarks.pref_expert", description=__doc__
    )
    p.add_argument("run", help="a finished run with reward/pref.pt")
    p.add_argument("--episodes", type=int, default=6, help="expert episodes (default 6)")
    p.add_argument("--recent", type=int, default=10, help="the run's last training episodes")
    args = p.parse_args(argv)
    try:
        rows = check(args.run, args.episodes, args.recent)
    except (FileNotFoundError, ValueError) as e:
        print(f"pref_expert: {e}", file=sys.stderr)
        return 2
    for row in rows:
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
