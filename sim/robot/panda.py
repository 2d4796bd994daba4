"""The Franka Panda, described once, from the URDF that ships in ``pybullet_data``.

Both simulators load this same file (MuJoCo after ``package://`` is stripped and the meshes
are passed as assets), and the numpy kinematics used by the controller parse it too, so
there is exactly one source of link lengths and joint limits.

:class:`RobotSpec` also describes arms that only the hardware bridge drives (the UR5e and
xArm6 of ``sim.robot.ur5e`` / ``sim.robot.xarm6``): their URDF is given as text, built from
the vendor's published kinematics, with no meshes and no simulator behind it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def _pybullet_data_dir() -> Path:
    # Imported lazily: pybullet_data is a plain data package (no simulator import).
    import pybullet_data

    return Path(pybullet_data.getDataPath())


@dataclass(frozen=True)
class RobotSpec:
    """Names, limits and poses of one arm, independent of any simulator or middleware.

    Attributes:
        name: Robot name, used in episode metadata.
        urdf_relpath: URDF path relative to the ``pybullet_data`` directory, or None when
            ``urdf_xml`` holds the description.
        arm_joints: Arm joint names in controller order.
        finger_joints: Prismatic finger joints (the second mimics the first); empty for an
            arm described without its gripper.
        base_link: Root link of the kinematic chain.
        ee_link: Link whose origin is the tool centre point (between the fingertips).
        wrist_link: Link the wrist camera is attached to.
        home_q: Arm configuration at reset, in radians.
        finger_open: Finger joint position when fully open (each finger, metres); 0 without
            fingers.
        joint_margin: Distance kept from every joint limit by the controller, radians.
        urdf_xml: The URDF itself, for a kinematics-only description (no meshes).
    """

    name: str
    urdf_relpath: str | None
    arm_joints: tuple[str, ...]
    finger_joints: tuple[str, ...]
    base_link: str
    ee_link: str
    wrist_link: str
    home_q: tuple[float, ...]
    finger_open: float
    joint_margin: float = 0.05
    arm_link_names: tuple[str, ...] = field(default=())
    urdf_xml: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.urdf_relpath is None) == (self.urdf_xml is None):
            raise ValueError(f"{self.name}: give exactly one of urdf_relpath and urdf_xml")

    @property
    def urdf_path(self) -> Path:
        """The URDF file (only for a description that ships as a file).

        Raises:
            ValueError: for a robot described by ``urdf_xml`` text.
        """
        if self.urdf_relpath is None:
            raise ValueError(f"{self.name} is described by URDF text, not a file")
        return _pybullet_data_dir() / self.urdf_relpath

    @property
    def n_arm(self) -> int:
        return len(self.arm_joints)

    def urdf_text(self) -> str:
        """URDF text with ``package://`` stripped so mesh paths are relative to its folder."""
        if self.urdf_xml is not None:
            return self.urdf_xml
        return _read_urdf(str(self.urdf_path)).replace("package://", "")

    def mesh_assets(self) -> dict[str, bytes]:
        """Meshes referenced by the URDF, keyed by their relative path (MuJoCo ``assets``)."""
        if self.urdf_xml is not None:
            return {}
        return _mesh_assets(str(self.urdf_path))

    def mujoco_spec(self):
        """The URDF as an editable ``mujoco.MjSpec``, the one way both MuJoCo users load it.

        fusestatic off keeps fixed-joint links (the hand, the TCP) as bodies; only the light
        collision meshes are kept (~3.4k triangles), then ``discardvisual`` is reset so that
        visual-only geoms added later (a goal marker) survive compilation.
        """
        import mujoco

        urdf = self.urdf_text()
        head = urdf.index(">", urdf.index("<robot")) + 1
        # A kinematics-only description has no inertias, and MuJoCo refuses massless moving
        # bodies; bounding them lets it compile. Mass plays no part in the kinematics the
        # controller reads from such a model (it is never simulated).
        bounds = ' boundmass="1e-6" boundinertia="1e-9"' if self.urdf_xml is not None else ""
        urdf = (
            urdf[:head]
            + '<mujoco><compiler fusestatic="false" discardvisual="true" balanceinertia="true"'
            + bounds
            + "/></mujoco>"
            + urdf[head:]
        )
        spec = mujoco.MjSpec.from_string(urdf, assets=self.mesh_assets())
        spec.compiler.discardvisual = False
        return spec

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper position limits of the arm joints, from the URDF."""
        from sim.kinematics import chain_for

        chain = chain_for(self)
        return chain.lower.copy(), chain.upper.copy()


@functools.lru_cache(maxsize=4)
def _read_urdf(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=4)
def _mesh_assets(urdf_path: str) -> dict[str, bytes]:
    import re

    root = os.path.dirname(urdf_path)
    text = _read_urdf(urdf_path).replace("package://", "")
    assets = {}
    for rel in sorted(set(re.findall(r'filename="([^"]+)"', text))):
        with open(os.path.join(root, rel), "rb") as f:
            assets[rel] = f.read()
    return assets


PANDA = RobotSpec(
    name="franka_panda",
    urdf_relpath="franka_panda/panda.urdf",
    arm_joints=tuple(f"panda_joint{i}" for i in range(1, 8)),
    finger_joints=("panda_finger_joint1", "panda_finger_joint2"),
    base_link="panda_link0",
    ee_link="panda_grasptarget",
    wrist_link="panda_hand",
    # Elbow up, hand pointing down, TCP at (0.45, 0, 0.25), fingers along the world y axis.
    home_q=(0.0, -0.1876, 0.0, -2.495, 0.0, 2.3074, 0.785398),
    finger_open=0.04,
)
