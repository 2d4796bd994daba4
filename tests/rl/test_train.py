"""Whole training runs on tiny budgets: the run directory, relabelling, resume, bad rewards."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from robopref.cli import main
from robopref.data import EpisodeStore
from robopref.preferences import LabelStore
from robopref.rl.checkpoint import CheckpointError, resumable_checkpoint, verify_checkpoint
from robopref.rl.env import StepReward
from robopref.rl.pebble import METRIC_FIELDS
from robopref.rl.policy import load_run_policy
from robopref.rl.train import TrainingStopped, train
from robopref.runs import RunPaths

pytestmark = pytest.mark.slow


def _metrics(run: RunPaths) -> list[dict]:
    with open(run.metrics, newline="") as f:
        return list(csv.DictReader(f))


def _load_buffer(ckpt: Path):
    import pickle

    with open(ckpt / "replay_buffer.pkl", "rb") as f:
        return pickle.load(f)


def test_a_run_writes_its_directory_and_relabels_the_buffer(tiny):
    summary = train(tiny())
    run = RunPaths.of(summary["run"])
    assert set(summary) == {"run", "success_rate", "true_return", "labels_used", "env_steps"}
    assert summary["env_steps"] == 300
    assert 0 < summary["labels_used"] <= 12  # the budget holds
    rows = _metrics(run)
    assert list(rows[0]) == list(METRIC_FIELDS)  # every reward term has a column
    assert [int(r["env_steps"]) for r in rows] == [100, 200, 300]
    assert int(rows[-1]["labels_used"]) == summary["labels_used"]
    assert any(float(r["reward/pref"]) != 0 for r in rows)
    for name in ("training.png", "true_return.png", "success_rate.png", "labels_used.png"):
        assert (run.plots / name).stat().st_size > 1000
    assert list(run.tensorboard.glob("events.out.tfevents.*"))
    assert [p.name for p in run.checkpoint_dirs()] == [
        "ckpt-0000000100",
        "ckpt-0000000200",
        "ckpt-0000000300",
    ]
    with LabelStore(run.labels) as store:
        labels = store.labels()
        assert len(labels) == summary["labels_used"]
        assert all(lab.source == "teacher:oracle" for lab in labels)
        ids = {s.episode_id for lab in labels for s in (lab.seg_a, lab.seg_b)}
    assert ids <= {p.name.split(".")[0] for p in run.episodes.iterdir()}
    assert json.loads(run.config.read_text())["run_dir"] == str(run.root)
    # what the query UI shows, recorded in the run and in every episode it keeps
    assert run.task_description() == "Move the gripper to the green sphere."
    ep = EpisodeStore(run.episodes).load(next(iter(ids)).split("_seg")[0])
    assert ep.metadata["task_description"] == run.task_description()

    # Every stored reward is the current model's: transitions stored before the last refit
    # were relabelled, later ones were rewarded by the C evaluator with the same head. The
    # reward is "pref" alone, so the default conservative k resolves to 1: mean - spread.
    from robopref.rewards.preference import PreferenceRewardModel

    ckpt = run.latest_checkpoint()
    buf = _load_buffer(ckpt)
    model = PreferenceRewardModel.load(ckpt / "reward" / "pref.pt")
    n = buf.size()
    mean, spread = model.reward(buf.pref_state[:n, 0], buf.actions[:n, 0])
    assert np.all(spread > 0)
    np.testing.assert_allclose(buf.rewards[:n, 0], mean - spread, atol=1e-4)
    assert np.ptp(buf.rewards[:n, 0]) > 0

    # The trained policy loads from the run, for eval and the bridge.
    policy = load_run_policy(run.root)
    assert policy.keys == ("state",)
    action = policy({"state": np.zeros(buf.pref_state.shape[-1], np.float32), "front": None})
    assert action.shape == (4,) and np.isfinite(action).all()

    with pytest.raises(ValueError, match="already holds a run"):
        train(tiny())


def test_the_run_keeps_the_policy_its_summary_evaluated(tiny, monkeypatch):
    """A checkpoint written at the last env step holds the model before that step's update;
    the final checkpoint must be the evaluated policy, or robopref eval differs from it."""
    import robopref.rl.evaluate as evaluate

    evaluated = []
    real = evaluate.evaluate_policy

    def spy(config, policy, episodes, **kwargs):
        evaluated.append(policy)
        return real(config, policy, episodes, **kwargs)

    monkeypatch.setattr(evaluate, "evaluate_policy", spy)
    summary = train(tiny(steps=120, checkpoint_every=60, reward="sparse"))
    (final,) = evaluated
    loaded = load_run_policy(summary["run"])
    obs = np.random.default_rng(0).normal(size=(8, 40)).astype(np.float32)
    for row in obs:
        np.testing.assert_array_equal(loaded({"state": row}), final({"state": row}))


def test_eval_writes_figures_and_a_clip_per_camera(tiny, capsys):
    summary = train(tiny(steps=100, checkpoint_every=100, log_every=100))
    capsys.readouterr()
    assert main(["eval", summary["run"], "--episodes", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2 and 0 <= result["success_rate"] <= 1
    assert set(result["videos"]) == {"front", "side", "wrist"}
    for path in result["videos"].values():
        assert Path(path).stat().st_size > 0 and path.endswith(".mp4")
    assert json.loads(RunPaths.of(summary["run"]).eval.read_text()) == result


def _cli_args(config_overrides: dict) -> list[str]:
    args = []
    for key, value in config_overrides.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    return args


def test_a_sigkilled_run_resumes_with_everything(tmp_path, tiny_overrides):
    run = RunPaths.of(tmp_path / "run")
    over = {**tiny_overrides, "steps": 500, "run_dir": str(run.root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "robopref.cli", "train", *_cli_args(over)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            latest = run.latest_checkpoint()
            if latest is not None and latest.name >= "ckpt-0000000200":
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint within 240 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = run.latest_checkpoint()
    killed_state = json.loads((killed / "state.json").read_text())
    killed_steps = killed_state["env_steps"]
    assert killed_steps < 500
    summary = train(resume=str(run.root))
    assert summary["env_steps"] == 500
    steps = [int(r["env_steps"]) for r in _metrics(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 500  # no row twice, none lost
    final = run.latest_checkpoint()
    state = json.loads((final / "state.json").read_text())
    assert state["episodes"] > killed_state["episodes"]  # counters continued
    assert state["rounds"] > killed_state["rounds"]
    with zipfile.ZipFile(final / "model.zip") as z:
        data = json.loads(z.read("data"))
    assert data["num_timesteps"] == 500
    # The buffer came back: it holds every transition, not only those after the resume.
    assert _load_buffer(final).size() == 500
    with LabelStore(run.labels) as store:
        labels = store.labels()
    assert len({lab.query_id for lab in labels}) == len(labels) == summary["labels_used"] <= 12


def test_a_corrupt_checkpoint_is_a_clear_error_and_the_previous_one_loads(tiny):
    summary = train(tiny(steps=200))
    run = RunPaths.of(summary["run"])
    newest, previous = run.checkpoint_dirs()[-1], run.checkpoint_dirs()[-2]
    model = newest / "model.zip"
    raw = bytearray(model.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    model.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="model.zip fails its checksum"):
        verify_checkpoint(newest)
    with pytest.warns(UserWarning, match="trying the previous checkpoint"):
        assert resumable_checkpoint(run) == previous
    (previous / "MANIFEST.json").unlink()
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="no intact checkpoint"):
        resumable_checkpoint(run)


def test_a_nan_reward_stops_training_naming_the_term_and_keeps_the_checkpoint(tiny, monkeypatch):
    calls = {"n": 0}
    real = StepReward.__call__

    def flaky(self, state, action):
        calls["n"] += 1
        return float("nan") if calls["n"] > 150 else real(self, state, action)

    monkeypatch.setattr(StepReward, "__call__", flaky)
    config = tiny(steps=300)
    with pytest.raises(TrainingStopped) as e:
        train(config)
    message = str(e.value)
    assert "'pref' became nan at env step 151" in message
    assert "ckpt-0000000100" in message
    run = RunPaths.of(config.run_dir)
    assert [p.name for p in run.checkpoint_dirs()] == ["ckpt-0000000100"]
    verify_checkpoint(run.latest_checkpoint())
    monkeypatch.setattr(StepReward, "__call__", real)
    assert train(resume=config.run_dir)["env_steps"] == 300


def test_a_human_teachers_labels_flow_back_while_training_runs(tiny):
    config = tiny(**{"teacher.name": "human", "pebble.human_wait_s": 2.0})
    run = RunPaths.of(config.run_dir)
    stop = threading.Event()
    answered = []

    def annotator():
        while not run.labels.exists() and not stop.is_set():
            time.sleep(0.05)
        with LabelStore(run.labels) as store:
            while not stop.is_set():
                q = store.next_query("alice")
                if q is None:
                    time.sleep(0.05)
                    continue
                store.add_label(q.id, "a" if q.id % 2 else "b", "alice", source="ui")
                answered.append(q.id)

    thread = threading.Thread(target=annotator, daemon=True)
    thread.start()
    try:
        summary = train(config)
    finally:
        stop.set()
        thread.join(5)
    assert answered and summary["labels_used"] == len(answered)
    assert (run.reward / "pref.pt").exists()  # the reward model trained on her labels
    from robopref.data import EpisodeStore

    episodes = list(EpisodeStore(run.episodes))
    assert episodes and all(set(ep.cameras) == {"front", "side", "wrist"} for ep in episodes)


def test_ppo_and_a_quick_prm(tiny):
    summary = train(
        tiny(
            reward="sparse+prm",
            steps=128,
            **{
                "learner.algo": "ppo",
                "learner.n_steps": 64,
                "env.cameras": ["front"],
                "shaping.prm_episodes": 3,
                "shaping.prm_steps": 2,
            },
        )
    )
    run = RunPaths.of(summary["run"])
    assert summary["env_steps"] == 128 and summary["labels_used"] == 0
    assert (run.reward / "prm.pt").exists()
    assert any(float(r["reward/shaping"]) != 0 for r in _metrics(run))
    assert load_run_policy(run.root).keys == ("state",)


def test_a_multi_task_prm_scores_the_runs_task(tiny, tmp_path):
    from robopref.rewards.prm import PRMConfig, ProcessRewardModel

    def multi(tasks, name):
        cfg = PRMConfig(views=("front",), tasks=tasks, channels=(8, 8, 8), feature_dim=8)
        path = tmp_path / name
        ProcessRewardModel(cfg, name=name).save(path)
        return str(path)

    overrides = {"env.cameras": ["front"], "learner.learning_starts": 32}
    prm = multi(("panda-push", "panda-reach"), "both.pt")
    summary = train(tiny(reward="sparse+prm", steps=64, **overrides, **{"shaping.prm": prm}))
    run = RunPaths.of(summary["run"])
    assert ProcessRewardModel.load(run.reward / "prm.pt").task == "panda-reach"
    assert any(float(r["reward/shaping"]) != 0 for r in _metrics(run))
    other = multi(("panda-push", "panda-lift"), "other.pt")
    with pytest.raises(ValueError, match=r"not trained on task 'panda-reach'.*panda-lift"):
        train(
            tiny(reward="sparse+prm", steps=64, run_dir=str(tmp_path / "other"),
                 **overrides, **{"shaping.prm": other})
        )  # fmt: skip
    assert not (tmp_path / "other" / "reward" / "prm.pt").exists()


def test_the_quick_prm_learns_from_the_runs_own_randomized_scenes(tiny):
    from robopref.data import EpisodeStore

    summary = train(
        tiny(
            reward="sparse+prm",
            steps=64,
            **{
                "env.cameras": ["front"],
                "env.randomize": True,
                "shaping.prm_episodes": 3,
                "shaping.prm_steps": 2,
            },
        )
    )
    run = RunPaths.of(summary["run"])
    recorded = list(EpisodeStore(run.root / "prm_episodes"))
    assert len(recorded) == 3
    assert all(ep.metadata["randomize"] is True for ep in recorded)
    assert all(ep.metadata["backend"] == "mujoco" for ep in recorded)


def test_resume_of_something_that_is_not_a_run(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "has no config.json" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_every_round_logs_the_exploitation_diagnostic_and_the_summary_counts_answers(tiny):
    summary = train(tiny(**{"pebble.conservative_k": 0.5}))
    run = RunPaths.of(summary["run"])
    rows = _metrics(run)
    corr = [float(r["reward/true_corr"]) for r in rows if r["reward/true_corr"] not in ("", "nan")]
    spread = [float(r["reward/spread"]) for r in rows if r["reward/spread"] not in ("", "nan")]
    assert spread and all(s >= 0 for s in spread)
    assert all(-1 <= c <= 1 for c in corr)
    full = json.loads(run.summary.read_text())
    assert sum(full["labels_by_answer"].values()) == full["queries"] >= summary["labels_used"]
    assert set(full["diagnostic"]) == {"true_corr", "spread", "learned_return", "true_return"}
    assert full["warnings"] == []
    assert full["conservative_k"] == 0.5  # the value the run trained with


def test_the_summary_records_the_resolved_conservative_k(tiny):
    # The tiny runs' reward is "pref" alone, where the None default resolves to 1.
    assert tiny().pebble.conservative_k is None
    full = json.loads(RunPaths.of(train(tiny(steps=120))["run"]).summary.read_text())
    assert full["conservative_k"] == 1.0


@pytest.mark.parametrize("answer", ["skip", "equal"])
def test_a_teacher_that_never_prefers_leaves_training_going(tiny, answer):
    summary = train(tiny(**{"teacher.name": answer, f"teacher.eps_{answer}": 1e9}))
    full = json.loads(RunPaths.of(summary["run"]).summary.read_text())
    assert summary["env_steps"] == 300
    assert full["labels_by_answer"] == {answer: full["queries"]} and full["queries"] > 0
    # "skip" teaches nothing and spends no budget; "equal" is a label (0.5 each way).
    assert summary["labels_used"] == (0 if answer == "skip" else full["queries"])


def test_the_warning_fires_when_learned_return_rises_and_true_return_falls(tiny, capsys):
    from robopref.rl.pebble import LoopState, PebbleCallback

    callback = PebbleCallback.__new__(PebbleCallback)
    callback.config = tiny(**{"pebble.exploit_rounds": 2})
    callback.state = LoopState()
    callback.labels_used = lambda: 10
    callback.num_timesteps = 1234

    class Model:  # the learned reward pays for time in the episode, whatever happens
        def reward(self, states, actions):
            return np.full(len(actions), self.per_step), np.full(len(actions), 0.1)

    from robopref.data import Episode

    def episode(true):
        return Episode(
            state=np.zeros((6, 3), np.float32),
            action=np.zeros((5, 2), np.float32),
            reward=np.array([true, 0, 0, 0, 0], np.float32),
            success=np.zeros(5, bool),
            timestamp=np.arange(6, dtype=np.float64),
            metadata={
                "task": "panda-reach",
                "source": "policy",
                "backend": "mujoco",
                "seed": 0,
                "robot": "franka_panda",
                "control_hz": 20.0,
            },
        )

    callback.pref_model = Model()
    for learned, true in [(1.0, 5.0), (2.0, 4.0), (3.0, 3.0), (4.0, 2.0)]:
        callback.pref_model.per_step = learned
        callback.pool = [episode(true), episode(true + 1)]
        now = callback.diagnose()
        assert now["true_corr"] != now["true_corr"]  # NaN: every learned return is equal
    assert (
        len(callback.state.warnings) == 1
        and "rose while the true return fell" in (callback.state.warnings[0])
    )
    assert "env step 1234" in capsys.readouterr().err


def test_an_oracle_on_dm_control_judges_by_the_task_reward(tiny):
    # dm_control's progress is the step's own reward, not a potential: a teacher judging by
    # its gain labelled walker-walk at chance. Every oracle label must match the true return.
    from robopref.data import EpisodeStore
    from robopref.preferences import LabelStore
    from robopref.preferences.teachers import segment_rewards

    summary = train(
        tiny(
            task="dmc:walker-walk",
            labels=30,
            **{"env.max_steps": 60, "pebble.query_every": 60, "pebble.labels_per_round": 10},
        )
    )
    run = RunPaths.of(summary["run"])
    store = EpisodeStore(run.episodes)
    labels = [lab for lab in LabelStore(run.labels).labels() if lab.label in ("a", "b")]
    assert len(labels) >= 10

    def true(ref):
        return segment_rewards(store.load(ref.episode_id), ref.start, ref.length).sum()

    agree = [(lab.label == "a") == (true(lab.seg_a) > true(lab.seg_b)) for lab in labels]
    assert all(agree), f"{sum(agree)} of {len(agree)} labels agree with the true return"


def test_teacher_signal_auto_is_progress_only_where_progress_is_a_potential():
    from robopref.data import Episode
    from robopref.rl.pebble import teacher_signal

    def episode(task, progress):
        return Episode(
            state=np.zeros((3, 2), np.float32),
            action=np.zeros((2, 1), np.float32),
            reward=np.zeros(2, np.float32),
            success=np.zeros(2, bool),
            timestamp=np.arange(3, dtype=np.float64),
            progress=None if progress is None else np.zeros(3, np.float32),
            metadata={
                "task": task,
                "source": "policy",
                "backend": "mujoco",
                "seed": 0,
                "robot": "r",
                "control_hz": 20.0,
            },
        )

    assert teacher_signal("auto", episode("panda-lift", True)) == "progress"
    assert teacher_signal("auto", episode("dmc:walker-walk", True)) == "reward"
    assert teacher_signal("auto", episode("panda-lift", None)) == "reward"
    assert teacher_signal("progress", episode("dmc:walker-walk", True)) == "progress"


def test_surf_and_qpa_options_reach_the_refits_and_the_replay(tiny, monkeypatch):
    from robopref.rewards.preference import PreferenceRewardModel
    from robopref.rl.buffer import RelabelingReplayBuffer

    fits, draws = [], []
    real_train, real_sample = PreferenceRewardModel.train, RelabelingReplayBuffer.sample

    def train_spy(self, batch, *args, **kwargs):
        u = kwargs.get("unlabeled")
        fits.append((len(batch.label), 0 if u is None else len(u.label), kwargs.get("crop")))
        return real_train(self, batch, *args, **kwargs)

    def sample_spy(self, batch_size, env=None):
        draws.append(self.recent_fraction)
        return real_sample(self, batch_size, env)

    monkeypatch.setattr(PreferenceRewardModel, "train", train_spy)
    monkeypatch.setattr(RelabelingReplayBuffer, "sample", sample_spy)
    summary = train(
        tiny(**{"pebble.pseudo_ratio": 3, "pebble.crop": 2, "learner.recent_fraction": 0.5})
    )
    assert summary["env_steps"] == 300 and len(fits) >= 2
    # Three unlabelled pairs per query asked, kept across rounds; crops in every refit.
    assert all(u == 3 * n for n, u, _ in fits) and fits[-1][1] > fits[0][1]
    assert {c for _, _, c in fits} == {2}
    assert draws and set(draws) == {0.5}


def test_each_episodes_reward_terms_include_its_last_step(tiny):
    # dm_control's task reward is dense, so an episode's summed task term is its true return
    # only if the step that ends it is counted in it (the env records the episode inside that
    # step, before the callback sums the step's terms).
    summary = train(
        tiny(task="dmc:walker-walk", reward="sparse", **{"env.max_steps": 40}, eval_episodes=0)
    )
    with open(Path(summary["run"]) / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if float(r["episodes"]) > 0]
    assert rows
    for r in rows:
        assert float(r["reward/task"]) == pytest.approx(float(r["true_return"]), rel=1e-5)
        assert float(r["reward/total"]) == pytest.approx(float(r["true_return"]), rel=1e-5)


def test_progress_shaping_pays_the_demos_and_the_online_steps_alike(tiny):
    from robopref.rewards.shaping import InfoPotential
    from robopref.rl.demos import episode_shaping

    summary = train(
        tiny(
            task="panda-push",
            reward="sparse+progress",
            demos="2",
            steps=200,
            **{"learner.algo": "rlpd"},
        )
    )
    rows = list(csv.DictReader(open(Path(summary["run"]) / "metrics.csv", newline="")))
    assert any(float(r["reward/shaping"]) != 0 for r in rows)
    assert "reward/potential_return" in rows[0]  # the potential's own return is logged
    # a demonstration's shaping is its recorded progress, differenced
    import sim
    from robopref.rollout import record_episode

    env = sim.make("panda-push", cameras=())
    ep = record_episode(
        env, sim.expert("panda-push"), seed=0, task="panda-push", source="expert",
        backend="mujoco", robot="franka_panda", control_hz=10.0,
    )  # fmt: skip
    want = 0.99 * ep.progress[1:] - ep.progress[:-1]
    if ep.terminated:
        want[-1] = -ep.progress[-2]
    np.testing.assert_allclose(episode_shaping(ep, InfoPotential(), 0.99, 1.0), want, atol=1e-6)


def test_a_stochastic_sac_policy_is_seeded_per_episode(tiny):
    summary = train(tiny(steps=100, checkpoint_every=100, reward="sparse"))
    sampled = load_run_policy(summary["run"], deterministic=False)
    obs = {"state": np.random.default_rng(1).normal(size=40).astype(np.float32)}
    sampled.reseed(3)
    a = [sampled(obs) for _ in range(3)]
    sampled.reseed(3)
    np.testing.assert_array_equal(np.array(a), np.array([sampled(obs) for _ in range(3)]))
    assert not np.allclose(a[0], a[1])
    assert not np.allclose(a[0], load_run_policy(summary["run"])(obs))
