"""A serial arm's kinematic URDF from its joint origins, for arms this repository has no
URDF file of.

The vendors publish their kinematics as URDF joint origins (xyz, rpy) derived from their DH
tables; writing those into a URDF string gives the controller the one representation it
reads for every arm (:func:`sim.kinematics.parse_chain` and MuJoCo's URDF compiler), rather
than a second, DH-based code path. The result holds links and joints only: no meshes, no
inertias (nothing is simulated with it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr


@dataclass(frozen=True)
class UrdfJoint:
    """One joint of the tree, as URDF writes it.

    Attributes:
        name: Joint name (the driver's, so joint states map onto it by name).
        parent: Parent link.
        child: Child link.
        xyz: Origin translation in the parent link frame, metres.
        rpy: Origin rotation (URDF roll, pitch, yaw: fixed axes X, then Y, then Z), rad.
        limits: ``(lower, upper, velocity)`` of a revolute joint about its local z axis, or
            None for a fixed joint.
    """

    name: str
    parent: str
    child: str
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    limits: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        values = (*self.xyz, *self.rpy, *(self.limits or ()))
        if len(self.xyz) != 3 or len(self.rpy) != 3 or not all(map(math.isfinite, values)):
            raise ValueError(f"joint {self.name!r}: xyz and rpy must be 3 finite numbers each")
        if self.limits is not None:
            lo, hi, vel = self.limits
            if not (lo < hi and vel > 0):
                raise ValueError(f"joint {self.name!r}: limits {self.limits} need lo < hi, v > 0")


def _num(values) -> str:
    # repr keeps every digit of a float (17 significant), so the text round-trips exactly.
    return " ".join(repr(float(v)) for v in values)


def serial_urdf(robot: str, joints: Sequence[UrdfJoint]) -> str:
    """URDF text of the tree ``joints`` describe (links are created from their names).

    Raises:
        ValueError: when a link is the child of two joints.
    """
    children = [j.child for j in joints]
    if len(set(children)) != len(children):
        raise ValueError(f"{robot}: a link is the child of two joints: {children}")
    links = dict.fromkeys(name for j in joints for name in (j.parent, j.child))
    lines = [f"<robot name={quoteattr(robot)}>"]
    lines += [f"  <link name={quoteattr(name)}/>" for name in links]
    for j in joints:
        kind = "fixed" if j.limits is None else "revolute"
        lines.append(f"  <joint name={quoteattr(j.name)} type={quoteattr(kind)}>")
        lines.append(f"    <parent link={quoteattr(j.parent)}/>")
        lines.append(f"    <child link={quoteattr(j.child)}/>")
        lines.append(f'    <origin xyz="{_num(j.xyz)}" rpy="{_num(j.rpy)}"/>')
        if j.limits is not None:
            lo, hi, vel = j.limits
            lines.append('    <axis xyz="0 0 1"/>')
            # effort is required by the URDF schema; nothing here reads it.
            lines.append(
                f'    <limit lower="{lo!r}" upper="{hi!r}" velocity="{vel!r}" effort="0"/>'
            )
        lines.append("  </joint>")
    lines.append("</robot>")
    return "\n".join(lines) + "\n"
