"""The manipulation learner: SAC as RLPD and SERL run it, on SBX's jitted JAX SAC.

RLPD (Ball, Smith, Kostrikov & Levine 2023, "Efficient Online Reinforcement Learning with
Offline Data") and SERL (Luo et al. 2024) solve manipulation tasks from few demonstrations
with four changes to SAC, all kept here:

* **demonstrations in the replay buffer**, sampled symmetrically with online data (half of
  every minibatch; `robopref.rl.buffer.RelabelingReplayBuffer` holds them apart);
* **LayerNorm critics**, which keep the critic from extrapolating wildly to actions the
  demonstrations never took;
* **a critic ensemble with a random subset for the target** (REDQ, Chen et al. 2021): the
  TD target takes the minimum over ``critic_subset`` critics drawn anew for each update
  and the actor maximizes the ensemble mean, which curbs overestimation at a high
  update-to-data ratio;
* **an update-to-data ratio above 1** (``gradient_steps`` per env step).

SBX's SAC (the SB3 API on JAX: the same callbacks, replay buffers, save and load) already
has the ensemble as one vmapped network, LayerNorm and every update of an env step in one
jitted ``fori_loop``; what it lacks is the random target subset and the mean for the actor,
so only `update_critic` and `update_actor` are written here. JAX, not torch: one jitted
update costs about half of torch's on one CPU core (``robopref bench train`` measures both).

Two more things SBX does not do, each measured (README, "Why SAC learned reach slowly" and
"Learner speed"):

* **acting while learning**: an env step's updates are dispatched to XLA asynchronously and
  the next actions are taken with the newest *finished* actor (SERL's actor and learner
  split, one or two updates apart), so the simulator and the update run on two cores at
  once. The acting actor runs in NumPy (`numpy_action`): XLA's CPU client runs
  computations in order, so a jitted actor call, or even a host-to-device copy, queued
  behind the update would wait for the whole update (measured: a 3-element op waited 59 ms
  behind a 60 ms update; reading a finished array back took 0.08 ms). Losses are read back
  only when logged, since reading one waits for the update;
* **observation normalization** as an option (``normalize_obs``: running mean and std of
  the flat observation, as OpenAI's HER normalizer keeps them, std floored at 0.01, clipped
  to +-10; the statistics live in the policy, so a saved run acts the same on the bridge).
  It is off by default: on reach it slowed learning (the inputs drift while the critic
  fits them); the state's own units are chosen instead (`sim.state.RELATIVE_SCALE`).
"""

from __future__ import annotations

import collections
import functools
from typing import TYPE_CHECKING, Any, ClassVar, cast

import flax
import jax
import jax.numpy as jnp
import numpy as np
from sbx import SAC as SbxSAC
from sbx.common.policies import SquashedGaussianActor
from sbx.common.type_aliases import ReplayBufferSamplesNp
from sbx.sac.policies import SACPolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.type_aliases import DictReplayBufferSamples

if TYPE_CHECKING:
    from gymnasium import spaces

    from robopref.rl.buffer import RelabelingReplayBuffer

#: Normalized observations are clipped to this (SB3's VecNormalize default).
CLIP_OBS = 10.0
#: Smallest std an input is divided by (OpenAI HER's normalizer): a feature that hardly
#: varies (a resting cube's orientation) must not turn its float noise into +-10 inputs.
MIN_STD = 0.01
#: Updates between two reads of the losses (each read waits for the update in flight).
LOG_EVERY_UPDATES = 200
#: Env steps' updates dispatched but unfinished after `RLPD.train` returns: the one running
#: while the env steps. The next is queued behind it before waiting, so XLA never idles.
IN_FLIGHT = 1


def actor_arrays(actor_state) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """SBX's squashed-Gaussian actor as host arrays: ``(kernel, bias)`` of each hidden layer,
    then of the mean head and of the log-std head (flax names them ``Dense_0..`` in that
    order). Reading them waits for the update that produced them."""
    params = actor_state.params["params"]
    return tuple(
        (np.asarray(params[f"Dense_{i}"]["kernel"]), np.asarray(params[f"Dense_{i}"]["bias"]))
        for i in range(len(params))
    )


