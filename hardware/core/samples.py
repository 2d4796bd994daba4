"""What the bridge core consumes and produces: plain, validated, middleware-free values.

Adapters (Cyclone DDS, rclpy, the in-process stand-in robot) turn messages into these with
:mod:`hardware.ros.messages`; the core never sees a message type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class JointStateSample:
    """Joint positions (and velocities when the driver sends them) at one instant.

    Attributes:
        stamp: Header stamp, seconds (the robot's clock).
        names: Joint names, in the order of the arrays.
        position: float64 ``(n,)`` radians (metres for prismatic fingers).
        velocity: float64 ``(n,)`` or None when the message carried none.
    """

    stamp: float
    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray | None = None

    def select(self, names) -> tuple[np.ndarray, np.ndarray | None]:
        """Positions and velocities of ``names`` (a subset of :attr:`names`), in that order."""
        idx = [self.names.index(n) for n in names]
        vel = None if self.velocity is None else self.velocity[idx]
        return self.position[idx], vel


@dataclass(frozen=True)
class ImageSample:
    """A decoded camera frame.

    Attributes:
        stamp: Header stamp, seconds.
        image: uint8 ``(H, W, 3)`` RGB, or uint16 ``(H, W)`` for a depth image.
        encoding: The encoding (or compressed format) it was decoded from.
        frame_id: The header's frame.
    """

    stamp: float
    image: np.ndarray
    encoding: str
    frame_id: str = ""

    @property
    def is_color(self) -> bool:
        return self.image.dtype == np.uint8 and self.image.ndim == 3 and self.image.shape[2] == 3


@dataclass(frozen=True)
class JointCommand:
    """A command the bridge sent (or would send) to the arm, after the safety layer.

    Attributes:
        stamp: Bridge clock time it was issued, seconds.
        names: Arm joint names, in command order.
        positions: float64 ``(n,)`` joint position targets.
        gripper: Per-finger opening target (metres), or None when no gripper command.
        hold: True when this repeats the previous command instead of a new target.
        reasons: Why the safety layer changed or held the target (empty when untouched).
    """

    stamp: float
    names: tuple[str, ...]
    positions: np.ndarray
    gripper: float | None = None
    hold: bool = False
    reasons: tuple[str, ...] = field(default=())
