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

``--critic`` asks the run's critics why a failure stopped where it did. At the last state of
each failed episode it adds the critics' mean Q of the policy's action and of the scripted
expert's (``q_policy``, ``q_expert``), and what continuing from there for one more time
limit actually returns (``return_policy``, ``return_expert``: the discounted sum of the
run's task reward, plus its privileged-progress shaping on ``sparse+progress`` runs, the
terms the simulator can score without the run's learned models) and whether the expert
then succeeds. A critic that rates staying put as highly as the expert's way out, far above
what staying returns, is one that never learned those states: more data there (for
instance corrections, ``interventions.*``), not a better reward, is what the policy needs.
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


def episode_record(
    policy, env, seed: int, actions: list[np.ndarray] | None = None
) -> dict[str, Any]:
    """Rolls ``policy`` out once from ``env.reset(seed=seed)``; the episode's figures (its
    actions appended to ``actions`` when given)."""
    obs, info = env.reset(seed=seed)
    p = info["privileged"]
    goal = np.array(p["goal_pos"], dtype=float)
    objects, hands = [np.array(p["object_pos"], float)], [np.array(p["tcp"], float)]
    done, success = False, False
    while not done:
        action = policy(obs)
        if actions is not None:
            actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
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


def critic_values(model, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The mean over ``model``'s critics of Q(``state``, each row of ``actions``)."""
    states = np.repeat(np.asarray(state, np.float32)[None], len(actions), axis=0)
    actions = np.asarray(actions, np.float32)
    if hasattr(model.policy, "qf_state"):  # rlpd (SBX): a flax critic ensemble
        flat = model.policy.normalize(model._flatten({"state": states}))
        qf = model.policy.qf_state
        q = np.asarray(qf.apply_fn(qf.params, flat, actions))  # (critics, n, 1)
        return q.mean(axis=0)[:, 0]
    import torch  # sac (SB3)

    obs, _ = model.policy.obs_to_tensor({"state": states})
    with torch.no_grad():
        qs = model.critic(obs, torch.as_tensor(actions))
    return torch.cat(qs, dim=1).mean(dim=1).numpy()


def continuation_return(
    env, seed: int, replay: list[np.ndarray], actor, horizon: int, reward
) -> tuple[float, bool, tuple[Any, dict]]:
    """Replays ``replay`` from ``env.reset(seed=seed)`` (the simulator is deterministic),
    then lets ``actor(obs, info)`` act ``horizon`` steps. Returns their discounted
    ``reward(env_reward, info)``, whether the task succeeded in them, and the ``(obs, info)``
    they started from."""
    obs, info = env.reset(seed=seed)
    for action in replay:
        obs, _, _, _, info = env.step(action)
    start = (obs, info)
    total, discount, success = 0.0, 1.0, False
    for _ in range(horizon):
        obs, r, terminated, truncated, info = env.step(actor(obs, info))
        total += discount * reward(r, info)
        discount *= reward.gamma
        success = success or bool(info["success"])
        if terminated or truncated:
            break
    return total, success, start


def continuation_env(config, steps: int):
    """The run's task with room for ``steps`` more steps after its time limit, its infos
    carrying the reward terms the simulator can score as training scored them: the
    privileged-progress shaping of a ``sparse+progress`` run comes from the training's own
    `PotentialShapingWrapper`."""
    import sim
    from robopref.rewards.shaping import InfoPotential, PotentialShapingWrapper
    from robopref.rl.config import from_dict, merge
    from robopref.rl.env import make_task_env

    limit = config.env.max_steps or sim.PANDA_TASKS[config.task].max_steps
    long_config = from_dict(merge(config.to_dict(), {"env": {"max_steps": limit + steps}}))
    env = make_task_env(long_config, cameras=())
    if "progress" in config.terms:
        env = PotentialShapingWrapper(
            env,
            InfoPotential("progress"),
            gamma=config.learner.gamma,
            scale=config.shaping.scale,
            mode=config.shaping.mode,
        )
    return env


class TrainingReward:
    """The run's reward terms that the simulator scores, summed as
    `robopref.rl.env.CompositeReward` sums them: the weighted task reward, plus the shaping
    that `continuation_env` logs in ``info`` (privileged progress); the learned terms
    (preferences, PRM, VLM) are left out."""

    def __init__(self, config) -> None:
        self.gamma = config.learner.gamma
        self.task_weight = config.task_weight if "sparse" in config.terms else 0.0

    def __call__(self, env_reward: float, info: dict) -> float:
        from robopref.rewards.shaping import INFO_DIRECT, INFO_SHAPING, INFO_TASK

        task = float(info.get(INFO_TASK, env_reward))
        shaping = float(info.get(INFO_SHAPING, 0.0)) + float(info.get(INFO_DIRECT, 0.0))
        return self.task_weight * task + shaping


def critic_record(
    model, policy, expert, env, seed: int, actions: list[np.ndarray], reward
) -> dict[str, Any]:
    """What the critics and a continuation say at the last state of episode ``seed``,
    reached by replaying its ``actions``."""
    horizon = len(actions)
    ret_policy, _, (obs, info) = continuation_return(
        env, seed, actions, lambda o, i: policy(o), horizon, reward
    )
    ret_expert, expert_success, _ = continuation_return(env, seed, actions, expert, horizon, reward)
    q = critic_values(model, obs["state"], np.stack([policy(obs), expert(obs, info)]))
    return {
        "q_policy": round(float(q[0]), 3),
        "q_expert": round(float(q[1]), 3),
        "return_policy": round(ret_policy, 3),
        "return_expert": round(ret_expert, 3),
        "expert_succeeds": expert_success,
    }


def critic_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Over the failures with critic figures: how far Q overrates the policy's action, and
    how often the critics prefer the expert's."""
    probed = [r for r in records if "q_policy" in r]
    if not probed:
        return {"critic_probed": 0}
    over = [r["q_policy"] - r["return_policy"] for r in probed]
    return {
        "critic_probed": len(probed),
        "q_policy_minus_return_mean": round(float(np.mean(over)), 3),
        "q_prefers_expert": sum(r["q_expert"] > r["q_policy"] for r in probed),
        "return_prefers_expert": sum(r["return_expert"] > r["return_policy"] for r in probed),
        "expert_succeeds": sum(bool(r["expert_succeeds"]) for r in probed),
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
    parser.add_argument(
        "--critic",
        action="store_true",
        help="at each failure's last state: the critics' Q of the policy's and the expert's "
        "action, and the return of continuing with each",
    )
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
    # For --critic: room for one more time limit after each episode.
    limit = config.env.max_steps or task.max_steps
    long_env = continuation_env(config, limit) if args.critic else None
    expert, reward = sim.expert(config.task), TrainingReward(config)
    try:
        records = []
        for i in range(args.episodes):
            actions: list[np.ndarray] = []
            record = episode_record(policy, env, EVAL_SEED + i, actions)
            if long_env is not None and not record["success"]:
                record |= critic_record(
                    policy.model, policy, expert, long_env, EVAL_SEED + i, actions, reward
                )
            records.append(record)
            print(json.dumps(records[-1]), flush=True)
    finally:
        env.close()
        if long_env is not None:
            long_env.close()
    extra = critic_summary(records) if args.critic else {}
    print(json.dumps({"run": str(run.root), **summary(records), **extra}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
