"""PyBullet backend: the twin of :mod:`sim.backends.mujoco_backend`, from the same URDF.

Each instance owns its own physics client in DIRECT mode, so several environments (and a
MuJoCo one beside them) coexist in a process. Rendering uses the CPU TinyRenderer, without
shadows, from the same camera specs as MuJoCo. As in the MuJoCo backend, the light
collision meshes double as visuals: the URDF's visual meshes have ~100k triangles, which
cost TinyRenderer ~25 ms per 84x84 frame; the collision meshes (~3.4k) ~1 ms.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import numpy as np
import pybullet as p
from pybullet_utils import bullet_client

from sim.backends.base import PhysicsBackend
from sim.scene import CameraSpec, SceneSpec

TIMESTEP = 1.0 / 240.0  # PyBullet's default; 12 substeps make one 50 ms control period
SOLVER_ITERATIONS = 50
# POSITION_CONTROL in PyBullet is a velocity constraint whose target velocity is
# kp * position error / timestep + kd * velocity error (btMultiBodyJointMotor), capped by
# the force limits. kp = 0.04 per 1/240 s substep is a ~0.1 s servo time constant, the
# kv/kp of the MuJoCo backend: fitted so that the same actions move the TCP as in MuJoCo
# (~5 mm rms over a 46-step action sequence) and each joint's step response matches
# MuJoCo's within a few percent per control period (tests/sim/test_bullet_backend.py).
ARM_POSITION_GAIN = 0.04
ARM_VELOCITY_GAIN = 1.0
ARM_FORCE = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)  # URDF effort limits, N m
ARM_DAMPING = 1.0  # joint damping, N m s / rad (as in the MuJoCo backend), times the scale
FINGER_POSITION_GAIN = 0.04
FINGER_VELOCITY_GAIN = 1.0
FINGER_FORCE = 20.0  # URDF effort limit of the finger joints, N
FINGER_FRICTION = 1.5  # the MuJoCo backend's finger friction
ROBOT_RGBA = (0.92, 0.92, 0.92, 1.0)
FINGER_RGBA = (0.3, 0.3, 0.3, 1.0)
NEAR, FAR = 0.01, 5.0
HEADLIGHT_AMBIENT, HEADLIGHT_DIFFUSE = 0.35, 0.4  # the MuJoCo backend's headlight
# Touching means a contact with at most this separation: PyBullet also reports points
# within its contact margin, which are not touching (a firm grasp penetrates ~0.6 mm).
TOUCH_DISTANCE = 5e-4


def _load_robot(client, robot) -> int:
    """Load ``robot``'s URDF, fixed at the origin, with its collision meshes as visuals."""
    root = str(robot.urdf_path.parent)
    text = robot.urdf_text().replace("meshes/visual/", "meshes/collision/")
    text = text.replace('filename="meshes/', f'filename="{root}/meshes/')
    with tempfile.TemporaryDirectory(prefix="robopref_urdf_") as tmp:
        path = os.path.join(tmp, os.path.basename(robot.urdf_path))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return client.loadURDF(
            path,
            basePosition=(0.0, 0.0, 0.0),
            useFixedBase=True,
            flags=p.URDF_USE_INERTIA_FROM_FILE,
        )