def numpy_action(
    layers: tuple[tuple[np.ndarray, np.ndarray], ...],
    observations: np.ndarray,
    rng: np.random.Generator | None,
    log_std_bounds: tuple[float, float] = (-20.0, 2.0),
) -> np.ndarray:
    """The actions of `SquashedGaussianActor` (ReLU) for ``observations (N, D)`` in [-1, 1]:
    ``tanh(mean)`` with ``rng`` None (its mode), else ``tanh(mean + std * N(0, 1))`` (a
    sample, as SBX draws one). Written out because the jitted actor would queue behind the
    update in flight; for one observation this is a few microseconds of NumPy."""
    x = observations.reshape(len(observations), -1)
    for kernel, bias in layers[:-2]:
        x = np.maximum(x @ kernel + bias, 0.0)
    mean = x @ layers[-2][0] + layers[-2][1]
    if rng is None:
        return np.tanh(mean)
    log_std = np.clip(x @ layers[-1][0] + layers[-1][1], *log_std_bounds)
    noise = rng.standard_normal(mean.shape).astype(mean.dtype)
    return np.tanh(mean + np.exp(log_std) * noise)


class RLPDPolicy(SACPolicy):
    """SBX's SAC policy with the observation statistics and an acting actor.

    ``obs_rms`` (None: no normalization) normalizes every observation the actor sees. While
    learning, actions come from an older, finished actor: ``acting_layers`` (its arrays, run
    by `numpy_action` with ``acting_rng``) or, for an actor `numpy_action` does not cover,
    ``acting_actor_state``. Neither is saved: a loaded policy acts with its newest actor.
    """

    obs_rms: RunningMeanStd | None = None
    acting_actor_state: Any = None
    acting_layers: tuple | None = None
    acting_rng: np.random.Generator | None = None

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        state = dict(state)
        for name in ("acting_actor_state", "acting_layers", "acting_rng"):
            state.pop(name, None)
        return state

    @property
    def numpy_actor(self) -> bool:
        """Whether `numpy_action` computes this policy's actor (SBX's ReLU Gaussian one)."""
        fn = self.actor.activation_fn
        # A loaded model's activation is a cloudpickled copy of jax.nn.relu, not the same
        # object, so the name counts too (else a resumed run acts with the jitted actor,
        # which queues behind the update in flight).
        is_relu = fn in (flax.linen.relu, jax.nn.relu) or getattr(fn, "__name__", "") == "relu"
        return type(self.actor) is SquashedGaussianActor and is_relu

    def normalize(self, flat: np.ndarray) -> np.ndarray:
        if self.obs_rms is None:
            return flat
        z = (flat - self.obs_rms.mean) / np.maximum(np.sqrt(self.obs_rms.var), MIN_STD)
        return np.clip(z, -CLIP_OBS, CLIP_OBS).astype(np.float32)

    def prepare_obs(self, observation):
        flat, vectorized = super().prepare_obs(observation)
        return self.normalize(flat), vectorized

    def _predict(self, observation, deterministic: bool = False):
        if self.acting_layers is not None:
            rng = None if deterministic else self.acting_rng
            return numpy_action(self.acting_layers, np.asarray(observation), rng)
        actor = self.actor_state if self.acting_actor_state is None else self.acting_actor_state
        if deterministic:
            return SACPolicy.select_action(actor, observation)
        self.reset_noise()
        return SACPolicy.sample_action(actor, observation, self.noise_key)


@functools.cache
def _with_subset(subset: int) -> type:
    # The subset size is a class attribute so that SBX's jitted `_train` (whose class
    # argument is static) traces it as a constant: one compiled update per size.
    return type(RLPD.__name__, (RLPD,), {"critic_subset": subset, "__module__": __name__})


