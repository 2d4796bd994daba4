"""Why SAC learned ``panda-reach`` slowly: ablations, one change at a time.

The learning issue's probe (plain SB3 SAC, a dense privileged reward
``-|tcp - goal| + 10 * success``) made a benchmark: each variant changes one thing of the
learning setup, then the next row keeps it. It trains on the state vector, evaluates the
deterministic policy on 20 held-out seeds every 1,000 env steps and writes one summary per
variant and seed in the `robopref.benchmarks.results` format (reward ``dense``: privileged,
a probe of the learner and the env, never a product reward).

    python -m robopref.benchmarks.ablation --variants all --seeds 0 1 2 \
        --out bench/results/reach-ablation

Variants (cumulative unless said):

* ``issue-baseline``: SB3 SAC defaults, the 37-d state of before (relative vectors in
  metres, no goal - TCP), episodes end on success: what the issue measured;
* ``ent-0.01``: SAC's initial entropy temperature 0.01 instead of 1 (the entropy bonus,
  about 4 per step at the start, dwarfed a reward of centimetres);
* ``goal-tcp``: the goal - TCP vector added to the state, in metres;
* ``decimetres``: the relative vectors in decimetres (the state ``sim`` now gives);
* ``no-termination``: episodes run to the time limit; success is rewarded on every step;
* ``action-6cm``: + the controller's ``max_step`` doubled (an action of 1 asks for 6 cm; the
  position servos realize about 1.1 cm per step at 3 cm, so this tests the effective action
  scale; not adopted: it changes what the hardware bridge commands);
* ``obs-norm``: + running observation normalization (rlpd's option; kept off);
* ``rlpd``: our learner (JAX, LayerNorm critics) on the ``no-termination`` setup;
* ``rlpd-utd2``: + 2 updates per env step;
* ``rlpd-demos``: + 10 scripted demonstrations sampled as half of every minibatch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from robopref.benchmarks.results import write_summary

STEPS = 5000
EVAL_EVERY = 1000
EVAL_EPISODES = 20
EVAL_SEED = 10_000

BASE: dict[str, Any] = {
    "learner": "sac",
    "state": "old",
    "ent_coef": "auto",
    "terminate": True,
    "normalize": False,
    "utd": 1,
    "demos": 0,
    "max_step": 0.03,
}
STEPS_OF: list[tuple[str, dict[str, Any]]] = [
    ("issue-baseline", {}),
    ("ent-0.01", {"ent_coef": "auto_0.01"}),
    ("goal-tcp", {"state": "goal-tcp-m"}),
    ("decimetres", {"state": "new"}),
    ("no-termination", {"terminate": False}),
]
BRANCHES: list[tuple[str, dict[str, Any]]] = [
    ("action-6cm", {"max_step": 0.06}),
    ("obs-norm", {"learner": "rlpd", "normalize": True}),
    ("rlpd", {"learner": "rlpd"}),
    ("rlpd-utd2", {"learner": "rlpd", "utd": 2}),
    ("rlpd-demos", {"learner": "rlpd", "demos": 10}),
]


def variants() -> dict[str, dict[str, Any]]:
    out, current = {}, dict(BASE)
    for name, change in STEPS_OF:
        current = {**current, **change}
        out[name] = dict(current)
    for name, change in BRANCHES:
        out[name] = {**current, **change}
    return out


def _state(state: np.ndarray, mode: str) -> np.ndarray:
    """The state a variant sees, from the env's (relative vectors in decimetres, 40-d)."""
    from sim.state import PROPRIO_DIM, RELATIVE_SCALE

    rel = PROPRIO_DIM + 13  # cube pos, quat, vel, goal come first
    if mode == "new":
        return state
    metres = np.concatenate([state[:rel], state[rel:] / RELATIVE_SCALE]).astype(np.float32)
    if mode == "goal-tcp-m":
        return metres
    return metres[:-3]  # "old": no goal - TCP


def make_env(variant: dict[str, Any]):
    import gymnasium as gym

    import sim

    class Probe(gym.Wrapper):
        def __init__(self, env):
            super().__init__(env)
            n = len(
                _state(np.zeros(env.observation_space["state"].shape, np.float32), variant["state"])
            )
            box = gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)
            self.observation_space = gym.spaces.Dict({"state": box})

        def _obs(self, obs):
            return {"state": _state(obs["state"], variant["state"])}

        def reset(self, **kw):
            obs, info = self.env.reset(**kw)
            return self._obs(obs), info

        def step(self, action):
            obs, sparse, term, trunc, info = self.env.step(action)
            p = info["privileged"]
            # the task's sparse reward is a float (gymnasium types it SupportsFloat)
            dense = -float(np.linalg.norm(p["tcp"] - p["goal_pos"])) + 10.0 * cast(float, sparse)
            return self._obs(obs), dense, term, trunc, info

    from sim.controller import ControllerConfig

    base = sim.make(
        "panda-reach",
        cameras=(),
        terminate_on_success=variant["terminate"],
        controller=ControllerConfig(max_step=variant["max_step"]),
    )
    return Probe(base)


