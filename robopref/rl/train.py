"""``robopref train``: set up a run (or resume one), learn, evaluate, plot, summarize.

Everything a run needs is built from its `TrainConfig` and kept in its run directory
(`robopref.runs`), so ``--resume RUN`` rebuilds the same objects and loads the newest intact
checkpoint into them: SB3 model (policy, critics, optimizers, step counter), replay buffer
(with the terms relabelling needs), preference model, loop counters and RNG states, the
episode pool; the label store is the run's SQLite file and survives on its own.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import gymnasium
import torch

from robopref.data import EpisodeStore
from robopref.data.storage import atomic_path
from robopref.preferences import LabelStore
from robopref.rl.checkpoint import resumable_checkpoint, write_checkpoint
from robopref.rl.config import TrainConfig, conservative_k, from_dict, merge
from robopref.rl.env import NonFiniteTermError, StepReward, make_train_env
from robopref.rl.interventions import ScriptedIntervention
from robopref.rl.pebble import LoopState, PebbleCallback, trim_metrics
from robopref.rl.policy import _algo_class
from robopref.rl.potential_metrics import PotentialMetricsCallback
from robopref.runs import RunPaths

if TYPE_CHECKING:
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

W = TypeVar("W", bound=gymnasium.Wrapper)


class TrainingStopped(RuntimeError):
    """Training stopped on a bad reward; the message names the term, the step and the last
    good checkpoint, which stays loadable."""


def default_run_dir(config: TrainConfig) -> str:
    name = f"{config.task}-{config.reward}-s{config.seed}".replace(":", "_").replace("+", "_")
    return str(Path("runs") / name)


def finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------------- reward models
def build_potential(config: TrainConfig, run: RunPaths, log=print):
    """The shaping potential of the run (PRM, VLM or their sum, or the env's privileged
    progress), or None."""
    terms = config.terms
    if "progress" in terms:  # the env reports it (config checks it comes alone)
        from robopref.rewards.shaping import InfoPotential

        return InfoPotential("progress")
    potentials = []
    if "prm" in terms:
        potentials.append(load_or_train_prm(config, run, log))
    if "vlm" in terms:
        potentials.append(load_vlm(config))
    if not potentials:
        return None
    if len(potentials) == 1:
        return potentials[0]

    def summed(obs) -> float:
        return float(sum(p(obs) for p in potentials))

    cast(Any, summed).name = "+".join(getattr(p, "name", "potential") for p in potentials)
    return summed


def load_or_train_prm(config: TrainConfig, run: RunPaths, log=print):
    """``shaping.prm``, else the run's own PRM, else a quick one trained now (and saved)."""
    from robopref.rewards.prm import PRMConfig, ProcessRewardModel

    own = run.reward / "prm.pt"
    if config.shaping.prm:
        model = ProcessRewardModel.load(config.shaping.prm)
        if model.tasks:  # a multi-task PRM scores this run's task (an error if it lacks it)
            model.for_task(config.task)
    elif own.exists():
        model = ProcessRewardModel.load(own)
    else:
        import sim
        from robopref.rewards.prm_train import frame_set, train_prm
        from robopref.rollout import record_default_episodes

        if config.task.startswith(sim.DMC_PREFIX):
            raise ValueError(
                f"no scripted expert for {config.task} to train a PRM from: pass --prm FILE"
            )
        n = config.shaping.prm_episodes
        log(f"training a quick PRM for {config.task} from {n} scripted episodes")
        episodes = record_default_episodes(
            config.task,
            str(run.root / "prm_episodes"),
            seed=1_000_000 + config.seed,  # apart from training seeds
            counts=(n // 3, n - 2 * (n // 3), n // 3),
            cameras=config.env.cameras,
            image_size=config.env.image_size,
            # The frames the PRM will score: a PRM trained on plain MuJoCo renders ranks
            # randomized ones far worse (README, "Robustness to randomized scenes").
            backend=config.env.backend,
            randomize=config.env.randomize,
        )
        prm_config = PRMConfig(
            views=config.env.cameras,
            image_size=config.env.image_size,
            steps=config.shaping.prm_steps,
            seed=config.seed,
        )
        model = ProcessRewardModel(prm_config, name="prm", task=config.task)
        train_prm(model, frame_set(model, episodes), progress_bar=False)
    model.save(own)
    return model


def load_vlm(config: TrainConfig):
    """The CLIP reward of VLM-RM from a local checkpoint; a clear error without one."""
    import sim

    path = config.shaping.vlm_checkpoint
    if not path:
        raise ValueError(
            "reward 'vlm' needs a local CLIP checkpoint: pass --vlm-checkpoint PATH (a "
            "directory saved by transformers' CLIPModel.save_pretrained with its processor); "
            "nothing is downloaded at run time"
        )
    if not Path(path).is_dir():
        raise FileNotFoundError(f"--vlm-checkpoint {path}: no such directory")
    from robopref.rewards.vlm import VLMReward

    description = (
        sim.PANDA_TASKS[config.task].description if config.task in sim.PANDA_TASKS else config.task
    )
    return VLMReward.load(
        path,
        goal_prompts=(description,),
        baseline_prompts=(config.shaping.vlm_baseline,),
        views=config.env.cameras,
    )


def make_pref_model(config: TrainConfig, state_dim: int, act_dim: int):
    if "pref" not in config.terms:
        return None
    from robopref.rewards.preference import PreferenceRewardModel

    # The run's seed seeds the model too (validate() keeps pebble.reward.seed at 0).
    model_config = replace(config.pebble.reward, seed=config.seed)
    return PreferenceRewardModel(state_dim, act_dim, model_config, name="pref")


# ---------------------------------------------------------------------- learner
def make_learner(config: TrainConfig, env, state_dim: int, run: RunPaths):
    from robopref.rl.buffer import RelabelingReplayBuffer

    lc = config.learner
    common: dict[str, Any] = {
        "learning_rate": lc.learning_rate,
        "gamma": lc.gamma,
        "policy_kwargs": {"net_arch": list(lc.net_arch)},
        "seed": config.seed,
        "device": "cpu",
        "verbose": 0,
    }
    if lc.algo in ("sac", "rlpd"):
        off_policy: dict[str, Any] = {
            "batch_size": lc.batch_size,
            # Hindsight copies (learner.her_k) take room beside the env's own transitions.
            "buffer_size": min(lc.buffer_size, config.steps * (1 + lc.her_k)),
            "learning_starts": lc.learning_starts,
            "tau": lc.tau,
            "train_freq": lc.train_freq,
            "gradient_steps": lc.gradient_steps,
            "ent_coef": lc.ent_coef,
            "replay_buffer_class": RelabelingReplayBuffer,
            "replay_buffer_kwargs": {
                "state_dim": state_dim,
                "n_steps": lc.n_step,
                "gamma": lc.gamma,
            },
        }
        if lc.algo == "rlpd":
            off_policy["critic_subset"] = lc.critic_subset
            off_policy["normalize_obs"] = lc.normalize_obs
            off_policy["bc_weight"] = lc.bc_weight
            off_policy["policy_delay"] = lc.policy_delay
            common["policy_kwargs"].update(n_critics=lc.critics, layer_norm=lc.layer_norm)
        return _algo_class(lc.algo)("MultiInputPolicy", env, **off_policy, **common)
    if config.pebble.unsup_steps:
        raise ValueError("pebble.unsup_steps needs an off-policy learner (sac), not ppo")
    return _algo_class("ppo")(
        "MultiInputPolicy",
        env,
        n_steps=lc.n_steps,
        batch_size=min(lc.batch_size, lc.n_steps),
        n_epochs=lc.n_epochs,
        **common,
    )


def _wrapper_of(env, cls: type[W]) -> W | None:
    """The ``cls`` wrapper in ``env``'s stack, or None."""
    while True:
        if isinstance(env, cls):
            return env
        if not isinstance(env, gymnasium.Wrapper):
            return None
        env = env.env


def _state_dim(env) -> int:
    return int(env.unwrapped.observation_space["state"].shape[0])


def read_demos(config: TrainConfig) -> list:
    """The run's demonstrations, checked against its env (state and action sizes, task)
    before anything else is built, so bad demonstrations cost no PRM training."""
    from robopref.rl.demos import load_demos
    from robopref.rl.env import make_task_env

    if not config.demos:
        return []
    probe = make_task_env(config, cameras=())
    try:
        state_dim, act_dim = _state_dim(probe), int(probe.action_space.shape[0])
    finally:
        probe.close()
    cameras = config.env.cameras if {"prm", "vlm"} & set(config.terms) else ()
    return load_demos(config, state_dim, act_dim, cameras)


def add_demos(config: TrainConfig, model, composite, potential, episodes, log=print) -> int:
    """Puts ``episodes`` into the learner's replay buffer, sampled apart; transitions."""
    from robopref.rl.demos import demo_buffer

    if not episodes:
        return 0
    demos = demo_buffer(model, episodes, potential, config, composite.task_weight)
    model.replay_buffer.attach_demos(demos, config.learner.demo_fraction)
    if hasattr(model, "observe"):  # rlpd: the demonstrations seed the observation statistics
        model.observe({"state": demos.observations["state"][: demos.size(), 0]})
    successes = sum(ep.is_success for ep in episodes)
    log(
        f"{len(episodes)} demonstrations ({demos.size()} transitions, {successes} successful) "
        f"make {config.learner.demo_fraction:.0%} of every minibatch"
    )
    return demos.size()


# ---------------------------------------------------------------------- checkpoints
def _rng_state(callback: PebbleCallback) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": {k: g.bit_generator.state for k, g in callback.rngs.items()},
    }


