"""The training config: one typed tree, read from YAML/JSON and command-line flags.

`TrainConfig` is the single source of truth of a run: ``robopref train`` builds it from the
defaults here, then a ``--config`` file, then the flags, and writes the resolved tree to the
run's ``config.json``; ``--resume`` reads it back. Unknown keys and wrong types are errors
that name the dotted key (``learner.batch_size``), so a typo never silently keeps a default.

Names that a registry owns (tasks, backends, learners, selectors, teachers, teacher
signals, state modes) are checked against that registry when the config is parsed, so a
typo fails before any environment or model is built, and a name registered at run time
(`robopref.preferences.register_teacher`, ...) is accepted. "Unset" is ``None`` (``null`` in
``config.json``); the spellings before it (``-1.0``, ``""``) still load and read as ``None``.

Parsing is written here rather than with dacite or OmegaConf: both accept ``true`` for an
int field and neither names the full dotted path of an unknown nested key, which is the
error our users see most.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robopref.rewards.preference_config import PreferenceRewardConfig

REWARD_TERMS = ("sparse", "pref", "prm", "vlm", "progress")
#: Terms that are a shaping potential (one per run: shaping is linear in the potential).
POTENTIAL_TERMS = ("prm", "vlm", "progress")
TEACHERS_HUMAN = "human"
#: Issue 18's simulated crowd (`robopref.preferences.teachers.CROWD`): every query is
#: answered by each of its five teachers, as its own annotator.
TEACHERS_CROWD = "crowd"
#: The `TeacherConfig` fields that override a scripted teacher preset's B-Pref parameters.
TEACHER_OVERRIDES = ("beta", "gamma", "eps_mistake", "eps_skip", "eps_equal")
POLICY_INPUTS = ("state", "pixels")
REWARD_INPUTS = ("state", "state_action")
ANNOTATOR_MODELS = ("none", "calibrated", "calibrated-beta")
SHAPING_MODES = ("difference", "direct")


class ConfigError(ValueError):
    """A config key is unknown or has a wrong type or value; the message names the key."""


@dataclass(frozen=True)
class EnvConfig:
    """The environment the learner acts in (`sim.make` options)."""

    backend: str = "mujoco"
    """``mujoco`` or ``bullet`` (Panda tasks)."""
    cameras: tuple[str, ...] = ("front", "side", "wrist")
    """Views rendered when something needs frames (PRM, VLM, a human teacher, pixels)."""
    image_size: int = 84
    """Side of the square camera images, in pixels."""
    max_steps: int = 0
    """Episode time limit in control steps; 0 keeps the task's."""
    randomize: bool = False
    """Domain randomization of light, camera pose and field of view, colours and physics
    (`sim.randomization`), drawn anew each episode."""
    terminate_on_success: bool = False
    """Panda tasks: end a training episode when the task is solved. Off: a preference reward
    is learned up to a constant (Bradley-Terry compares equal-length segments), and with a
    positive constant (or SAC's entropy bonus) ending an episode early loses reward, so the
    learner avoided success (README, "Why SAC learned reach slowly"). Without termination
    the constant is the same for every policy, and success counts on any step."""
    state: str = "full"
    """Panda tasks: ``full`` (proprioception and object state) or ``proprio`` (what a real
    robot measures: a run trained so, on pixels, is one the hardware bridge can drive)."""


