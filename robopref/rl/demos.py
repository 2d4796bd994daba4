"""Demonstrations for the replay buffer (``--demos N`` or ``--demos DIR``).

A demonstration is an `Episode` in the shared format: scripted-expert rollouts recorded
here, or a directory of episodes recorded anywhere (``robopref rollout``, the query UI's
runs, the hardware bridge's recorder), so real-robot recordings work too. Everything is
checked before training starts: a directory without episodes, an episode of another task,
another action or state size, or a corrupt file is an error that names the file.

The transitions get the run's own reward terms: the task reward as recorded, the PRM/VLM
shaping computed from the episode's frames with the run's potential (the rule of
`robopref.rewards.shaping`: a terminal state has potential 0), and the preference reward
from the current preference model at every relabelling, like online data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robopref.data import Episode
from robopref.data.storage import SUFFIX, EpisodeFormatError, load_episode
from robopref.rl.config import TrainConfig

#: Seeds of scripted demonstrations, apart from training, PRM and evaluation seeds.
DEMO_SEED = 2_000_000


class DemoError(ValueError):
    """Demonstrations that cannot be used; the message names the file and the mismatch."""


def parse_demos(spec: str | None) -> int | Path | None:
    """None or ``""`` -> None, ``"10"`` -> 10 scripted episodes, anything else -> a directory."""
    spec = str(spec or "").strip()
    if not spec:
        return None
    if re.fullmatch(r"\d+", spec):
        return int(spec)
    return Path(spec)


def record_expert_demos(config: TrainConfig, n: int, cameras: tuple[str, ...]) -> list[Episode]:
    """``n`` episodes of the task's scripted expert, with the frames shaping needs (its
    actions noisy by ``config.demo_noise``, seeded by the run's seed)."""
    import sim
    from robopref.rl.env import episode_metadata, make_task_env
    from robopref.rollout import record_episode

    if config.task not in sim.PANDA_TASKS:
        raise DemoError(f"--demos {n}: {config.task} has no scripted expert; pass --demos DIR")
    env = make_task_env(config, cameras=cameras)
    meta = episode_metadata(config, env)
    noise = config.demo_noise
    rng = np.random.default_rng([DEMO_SEED, config.seed]) if noise else None
    expert = sim.expert(config.task, noise_std=noise, rng=rng)
    try:
        return [
            record_episode(
                env,
                expert,
                seed=DEMO_SEED + config.seed * 1000 + i,
                task=config.task,
                source="expert",
                backend=meta["backend"],
                robot=meta["robot"],
                control_hz=meta["control_hz"],
            )
            for i in range(n)
        ]
    finally:
        env.close()


def load_demo_dir(
    directory: Path, task: str, state_dim: int, action_dim: int, cameras: tuple[str, ...]
) -> list[Episode]:
    """Every episode file of ``directory``, each checked against the run.

    Raises:
        DemoError: no directory, no episodes, a corrupt file, another task, another state or
            action size, or frames missing that shaping needs; nothing is loaded then.
    """
    if not directory.is_dir():
        raise DemoError(f"--demos {directory}: no such directory")
    paths = sorted(directory.glob(f"*{SUFFIX}"))
    if not paths:
        raise DemoError(f"--demos {directory}: no episode files (*{SUFFIX}) in it")
    episodes = []
    for path in paths:
        try:
            ep = load_episode(path)
        except EpisodeFormatError as e:
            raise DemoError(f"--demos {directory}: corrupt demonstration: {e}") from e
        found = ep.metadata.get("task")
        if found != task:
            raise DemoError(f"{path}: an episode of task {found!r}, the run trains {task!r}")
        if ep.state.shape[1] != state_dim:
            raise DemoError(
                f"{path}: state size {ep.state.shape[1]}, the run's is {state_dim} "
                "(env.state full or proprio?)"
            )
        if ep.action.shape[1] != action_dim:
            raise DemoError(f"{path}: action size {ep.action.shape[1]}, the run's is {action_dim}")
        missing = [c for c in cameras if c not in ep.frames]
        if missing:
            raise DemoError(f"{path}: no frames of camera(s) {missing}, which shaping needs")
        episodes.append(ep)
    return episodes


def episode_shaping(
    ep: Episode,
    potential: Callable[[Any], float] | None,
    gamma: float,
    scale,
    mode: str = "difference",
):
    """Per-step shaping ``scale * (gamma * Phi(s') - Phi(s))``, ``Phi`` of a terminal 0; with
    ``mode="direct"`` the potential paid as the reward, ``scale * Phi(s')`` (as
    `PotentialShapingWrapper` pays it online)."""
    if potential is None:
        return np.zeros(ep.length, np.float64)
    if getattr(potential, "info_key", None) == "progress":  # recorded with the episode
        if ep.progress is None:
            raise DemoError(
                f"episode {ep.episode_id}: the 'progress' reward shapes demonstrations by "
                "their recorded progress, and this episode has none (a real-robot recording?)"
            )
        phi = ep.progress.astype(np.float64)
    else:
        phi = np.array(
            [potential({c: f[t] for c, f in ep.frames.items()}) for t in range(ep.length + 1)]
        )
    if not np.isfinite(phi).all():
        raise DemoError(f"episode {ep.episode_id}: the potential is not finite on its frames")
    if mode == "direct":
        return scale * phi[1:]
    if ep.terminated:
        phi[-1] = 0.0
    return scale * (gamma * phi[1:] - phi[:-1])


def demo_buffer(model, episodes: list[Episode], potential, config: TrainConfig, task_weight: float):
    """A `RelabelingReplayBuffer` holding every transition of ``episodes``, with room for
    ``config.interventions.budget`` more (the corrections, `robopref.rl.interventions`)."""
    from robopref.rl.buffer import RelabelingReplayBuffer

    total = sum(ep.length for ep in episodes) + config.interventions.budget
    state_dim = int(episodes[0].state.shape[1])
    buffer = RelabelingReplayBuffer(
        total,
        model.observation_space,
        model.action_space,
        device="cpu",
        state_dim=state_dim,
        n_steps=config.learner.n_step,  # as the online buffer: one minibatch, one target
        gamma=config.learner.gamma,
    )
    for ep in episodes:
        shaping = episode_shaping(
            ep, potential, config.learner.gamma, config.shaping.scale, config.shaping.mode
        )
        for t in range(ep.length):
            last = t == ep.length - 1
            done = bool(last and ep.terminated)
            task = float(np.nan_to_num(ep.reward[t]))
            buffer.note(ep.state[t], task, float(shaping[t]))
            buffer.chain_end[buffer.pos] = last  # the next row is another episode
            buffer.add(
                {"state": ep.state[t][None]},
                {"state": ep.state[t + 1][None]},
                ep.action[t][None],
                np.array([task_weight * task + shaping[t]], np.float32),
                np.array([done]),
                [{"TimeLimit.truncated": bool(last and ep.truncated)}],
            )
    return buffer


def load_demos(config: TrainConfig, state_dim: int, action_dim: int, cameras) -> list[Episode]:
    """The run's demonstrations (``config.demos``): recorded now or read from a directory."""
    spec = parse_demos(config.demos)
    if spec is None:
        return []
    if isinstance(spec, int):
        return record_expert_demos(config, spec, tuple(cameras)) if spec else []
    return load_demo_dir(spec, config.task, state_dim, action_dim, tuple(cameras))


__all__ = ["DemoError", "demo_buffer", "load_demos", "parse_demos"]
