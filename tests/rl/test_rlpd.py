"""The rlpd learner: demonstrations in the buffer, the critic subset, observation statistics
that travel with the policy, save/load/resume, and the errors of bad demonstrations."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from robopref.cli import main
from robopref.data import EpisodeStore
from robopref.rl.config import ConfigError, load_config
from robopref.rl.demos import DemoError, load_demo_dir, record_expert_demos
from robopref.rl.policy import load_run_policy
from robopref.rl.train import train
from robopref.runs import RunPaths

pytestmark = pytest.mark.slow

RLPD = {
    "learner.algo": "rlpd",
    "learner.critics": 3,
    "learner.critic_subset": 2,
    "learner.normalize_obs": True,
}


def _buffer_of(run: RunPaths):
    with open(run.latest_checkpoint() / "replay_buffer.pkl", "rb") as f:
        return pickle.load(f)


def test_an_rlpd_run_with_demos_saves_loads_and_resumes(tiny):
    config = tiny(**RLPD, demos="3", steps=200, reward="sparse+pref")
    summary = train(config)
    run = RunPaths.of(summary["run"])
    assert summary["env_steps"] == 200
    buffer = _buffer_of(run)
    demos = buffer.demos
    assert demos is not None and buffer.demo_fraction == 0.5
    assert 3 <= demos.size() <= 3 * 50  # three reach episodes, each at most the time limit
    assert demos.rewards[: demos.size(), 0].sum() >= 1  # the expert's successes are there
    policy = load_run_policy(run.root)
    model = policy.model
    assert type(model).__name__ == "RLPD" and type(model).critic_subset == 2
    assert model.policy.n_critics == 3
    rms = model.policy.obs_rms
    assert rms is not None and rms.count > 200  # online steps and demonstrations
    obs = {"state": np.zeros(40, np.float32)}
    action = policy(obs)
    assert action.shape == (4,) and np.all(np.abs(action) <= 1)
    # The statistics are part of the policy: other statistics, another action.
    rms.mean = rms.mean + 5.0
    assert not np.allclose(policy(obs), action)
    resumed = train(resume=str(run.root), overrides={"steps": 300})
    assert resumed["env_steps"] == 300
    assert _buffer_of(run).demos.size() == demos.size()  # not added twice


def test_the_numpy_actor_acts_as_the_jitted_one_and_is_not_saved(tiny, tmp_path):
    import jax

    from robopref.rl.env import make_task_env
    from robopref.rl.rlpd import actor_arrays, numpy_action
    from robopref.rl.train import make_learner

    config = tiny(**RLPD, steps=200, reward="sparse")
    env = make_task_env(config, cameras=())
    model = make_learner(config, env, env.observation_space["state"].shape[0], None)
    policy = model.policy
    assert policy.numpy_actor
    obs = np.random.default_rng(0).normal(size=(64, model._flat_dim())).astype(np.float32)
    layers = actor_arrays(policy.actor_state)
    jitted = np.asarray(policy.select_action(policy.actor_state, obs))
    np.testing.assert_allclose(numpy_action(layers, obs, None), jitted, atol=1e-5)
    # Samples: the same squashed Gaussian. With the noise the jitted actor drew, the same
    # action; in distribution, the mean of many draws near the mode for a narrow policy.
    dist = policy.actor_state.apply_fn(policy.actor_state.params, obs)
    key = jax.random.PRNGKey(1)
    sampled = np.asarray(dist.sample(seed=key))
    noise = np.asarray(dist.distribution.sample(seed=key))  # before tanh
    mean, std = np.asarray(dist.distribution.mean()), np.asarray(dist.distribution.stddev())
    drawn = _NoiseFrom((noise - mean) / std)
    np.testing.assert_allclose(numpy_action(layers, obs, drawn), sampled, atol=1e-4)
    actions = numpy_action(layers, obs, np.random.default_rng(2))
    assert actions.shape == jitted.shape and np.all(np.abs(actions) <= 1)
    assert not np.allclose(actions, jitted)
    # During learning the acting actor lives on the policy; a save made then must not keep
    # it, or a loaded policy would act with a stale actor.
    policy.acting_layers, policy.acting_rng = layers, np.random.default_rng(0)
    model.save(tmp_path / "model.zip")
    loaded = type(model).load(tmp_path / "model.zip")
    assert loaded.policy.acting_layers is None and loaded.policy.acting_rng is None
    assert loaded.policy.numpy_actor  # a resumed run acts in NumPy too
    assert policy.acting_layers is layers  # the live policy keeps acting


def test_behaviour_cloning_pulls_the_actor_to_the_demonstrated_actions(tiny):
    import jax.numpy as jnp

    from robopref.rl.env import make_task_env
    from robopref.rl.train import make_learner

    config = tiny(**RLPD, steps=200, reward="sparse", demos="3")
    env = make_task_env(config, cameras=())
    model = make_learner(config, env, env.observation_space["state"].shape[0], None)
    policy = model.policy
    rng = np.random.default_rng(0)
    obs = jnp.asarray(rng.normal(size=(64, model._flat_dim())).astype(np.float32))
    demo_action = np.array([0.6, -0.4, 0.2, 0.8], np.float32)
    actions = jnp.asarray(np.tile(demo_action, (64, 1)))
    demo_rows = jnp.arange(64) >= 32  # the second half of the minibatch: demonstrations

    def error_after(bc_weight):
        actor, key = policy.actor_state, model.key
        for _ in range(300):
            actor, _, _, key, _ = type(model).update_actor(
                actor,
                policy.qf_state,
                model.ent_coef_state,
                obs,
                key,
                actions,
                demo_rows,
                bc_weight,
            )
        mode = np.asarray(policy.select_action(actor, obs))
        return float(np.abs(mode[32:] - demo_action).mean())

    cloned, plain = error_after(5.0), error_after(0.0)
    assert cloned < 0.5 * plain, (cloned, plain)


def test_behaviour_cloning_needs_rlpd_and_demonstrations():
    with pytest.raises(ConfigError, match="learner.bc_weight: must be >= 0"):
        load_config(overrides={"learner.algo": "rlpd", "demos": "5", "learner.bc_weight": -1})
    with pytest.raises(ConfigError, match="learner.bc_weight: behaviour cloning needs"):
        load_config(overrides={"learner.algo": "sac", "demos": "5", "learner.bc_weight": 1})
    with pytest.raises(ConfigError, match="learner.bc_weight: behaviour cloning needs"):
        load_config(overrides={"learner.algo": "rlpd", "learner.bc_weight": 1})


def test_a_policy_delay_steps_the_actor_once_per_delay_and_the_critics_every_time(tiny):
    """SERL's critic_actor_ratio: 4 gradient steps per env step, the actor in one of them."""
    from robopref.rl.env import make_task_env
    from robopref.rl.train import make_learner

    config = tiny(
        **RLPD,
        steps=200,
        reward="sparse",
        **{"learner.gradient_steps": 4, "learner.policy_delay": 4},
    )
    env = make_task_env(config, cameras=())
    model = make_learner(config, env, env.observation_space["state"].shape[0], None)
    assert model.policy_delay == 4
    model.learn(total_timesteps=config.learner.learning_starts + 3)
    critic_steps = int(model.policy.qf_state.step)
    actor_steps = int(model.policy.actor_state.step)
    assert critic_steps == 4 * actor_steps and actor_steps >= 3
    with pytest.raises(ConfigError, match="learner.policy_delay: delayed actor updates"):
        load_config(overrides={"learner.algo": "sac", "learner.policy_delay": 2})
    with pytest.raises(ConfigError, match="learner.policy_delay"):
        load_config(overrides={"learner.algo": "rlpd", "learner.policy_delay": 0})


