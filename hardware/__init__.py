"""The hardware bridge: sim-trained policies on real arms through ROS 2 (DESIGN.md).

* :mod:`hardware.core`: the bridge core (no middleware import): the bridge and its config,
  safety, time sync, observation, recorder, clocks, the reward hook, samples and errors.
* :mod:`hardware.ros`: the ROS 2 wire: messages and IDL, the Cyclone DDS adapter and
  ``robopref bridge``, the rclpy node, the command I/O and launch config both adapters
  share, rosbag2 I/O.
* :mod:`hardware.robots`: robot configurations by name (a base module, one module per arm).
* :mod:`hardware.policies`: the bridge's policy: scripted, a trained run (``--run``), checked
  against the arm, or an exported blob (``--policy-blob``) run by the C evaluator.
* :mod:`hardware.standin`: a MuJoCo stand-in arm (``robopref sim-robot``).

Importing ``hardware`` loads none of them; names below are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Bridge": "hardware.core.bridge",
    "BridgeConfig": "hardware.core.bridge",
    "BridgeStatus": "hardware.core.bridge",
    "SafetyConfig": "hardware.core.safety",
    "RobotConfig": "hardware.robots.base",
    "get_robot": "hardware.robots",
    "list_robots": "hardware.robots",
    "register_robot": "hardware.robots",
    "FakeClock": "hardware.core.clock",
    "MonotonicClock": "hardware.core.clock",
    "SimRobot": "hardware.standin.sim_robot",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hardware' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_EXPORTS)


__all__ = sorted(_EXPORTS)