@dataclass(frozen=True)
class LearnerConfig:
    """The SB3 learner (SAC defaults follow SB3 and PEBBLE's DMC settings)."""

    algo: str = "sac"
    """``sac`` (SB3, torch), ``rlpd`` (the manipulation recipe of RLPD/SERL on SBX's jitted
    JAX SAC: LayerNorm critic ensemble, random target subset, demonstrations sampled
    symmetrically; `robopref.rl.rlpd`) or ``ppo``. The off-policy learners relabel."""
    policy_input: str = "state"
    """``state`` (the "state" vector) or ``pixels`` (the camera images, CNN encoder)."""
    learning_rate: float = 3e-4
    """Adam step size of the actor, the critics and the temperature."""
    gamma: float = 0.99
    """Discount; potential shaping uses the same value (policy invariance needs it)."""
    net_arch: tuple[int, ...] = (256, 256)
    """Hidden units of the actor's and each critic's layers."""
    batch_size: int = 256
    """Transitions per gradient step (demonstrations included)."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions."""
    learning_starts: int = 1000
    """Env steps of random actions before the first gradient step."""
    tau: float = 0.005
    """Polyak rate of the target critics."""
    train_freq: int = 1
    """Env steps between rounds of gradient steps."""
    gradient_steps: int = 1
    """Gradient steps per round: the update-to-data ratio is ``gradient_steps / train_freq``."""
    n_step: int = 1
    """sac, rlpd: the critics' target is the n-step return (the discounted sum of up to
    ``n_step`` rewards, then the bootstrap; SB3's ``NStepReplayBuffer``, DrQ-v2's 3). A
    value then travels ``n_step`` steps per update, and an expert's correction is credited
    by what it achieved over its steps, not only by what the policy does after one of them.
    Not with ``learner.her_k`` (hindsight copies sit between an episode's rows) or
    ``pebble.unsup_steps`` (that reward is computed per sampled row)."""
    policy_delay: int = 1
    """rlpd: the actor and the temperature step once per ``policy_delay`` critic steps
    (SERL's ``critic_actor_ratio``, 4-8 in its examples): a high update-to-data ratio for the
    critic at a fraction of the cost of as many full updates."""
    ent_coef: str = "auto_0.01"
    """SAC's entropy temperature: ``auto_<initial>`` tunes it, a number fixes it. SB3's
    initial 1.0 makes the entropy bonus (about 4 per step at first) dwarf task, preference
    and shaping rewards for thousands of steps (README ablation: 0 -> 0.9 success on reach
    at 3,000 steps with a dense reward)."""
    n_steps: int = 1024
    """PPO: steps per rollout."""
    n_epochs: int = 10
    """PPO: passes per rollout."""
    threads: int = 1
    """torch threads; 1 is fastest for these small networks on a shared CPU."""
    critics: int = 2
    """rlpd: critics in the ensemble (RLPD: 10)."""
    critic_subset: int = 2
    """rlpd: critics the TD target takes the minimum of, drawn anew per update (RLPD: 2)."""
    layer_norm: bool = True
    """rlpd: LayerNorm in the critics (RLPD, SERL)."""
    normalize_obs: bool = False
    """rlpd: normalize observations by their running mean and std (kept in the policy). Off:
    measured to slow reach down (README ablation), the state's units are chosen instead."""
    demo_fraction: float = 0.5
    """Share of every minibatch drawn from the demonstrations (RLPD's symmetric sampling)."""
    recent_fraction: float = 0.0
    """Share of every minibatch drawn from the last ``recent_steps`` transitions (QPA's
    hybrid experience replay: 0.5), so the critic keeps up with the current policy's states,
    where the preference queries come from; 0: uniform replay."""
    recent_steps: int = 10_000
    """Window of the recent draws (QPA: its query pool of 10 episodes of 1,000 steps)."""
    her_k: int = 0
    """Hindsight experience replay (`robopref.rl.her`): relabelled copies of each online
    transition with goals the episode reached later (HER's "future" strategy; the paper's
    k is 4); 0: none. Off-policy learners, goal-conditioned tasks (reach, push, pick-place)
    and the full state only."""
    bc_weight: float = 0.0
    """rlpd with demonstrations: weight of a behaviour-cloning term in the actor's loss on
    the demonstration rows of each minibatch (squared action error, scaled by the critics'
    mean |Q|, at least 1, as TD3+BC scales its Q term); 0: none, RLPD's plain actor."""


@dataclass(frozen=True)
class PebbleConfig:
    """The PEBBLE loop (Lee et al. 2021; B-Pref's ``train_PEBBLE.py``)."""

    unsup_steps: int = 0
    """Env steps of unsupervised pre-training by state entropy (PEBBLE: 9000); 0: none."""
    unsup_k: int = 5
    """k of the k-nearest-neighbour state-entropy estimate."""
    query_every: int = 5000
    """Env steps between rounds of queries and refits (B-Pref's ``num_interact``)."""
    first_query_at: int = 0
    """Env steps before the first round; 0: when learning starts (after pre-training)."""
    labels_per_round: int = 0
    """Labels asked per round (in queries of ``labels_per_query`` labels each); 0 spreads the
    label budget over the first half of training."""
    segment_length: int = 25
    """Steps per queried segment; episodes shorter than this are never queried."""
    selector: str = "disagreement"
    """``uniform``, ``disagreement`` or ``entropy``."""
    oversample: int = 10
    """Candidate pairs drawn per query kept (B-Pref's ``large_batch``)."""
    labels_per_query: int = 1
    """Labels asked per query (more than one: several annotators answer the same pair)."""
    pool_episodes: int = 100
    """Recent episodes segments are drawn from."""
    reset_critic: bool = True
    """Reset the critic after pre-training, as PEBBLE does, so it forgets intrinsic values."""
    reward: PreferenceRewardConfig = field(default_factory=PreferenceRewardConfig)
    """The preference reward model (`robopref.rewards.preference_config`): ensemble size,
    layers, learning rate, epochs per refit, input, bootstrap, input normalization, label
    noise, ... Its ``seed`` is the run's ``seed``; ``input`` is ``state_action`` (PEBBLE) or
    ``state`` in training."""
    reward_stop_accuracy: float = 0.97
    """A refit stops once an epoch's training accuracy reaches this (B-Pref); 1.0: never."""
    refit_threads: int = 0
    """torch threads of a refit; 0: every core this process may use (the learner waits for
    the refit, so its cores are idle; a 100-label refit is most of a short run's time)."""
    human_wait_s: float = 0.0
    """Human teacher: seconds a round waits for its labels before training goes on."""
    conservative_k: float | None = None
    """Train on ``mean - k * spread`` of the ensemble (imitation's ``AddSTDRewardWrapper``):
    where the members disagree the policy is not paid for what the labels never showed.
    None (`conservative_k`): 1 where the learned preference reward is the run's objective
    (``reward`` ``pref``, alone or with a shaping potential: PEBBLE), 0 where the task reward
    ``sparse`` sits beside it and decides what is optimal (README, "Feedback efficiency")."""
    diagnostic_episodes: int = 20
    """Recent episodes the exploitation diagnostic ranks each round (``reward/true_corr``)."""
    exploit_rounds: int = 3
    """Rounds in a row of learned return rising while true return falls before a warning."""
    crop: int = 0
    """Temporal cropping of labelled pairs in every refit minibatch (SURF's and QPA's data
    augmentation): windows of ``segment_length - 2 * crop`` to ``segment_length`` steps at
    independent offsets; 0: off. SURF: 5."""
    pseudo_ratio: int = 0
    """SURF: unlabelled pairs drawn per query asked (kept for later refits), pseudo-labelled
    by each member where it is confident; 0: off. SURF: 10."""
    pseudo_threshold: float = 0.95
    """SURF: confidence ``max(P, 1 - P)`` a pseudo-label needs."""
    pseudo_weight: float = 1.0
    """SURF: weight of the pseudo-labelled loss (``lambda_u``)."""
    gold_rate: float | None = None
    """Share of each round's queries that are gold pairs (a known answer, to measure the
    annotators by; nobody is told which): fresh pairs whose returns by the teacher signal
    differ clearly (sim), else re-asked pairs of the store's gold (an expert's,
    ``robopref labels gold``). None: 0.05 with ``teacher.name=human``, else 0."""
    gold_margin: float = 1.0
    """A fresh gold pair's returns differ by at least this many standard deviations of the
    candidate segments' returns (a clear margin: the known answer is not a judgement call)."""
    reward_annotator_model: str = "none"
    """``none``: every label alike. ``calibrated``: each label's loss uses its annotator's
    fitted mistake rate in the label-noise mixture (`robopref.preferences.calibration`),
    refit before every reward refit; annotators without enough labels count as ``none``.
    ``calibrated-beta``: that, and each annotator's fitted rationality ``beta`` as a
    temperature on the model's logit for their labels (`label_temperature`); ``beta`` is
    fitted only where return gaps are known (sim gold pairs), elsewhere it is ``calibrated``."""