class _NoiseFrom:
    """A generator stand-in returning fixed standard-normal draws."""

    def __init__(self, values):
        self.values = values

    def standard_normal(self, shape):
        assert shape == self.values.shape
        return self.values


def test_an_ensemble_too_small_for_its_subset_and_a_utd_below_one_name_the_key():
    with pytest.raises(ConfigError, match="learner.critic_subset"):
        load_config(overrides={"learner.critics": 1, "learner.critic_subset": 2})
    with pytest.raises(ConfigError, match="learner.gradient_steps: must be >= 1"):
        load_config(overrides={"learner.gradient_steps": 0})
    with pytest.raises(ConfigError, match="learner.demo_fraction"):
        load_config(overrides={"learner.demo_fraction": 1.0})
    with pytest.raises(ConfigError, match="demos: demonstrations go in a replay buffer"):
        load_config(overrides={"learner.algo": "ppo", "demos": "5"})
    with pytest.raises(ConfigError, match="learner.policy_input: rlpd"):
        load_config(overrides={"learner.algo": "rlpd", "learner.policy_input": "pixels"})
    from robopref.rl.rlpd import RLPD as Learner

    with pytest.raises(ValueError, match="critic_subset must be within 1..n_critics"):
        Learner("MlpPolicy", "Pendulum-v1", critic_subset=3)


