"""A trained run as the bridge's policy: ``robopref bridge --run RUN_DIR``, the node's ``run``.

The run directory (DESIGN.md contract 6, :mod:`robopref.runs`) names the task it was trained
on; its latest checkpoint's SB3 model (:func:`robopref.rl.policy.load_run_policy`) says
which observation keys and shapes the policy takes. Both are checked against the robot and
the bridge before the arm moves:

* a run on a simulated Panda task (``panda-*``) drives only an arm with the Panda's
  kinematics, and a dm_control task drives no arm; another task name is only warned about;
* the policy's ``state`` must be the bridge's proprioceptive state (q, qd, TCP, finger width
  of this arm): a policy trained on the simulator's full state (object positions) cannot run
  on a robot that does not measure them;
* its camera keys pick the cameras the bridge feeds it, at the policy's frame size.

torch and SB3 are imported only when a run is loaded: ``hardware`` imports neither.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hardware.core.observation import state_dim
from hardware.robots.base import RobotConfig
from sim.controller import EEDeltaController

log = logging.getLogger(__name__)

Policy = Callable[[dict], object]
#: Prefixes of the simulator's task names and the kinematic model their arm has.
SIM_TASK_ROBOTS = {"panda-": "panda"}
DMC_PREFIX = "dmc:"


class RunMismatchError(ValueError):
    """A run's policy does not fit the robot or the bridge; the message says how."""


@dataclass(frozen=True)
class RunFit:
    """What the bridge must give a run's policy.

    Attributes:
        task: The run's task (episode metadata), or None when its config names none.
        cameras: Cameras the policy sees, in its observation order (empty: state only).
        image_size: ``(height, width)`` of its frames, or None without cameras.
        warnings: What was accepted but deserves the operator's eye.
    """

    task: str | None
    cameras: tuple[str, ...]
    image_size: tuple[int, int] | None
    warnings: tuple[str, ...] = ()


def check_task(task: object, robot: RobotConfig) -> tuple[str, ...]:
    """Warnings about running a policy trained on ``task`` on ``robot``.

    Raises:
        RunMismatchError: for a simulator task on another arm, or a dm_control task.
    """
    if task is None:
        return (f"the run names no task; nothing checks it was trained for {robot.name}",)
    if not isinstance(task, str) or not task:
        raise RunMismatchError(f"the run's task must be a task name, got {task!r}")
    if task.startswith(DMC_PREFIX):
        raise RunMismatchError(
            f"the run was trained on {task!r}, a dm_control task: it drives no arm, "
            f"not {robot.name}"
        )
    for prefix, model in SIM_TASK_ROBOTS.items():
        if task.startswith(prefix) and robot.kinematics != model:
            raise RunMismatchError(
                f"the run was trained on {task!r}, a simulated {model} task, so its policy "
                f"expects the {model}'s joints; robot {robot.name!r} has kinematics "
                f"{robot.kinematics!r}. Use a run trained for this arm"
            )
        if task.startswith(prefix):
            return ()
    return (f"the run's task {task!r} is not a simulator task; check it suits {robot.name}",)


def fit_observation_space(
    space, robot: RobotConfig, task: str | None, cameras: Sequence[str] | None = None
) -> RunFit:
    """Checks a policy's ``Dict`` observation ``space`` against ``robot``; what to feed it.

    Args:
        space: The policy's ``gymnasium.spaces.Dict``.
        robot: The robot config.
        task: The run's task (for the result and the warnings).
        cameras: Cameras the operator chose (None: those the policy needs).

    Raises:
        RunMismatchError: when the policy needs a key the bridge cannot give, a state of
            another size, cameras not chosen, or frames of differing sizes.
    """
    spaces = getattr(space, "spaces", None)
    if not isinstance(spaces, dict) or not spaces:
        raise RunMismatchError(f"the policy's observation space {space!r} is no Dict space")
    warnings = []
    if "state" in spaces:
        want = state_dim(robot.n_arm)
        got = tuple(spaces["state"].shape)
        if got != (want,):
            raise RunMismatchError(
                f"the policy takes a state of shape {got}; the bridge measures ({want},) on "
                f"{robot.name} (q, qd of {robot.n_arm} joints, TCP, finger width). A policy "
                "trained on the simulator's full state (object poses) cannot run on a robot"
            )
    else:
        warnings.append("the policy ignores proprioception (no 'state' key)")
    known = {c.name for c in robot.cameras}
    views = tuple(k for k in spaces if k != "state")
    unknown = [k for k in views if k not in known]
    if unknown:
        raise RunMismatchError(
            f"the policy needs observation keys {unknown}, which robot {robot.name} has no "
            f"camera for (its cameras: {sorted(known)})"
        )
    if cameras is not None:
        missing = [k for k in views if k not in cameras]
        if missing:
            raise RunMismatchError(
                f"the policy needs cameras {missing}, not among the chosen {list(cameras)}"
            )
        views = tuple(cameras)  # the operator's extra cameras are recorded, not fed to it
    sizes = {tuple(spaces[k].shape[:2]) for k in views if k in spaces}
    if len(sizes) > 1:
        raise RunMismatchError(f"the policy's camera frames differ in size: {sorted(sizes)}")
    image_size = next(iter(sizes)) if sizes else None
    return RunFit(task, views, image_size, (*check_task(task, robot), *warnings))