def save_checkpoint(callback: PebbleCallback) -> Path:
    """Writes the loop, learner and reward state of ``callback`` as a checkpoint."""
    model, config = callback.model, callback.config
    steps = callback.num_timesteps

    def fill(tmp: Path) -> None:
        model.save(tmp / "model.zip")
        if hasattr(model, "replay_buffer") and model.replay_buffer is not None:
            cast("OffPolicyAlgorithm", model).save_replay_buffer(tmp / "replay_buffer.pkl")
        if callback.pref_model is not None and callback.state.refits:
            callback.pref_model.save(tmp / "reward" / "pref.pt")
        pool = EpisodeStore(tmp / "pool")
        for ep in callback.pool:
            pool.save(ep)
        state = asdict(callback.state)
        state.update(
            wall_s=callback.metrics_row()["wall_s"],
            env_steps=steps,
            episodes=callback.composite.episodes,
            recent=list(callback.recent),
            pool_order=[ep.episode_id for ep in callback.pool],
        )
        (tmp / "state.json").write_text(json.dumps(state, indent=1) + "\n")
        with open(tmp / "rng.pkl", "wb") as f:
            pickle.dump(_rng_state(callback), f)

    return write_checkpoint(callback.run, steps, fill, keep=config.keep_checkpoints)


