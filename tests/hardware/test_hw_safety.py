"""The safety layer: each part, then fuzzing with random, malformed and adversarial inputs.

Input counts (every one checked): 200,000 rows through the vectorized limiter, 5,000
sequential commands with the workspace check, 3,000 control periods of malformed messages
and policy outputs through the whole bridge (~12,000 messages), plus Hypothesis examples.
"""

import numpy as np
import pytest
from hw_helpers import frame, hold_still, joint_state, make_bridge
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hardware.core.bridge import BridgeStatus
from hardware.core.errors import EStopActiveError, MessageError, SafetyLimitError, StaleDataError
from hardware.core.safety import (
    ACCELERATION,
    INFEASIBLE,
    MAX_STEP,
    NONFINITE,
    POSITION,
    VELOCITY,
    CommandLimiter,
    EStop,
    Freshness,
    FreshnessGate,
    SafetyConfig,
    WorkspaceGuard,
    limit_joint_targets,
)
from hardware.robots import get_robot
from hardware.ros import idl, messages
from sim.controller import EEDeltaController
from sim.robot import PANDA

DT = 0.05
CFG = SafetyConfig()
ROBOT = get_robot("panda_mujoco")
LIM = ROBOT.limits
LO = np.asarray(LIM.lower) + CFG.position_margin
HI = np.asarray(LIM.upper) - CFG.position_margin
VMAX = np.asarray(LIM.velocity) * CFG.velocity_scale
AMAX = np.asarray(LIM.acceleration) * CFG.acceleration_scale
STEP = CFG.max_step
EPS = 1e-9
HOME = np.asarray(PANDA.home_q)


def limit(target, measured=HOME, prev=HOME, prev_vel=None):
    prev_vel = np.zeros(7) if prev_vel is None else prev_vel
    return limit_joint_targets(target, measured, prev, prev_vel, LO, HI, VMAX, AMAX, DT, STEP)


def check_rows(cmd, vel, hold, target, measured, prev, prev_vel):
    """The invariants every output row must satisfy; returns the number of holds."""
    assert np.isfinite(cmd).all() and np.isfinite(vel).all()
    assert (cmd >= LO - EPS).all() and (cmd <= HI + EPS).all()
    held = hold[..., None]
    # A hold repeats the previous command exactly.
    assert np.where(held, cmd == prev, True).all()
    ok = ~held
    step = cmd - prev
    assert np.where(ok, np.abs(step) <= VMAX * DT + EPS, True).all()
    assert np.where(ok, np.abs(step / DT - prev_vel) <= AMAX * DT + 1e-6, True).all()
    assert np.where(ok, np.abs(cmd - measured) <= STEP + EPS, True).all()
    # Any non-finite target or measurement is a hold.
    bad = ~(np.isfinite(target).all(-1) & np.isfinite(measured).all(-1))
    assert hold[bad].all()
    return int(hold.sum())


# --- the limiter, part by part --------------------------------------------------------------


def test_nan_never_passes_where_np_clip_would_let_it():
    target = HOME.copy()
    target[3] = np.nan
    assert np.isnan(np.clip(target, LO, HI)[3])  # why the limiter checks finiteness first
    cmd, _, hold, flags = limit(target)
    assert hold and flags & NONFINITE and np.array_equal(cmd, HOME)
    for bad in (np.inf, -np.inf):
        target[3] = bad
        assert limit(target)[2]


def test_position_limit_with_margin():
    prev = HI - 0.001
    cmd, _, hold, flags = limit(prev + 1.0, measured=prev, prev=prev)
    assert not hold and flags & POSITION and (cmd <= HI).all()
    assert (HI <= np.asarray(LIM.upper) - CFG.position_margin + 1e-12).all()