@dataclass(frozen=True)
class TeacherConfig:
    """Who answers queries: a B-Pref scripted teacher or ``human`` (the query UI)."""

    name: str = "oracle"
    """A scripted teacher (`robopref.preferences.teacher_names`), ``human``, or ``crowd``:
    five scripted teachers of mixed quality (oracle, stochastic beta 1, mistake 0.2 and 0.4,
    skip-prone; `robopref.preferences.teachers.CROWD`) each answering every query as its own
    annotator (needs ``pebble.labels_per_query=5``), for reliability-aware reward learning
    (``pebble.reward_annotator_model``) in sim."""
    signal: str = "auto"
    """``reward``, ``progress``, ``progress-level`` or ``auto``: progress on the Panda tasks
    (the gain of a potential, how much of the task is done: a segment's return is the
    progress it made), the dense task reward on dm_control
    (`robopref.rl.pebble.teacher_signal`); ``progress-level`` judges a segment by the
    progress reached at each step, as a dense reward (`segment_rewards`)."""
    beta: float | None = None
    """Overrides of the preset's B-Pref parameters; None: keep the preset's."""
    gamma: float | None = None
    """B-Pref's myopia: step ``t`` of ``H`` weighs ``gamma ** (H - 1 - t)``."""
    eps_mistake: float | None = None
    """Chance of flipping a label."""
    eps_skip: float | None = None
    """Skip a query when neither segment's return exceeds this fraction of a typical
    segment's return (B-Pref's skip teacher)."""
    eps_equal: float | None = None
    """Answer "equal" when the returns differ by less than this fraction of a typical
    segment's return."""


@dataclass(frozen=True)
class ShapingConfig:
    """Potential shaping from a PRM or a VLM (`robopref.rewards.shaping`)."""

    prm: str | None = None
    """A PRM file; None: train one first from scripted episodes of the task."""
    prm_episodes: int = 6
    """Quick PRM: expert, perturbed and random episodes recorded (in that ratio)."""
    prm_steps: int = 400
    """Quick PRM: gradient steps."""
    vlm_checkpoint: str | None = None
    """A local CLIP checkpoint directory (required for ``vlm``)."""
    vlm_baseline: str = "a robot arm"
    """VLM-RM's baseline prompt: the goal direction is measured from it."""
    scale: float = 1.0
    """Factor on the shaping term."""
    mode: str = "difference"
    """How the potential enters the reward. ``difference``: the shaping term
    ``scale * (gamma * Phi(s') - Phi(s))``, policy invariant (Ng et al. 1999; DESIGN.md
    contract 4). ``direct``: ``scale * Phi(s')`` paid as the reward of every step, logged as
    ``reward/direct``: *not* policy invariant, a learner may maximize the score instead of
    the task (Goodhart's law); for the reward-hacking study (issue 14,
    ``bench/reward_hacking.sh``), not for training policies."""