def load_checkpoint_into(ckpt: Path, callback: PebbleCallback) -> int:
    """Restores what `save_checkpoint` wrote (not the SB3 model: loaded before); env steps."""
    state = json.loads((ckpt / "state.json").read_text())
    steps = int(state.pop("env_steps"))
    callback.composite.episodes = int(state.pop("episodes"))
    callback.composite.env_steps = steps
    callback.recent.extend(state.pop("recent"))
    order = state.pop("pool_order")
    pool = EpisodeStore(ckpt / "pool")
    callback.pool.extend(pool.load(i) for i in order)
    callback.state = LoopState(**state)
    if callback.pref_model is not None and (ckpt / "reward" / "pref.pt").exists():
        from robopref.rewards.preference import PreferenceRewardModel

        callback.pref_model = PreferenceRewardModel.load(ckpt / "reward" / "pref.pt")
        callback.step_reward.update(callback.pref_model)
    with open(ckpt / "rng.pkl", "rb") as f:
        rng = pickle.load(f)
    torch.set_rng_state(rng["torch"])
    for k, s in rng["numpy"].items():
        callback.rngs[k].bit_generator.state = s
    return steps


# ---------------------------------------------------------------------- train
def prepare_run(
    config: TrainConfig | None, resume: str | None, overrides: dict[str, Any] | None = None
) -> tuple[TrainConfig, RunPaths, bool]:
    """The config and run directory of a new run, or of the run ``resume`` (with
    ``overrides``, e.g. more ``steps``)."""
    import sim

    if resume:
        run = RunPaths.of(resume)
        data = run.read_config()
        config = from_dict(merge(data, overrides or {}))
        if not run.task_file.exists():  # a run from before task.json
            run.write_task(config.task, sim.describe_task(config.task))
        return config, run, True
    assert config is not None
    run = RunPaths.of(config.run_dir or default_run_dir(config))
    if run.config.exists():
        raise ValueError(
            f"run directory {run.root} already holds a run: resume it with --resume "
            f"{run.root}, or pick another --run-dir"
        )
    config = from_dict(merge(config.to_dict(), {"run_dir": str(run.root)}))
    run.create()
    write_json(run.config, config.to_dict())
    run.write_task(config.task, sim.describe_task(config.task))
    return config, run, False


