"""Scripted experts for the Panda tasks: ``policy(obs, info) -> action``.

They read the privileged ``info["privileged"]`` (sim only) and are *stateless*: the action
depends on the current geometry alone, so an expert recovers by itself from a slipped
grasp or a pushed-off cube, and one instance serves any number of episodes. The optional
noise makes the imperfect demonstrations reward models need (progress and regress).
"""

from __future__ import annotations

import numpy as np

from sim.controller import ControllerConfig
from sim.tasks.panda import PUSH_HEIGHT, push_pose

_STEP = ControllerConfig().max_step
HOVER = 0.08  # metres above the cube before descending onto it
# Push speed, as a fraction of the controller's step. Measured on 300 MuJoCo seeds (100 in
# PyBullet): 0.5 succeeded 0.957 (PyBullet 1.00) and took 89 steps on pushes over 14 cm;
# 0.75 succeeded 0.970 (1.00) in 75 steps; 1.0 0.973 (0.99) in 70. The learned push policy
# copies its demonstrations' pace, and its failures were long pushes still moving at the
# 150-step limit (README, "Push: corrections and n-step returns"). Learned from, 0.75 beat
# both: push-iv-n3 scored 0.89 and 0.89 on 100 evaluation episodes (seeds 0, 1) where 0.5
# gave 0.78 and 0.79 and 1.0 gave 0.79 and 0.71.
PUSH_SPEED = 0.75
OPEN, CLOSE = 1.0, -1.0


def _toward(tcp, target, gain: float = 1.0) -> np.ndarray:
    return np.clip(gain * (np.asarray(target) - tcp) / _STEP, -1.0, 1.0)


class ScriptedExpert:
    """Base: subclasses map privileged geometry to ``(dx, dy, dz, gripper)``.

    Args:
        noise_std: Std of Gaussian noise added to every action (0 for the clean expert).
        rng: Generator for that noise (required when ``noise_std`` > 0).
    """

    def __init__(self, noise_std: float = 0.0, rng: np.random.Generator | None = None):
        if noise_std > 0 and rng is None:
            raise ValueError("a noisy expert needs an rng (np.random.Generator)")
        self.noise_std = noise_std
        self.rng = rng

    def __call__(self, obs, info) -> np.ndarray:
        p = info["privileged"]
        a = self.act(
            np.asarray(p["tcp"]),
            np.asarray(p["object_pos"]),
            np.asarray(p["goal_pos"]),
            bool(p["grasped"]),
        )
        if self.noise_std > 0:
            assert self.rng is not None  # required with noise_std > 0 (checked in __init__)
            a = a + self.rng.normal(0.0, self.noise_std, a.shape)
        return np.clip(a, -1.0, 1.0).astype(np.float32)

    def act(self, tcp, obj, goal, grasped) -> np.ndarray:
        raise NotImplementedError


class ReachExpert(ScriptedExpert):
    def act(self, tcp, obj, goal, grasped):
        return np.append(_toward(tcp, goal), OPEN)


class GraspExpert(ScriptedExpert):
    """Hover over the cube, descend with the gripper open, close, then carry to the goal."""

    def act(self, tcp, obj, goal, grasped):
        if grasped:
            # Steer the cube, not the hand, onto the goal: the cube hangs below the TCP.
            return np.append(_toward(tcp, goal + (tcp - obj)), CLOSE)
        xy_err = np.linalg.norm(tcp[:2] - obj[:2])
        if xy_err > 0.012:
            # Rise before travelling sideways so the fingers never sweep the cube away.
            z = obj[2] + HOVER if xy_err > 0.03 else max(tcp[2], obj[2] + 0.02)
            return np.append(_toward(tcp, [obj[0], obj[1], z]), OPEN)
        if tcp[2] > obj[2] + 0.008:
            return np.append(_toward(tcp, [obj[0], obj[1], obj[2] - 0.005]), OPEN)
        return np.array([0.0, 0.0, 0.0, CLOSE])