@contextlib.contextmanager
def _quiet_stdout():
    """Silence C-level stdout: PyBullet prints ``argv[0]=`` on every connect, which would
    corrupt the JSON lines our commands print."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _quat_xyzw(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, float(np.sin(yaw / 2)), float(np.cos(yaw / 2)))


def _pose_matrix(pos, quat_xyzw) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = np.reshape(p.getMatrixFromQuaternion(quat_xyzw), (3, 3))
    T[:3, 3] = pos
    return T


class BulletBackend(PhysicsBackend):
    """The workcell in PyBullet, stepped ``control_dt / TIMESTEP`` times per control step."""

    name = "bullet"

    def __init__(self, robot, scene: SceneSpec, image_size: tuple[int, int]):
        super().__init__(robot, scene, image_size)
        with _quiet_stdout():
            self._client = bullet_client.BulletClient(connection_mode=p.DIRECT)
        c = self._client
        self.n_substeps = int(round(self.control_dt / TIMESTEP))
        c.setPhysicsEngineParameter(
            fixedTimeStep=TIMESTEP,
            numSubSteps=0,
            numSolverIterations=SOLVER_ITERATIONS,
            deterministicOverlappingPairs=1,
        )
        c.setGravity(0.0, 0.0, -9.81)
        self._robot = _load_robot(c, robot)
        self._link = {c.getBodyInfo(self._robot)[0].decode(): -1}
        joint = {}
        for j in range(c.getNumJoints(self._robot)):
            info = c.getJointInfo(self._robot, j)
            joint[info[1].decode()] = j
            self._link[info[12].decode()] = j
        self._arm = [joint[n] for n in robot.arm_joints]
        self._fingers = [joint[n] for n in robot.finger_joints]
        # In PyBullet a joint's child link has the joint's index.
        self._finger_links = list(self._fingers)
        self._tcp = self._link[robot.ee_link]
        for j in range(-1, c.getNumJoints(self._robot)):
            # PyBullet damps every body by 0.04 by default; MuJoCo has joint damping only.
            c.changeDynamics(self._robot, j, linearDamping=0.0, angularDamping=0.0)
            c.changeVisualShape(self._robot, j, rgbaColor=ROBOT_RGBA)
        for j in self._fingers:
            # The URDF's finger <contact> (soft, with friction anchors) stays; the friction
            # and damping are the MuJoCo backend's.
            c.changeDynamics(self._robot, j, lateralFriction=FINGER_FRICTION, jointDamping=10.0)
            c.changeVisualShape(self._robot, j, rgbaColor=FINGER_RGBA)

        tx, ty = scene.table_center_xy
        hs = scene.table_half_size
        self._table = c.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=c.createCollisionShape(p.GEOM_BOX, halfExtents=hs),
            baseVisualShapeIndex=c.createVisualShape(
                p.GEOM_BOX, halfExtents=hs, rgbaColor=scene.table_rgba
            ),
            basePosition=(tx, ty, -hs[2]),
        )
        h = scene.object_half_size
        self._cube = c.createMultiBody(
            baseMass=scene.object_mass,
            baseCollisionShapeIndex=c.createCollisionShape(p.GEOM_BOX, halfExtents=[h] * 3),
            baseVisualShapeIndex=c.createVisualShape(
                p.GEOM_BOX, halfExtents=[h] * 3, rgbaColor=scene.object_rgba
            ),
            basePosition=(0.5, 0.0, h),
        )
        c.changeDynamics(
            self._cube,
            -1,
            linearDamping=0.0,
            angularDamping=0.0,
            spinningFriction=0.001,
            rollingFriction=0.0001,
            frictionAnchor=1,
        )
        self._goal = c.createMultiBody(
            baseMass=0.0,
            baseCollisionShapeIndex=-1,
            baseVisualShapeIndex=c.createVisualShape(
                p.GEOM_SPHERE, radius=scene.goal_radius, rgbaColor=scene.goal_rgba
            ),
            basePosition=(0.6, 0.1, scene.goal_radius),
        )
        self._n_steps = 0
        self._light = np.zeros(3)
        self.apply_scene(scene)
        self.reset(
            np.asarray(robot.home_q),
            robot.finger_open,
            np.array([0.5, 0.0, h]),
            0.0,
            np.array([0.6, 0.1, scene.goal_radius]),
        )

    # --- episode set-up -------------------------------------------------------------------
    def reset(self, arm_q, finger, object_pos, object_yaw, goal_pos) -> None:
        c = self._client
        for j, q in zip(self._arm, np.asarray(arm_q, dtype=float)):
            c.resetJointState(self._robot, j, float(q), 0.0)
        for j in self._fingers:
            c.resetJointState(self._robot, j, float(finger), 0.0)
        # Park the cube far away for one collision pass first: that drops every contact
        # it had, with their cached impulses and friction anchors, so an episode does not
        # depend on how the previous one ended (same seed, same episode).
        c.resetBasePositionAndOrientation(self._cube, (0.0, 0.0, -100.0), (0.0, 0.0, 0.0, 1.0))
        c.performCollisionDetection()
        c.resetBasePositionAndOrientation(
            self._cube, [float(v) for v in object_pos], _quat_xyzw(object_yaw)
        )
        c.resetBaseVelocity(self._cube, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
        c.resetBasePositionAndOrientation(
            self._goal, [float(v) for v in goal_pos], (0.0, 0.0, 0.0, 1.0)
        )
        self.set_targets(np.asarray(arm_q, dtype=float), finger)
        self._n_steps = 0
        # Contact queries read the last collision pass; make it describe this state.
        c.performCollisionDetection()

    def apply_scene(self, scene: SceneSpec) -> None:
        c = self._client
        self.scene = scene
        # PyBullet multiplies the two bodies' frictions: the table at 1 makes the cube-table
        # pair object_friction, as MuJoCo's max() of two equal values does.
        c.changeDynamics(self._table, -1, lateralFriction=1.0)
        s = 2 * scene.object_half_size
        c.changeDynamics(
            self._cube,
            -1,
            mass=scene.object_mass,
            localInertiaDiagonal=[scene.object_mass * s * s / 6.0] * 3,
            lateralFriction=scene.object_friction,
        )
        damping = ARM_DAMPING * scene.joint_damping_scale
        for j in self._arm:
            c.changeDynamics(self._robot, j, jointDamping=damping)
        c.changeVisualShape(self._cube, -1, rgbaColor=scene.object_rgba)
        c.changeVisualShape(self._table, -1, rgbaColor=scene.table_rgba)
        c.changeVisualShape(self._goal, -1, rgbaColor=scene.goal_rgba)
        d = np.asarray(scene.light_dir, dtype=float)
        # MuJoCo's light_dir is where the light travels; TinyRenderer wants toward the light.
        self._light = -d / np.linalg.norm(d)

    # --- control --------------------------------------------------------------------------
    def set_targets(self, arm_q, finger) -> None:
        c = self._client
        arm_q = np.asarray(arm_q, dtype=float)
        c.setJointMotorControlArray(
            self._robot,
            self._arm,
            p.POSITION_CONTROL,
            targetPositions=arm_q.tolist(),
            targetVelocities=[0.0] * len(self._arm),
            forces=list(ARM_FORCE),
            positionGains=[ARM_POSITION_GAIN] * len(self._arm),
            velocityGains=[ARM_VELOCITY_GAIN] * len(self._arm),
        )
        # Both fingers take the same target: the URDF's <mimic>, which PyBullet ignores.
        c.setJointMotorControlArray(
            self._robot,
            self._fingers,
            p.POSITION_CONTROL,
            targetPositions=[float(finger)] * 2,
            targetVelocities=[0.0, 0.0],
            forces=[FINGER_FORCE] * 2,
            positionGains=[FINGER_POSITION_GAIN] * 2,
            velocityGains=[FINGER_VELOCITY_GAIN] * 2,
        )

    def step(self) -> None:
        c = self._client
        for _ in range(self.n_substeps):
            c.stepSimulation()
        self._n_steps += 1

    # --- state ----------------------------------------------------------------------------
    def arm_q(self) -> np.ndarray:
        states = self._client.getJointStates(self._robot, self._arm)
        return np.array([s[0] for s in states])

    def arm_qd(self) -> np.ndarray:
        states = self._client.getJointStates(self._robot, self._arm)
        return np.array([s[1] for s in states])

    def finger_width(self) -> float:
        states = self._client.getJointStates(self._robot, self._fingers)
        return float(states[0][0] + states[1][0])

    def tcp_pos(self) -> np.ndarray:
        s = self._client.getLinkState(self._robot, self._tcp, computeForwardKinematics=True)
        return np.array(s[4])

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        pos, (x, y, z, w) = self._client.getBasePositionAndOrientation(self._cube)
        return np.array(pos), np.array([w, x, y, z])

    def object_velocity(self) -> np.ndarray:
        return np.array(self._client.getBaseVelocity(self._cube)[0])

    def fingers_touch_object(self) -> tuple[bool, bool]:
        c = self._client
        touch = []
        for link in self._finger_links:
            pts = c.getContactPoints(bodyA=self._robot, bodyB=self._cube, linkIndexA=link)
            touch.append(any(pt[8] <= TOUCH_DISTANCE for pt in pts))
        return touch[0], touch[1]

    def time(self) -> float:
        return self._n_steps * self.n_substeps * TIMESTEP

    # --- kinematics check and rendering ---------------------------------------------------
    def link_pose(self, q, link) -> np.ndarray:
        if link not in self._link:
            raise ValueError(f"unknown link {link!r}; valid: {sorted(self._link)}")
        c = self._client
        idx = self._link[link]
        if idx < 0:
            # The base pose PyBullet reports is that of its inertial frame.
            com = c.getBasePositionAndOrientation(self._robot)
            local = c.getDynamicsInfo(self._robot, -1)[3:5]
            return _pose_matrix(*c.multiplyTransforms(*com, *c.invertTransform(*local)))
        # Move the arm to q for the query and put it back: a reset joint state leaves the
        # motors and every other body untouched, so the running simulation is undisturbed.
        saved = c.getJointStates(self._robot, self._arm)
        for j, qj in zip(self._arm, np.asarray(q, dtype=float)):
            c.resetJointState(self._robot, j, float(qj), 0.0)
        s = c.getLinkState(self._robot, idx, computeForwardKinematics=True)
        for j, (qj, vj, *_) in zip(self._arm, saved):
            c.resetJointState(self._robot, j, qj, vj)
        return _pose_matrix(s[4], s[5])

    def _eye_target_up(self, camera: CameraSpec) -> tuple[np.ndarray, ...]:
        pos, target, up = (
            np.asarray(v, dtype=float) for v in (camera.pos, camera.target, camera.up)
        )
        if camera.parent is None:
            return pos, target, up
        s = self._client.getLinkState(
            self._robot, self._link[camera.parent], computeForwardKinematics=True
        )
        T = _pose_matrix(s[4], s[5])
        R, t = T[:3, :3], T[:3, 3]
        return R @ pos + t, R @ target + t, R @ up

    def render(self, camera: CameraSpec) -> np.ndarray:
        c = self._client
        h, w = self.image_size
        eye, target, up = self._eye_target_up(camera)
        view = c.computeViewMatrix(eye.tolist(), target.tolist(), up.tolist())
        proj = c.computeProjectionMatrixFOV(camera.fovy, w / h, NEAR, FAR)
        # MuJoCo adds a headlight along the view (ambient 0.35, diffuse 0.4); TinyRenderer
        # has one light, so the headlight's diffuse share on the table top, the largest
        # surface in every view, joins the ambient term.
        look = (target - eye) / np.linalg.norm(target - eye)
        ambient = HEADLIGHT_AMBIENT + HEADLIGHT_DIFFUSE * abs(look[2])
        _, _, rgba, depth, _ = c.getCameraImage(
            w,
            h,
            viewMatrix=view,
            projectionMatrix=proj,
            renderer=p.ER_TINY_RENDERER,
            shadow=0,
            lightDirection=self._light.tolist(),
            lightColor=[1.0, 1.0, 1.0],
            lightAmbientCoeff=float(ambient),
            lightDiffuseCoeff=float(self.scene.light_diffuse),
            lightSpecularCoeff=0.0,
            flags=p.ER_NO_SEGMENTATION_MASK,
        )
        img = np.array(np.reshape(rgba, (h, w, 4))[:, :, :3], dtype=np.uint8)
        # TinyRenderer clears to white, MuJoCo (no skybox) to black: paint the empty pixels.
        img[np.reshape(depth, (h, w)) >= 1.0] = 0
        return img

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client = None