class RLPD(SbxSAC):
    """SBX's SAC with a REDQ target subset and the ensemble-mean actor loss.

    Extra keyword ``critic_subset``: critics the TD target takes the minimum of (RLPD: 2).
    The ensemble size, LayerNorm and network sizes go in ``policy_kwargs`` (``n_critics``,
    ``layer_norm``, ``net_arch``) as for SBX's SAC.
    """

    policy: RLPDPolicy  # (`policy_aliases`) SBX's SAC policy with the attributes above
    critic_subset: ClassVar[int] = 2
    #: Weight of the behaviour-cloning term on demonstration rows (0: none); see `_train`.
    bc_weight: float = 0.0
    policy_aliases: ClassVar[dict[str, type]] = {
        "MlpPolicy": RLPDPolicy,
        "MultiInputPolicy": RLPDPolicy,
    }

    def __init__(
        self,
        *args: Any,
        critic_subset: int = 2,
        normalize_obs: bool = True,
        bc_weight: float = 0.0,
        **kwargs: Any,
    ) -> None:
        n_critics = int((kwargs.get("policy_kwargs") or {}).get("n_critics", 2))
        if not 1 <= critic_subset <= n_critics:
            raise ValueError(
                f"critic_subset must be within 1..n_critics ({n_critics}), got {critic_subset}"
            )
        if not (bc_weight >= 0 and np.isfinite(bc_weight)):
            raise ValueError(f"bc_weight must be a finite number >= 0, got {bc_weight}")
        self.__class__ = _with_subset(int(critic_subset))
        self.normalize_obs = normalize_obs
        self.bc_weight = float(bc_weight)
        super().__init__(*args, **kwargs)

    def _setup_model(self) -> None:
        # `load` restores attributes after __init__; the class must follow the saved size.
        self.__class__ = _with_subset(int(self.__dict__.get("critic_subset", 2)))
        self.__dict__["critic_subset"] = self.__class__.critic_subset
        super()._setup_model()
        if self.normalize_obs and self.policy.obs_rms is None:
            self.policy.obs_rms = RunningMeanStd(shape=(self._flat_dim(),))

    def _flat_dim(self) -> int:
        space: Any = self.observation_space  # a Dict space or a flat one
        keys = list(space.spaces) if hasattr(space, "spaces") else [None]
        return int(sum(np.prod((space[k] if k else space).shape) for k in keys))

    def _flatten(self, obs) -> np.ndarray:
        if isinstance(obs, dict):
            keys = list(cast("spaces.Dict", self.observation_space).spaces)
            return np.concatenate([np.asarray(obs[k]).reshape(len(obs[k]), -1) for k in keys], 1)
        return np.asarray(obs).reshape(len(obs), -1)

    def observe(self, observations) -> None:
        """Adds observations (a Dict batch, or flat rows) to the normalization statistics."""
        if self.policy.obs_rms is not None:
            self.policy.obs_rms.update(self._flatten(observations).astype(np.float64))

    def _store_transition(self, replay_buffer, buffer_action, new_obs, reward, dones, infos):
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        self.observe(new_obs)

    def learn(self, *args: Any, **kwargs: Any):
        policy = self.policy
        self._in_flight: collections.deque = collections.deque()
        # Exploration noise from its own generator, drawn from NumPy's global one (which
        # SB3's `set_random_seed` seeds and a checkpoint restores): reproducible per seed.
        policy.acting_rng = np.random.default_rng(np.random.randint(2**31))  # noqa: NPY002
        self._act_with(policy.actor_state)
        try:
            return super().learn(*args, **kwargs)
        finally:
            # Evaluation and saving use the newest actor.
            policy.acting_actor_state = policy.acting_layers = policy.acting_rng = None
            self._in_flight.clear()

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_in_flight"]

    def _act_with(self, actor_state) -> None:
        """Acts with ``actor_state`` from now on (waiting for it if it is still computed)."""
        if self.policy.numpy_actor:
            self.policy.acting_layers = actor_arrays(actor_state)
        else:
            self.policy.acting_actor_state = actor_state

    def train(self, gradient_steps: int, batch_size: int) -> None:
        """SBX's `train` without waiting for it: all ``gradient_steps`` updates in one jitted
        call, dispatched asynchronously; the next actions come from the actor of the update
        before (`IN_FLIGHT`)."""
        assert self.replay_buffer is not None  # made by _setup_model
        if hasattr(self.replay_buffer, "sample_updates"):  # each update its own mix
            data = self.replay_buffer.sample_updates(batch_size, gradient_steps)
        else:
            # a Dict buffer (SB3 types ReplayBuffer.sample's flat samples)
            data = cast(
                DictReplayBufferSamples,
                self.replay_buffer.sample(batch_size * gradient_steps, env=None),
            )
        norm = self.policy.normalize
        obs = norm(self._flatten({k: v.numpy() for k, v in data.observations.items()}))
        next_obs = norm(self._flatten({k: v.numpy() for k, v in data.next_observations.items()}))
        n = obs.shape[0]
        batch = ReplayBufferSamplesNp(
            obs,
            data.actions.numpy(),
            next_obs,
            data.dones.numpy().reshape(n),
            data.rewards.numpy().reshape(n),
            # n-step samples carry their bootstrap's discount (`RelabelingReplayBuffer`).
            np.full((n,), self.gamma, dtype=np.float32)
            if data.discounts is None
            else data.discounts.numpy().reshape(n),
        )
        (
            self.policy.qf_state,
            self.policy.actor_state,
            self.ent_coef_state,
            self.key,
            losses,
        ) = self._train(
            self.tau,
            self.target_entropy,
            gradient_steps,
            batch,
            self.policy_delay,
            (self._n_updates + 1) % self.policy_delay,
            self.policy.qf_state,
            self.policy.actor_state,
            self.ent_coef_state,
            self.key,
            jnp.float32(self.bc_weight),
            jnp.int32(self._demo_rows(batch_size)),
        )
        # Queue this update behind the one running, then wait for that one: its actor acts
        # for the next env step while this update runs.
        in_flight = self.__dict__.setdefault("_in_flight", collections.deque())
        in_flight.append(self.policy.actor_state)
        while len(in_flight) > IN_FLIGHT:
            self._act_with(in_flight.popleft())
        before = self._n_updates
        self._n_updates += gradient_steps
        if before // LOG_EVERY_UPDATES != self._n_updates // LOG_EVERY_UPDATES:
            actor_loss, qf_loss, ent_coef_loss, ent_coef = (float(v) for v in losses)
            self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
            self.logger.record("train/actor_loss", actor_loss)
            self.logger.record("train/critic_loss", qf_loss)
            self.logger.record("train/ent_coef_loss", ent_coef_loss)
            self.logger.record("train/ent_coef", ent_coef)

    def _demo_rows(self, batch_size: int) -> int:
        """Demonstration rows at the end of each update's minibatch (`sample_updates`)."""
        buffer = self.replay_buffer
        if getattr(buffer, "demos", None) is None:
            return 0
        buffer = cast("RelabelingReplayBuffer", buffer)  # the buffer with demonstrations
        if buffer.size() == 0:
            return batch_size
        return int(round(batch_size * buffer.demo_fraction))

    @classmethod
    @functools.partial(
        jax.jit, static_argnames=["cls", "gradient_steps", "policy_delay", "policy_delay_offset"]
    )
    def _train(
        cls,
        tau,
        target_entropy,
        gradient_steps: int,
        data: ReplayBufferSamplesNp,
        policy_delay: int,
        policy_delay_offset: int,
        qf_state,
        actor_state,
        ent_coef_state,
        key,
        bc_weight=0.0,
        demo_rows=0,
    ):
        """SBX's `SAC._train` (every update of an env step in one ``fori_loop``), with the
        actor also given each minibatch's actions and which rows are demonstrations, for
        the behaviour-cloning term. Written out because SBX's loop hands the actor the
        observations only."""
        batch_size = data.observations.shape[0] // gradient_steps
        demo_mask = jnp.arange(batch_size) >= batch_size - demo_rows
        zero = jnp.array(0.0)
        info0 = {"actor_loss": zero, "qf_loss": zero, "ent_coef_loss": zero, "ent_coef": zero}

        def one_update(i, carry):
            actor_state, qf_state, ent_coef_state, key, info = carry

            def rows(x):
                return jax.lax.dynamic_slice_in_dim(x, i * batch_size, batch_size)

            obs, actions = rows(data.observations), rows(data.actions)
            qf_state, (qf_loss, ent_coef), key = cls.update_critic(
                actor_state,
                qf_state,
                ent_coef_state,
                obs,
                actions,
                rows(data.next_observations),
                rows(data.rewards),
                rows(data.dones),
                rows(data.discounts),
                key,
            )
            qf_state = cls.soft_update(tau, qf_state)

            def actor_step(actor_state, ent_coef_state, key):
                actor_state, _, actor_loss, key, entropy = cls.update_actor(
                    actor_state, qf_state, ent_coef_state, obs, key, actions, demo_mask, bc_weight
                )
                ent_coef_state, ent_loss = cls.update_temperature(
                    target_entropy, ent_coef_state, entropy
                )
                return actor_state, ent_coef_state, key, actor_loss, ent_loss

            actor_state, ent_coef_state, key, actor_loss, ent_loss = jax.lax.cond(
                (policy_delay_offset + i) % policy_delay == 0,
                actor_step,
                lambda a, e, k: (a, e, k, info["actor_loss"], info["ent_coef_loss"]),
                actor_state,
                ent_coef_state,
                key,
            )
            info = {
                "actor_loss": actor_loss,
                "qf_loss": qf_loss,
                "ent_coef_loss": ent_loss,
                "ent_coef": ent_coef,
            }
            return actor_state, qf_state, ent_coef_state, key, info

        actor_state, qf_state, ent_coef_state, key, info = jax.lax.fori_loop(
            0, gradient_steps, one_update, (actor_state, qf_state, ent_coef_state, key, info0)
        )
        losses = (info["actor_loss"], info["qf_loss"], info["ent_coef_loss"], info["ent_coef"])
        return qf_state, actor_state, ent_coef_state, key, losses

    @classmethod
    @functools.partial(jax.jit, static_argnames=["cls"])
    def update_critic(
        cls,
        actor_state,
        qf_state,
        ent_coef_state,
        observations,
        actions,
        next_observations,
        rewards,
        dones,
        discounts,
        key,
    ):
        key, noise_key, subset_key, drop_target, drop_current = jax.random.split(key, 5)
        dist = actor_state.apply_fn(actor_state.params, next_observations)
        next_actions = dist.sample(seed=noise_key)
        next_log_prob = dist.log_prob(next_actions)
        alpha = ent_coef_state.apply_fn({"params": ent_coef_state.params})
        next_q = qf_state.apply_fn(
            qf_state.target_params, next_observations, next_actions, rngs={"dropout": drop_target}
        )  # (n_critics, batch, 1)
        pick = jax.random.choice(subset_key, next_q.shape[0], (cls.critic_subset,), replace=False)
        target_q = jnp.min(next_q[pick], axis=0) - alpha * next_log_prob[:, None]
        target_q = rewards[:, None] + (1 - dones[:, None]) * discounts[:, None] * target_q

        def loss(params: flax.core.FrozenDict) -> jax.Array:
            q = qf_state.apply_fn(params, observations, actions, rngs={"dropout": drop_current})
            return 0.5 * ((jax.lax.stop_gradient(target_q) - q) ** 2).mean(axis=1).sum()

        value, grads = jax.value_and_grad(loss)(qf_state.params)
        return qf_state.apply_gradients(grads=grads), (value, alpha), key

    @staticmethod
    @jax.jit
    def update_actor(
        actor_state,
        qf_state,
        ent_coef_state,
        observations,
        key,
        actions=None,
        demo_mask=None,
        bc_weight=0.0,
    ):
        key, drop_key, noise_key = jax.random.split(key, 3)

        def loss(params: flax.core.FrozenDict) -> tuple[jax.Array, jax.Array]:
            dist = actor_state.apply_fn(params, observations)
            a = dist.sample(seed=noise_key)
            log_prob = dist.log_prob(a).reshape(-1, 1)
            q = qf_state.apply_fn(qf_state.params, observations, a, rngs={"dropout": drop_key})
            alpha = ent_coef_state.apply_fn({"params": ent_coef_state.params})
            # The ensemble mean (RLPD, REDQ): a minimum over many critics is too pessimistic.
            q_mean = q.mean(axis=0)
            value = (alpha * log_prob - q_mean).mean()
            if actions is not None:
                # Behaviour cloning on the demonstration rows, scaled by the critics' mean
                # |Q| (at least 1) as TD3+BC scales its Q term (Fujimoto & Gu 2021), so one
                # weight means the same against rewards of any size.
                mse = ((a - actions) ** 2).sum(axis=-1)
                n = jnp.maximum(demo_mask.sum(), 1)
                bc = jnp.where(demo_mask, mse, 0.0).sum() / n
                scale = jax.lax.stop_gradient(jnp.maximum(jnp.abs(q_mean).mean(), 1.0))
                value = value + bc_weight * scale * bc
            return value, -log_prob.mean()

        (value, entropy), grads = jax.value_and_grad(loss, has_aux=True)(actor_state.params)
        return actor_state.apply_gradients(grads=grads), qf_state, value, key, entropy


def reset_jax_critic(model: SbxSAC) -> None:
    """Re-initializes the critics, their targets and optimizer of an SBX model (PEBBLE's
    critic reset); the actor and the entropy coefficient are kept."""
    policy = model.policy
    actor_state = policy.actor_state
    model.key = policy.build(model.key, model.lr_schedule, model.qf_learning_rate)
    policy.actor_state = actor_state
    # SB3 declares ``actor`` a torch module; SBX keeps its flax actor there (as SBX does).
    model.actor = policy.actor  # type: ignore[assignment]


__all__ = ["RLPD", "actor_arrays", "numpy_action", "reset_jax_critic"]