def _learner(variant: dict[str, Any], env, seed: int):
    common = {
        "learning_starts": 1000,
        "gradient_steps": variant["utd"],
        "ent_coef": variant["ent_coef"],
        "seed": seed,
        "device": "cpu",
    }
    if variant["learner"] == "sac":
        from stable_baselines3 import SAC

        return SAC("MultiInputPolicy", env, **common)
    from robopref.rl.buffer import RelabelingReplayBuffer
    from robopref.rl.rlpd import RLPD

    dim = env.observation_space["state"].shape[0]
    return RLPD(
        "MultiInputPolicy",
        env,
        normalize_obs=variant["normalize"],
        policy_kwargs={"layer_norm": True},
        replay_buffer_class=RelabelingReplayBuffer,
        replay_buffer_kwargs={"state_dim": dim},
        **{**common, "learning_starts": 200 if variant["demos"] else 1000},
    )


def _add_demos(model, variant: dict[str, Any], n: int, seed: int) -> None:
    import sim
    from robopref.rl.buffer import RelabelingReplayBuffer

    env, expert = make_env(variant), sim.expert("panda-reach")
    demos = RelabelingReplayBuffer(
        n * 50,
        model.observation_space,
        model.action_space,
        device="cpu",
        state_dim=model.observation_space["state"].shape[0],
    )
    for i in range(n):
        obs, info = env.reset(seed=2_000_000 + 1000 * seed + i)
        done = False
        while not done:
            action = expert(obs, info)
            nxt, r, term, trunc, info = env.step(action)
            demos.add(
                obs,
                nxt,
                action[None],
                np.array([r]),
                np.array([term]),
                [{"TimeLimit.truncated": trunc}],
            )
            obs, done = nxt, term or trunc
    model.replay_buffer.attach_demos(demos, 0.5)


def evaluate(model, variant: dict[str, Any]) -> tuple[float, float]:
    env = make_env(variant)
    wins, returns = [], []
    for i in range(EVAL_EPISODES):
        obs, info = env.reset(seed=EVAL_SEED + i)
        done, ret, won = False, 0.0, False
        while not done:
            obs, r, term, trunc, info = env.step(model.predict(obs, deterministic=True)[0])
            ret, won, done = ret + r, won or info["success"], term or trunc
        wins.append(won)
        returns.append(ret)
    return float(np.mean(wins)), float(np.mean(returns))


def run_variant(name: str, seed: int, steps: int = STEPS) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    variant = variants()[name]
    env = make_env(variant)
    model = _learner(variant, env, seed)
    if variant["demos"]:
        _add_demos(model, variant, variant["demos"], seed)
    curve, start = [], time.perf_counter()
    for k in range(steps // EVAL_EVERY):
        model.learn(EVAL_EVERY, reset_num_timesteps=k == 0)
        success, ret = evaluate(model, variant)
        curve.append([(k + 1) * EVAL_EVERY, success, round(ret, 3)])
    return {
        "name": name,
        "rank": list(variants()).index(name),  # the table's row order
        "task": "panda-reach",
        "reward": "dense (privileged probe)",
        "teacher": None,
        "labels": 0,
        "demos": str(variant["demos"] or ""),
        "learner": variant["learner"],
        "seed": seed,
        "env_steps": steps,
        "final_success": curve[-1][1],
        "final_return": curve[-1][2],
        "wall_s": round(time.perf_counter() - start, 1),
        "curve": curve,
        "config": variant,
    }


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    p = argparse.ArgumentParser(prog="python -m robopref.benchmarks.ablation")
    p.add_argument("--variants", default="all", help="comma-separated names, or all")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--out", default="bench/results/reach-ablation")
    args = p.parse_args(argv)
    names = list(variants()) if args.variants == "all" else args.variants.split(",")
    unknown = [n for n in names if n not in variants()]
    if unknown:
        p.error(f"unknown variants {unknown}; valid: {list(variants())}")
    for name in names:
        for seed in args.seeds:
            summary = run_variant(name, seed, args.steps)
            path = write_summary(summary, Path(args.out))
            row = {k: summary[k] for k in ("name", "seed", "final_success", "wall_s")}
            print(json.dumps({**row, "file": str(path)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
