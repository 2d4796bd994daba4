"""SB3's Dict replay buffer, with what relabelling needs kept beside each transition.

PEBBLE relabels the whole replay buffer with the new preference reward after every refit.
The reward a transition was stored with mixes terms that change (the preference reward) with
terms that do not (task reward, PRM/VLM shaping, computed once from frames the buffer does
not keep, and a correction's penalty, `robopref.rl.interventions`: all but the task reward
sit in ``shaping``), so the buffer keeps the fixed terms and the state the preference model
reads, and `relabel` rebuilds ``rewards`` from them. During PEBBLE's unsupervised pre-training,
``sample_reward`` replaces the rewards of each sampled minibatch (the state-entropy reward
must be computed against the buffer as it is when sampled, not when stored).

Demonstrations (RLPD's offline data) live in a second buffer of the same class,
``demos``, filled once before training and never overwritten by online data; a minibatch
takes ``demo_fraction`` of its transitions from it (RLPD's symmetric sampling: one half).
Relabelling rewrites both, so demonstrations are scored by the same learned reward.

A step that the scripted expert drove (`robopref.rl.interventions`, ``info["intervention"]``)
is stored with the executed action, not the policy's, and copied into ``demos`` while it
has room (HIL-SERL keeps its corrections in both buffers); the scripted demonstrations
themselves are never overwritten.

With ``n_steps`` > 1 a sampled transition carries the n-step return (SB3's
`NStepReplayBuffer`, which takes flat observations only, computed the same way here for
Dict ones): the discounted sum of up to ``n_steps`` stored rewards, the observation and
done flag where they end, and the discount ``gamma ** k`` of the bootstrap (``discounts``).
A chain ends at a termination, a time limit, the newest transition, or a transition whose
successor is not the next row (``chain_end``: the last step of a demonstration, a copied
correction whose next step was not copied); rewards are summed at sampling time, so
relabelling keeps them right.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import cast

import numpy as np
import torch
from stable_baselines3.common.buffers import DictReplayBuffer
from stable_baselines3.common.type_aliases import DictReplayBufferSamples

from robopref.rl.interventions import scaled_action


class RelabelingReplayBuffer(DictReplayBuffer):
    """A `DictReplayBuffer` with per-transition ``pref_state``, ``task`` and ``shaping``.

    Extra keyword ``state_dim``: size of the state the preference model reads.
    """

    def __init__(
        self, *args, state_dim: int = 1, n_steps: int = 1, gamma: float = 0.99, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        if n_steps > 1 and self.n_envs != 1:
            raise ValueError(f"n-step returns need one env per buffer, got n_envs={self.n_envs}")
        self.n_steps, self.gamma = int(n_steps), float(gamma)
        shape = (self.buffer_size, self.n_envs)
        #: True where the next row does not hold this transition's successor.
        self.chain_end = np.zeros(shape, dtype=bool)
        self._copied_row: int | None = None  # the online row last copied into ``demos``
        self.pref_state = np.zeros((*shape, state_dim), dtype=np.float32)
        self.task = np.zeros(shape, dtype=np.float32)
        self.shaping = np.zeros(shape, dtype=np.float32)
        #: ``f(samples) -> rewards (B, 1)`` replacing sampled rewards; None: stored rewards.
        self.sample_reward: Callable | None = None
        #: Demonstrations, sampled apart (`attach_demos`); None: online data only.
        self.demos: RelabelingReplayBuffer | None = None
        self.demo_fraction = 0.0
        #: QPA's hybrid experience replay (`recent`): share and window of recent draws.
        self.recent_fraction, self.recent_steps = 0.0, 1

    def __getstate__(self):
        state = self.__dict__.copy()
        state["sample_reward"] = None  # a closure over the trainer; rebuilt on resume
        return state

    def __setstate__(self, state) -> None:
        # Buffers pickled before n-step returns: one-step, no chain ends.
        state.setdefault("n_steps", 1)
        state.setdefault("gamma", 0.99)
        state.setdefault("_copied_row", None)
        if "chain_end" not in state:
            state["chain_end"] = np.zeros(state["rewards"].shape, dtype=bool)
        self.__dict__.update(state)

    def note(self, state: np.ndarray, task: float, shaping: float) -> None:
        """Records the terms of the transition about to be stored (at ``pos``)."""
        self.pref_state[self.pos, 0] = state
        self.task[self.pos, 0] = task
        self.shaping[self.pos, 0] = shaping

    def size(self) -> int:
        return self.buffer_size if self.full else self.pos

    def add(self, obs, next_obs, action, reward, done, infos) -> None:
        executed = [scaled_action(info, self.action_space) for info in infos]
        if any(a is not None for a in executed):
            action = np.array(action, dtype=np.float32, copy=True)
            for i, a in enumerate(executed):
                if a is not None:
                    action[i] = a
        row = self.pos
        super().add(obs, next_obs, action, reward, done, infos)
        demos = self.demos
        if executed[0] is not None and demos is not None and not demos.full:
            # `demo_buffer` made room for the intervention budget; once it is used up,
            # ``full`` keeps the scripted demonstrations from being overwritten.
            if self._copied_row == (row - 1) % self.buffer_size and demos.pos > 0:
                demos.chain_end[demos.pos - 1] = False  # this copy continues the last one
            demos.note(self.pref_state[row, 0], self.task[row, 0], self.shaping[row, 0])
            demos.chain_end[demos.pos] = True
            DictReplayBuffer.add(demos, obs, next_obs, action, reward, done, infos)
            self._copied_row = row
        else:
            self._copied_row = None

    def attach_demos(self, demos: RelabelingReplayBuffer, fraction: float) -> None:
        """Samples ``fraction`` of every minibatch from ``demos`` from now on."""
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"demo fraction must be in [0, 1), got {fraction}")
        if demos.size() == 0:
            raise ValueError("the demonstration buffer is empty")
        self.demos, self.demo_fraction = demos, float(fraction)

    def recent(self, fraction: float, steps: int) -> None:
        """Draws ``fraction`` of every minibatch from the last ``steps`` transitions (QPA's
        hybrid experience replay), the rest uniformly (and the demonstrations' share)."""
        if not 0.0 <= fraction < 1.0 or steps < 1:
            raise ValueError(
                f"recent replay: fraction in [0, 1) and steps >= 1, got {fraction}, {steps}"
            )
        self.recent_fraction, self.recent_steps = float(fraction), int(steps)

    def relabel(
        self,
        reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
        task_weight: float,
        pref_weight: float,
        chunk: int = 65536,
    ) -> int:
        """Rewrites every stored reward as ``task_weight*task + pref_weight*pref + shaping``.

        Returns:
            The number of transitions relabelled.
        """
        if self.demos is not None:
            self.demos.relabel(reward_fn, task_weight, pref_weight, chunk)
        n = self.size()
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            reward = task_weight * self.task[s:e, 0] + self.shaping[s:e, 0]
            if reward_fn is not None and pref_weight:
                pref = np.asarray(reward_fn(self.pref_state[s:e, 0], self.actions[s:e, 0]))
                if not np.isfinite(pref).all():
                    raise ValueError(f"the preference reward is not finite on transitions {s}..")
                reward = reward + pref_weight * pref
            self.rewards[s:e, 0] = reward
        return n

    def sample(self, batch_size: int, env=None):
        n_demo = int(round(batch_size * self.demo_fraction)) if self.demos is not None else 0
        # Before the first online transition (learning_starts 0) the demos fill the batch.
        if self.size() == 0 and self.demos is not None:
            n_demo = batch_size
        n_recent = int(round(batch_size * self.recent_fraction)) if self.size() else 0
        n_recent = min(n_recent, batch_size - n_demo)
        n_uniform = batch_size - n_demo - n_recent
        samples = super().sample(n_uniform, env) if n_uniform else None
        if n_recent:
            # The newest transitions sit just before ``pos`` (a ring buffer, one env). The
            # global RNG, as SB3's own sampling: `set_random_seed` seeds both.
            window = min(self.recent_steps, self.size())
            back = np.random.randint(1, window + 1, size=n_recent)  # noqa: NPY002
            recent = self._get_samples((self.pos - back) % self.buffer_size, env=env)
            samples = recent if samples is None else _concat(samples, recent)
        if n_demo:
            assert self.demos is not None  # n_demo > 0 only with demonstrations
            demo = DictReplayBuffer.sample(self.demos, n_demo, env)
            samples = demo if samples is None else _concat(samples, demo)
        if self.sample_reward is None:
            return samples
        # A batch of at least one transition (None only for batch_size 0).
        return cast(DictReplayBufferSamples, samples)._replace(rewards=self.sample_reward(samples))

    # The override SB3's own DictReplayBuffer makes: Dict samples where ReplayBuffer types flat.
    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env=None
    ) -> DictReplayBufferSamples:
        samples = super()._get_samples(batch_inds, env)
        if self.n_steps == 1:
            return samples
        if self.sample_reward is not None:
            raise ValueError("n-step returns cannot sum rewards that sampling replaces")
        n, size = self.n_steps, self.buffer_size
        rows = (batch_inds[:, None] + np.arange(n)[None]) % size  # (batch, n)
        ends = (self.dones[rows, 0] > 0) | (self.timeouts[rows, 0] > 0) | self.chain_end[rows, 0]
        ends |= rows == (self.pos - 1) % size  # the newest transition: no successor yet
        first_end = np.where(ends.any(axis=1), ends.argmax(axis=1), n - 1)
        mask = np.arange(n)[None] <= first_end[:, None]
        powers = self.gamma ** np.arange(n, dtype=np.float32)
        returns = (self.rewards[rows, 0] * powers * mask).sum(axis=1, keepdims=True)
        last = (batch_inds + first_end) % size
        done = self.dones[last, 0] * (1.0 - self.timeouts[last, 0])
        next_obs = cast(
            "dict[str, np.ndarray]",
            self._normalize_obs({k: v[last, 0] for k, v in self.next_observations.items()}, env),
        )
        discounts = self.gamma ** mask.sum(axis=1, keepdims=True)
        return samples._replace(
            next_observations={k: self.to_torch(v) for k, v in next_obs.items()},
            dones=self.to_torch(done[:, None].astype(np.float32)),
            rewards=self.to_torch(returns.astype(np.float32)),
            discounts=self.to_torch(discounts.astype(np.float32)),
        )

    def sample_updates(self, batch_size: int, updates: int, env=None):
        """``updates`` minibatches of ``batch_size`` back to back, each drawn as `sample`
        draws one. SBX's jitted loop slices one big batch into its updates; one `sample` of
        ``batch_size * updates`` would put every demonstration in the last slices, so at
        two updates per env step one update saw online data only and the other
        demonstrations only, not RLPD's half and half."""
        return functools.reduce(_concat, (self.sample(batch_size, env) for _ in range(updates)))


def _concat(a, b):
    """Two Dict minibatches as one (online first, then demonstrations)."""
    return type(a)(
        observations={k: torch.cat([a.observations[k], b.observations[k]]) for k in a.observations},
        actions=torch.cat([a.actions, b.actions]),
        next_observations={
            k: torch.cat([a.next_observations[k], b.next_observations[k]])
            for k in a.next_observations
        },
        dones=torch.cat([a.dones, b.dones]),
        rewards=torch.cat([a.rewards, b.rewards]),
        discounts=_concat_discounts(a.discounts, b.discounts),
    )


def _concat_discounts(a, b):
    if (a is None) != (b is None):
        # One part n-step, the other one-step: its rewards would be bootstrapped wrongly.
        raise ValueError("a minibatch mixes n-step and one-step samples; build both buffers alike")
    return None if a is None else torch.cat([a, b])
