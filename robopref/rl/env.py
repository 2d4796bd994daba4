"""The learner's environment: the task, shaping, the composite reward and episode recording.

The wrapper stack, innermost first:

1. the task (`sim.make`), rendering cameras only when something needs frames;
2. `PotentialShapingWrapper` with the PRM/VLM potential, when the reward has one
   (``scale * (gamma * Phi(s') - Phi(s))``, policy invariant: DESIGN.md contract 4; or, with
   ``shaping.mode=direct``, ``scale * Phi(s')`` for the reward-hacking study);
3. `CompositeReward`: ``task_weight * r_task + pref_weight * r_pref(s, a) + shaping +
   direct``, every term logged by name in ``info`` (``reward/task``, ``reward/pref``,
   ``reward/shaping``, ``reward/direct``, ``reward/total``), refusing a non-finite term by
   name and step; it also records each finished episode (state, action, task reward,
   success, progress, frames) for the PEBBLE loop's segment pool;
4. a filter to the keys the policy sees (``state`` or the camera images).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import gymnasium
import numpy as np

from robopref.data import Episode
from robopref.rewards.shaping import (
    INFO_DIRECT,
    INFO_SHAPING,
    INFO_TASK,
    PotentialShapingWrapper,
)
from robopref.rl.config import TrainConfig

if TYPE_CHECKING:
    from robopref.evaluator import Evaluator

INFO_PREF = "reward/pref"
INFO_TOTAL = "reward/total"
TERMS = ("task", "pref", "shaping", "direct")


class NonFiniteTermError(ValueError):
    """A reward term became NaN or inf; names the term and the env step."""

    def __init__(self, term: str, value: float, step: int) -> None:
        super().__init__(f"reward term {term!r} became {value} at env step {step}")
        self.term, self.value, self.step = term, value, step


REQUIRE_C_ENV = "ROBOPREF_REQUIRE_C"
_warned_no_c = False


def _no_c_evaluator(error: ImportError) -> None:
    """A missing C evaluator: one warning per process, or an error under ROBOPREF_REQUIRE_C=1.

    The torch model gives the same reward, so training may go on; but it must never do so
    unnoticed (the evaluator package promises no silent fallback), and CI must fail on it.
    """
    global _warned_no_c
    hint = "build it with `make setup` or `pip install -e .` (needs a C compiler)"
    if os.environ.get(REQUIRE_C_ENV) == "1":
        raise RuntimeError(
            f"the C reward evaluator is not built and {REQUIRE_C_ENV}=1: {hint} ({error})"
        ) from error
    if not _warned_no_c:
        _warned_no_c = True
        warnings.warn(
            f"the C reward evaluator is not built ({error}); the preference reward runs on "
            f"torch, about 15x slower per step: {hint}",
            RuntimeWarning,
            stacklevel=3,
        )


class StepReward:
    """The preference reward of one step, through the C evaluator where it is built.

    After each refit the trainer calls `update` with the refit model; its head is exported to
    an in-memory blob and run by the C evaluator (about 15x faster than the torch ensemble
    per call, `robopref bench evaluator`). Without the compiled extension the torch model
    answers, after one warning (it is the same reward, only slower); with
    ``ROBOPREF_REQUIRE_C=1`` (set by ``make test``, so CI) a missing extension is an error.
    """

    def __init__(self, conservative_k: float = 0.0) -> None:
        self.model = None
        self._evaluator: Evaluator | None = None
        #: The reward is ``mean - k * spread`` of the ensemble (``pebble.conservative_k``).
        self.conservative_k = float(conservative_k)

    def update(self, model) -> None:
        self.model = model
        self._evaluator = None
        from robopref.evaluator import Evaluator
        from robopref.evaluator.blob import encode_blob

        blob = encode_blob(preference=model.numpy_head(), obs_dim=model.obs_dim)
        try:
            self._evaluator = Evaluator.from_bytes(blob, name=f"{model.name} (refit)")
        except ImportError as e:  # the C backend is not built: torch answers
            _no_c_evaluator(e)
            self._evaluator = None

    def __call__(self, state: np.ndarray, action: np.ndarray) -> float:
        if self.model is None:
            return 0.0
        if self._evaluator is not None:
            mean, spread = self._evaluator.reward(
                np.ascontiguousarray(state, np.float32),
                np.ascontiguousarray(action, np.float32),
            )
            return float(mean) - self.conservative_k * float(spread)
        mean, spread = self.model.reward(state[None], action[None])
        return float(mean[0]) - self.conservative_k * float(spread[0])


class CompositeReward(gymnasium.Wrapper):
    """Sums the reward terms, logs each by name, and records finished episodes.

    Args:
        env: the task, possibly inside a `PotentialShapingWrapper`.
        task_weight: weight of the task reward (0 when ``sparse`` is not in the reward).
        pref_weight: weight of the preference reward (0 when ``pref`` is not).
        step_reward: the preference reward of a step.
        record_frames: keep camera frames in recorded episodes (for a human teacher).
        on_episode: called with each finished `Episode`.
        metadata: Episode metadata (task, backend, robot, control_hz, ...).
    """

    def __init__(
        self,
        env: gymnasium.Env,
        task_weight: float,
        pref_weight: float,
        step_reward: StepReward,
        record_frames: bool,
        on_episode: Callable[[Episode], None] | None,
        metadata: dict[str, Any],
    ) -> None:
        super().__init__(env)
        self.task_weight, self.pref_weight = float(task_weight), float(pref_weight)
        self.step_reward = step_reward
        self.record_frames = record_frames
        self.on_episode = on_episode
        self.episode_metadata = dict(metadata)
        self.env_steps = 0
        self.episodes = 0
        self._trace: dict[str, Any] | None = None  # lists, and "frames": lists by camera
        self._obs: dict | None = None

    def _start(self, obs: dict, info: dict) -> None:
        self._trace = {
            "state": [obs["state"]],
            "action": [],
            "reward": [],
            "success": [],
            "progress": [info.get("progress")],
            "time": [float(info.get("time", 0.0))],
            "frames": {k: [v] for k, v in obs.items() if k != "state"}
            if self.record_frames
            else {},
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = obs
        self._start(obs, info)
        return obs, info

    def _check(self, term: str, value: float) -> float:
        if not math.isfinite(value):
            raise NonFiniteTermError(term, value, self.env_steps)
        return value

    def step(self, action):
        if self._obs is None:
            raise RuntimeError("step() before reset()")
        action = np.asarray(action, dtype=np.float32)
        pref = self.step_reward(self._obs["state"], action) if self.pref_weight else 0.0
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.env_steps += 1
        info = dict(info)
        task = self._check("task", float(info.get(INFO_TASK, reward)))
        shaping = self._check("shaping", float(info.get(INFO_SHAPING, 0.0)))
        direct = self._check("direct", float(info.get(INFO_DIRECT, 0.0)))
        pref = self._check("pref", pref)
        total = self.task_weight * task + self.pref_weight * pref + shaping + direct
        info[INFO_TASK], info[INFO_PREF], info[INFO_SHAPING] = task, pref, shaping
        info[INFO_DIRECT] = direct
        info[INFO_TOTAL] = total
        info["state_before"] = self._obs["state"]  # what relabelling feeds the pref model
        self._record(obs, action, task, info, terminated, truncated)
        self._obs = obs
        return obs, total, terminated, truncated, info

    def _record(self, obs, action, task, info, terminated, truncated) -> None:
        tr = cast("dict[str, Any]", self._trace)  # set by reset
        tr["state"].append(obs["state"])
        tr["action"].append(action)
        tr["reward"].append(task)
        tr["success"].append(bool(info.get("success", False)))
        tr["progress"].append(info.get("progress"))
        tr["time"].append(float(info.get("time", tr["time"][-1] + 1.0)))
        for k, frames in tr["frames"].items():
            frames.append(obs[k])
        if not (terminated or truncated):
            return
        self.episodes += 1
        has_progress = all(p is not None for p in tr["progress"])
        episode = Episode(
            state=np.asarray(tr["state"], np.float32),
            action=np.asarray(tr["action"], np.float32),
            reward=np.asarray(tr["reward"], np.float32),
            success=np.asarray(tr["success"], bool),
            timestamp=np.maximum.accumulate(np.asarray(tr["time"], np.float64)),
            metadata={**self.episode_metadata, "train_episode": self.episodes},
            frames={k: np.asarray(v, np.uint8) for k, v in tr["frames"].items()},
            progress=np.asarray(tr["progress"], np.float32) if has_progress else None,
            terminated=bool(terminated),
            truncated=bool(truncated),
            episode_id=f"train-{self.episode_metadata.get('seed', 0)}-{self.env_steps:09d}",
        )
        self._trace = None
        if self.on_episode is not None:
            self.on_episode(episode)


def needs_frames(config: TrainConfig) -> bool:
    """Whether the environment must render cameras for this run."""
    return (
        bool({"prm", "vlm"} & set(config.terms))
        or config.teacher.name == "human"
        or config.learner.policy_input == "pixels"
    )


def make_task_env(config: TrainConfig, cameras: tuple[str, ...] | None = None, seed=None):
    """The bare task environment of ``config`` (cameras: None = as the run needs)."""
    import sim

    if cameras is None:
        cameras = config.env.cameras if needs_frames(config) else ()
    options: dict[str, Any] = {"cameras": tuple(cameras), "image_size": config.env.image_size}
    if config.task.startswith(sim.DMC_PREFIX):
        options["seed"] = seed
        if config.env.max_steps:
            options["time_limit"] = None  # dm_control counts seconds; use the wrapper below
    else:
        options["randomize"] = config.env.randomize
        options["state"] = config.env.state
        options["terminate_on_success"] = config.env.terminate_on_success
        if config.env.max_steps:
            options["max_steps"] = config.env.max_steps
    env = sim.make(config.task, backend=config.env.backend, **options)
    if config.task.startswith(sim.DMC_PREFIX) and config.env.max_steps:
        env = gymnasium.wrappers.TimeLimit(env, config.env.max_steps)
    return env


def episode_metadata(config: TrainConfig, env) -> dict[str, Any]:
    import sim

    is_dmc = config.task.startswith(sim.DMC_PREFIX)
    base = env.unwrapped
    control_hz = 1.0 / getattr(base, "control_timestep", 1.0 / base.metadata["render_fps"])
    return {
        "task": config.task,
        "task_description": sim.describe_task(config.task),
        "source": "policy",
        "backend": config.env.backend,
        "seed": config.seed,
        "robot": config.task if is_dmc else "franka_panda",
        "control_hz": float(control_hz),
    }


def policy_keys(config: TrainConfig, env) -> tuple[str, ...]:
    keys = tuple(env.observation_space.spaces)
    if config.learner.policy_input == "state":
        return ("state",)
    cams = tuple(k for k in keys if k != "state")
    if not cams:
        raise ValueError(f"policy_input 'pixels' needs cameras; {config.task} renders none")
    return cams


def make_train_env(
    config: TrainConfig,
    step_reward: StepReward,
    potential: Callable[[Any], float] | None,
    on_episode: Callable[[Episode], None] | None,
    seed: int | None = None,
):
    """The full wrapper stack of the module docstring; returns ``(env, composite)``."""
    env = make_task_env(config, seed=seed)
    metadata = episode_metadata(config, env)
    if potential is not None:
        env = PotentialShapingWrapper(
            env,
            potential,
            gamma=config.learner.gamma,
            scale=config.shaping.scale,
            mode=config.shaping.mode,
        )
    terms = config.terms
    composite = CompositeReward(
        env,
        task_weight=config.task_weight if "sparse" in terms else 0.0,
        pref_weight=config.pref_weight if "pref" in terms else 0.0,
        step_reward=step_reward,
        record_frames=config.teacher.name == "human",
        on_episode=on_episode,
        metadata=metadata,
    )
    keys = policy_keys(config, composite)
    env = composite
    if config.interventions.budget:
        import sim
        from robopref.rl.interventions import ScriptedIntervention

        # Outside the reward terms: they, the recorded clips and the buffer see the action
        # the expert executed.
        env = ScriptedIntervention(env, sim.expert(config.task), config.interventions)
    if set(keys) != set(cast(gymnasium.spaces.Dict, env.observation_space).spaces):
        env = gymnasium.wrappers.FilterObservation(env, list(keys))
    return env, composite
