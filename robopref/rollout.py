"""Run a policy in an environment of our observation contract and record an Episode.

Simulator-agnostic: it needs only the gymnasium API and the ``state``/camera keys of
DESIGN.md contract 1, so MuJoCo, PyBullet and dm_control episodes are recorded alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from tqdm import tqdm

from robopref.data import Episode, EpisodeStore, write_episode_videos
from robopref.data.video import CODECS

Policy = Callable[[dict, dict], np.ndarray]


def random_policy(env, rng: np.random.Generator) -> Policy:
    """Uniform random actions from ``env.action_space``, drawn from ``rng``."""
    low, high = env.action_space.low, env.action_space.high

    def act(obs, info):
        return rng.uniform(low, high).astype(np.float32)

    return act


def perturbed_policy(
    expert: Policy,
    env,
    rng: np.random.Generator,
    burst_prob: float = 0.04,
    burst_steps: tuple[int, int] = (5, 30),
) -> Policy:
    """The expert, interrupted by bursts of random actions.

    Each step a burst starts with probability ``burst_prob`` and lasts a uniform number of
    steps in ``burst_steps``: the arm wanders off, drops or knocks the object, then the
    expert recovers (or runs out of time). Such episodes show progress *and* regress, which
    a process reward model needs to see (expert demos only ever go up).
    """
    low, high = env.action_space.low, env.action_space.high
    left = 0

    def act(obs, info):
        nonlocal left
        if left == 0 and rng.random() < burst_prob:
            left = int(rng.integers(burst_steps[0], burst_steps[1] + 1))
        if left > 0:
            left -= 1
            return rng.uniform(low, high).astype(np.float32)
        return expert(obs, info)

    return act


def record_episode(
    env,
    policy: Policy,
    *,
    seed: int | None,
    task: str,
    source: str,
    backend: str,
    robot: str,
    control_hz: float,
    extra_metadata: dict | None = None,
    episode_id: str | None = None,
) -> Episode:
    """Roll ``policy`` out for one episode from ``env.reset(seed=seed)``.

    Every camera key of the observation space is recorded as frames; ``info["progress"]``
    (privileged, sim only) is kept when the environment provides it. ``episode_id``: a
    fixed id (default: a fresh uuid).
    """
    cameras = [k for k in env.observation_space.spaces if k != "state"]
    obs, info = env.reset(seed=seed)
    states, actions, rewards, successes = [obs["state"]], [], [], []
    times = [float(info.get("time", 0.0))]
    frames = {c: [obs[c]] for c in cameras}
    has_progress = "progress" in info
    progress = [info.get("progress", 0.0)]
    terminated = truncated = False
    dt = 1.0 / control_hz
    while not (terminated or truncated):
        action = np.asarray(policy(obs, info), dtype=np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        actions.append(action)
        rewards.append(reward)
        successes.append(bool(info.get("success", False)))
        states.append(obs["state"])
        times.append(float(info.get("time", times[-1] + dt)))
        progress.append(info.get("progress", 0.0))
        for c in cameras:
            frames[c].append(obs[c])
    metadata = {
        "task": task,
        "source": source,
        "backend": backend,
        "seed": seed,
        "robot": robot,
        "control_hz": control_hz,
        **(extra_metadata or {}),
    }
    return Episode(
        state=np.asarray(states, dtype=np.float32),
        action=np.asarray(actions, dtype=np.float32),
        reward=np.asarray(rewards, dtype=np.float32),
        success=np.asarray(successes, dtype=bool),
        timestamp=np.asarray(times, dtype=np.float64),
        frames={c: np.asarray(v, dtype=np.uint8) for c, v in frames.items()},
        progress=np.asarray(progress, dtype=np.float32) if has_progress else None,
        terminated=bool(terminated),
        truncated=bool(truncated),
        metadata=metadata,
        **({"episode_id": episode_id} if episode_id is not None else {}),
    )


@dataclass(frozen=True)
class RolloutConfig:
    """What ``robopref rollout`` records.

    Attributes:
        task: Task name (``sim.list_tasks()``).
        backend: Simulator backend (``sim.list_backends()``).
        policy: ``expert`` (scripted, Panda tasks), ``perturbed`` (the expert with bursts
            of random actions: progress and regress) or ``random``.
        episodes: Number of episodes; seeds are ``seed, seed + 1, ...``, each episode
            with its own policy random stream (`episode_rng`).
        out: Output directory for episodes and videos.
        seed: First seed.
        cameras: Cameras to record.
        image_size: Frame height and width in pixels.
        randomize: Domain randomization on.
        expert_noise: Std of Gaussian noise on expert actions (imperfect demos).
        video: Write a browser-playable clip per episode and camera.
        codec: ``h264`` (.mp4) or ``vp9`` (.webm).
        object_half_size: Cube half size of a task variant, metres (default: the task's).
        object_rgba: Cube colour of a task variant (default: the scene's).
    """

    task: str
    backend: str = "mujoco"
    policy: str = "expert"
    episodes: int = 1
    out: str = "episodes"
    seed: int = 0
    cameras: tuple[str, ...] = ("front", "side", "wrist")
    image_size: int = 84
    randomize: bool = False
    expert_noise: float = 0.0
    video: bool = True
    codec: str = "h264"
    object_half_size: float | None = None
    object_rgba: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; valid: {list(POLICIES)}")
        if self.policy == "missed-grasp":  # refused before anything is recorded
            from sim.experts import check_grasp_task

            check_grasp_task(self.task)
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.expert_noise < 0:
            raise ValueError(f"expert_noise must be >= 0, got {self.expert_noise}")
        if self.codec not in CODECS:
            raise ValueError(f"unknown codec {self.codec!r}; valid: {sorted(CODECS)}")


POLICIES = ("expert", "perturbed", "random", "missed-grasp")


def make_policy(config: RolloutConfig, env, rng: np.random.Generator) -> Policy:
    """The policy a rollout config names."""
    import sim

    if config.policy == "random":
        return random_policy(env, rng)
    if config.policy == "missed-grasp":  # hard negatives for a PRM (lift, pick-place)
        return sim.missed_grasp_expert(config.task, rng, noise_std=config.expert_noise)
    expert = sim.expert(config.task)
    if config.expert_noise > 0:
        expert = type(expert)(noise_std=config.expert_noise, rng=rng)
    if config.policy == "perturbed":
        return perturbed_policy(expert, env, rng)
    return expert


def episode_rng(seed: int) -> np.random.Generator:
    """The policy's random stream of the episode with this seed (noise, random actions).

    One stream per episode, not one per rollout, so an episode is the same whether it is
    recorded alone, in a serial rollout or on any Ray worker (``--workers``). The stream is
    keyed ``[seed, 1]`` because ``env.reset(seed=seed)`` seeds the environment's own
    generator with ``seed``: the same key would draw the policy's noise from the very
    numbers that placed the cube and the goal.
    """
    return np.random.default_rng([seed, 1])


def rollout_episode_id(config: RolloutConfig, seed: int) -> str:
    """A deterministic id: the same config and seed always name the same file.

    Ids sort by seed within one rollout (so the order on disk is the seed order, serial or
    parallel), and a digest of what shapes an episode keeps two different rollouts into one
    directory (another policy, noise or task variant) from overwriting each other.
    """
    shape = {
        k: getattr(config, k)
        for k in (
            "task",
            "backend",
            "policy",
            "cameras",
            "image_size",
            "randomize",
            "expert_noise",
            "object_half_size",
            "object_rgba",
        )
    }
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:10]
    return f"{config.policy}-{digest}-s{seed:08d}"


class RolloutResult(NamedTuple):
    """What a recorded episode adds to the rollout's summary."""

    # The field shadows tuple.index (a method) by design: results are read by name.
    index: int  # type: ignore[assignment]
    success: bool
    episode_return: float
    path: str


def record_rollouts(
    config: RolloutConfig, indices: Sequence[int], progress_bar: bool = False
) -> list[RolloutResult]:
    """Records the episodes ``indices`` (0-based, seed ``config.seed + i``) of a rollout.

    Each episode is saved (and its clips written) as soon as it ends; what it is depends
    only on ``config`` and its index, so any split of the indices over processes writes the
    same files.
    """
    import sim

    out = Path(config.out)
    store = EpisodeStore(out)
    is_dmc = config.task.startswith(sim.DMC_PREFIX)
    options = {"cameras": config.cameras, "image_size": config.image_size}
    if not is_dmc:
        options["randomize"] = config.randomize
        for key in ("object_half_size", "object_rgba"):
            if getattr(config, key) is not None:
                options[key] = getattr(config, key)
    env = sim.make(config.task, backend=config.backend, **options)
    robot = "franka_panda" if not is_dmc else config.task
    control_hz = 1.0 / getattr(env, "control_timestep", 1.0 / env.metadata["render_fps"])
    results = []
    try:
        for i in tqdm(indices, desc=f"{config.task}/{config.backend}", disable=not progress_bar):
            seed = config.seed + i
            ep = record_episode(
                env,
                make_policy(config, env, episode_rng(seed)),
                seed=seed,
                task=config.task,
                source=config.policy,
                backend=config.backend,
                robot=robot,
                control_hz=control_hz,
                extra_metadata={
                    "task_description": sim.describe_task(config.task),
                    "randomize": config.randomize,
                    "expert_noise": config.expert_noise,
                    "object_half_size": config.object_half_size,
                    "object_rgba": config.object_rgba,
                },
                episode_id=rollout_episode_id(config, seed),
            )
            path = str(store.save(ep))
            if config.video and ep.cameras:
                write_episode_videos(ep, out / "videos", codec=config.codec, min_size=168)
            results.append(RolloutResult(i, ep.is_success, float(np.nansum(ep.reward)), path))
    finally:
        env.close()
    return results


def rollout_summary(config: RolloutConfig, results: Sequence[RolloutResult]) -> dict:
    """The JSON line of ``robopref rollout``, from every episode's result (in index order)."""
    ordered = sorted(results, key=lambda r: r.index)
    if [r.index for r in ordered] != list(range(config.episodes)):
        raise RuntimeError(  # an internal invariant of the serial and parallel paths
            f"rollout of {config.episodes} episodes got results for {[r.index for r in ordered]}"
        )
    return {
        "task": config.task,
        "backend": config.backend,
        "episodes": config.episodes,
        "success_rate": float(np.mean([r.success for r in ordered])),
        "mean_return": float(np.mean([r.episode_return for r in ordered])),
        "out": str(Path(config.out)),
    }


def run_rollouts(config: RolloutConfig, progress_bar: bool = True) -> dict:
    """Record ``config.episodes`` episodes (and clips); returns the summary the CLI prints.

    ``robopref.sweep.parallel.parallel_rollouts`` records the same episodes on Ray workers.
    """
    results = record_rollouts(config, range(config.episodes), progress_bar=progress_bar)
    return rollout_summary(config, results)


def load_episodes(directory: str, task: str | None = None) -> list:
    """All episodes in ``directory`` (of ``task`` when given).

    Raises:
        ValueError: a missing or empty directory, or episodes of another task only.
    """
    path = Path(directory)
    if not path.is_dir():
        raise ValueError(f"episodes directory {directory!r} does not exist")
    episodes = list(EpisodeStore(path))
    if not episodes:
        raise ValueError(f"no episodes in {directory!r} (record some with `robopref rollout`)")
    if task is not None:
        found = sorted({ep.metadata["task"] for ep in episodes})
        episodes = [ep for ep in episodes if ep.metadata["task"] == task]
        if not episodes:
            raise ValueError(f"no episodes of task {task!r} in {directory!r} (found {found})")
    return episodes


def record_default_episodes(
    task: str,
    out: str,
    seed: int = 0,
    counts: tuple[int, int, int] = (4, 8, 2),
    cameras: tuple[str, ...] | None = None,
    image_size: int = 84,
    backend: str = "mujoco",
    randomize: bool = False,
) -> list:
    """Expert, perturbed and random episodes of ``task`` (``counts`` of each): progress,
    regress and failure, what a PRM learns progress from, in ``backend`` with domain
    randomization when ``randomize``. Returns the episodes of ``out``."""
    extra: dict[str, Any] = {} if cameras is None else {"cameras": tuple(cameras)}
    for policy, n in zip(("expert", "perturbed", "random"), counts):
        if n:
            run_rollouts(
                RolloutConfig(
                    task=task,
                    policy=policy,
                    episodes=n,
                    out=out,
                    seed=seed,
                    video=False,
                    image_size=image_size,
                    backend=backend,
                    randomize=randomize,
                    **extra,
                ),
                progress_bar=False,
            )
        seed += n
    return load_episodes(out, task)
