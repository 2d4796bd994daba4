"""The gymnasium environment of a Panda task: backend + task + controller + cameras.

This is dm_control's ``Environment`` role: it steps, keeps the time limit and builds
observations, and knows nothing task-specific beyond the :class:`sim.tasks.Task` it holds.
Observation and ``info`` follow DESIGN.md contract 1; actions contract 2.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import gymnasium as gym
import numpy as np

from sim import randomization
from sim.backends import make_backend
from sim.controller import ControllerConfig, EEDeltaController
from sim.robot import PANDA
from sim.scene import CAMERA_NAMES, SceneSpec
from sim.state import (  # noqa: F401  (the layout's names, re-exported where they were)
    OBJECT_DIM,
    PROPRIO_DIM,
    RELATIVE_SCALE,
    STATE_MODES,
    object_state,
    observation_space,
    proprio_state,
    state_dim,
    state_fields,
    state_layout,
)
from sim.tasks import EpisodeRef, Task, TaskState


class PandaTaskEnv(gym.Env):
    """A Panda task as a gymnasium environment.

    Args:
        task: The task to run.
        backend: ``"mujoco"`` or ``"bullet"``.
        cameras: Camera names to render into the observation (any of front, side, wrist).
        image_size: Frame height and width (int) or ``(height, width)``.
        state: ``"full"`` (proprioception and object state) or ``"proprio"`` (what a real
            robot measures).
        randomize: Domain randomization: False (default), True, a dict of overrides or a
            :class:`sim.randomization.RandomizationConfig`.
        max_steps: Time limit in control steps (default: the task's).
        terminate_on_success: End the episode (terminated) when the task is solved.
        controller: Controller settings.
        render_mode: ``"rgb_array"`` to allow ``render()`` (the front camera).
        object_rgba: Cube colour of a task variant (default: the scene's red).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: Task,
        backend: str = "mujoco",
        *,
        cameras=CAMERA_NAMES,
        image_size=84,
        state: str = "full",
        randomize=False,
        max_steps: int | None = None,
        terminate_on_success: bool = True,
        controller: ControllerConfig | None = None,
        render_mode: str | None = None,
        object_rgba: tuple[float, float, float, float] | None = None,
    ):
        if state not in STATE_MODES:
            raise ValueError(f"unknown state mode {state!r}; valid: {list(STATE_MODES)}")
        cameras = tuple(cameras)
        bad = [c for c in cameras if c not in CAMERA_NAMES]
        if bad or len(set(cameras)) != len(cameras):
            raise ValueError(
                f"bad cameras {list(cameras)}; valid (each once): {list(CAMERA_NAMES)}"
            )
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        h, w = (int(v) for v in image_size)
        if not (8 <= h <= 1024 and 8 <= w <= 1024):
            raise ValueError(f"image_size must be within 8..1024 pixels, got {image_size}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unknown render_mode {render_mode!r}; valid: [None, 'rgb_array']")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.task = task
        self.robot = PANDA
        self.cameras = cameras
        self.image_size = (h, w)
        self.state_mode = state
        self.render_mode = render_mode
        self.max_steps = int(max_steps or task.max_steps)
        self.terminate_on_success = terminate_on_success
        self.randomization = randomization.RandomizationConfig.from_option(randomize)
        self.randomize = randomize not in (None, False)
        self.base_scene = SceneSpec(object_half_size=task.h)
        if object_rgba is not None:  # a task variant (a new cube colour)
            rgba = tuple(float(c) for c in object_rgba)
            if len(rgba) != 4 or not all(0.0 <= c <= 1.0 for c in rgba):
                raise ValueError(f"object_rgba must be 4 numbers in [0, 1], got {object_rgba!r}")
            self.base_scene = replace(self.base_scene, object_rgba=rgba)
        self.backend = make_backend(backend, self.robot, self.base_scene, (h, w))
        self.backend_name = backend
        self.controller = EEDeltaController(self.robot, controller)

        self.observation_space = observation_space(state_dim(state), cameras, (h, w))
        self.action_space = gym.spaces.Box(-1.0, 1.0, (EEDeltaController.action_dim,), np.float32)

        self._scene = self.base_scene
        self._noise_std = 0.0
        self._pending: deque = deque()
        self._steps = 0
        self._clip_count = 0
        self._ref: EpisodeRef | None = None

    # --- gymnasium API --------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        spread = 1.0
        latency = 0
        self._noise_std = 0.0
        if self.randomize:
            draw = randomization.sample(self.randomization, self.base_scene, rng)
            self._scene, spread = draw.scene, draw.placement_spread
            self._noise_std, latency = draw.obs_noise_std, draw.action_latency
            self.backend.apply_scene(self._scene)
        placement = self.task.sample_placement(rng, spread)
        self.backend.reset(
            np.asarray(self.robot.home_q),
            self.robot.finger_open,
            placement.object_pos,
            placement.object_yaw,
            placement.goal_pos,
        )
        self._goal = np.asarray(placement.goal_pos, dtype=float)
        self._pending = deque([np.zeros(4)] * latency)
        self._steps = 0
        self._clip_count = 0
        s = self._task_state()
        self._ref = EpisodeRef(s.tcp.copy(), s.object_pos.copy(), self._goal.copy())
        return self._observation(s), self._info(s, clipped=False)

    def step(self, action):
        if self._ref is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"action contains NaN or inf: {a.tolist()}")
        clipped = bool((np.abs(a) > 1.0).any())
        self._clip_count += clipped
        a = np.minimum(np.maximum(a, -1.0), 1.0)
        if self._pending:  # action latency: what reaches the robot is an older action
            self._pending.append(a)
            a = self._pending.popleft()
        cmd = self.controller.command(self.backend.arm_q(), a)
        self.backend.set_targets(cmd.arm, cmd.finger)
        self.backend.step()
        self._steps += 1
        s = self._task_state()
        success = self.task.success(s)
        terminated = bool(success and self.terminate_on_success)
        truncated = bool(self._steps >= self.max_steps and not terminated)
        info = self._info(s, clipped=clipped, success=success)
        return self._observation(s), float(success), terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array":
            raise ValueError("render() needs render_mode='rgb_array'")
        return self.backend.render(self._scene.camera("front"))

    def close(self):
        self.backend.close()

    # --- internals ------------------------------------------------------------------------
    def _task_state(self) -> TaskState:
        b = self.backend
        left, right = b.fingers_touch_object()
        obj, _ = b.object_pose()
        return TaskState(
            tcp=b.tcp_pos(),
            finger_width=b.finger_width(),
            object_pos=obj,
            object_vel=b.object_velocity(),
            goal=self._goal,
            grasped=bool(left and right),
        )

    def _observation(self, s: TaskState) -> dict:
        b = self.backend
        state = proprio_state(b.arm_q(), b.arm_qd(), s.tcp, s.finger_width)
        if self.state_mode == "full":
            _, quat = b.object_pose()
            objects = object_state(s.tcp, s.object_pos, quat, s.object_vel, s.goal)
            state = np.concatenate([state, objects])
        if self._noise_std > 0:
            state = state + self.np_random.normal(0, self._noise_std, state.shape).astype(
                np.float32
            )
        obs = {"state": state}
        for cam in self.cameras:
            obs[cam] = self.backend.render(self._scene.camera(cam))
        return obs

    def _info(self, s: TaskState, clipped: bool, success: bool | None = None) -> dict:
        if success is None:
            success = self.task.success(s)
        assert self._ref is not None  # reset() sets it before the first _info
        progress, phase = self.task.progress(s, self._ref)
        return {
            "success": bool(success),
            "is_success": bool(success),  # the key SB3's loggers read
            "progress": float(progress),
            "phase": self.task.phases[phase],
            "action_clipped": clipped,
            "clip_count": self._clip_count,
            "time": self.backend.time(),
            # Privileged, sim only: for scripted experts and evaluation, never for policies.
            # Copies: a caller keeps (and may write to) what it is given, and ``s.goal`` is
            # the env's live goal; gymnasium's env checker tests that no two calls share data.
            "privileged": {
                "tcp": s.tcp.copy(),
                "object_pos": s.object_pos.copy(),
                "goal_pos": s.goal.copy(),
                "finger_width": float(s.finger_width),
                "grasped": bool(s.grasped),
            },
        }
