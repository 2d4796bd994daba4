"""MuJoCo backend: the Panda URDF compiled through ``MjSpec``, plus the scene.

Rendering is kept cheap on purpose (no shadows, reflections or skybox, no multisampling,
an offscreen buffer the size of the frames, and the light collision meshes as visuals):
with default visuals an 84x84 frame costs ~20 ms on this CPU, with these ~0.5 ms.
"""

from __future__ import annotations

import mujoco  # sim/__init__ has chosen the GL backend (egl unless MUJOCO_GL says otherwise)
import numpy as np

from sim.backends.base import PhysicsBackend
from sim.scene import CameraSpec, SceneSpec

TIMESTEP = 0.002
# Position-servo gains per arm joint (N m / rad), after the Panda model in MuJoCo Menagerie;
# velocity gains are a tenth of those. Gravity is compensated (gravcomp) like the real arm.
ARM_KP = (4500.0, 4500.0, 3500.0, 3500.0, 2000.0, 2000.0, 2000.0)
ARM_DAMPING = 1.0
ARM_ARMATURE = 0.1
FINGER_KP = 400.0
FINGER_FORCE = 20.0  # URDF effort limit of the finger joints


_DIVERGENCE_WARNINGS = slice(
    int(mujoco.mjtWarning.mjWARN_BADQPOS), int(mujoco.mjtWarning.mjWARN_BADQACC) + 1
)


class SimulationUnstableError(RuntimeError):
    """The physics diverged during a step."""


def _as_slice(indices):
    """A slice when the indices are consecutive: slicing is ~5x cheaper than fancy indexing."""
    idx = np.asarray(indices)
    if np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _mat_to_quat(R: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R, dtype=float).ravel())
    return q


def build_spec(robot, scene: SceneSpec, image_size: tuple[int, int]) -> mujoco.MjSpec:
    """The MuJoCo model of the workcell, as an editable ``MjSpec``."""
    spec = robot.mujoco_spec()
    spec.modelname = "robopref_panda"
    spec.option.timestep = TIMESTEP
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0  # stiffer friction: cubes do not slip out of the grasp
    h, w = image_size
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    spec.visual.global_.offwidth = max(w, 1)
    spec.visual.global_.offheight = max(h, 1)
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.4, 0.4, 0.4]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]

    for body in spec.bodies:
        if body.name.startswith("panda_"):
            body.gravcomp = 1.0
    for geom in spec.geoms:
        geom.rgba = [0.92, 0.92, 0.92, 1.0]
    for name in robot.arm_joints:
        j = spec.joint(name)
        j.damping = [ARM_DAMPING * scene.joint_damping_scale, 0.0, 0.0]
        j.armature = ARM_ARMATURE
    for name in robot.finger_joints:
        spec.joint(name).damping = [10.0, 0.0, 0.0]
    for lf in ("panda_leftfinger", "panda_rightfinger"):
        for g in spec.body(lf).geoms:
            g.condim = 4
            g.friction = [1.5, 0.01, 0.001]
            g.rgba = [0.3, 0.3, 0.3, 1.0]

    world = spec.worldbody
    world.add_light(
        name="sun",
        type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
        dir=list(scene.light_dir),
        diffuse=[scene.light_diffuse] * 3,
        specular=[0.0, 0.0, 0.0],
        castshadow=False,
    )
    tx, ty = scene.table_center_xy
    hs = scene.table_half_size
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(hs),
        pos=[tx, ty, -hs[2]],
        rgba=list(scene.table_rgba),
        friction=[scene.object_friction, 0.005, 0.0001],
    )
    cube = world.add_body(name="object", pos=[0.5, 0.0, scene.object_half_size])
    cube.add_freejoint(name="object_free")
    cube.add_geom(
        name="object",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[scene.object_half_size] * 3,
        mass=scene.object_mass,
        rgba=list(scene.object_rgba),
        condim=4,
        friction=[scene.object_friction, 0.01, 0.001],
    )
    goal = world.add_body(name="goal", mocap=True, pos=[0.6, 0.1, scene.goal_radius])
    goal.add_geom(
        name="goal",
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[scene.goal_radius, 0, 0],
        rgba=list(scene.goal_rgba),
        contype=0,
        conaffinity=0,
    )
    for cam in scene.cameras:
        parent = world if cam.parent is None else spec.body(cam.parent)
        parent.add_camera(
            name=cam.name, pos=list(cam.pos), quat=list(_mat_to_quat(cam.rotation())), fovy=cam.fovy
        )

    for name, kp in zip(robot.arm_joints, ARM_KP):
        a = spec.add_actuator(name=f"act_{name}", target=name)
        a.trntype = mujoco.mjtTrn.mjTRN_JOINT
        a.set_to_position(kp=kp, kv=kp / 10.0)
        a.forcerange = [-200.0, 200.0]
        a.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    f1, f2 = robot.finger_joints
    a = spec.add_actuator(name="act_fingers", target=f1)
    a.trntype = mujoco.mjtTrn.mjTRN_JOINT
    a.set_to_position(kp=FINGER_KP, kv=20.0)
    a.forcerange = [-FINGER_FORCE, FINGER_FORCE]
    a.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    # The URDF's <mimic> (finger 2 follows finger 1), which MuJoCo's URDF import ignores.
    eq = spec.add_equality(name="finger_mimic", type=mujoco.mjtEq.mjEQ_JOINT)
    eq.name1, eq.name2 = f2, f1
    eq.data[:5] = [0, 1, 0, 0, 0]
    return spec


