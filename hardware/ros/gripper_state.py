"""Fingers from a gripper's own joint-state topic, joined onto the arm's joint states.

franka_ros2 publishes the arm on ``/franka/joint_states`` (``joint_state_broadcaster``, at
the controller rate) and the hand on ``/franka_gripper/joint_states`` (franka_gripper, 15
Hz); only ``joint_state_publisher`` merges them, into ``/joint_states`` at 30 Hz stamped at
re-publish time. To read the raw arm stream and still see the finger width, the adapters
keep the newest gripper sample here and append its fingers to each arm sample.

The joined sample keeps the arm's stamp and velocities: the fingers are a slow, separate
measurement. A gripper sample older than ``max_age`` (arrival time) is not joined, so the
bridge refuses the arm state for lacking the fingers and its freshness gate holds the arm
instead of acting on a width it no longer knows.
"""

from __future__ import annotations

import numpy as np

from hardware.core.samples import JointStateSample

#: Seconds a gripper sample is joined for: several periods of franka_gripper's 15 Hz.
DEFAULT_MAX_AGE = 0.5


class GripperStateJoin:
    """The newest finger positions of ``joints``, for :meth:`join`.

    Args:
        joints: The gripper's finger joints (``GripperConfig.joints``).
        max_age: Seconds after its arrival that a gripper sample is still joined.
    """

    def __init__(self, joints, max_age: float = DEFAULT_MAX_AGE):
        if not max_age > 0:
            raise ValueError(f"max_age must be > 0, got {max_age}")
        self.joints = tuple(joints)
        self.max_age = float(max_age)
        self._sample: JointStateSample | None = None
        self._arrival = -np.inf

    def update(self, sample: JointStateSample, arrival: float) -> None:
        """Keeps ``sample`` (which must name every finger) if it is newer than the last."""
        if self._sample is None or sample.stamp > self._sample.stamp:
            self._sample, self._arrival = sample, float(arrival)

    def join(self, arm: JointStateSample, now: float) -> JointStateSample:
        """``arm`` with the fingers appended, when it lacks them and a fresh gripper sample
        is at hand; else ``arm`` unchanged."""
        missing = tuple(j for j in self.joints if j not in arm.names)
        g = self._sample
        if not missing or g is None or now - self._arrival > self.max_age:
            return arm
        q, qd = g.select(missing)
        velocity = None
        if arm.velocity is not None:
            velocity = np.concatenate([arm.velocity, np.zeros(len(q)) if qd is None else qd])
        return JointStateSample(
            stamp=arm.stamp,
            names=arm.names + missing,
            position=np.concatenate([arm.position, q]),
            velocity=velocity,
        )
