"""End-effector delta actions -> joint position targets, by damped least-squares IK.

This is the single action interface of DESIGN.md contract 2: MuJoCo, PyBullet and the
real-robot bridge all import :class:`EEDeltaController`, so a policy never learns a
simulator-specific action mapping. The kinematics come from the URDF (``sim.kinematics``),
not from a simulator.

The IK is resolved-rate (Nakamura & Hanafusa 1986; Wampler 1986 for the damping): one
or a few DLS steps from the *measured* configuration toward ``measured TCP + delta``, a
fixed top-down hand orientation, and a null-space pull toward the home posture so the
redundant seventh degree of freedom does not drift over an episode.

Nothing here assumes seven joints. The task is 6-D (position and orientation), so for a
6-joint arm (the UR5e and xArm6 of ``sim.robot``) the Jacobian is square and the null space
empty: there the pull toward home is off, since all it could do is leak through the damping
as a steady bias of about a millimetre away from the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.kinematics import KINEMATICS, make_chain


@dataclass(frozen=True)
class ControllerConfig:
    """Settings of the end-effector delta controller.

    Attributes:
        max_step: TCP displacement (metres) commanded by an action component of 1.
        damping: DLS damping factor lambda; larger is slower but safer near singularities.
        orientation_weight: Weight of the orientation error against the position error.
        nullspace_gain: Fraction of the distance to the home posture removed per step in
            the Jacobian's null space (redundant arms only).
        iterations: DLS iterations per action (1 is classic resolved-rate control).
        workspace_low: Lower corner of the box the TCP target is clipped to (base frame).
        workspace_high: Upper corner of that box.
        kinematics: ``"mujoco"`` (MuJoCo's C kinematics of the URDF, fast) or ``"numpy"``
            (the pure reference implementation); they agree to 1e-12.
    """

    max_step: float = 0.03
    damping: float = 0.05
    orientation_weight: float = 0.5
    nullspace_gain: float = 0.1
    iterations: int = 1
    workspace_low: tuple[float, float, float] = (0.2, -0.45, 0.012)
    workspace_high: tuple[float, float, float] = (0.8, 0.45, 0.6)
    kinematics: str = "mujoco"

    def __post_init__(self) -> None:
        if self.kinematics not in KINEMATICS:
            raise ValueError(f"unknown kinematics {self.kinematics!r}; valid: {list(KINEMATICS)}")
        if not self.max_step > 0:
            raise ValueError(f"max_step must be > 0, got {self.max_step}")
        if self.damping < 0:
            raise ValueError(f"damping must be >= 0, got {self.damping}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if any(lo >= hi for lo, hi in zip(self.workspace_low, self.workspace_high)):
            raise ValueError(
                f"workspace_low {self.workspace_low} must be below workspace_high "
                f"{self.workspace_high} on every axis"
            )


@dataclass(frozen=True)
class JointCommand:
    """What the controller asks of the arm for one control step."""

    arm: np.ndarray  # joint position targets, radians, within limits minus margin
    finger: float  # per-finger opening target, metres
    tcp_target: np.ndarray  # the TCP position the IK aimed for


class EEDeltaController:
    """Turns ``(dx, dy, dz, gripper)`` in [-1, 1] into joint position targets.

    Args:
        robot: A :class:`sim.robot.RobotSpec`.
        config: Controller settings.
    """

    action_dim = 4

    def __init__(self, robot, config: ControllerConfig | None = None):
        self.robot = robot
        self.config = config or ControllerConfig()
        self.chain = make_chain(robot, self.config.kinematics)
        margin = robot.joint_margin
        self.q_low = self.chain.lower + margin
        self.q_high = self.chain.upper - margin
        self.q_home = np.asarray(robot.home_q, dtype=float)
        self.target_rotation = self.chain.fk(self.q_home)[:3, :3].copy()
        self._ws_low = np.asarray(self.config.workspace_low, dtype=float)
        self._ws_high = np.asarray(self.config.workspace_high, dtype=float)
        self._lam2_eye6 = self.config.damping**2 * np.eye(6)
        self._weights = np.array([1.0, 1.0, 1.0] + [self.config.orientation_weight] * 3)
        # Only a redundant arm (more joints than the 6-D task) has a null space to pull in.
        self._nullspace_gain = self.config.nullspace_gain if self.chain.n > 6 else 0.0

    def tcp_pose(self, q: np.ndarray) -> np.ndarray:
        """4x4 pose of the tool centre point in the robot base frame."""
        return self.chain.fk(q)

    def command(self, q: np.ndarray, action: np.ndarray) -> JointCommand:
        """Joint targets for one action, from the measured arm configuration ``q``.

        Raises:
            ValueError: if ``q`` or ``action`` has the wrong shape or is not finite.
        """
        q = np.asarray(q, dtype=float)
        action = np.asarray(action, dtype=float)
        if action.shape != (self.action_dim,):
            raise ValueError(f"action must have shape ({self.action_dim},), got {action.shape}")
        if not (np.isfinite(action).all() and np.isfinite(q).all()):
            raise ValueError(f"non-finite input to the controller: q={q}, action={action}")
        action = np.minimum(np.maximum(action, -1.0), 1.0)
        T, J = self.chain.jacobian(q)
        target = T[:3, 3] + action[:3] * self.config.max_step
        target = np.minimum(np.maximum(target, self._ws_low), self._ws_high)
        q_cmd = self.solve(q, target, first=(T, J))
        finger = float(self.robot.finger_open * (action[3] + 1.0) / 2.0)
        return JointCommand(arm=q_cmd, finger=finger, tcp_target=target)

    def solve(self, q: np.ndarray, target_pos: np.ndarray, first=None) -> np.ndarray:
        """DLS steps from ``q`` toward ``target_pos`` with the hand held top-down.

        ``first`` may carry the ``(pose, jacobian)`` at ``q`` when the caller has it.
        """
        cfg = self.config
        q = np.array(q, dtype=float)
        w = self._weights
        rhs = np.empty((6, 2))
        for it in range(cfg.iterations):
            T, J = first if (it == 0 and first is not None) else self.chain.jacobian(q)
            # Orientation error 0.5 * sum_i R[:, i] x Rd[:, i] = 0.5 * vee(M^T - M) with
            # M = R Rd^T (small-angle axis-angle); one 3x3 product instead of three crosses.
            M = T[:3, :3] @ self.target_rotation.T
            rhs[:3, 0] = target_pos - T[:3, 3]
            rhs[3, 0] = 0.5 * (M[1, 2] - M[2, 1])
            rhs[4, 0] = 0.5 * (M[2, 0] - M[0, 2])
            rhs[5, 0] = 0.5 * (M[0, 1] - M[1, 0])
            rhs[:, 0] *= w
            Jw = J * w[:, None]
            v = self._nullspace_gain * (self.q_home - q)
            rhs[:, 1] = Jw @ v
            # dq = J+ err and the null-space term v - J+ J v, from one 6x6 solve.
            sol = Jw.T @ np.linalg.solve(Jw @ Jw.T + self._lam2_eye6, rhs)
            q = np.minimum(np.maximum(q + sol[:, 0] + v - sol[:, 1], self.q_low), self.q_high)
        return q
