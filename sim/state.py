"""The layout of the ``state`` observation: its fields, their order, and the builders.

One source for every side of the sim-to-real line (DESIGN.md contract 1): `PandaTaskEnv`
builds ``state`` here, the hardware bridge builds the proprioceptive part of it here
(``hardware.core.observation``), and exported policies carry :func:`state_layout` so that a
policy runs only on the state it was trained on. This module imports no simulator.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

STATE_MODES = ("full", "proprio")
# The relative vectors are what a policy acts on, and they are given in decimetres: in metres
# the centimetres that decide a reach or a grasp are inputs of a few hundredths, which SAC
# learned from several times slower (README, "Why SAC learned reach slowly"; measured).
RELATIVE_SCALE = 10.0


def proprio_fields(n_arm: int = 7) -> tuple[tuple[str, int], ...]:
    """What a real robot measures, in order: arm q, arm qd, TCP position, finger width."""
    return (("q", n_arm), ("qd", n_arm), ("tcp", 3), ("finger_width", 1))


# Cube pos, quat, lin vel, goal, then cube - TCP, goal - cube, goal - TCP (scaled), as
# :func:`object_state` appends them in ``"full"`` mode.
OBJECT_FIELDS: tuple[tuple[str, int], ...] = (
    ("object_pos", 3),
    ("object_quat", 4),
    ("object_vel", 3),
    ("goal", 3),
    *((f"{RELATIVE_SCALE:g}*({d})", 3) for d in ("object-tcp", "goal-object", "goal-tcp")),
)


def proprio_dim(n_arm: int = 7) -> int:
    """Length of the proprioceptive ``state`` of an arm of ``n_arm`` joints."""
    return sum(n for _, n in proprio_fields(n_arm))


PROPRIO_DIM = proprio_dim(7)  # the Panda's: 18
OBJECT_DIM = sum(n for _, n in OBJECT_FIELDS)  # 22


def state_fields(mode: str = "proprio", n_arm: int = 7) -> tuple[tuple[str, int], ...]:
    """The fields of ``state`` in order, with their sizes, for an arm of ``n_arm`` joints.

    Raises:
        ValueError: for an unknown ``mode``.
    """
    if mode not in STATE_MODES:
        raise ValueError(f"unknown state mode {mode!r}; valid: {STATE_MODES}")
    return proprio_fields(n_arm) + (OBJECT_FIELDS if mode == "full" else ())


def state_dim(mode: str = "proprio", n_arm: int = 7) -> int:
    """Length of ``state`` in ``mode`` for an arm of ``n_arm`` joints."""
    return sum(n for _, n in state_fields(mode, n_arm))


def state_layout(mode: str = "proprio", robot: str = "panda", n_arm: int = 7) -> str:
    """``state``'s layout as one line: the arm its joints belong to, the mode, each field.

    Exported policies carry it (``robopref export --policy``) and the hardware bridge builds
    its robot's with this same function, so a policy is run only on the state it was
    trained on (``"panda proprio: q[7] qd[7] tcp[3] finger_width[1]"``).
    """
    fields = " ".join(f"{name}[{n}]" for name, n in state_fields(mode, n_arm))
    return f"{robot} {mode}: {fields}"


def proprio_state(q, qd, tcp, finger_width) -> np.ndarray:
    """The proprioceptive part of ``state`` (:func:`proprio_fields`), float32."""
    return np.concatenate([q, qd, tcp, [finger_width]]).astype(np.float32)


def object_state(tcp, object_pos, object_quat, object_vel, goal) -> np.ndarray:
    """The object part of ``state`` in ``"full"`` mode (:data:`OBJECT_FIELDS`), float32."""
    tcp, object_pos, goal = (np.asarray(v) for v in (tcp, object_pos, goal))
    return np.concatenate(
        [
            object_pos,
            object_quat,
            object_vel,
            goal,
            RELATIVE_SCALE * (object_pos - tcp),
            RELATIVE_SCALE * (goal - object_pos),
            RELATIVE_SCALE * (goal - tcp),
        ]
    ).astype(np.float32)


def field_slices(mode: str = "full", n_arm: int = 7) -> dict[str, slice]:
    """Where each field of ``state`` sits: ``{"tcp": slice(14, 17), ...}``."""
    out, at = {}, 0
    for name, n in state_fields(mode, n_arm):
        out[name] = slice(at, at + n)
        at += n
    return out


def with_goal(states: np.ndarray, goals: np.ndarray, n_arm: int = 7) -> np.ndarray:
    """``"full"`` states ``(N, D)`` with their goal replaced by ``goals`` (``(N, 3)`` or
    ``(3,)``) and the goal's relative vectors recomputed, as the env would have built them
    for that goal (hindsight relabelling, `robopref.rl.her`)."""
    f = field_slices("full", n_arm)
    rel = {name: f[name] for name in f if name.startswith(f"{RELATIVE_SCALE:g}*(goal")}
    out = np.array(states, dtype=np.float32, copy=True)
    goals = np.broadcast_to(np.asarray(goals, np.float32), (len(out), 3))
    out[:, f["goal"]] = goals
    out[:, rel[f"{RELATIVE_SCALE:g}*(goal-object)"]] = RELATIVE_SCALE * (
        goals - out[:, f["object_pos"]]
    )
    out[:, rel[f"{RELATIVE_SCALE:g}*(goal-tcp)"]] = RELATIVE_SCALE * (goals - out[:, f["tcp"]])
    return out


def observation_space(
    dim: int, cameras: Sequence[str], image_size: tuple[int, int]
) -> gym.spaces.Dict:
    """The ``Dict`` space of contract 1: a float32 ``state`` of ``dim`` values and one uint8
    ``(H, W, 3)`` frame per camera, keyed by camera name."""
    h, w = image_size
    spaces: dict[str, gym.Space] = {"state": gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)}
    for cam in cameras:
        spaces[cam] = gym.spaces.Box(0, 255, (h, w, 3), np.uint8)
    return gym.spaces.Dict(spaces)