def train(
    config: TrainConfig | None = None,
    resume: str | None = None,
    overrides: dict[str, Any] | None = None,
    log=None,
) -> dict[str, Any]:
    """Runs (or resumes) a training run; returns the summary ``robopref train`` prints.

    Raises:
        TrainingStopped: a reward term became NaN or inf (the last good checkpoint stays).
        ConfigError, ValueError: bad config or input, before anything trains.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    config, run, resuming = prepare_run(config, resume, overrides)
    torch.set_num_threads(config.learner.threads)
    ckpt = resumable_checkpoint(run) if resuming else None
    try:
        demos = read_demos(config) if ckpt is None else []  # a resumed buffer has them
        potential = build_potential(config, run, log)
        step_reward = StepReward(conservative_k(config))
        env, composite = make_train_env(config, step_reward, potential, None, seed=config.seed)
        state_dim = _state_dim(env)
        act_dim = int(env.action_space.shape[0])
        pref_model = make_pref_model(config, state_dim, act_dim)
        if ckpt is not None:
            model = _algo_class(config.learner.algo).load(ckpt / "model.zip", env=env, device="cpu")
            if (ckpt / "replay_buffer.pkl").exists():
                model.load_replay_buffer(ckpt / "replay_buffer.pkl")
        else:
            if resuming:
                log(f"{run.root}: no checkpoint yet; starting the run from the beginning")
            model = make_learner(config, env, state_dim, run)
            add_demos(config, model, composite, potential, demos, log)
        if config.learner.recent_fraction and hasattr(model, "replay_buffer"):
            model.replay_buffer.recent(config.learner.recent_fraction, config.learner.recent_steps)
    except Exception:
        if not resuming:  # nothing trained: the same command can be run again once fixed
            run.config.unlink(missing_ok=True)
        raise
    store = LabelStore(run.labels)
    from stable_baselines3.common.logger import configure

    model.set_logger(configure(str(run.tensorboard), ["tensorboard"]))
    from tqdm import tqdm

    bar = tqdm(total=config.steps, desc=f"train {config.task}", disable=not config.progress_bar)
    # A run with a PRM/VLM potential also logs the potential's return per episode beside
    # true success (`robopref.rl.potential_metrics`, the reward-hacking report of issue 14).
    callback_class = PebbleCallback if potential is None else PotentialMetricsCallback
    callback = callback_class(
        config, run, composite, step_reward, pref_model, store, save_checkpoint, None, bar
    )
    done = 0
    if ckpt is not None:
        done = load_checkpoint_into(ckpt, callback)
    intervention = _wrapper_of(env, ScriptedIntervention)
    if intervention is not None:  # counted in the loop's checkpointed state
        intervention.counts = callback.state
        intervention.env_steps = done
    if ckpt is not None:
        trim_metrics(run, done)
        model.set_random_seed(config.seed + callback.composite.episodes)
        log(f"resumed {run.root} from {ckpt.name} at env step {done}")
        bar.update(done)
    learn_s = 0.0
    try:
        if config.steps > done:
            start = time.perf_counter()
            model.learn(
                total_timesteps=config.steps - done,
                callback=callback,
                reset_num_timesteps=ckpt is None,
                progress_bar=False,
            )
            learn_s = time.perf_counter() - start
    except NonFiniteTermError as e:
        last = run.latest_checkpoint()
        raise TrainingStopped(
            f"training stopped: {e}; the last good checkpoint is "
            f"{last if last is not None else '(none yet)'}, resume with --resume {run.root} "
            "after fixing the reward"
        ) from e
    finally:
        bar.close()
        env.close()
    # Always: a checkpoint the callback wrote at the last env step holds the model before
    # that step's update, and the run's policy (robopref eval, the bridge) must be the one
    # the summary below evaluates.
    save_checkpoint(callback)
    if callback.state.next_log - config.log_every != model.num_timesteps:
        callback.log_metrics()  # the last row, unless the loop just logged this step
    from robopref.rl.evaluate import evaluate_policy
    from robopref.rl.plots import plot_run
    from robopref.rl.policy import RunPolicy

    result = evaluate_policy(config, RunPolicy(model), config.eval_episodes)
    plot_run(run)
    summary = {
        "run": str(run.root),
        # JSON has no NaN: a task without a success signal (dm_control) reports null.
        "success_rate": finite_or_none(result["success_rate"]),
        "true_return": finite_or_none(result["true_return"]),
        "labels_used": callback.labels_used(),
        "env_steps": int(model.num_timesteps),
    }
    # The printed line keeps the documented keys; the file adds the loop's own speed (env
    # steps/s inside model.learn, checkpoints and refits included) for benchmarks.
    rate = (model.num_timesteps - done) / learn_s if learn_s else None
    by_label = store.counts().by_label
    write_json(
        run.summary,
        {
            **summary,
            "learn_steps_per_s": rate,
            # pebble.conservative_k resolved (its None default depends on the reward terms).
            "conservative_k": conservative_k(config),
            # How many answers could teach the reward: a teacher that skips everything
            # leaves training on the other terms, and this says so.
            "queries": callback.state.queries,
            "labels_by_answer": {k: int(v) for k, v in sorted(by_label.items()) if v},
            "diagnostic": {k: finite_or_none(v) for k, v in callback.state.diagnostic.items()},
            "warnings": list(callback.state.warnings),
            "intervention_steps": callback.state.intervention_steps,
            "intervention_takeovers": callback.state.intervention_takeovers,
        },
    )
    for warning in callback.state.warnings:
        log(f"robopref train: warning: {warning}")
    store.close()
    return summary


__all__ = ["TrainingStopped", "build_potential", "prepare_run", "train"]