def test_velocity_acceleration_and_max_step():
    v = VMAX * 0.99
    # Moving at nearly full speed, a far target is capped by the velocity limit.
    cmd, vel, hold, flags = limit(HOME + 1.0, measured=HOME, prev=HOME, prev_vel=v)
    assert not hold and flags & VELOCITY and np.allclose(vel, np.minimum(VMAX, v + AMAX * DT))
    # From rest, the first step is capped by the acceleration limit.
    cmd, vel, hold, flags = limit(HOME + 1.0)
    assert flags & ACCELERATION and np.allclose(vel, AMAX * DT)
    # The arm lags its command: the target may not run more than max_step ahead of it.
    measured = HOME - (STEP - 1e-4)
    cmd, vel, hold, flags = limit(HOME + 1.0, measured=measured)
    assert not hold and flags & MAX_STEP and np.allclose(cmd, measured + STEP)


def test_no_admissible_target_is_a_hold():
    # Measured far from the previous command: no target is within max_step of it and
    # within one velocity step of the previous command.
    cmd, vel, hold, flags = limit(HOME, measured=HOME + 1.0)
    assert hold and flags & INFEASIBLE and np.array_equal(cmd, HOME) and (vel == 0).all()


def test_braking_bound_stops_before_the_limit_without_exceeding_acceleration():
    q, v = HI - 0.3, VMAX.copy()
    target = HI + 10.0
    for _ in range(100):
        cmd, v_new, hold, _ = limit(target, measured=q, prev=q, prev_vel=v)
        assert not hold
        assert (np.abs(v_new - v) <= AMAX * DT + 1e-6).all() and (cmd <= HI).all()
        q, v = cmd, v_new
    assert np.allclose(v, 0.0, atol=1e-6)


def test_workspace_guard_uses_the_shared_kinematics():
    ctrl = EEDeltaController(PANDA)
    guard = WorkspaceGuard(lambda q: ctrl.tcp_pose(q)[:3, 3], CFG.workspace_low, CFG.workspace_high)
    assert guard.contains(HOME)
    for target in ([0.5, 0.0, -0.05], [0.1, 0.0, 0.3], [0.45, 0.55, 0.2]):
        q = HOME.copy()
        for _ in range(60):  # IK (the shared DLS solver) to a TCP outside the box
            q = ctrl.solve(q, np.asarray(target))
        assert np.allclose(ctrl.tcp_pose(q)[:3, 3], target, atol=0.02)
        assert not guard.contains(q), target


def test_limiter_refuses_to_start_outside_the_limits():
    lim = CommandLimiter(LIM.lower, LIM.upper, LIM.velocity, LIM.acceleration, CFG, DT)
    outside = HOME.copy()
    outside[0] = LIM.upper[0] - CFG.position_margin / 2
    cmd, reasons = lim.limit(HOME, outside)
    assert cmd is None and "outside the limits" in reasons[0] and lim.hold() is None
    cmd, reasons = lim.limit(HOME, HOME)
    assert np.allclose(cmd, HOME) and np.array_equal(lim.hold(), cmd)


# --- fuzzing the limiter --------------------------------------------------------------------


def adversarial(rng, n, center):
    """Targets around ``center`` at every scale, with NaN, inf and huge values mixed in."""
    scale = rng.choice([1e-4, 1e-2, 0.1, 1.0, 1e3, 1e12, 1e300], size=(n, 1))
    x = center + rng.standard_normal(center.shape) * scale
    special = rng.choice([np.nan, np.inf, -np.inf, 1e308, -1e308, 0.0], size=x.shape)
    mask = rng.random(x.shape) < 0.03
    return np.where(mask, special, x)


