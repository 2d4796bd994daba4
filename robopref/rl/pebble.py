"""The PEBBLE loop as an SB3 callback: queries, labels, reward refits, relabelling.

After B-Pref's ``train_PEBBLE.py`` (Lee et al. 2021), on SB3's off-policy loop:

* **Unsupervised pre-training** (``pebble.unsup_steps``): after the random seed steps, the
  learner trains on a state-entropy reward (distance to the k-th nearest neighbour among the
  buffer's states, over its running std), computed for each sampled minibatch.
* **Rounds** every ``pebble.query_every`` env steps, from the end of pre-training:
  segments are drawn from the recent episodes; the selector oversamples candidate pairs and
  keeps the most informative (the first round is uniform: no model yet); the queries go to
  the label store; a scripted teacher answers them at once (a person answers in the query
  UI, while training goes on); the reward ensemble is refit on all labels so far; the whole
  replay buffer is relabelled; after the first refit the critic is reset (PEBBLE), so values
  learned on the intrinsic reward are forgotten.
* **Every reward term is logged** by name (``metrics.csv`` and TensorBoard) with the true
  return, success rate and labels used, against env steps.

The callback holds the loop's state (counters, RNGs, the episode pool) and hands it to
checkpoints; `robopref.rl.train` owns setup and resume.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

import sim
from robopref.data import Episode, EpisodeStore
from robopref.preferences import (
    LabelStore,
    SegmentPool,
    answer_queries,
    batch_from_labels,
    draw_pairs,
    make_teacher,
    segment_margin,
    segment_rewards,
    select_queries,
)
from robopref.preferences.calibration import calibrate, label_noise, label_temperature
from robopref.preferences.gold import fresh_gold, mix_gold, reask_gold
from robopref.preferences.teachers import ScriptedTeacher, make_crowd
from robopref.rewards.shaping import INFO_SHAPING, INFO_TASK
from robopref.rl.config import (
    TEACHER_OVERRIDES,
    TEACHERS_CROWD,
    TEACHERS_HUMAN,
    TrainConfig,
    conservative_k,
    gold_rate,
)
from robopref.rl.env import INFO_PREF, INFO_TOTAL, CompositeReward, StepReward
from robopref.rl.interventions import INFO_INTERVENTION, INFO_INTERVENTION_PENALTY
from robopref.runs import RunPaths

if TYPE_CHECKING:
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    from robopref.preferences import PreferenceBatch
    from robopref.preferences.calibration import Calibration
    from robopref.rl.buffer import RelabelingReplayBuffer
    from sim.env import PandaTaskEnv

METRIC_FIELDS = (
    "env_steps",
    "episodes",
    "labels_used",
    "queries",
    "rounds",
    "true_return",
    "success_rate",
    "unassisted_success_rate",
    "reward/task",
    "reward/pref",
    "reward/shaping",
    "reward/total",
    "pref_model/accuracy",
    "pref_model/loss",
    "reward/true_corr",
    "reward/spread",
    "intervention_steps",
    "steps_per_s",
    "wall_s",
)


@dataclass
class LoopState:
    """Counters of the loop; saved in every checkpoint (``state.json``)."""

    next_round: int = 0
    next_checkpoint: int = 0
    next_log: int = 0
    rounds: int = 0
    queries: int = 0
    refits: int = 0
    unsup_done: bool = False
    last_fit: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    #: The exploitation diagnostic of the last round (`PebbleCallback.diagnose`).
    diagnostic: dict[str, float] = field(default_factory=dict)
    exploit_streak: int = 0
    warnings: list[str] = field(default_factory=list)
    #: Env steps the scripted expert drove, and its takeovers (`robopref.rl.interventions`).
    intervention_steps: int = 0
    intervention_takeovers: int = 0


class StateEntropyReward:
    """PEBBLE's intrinsic reward: k-NN distance of each sampled state among buffer states.

    The reference set is a random subset of at most ``max_ref`` stored states (B-Pref uses
    the whole buffer on a GPU; a subset keeps a CPU step cheap and the estimate unbiased up
    to scale, which the running-std normalization removes).
    """

    def __init__(self, buffer, k: int, rng: np.random.Generator, max_ref: int = 4096):
        self.buffer, self.k, self.rng, self.max_ref = buffer, k, rng, max_ref
        self._count, self._mean, self._m2 = 0, 0.0, 0.0

    def __call__(self, samples) -> torch.Tensor:
        n = self.buffer.size()
        ref_idx = self.rng.choice(n, size=min(n, self.max_ref), replace=False)
        ref = torch.from_numpy(self.buffer.pref_state[ref_idx, 0])
        x = samples.next_observations["state"] if "state" in samples.next_observations else None
        if x is None:
            raise ValueError("state-entropy pre-training needs the 'state' observation")
        d = torch.cdist(x.float(), ref)
        k = min(self.k + 1, d.shape[1])  # +1: a stored sample is its own nearest neighbour
        ent = d.kthvalue(k, dim=1).values
        for v in ent.tolist():  # Welford: running std over every reward handed out
            self._count += 1
            delta = v - self._mean
            self._mean += delta / self._count
            self._m2 += delta * (v - self._mean)
        std = math.sqrt(self._m2 / max(1, self._count - 1)) or 1.0
        return (ent / std).reshape(-1, 1).to(samples.rewards.dtype)


class PebbleCallback(BaseCallback):
    """Runs the PEBBLE loop and the run's bookkeeping inside ``model.learn``.

    Args:
        config: The run's config.
        run: The run directory.
        composite: The env's `CompositeReward` (its step reward is swapped after refits).
        step_reward: The per-step preference reward shared with the env.
        pref_model: The preference reward ensemble (None when the reward has no ``pref``).
        store: The label store.
        checkpoint: ``f(callback) -> Path`` writing a checkpoint.
        state: Counters to continue from (resume), else fresh.
    """

    #: The columns of ``metrics.csv`` (a subclass that logs more extends them).
    metric_fields: tuple[str, ...] = METRIC_FIELDS

    def __init__(
        self,
        config: TrainConfig,
        run: RunPaths,
        composite: CompositeReward,
        step_reward: StepReward,
        pref_model,
        store: LabelStore,
        checkpoint,
        state: LoopState | None = None,
        progress_bar=None,
    ) -> None:
        super().__init__(verbose=0)
        self.config, self.run, self.composite = config, run, composite
        self.step_reward, self.pref_model, self.store = step_reward, pref_model, store
        self.checkpoint = checkpoint
        self.progress_bar = progress_bar
        self.episode_store = EpisodeStore(run.episodes)
        cfg = config.pebble
        self.state = state or LoopState()
        if state is None:
            start = config.learner.learning_starts + cfg.unsup_steps
            self.state.next_round = cfg.first_query_at or max(start, cfg.segment_length)
            self.state.next_checkpoint = config.checkpoint_every
            self.state.next_log = config.log_every
            self.state.unsup_done = cfg.unsup_steps == 0
        self.rngs = {
            "teacher": np.random.default_rng([config.seed, 1]),
            "selector": np.random.default_rng([config.seed, 2]),
            "refit": np.random.default_rng([config.seed, 3]),
            "entropy": np.random.default_rng([config.seed, 4]),
            "gold": np.random.default_rng([config.seed, 5]),
            "hindsight": np.random.default_rng([config.seed, 6]),
        }
        #: The annotators' fit of the last refit (``pebble.reward_annotator_model``).
        self.calibration: Calibration | None = None
        self.pool: deque[Episode] = deque(maxlen=cfg.pool_episodes)
        self.recent: deque[dict[str, float]] = deque(maxlen=10)
        self._episode_terms = {t: 0.0 for t in ("task", "pref", "shaping", "total")}
        #: Whether the scripted expert drove a step of the current episode (interventions).
        self._episode_assisted = False
        self._saved_episodes: set[str] = set(self.episode_store.ids())
        #: SURF's unlabelled pairs (`_add_unlabeled`); not checkpointed: a resumed run
        #: starts collecting them again.
        self.unlabeled: PreferenceBatch | None = None
        #: The scripted teachers answering each query (each as its own annotator); none for
        #: a person in the UI.
        self.teachers: tuple[ScriptedTeacher, ...] = ()
        if config.teacher.name == TEACHERS_CROWD:
            self.teachers = make_crowd()
        elif config.teacher.name != TEACHERS_HUMAN:
            overrides = {
                k: getattr(config.teacher, k)
                for k in TEACHER_OVERRIDES
                if getattr(config.teacher, k) is not None
            }
            self.teachers = (make_teacher(config.teacher.name, **overrides),)
        self._t0 = time.perf_counter()
        self._steps_at_t0 = 0
        self.composite.on_episode = self._on_episode
        self._ended: dict[str, float] | None = None

    # ------------------------------------------------------------------ SB3 hooks
    def _on_training_start(self) -> None:
        self._t0, self._steps_at_t0 = time.perf_counter(), self.num_timesteps
        buffer = getattr(self.model, "replay_buffer", None)
        if buffer is not None and not self.state.unsup_done:
            buffer.sample_reward = StateEntropyReward(
                buffer, self.config.pebble.unsup_k, self.rngs["entropy"]
            )

    def _on_step(self) -> bool:
        buffer = getattr(self.model, "replay_buffer", None)
        for info in self.locals["infos"]:
            terms = (info[INFO_TASK], info[INFO_PREF], info[INFO_SHAPING], info[INFO_TOTAL])
            for name, v in zip(("task", "pref", "shaping", "total"), terms):
                self._episode_terms[name] += v
            self._episode_assisted |= INFO_INTERVENTION in info
            if self._ended is not None:  # this step ended it: its terms are now summed too
                self._ended.update({f"reward/{k}": v for k, v in self._episode_terms.items()})
                self._ended["assisted"] = float(self._episode_assisted)
                self._episode_terms = dict.fromkeys(self._episode_terms, 0.0)
                self._episode_assisted = False
                self._ended = None
            if buffer is not None and hasattr(buffer, "note"):
                # The buffer's fixed term: shaping, and a correction's penalty (kept through
                # every relabel, as the reward SB3 was handed had it).
                fixed = info[INFO_SHAPING] - info.get(INFO_INTERVENTION_PENALTY, 0.0)
                buffer.note(info["state_before"], info[INFO_TASK], fixed)
        if self.progress_bar is not None:
            self.progress_bar.update(1)
        return True

    def _on_rollout_end(self) -> None:
        t = self.num_timesteps
        if t >= self.state.next_round:
            self.query_round()
            self.state.next_round = t + self.config.pebble.query_every
        if t >= self.state.next_log:
            self.log_metrics()
            self.state.next_log = t + self.config.log_every
        if t >= self.state.next_checkpoint:
            self.state.next_checkpoint = t + self.config.checkpoint_every
            self.checkpoint(self)

    # ------------------------------------------------------------------ episodes
    def _on_episode(self, episode: Episode) -> None:
        self.pool.append(episode)
        if self.config.learner.her_k:
            self._add_hindsight(episode)
        # The env records the episode inside the step that ends it, before `_on_step` adds
        # that step's reward terms: its term sums are attached there (`_ended`).
        self._ended = {
            "true_return": float(np.nansum(episode.reward)),
            "success": float(episode.is_success),
            "length": float(episode.length),
            "assisted": 0.0,  # set by `_on_step` once it has seen this last step's info
            **{f"reward/{k}": 0.0 for k in self._episode_terms},
        }
        self.recent.append(self._ended)

    def _add_hindsight(self, episode: Episode) -> None:
        """Stores ``learner.her_k`` relabelled copies of each of ``episode``'s transitions
        (`robopref.rl.her`). Called from the env's step that ends the episode, so the copies
        go in before the episode's last transition; each note/add pair stays together."""
        from robopref.rl.her import hindsight_transitions

        # her_k is checked to need an off-policy learner (its buffer is ours) and a Panda task.
        model = cast("OffPolicyAlgorithm", self.model)
        buffer = cast("RelabelingReplayBuffer", model.replay_buffer)
        task = cast("PandaTaskEnv", self.composite.unwrapped).task
        states, actions, next_states, task_reward = hindsight_transitions(
            episode.state, episode.action, task, self.config.learner.her_k, self.rngs["hindsight"]
        )
        tw, pw = self.composite.task_weight, self.composite.pref_weight
        for s, a, s2, r in zip(states, actions, next_states, task_reward, strict=True):
            pref = self.step_reward(s, a) if pw else 0.0
            buffer.note(s, float(r), 0.0)
            buffer.add(
                {"state": s[None]},
                {"state": s2[None]},
                a[None],
                np.array([tw * r + pw * pref], np.float32),
                np.array([False]),
                [{"TimeLimit.truncated": False}],
            )

    def signal(self, episode: Episode) -> str:
        """What a scripted teacher judges ``episode``'s segments by (`teacher_signal`)."""
        return teacher_signal(self.config.teacher.signal, episode)

    # ------------------------------------------------------------------ labels
    def labels_used(self) -> int:
        by = self.store.counts().by_label
        return int(sum(v for k, v in by.items() if k != "skip"))

    def _round_size(self) -> int:
        cfg, t = self.config.pebble, self.config.steps
        if cfg.labels_per_round:
            return cfg.labels_per_round
        first = cfg.first_query_at or (self.config.learner.learning_starts + cfg.unsup_steps)
        # Spread the budget over the rounds in the first half of training (B-Pref spends its
        # budget early too: reward learning matters most while the policy is still poor).
        rounds = max(1, (max(t // 2, first + 1) - first) // cfg.query_every + 1)
        return max(1, math.ceil(self.config.labels / rounds))

    def _save_episode(self, episode_id: str) -> None:
        if episode_id in self._saved_episodes:
            return
        for ep in self.pool:
            if ep.episode_id == episode_id:
                self.episode_store.save(ep)
                self._saved_episodes.add(episode_id)
                return
        raise KeyError(f"episode {episode_id} is no longer in the pool")

    def query_round(self) -> None:
        """Asks queries, collects labels, refits the reward model and relabels the buffer."""
        if self.pref_model is None:
            self._finish_unsup()
            return
        cfg = self.config.pebble
        used, open_q = self.labels_used(), self.store.counts().queued
        # The budget and the round size count labels; each query asks ``labels_per_query``
        # annotators (a crowd: all of its members), so it brings up to that many.
        k = cfg.labels_per_query
        n = min(math.ceil(self._round_size() / k), (self.config.labels - used - open_q * k) // k)
        asked = 0
        if n > 0:
            episodes = [ep for ep in self.pool if ep.length >= cfg.segment_length]
            try:
                pool = SegmentPool(episodes, cfg.segment_length, stride=1)
            except ValueError:
                pool = None  # too few long-enough episodes yet; try next round
            if pool is not None:
                selector = cfg.selector if self.state.refits else "uniform"
                # Issue 18: a binomial share of the round's queries are gold pairs.
                n_gold = int(self.rngs["gold"].binomial(n, gold_rate(self.config)))
                gold = self._gold_pairs(pool, n_gold, selector) if n_gold else []
                specs = select_queries(
                    selector,
                    pool,
                    n - len(gold),
                    self.rngs["selector"],
                    model=self.pref_model if selector != "uniform" else None,
                    oversample=cfg.oversample,
                    k=cfg.labels_per_query,
                )
                specs, gold_col = mix_gold(specs, gold, self.rngs["gold"])
                for spec in specs:
                    self._save_episode(spec.seg_a.episode_id)
                    self._save_episode(spec.seg_b.episode_id)
                self.store.add_queries(specs, gold=gold_col)
                asked = len(specs)
                self.state.queries += asked
                self._answer()
                if cfg.pseudo_ratio:
                    self._add_unlabeled(pool, cfg.pseudo_ratio * asked)
        self.state.rounds += 1
        if self.labels_used() > 0 and (asked or self.state.refits == 0 or self._new_labels()):
            self.refit()
        self._finish_unsup()
        if self.state.refits:
            self.diagnose()

    def _gold_pairs(self, pool: SegmentPool, n: int, selector: str) -> list:
        """``n`` gold pairs: fresh ones by privileged returns, else re-asked stored gold."""
        cfg = self.config.pebble
        episode, _ = pool.window(0)
        try:
            return fresh_gold(
                pool, n, self.rngs["gold"], signal=self.signal(episode),
                margin=cfg.gold_margin, selector=selector, k=cfg.labels_per_query,
            )  # fmt: skip
        except ValueError:  # no privileged signal (recorded real-robot episodes)
            return reask_gold(
                self.store.gold(), n, self.rngs["gold"], selector=selector,
                k=cfg.labels_per_query,
            )  # fmt: skip

    def diagnose(self) -> dict[str, float]:
        """The exploitation diagnostic over the recent episodes of the pool.

        ``reward/true_corr``: Spearman rank correlation between the learned and the true
        return of the episodes (sim only: a real robot has no true return; NaN when either is
        constant). ``reward/spread``: the ensemble's mean spread along them, the proxy that
        needs no true return. A learned return that rises while the true one falls for
        ``pebble.exploit_rounds`` rounds in a row is a warning, in the log and the summary.
        """
        from scipy.stats import spearmanr

        cfg = self.config.pebble
        episodes = list(self.pool)[-cfg.diagnostic_episodes :]
        if len(episodes) < 2:
            return {}
        learned, true, spreads = [], [], []
        for ep in episodes:
            mean, spread = self.pref_model.reward(ep.state[:-1], ep.action)
            learned.append(float(mean.sum()))
            spreads.append(float(spread.mean()))
            true.append(float(np.nansum(ep.reward)))
        corr = float("nan")
        if np.ptp(learned) > 0 and np.ptp(true) > 0:
            corr = float(spearmanr(learned, true).statistic)
        now = {
            "true_corr": corr,
            "spread": float(np.mean(spreads)),
            "learned_return": float(np.mean(learned)),
            "true_return": float(np.mean(true)),
        }
        before = self.state.diagnostic
        if before and self.labels_used() > 0:
            exploiting = (
                now["learned_return"] > before["learned_return"]
                and now["true_return"] < before["true_return"]
            )
            self.state.exploit_streak = self.state.exploit_streak + 1 if exploiting else 0
            if self.state.exploit_streak == cfg.exploit_rounds:
                msg = (
                    f"env step {self.num_timesteps}: the learned return rose while the true "
                    f"return fell for {cfg.exploit_rounds} rounds in a row (learned "
                    f"{now['learned_return']:.1f}, true {now['true_return']:.1f}): the policy "
                    "may exploit the learned reward (more labels, a larger pebble.conservative_k)"
                )
                self.state.warnings.append(msg)
                print(f"robopref train: warning: {msg}", file=sys.stderr, flush=True)
        self.state.diagnostic = now
        return now

    def _answer(self) -> None:
        if not self.teachers:  # a person labels in the UI; wait a little if asked to
            deadline = time.monotonic() + self.config.pebble.human_wait_s
            while time.monotonic() < deadline and self.store.counts().queued:
                time.sleep(0.2)
            return
        recent = list(self.pool)[-10:]
        signal = self.signal(recent[-1])
        returns = [segment_rewards(ep, 0, ep.length, signal).sum() for ep in recent]
        mean_len = int(round(np.mean([ep.length for ep in recent])))
        seg = min(self.config.pebble.segment_length, mean_len)
        margin = segment_margin(returns, seg, max(seg, mean_len))
        for teacher in self.teachers:
            answer_queries(
                self.store,
                self.episode_store,
                teacher.with_margin(margin),
                self.rngs["teacher"],
                signal=signal,
            )

    #: SURF keeps every unlabelled pair; the newest this many bound the memory (about 60
    #: MB for dm_control's walker at 50 steps a segment).
    MAX_UNLABELED = 5000

    def _add_unlabeled(self, pool: SegmentPool, count: int) -> None:
        """SURF: draws ``count`` uniform pairs of the round's pool for pseudo-labelling."""
        pairs = draw_pairs(len(pool), count, self.rngs["selector"])
        new = pool.batch(pairs[:, 0], pairs[:, 1])
        old = self.unlabeled
        if old is not None:
            # field by field; a field None in the batches (no actions) stays None
            new = type(new)(
                *cast(
                    Any,
                    (
                        np.concatenate([o, n])[-self.MAX_UNLABELED :] if n is not None else None
                        for o, n in zip(old, new)
                    ),
                )
            )
        self.unlabeled = new

    def _new_labels(self) -> bool:
        return self.labels_used() != self.state.last_fit.get("labels", -1)

    def refit(self) -> dict[str, float]:
        """Fits the ensemble on every label so far; relabels the replay buffer."""
        everything = self.store.labels()
        labels = [lab for lab in everything if lab.label != "skip"]
        ids = {s.episode_id for lab in labels for s in (lab.seg_a, lab.seg_b)}
        episodes = {i: self.episode_store.load(i) for i in ids}
        batch = batch_from_labels(labels, episodes)
        cfg = self.config.pebble
        if cfg.reward_annotator_model in ("calibrated", "calibrated-beta"):
            # Refit the annotators' models on every label so far, then weigh each label by
            # its annotator's mistake rate (issue 18). Gold and agreement are the evidence;
            # no privileged gap, so a person is judged as on a real robot (beta comes only
            # from gold pairs that carry their gap).
            calibration = calibrate(everything, self.store.gold())
            noise, weight = label_noise(calibration, labels)
            batch = batch._replace(noise=noise, weight=weight)
            if cfg.reward_annotator_model == "calibrated-beta":
                batch = batch._replace(temperature=label_temperature(calibration, labels))
            self.calibration = calibration
            self._record_calibration(calibration, labels, noise, weight)
        with torch_threads(cfg.refit_threads or usable_cores()):
            metrics = self.pref_model.train(
                batch,
                epochs=cfg.reward.epochs,
                rng=self.rngs["refit"],
                stop_accuracy=cfg.reward_stop_accuracy if cfg.reward_stop_accuracy < 1 else None,
                crop=cfg.crop,
                unlabeled=self.unlabeled if cfg.pseudo_ratio else None,
                pseudo_threshold=cfg.pseudo_threshold,
                pseudo_weight=cfg.pseudo_weight,
            )
        self.pref_model.save(self.run.reward / "pref.pt")
        self.step_reward.update(self.pref_model)
        self.state.refits += 1
        self.state.last_fit = {
            "labels": float(len(labels)),
            "accuracy": float(metrics["pref_model/accuracy"]),
            "loss": float(metrics["pref_model/loss"]),
        }
        self.relabel()
        return metrics

    def _record_calibration(self, calibration, labels, noise, weight) -> None:
        """Appends the refit's annotator fits and the label noise it used to
        ``reward/calibration.jsonl`` (one line per calibrated refit), so a run shows whom it
        trusted how much, and when."""
        used: dict[str, dict[str, float]] = {}
        for lab, n, w in zip(labels, noise.tolist(), weight.tolist()):
            row = used.setdefault(lab.annotator, {"labels": 0, "noise": n, "weight": w})
            row["labels"] += 1
        line = {
            "refit": self.state.refits + 1,
            "env_steps": int(self.num_timesteps),
            "labels": len(labels),
            "gold": len(self.store.gold()),
            "fits": calibration.lines(),
            "label_noise": used,
        }
        with open(self.run.reward / "calibration.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")

    def relabel(self) -> int:
        """Recomputes every stored reward with the current reward model (off-policy only)."""
        buffer = getattr(self.model, "replay_buffer", None)
        if buffer is None or not hasattr(buffer, "relabel"):
            return 0

        k = conservative_k(self.config)

        def pref(states, actions):
            mean, spread = self.pref_model.reward(states, actions)
            return mean - k * spread if k else mean

        return buffer.relabel(pref, self.composite.task_weight, self.composite.pref_weight)

    def _finish_unsup(self) -> None:
        if self.state.unsup_done:
            return
        buffer = getattr(self.model, "replay_buffer", None)
        if buffer is not None:  # stored rewards were never changed, only sampled ones
            buffer.sample_reward = None
        if self.config.pebble.reset_critic:
            reset_critic(self.model)
        self.state.unsup_done = True

    # ------------------------------------------------------------------ metrics
    def metrics_row(self) -> dict[str, Any]:
        recent = list(self.recent)

        def mean(key: str) -> float:
            return float(np.mean([r[key] for r in recent])) if recent else float("nan")

        elapsed = time.perf_counter() - self._t0
        return {
            "env_steps": self.num_timesteps,
            "episodes": self.composite.episodes,
            "labels_used": self.labels_used(),
            "queries": self.state.queries,
            "rounds": self.state.rounds,
            "true_return": mean("true_return"),
            "success_rate": mean("success"),
            # Solved by the policy alone: an episode the expert took over in counts as a
            # failure, so corrections cannot make training success look like the policy's
            # own (with interventions, success_rate counts the rescued episodes).
            "unassisted_success_rate": (
                float(np.mean([r["success"] * (1.0 - r["assisted"]) for r in recent]))
                if recent
                else float("nan")
            ),
            **{f"reward/{k}": mean(f"reward/{k}") for k in ("task", "pref", "shaping", "total")},
            "pref_model/accuracy": self.state.last_fit.get("accuracy", float("nan")),
            "pref_model/loss": self.state.last_fit.get("loss", float("nan")),
            "reward/true_corr": self.state.diagnostic.get("true_corr", float("nan")),
            "reward/spread": self.state.diagnostic.get("spread", float("nan")),
            "intervention_steps": self.state.intervention_steps,
            "steps_per_s": (self.num_timesteps - self._steps_at_t0) / max(elapsed, 1e-9),
            "wall_s": self.state.wall_s + elapsed,
        }

    def log_metrics(self) -> dict[str, Any]:
        row = self.metrics_row()
        append_metrics_row(self.run.metrics, row, self.metric_fields)
        for key, value in row.items():
            if key != "env_steps" and isinstance(value, int | float) and math.isfinite(value):
                self.logger.record(f"robopref/{key}", value)
        self.logger.dump(self.num_timesteps)
        return row


def usable_cores() -> int:
    """Cores this process may run on (its affinity, e.g. under ``taskset``)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op threads set to ``n`` inside the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def teacher_signal(signal: str, episode: Episode) -> str:
    """``teacher.signal`` resolved for ``episode``: ``auto`` is ``progress`` on tasks whose
    progress is a potential (the Panda tasks: how much of the task is done, so a segment's
    gain is what it achieved; their task reward is sparse) and ``reward`` elsewhere.

    dm_control's ``progress`` is the step's own reward (`sim.dmc`), not a potential: its
    gain over a segment says whether the reward rose within it, not how much was earned. A
    teacher judging by it agreed with the true segment return on 50% of 336 walker-walk
    labels, chance level; dm_control's dense reward is what B-Pref's oracle compares.
    """
    if signal != "auto":
        return signal
    dense = str(episode.metadata.get("task", "")).startswith(sim.DMC_PREFIX)
    return "reward" if dense or episode.progress is None else "progress"


def reset_critic(model) -> None:
    """Re-initializes SAC's critic and its target (PEBBLE's ``reset_critic``)."""
    if hasattr(getattr(model, "policy", None), "qf_state"):  # SBX (JAX): rlpd
        from robopref.rl.rlpd import reset_jax_critic

        reset_jax_critic(model)
        return
    critic = getattr(model, "critic", None)
    if critic is None:
        return
    for module in critic.modules():
        if hasattr(module, "reset_parameters") and module is not critic:
            module.reset_parameters()
    model.critic_target.load_state_dict(critic.state_dict())
    critic.optimizer = type(critic.optimizer)(critic.parameters(), **critic.optimizer.defaults)


def _csv_header(path: Path) -> list[str] | None:
    if not path.exists():
        return None
    with open(path, newline="") as f:
        return next(csv.reader(f), None)


def append_metrics_row(path: Path, row: dict[str, Any], fields: tuple[str, ...]) -> None:
    """Appends ``row`` to the CSV at ``path`` with columns ``fields``, writing the header
    first; a file with other columns is rewritten with the union (old rows blank there), so
    a run resumed by a version that logs more columns keeps one consistent file."""
    header = _csv_header(path)
    if header is not None:
        missing = [k for k in fields if k not in header]
        if missing:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            header = [*header, *missing]
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=header)
                writer.writeheader()
                writer.writerows(rows)
        fields = tuple(header)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if header is None:
            writer.writeheader()
        writer.writerow(row)


def trim_metrics(run: RunPaths, env_steps: int) -> None:
    """Drops metric rows past ``env_steps`` (a resumed run rewrites them), keeping the
    file's own columns (a callback may log more than `METRIC_FIELDS`)."""
    header = _csv_header(run.metrics)
    if header is None:
        return
    with open(run.metrics, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(float(r["env_steps"])) <= env_steps]
    with open(run.metrics, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
