"""Where a trained policy fails on an object task (push, pick-place): one line per episode.

``robopref eval`` says how often a policy succeeds; this says what its failures look like,
which is what decides the next experiment (a better reward, more updates, other data). The
run's deterministic policy is rolled out on ``robopref eval``'s seeds, and each episode is
put in one class by what the simulator's privileged state did:

* ``success``: the task succeeded at some step (as ``robopref eval`` counts it);
* ``untouched``: the object never moved 1 cm;
* ``stalled``: the object moved, then neither it nor the hand moved 1 cm over the episode's
  last ``STALL_STEPS`` steps: the policy came to rest at a fixed point;
* ``moving``: time ran out while the object or the hand still moved.

    python -m robopref.benchmarks.failures runs/bench-learning/push-prm-s0 --episodes 20

prints a JSON line per episode (``d0``: object to goal at the start, ``d_end``, ``d_min``,
``moved``: the object's displacement, the class) and a summary line with the count of each
class and the success rate by starting distance (below and above the median ``d0``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

#: Steps at the end of an episode over which a stalled policy moves neither hand nor object.
STALL_STEPS = 20
#: Metres: less than this is "did not move".
STILL = 0.01


def classify(success: bool, object_xy: np.ndarray, tcp: np.ndarray) -> str:
    """The class of one episode from its object (x, y) and TCP paths, ``(T+1, 2|3)`` each."""
    if success:
        return "success"
    if np.linalg.norm(object_xy - object_xy[0], axis=1).max() < STILL:
        return "untouched"
    tail = slice(-STALL_STEPS - 1, None)
    object_still = np.linalg.norm(object_xy[tail] - object_xy[-1], axis=1).max() < STILL
    hand_still = np.linalg.norm(tcp[tail] - tcp[-1], axis=1).max() < STILL
    return "stalled" if object_still and hand_still else "moving"


def episode_record(policy, env, seed: int) -> dict[str, Any]:
    """Rolls ``policy`` out once from ``env.reset(seed=seed)``; the episode's figures."""
    obs, info = env.reset(seed=seed)
    p = info["privileged"]
    goal = np.array(p["goal_pos"], dtype=float)
    objects, hands = [np.array(p["object_pos"], float)], [np.array(p["tcp"], float)]
    done, success = False, False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy(obs))
        p = info["privileged"]
        objects.append(np.array(p["object_pos"], float))
        hands.append(np.array(p["tcp"], float))
        success = success or bool(info["success"])  # as `robopref eval`: at any step
        done = terminated or truncated
    obj, tcp = np.asarray(objects), np.asarray(hands)
    d = np.linalg.norm(obj[:, :2] - goal[:2], axis=1)
    return {
        "seed": seed,
        "success": success,
        "steps": len(obj) - 1,
        "d0": round(float(d[0]), 4),
        "d_end": round(float(d[-1]), 4),
        "d_min": round(float(d.min()), 4),
        "moved": round(float(np.linalg.norm(obj[-1, :2] - obj[0, :2])), 4),
        "class": classify(success, obj[:, :2], tcp),
    }


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per class, and success by starting distance (split at the median ``d0``)."""
    if not records:
        raise ValueError("no episodes to summarize")
    classes = ("success", "untouched", "stalled", "moving")
    d0 = np.array([r["d0"] for r in records])
    ok = np.array([r["success"] for r in records], dtype=float)
    median = float(np.median(d0))
    near, far = d0 <= median, d0 > median
    return {
        "episodes": len(records),
        "success_rate": float(ok.mean()),
        **{c: sum(r["class"] == c for r in records) for c in classes},
        "median_d0": round(median, 4),
        "success_d0_at_most_median": float(ok[near].mean()),
        "success_d0_above_median": float(ok[far].mean()) if far.any() else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m robopref.benchmarks.failures", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("run", help="a run directory of an object task (push, pick-place)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation seeds (20)")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")

    import sim
    from robopref.rl.config import from_dict
    from robopref.rl.env import make_task_env
    from robopref.rl.evaluate import EVAL_SEED
    from robopref.rl.policy import load_run_policy
    from robopref.runs import RunPaths

    run = RunPaths.of(args.run)
    config = from_dict(run.read_config())
    task = sim.PANDA_TASKS.get(config.task)
    if task is None or task.achieved_field != "object_pos":
        objects = [n for n, t in sim.PANDA_TASKS.items() if t.achieved_field == "object_pos"]
        parser.error(f"{config.task} moves no object to a goal; failures reads {objects}")
    policy = load_run_policy(run.root)
    env = make_task_env(config, cameras=())
    try:
        records = []
        for i in range(args.episodes):
            records.append(episode_record(policy, env, EVAL_SEED + i))
            print(json.dumps(records[-1]), flush=True)
    finally:
        env.close()
    print(json.dumps({"run": str(run.root), **summary(records)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
