"""Simulated robot tasks: ``sim.make(name, backend=..., **options)`` and friends.

Importing ``sim`` loads no simulator; MuJoCo, PyBullet and dm_control are imported when an
environment of theirs is made. ``sim`` never imports torch or ``robopref.rl``.
"""

from __future__ import annotations

import os

# Headless by default (CI, servers); a user with a display may set MUJOCO_GL=glfw. Set
# before anything imports mujoco or dm_control, which read it at import time.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from sim.backends import BACKENDS  # noqa: E402
from sim.scene import CAMERA_NAMES  # noqa: E402
from sim.tasks import PANDA_TASKS  # noqa: E402

DMC_PREFIX = "dmc:"


def list_tasks(include_dmc: bool = True) -> list[str]:
    """Names ``sim.make`` accepts: the Panda tasks, then the dm_control suite adapters."""
    names = sorted(PANDA_TASKS)
    if include_dmc:
        from sim.dmc import list_dmc_tasks

        names += list_dmc_tasks()
    return names


def list_backends() -> list[str]:
    """Physics backends of the Panda tasks."""
    return sorted(BACKENDS)


def make(name: str, backend: str = "mujoco", **options):
    """Make the gymnasium environment of task ``name``.

    Args:
        name: A Panda task (``panda-reach``, ...) or a dm_control task (``dmc:walker-walk``).
        backend: ``"mujoco"`` or ``"bullet"`` for Panda tasks (dm_control tasks: mujoco).
        **options: Passed to :class:`sim.env.PandaTaskEnv` (cameras, image_size, state,
            randomize, max_steps, object_rgba, ...) or to :func:`sim.dmc.make_dmc`.
            Panda tasks also take ``object_half_size`` (metres; a task variant with a
            bigger or smaller cube).

    Raises:
        ValueError: for an unknown task or backend, listing the valid names.
    """
    if name.startswith(DMC_PREFIX):
        if backend != "mujoco":
            raise ValueError(f"dm_control tasks run on backend 'mujoco' only, not {backend!r}")
        from sim.dmc import make_dmc

        return make_dmc(name, **options)
    if name not in PANDA_TASKS:
        raise ValueError(f"unknown task {name!r}; valid: {list_tasks()}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {list_backends()}")
    from sim.env import PandaTaskEnv

    half = options.pop("object_half_size", None)
    task = PANDA_TASKS[name]() if half is None else PANDA_TASKS[name](object_half_size=half)
    return PandaTaskEnv(task, backend, **options)


def describe_task(name: str) -> str:
    """Task ``name``'s one-sentence instruction for people (a Panda task's ``description``);
    empty for the dm_control adapters, which carry none.

    Raises:
        ValueError: for a name `list_tasks` does not know, listing the valid ones.
    """
    if name in PANDA_TASKS:
        return PANDA_TASKS[name].description
    if name.startswith(DMC_PREFIX) and name in list_tasks():
        return ""
    raise ValueError(f"unknown task {name!r}; valid: {list_tasks()}")


def expert(name: str, noise_std: float = 0.0, rng=None):
    """The scripted expert of Panda task ``name``: ``policy(obs, info) -> action``.

    Args:
        noise_std: Std of Gaussian noise on every action (`sim.experts.ScriptedExpert`).
        rng: ``np.random.Generator`` of that noise (needed when ``noise_std`` > 0).

    Raises:
        ValueError: for a task without an expert, listing the valid names.
    """
    from sim.experts import EXPERTS

    if name not in EXPERTS:
        raise ValueError(f"no scripted expert for {name!r}; valid: {sorted(EXPERTS)}")
    return EXPERTS[name](noise_std=noise_std, rng=rng)


def missed_grasp_expert(name: str, rng, noise_std: float = 0.0):
    """The grasp expert of Panda task ``name`` closing on air beside the cube, then raising
    its empty hand (`sim.experts.MissedGraspExpert`): hard negatives for a PRM.

    Raises:
        ValueError: for a task whose expert does not grasp, listing the valid names.
    """
    from sim.experts import MissedGraspExpert, check_grasp_task

    check_grasp_task(name)
    return MissedGraspExpert(rng, noise_std=noise_std)


__all__ = [
    "CAMERA_NAMES",
    "describe_task",
    "expert",
    "list_backends",
    "list_tasks",
    "make",
    "missed_grasp_expert",
]
