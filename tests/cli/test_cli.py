"""End-to-end CLI runs with tiny budgets."""

import json
import subprocess
import sys

import pytest

from robopref.cli import main
from robopref.data import EpisodeStore, probe_clip


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_rollout_writes_episodes_and_playable_clips(tmp_path, capsys):
    out = tmp_path / "eps"
    rc = main(
        [
            "rollout",
            "--task",
            "panda-reach",
            "--episodes",
            "2",
            "--out",
            str(out),
            "--image-size",
            "32",
        ]
    )
    assert rc == 0
    summary = last_json(capsys.readouterr().out)
    assert summary == {**summary, "task": "panda-reach", "backend": "mujoco", "episodes": 2}
    assert summary["success_rate"] == 1.0
    store = EpisodeStore(out)
    assert len(store) == 2
    seeds = sorted(ep.metadata["seed"] for ep in store)
    assert seeds == [0, 1]
    for ep in store:
        assert ep.cameras == ("front", "side", "wrist")
        assert ep.metadata["task_description"] == "Move the gripper to the green sphere."
        assert ep.frames["front"].shape[1:] == (32, 32, 3)
        assert ep.is_success and ep.progress[-1] == 1.0
        for cam in ep.cameras:
            info = probe_clip(out / "videos" / f"{ep.episode_id}_{cam}.mp4")
            assert info["codec"] == "h264" and info["frames"] == ep.length + 1


