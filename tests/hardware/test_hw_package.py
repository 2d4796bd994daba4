"""The ``hardware`` package: its lazy top-level names resolve, its subpackages by concern."""

import importlib

import hardware


def test_every_top_level_name_resolves():
    for name in hardware.__all__:
        assert getattr(hardware, name).__name__ == name


def test_python_dash_m_modules_have_a_main():
    # launch/*.launch.py and robopref sim-robot / bridge run these with ``python -m``.
    for module in (
        "hardware.ros.rclpy_node",
        "hardware.standin.sim_robot",
        "hardware.ros.bridge_cli",
    ):
        assert callable(importlib.import_module(module).main)