def test_noisy_demonstrations_record_the_executed_actions_and_repeat_per_seed(tiny):
    clean = record_expert_demos(tiny(demos="2"), 2, cameras=())
    noisy = record_expert_demos(tiny(demos="2", demo_noise=0.3), 2, cameras=())
    again = record_expert_demos(tiny(demos="2", demo_noise=0.3), 2, cameras=())
    other_seed = record_expert_demos(tiny(demos="2", demo_noise=0.3, seed=1), 2, cameras=())
    # The same start states (the seeds of the demonstrations do not change), other actions.
    np.testing.assert_array_equal(clean[0].state[0], noisy[0].state[0])
    n = min(len(clean[0].action), len(noisy[0].action))
    assert np.abs(noisy[0].action[:n] - clean[0].action[:n]).max() > 0.1
    assert np.all(np.abs(noisy[0].action) <= 1)  # what the env executed, clipped
    np.testing.assert_array_equal(noisy[1].action, again[1].action)
    assert not np.array_equal(other_seed[0].action[:5], noisy[0].action[:5])
    # The env replays the stored actions to the stored states: they are the executed ones.
    from robopref.rl.env import make_task_env

    env = make_task_env(tiny(), cameras=())
    env.reset(seed=int(noisy[0].metadata["seed"]))
    for action in noisy[0].action[:10]:
        obs, *_ = env.step(action)
    np.testing.assert_allclose(obs["state"], noisy[0].state[10], atol=1e-5)


def test_demo_noise_is_checked_before_anything_runs():
    with pytest.raises(ConfigError, match="demo_noise: must be in"):
        load_config(overrides={"demos": "5", "demo_noise": -0.1})
    with pytest.raises(ConfigError, match="demo_noise: must be in"):
        load_config(overrides={"demos": "5", "demo_noise": 1.5})
    with pytest.raises(ConfigError, match="demos 'eps/' are not recorded here"):
        load_config(overrides={"demos": "eps/", "demo_noise": 0.2})
    with pytest.raises(ConfigError, match="demos None are not recorded here"):
        load_config(overrides={"demo_noise": 0.2})


@pytest.fixture
def demo_dir(tmp_path, tiny):
    """Two scripted reach episodes stored in the shared format."""
    store = EpisodeStore(tmp_path / "demos")
    for ep in record_expert_demos(tiny(), 2, cameras=()):
        store.save(ep)
    return store


