"""Fixtures of the hardware tests."""

import pytest

from hardware.core.clock import FakeClock
from hardware.robots import get_robot


@pytest.fixture
def clock():
    return FakeClock(100.0)


@pytest.fixture
def panda():
    return get_robot("panda_mujoco")


@pytest.fixture(scope="module")
def stand_in():
    """One MuJoCo stand-in per module (building one costs ~0.5 s); tests reset it."""
    from hardware.standin.sim_robot import SimRobot

    robot = SimRobot("panda-reach", seed=0, cameras=("front",))
    yield robot
    robot.close()
