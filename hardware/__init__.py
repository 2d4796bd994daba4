"""The hardware bridge: sim-trained policies on real arms through ROS 2 (DESIGN.md).

* :mod:`hardware.bridge`: the bridge core (no middleware import).
* :mod:`hardware.safety`: limits, workspace, stale-data gate, e-stop.
* :mod:`hardware.robots` and :mod:`hardware.config`: robot configurations, by name.
* :mod:`hardware.messages` and :mod:`hardware.idl`: ROS 2 messages, conversions.
* :mod:`hardware.dds_adapter`: the bridge on Cyclone DDS (ROS 2 wire format, no ROS).
* :mod:`hardware.sim_robot`: a MuJoCo stand-in arm (``robopref sim-robot``).
* :mod:`hardware.run_policy`: a trained run as the policy (``--run``), checked against the arm.
* :mod:`hardware.blob_policy`: an exported policy blob as the policy (``--policy-blob``), run by
  the C evaluator without torch, its state layout checked against the arm's.

Importing ``hardware`` loads none of them; names below are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Bridge": "hardware.bridge",
    "BridgeConfig": "hardware.bridge",
    "BridgeStatus": "hardware.bridge",
    "SafetyConfig": "hardware.safety",
    "RobotConfig": "hardware.robots",
    "get_robot": "hardware.robots",
    "list_robots": "hardware.robots",
    "register_robot": "hardware.robots",
    "FakeClock": "hardware.clock",
    "MonotonicClock": "hardware.clock",
    "SimRobot": "hardware.sim_robot",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hardware' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_EXPORTS)


__all__ = sorted(_EXPORTS)
