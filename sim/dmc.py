"""dm_control suite tasks as gymnasium environments with our observation contract.

The preference-learning benchmarks of PEBBLE (Lee et al., 2021) run on DeepMind Control
Suite locomotion (walker-walk, cheetah-run, quadruped-walk). This adapter exposes them with
contract 1 of DESIGN.md: a `Dict` observation with a float32 `"state"` vector and one uint8
HxWx3 image per requested camera, and `info["success"]` / privileged `info["progress"]`.

dm_control keeps the time limit and the task's random state; this module only translates.

Example:
    env = make_dmc("dmc:walker-walk", seed=0, cameras=("side",))
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import mujoco
import numpy as np
from dm_control import suite
from gymnasium import spaces

DMC_TASKS: dict[str, tuple[str, str]] = {
    "dmc:walker-walk": ("walker", "walk"),
    "dmc:cheetah-run": ("cheetah", "run"),
    "dmc:quadruped-walk": ("quadruped", "walk"),
}
"""Registered tasks. Any other `dm_control.suite.BENCHMARKING` pair is accepted as well."""

SUCCESS_THRESHOLD = 0.8
"""Locomotion has no success notion: a step counts as successful when its per-control-step
reward (`info["progress"]`, in [0, 1]) is at least this. For walker-walk that means upright
and moving at about the target speed; an episode succeeds when its last step does."""


def _all_tasks() -> dict[str, tuple[str, str]]:
    # Suite names never contain '-' (domains use '_', e.g. ball_in_cup), so "<domain>-<task>"
    # is unambiguous; building the table avoids parsing the name at all.
    tasks = {f"dmc:{domain}-{task}": (domain, task) for domain, task in suite.BENCHMARKING}
    tasks.update(DMC_TASKS)
    return tasks


def list_dmc_tasks() -> list[str]:
    """Returns every name `make_dmc` accepts, sorted (registered ones and suite benchmarks)."""
    return sorted(_all_tasks())


def _resolve_cameras(model: mujoco.MjModel, cameras: Sequence[int | str]) -> list[tuple[str, int]]:
    """Maps requested cameras (ids or names) to (observation key, camera id) pairs."""
    names = [model.camera(i).name or f"cam{i}" for i in range(model.ncam)]
    valid = f"ids 0..{model.ncam - 1} or names {names}"
    resolved: list[tuple[str, int]] = []
    for cam in cameras:
        if isinstance(cam, (int, np.integer)) and not isinstance(cam, bool):
            if not 0 <= cam < model.ncam:
                raise ValueError(f"unknown camera id {cam!r}; valid cameras: {valid}")
            cam_id = int(cam)
        elif isinstance(cam, str) and cam in names:
            cam_id = names.index(cam)
        else:
            raise ValueError(f"unknown camera {cam!r}; valid cameras: {valid}")
        # An id and its name give the same key, so one camera always has one key.
        key = names[cam_id]
        if key == "state" or key in (k for k, _ in resolved):
            raise ValueError(f"camera {cam!r} requested twice (key {key!r}) in {list(cameras)}")
        resolved.append((key, cam_id))
    return resolved


def _speed_up_rendering(model: mujoco.MjModel, image_size: int) -> None:
    """Turns off visual effects that cost most of the frame time at policy resolution.

    Walker, 84x84, EGL on llvmpipe (2 CPU cores): 22 ms/frame with the default visuals,
    1.4-1.8 ms with these, through `mujoco.Renderer`; dm_control's `physics.render` took 3.5 ms
    with the same settings (28 ms default), so we use `mujoco.Renderer`. Measured with
    `make_dmc("dmc:walker-walk", render_mode="rgb_array", render_fast=...)`, mean of 500
    `render()` calls after 20 warm-up ones.
    """
    model.vis.quality.shadowsize = 0  # no shadow-map pass per light
    model.vis.quality.offsamples = 0  # no multisampling: at 84 px it mostly blurs
    model.mat_reflectance[:] = 0  # the reflective floor renders the scene a second time
    # A buffer the size of the image: the default 640x480 is allocated and cleared for nothing.
    model.vis.global_.offwidth = image_size
    model.vis.global_.offheight = image_size


class DMCEnv(gymnasium.Env):
    """One dm_control suite task behind the gymnasium API; see `make_dmc` for arguments."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 40}

    def __init__(
        self,
        name: str,
        *,
        seed: int | None = None,
        cameras: Sequence[int | str] = (),
        image_size: int = 84,
        action_repeat: int = 1,
        time_limit: float | None = None,
        render_fast: bool = True,
        render_mode: str | None = None,
    ) -> None:
        tasks = _all_tasks()
        if name not in tasks:
            raise ValueError(
                f"unknown dm_control task {name!r}; registered: {sorted(DMC_TASKS)} "
                "(any 'dmc:<domain>-<task>' of dm_control.suite.BENCHMARKING works too, "
                "see list_dmc_tasks())"
            )
        if not isinstance(action_repeat, (int, np.integer)) or action_repeat < 1:
            raise ValueError(f"action_repeat must be an int >= 1, got {action_repeat!r}")
        if not isinstance(image_size, (int, np.integer)) or image_size < 1:
            raise ValueError(f"image_size must be an int >= 1, got {image_size!r}")
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be > 0 seconds or None, got {time_limit!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if isinstance(cameras, (str, int)):  # a lone camera, not a sequence of characters
            cameras = (cameras,)

        self.name = name
        self.render_mode = render_mode
        self._action_repeat = int(action_repeat)
        self._image_size = int(image_size)
        task_kwargs: dict[str, Any] = {"random": seed}
        if time_limit is not None:
            task_kwargs["time_limit"] = float(time_limit)
        domain, task = tasks[name]
        self._env = suite.load(domain, task, task_kwargs=task_kwargs)

        model = self._env.physics.model
        self._cameras = _resolve_cameras(model.ptr, cameras)
        if render_fast:
            _speed_up_rendering(model, self._image_size)
        else:  # the renderer refuses images larger than the offscreen buffer
            model.vis.global_.offwidth = max(model.vis.global_.offwidth, self._image_size)
            model.vis.global_.offheight = max(model.vis.global_.offheight, self._image_size)
        self._render_fast = render_fast
        self._renderer: mujoco.Renderer | None = None  # created on first use: cameras=() costs 0

        # Sorted keys: a fixed layout of "state" that does not depend on dict order.
        obs_spec = self._env.observation_spec()
        self._state_keys = sorted(obs_spec)
        state_dim = sum(int(np.prod(obs_spec[k].shape)) for k in self._state_keys)
        obs_spaces: dict[str, spaces.Space] = {
            "state": spaces.Box(-np.inf, np.inf, (state_dim,), np.float32)
        }
        shape = (self._image_size, self._image_size, 3)
        for key, _ in self._cameras:
            obs_spaces[key] = spaces.Box(0, 255, shape, np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)

        act_spec = self._env.action_spec()
        self._act_low = np.asarray(act_spec.minimum, np.float64)
        self._act_high = np.asarray(act_spec.maximum, np.float64)
        self.action_space: spaces.Box = spaces.Box(
            self._act_low.astype(np.float32), self._act_high.astype(np.float32), dtype=np.float32
        )

        self.control_timestep = self._env.control_timestep() * self._action_repeat
        """Simulated seconds per `step` call (dm_control control step x action_repeat)."""
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.control_timestep)}
        self._clip_count = 0
        self._needs_reset = True

    @property
    def dm_env(self) -> Any:
        """The wrapped `dm_control.rl.control.Environment` (physics, task), for privileged use."""
        return self._env

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Starts an episode; a seed reseeds the task's own random state (initial pose)."""
        super().reset(seed=seed)
        if seed is not None:
            # dm_control draws the initial state from task.random only; reseeding it in place
            # makes reset(seed=s) reproduce the same episode start on any instance.
            self._env.task.random.seed(seed)
        ts = self._env.reset()
        self._clip_count = 0
        self._needs_reset = False
        # The reward of the initial state is what progress would read before any action.
        progress = float(np.clip(self._env.task.get_reward(self._env.physics), 0.0, 1.0))
        info = {
            "success": progress >= SUCCESS_THRESHOLD,
            "progress": progress,
            "task_reward": 0.0,
            "action_clipped": False,
            "clip_count": 0,
        }
        return self._observation(ts.observation), info

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Applies `action` for `action_repeat` control steps and sums their rewards.

        Raises:
            RuntimeError: before the first `reset` or after the episode ended.
            ValueError: if the action has the wrong shape or is not finite.
        """
        if self._needs_reset:
            # dm_control would silently start a new episode here; a gymnasium user expects not.
            raise RuntimeError(f"{self.name}: call reset() before step() (episode not running)")
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action shape {action.shape} != {self.action_space.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite (no NaN/inf), got {action.tolist()}")
        # Compare with the float32 bounds that the action space advertises, so that
        # action_space.high itself (1.1 rounds up in float32) does not count as clipped.
        clipped = bool(
            np.any(action < self.action_space.low) or np.any(action > self.action_space.high)
        )
        self._clip_count += clipped
        action = np.clip(action, self._act_low, self._act_high)

        rewards = []
        for _ in range(self._action_repeat):
            ts = self._env.step(action)
            rewards.append(float(ts.reward))
            if ts.last():
                break
        # dm_control ends an episode on its time limit with discount 1 (bootstrap: truncation);
        # only a task's own termination sets discount 0.
        terminated = bool(ts.last() and ts.discount == 0.0)
        truncated = bool(ts.last() and not terminated)
        self._needs_reset = terminated or truncated
        reward = float(sum(rewards))
        # Suite rewards are in [0, 1] per control step; the mean keeps that scale for any repeat.
        progress = float(np.clip(reward / len(rewards), 0.0, 1.0))
        info = {
            "success": progress >= SUCCESS_THRESHOLD,
            "progress": progress,
            "task_reward": reward,
            "action_clipped": clipped,
            "clip_count": self._clip_count,
        }
        return self._observation(ts.observation), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """Returns the first requested camera's frame (camera 0 if none) in "rgb_array" mode."""
        if self.render_mode != "rgb_array":
            gymnasium.logger.warn("render() needs render_mode='rgb_array'; returning None")
            return None
        if self._cameras:
            return self._render(self._cameras[0][1])
        return self._render(0 if self._env.physics.model.ncam else -1)  # -1: MuJoCo's free camera

    def close(self) -> None:
        """Frees the renderer's GL context; safe to call twice."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _render(self, cam_id: int) -> np.ndarray:
        if self._renderer is None:
            physics = self._env.physics
            self._renderer = mujoco.Renderer(physics.model.ptr, self._image_size, self._image_size)
            if self._render_fast:
                self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
        self._renderer.update_scene(self._env.physics.data.ptr, camera=cam_id)
        return self._renderer.render()

    def _observation(self, dm_obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        state = [np.asarray(dm_obs[k], np.float32).ravel() for k in self._state_keys]
        obs = {"state": np.concatenate(state)}
        for key, cam_id in self._cameras:
            obs[key] = self._render(cam_id)
        return obs


def make_dmc(
    name: str,
    *,
    seed: int | None = None,
    cameras: Sequence[int | str] = (),
    image_size: int = 84,
    action_repeat: int = 1,
    time_limit: float | None = None,
    render_fast: bool = True,
    render_mode: str | None = None,
) -> DMCEnv:
    """Builds a dm_control suite task as a gymnasium environment.

    Args:
        name: "dmc:<domain>-<task>", one of `DMC_TASKS` or any `list_dmc_tasks()` entry.
        seed: seed of the task's random state (initial states); None draws from the OS.
        cameras: camera ids or model camera names to render into the observation, each under
            its model name (or "cam<id>" when unnamed). Empty: state only, no rendering.
        image_size: height and width of each camera image in pixels.
        action_repeat: control steps per `step` call; rewards are summed over them.
        time_limit: episode length in simulated seconds (dm_control's unit); None keeps the
            task's default (1000 control steps for the registered tasks).
        render_fast: turn off shadows, reflections, skybox and multisampling (~20x faster).
        render_mode: None or "rgb_array".

    Returns:
        A `DMCEnv`.

    Raises:
        ValueError: for an unknown task name or camera (the message lists valid ones), or an
            invalid argument.
    """
    return DMCEnv(
        name,
        seed=seed,
        cameras=cameras,
        image_size=image_size,
        action_repeat=action_repeat,
        time_limit=time_limit,
        render_fast=render_fast,
        render_mode=render_mode,
    )