@dataclass(frozen=True)
class InterventionConfig:
    """Corrections during training (HIL-SERL, Luo et al. 2024): when the policy stalls, the
    task's scripted expert takes over, as a person at a teleoperation device would; the
    steps it drives are stored with its actions, in the online buffer and, with
    ``--demos``, in the demonstration buffer (`robopref.rl.interventions`). Sim Panda tasks
    only (the expert reads the privileged state)."""

    budget: int = 0
    """Env steps the expert may drive in the whole run (0: no interventions)."""
    stall_steps: int = 15
    """The policy has stalled when the task's progress rose by less than
    ``stall_progress`` over this many steps."""
    stall_progress: float = 0.02
    """Progress (0..1, `sim` task progress) that counts as moving on."""
    length: int = 20
    """Steps the expert drives once it takes over (fewer when the task is solved or the
    budget runs out)."""
    start: int = 0
    """Env step of the run from which the expert may take over (before it, the policy's
    stalls are those of a policy barely trained)."""
    penalty: float = 0.0
    """Reward subtracted from the policy's step that leads into a takeover (RLIF, Luo et al.
    2023: being corrected is itself the signal of a bad state). Without it a stall costs the
    policy nothing, since the expert's rescue follows and the critics value the stall by
    the rescued return (README, "Push: corrections and n-step returns"); 0: none."""


@dataclass(frozen=True)
class TrainConfig:
    """A training run (``robopref train``)."""

    task: str = "panda-reach"
    """A Panda task or a dm_control one (``dmc:walker-walk``), as `sim.list_tasks` names them."""
    reward: str = "pref"
    """Terms joined by ``+``: ``sparse`` (task reward), ``pref``, ``prm``, ``vlm``,
    ``progress`` (shaping by the simulator's privileged progress: a perfect PRM, the upper
    bound of PRM shaping, sim only)."""
    labels: int = 100
    """Label budget (non-skip labels)."""
    steps: int = 20_000
    """Env steps of training."""
    seed: int = 0
    """Seed of the env, the learner, the teacher and the queries."""
    demos: str | None = None
    """Demonstrations for the replay buffer: a number of scripted-expert episodes (``"10"``)
    or a directory of recorded episodes; None: none."""
    demo_noise: float = 0.0
    """Std of Gaussian noise on the scripted expert's actions while it records ``--demos N``
    (DART, Laskey et al. 2017): the stateless expert recovers from where the noise took it,
    so the demonstrations also show recoveries from states a learner drifts into; the
    replay buffer keeps the executed (noisy) actions. 0: the clean expert."""
    run_dir: str | None = None
    """Run directory. None: ``runs/<task>-<reward>-s<seed>``."""
    task_weight: float = 1.0
    """Weight of the task reward (``sparse``) in the sum of terms."""
    pref_weight: float = 1.0
    """Weight of the learned preference reward (``pref``)."""
    checkpoint_every: int = 5000
    """Env steps between checkpoints (policy, buffer, reward model, PEBBLE state)."""
    keep_checkpoints: int = 3
    """Checkpoints kept; older ones are deleted."""
    log_every: int = 1000
    """Env steps between rows of ``metrics.csv``."""
    eval_episodes: int = 10
    """Episodes of the final evaluation of the deterministic policy (0: none)."""
    progress_bar: bool = True
    """A progress bar on the terminal (``--no-progress``: off)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    pebble: PebbleConfig = field(default_factory=PebbleConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    shaping: ShapingConfig = field(default_factory=ShapingConfig)
    interventions: InterventionConfig = field(default_factory=InterventionConfig)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def terms(self) -> tuple[str, ...]:
        return reward_terms(self.reward)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **overrides: Any) -> TrainConfig:
        """A copy with dotted keys changed: ``replace(**{"learner.batch_size": 64})``."""
        return from_dict(merge(self.to_dict(), unflatten(overrides)))


#: ``pebble.gold_rate`` when it is None (auto) and people label (issue 18).
HUMAN_GOLD_RATE = 0.05


def gold_rate(config: TrainConfig) -> float:
    """``pebble.gold_rate`` resolved: None is 0.05 with a human teacher, else 0."""
    rate = config.pebble.gold_rate
    if rate is not None:
        return rate
    return HUMAN_GOLD_RATE if config.teacher.name == TEACHERS_HUMAN else 0.0


#: ``pebble.conservative_k`` when it is None (auto) and the learned preference reward is the
#: objective: measured on dm_control at 100,000 steps (README, "Feedback efficiency").
PREF_ONLY_CONSERVATIVE_K = 1.0


def conservative_k(config: TrainConfig) -> float:
    """``pebble.conservative_k`` resolved. None is 1 where ``pref`` is the only reward term
    that is not a shaping potential (nothing but the learned reward says what is optimal,
    so once the labels stop the policy can exploit it: walker with 100 labels fell to 0.70
    of its best without this), 0 where the task reward sits beside it (every Panda recipe
    was measured with 0) or there is no preference term."""
    k = config.pebble.conservative_k
    if k is not None:
        return k
    objective = [t for t in reward_terms(config.reward) if t not in POTENTIAL_TERMS]
    return PREF_ONLY_CONSERVATIVE_K if objective == ["pref"] else 0.0


def reward_terms(spec: str) -> tuple[str, ...]:
    """``"pref+prm"`` -> ``("pref", "prm")``; unknown or repeated terms are errors."""
    terms = tuple(t.strip() for t in str(spec).split("+"))
    bad = [t for t in terms if t not in REWARD_TERMS]
    if bad or not terms or len(set(terms)) != len(terms):
        raise ConfigError(
            f"reward: bad spec {spec!r}; join distinct terms of {list(REWARD_TERMS)} with '+'"
        )
    return terms


def choices() -> dict[str, tuple[str, ...]]:
    """The valid values of every key that names something, read from the registries that own
    them now (so a teacher or selector registered at run time is valid) and, for the
    training loop's own switches, from this module."""
    import sim
    from robopref.preferences.selectors import selector_names
    from robopref.preferences.teachers import SIGNALS, teacher_names
    from robopref.rl.policy import ALGOS
    from sim.state import STATE_MODES

    return {
        "env.backend": tuple(sim.list_backends()),
        "env.state": STATE_MODES,
        "learner.algo": ALGOS,
        "learner.policy_input": POLICY_INPUTS,
        "pebble.selector": selector_names(),
        "pebble.reward.input": REWARD_INPUTS,
        "pebble.reward_annotator_model": ANNOTATOR_MODELS,
        "teacher.name": (*teacher_names(), TEACHERS_HUMAN, TEACHERS_CROWD),
        "teacher.signal": ("auto", *SIGNALS),
        "shaping.mode": SHAPING_MODES,
    }