class PushExpert(ScriptedExpert):
    """Go behind the cube on the goal line with a closed gripper and push along it."""

    def act(self, tcp, obj, goal, grasped):
        d = goal[:2] - obj[:2]
        u = d / max(np.linalg.norm(d), 1e-6)
        rel = tcp[:2] - obj[:2]
        along = rel @ u
        off_line = rel - along * u
        # TCP a little below the cube's centre (fingertips ~1 cm above the table), measured
        # from the table, not the cube, so a tipping cube does not drag the hand down.
        push_z = PUSH_HEIGHT
        behind = push_pose(obj, goal)[:2]
        on_line = np.linalg.norm(off_line) < 0.02
        if on_line and -0.09 < along < -0.005 and tcp[2] < PUSH_HEIGHT + 0.012:
            # Low behind the cube: push toward the goal, steering back onto the line.
            target_xy = goal[:2] - u * 0.03 - off_line
            return np.append(PUSH_SPEED * _toward(tcp, [*target_xy, push_z]), CLOSE)
        if np.linalg.norm(tcp[:2] - behind) < 0.015 or (on_line and -0.09 < along < -0.045):
            return np.append(_toward(tcp, [*behind, push_z]), CLOSE)  # descend, then push
        if tcp[2] < obj[2] + 0.05 and np.linalg.norm(rel) < 0.09:
            return np.append(_toward(tcp, [tcp[0], tcp[1], obj[2] + 0.09]), CLOSE)  # clear it
        far = np.linalg.norm(rel) > 0.09
        z = obj[2] + 0.06 if far else max(tcp[2], obj[2] + 0.06)
        return np.append(_toward(tcp, [*behind, z]), CLOSE)


class MissedGraspExpert(GraspExpert):
    """The grasp expert closing on air beside the cube (6.5-10 cm off its centre, clear of the
    open fingers, in a random direction), then carrying its empty, closed hand to where the
    cube would go.

    Hard negatives for a process reward model: at 84x84 a raised, closed gripper looks
    much like a lifted cube, and a PRM that never saw one rated it near success (README,
    "Shaping without demonstrations"). Its progress labels stay low: nothing is grasped.

    Args:
        rng: Generator of the miss (its direction and distance); also the expert's noise.
        noise_std: As `ScriptedExpert`.
    """

    #: Steps the gripper closes for before the hand rises, as the expert waits for a grasp.
    CLOSE_STEPS = 4

    def __init__(self, rng: np.random.Generator, noise_std: float = 0.0) -> None:
        super().__init__(noise_std=noise_std, rng=rng)
        angle, dist = rng.uniform(0.0, 2 * np.pi), rng.uniform(0.065, 0.1)
        self.offset = dist * np.array([np.cos(angle), np.sin(angle), 0.0])
        self.closed_steps = 0

    def act(self, tcp, obj, goal, grasped):
        if self.closed_steps == 0:
            a = super().act(tcp, obj + self.offset, goal, False)
            if a[3] == CLOSE:  # down beside the cube: close on air from now on
                self.closed_steps = 1
            return a
        self.closed_steps += 1
        if self.closed_steps <= self.CLOSE_STEPS:
            return np.array([0.0, 0.0, 0.0, CLOSE])
        return np.append(_toward(tcp, goal + self.offset), CLOSE)


#: Tasks whose expert grasps: the ones `MissedGraspExpert` can miss on.
GRASP_TASKS = ("panda-lift", "panda-pick-place")


def check_grasp_task(name: str) -> None:
    """Raises ValueError, listing the valid names, unless task ``name``'s expert grasps."""
    if name not in GRASP_TASKS:
        raise ValueError(
            f"no missed-grasp policy for {name!r} (its expert does not grasp); valid: "
            f"{list(GRASP_TASKS)}"
        )


EXPERTS = {
    "panda-reach": ReachExpert,
    "panda-push": PushExpert,
    "panda-lift": GraspExpert,
    "panda-pick-place": GraspExpert,
}
