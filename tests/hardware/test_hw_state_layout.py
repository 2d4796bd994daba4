"""The bridge's state size and space come from `sim.state`, the one source of the layout."""

import pytest

from hardware.core.observation import observation_space, state_dim
from sim import state as layout


@pytest.mark.parametrize("n_arm", [6, 7])
def test_the_bridge_takes_its_size_and_space_from_the_layout(n_arm):
    assert state_dim(n_arm) == layout.state_dim("proprio", n_arm) == 2 * n_arm + 4
    space = observation_space(n_arm, ("front",), (32, 48))
    assert space == layout.observation_space(layout.proprio_dim(n_arm), ("front",), (32, 48))