def _check_task(task: str, backend: str) -> None:
    """``task`` is one `sim.make` knows (dm_control names only for dm_control runs: listing
    them imports dm_control), on a backend it runs on."""
    import sim

    if task.startswith(sim.DMC_PREFIX):
        from sim.dmc import list_dmc_tasks

        valid = list_dmc_tasks()
        if task not in valid:
            raise ConfigError(f"task: {task!r} is not one of {valid}")
        if backend != "mujoco":
            raise ConfigError(
                f"env.backend: dm_control tasks run on 'mujoco' only, got {backend!r} "
                f"for task {task!r}"
            )
        return
    if task not in sim.PANDA_TASKS:
        raise ConfigError(
            f"task: {task!r} is not one of {sim.list_tasks(include_dmc=False)} "
            f"(or a dm_control task: {sim.DMC_PREFIX}<domain>-<task>, see `robopref tasks`)"
        )


# Keys whose "unset" was spelled -1.0 or "" before it was None, and the test for that
# spelling: a saved config.json of an older run still loads, with the same meaning.
_OLD_UNSET: dict[str, typing.Callable[[Any], bool]] = {
    **{
        key: lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v < 0
        for key in (
            "pebble.gold_rate",
            "teacher.beta",
            "teacher.gamma",
            "teacher.eps_mistake",
            "teacher.eps_skip",
            "teacher.eps_equal",
        )
    },
    **{
        key: lambda v: isinstance(v, str) and not v.strip()
        for key in ("demos", "run_dir", "shaping.prm", "shaping.vlm_checkpoint")
    },
}
# Keys that moved when the preference model's own config was embedded (``pebble.reward``):
# old key -> new key.
_RENAMED = {
    "pebble.ensemble_size": "pebble.reward.ensemble_size",
    "pebble.hidden": "pebble.reward.hidden",
    "pebble.reward_lr": "pebble.reward.lr",
    "pebble.reward_epochs": "pebble.reward.epochs",
    "pebble.reward_input": "pebble.reward.input",
    "pebble.reward_bootstrap": "pebble.reward.bootstrap",
    "pebble.reward_normalize": "pebble.reward.normalize_inputs",
}
_MINIMUM = {
    "steps": 1,
    "labels": 0,
    "checkpoint_every": 1,
    "keep_checkpoints": 1,
    "log_every": 1,
    "eval_episodes": 0,
    "env.image_size": 8,
    "env.max_steps": 0,
    "learner.batch_size": 1,
    "learner.buffer_size": 1,
    "learner.learning_starts": 0,
    "learner.train_freq": 1,
    "learner.gradient_steps": 1,
    "learner.policy_delay": 1,
    "learner.n_steps": 2,
    "learner.n_epochs": 1,
    "learner.threads": 1,
    "learner.critics": 1,
    "learner.critic_subset": 1,
    "pebble.unsup_steps": 0,
    "pebble.unsup_k": 1,
    "pebble.query_every": 1,
    "pebble.first_query_at": 0,
    "pebble.labels_per_round": 0,
    "pebble.segment_length": 2,
    "pebble.oversample": 1,
    "pebble.labels_per_query": 1,
    "pebble.pool_episodes": 2,
    "pebble.reward.epochs": 1,
    "pebble.refit_threads": 0,
    "pebble.human_wait_s": 0,
    "pebble.conservative_k": 0,
    "pebble.diagnostic_episodes": 2,
    "pebble.exploit_rounds": 1,
    "pebble.crop": 0,
    "pebble.pseudo_ratio": 0,
    "pebble.pseudo_weight": 0,
    "pebble.gold_margin": 0,
    "learner.recent_steps": 1,
    "shaping.prm_episodes": 3,
    "shaping.prm_steps": 1,
}