def test_a_directory_of_recorded_episodes_is_read_and_checked(demo_dir):
    episodes = load_demo_dir(demo_dir.root, "panda-reach", 40, 4, ())
    assert len(episodes) == 2 and all(ep.is_success for ep in episodes)
    with pytest.raises(DemoError, match="task 'panda-reach', the run trains 'panda-push'"):
        load_demo_dir(demo_dir.root, "panda-push", 40, 4, ())
    with pytest.raises(DemoError, match="state size 40, the run's is 18"):
        load_demo_dir(demo_dir.root, "panda-reach", 18, 4, ())
    with pytest.raises(DemoError, match="action size 4, the run's is 6"):
        load_demo_dir(demo_dir.root, "panda-reach", 40, 6, ())
    with pytest.raises(DemoError, match=r"no frames of camera\(s\) \['front'\]"):
        load_demo_dir(demo_dir.root, "panda-reach", 40, 4, ("front",))


@pytest.mark.parametrize("problem", ["empty", "missing", "corrupt"])
def test_bad_demonstrations_stop_the_run_before_training_and_leave_no_run(
    problem, demo_dir, tmp_path, tiny_overrides, capsys
):
    directory, bad = demo_dir.root, demo_dir.paths()[0]
    if problem == "empty":
        directory = tmp_path / "nothing"
        directory.mkdir()
    elif problem == "missing":
        directory = tmp_path / "nowhere"
    else:
        bad.write_bytes(bad.read_bytes()[:100])  # truncated mid-write by something else
    run_dir = tmp_path / "run"
    flags = [f"--set={k}={json.dumps(v)}" for k, v in tiny_overrides.items()]
    argv = ["train", "--algo", "rlpd", "--demos", str(directory), "--run-dir", str(run_dir)]
    assert main([*argv, *flags]) == 2
    err = capsys.readouterr().err
    expected = {
        "empty": "no episode files",
        "missing": "no such directory",
        "corrupt": f"corrupt demonstration: {bad}",
    }[problem]
    assert expected in err
    assert not (run_dir / "config.json").exists()  # the same command runs once fixed
    assert not list(run_dir.glob("checkpoints/*"))


def test_eval_in_the_other_simulator(tiny, capsys):
    summary = train(tiny(reward="sparse", steps=100, checkpoint_every=100))
    run = summary["run"]
    assert main(["eval", run, "--backend", "bullet", "--episodes", "1", "--no-video"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["backend"] == "bullet" and out["episodes"] == 1
    assert json.loads((RunPaths.of(run).root / "eval-bullet.json").read_text()) == out
    assert main(["eval", run, "--backend", "gazebo", "--episodes", "1", "--no-video"]) == 2
    assert "env.backend: 'gazebo' is not one of" in capsys.readouterr().err


def test_stochastic_eval_samples_reproducibly_and_keeps_its_own_file(tiny, capsys):
    summary = train(tiny(**RLPD, reward="sparse", steps=150, checkpoint_every=150))
    run = RunPaths.of(summary["run"])
    deterministic = json.loads(run.eval.read_text()) if run.eval.exists() else None
    args = ["eval", str(run.root), "--episodes", "2", "--no-video", "--stochastic"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["deterministic"] is False and first["episodes"] == 2
    assert json.loads((run.root / "eval-stochastic.json").read_text()) == first
    # The deterministic evaluation's file is another one, left as it was.
    assert (json.loads(run.eval.read_text()) if run.eval.exists() else None) == deterministic
    assert main(args) == 0  # the noise is seeded per episode: the same figures again
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == first

    sampled = load_run_policy(run.root, deterministic=False)
    mode = load_run_policy(run.root)
    obs = {"state": np.random.default_rng(0).normal(size=40).astype(np.float32)}
    sampled.reseed(7)
    a = [sampled(obs) for _ in range(3)]
    sampled.reseed(7)
    b = [sampled(obs) for _ in range(3)]
    np.testing.assert_array_equal(np.array(a), np.array(b))  # same seed, same draws
    assert not np.allclose(a[0], a[1])  # fresh noise each step
    assert not np.allclose(a[0], mode(obs))  # a sample, not the mode
    mode.reseed(7)  # nothing to seed: the mode is the mode
    np.testing.assert_array_equal(mode(obs), load_run_policy(run.root)(obs))
