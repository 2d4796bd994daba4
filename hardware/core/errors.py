"""Typed errors of the hardware bridge, after LeRobot's ``DeviceNotConnectedError`` family.

Each names what was wrong and what is allowed, so an operator reading a log line knows
whether the robot, a topic, or a safety limit stopped the arm.
"""

from __future__ import annotations


class HardwareError(RuntimeError):
    """Base class of the bridge's runtime errors."""


class DeviceNotConnectedError(ConnectionError):
    """An operation needs ``connect()`` first (or the connection was closed)."""


class DeviceAlreadyConnectedError(ConnectionError):
    """``connect()`` was called twice without ``disconnect()`` in between."""


class SafetyLimitError(HardwareError):
    """The safety layer refused to move the arm (limits, e-stop, fault)."""


class EStopActiveError(SafetyLimitError):
    """The e-stop is latched; nothing moves until an explicit ``reset_estop()``."""


class StaleDataError(HardwareError):
    """Joint states or camera frames are missing or too old to act on."""


class MessageError(ValueError):
    """A middleware message is malformed (names, sizes, encodings, non-finite values)."""