def test_fuzz_200k_vectorized_rows_never_leave_the_limits():
    rng = np.random.default_rng(20240611)
    n = 200_000
    prev = rng.uniform(LO, HI, (n, 7))
    edge = rng.random((n, 7))
    prev = np.where(edge < 0.05, LO, np.where(edge > 0.95, HI, prev))
    prev_vel = rng.uniform(-VMAX, VMAX, (n, 7)) * rng.choice([0.0, 0.1, 1.0], (n, 1))
    meas_scale = rng.choice([0.0, 1e-3, 0.05, 0.5, 1e6], (n, 1))
    measured = prev + rng.standard_normal((n, 7)) * meas_scale
    measured = np.where(rng.random((n, 7)) < 0.005, np.nan, measured)
    target = adversarial(rng, n, prev)
    with np.errstate(over="ignore", invalid="ignore"):
        cmd, vel, hold, flags = limit_joint_targets(
            target, measured, prev, prev_vel, LO, HI, VMAX, AMAX, DT, STEP
        )
    holds = check_rows(cmd, vel, hold, target, measured, prev, prev_vel)
    assert 0 < holds < n  # both branches exercised
    assert (flags & NONFINITE).any() and (flags & VELOCITY).any() and (flags & POSITION).any()


def test_fuzz_5k_sequential_commands_with_a_lagging_arm_and_the_workspace():
    rng = np.random.default_rng(7)
    n = 5000
    ctrl = EEDeltaController(PANDA)
    guard = WorkspaceGuard(lambda q: ctrl.tcp_pose(q)[:3, 3], CFG.workspace_low, CFG.workspace_high)
    lim = CommandLimiter(LIM.lower, LIM.upper, LIM.velocity, LIM.acceleration, CFG, DT, guard)
    with np.errstate(over="ignore", invalid="ignore"):
        offsets = adversarial(rng, n, rng.normal(0, 0.05, (n, 7)))
    noise = rng.normal(0, 1e-3, (n, 7))
    q = HOME.copy()
    last, last_vel, holds = None, np.zeros(7), 0
    for i in range(n):
        if i % 1000 == 0:
            q, last, last_vel = HOME.copy(), None, np.zeros(7)
            lim.reset()
        measured = q + noise[i]
        with np.errstate(over="ignore", invalid="ignore"):
            cmd, reasons = lim.limit(q + offsets[i], measured)
        if cmd is None:
            assert last is None
            continue
        assert np.isfinite(cmd).all() and (cmd >= LO - EPS).all() and (cmd <= HI + EPS).all()
        if "hold" in reasons:
            holds += 1
            assert np.array_equal(cmd, last)
            last_vel = np.zeros(7)
        else:
            assert guard.contains(cmd), "a new command outside the workspace box"
            assert (np.abs(cmd - measured) <= STEP + EPS).all()
            # The first command after a reset starts from the measured position at rest.
            v = (cmd - (measured if last is None else last)) / DT
            assert (np.abs(v) <= VMAX + EPS).all()
            assert (np.abs(v - last_vel) <= AMAX * DT + 1e-6).all()
            last_vel = v
        last = cmd
        q = q + 0.5 * (cmd - q)  # the arm tracks its command with a lag
    assert 0 < holds < n


@settings(max_examples=300, deadline=None)
@given(
    target=arrays(np.float64, 7, elements=st.floats(allow_nan=True, allow_infinity=True)),
    measured=arrays(np.float64, 7, elements=st.floats(-10, 10)),
    frac=arrays(np.float64, 7, elements=st.floats(0, 1)),
    vel=arrays(np.float64, 7, elements=st.floats(-1, 1)),
)
def test_hypothesis_any_floats_give_a_safe_command(target, measured, frac, vel):
    prev = LO + frac * (HI - LO)
    prev_vel = vel * VMAX
    with np.errstate(over="ignore", invalid="ignore"):
        out = limit_joint_targets(target, measured, prev, prev_vel, LO, HI, VMAX, AMAX, DT, STEP)
    check_rows(*out[:3], target, measured, prev, prev_vel)


# --- the freshness gate and the e-stop ------------------------------------------------------