def load_run(
    run_dir: str | os.PathLike[str], robot: RobotConfig, cameras: Sequence[str] | None = None
) -> tuple[Policy, RunFit]:
    """The policy of a run's latest checkpoint and what the bridge must feed it.

    The task is checked before the model (and torch) is loaded.

    Raises:
        robopref.runs.RunDirError: no run, no config or no checkpoint with a model.
        RunMismatchError: the run does not fit ``robot`` (see :func:`fit_observation_space`)
            or its policy does not act in end-effector deltas.
    """
    from robopref.runs import RunPaths

    task = RunPaths.of(run_dir).read_config().get("task")
    check_task(task, robot)
    from robopref.rl.policy import load_run_policy  # torch and SB3: only now

    policy = load_run_policy(run_dir)
    actions = tuple(getattr(policy.model.action_space, "shape", None) or ())
    if actions != (EEDeltaController.action_dim,):
        raise RunMismatchError(
            f"the policy acts in a space of shape {actions}; the bridge takes "
            f"({EEDeltaController.action_dim},): end-effector dx, dy, dz and the gripper"
        )
    fit = fit_observation_space(policy.model.observation_space, robot, task, cameras)
    for w in fit.warnings:
        log.warning("run %s: %s", run_dir, w)
    return policy, fit


DEFAULT_IMAGE_SIZE = 84


def choose_policy(
    robot: RobotConfig,
    *,
    run: str | os.PathLike[str] | None = None,
    policy_blob: str | os.PathLike[str] | None = None,
    policy: str | None = None,
    policy_kwargs: dict | None = None,
    task: str | None = None,
    cameras: Sequence[str] | None = None,
    image_size: int | None = None,
) -> tuple[Policy, dict]:
    """The bridge's policy from a run, a policy blob or a policy spec, and the
    :class:`BridgeConfig` fields (``task``, ``cameras``, ``image_size``) that go with it; the
    command line and the rclpy node both call this.

    Args:
        robot: The robot config.
        run: A trained run directory, or None.
        policy_blob: A policy exported to an evaluator blob (``robopref export --policy``),
            run by the C evaluator without torch (:mod:`hardware.policies.blob`), or None.
        policy: ``hold``, ``reach`` or ``module:factory``
            (:func:`hardware.policies.scripted.load_policy`);
            None: ``hold``, or the run's.
        policy_kwargs: Keyword arguments of ``policy``.
        task: Episode task name; None: the run's or the blob's, else ``"unspecified"``.
        cameras: Cameras chosen by the operator; None: the run policy's (none for a blob's
            state policy), else all.
        image_size: Frame size; None: the run policy's, else 84.

    Raises:
        ValueError: a run or blob together with another policy, a frame size the run's
            policy does not take, or a run or blob that does not fit
            (:class:`RunMismatchError`, :class:`robopref.runs.RunDirError`,
            :class:`hardware.policies.blob.PolicyBlobMismatchError`,
            :class:`robopref.evaluator.BlobFormatError`).
        OSError: an unreadable run directory or blob.
    """
    if policy_blob:
        if run or policy is not None or policy_kwargs:
            raise ValueError(
                f"the policy blob {policy_blob} gives the policy: drop the run, the policy "
                "and its kwargs"
            )
        from hardware.policies.blob import load_policy_blob

        chosen_blob = load_policy_blob(policy_blob, robot)
        if task is not None and task != chosen_blob.task:
            log.warning("task %s given for a policy trained on %s", task, chosen_blob.task)
        fixed = {
            "task": task or chosen_blob.task,
            "cameras": tuple(cameras) if cameras is not None else (),  # it sees the state
            "image_size": image_size or DEFAULT_IMAGE_SIZE,
        }
        return chosen_blob, fixed
    if not run:
        from hardware.policies.scripted import load_policy

        scripted = load_policy(policy or "hold", **(policy_kwargs or {}))
        size = image_size or DEFAULT_IMAGE_SIZE
        fixed = {"task": task or "unspecified", "cameras": cameras, "image_size": size}
        return scripted, fixed
    if policy is not None or policy_kwargs:
        raise ValueError(f"the run {run} gives the policy: drop the policy and its kwargs")
    chosen, fit = load_run(run, robot, cameras)
    fit_size = fit.image_size
    if fit_size is not None and image_size is not None and (image_size, image_size) != fit_size:
        raise ValueError(f"image size {image_size}: the run's policy takes {fit_size} frames")
    if task is not None and fit.task is not None and task != fit.task:
        log.warning("task %s given for a run trained on %s", task, fit.task)
    return chosen, {
        "task": task or fit.task or "unspecified",
        "cameras": fit.cameras,
        "image_size": fit_size or image_size or DEFAULT_IMAGE_SIZE,
    }