def test_rollout_random_policy_state_only_dmc(tmp_path, capsys):
    out = tmp_path / "dmc"
    rc = main(
        [
            "rollout",
            "--task",
            "dmc:cheetah-run",
            "--policy",
            "random",
            "--episodes",
            "1",
            "--cameras",
            "",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["task"] == "dmc:cheetah-run" and summary["success_rate"] == 0.0
    (ep,) = list(EpisodeStore(out))
    assert ep.length == 1000 and ep.cameras == ()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--task", "panda-fly"], "unknown task 'panda-fly'"),
        (["--task", "panda-reach", "--backend", "ode"], "unknown backend 'ode'"),
        (["--task", "panda-reach", "--cameras", "top"], "bad cameras"),
        (["--task", "panda-reach", "--policy", "human"], "unknown policy 'human'"),
        (
            ["--task", "panda-push", "--policy", "missed-grasp"],
            "no missed-grasp policy for 'panda-push' (its expert does not grasp)",
        ),
    ],
)
def test_rollout_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, capsys, argv, match):
    out = tmp_path / "never"
    assert main(["rollout", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_console_script_demo_trains_a_run(tmp_path):
    run = tmp_path / "demo"
    quick = ["--set", "shaping.prm_steps=3", "--set", "shaping.prm_episodes=3"]
    argv = [sys.executable, "-m", "robopref.cli", "demo", "--run-dir", str(run), "--steps", "600"]
    (run / "config.json").parent.mkdir()
    (run / "config.json").write_text("{}")  # an earlier demo: this one must not clobber it
    for expected in (tmp_path / "demo-2",):
        proc = subprocess.run(
            [*argv, *quick, "--no-progress", "--set", "eval_episodes=2"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        summary = last_json(proc.stdout)
        assert summary["run"] == str(expected) and summary["env_steps"] == 600
        assert 0 < summary["labels_used"] <= 60
        assert 0.0 <= summary["success_rate"] <= 1.0
        config = json.loads((expected / "config.json").read_text())
        assert config["reward"] == "sparse+pref+prm" and config["steps"] == 600
        assert (expected / "reward" / "prm.pt").exists() and (
            expected / "reward" / "pref.pt"
        ).exists()
        assert (expected / "plots" / "views.png").stat().st_size > 1000
        assert (expected / "plots" / "training.png").stat().st_size > 1000


def test_bullet_rollout_stdout_is_only_the_json_line(tmp_path):
    # PyBullet prints to C stdout on connect; our commands' stdout must stay parseable.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "robopref.cli",
            "rollout",
            "--task",
            "panda-reach",
            "--backend",
            "bullet",
            "--episodes",
            "1",
            "--cameras",
            "",
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    assert json.loads(lines[0])["backend"] == "bullet"


def test_hardware_commands_hand_over_their_command_line(capsys):

    for name, prog in (("sim-robot", "sim-robot"), ("bridge", "bridge")):
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert f"robopref {prog}" in capsys.readouterr().out
    # The top-level help lists them too.
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "sim-robot" in out and "bridge" in out


def test_robots_prints_one_json_line_per_robot_config(capsys):
    from hardware.robots import get_robot, list_robots

    assert main(["robots"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["name"] for r in rows] == list_robots()
    keys = {"joint_names", "lower", "upper", "velocity", "state_topic", "command_topic"}
    for row in rows:
        assert keys | {"command_type", "cameras", "gripper"} <= set(row)
        cfg = get_robot(row["name"])
        assert row["joint_names"] == list(cfg.arm_joints)
        assert row["upper"] == list(cfg.limits.upper)
        assert row["state_topic"] == cfg.joint_state_topic
    xarm = next(r for r in rows if r["name"] == "xarm6")
    assert xarm["upper"][2] == 0.19198 and xarm["state_topic"] == "/xarm/joint_states"
    assert main(["robots", "fr3"]) == 0
    (fr3,) = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert fr3["joint_names"][0] == "fr3_joint1"
    assert fr3["gripper"]["state_topic"] == "/franka_gripper/joint_states"
    assert main(["robots", "kuka"]) == 2
    err = capsys.readouterr().err
    assert "unknown robot 'kuka'" in err and "xarm6" in err and "Traceback" not in err


def test_export_writes_a_blob_the_c_evaluator_loads(tmp_path, capsys):
    import numpy as np

    from robopref.evaluator import Evaluator
    from robopref.rewards.preference import PreferenceRewardModel
    from robopref.rewards.prm import PRMConfig, ProcessRewardModel

    prm = ProcessRewardModel(PRMConfig(image_size=36, feature_dim=8, hidden=(16,)))
    prm.save(tmp_path / "prm.pt")
    pref = PreferenceRewardModel(6, 4)
    pref.save(tmp_path / "pref.pt")
    out = tmp_path / "reward.rpe"
    argv = ["export", "--out", str(out), "--prm", str(tmp_path / "prm.pt")]
    assert main([*argv, "--preference", str(tmp_path / "pref.pt"), "--gamma", "0.9"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["info"]["gamma"] == 0.9 and row["info"]["prm"]["dim"] == 8
    ev = Evaluator.load(out)
    rng = np.random.default_rng(0)
    frames = {v: rng.integers(0, 256, (5, 36, 36, 3), dtype=np.uint8) for v in prm.config.views}
    feats, _ = prm.features(frames)
    np.testing.assert_allclose(ev.potential_batch(feats), prm.predict(frames).potential, atol=1e-5)
    s, a = rng.standard_normal((3, 6)).astype(np.float32), rng.uniform(-1, 1, (3, 4))
    np.testing.assert_allclose(
        ev.reward_batch(s, a.astype(np.float32))[0], pref.reward(s, a)[0], atol=1e-5
    )
    assert main(["export", "--out", str(tmp_path / "none.rpe")]) == 2
    assert "nothing to export" in capsys.readouterr().err and not (tmp_path / "none.rpe").exists()


def test_bench_reward_rows(capsys):
    from robopref.benchmarks.reward import bench_reward

    rows = {r["bench"]: r for r in bench_reward(calls=5, batch_frames=32)}
    assert set(rows) == {"prm_latency", "prm_batch", "pref_latency"}
    assert (
        0 < rows["prm_latency"]["prm_latency_ms_p50"] <= rows["prm_latency"]["prm_latency_ms_p95"]
    )
    assert rows["prm_batch"]["prm_batch_frames_per_s"] > 0 and rows["prm_batch"]["frames"] == 32
    assert rows["pref_latency"]["pref_latency_us_p50"] > 0 and rows["pref_latency"]["obs_dim"] == 40
    assert rows["prm_latency"]["image_size"] == rows["prm_batch"]["image_size"] == 84
    # Another input size (the resolution study): the PRM and the frames are that size.
    big = {r["bench"]: r for r in bench_reward(calls=3, batch_frames=8, image_size=128)}
    assert big["prm_latency"]["image_size"] == big["prm_batch"]["image_size"] == 128
    with pytest.raises(ValueError, match="image_size"):
        bench_reward(calls=3, batch_frames=8, image_size=20)


def test_rollout_variant_and_perturbed_flags(tmp_path, capsys):
    argv = ["rollout", "--task", "panda-reach", "--policy", "perturbed", "--out", str(tmp_path)]
    flags = ["--object-size", "0.03", "--object-color", "0,0,1,1", "--no-video", "--cameras", ""]
    assert main([*argv, *flags]) == 0
    (ep,) = list(EpisodeStore(tmp_path))
    assert ep.metadata["source"] == "perturbed" and ep.metadata["object_half_size"] == 0.03
    assert ep.metadata["object_rgba"] == [0.0, 0.0, 1.0, 1.0]
    assert main([*argv, "--object-size", "0.5", "--no-video"]) == 2
    assert "object_half_size" in capsys.readouterr().err