def test_freshness_gate_states():
    gate = FreshnessGate(CFG, DT)
    gate.start(0.0)
    assert gate.assess(0.1, None, {"front": None}).state is Freshness.WAITING
    v = gate.assess(0.2, 0.19, {"front": None})
    assert v.state is Freshness.WAITING and "front" in v.reasons[0]
    assert gate.assess(0.3, 0.29, {"front": 0.29}).state is Freshness.FRESH
    # Joint state older than two control periods: stale.
    assert gate.assess(0.3 + 2 * DT + 0.001, 0.3, {"front": 0.3}).state is Freshness.STALE
    # A frame older than frame_max_age: stale, with the camera named.
    v = gate.assess(0.5, 0.49, {"front": 0.5 - CFG.frame_max_age - 0.01})
    assert v.state is Freshness.STALE and "camera front" in v.reasons[0]
    # Stale for fault_after seconds: fault.
    assert gate.assess(0.41 + CFG.fault_after, 0.3, {"front": 0.3}).state is Freshness.FAULT
    # Fresh data clears staleness.
    assert gate.assess(2.0, 2.0, {"front": 2.0}).state is Freshness.FRESH
    late = FreshnessGate(CFG, DT)
    late.start(0.0)
    v = late.assess(CFG.startup_timeout + 0.1, 1.0, {"front": None})
    assert v.state is Freshness.FAULT and "front" in v.reasons[0]


def test_estop_latch():
    e = EStop()
    e.check()
    e.trigger("button")
    e.trigger("second")
    assert e.active and e.reason == "button"
    with pytest.raises(EStopActiveError, match="button"):
        e.check()
    e.reset()
    assert not e.active


# --- the whole bridge under stale data, missing cameras and the e-stop ----------------------


def test_stale_joint_state_holds_within_one_control_period_then_faults(clock, panda):
    bridge, sink = make_bridge(clock, hold_still)
    for _ in range(5):
        bridge.on_joint_state(joint_state(panda, clock.now()))
        assert bridge.step().status is BridgeStatus.OK
        clock.advance(DT)
    last = sink.commands[-1]
    # The joint state stream stops. Time of the last sample: t_last; stale from
    # t_last + 2 periods; the first step after that (at most one period later) must hold.
    t_last = clock.now() - DT
    stale_from = t_last + 2 * DT
    first_hold = None
    while clock.now() < t_last + CFG.fault_after:
        r = bridge.step()
        if clock.now() <= stale_from + 1e-12:
            assert r.status is BridgeStatus.OK
        else:
            assert r.status is BridgeStatus.DEGRADED and r.command.hold
            assert np.array_equal(r.command.positions, last.positions)
            first_hold = clock.now() if first_hold is None else first_hold
        clock.advance(DT)
    assert first_hold is not None and first_hold - stale_from <= DT + 1e-9
    # Prolonged: a fault, publishing stops, the error is typed and latched.
    while bridge.status is not BridgeStatus.FAULT:
        r = bridge.step()
        clock.advance(DT)
    assert isinstance(r.error, StaleDataError) and r.command is None
    n = len(sink.commands)
    for _ in range(5):
        bridge.on_joint_state(joint_state(panda, clock.now()))
        assert bridge.step().command is None
        clock.advance(DT)
    assert len(sink.commands) == n and bridge.fault
    with pytest.raises(StaleDataError):
        bridge.send_action(hold_still(None))
    with pytest.raises(SafetyLimitError, match="clear_fault"):
        bridge.start()
    bridge.clear_fault()
    bridge.start()
    bridge.on_joint_state(joint_state(panda, clock.now()))
    assert bridge.step().status is BridgeStatus.OK


def test_missing_camera_at_start_means_no_motion_then_a_fault(clock, panda):
    bridge, sink = make_bridge(clock, hold_still, cameras=("front", "wrist"))
    t0 = clock.now()
    while clock.now() - t0 <= CFG.startup_timeout + DT:
        bridge.on_joint_state(joint_state(panda, clock.now()))
        bridge.on_image("front", frame(clock.now()))  # the wrist camera never delivers
        r = bridge.step()
        assert r.command is None
        clock.advance(DT)
    assert not sink.commands
    assert r.status is BridgeStatus.FAULT and "wrist" in str(r.error)