class MujocoBackend(PhysicsBackend):
    """The workcell in MuJoCo, stepped ``control_dt / TIMESTEP`` times per control step."""

    name = "mujoco"

    def __init__(self, robot, scene: SceneSpec, image_size: tuple[int, int]):
        super().__init__(robot, scene, image_size)
        self.model = build_spec(robot, scene, image_size).compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.n_substeps = int(round(self.control_dt / m.opt.timestep))
        self._arm_qadr = _as_slice([m.joint(n).qposadr[0] for n in robot.arm_joints])
        self._arm_dadr = _as_slice([m.joint(n).dofadr[0] for n in robot.arm_joints])
        self._finger_qadr = np.array([m.joint(n).qposadr[0] for n in robot.finger_joints])
        self._obj_qadr = m.joint("object_free").qposadr[0]
        self._obj_dadr = m.joint("object_free").dofadr[0]
        self._obj_body = m.body("object").id
        self._obj_geom = m.geom("object").id
        self._goal_mocap = m.body("goal").mocapid[0]
        self._tcp_body = m.body(robot.ee_link).id
        self._finger_side = np.zeros(m.ngeom, dtype=np.int8)
        for side, b in enumerate(("panda_leftfinger", "panda_rightfinger"), start=1):
            self._finger_side[m.geom_bodyid == m.body(b).id] = side
        self._arm_dof_damping = m.dof_damping[self._arm_dadr].copy()
        self._warnings = self.data.warning.number
        self._renderer: mujoco.Renderer | None = None
        self.apply_scene(scene)

    def reset(self, arm_q, finger, object_pos, object_yaw, goal_pos) -> None:
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[self._arm_qadr] = arm_q
        d.qpos[self._finger_qadr] = finger
        d.qpos[self._obj_qadr : self._obj_qadr + 3] = object_pos
        d.qpos[self._obj_qadr + 3 : self._obj_qadr + 7] = [
            np.cos(object_yaw / 2),
            0.0,
            0.0,
            np.sin(object_yaw / 2),
        ]
        d.mocap_pos[self._goal_mocap] = goal_pos
        self.set_targets(np.asarray(arm_q), finger)
        mujoco.mj_forward(m, d)

    def apply_scene(self, scene: SceneSpec) -> None:
        m = self.model
        self.scene = scene
        m.body_mass[self._obj_body] = scene.object_mass
        # Rotational inertia of a solid cube scales with its mass.
        s = 2 * scene.object_half_size
        m.body_inertia[self._obj_body] = scene.object_mass * s * s / 6.0
        # The solver scales constraints by inverse weights derived from masses at compile
        # time; without recomputing them a changed mass makes contacts explode.
        mujoco.mj_setConst(m, self.data)
        m.geom_friction[self._obj_geom, 0] = scene.object_friction
        m.geom_friction[m.geom("table").id, 0] = scene.object_friction
        m.geom_rgba[self._obj_geom] = scene.object_rgba
        m.geom_rgba[m.geom("table").id] = scene.table_rgba
        m.geom_rgba[m.geom("goal").id] = scene.goal_rgba
        m.dof_damping[self._arm_dadr] = self._arm_dof_damping * scene.joint_damping_scale
        light = m.light("sun").id
        d = np.asarray(scene.light_dir, dtype=float)
        m.light_dir[light] = d / np.linalg.norm(d)
        m.light_diffuse[light] = scene.light_diffuse
        for cam in scene.cameras:
            cid = m.camera(cam.name).id
            m.cam_pos[cid] = cam.pos
            m.cam_quat[cid] = _mat_to_quat(cam.rotation())
            m.cam_fovy[cid] = cam.fovy

    def set_targets(self, arm_q, finger) -> None:
        self.data.ctrl[:7] = arm_q
        self.data.ctrl[7] = finger

    def step(self) -> None:
        d = self.data
        t_end = d.time + self.n_substeps * self.model.opt.timestep
        mujoco.mj_step(self.model, d, nstep=self.n_substeps)
        # MuJoCo silently resets diverged data (time restarts at 0) and carries on; an
        # episode that jumped back to the default state must not be recorded as if nothing
        # happened. ``_warnings`` is a live view of the counters (fetching it costs ~5 us).
        if d.time < t_end - 1e-9 or self._warnings[_DIVERGENCE_WARNINGS].any():
            fired = [
                mujoco.mjtWarning(w).name
                for w in range(_DIVERGENCE_WARNINGS.start, _DIVERGENCE_WARNINGS.stop)
                if self._warnings[w]
            ]
            raise SimulationUnstableError(
                f"MuJoCo diverged ({', '.join(fired) or 'state reset'}) before "
                f"t={t_end:.3f} s and reset itself; the scene's dynamics parameters are "
                "probably extreme"
            )

    def arm_q(self) -> np.ndarray:
        return self.data.qpos[self._arm_qadr].copy()

    def arm_qd(self) -> np.ndarray:
        return self.data.qvel[self._arm_dadr].copy()

    def finger_width(self) -> float:
        return float(self.data.qpos[self._finger_qadr].sum())

    def tcp_pos(self) -> np.ndarray:
        return self.data.xpos[self._tcp_body].copy()

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        a = self._obj_qadr
        return self.data.qpos[a : a + 3].copy(), self.data.qpos[a + 3 : a + 7].copy()

    def object_velocity(self) -> np.ndarray:
        return self.data.qvel[self._obj_dadr : self._obj_dadr + 3].copy()

    def fingers_touch_object(self) -> tuple[bool, bool]:
        d = self.data
        if d.ncon == 0:
            return False, False
        pairs = d.contact.geom  # (ncon, 2), vectorized: a Python loop over contacts is slow
        with_obj = (pairs == self._obj_geom).any(axis=1)
        if not with_obj.any():
            return False, False
        sides = self._finger_side[pairs[with_obj]]  # 1 left finger, 2 right finger, else 0
        return bool((sides == 1).any()), bool((sides == 2).any())

    def time(self) -> float:
        return float(self.data.time)

    def link_pose(self, q, link) -> np.ndarray:
        d = mujoco.MjData(self.model)
        d.qpos[self._arm_qadr] = q
        mujoco.mj_kinematics(self.model, d)
        T = np.eye(4)
        b = self.model.body(link).id
        T[:3, :3] = d.xmat[b].reshape(3, 3)
        T[:3, 3] = d.xpos[b]
        return T

    def render(self, camera: CameraSpec) -> np.ndarray:
        if self._renderer is None:
            h, w = self.image_size
            self._renderer = mujoco.Renderer(self.model, h, w)
        r = self._renderer
        r.update_scene(self.data, camera=camera.name)
        return r.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
