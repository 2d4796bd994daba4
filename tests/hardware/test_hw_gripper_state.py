"""Fingers from a gripper's own topic joined onto raw arm states (franka_ros2's layout)."""

import numpy as np
import pytest
from hw_helpers import hold_still, make_bridge

from hardware.core.samples import JointStateSample
from hardware.robots import get_robot
from hardware.ros import messages
from hardware.ros.gripper_state import GripperStateJoin
from sim.robot import PANDA

FR3 = get_robot("fr3")


def arm_state(stamp, velocity=True):
    q = np.asarray(PANDA.home_q, dtype=float)
    return JointStateSample(stamp, FR3.arm_joints, q, np.zeros(7) if velocity else None)


def finger_state(stamp, width=0.06):
    # franka_gripper publishes each finger at half the width, velocity 0.
    msg = messages.joint_state_msg(stamp, FR3.gripper.joints, [width / 2] * 2, [0.0, 0.0])
    return messages.joint_state_from_msg(msg, FR3.gripper.joints)


def test_join_appends_fresh_fingers_and_keeps_the_arms_stamp():
    join = GripperStateJoin(FR3.gripper.joints, max_age=0.5)
    arm = arm_state(10.0)
    assert join.join(arm, now=1.0) is arm  # nothing from the gripper yet
    join.update(finger_state(9.9), arrival=1.0)
    out = join.join(arm, now=1.2)
    assert out.names == FR3.arm_joints + FR3.gripper.joints and out.stamp == 10.0
    np.testing.assert_allclose(out.position[7:], [0.03, 0.03])
    assert out.velocity.shape == (9,)
    assert join.join(arm_state(10.1, velocity=False), now=1.2).velocity is None
    assert join.join(arm, now=1.6) is arm  # too old: not joined
    # An older gripper sample never replaces a newer one.
    join.update(finger_state(9.0, width=0.0), arrival=1.3)
    np.testing.assert_allclose(join.join(arm, now=1.4).position[7:], [0.03, 0.03])


def test_an_arm_state_that_has_the_fingers_is_left_as_it_is():
    join = GripperStateJoin(FR3.gripper.joints)
    join.update(finger_state(1.0), arrival=0.0)
    names = FR3.arm_joints + FR3.gripper.joints
    full = JointStateSample(1.0, names, np.r_[PANDA.home_q, 0.01, 0.01], None)
    assert join.join(full, now=0.1) is full
    with pytest.raises(ValueError, match="max_age"):
        GripperStateJoin(FR3.gripper.joints, max_age=0.0)


def test_the_bridge_takes_raw_fr3_states_only_with_fresh_fingers(clock):
    # The raw /franka/joint_states carries the arm only: alone, the bridge refuses it (the
    # observation needs the finger width); joined with franka_gripper's fingers, it is taken.
    bridge, _ = make_bridge(clock, hold_still, robot="fr3")
    join = GripperStateJoin(FR3.gripper.joints, max_age=0.5)
    bridge.on_joint_state(join.join(arm_state(5.0), clock.now()))
    assert bridge.counters.rejected_messages == 1 and "lacks" in str(bridge.last_error)
    join.update(finger_state(5.0), clock.now())
    bridge.on_joint_state(join.join(arm_state(5.01), clock.now()))
    assert bridge.counters.rejected_messages == 1
    assert bridge.joint_state_arrival == clock.now()
    assert bridge.get_observation()["state"][-1] == pytest.approx(0.06)  # the finger width
    clock.advance(1.0)  # the gripper went quiet: its width is no longer vouched for
    bridge.on_joint_state(join.join(arm_state(6.0), clock.now()))
    assert bridge.counters.rejected_messages == 2
