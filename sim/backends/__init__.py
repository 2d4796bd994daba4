"""Physics backends: the same robot, scene and cameras in MuJoCo and in PyBullet."""

from sim.backends.base import BACKENDS, PhysicsBackend, make_backend

__all__ = ["BACKENDS", "PhysicsBackend", "make_backend"]