def test_stale_frame_holds(clock, panda):
    bridge, sink = make_bridge(clock, hold_still, cameras=("front",))
    bridge.on_joint_state(joint_state(panda, clock.now()))
    bridge.on_image("front", frame(clock.now()))
    assert bridge.step().status is BridgeStatus.OK
    while clock.now() < 100.0 + CFG.frame_max_age + DT:
        clock.advance(DT)
        bridge.on_joint_state(joint_state(panda, clock.now()))  # joint states keep coming
        r = bridge.step()
    assert r.status is BridgeStatus.DEGRADED and r.command.hold
    assert any("camera front" in x for x in r.reasons)


class EStopMachine(RuleBasedStateMachine):
    """Whatever happens, a triggered e-stop publishes nothing until reset_estop()."""

    @initialize()
    def setup(self):
        from hardware.core.clock import FakeClock

        self.clock = FakeClock(50.0)
        self.robot = get_robot("panda_mujoco")
        self.bridge, self.sink = make_bridge(self.clock, hold_still)
        self.latched = False
        self.sent_at_latch = 0

    @rule(dt=st.sampled_from([0.0, 0.01, 0.05, 0.2]))
    def feed_and_advance(self, dt):
        self.bridge.on_joint_state(joint_state(self.robot, self.clock.now()))
        self.clock.advance(dt)

    @rule()
    def step(self):
        self.bridge.step()

    @rule(action=st.sampled_from([(0.5, 0, 0, 1), (np.nan, 0, 0, 0), (1e9, -1e9, 0, 0)]))
    def send(self, action):
        try:
            self.bridge.send_action(np.array(action))
        except EStopActiveError:
            assert self.latched
        except (StaleDataError, SafetyLimitError):
            pass

    @rule()
    def start(self):
        try:
            self.bridge.start()
        except EStopActiveError:
            assert self.latched
        except SafetyLimitError:
            pass

    @rule()
    def trigger(self):
        self.bridge.estop("test")
        if not self.latched:
            self.latched, self.sent_at_latch = True, len(self.sink.commands)

    @precondition(lambda self: self.latched)
    @rule()
    def reset(self):
        self.bridge.reset_estop()
        self.latched = False

    @invariant()
    def nothing_moves_while_latched(self):
        if self.latched:
            assert self.bridge.estop_latch.active
            assert self.bridge.status is BridgeStatus.ESTOP
            assert len(self.sink.commands) == self.sent_at_latch
        else:
            assert not self.bridge.estop_latch.active


EStopMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_estop_latches_until_reset = EStopMachine.TestCase


# --- the whole pipeline with malformed messages and policy outputs --------------------------


def _malformed_joint_state(rng, t, base):
    names = list(ROBOT.arm_joints + ROBOT.gripper_joints)
    pos = list(np.concatenate([base, [0.04, 0.04]]) + rng.normal(0, 0.01, 9))
    vel = [0.0] * 9
    kind = rng.integers(0, 20)  # 0 and 10..19: well formed
    if kind == 1:
        order = rng.permutation(9)
        names, pos = [names[i] for i in order], [pos[i] for i in order]
    elif kind == 2:
        del names[rng.integers(0, 9)]
    elif kind == 3:
        names.append("mystery_joint")
        pos.append(0.0)
    elif kind == 4:
        names[0] = names[1]
    elif kind == 5:
        pos[rng.integers(0, 9)] = rng.choice([np.nan, np.inf, -np.inf])
    elif kind == 6:
        pos[rng.integers(0, 9)] = rng.choice([1e9, -1e9, 1e300])
    elif kind == 7:
        vel = vel[:3]
    elif kind == 8:
        t = t - rng.uniform(0, 1)  # out of order (or a duplicate below)
    elif kind == 9:
        pos = pos[:5]
    sec = int(t)
    return idl.JointState_(
        header=idl.Header_(idl.Time_(sec, int((t - sec) * 1e9))),
        name=names,
        position=[float(p) for p in pos],
        velocity=vel,
    )


