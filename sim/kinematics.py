"""Forward kinematics and Jacobians of a serial arm, in NumPy, parsed from its URDF.

Why by hand: the controller must run identically in MuJoCo, in PyBullet and on the real
robot (where neither simulator is loaded), so it cannot borrow a simulator's kinematics.
A serial chain of 4x4 transforms is a few dozen lines; the FK-agreement test checks it
against both simulators.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import cast

import numpy as np


def rpy_to_matrix(rpy) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes X, then Y, then Z) to a rotation matrix."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def _origin(elem) -> np.ndarray:
    T = np.eye(4)
    o = elem.find("origin") if elem is not None else None
    if o is not None:
        T[:3, :3] = rpy_to_matrix([float(v) for v in o.get("rpy", "0 0 0").split()])
        T[:3, 3] = [float(v) for v in o.get("xyz", "0 0 0").split()]
    return T


def _sub(elem: ET.Element, tag: str) -> ET.Element:
    """``elem``'s first ``tag`` child, which the URDF must have."""
    sub = elem.find(tag)
    if sub is None:
        raise ValueError(f"URDF <{elem.tag} name={elem.get('name')!r}> has no <{tag}>")
    return sub


_YZX = np.array([1, 2, 0])
_ZXY = np.array([2, 0, 1])


