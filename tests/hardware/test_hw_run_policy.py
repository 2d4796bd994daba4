"""A trained run as the bridge's policy (``--run``): loading, the checks against the robot,
and a few closed-loop control steps of an SB3 model in the in-process bridge."""

import json

import gymnasium as gym
import numpy as np
import pytest
from learner_stubs import SpacesOnly

from hardware.core.bridge import Bridge, BridgeConfig, BridgeStatus
from hardware.core.observation import observation_space, state_dim
from hardware.policies.run import RunMismatchError, check_task, fit_observation_space
from hardware.robots import get_robot
from hardware.ros.bridge_cli import build_parser, load_bridge_policy
from hardware.standin.sim_robot import InProcessLink, run_closed_loop
from robopref.runs import RunDirError

PANDA_STATE = state_dim(7)


def make_run(root, task="panda-reach", state_size=PANDA_STATE, actions=4):
    """A run directory in the layout of robopref.runs with a tiny SAC as its checkpoint."""
    from stable_baselines3 import SAC

    obs = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (state_size,), np.float32)})
    act = gym.spaces.Box(-1.0, 1.0, (actions,), np.float32)
    model = SAC(
        "MultiInputPolicy",
        SpacesOnly(obs, act),
        policy_kwargs={"net_arch": [16, 16]},
        buffer_size=10,
        device="cpu",
        seed=0,
    )
    ckpt = root / "checkpoints" / "ckpt-0000000000"
    ckpt.mkdir(parents=True)
    model.save(ckpt / "model.zip")
    (root / "checkpoints" / "latest").write_text("ckpt-0000000000\n")
    config = {"learner": {"algo": "sac"}}
    if task is not None:
        config["task"] = task
    (root / "config.json").write_text(json.dumps(config))
    return root, model


@pytest.fixture(scope="module")
def panda_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


def test_run_policy_drives_the_in_process_bridge_within_limits(panda_run, stand_in, clock):
    run, model = panda_run
    robot = get_robot("panda_mujoco")
    args = build_parser().parse_args(["--robot", robot.name, "--run", str(run)])
    policy, fixed = load_bridge_policy(args, robot)
    # The run fixes what the bridge feeds its policy: its task, no cameras (state only).
    assert fixed == {"task": "panda-reach", "cameras": (), "image_size": 84}
    stand_in.reset(seed=1)
    config = BridgeConfig(**fixed, source="bridge", backend="mujoco", max_steps=10)
    link = InProcessLink(stand_in, config.period)
    bridge = Bridge(robot, policy, link, config=config, clock=clock)
    with bridge:
        bridge.start()
        results = run_closed_loop(stand_in, bridge, clock, link, max_seconds=2.0)
    ok = [r for r in results if r.status is BridgeStatus.OK]
    assert len(ok) >= 8, [r.reasons for r in results]
    ep = bridge.last_episode
    assert ep.metadata["task"] == "panda-reach" and ep.metadata["stop_reason"] == "max_steps"
    # The actions are the SB3 model's own deterministic ones on the recorded observations.
    for t in range(3):
        expected, _ = model.predict({"state": ep.state[t]}, deterministic=True)
        np.testing.assert_allclose(ep.action[t], np.clip(expected, -1, 1), atol=1e-6)
    safety, lim = config.safety, robot.limits
    lo = np.asarray(lim.lower) + safety.position_margin
    hi = np.asarray(lim.upper) - safety.position_margin
    vmax = np.asarray(lim.velocity) * safety.velocity_scale * config.period
    previous = None
    for r in ok:
        q = r.command.positions
        assert q.shape == (7,) and np.all(q >= lo) and np.all(q <= hi)
        if previous is not None:
            assert np.all(np.abs(q - previous) <= vmax + 1e-9)
        p = bridge.controller.tcp_pose(q)[:3, 3]
        assert np.all(p >= safety.workspace_low) and np.all(p <= safety.workspace_high)
        previous = q