def _malformed_image(rng, t):
    if rng.random() < 0.1:  # a late (out-of-order) frame
        t -= rng.uniform(0, 0.5)
    if rng.random() < 0.05:  # garbage from a compressed stream
        return idl.CompressedImage_(
            header=idl.Header_(idl.Time_(int(t), 0)),
            format="jpeg",
            data=rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes(),
        )
    kind = rng.integers(0, 8)
    h, w = (84, 84) if kind < 4 else tuple(rng.integers(1, 120, 2))
    enc = ["rgb8", "bgr8", "mono8", "16UC1", "yuv422", "rgba8", "rgb8", "rgb8"][kind]
    ch, size = messages.IMAGE_ENCODINGS.get(enc, (3, 1))
    step = w * ch * size + int(rng.integers(0, 3)) * (kind == 6)
    n = step * h - int(rng.integers(0, 50)) * (kind == 7)  # short buffer
    sec = int(t)
    return idl.Image_(
        header=idl.Header_(idl.Time_(sec, int((t - sec) * 1e9))),
        height=int(h),
        width=int(w),
        encoding=enc,
        step=int(step),
        data=rng.integers(0, 256, max(n, 0), dtype=np.uint8).tobytes(),
    )


def test_fuzz_the_bridge_with_malformed_messages_and_policy_outputs(clock):
    rng = np.random.default_rng(99)
    outputs = [
        lambda: rng.uniform(-1, 1, 4),
        lambda: rng.normal(0, 1e6, 4),
        lambda: np.array([np.nan, 0, 0, 0]),
        lambda: np.array([np.inf, -np.inf, 0, 1]),
        lambda: rng.uniform(-1, 1, 3),
        lambda: None,
        lambda: "forward",
        lambda: rng.uniform(-1, 1, (2, 4)),
    ]
    policy_out = {"v": None}
    bridge, sink = make_bridge(clock, lambda obs: policy_out["v"], cameras=("front",))
    names, optional = ROBOT.arm_joints, ROBOT.gripper_joints
    base, msgs, rejected = HOME.copy(), 0, 0
    for tick in range(3000):
        if tick % 50 == 0 and bridge.fault:
            bridge.clear_fault()
        if not bridge.running and not bridge.fault:
            bridge.start()
        for _ in range(rng.integers(0, 3)):
            msgs += 1
            try:
                s = messages.joint_state_from_msg(
                    _malformed_joint_state(rng, clock.now(), base), names, optional
                )
            except MessageError:
                rejected += 1
                continue
            bridge.on_joint_state(s)
        if rng.random() < 0.8:
            msgs += 1
            m = _malformed_image(rng, clock.now())
            decode = (
                messages.compressed_image_from_msg
                if isinstance(m, idl.CompressedImage_)
                else messages.image_from_msg
            )
            try:
                bridge.on_image("front", decode(m))
            except MessageError:
                rejected += 1
        policy_out["v"] = outputs[rng.integers(0, len(outputs))]()
        bridge.step()
        if sink.commands:
            base = sink.commands[-1].positions  # the "arm" follows the commands
        clock.advance(DT * rng.choice([1.0, 1.0, 1.0, 0.5, 3.0]))
    assert msgs > 5000 and 0 < rejected < msgs
    assert len(sink.commands) > 100
    prev = None
    for c in sink.commands:
        p = c.positions
        assert np.isfinite(p).all() and (p >= LO - EPS).all() and (p <= HI + EPS).all()
        assert c.gripper is None or 0.0 <= c.gripper <= ROBOT.gripper.open_position
        if prev is not None and not c.hold and prev.stamp != c.stamp:
            assert (np.abs(p - prev.positions) <= VMAX * DT + EPS).all()
        prev = c
    assert bridge.counters.holds > 0 and bridge.counters.rejected_messages > 0
    assert bridge.sync.counters.out_of_order > 0 and bridge.episodes
    assert all(np.isfinite(ep.state).all() for ep in bridge.episodes)