def _walk(obj: Any, prefix: str = "") -> typing.Iterator[tuple[str, Any]]:
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            yield from _walk(v, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", v


def validate(config: TrainConfig) -> None:
    """Value checks beyond types; the error names the key."""
    values = dict(_walk(config))
    for key, valid in choices().items():
        if values[key] not in valid:
            raise ConfigError(f"{key}: {values[key]!r} is not one of {list(valid)}")
    _check_task(config.task, config.env.backend)
    for key, low in _MINIMUM.items():
        if values[key] is not None and values[key] < low:  # None: a resolved default
            raise ConfigError(f"{key}: must be >= {low}, got {values[key]!r}")
    for key, v in values.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{key}: must be finite, got {v!r}")
    if not 0 < values["learner.gamma"] <= 1:
        raise ConfigError(f"learner.gamma: must be in (0, 1], got {values['learner.gamma']}")
    if values["learner.learning_rate"] <= 0:
        raise ConfigError("learner.learning_rate must be > 0")
    if config.pebble.reward.seed:
        raise ConfigError(
            f"pebble.reward.seed: the preference model is seeded by the run's seed; set "
            f"seed, not pebble.reward.seed (got {config.pebble.reward.seed})"
        )
    reward_terms(config.reward)
    if config.pebble.unsup_steps and config.learner.policy_input != "state":
        raise ConfigError("pebble.unsup_steps: state-entropy pre-training needs policy_input state")
    lc = config.learner
    if lc.critic_subset > lc.critics:
        raise ConfigError(
            f"learner.critic_subset: {lc.critic_subset} critics drawn from an ensemble of "
            f"learner.critics={lc.critics}; use a subset <= the ensemble"
        )
    if lc.her_k < 0:
        raise ConfigError(f"learner.her_k: must be >= 0, got {lc.her_k}")
    if lc.her_k:
        import sim

        task = sim.PANDA_TASKS.get(config.task)
        if lc.algo == "ppo" or config.env.state != "full" or lc.policy_input != "state":
            raise ConfigError(
                "learner.her_k: hindsight relabelling needs an off-policy learner (sac, rlpd) "
                f"on the full state, got algo {lc.algo!r}, env.state {config.env.state!r}, "
                f"policy_input {lc.policy_input!r}"
            )
        if task is None or task.achieved_field is None:
            goal_tasks = [n for n, t in sim.PANDA_TASKS.items() if t.achieved_field]
            raise ConfigError(
                f"learner.her_k: {config.task!r} has no goal to relabel (success is not a "
                f"distance to a goal); hindsight works on {goal_tasks}"
            )
    if lc.n_step < 1:
        raise ConfigError(f"learner.n_step: must be >= 1, got {lc.n_step}")
    if lc.n_step > 1 and (lc.algo == "ppo" or lc.her_k or config.pebble.unsup_steps):
        raise ConfigError(
            f"learner.n_step: n-step returns need an off-policy learner (sac, rlpd) without "
            f"learner.her_k or pebble.unsup_steps; got algo {lc.algo!r}, her_k {lc.her_k}, "
            f"unsup_steps {config.pebble.unsup_steps}"
        )
    if lc.policy_delay > 1 and lc.algo != "rlpd":
        raise ConfigError(
            f"learner.policy_delay: delayed actor updates are an rlpd option (SB3's SAC "
            f"updates both every step), got algo {lc.algo!r}"
        )
    if lc.bc_weight < 0:
        raise ConfigError(f"learner.bc_weight: must be >= 0, got {lc.bc_weight}")
    if lc.bc_weight and (lc.algo != "rlpd" or not config.demos):
        raise ConfigError(
            "learner.bc_weight: behaviour cloning needs learner.algo rlpd and --demos, got "
            f"algo {lc.algo!r} and demos {config.demos!r}"
        )
    if lc.algo == "rlpd" and lc.policy_input != "state":
        raise ConfigError("learner.policy_input: rlpd learns from the state vector only")
    if not 0 <= lc.recent_fraction < 1:
        raise ConfigError(f"learner.recent_fraction: must be in [0, 1), got {lc.recent_fraction}")
    if config.demos and lc.demo_fraction + lc.recent_fraction >= 1:
        raise ConfigError(
            f"learner.recent_fraction: with learner.demo_fraction={lc.demo_fraction} no share "
            f"of the minibatch is left for uniform replay; keep their sum below 1"
        )
    pc = config.pebble
    if 2 * pc.crop >= pc.segment_length:
        raise ConfigError(
            f"pebble.crop: {pc.crop} steps off each end leave nothing of a "
            f"pebble.segment_length={pc.segment_length} segment; use crop < segment_length / 2"
        )
    if not 0.5 <= pc.pseudo_threshold <= 1:
        raise ConfigError(
            f"pebble.pseudo_threshold: must be in [0.5, 1], got {pc.pseudo_threshold}"
        )
    if pc.gold_rate is not None and not 0 <= pc.gold_rate <= 1:
        raise ConfigError(
            f"pebble.gold_rate: must be in [0, 1] (a share of the queries; null: auto), got "
            f"{pc.gold_rate}"
        )
    for name in TEACHER_OVERRIDES:
        v = getattr(config.teacher, name)
        if v is not None and v < 0:
            raise ConfigError(f"teacher.{name}: must be >= 0 (null: the preset's), got {v}")
    if config.teacher.name == TEACHERS_CROWD:
        _validate_crowd(config)
    _validate_interventions(config)
    if not 0 <= lc.demo_fraction < 1:
        raise ConfigError(f"learner.demo_fraction: must be in [0, 1), got {lc.demo_fraction}")
    if not 0 <= config.demo_noise <= 1:
        raise ConfigError(
            f"demo_noise: must be in [0, 1] (actions are in [-1, 1]), got {config.demo_noise}"
        )
    if config.demo_noise and not (config.demos or "").isdigit():
        raise ConfigError(
            f"demo_noise: noise is added while the scripted expert records --demos N; "
            f"demos {config.demos!r} are not recorded here"
        )
    if config.demos:
        if lc.algo == "ppo":
            raise ConfigError("demos: demonstrations go in a replay buffer; use sac or rlpd")
        if lc.policy_input != "state":
            raise ConfigError("demos: demonstrations need learner.policy_input state")
    if "pref" in config.terms and config.pebble.labels_per_round > config.labels:
        raise ConfigError(
            f"pebble.labels_per_round: {config.pebble.labels_per_round} per round is more than "
            f"the whole label budget (labels={config.labels})"
        )
    k = config.pebble.labels_per_query
    if "pref" in config.terms and 0 < config.labels < k:
        raise ConfigError(
            f"labels: a budget of {config.labels} is less than one query's "
            f"pebble.labels_per_query={k} labels"
        )
    if "progress" in config.terms:
        # Privileged progress: a potential only where the simulator defines one (dm_control's
        # "progress" is the step's reward, not how much of the task is done).
        if config.task.startswith("dmc:"):
            raise ConfigError(
                f"reward: 'progress' shapes by the Panda tasks' privileged progress; "
                f"{config.task!r} has none"
            )
        if {"prm", "vlm"} & set(config.terms):
            raise ConfigError(
                f"reward: 'progress' is already the ideal PRM; drop 'prm'/'vlm' from "
                f"{config.reward!r}"
            )
    if config.shaping.mode == "direct" and not set(POTENTIAL_TERMS) & set(config.terms):
        raise ConfigError(
            f"shaping.mode: 'direct' pays a PRM, VLM or progress potential as the reward, but "
            f"reward {config.reward!r} has none of them; add 'prm', 'vlm' or 'progress'"
        )
    if config.shaping.mode == "direct" and "pref" in config.terms:
        # The replay buffer keeps the shaping term of each transition for relabelling after
        # a refit (`RelabelingReplayBuffer.note`), not a direct one, which would be lost.
        raise ConfigError(
            f"shaping.mode: 'direct' cannot be combined with a 'pref' term (reward "
            f"{config.reward!r}): relabelling after each refit keeps shaping terms only; use "
            "shaping.mode 'difference' or drop 'pref'"
        )
    if "pref" in config.terms and config.labels < 1:
        raise ConfigError("labels: a 'pref' reward needs a label budget >= 1")


def _convert(key: str, tp: Any, value: Any) -> Any:
    """``value`` as type ``tp``, or a ConfigError naming ``key``."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, f"{key}.")
    origin = typing.get_origin(tp)
    if origin is types.UnionType or origin is typing.Union:  # X | None: None means unset
        (item,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _convert(key, item, value)
    if origin is typing.Literal:
        valid = typing.get_args(tp)
        if value not in valid:
            raise ConfigError(f"{key}: {value!r} is not one of {list(valid)}")
        return value
    if origin is tuple:
        (item,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_convert(f"{key}[{i}]", item, v) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported config type {tp!r}")  # a bug in this module


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s}; valid keys here: "
            + ", ".join(f"{prefix}{n}" for n in names)
        )
    values = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if key in _OLD_UNSET and _OLD_UNSET[key](v):
            v = None
        values[k] = _convert(key, hints[k], v)
    try:
        return cls(**values)
    except ValueError as e:  # an embedded model config's own checks (`__post_init__`)
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{prefix.rstrip('.') or cls.__name__}: {e}") from None


def _move_renamed(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the keys of `_RENAMED` moved to their new places, so that the config.json
    of an older run (and an old ``--set`` key) still loads with the same meaning."""
    data = copy.deepcopy(data)
    for old, new in _RENAMED.items():
        old_section, old_name = old.split(".", 1)
        section = data.get(old_section)
        if not isinstance(section, dict) or old_name not in section:
            continue
        *path, name = new.split(".")
        target = data
        for depth, part in enumerate(path, 1):
            node = target.get(part)
            if node is None:
                node = target[part] = {}
            elif not isinstance(node, dict):
                where = ".".join(path[:depth])
                raise ConfigError(f"{where}: expected a mapping, got {type(node).__name__}")
            target = node
        if name in target:
            raise ConfigError(f"{old} and {new} are the same key (renamed); give only {new}")
        target[name] = section.pop(old_name)
    return data


def _validate_crowd(config: TrainConfig) -> None:
    from robopref.preferences.teachers import CROWD

    given = [name for name in TEACHER_OVERRIDES if getattr(config.teacher, name) is not None]
    if given:
        raise ConfigError(
            f"teacher.{given[0]}: the crowd's teachers keep their own parameters; "
            f"overrides are for a single scripted teacher"
        )
    if config.pebble.labels_per_query != len(CROWD):
        raise ConfigError(
            f"pebble.labels_per_query: the crowd teacher has {len(CROWD)} members, each "
            f"answering every query; set {len(CROWD)}, got {config.pebble.labels_per_query}"
        )


def _validate_interventions(config: TrainConfig) -> None:
    ic = config.interventions
    for key in ("stall_steps", "length"):
        if getattr(ic, key) < 1:
            raise ConfigError(f"interventions.{key}: must be >= 1, got {getattr(ic, key)}")
    if not 0 < ic.stall_progress <= 1:
        raise ConfigError(
            f"interventions.stall_progress: must be in (0, 1] (task progress runs 0..1), "
            f"got {ic.stall_progress}"
        )
    for key in ("budget", "start", "penalty"):
        if getattr(ic, key) < 0:
            raise ConfigError(f"interventions.{key}: must be >= 0, got {getattr(ic, key)}")
    if not ic.budget:
        return
    import sim

    if config.task not in sim.PANDA_TASKS:
        raise ConfigError(
            f"interventions.budget: {config.task!r} has no scripted expert to intervene; "
            f"interventions work on {sorted(sim.PANDA_TASKS)}"
        )
    if config.learner.algo == "ppo":
        raise ConfigError(
            "interventions.budget: corrections go in a replay buffer; use sac or rlpd, not ppo"
        )


def from_dict(data: dict[str, Any]) -> TrainConfig:
    """A `TrainConfig` from a (possibly partial) nested dict; missing keys keep defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping, got {type(data).__name__}")
    return _build(TrainConfig, _move_renamed(data))


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"learner.batch_size": 64}`` -> ``{"learner": {"batch_size": 64}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: {p} is not a section")
        node[last] = value
    return out


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, section by section."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML (``.yaml``/``.yml``) or JSON config file as a dict."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {p}: {e.strerror or e}") from None
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # json's ValueError or yaml.YAMLError (not a ValueError)
        kind = "YAML" if p.suffix in (".yaml", ".yml") else "JSON"
        raise ConfigError(f"{p}: not valid {kind}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must hold a mapping, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class KeyInfo:
    """One config key: its dotted name, type as written in this module, default and doc."""

    key: str
    type: str
    default: Any
    doc: str


def _field_docs(cls: type) -> dict[str, str]:
    """``{field name: docstring}`` of the dataclass ``cls`` (of this module, or a model
    config it embeds).

    Python keeps no attribute docstrings at run time, so they are read from the class's
    syntax tree: the string literal right after a field is that field's doc (the convention
    Sphinx and the editors read too). One source: the help of every flag comes from here.
    """
    import ast
    import inspect
    import textwrap

    (node,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    assert isinstance(node, ast.ClassDef)  # getsource of a class is that class
    docs: dict[str, str] = {}
    for field_node, nxt in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(field_node, ast.AnnAssign)
            and isinstance(field_node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[field_node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is types.UnionType or origin is typing.Union:
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "tuple[" + ", ".join(_type_name(a) for a in typing.get_args(tp)) + "]"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if tp is Ellipsis:
        return "..."
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


def describe_keys() -> list[KeyInfo]:
    """Every key of `TrainConfig`, in the tree's order, with its type, default and doc
    (``robopref train --list-keys``; the flags' help is built from the same records)."""
    out: list[KeyInfo] = []

    def walk(cls: type, default: Any, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        docs = _field_docs(cls)
        for f in dataclasses.fields(cls):
            tp, value = hints[f.name], getattr(default, f.name)
            if isinstance(tp, type) and dataclasses.is_dataclass(tp):
                walk(tp, value, f"{prefix}{f.name}.")
            else:
                doc = docs.get(f.name, "")
                out.append(KeyInfo(f"{prefix}{f.name}", _type_name(tp), value, doc))

    walk(TrainConfig, TrainConfig(), "")
    return out


def key_info(key: str) -> KeyInfo:
    """The `KeyInfo` of one dotted key; a ConfigError naming it when there is none."""
    for info in describe_keys():
        if info.key == key:
            return info
    raise ConfigError(f"unknown config key {key}")


def load_config(
    file: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Defaults, then ``file``, then dotted ``overrides`` (flags); validated."""
    data = read_config_file(file) if file else {}
    return from_dict(merge(data, unflatten(overrides or {})))


__all__ = [
    "ConfigError",
    "EnvConfig",
    "LearnerConfig",
    "PebbleConfig",
    "REWARD_TERMS",
    "SHAPING_MODES",
    "InterventionConfig",
    "ShapingConfig",
    "TeacherConfig",
    "TrainConfig",
    "KeyInfo",
    "choices",
    "conservative_k",
    "describe_keys",
    "from_dict",
    "gold_rate",
    "key_info",
    "load_config",
    "read_config_file",
    "reward_terms",
]