def test_run_trained_on_the_panda_is_refused_on_another_arm(panda_run):
    run, _ = panda_run
    args = build_parser().parse_args(["--robot", "ur5e", "--run", str(run)])
    with pytest.raises(RunMismatchError, match=r"panda-reach.*panda.*'ur5e'"):
        load_bridge_policy(args, get_robot("ur5e"))


def test_run_and_policy_are_exclusive_and_frame_size_must_fit(panda_run):
    run, _ = panda_run
    robot = get_robot("panda_mujoco")
    for extra in (["--policy", "reach"], ["--policy-kwargs", '{"goal": [0.5, 0, 0.2]}']):
        args = build_parser().parse_args(["--robot", robot.name, "--run", str(run), *extra])
        with pytest.raises(ValueError, match="gives the policy"):
            load_bridge_policy(args, robot)


def test_run_with_a_state_of_another_size_or_other_actions_is_refused(tmp_path):
    robot = get_robot("panda_mujoco")
    full, _ = make_run(tmp_path / "full", state_size=25)  # the simulator's full state
    args = build_parser().parse_args(["--robot", robot.name, "--run", str(full)])
    with pytest.raises(RunMismatchError, match=r"state of shape \(25,\).*\(18,\).*full state"):
        load_bridge_policy(args, robot)
    joints, _ = make_run(tmp_path / "joints", actions=7)
    args = build_parser().parse_args(["--robot", robot.name, "--run", str(joints)])
    with pytest.raises(RunMismatchError, match=r"shape \(7,\).*end-effector"):
        load_bridge_policy(args, robot)


def test_run_without_checkpoint_or_config_is_a_clear_error(tmp_path):
    robot = get_robot("panda_mujoco")
    with pytest.raises(RunDirError, match="no config.json"):
        load_bridge_policy(build_parser().parse_args(["--run", str(tmp_path)]), robot)
    (tmp_path / "config.json").write_text(json.dumps({"task": "panda-reach"}))
    with pytest.raises(RunDirError, match="no checkpoint"):
        load_bridge_policy(build_parser().parse_args(["--run", str(tmp_path)]), robot)


def test_task_checks():
    panda, ur5e = get_robot("franka_panda"), get_robot("ur5e")
    assert check_task("panda-push", panda) == ()
    with pytest.raises(RunMismatchError, match="dm_control"):
        check_task("dmc:walker-walk", panda)
    with pytest.raises(RunMismatchError, match="simulated panda task"):
        check_task("panda-lift", ur5e)
    (warning,) = check_task("ur5e-real-reach", ur5e)
    assert "not a simulator task" in warning
    (warning,) = check_task(None, ur5e)
    assert "names no task" in warning


def test_fit_picks_the_policys_cameras_and_frame_size():
    robot = get_robot("franka_panda")
    space = observation_space(7, ("wrist", "front"), (64, 64))
    fit = fit_observation_space(space, robot, "panda-push")
    assert fit.cameras == ("front", "wrist") and fit.image_size == (64, 64)  # Dict sorts keys
    # The operator may add cameras (recorded), never drop one the policy needs.
    fit = fit_observation_space(space, robot, "panda-push", cameras=("front", "side", "wrist"))
    assert fit.cameras == ("front", "side", "wrist")
    with pytest.raises(RunMismatchError, match=r"needs cameras \['wrist'\]"):
        fit_observation_space(space, robot, "panda-push", cameras=("front",))
    odd = gym.spaces.Dict({"top": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)})
    with pytest.raises(RunMismatchError, match=r"keys \['top'\].*no camera"):
        fit_observation_space(odd, robot, "panda-push")
    two = observation_space(7, ("front",), (64, 64))
    two.spaces["side"] = gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)
    with pytest.raises(RunMismatchError, match="differ in size"):
        fit_observation_space(two, robot, "panda-push")
