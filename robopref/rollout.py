"""Run a policy in an environment of our observation contract and record an Episode.

Simulator-agnostic: it needs only the gymnasium API and the ``state``/camera keys of
DESIGN.md contract 1, so MuJoCo, PyBullet and dm_control episodes are recorded alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
) -> Episode:
    """Roll ``policy`` out for one episode from ``env.reset(seed=seed)``.

    Every camera key of the observation space is recorded as frames; ``info["progress"]``
    (privileged, sim only) is kept when the environment provides it.
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
    )


@dataclass(frozen=True)
class RolloutConfig:
    """What ``robopref rollout`` records.

    Attributes:
        task: Task name (``sim.list_tasks()``).
        backend: Simulator backend (``sim.list_backends()``).
        policy: ``expert`` (scripted, Panda tasks), ``perturbed`` (the expert with bursts
            of random actions: progress and regress) or ``random``.
        episodes: Number of episodes; seeds are ``seed, seed + 1, ...``.
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
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.expert_noise < 0:
            raise ValueError(f"expert_noise must be >= 0, got {self.expert_noise}")
        if self.codec not in CODECS:
            raise ValueError(f"unknown codec {self.codec!r}; valid: {sorted(CODECS)}")


POLICIES = ("expert", "perturbed", "random")


def make_policy(config: RolloutConfig, env, rng: np.random.Generator) -> Policy:
    """The policy a rollout config names."""
    import sim

    if config.policy == "random":
        return random_policy(env, rng)
    expert = sim.expert(config.task)
    if config.expert_noise > 0:
        expert = type(expert)(noise_std=config.expert_noise, rng=rng)
    if config.policy == "perturbed":
        return perturbed_policy(expert, env, rng)
    return expert


def run_rollouts(config: RolloutConfig, progress_bar: bool = True) -> dict:
    """Record ``config.episodes`` episodes (and clips); returns the summary the CLI prints."""
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
    rng = np.random.default_rng(config.seed)
    policy = make_policy(config, env, rng)
    robot = "franka_panda" if not is_dmc else config.task
    control_hz = 1.0 / getattr(env, "control_timestep", 1.0 / env.metadata["render_fps"])
    successes, returns, paths = [], [], []
    seeds = range(config.seed, config.seed + config.episodes)
    try:
        for seed in tqdm(seeds, desc=f"{config.task}/{config.backend}", disable=not progress_bar):
            ep = record_episode(
                env,
                policy,
                seed=seed,
                task=config.task,
                source=config.policy,
                backend=config.backend,
                robot=robot,
                control_hz=control_hz,
                extra_metadata={
                    "randomize": config.randomize,
                    "expert_noise": config.expert_noise,
                    "object_half_size": config.object_half_size,
                    "object_rgba": config.object_rgba,
                },
            )
            paths.append(str(store.save(ep)))
            if config.video and ep.cameras:
                write_episode_videos(ep, out / "videos", codec=config.codec, min_size=168)
            successes.append(ep.is_success)
            returns.append(float(np.nansum(ep.reward)))
    finally:
        env.close()
    return {
        "task": config.task,
        "backend": config.backend,
        "episodes": config.episodes,
        "success_rate": float(np.mean(successes)),
        "mean_return": float(np.mean(returns)),
        "out": str(out),
    }


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
) -> list:
    """Expert, perturbed and random episodes of ``task`` (``counts`` of each): progress,
    regress and failure, what a PRM learns progress from. Returns the episodes of ``out``."""
    extra = {} if cameras is None else {"cameras": tuple(cameras)}
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
                    **extra,
                ),
                progress_bar=False,
            )
        seed += n
    return load_episodes(out, task)