@dataclass
class Chain:
    """A serial chain from a base link to a tip link.

    ``fixed[i]`` is the transform from the previous moving joint's frame (after its
    rotation) to joint ``i``'s frame; ``tip`` is from the last joint to the tip link.
    """

    joint_names: tuple[str, ...]
    fixed: np.ndarray  # (n, 4, 4)
    axes: np.ndarray  # (n, 3), unit
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    tip: np.ndarray  # (4, 4)

    def __post_init__(self) -> None:
        self._all_z = bool(np.allclose(self.axes, [0.0, 0.0, 1.0]))

    @property
    def n(self) -> int:
        return len(self.joint_names)

    def frames(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World (base) frames of every joint after its rotation, and of the tip."""
        q = np.asarray(q, dtype=float)
        if q.shape != (self.n,):
            raise ValueError(f"expected {self.n} joint positions, got shape {q.shape}")
        # All joint rotations at once (Rodrigues, vectorized): the per-joint Python loop is
        # then only n small matmuls, which keeps one Jacobian in the tens of microseconds.
        c, s = np.cos(q), np.sin(q)
        if self._all_z:
            # Fast path (every Panda joint turns about its local z): F @ Rz(q) only mixes
            # the first two columns of F.
            local = self.fixed.copy()
            c0, c1 = self.fixed[:, :, 0], self.fixed[:, :, 1]
            local[:, :, 0] = c0 * c[:, None] + c1 * s[:, None]
            local[:, :, 1] = c1 * c[:, None] - c0 * s[:, None]
        else:
            x, y, z = self.axes.T
            C = 1.0 - c
            R = np.zeros((self.n, 4, 4))
            R[:, 0, 0] = c + x * x * C
            R[:, 0, 1] = x * y * C - z * s
            R[:, 0, 2] = x * z * C + y * s
            R[:, 1, 0] = y * x * C + z * s
            R[:, 1, 1] = c + y * y * C
            R[:, 1, 2] = y * z * C - x * s
            R[:, 2, 0] = z * x * C - y * s
            R[:, 2, 1] = z * y * C + x * s
            R[:, 2, 2] = c + z * z * C
            R[:, 3, 3] = 1.0
            local = self.fixed @ R
        out = np.empty((self.n, 4, 4))
        T = local[0]
        out[0] = T
        for i in range(1, self.n):
            T = T @ local[i]
            out[i] = T
        return out, T @ self.tip

    def fk(self, q: np.ndarray, tip: np.ndarray | None = None) -> np.ndarray:
        """4x4 pose of the tip link (or of ``tip`` expressed in the last joint frame)."""
        frames, T = self.frames(q)
        return T if tip is None else frames[-1] @ tip

    def jacobian(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tip pose and its 6xn geometric Jacobian (linear rows first) in the base frame."""
        frames, T = self.frames(q)
        p = T[:3, 3]
        z = (
            frames[:, :3, 2]
            if self._all_z
            else np.einsum("nij,nj->ni", frames[:, :3, :3], self.axes)
        )
        d = p - frames[:, :3, 3]
        J = np.empty((6, self.n))
        # z x d for all joints with index shuffles: np.cross costs ~30 us on these arrays.
        J[:3] = (z[:, _YZX] * d[:, _ZXY] - z[:, _ZXY] * d[:, _YZX]).T
        J[3:] = z.T
        return T, J


def parse_chain(urdf_text: str, base: str, tip: str, joints: tuple[str, ...]) -> Chain:
    """Build the chain ``base -> tip`` from URDF text; ``joints`` fixes the moving-joint order.

    Raises:
        ValueError: if the links are not connected, the moving joints differ from ``joints``,
            or a joint lacks its <child>, <parent>, <axis xyz> or <limit>.
    """
    root = ET.fromstring(urdf_text)
    by_child = {_sub(j, "child").get("link"): j for j in root.findall("joint")}
    path = []
    link: str | None = tip
    while link != base:
        if link not in by_child:
            raise ValueError(f"link {link!r} is not below {base!r} in the URDF")
        j = by_child[link]
        path.append(j)
        link = _sub(j, "parent").get("link")
    path.reverse()
    names, fixed, axes, lo, hi, vel = [], [], [], [], [], []
    acc = np.eye(4)
    for j in path:
        acc = acc @ _origin(j)
        if j.get("type") == "fixed":
            continue
        if j.get("type") not in ("revolute", "continuous"):
            raise ValueError(f"joint {j.get('name')!r} of type {j.get('type')!r} in arm chain")
        names.append(j.get("name"))
        fixed.append(acc)
        acc = np.eye(4)
        xyz = _sub(j, "axis").get("xyz")
        if xyz is None:
            raise ValueError(f"URDF joint {j.get('name')!r}: <axis> without xyz")
        ax = np.array([float(v) for v in xyz.split()])
        axes.append(ax / np.linalg.norm(ax))
        lim = _sub(j, "limit")
        lo.append(float(lim.get("lower", -np.pi)))
        hi.append(float(lim.get("upper", np.pi)))
        vel.append(float(lim.get("velocity", 1.0)))
    if tuple(names) != tuple(joints):
        raise ValueError(f"URDF chain joints {names} differ from the expected {list(joints)}")
    return Chain(
        cast("tuple[str, ...]", tuple(names)),  # equal to ``joints``, so no None (checked above)
        np.array(fixed),
        np.array(axes),
        np.array(lo),
        np.array(hi),
        np.array(vel),
        acc,
    )


@functools.lru_cache(maxsize=8)
def _chain_cached(urdf_text: str, base: str, tip: str, joints: tuple[str, ...]) -> Chain:
    return parse_chain(urdf_text, base, tip, joints)


def chain_for(robot, tip: str | None = None) -> Chain:
    """The chain of ``robot`` (a :class:`sim.robot.RobotSpec`) to its TCP, or to ``tip``."""
    return _chain_cached(robot.urdf_text(), robot.base_link, tip or robot.ee_link, robot.arm_joints)


class MujocoChain:
    """The same chain evaluated by MuJoCo's C kinematics: ~4x faster than :class:`Chain`.

    A kinematics-only model compiled from the same URDF (no geoms, nothing simulated); the
    numpy :class:`Chain` stays the reference and the test oracle. Each instance owns its
    scratch ``MjData``, so give every controller its own.
    """

    def __init__(self, robot, reference: Chain):
        import mujoco

        self._mj = mujoco
        spec = robot.mujoco_spec()
        for geom in list(spec.geoms):
            spec.delete(geom)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self._qadr = np.array([self.model.joint(n).qposadr[0] for n in robot.arm_joints])
        self._dadr = np.array([self.model.joint(n).dofadr[0] for n in robot.arm_joints])
        self._tip = self.model.body(robot.ee_link).id
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))
        self._eye4 = np.eye(4)
        self.joint_names = reference.joint_names
        self.lower, self.upper = reference.lower, reference.upper
        self.velocity = reference.velocity

    @property
    def n(self) -> int:
        return len(self.joint_names)

    def _forward(self, q) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if q.shape != (self.n,):
            raise ValueError(f"expected {self.n} joint positions, got shape {q.shape}")
        d = self.data
        d.qpos[self._qadr] = q
        self._mj.mj_kinematics(self.model, d)
        T = self._eye4.copy()
        T[:3, :3] = d.xmat[self._tip].reshape(3, 3)
        T[:3, 3] = d.xpos[self._tip]
        return T

    def fk(self, q: np.ndarray) -> np.ndarray:
        """4x4 pose of the tip link."""
        return self._forward(q)

    def jacobian(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tip pose and its 6xn geometric Jacobian (linear rows first) in the base frame."""
        T = self._forward(q)
        self._mj.mj_comPos(self.model, self.data)  # mj_jac needs it after mj_kinematics
        self._mj.mj_jacBody(self.model, self.data, self._jacp, self._jacr, self._tip)
        J = np.empty((6, self.n))
        J[:3] = self._jacp[:, self._dadr]
        J[3:] = self._jacr[:, self._dadr]
        return T, J


KINEMATICS = ("mujoco", "numpy")


def make_chain(robot, kind: str = "mujoco"):
    """A fresh chain of ``robot`` to its TCP: MuJoCo's C kinematics or the numpy reference.

    Raises:
        ValueError: for an unknown ``kind``, listing the valid ones.
    """
    if kind == "numpy":
        return chain_for(robot)
    if kind == "mujoco":
        return MujocoChain(robot, chain_for(robot))
    raise ValueError(f"unknown kinematics {kind!r}; valid: {list(KINEMATICS)}")
