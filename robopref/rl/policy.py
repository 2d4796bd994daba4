"""A trained policy out of a run directory, as an ``obs -> action`` callable.

Used by ``robopref eval`` and by the hardware bridge (``--run``): both get the exact
observation keys the learner was trained on from the saved model's observation space, so a
policy trained on ``state`` alone is never handed camera frames, or the other way round.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robopref.runs import RunDirError, RunPaths

ALGOS = ("sac", "rlpd", "ppo")


def _algo_class(name: str):
    if name not in ALGOS:
        raise ValueError(f"unknown learner {name!r}; valid: {list(ALGOS)}")
    if name == "rlpd":  # JAX is imported only by runs that use it
        from robopref.rl.rlpd import RLPD

        return RLPD
    import stable_baselines3 as sb3

    return {"sac": sb3.SAC, "ppo": sb3.PPO}[name]


class RunPolicy:
    """A saved SB3 model's policy: its deterministic action (the mean of SAC's squashed
    Gaussian, what training evaluates and the bridge runs), or with ``deterministic=False``
    a sample of the stochastic policy SAC optimizes.

    A stochastic policy's noise is seeded per episode (`reseed`, called by
    `robopref.rl.evaluate.evaluate_episodes` before each one), so an episode still depends
    on its seed alone and Ray workers give a serial run's figures.

    Args:
        model: A loaded SB3 model whose observation space is a ``Dict``.
        deterministic: False: sample actions.
    """

    def __init__(self, model, deterministic: bool = True) -> None:
        self.model = model
        self.keys = tuple(model.observation_space.spaces)
        self.deterministic = bool(deterministic)

    def reseed(self, seed: int) -> None:
        """Seeds a stochastic policy's action noise for the episode of ``seed`` (nothing to do
        for a deterministic one)."""
        if self.deterministic:
            return
        policy = self.model.policy
        if getattr(policy, "numpy_actor", False):  # rlpd: the NumPy actor with its generator
            from robopref.rl.rlpd import actor_arrays

            if policy.acting_layers is None:
                policy.acting_layers = actor_arrays(policy.actor_state)
            policy.acting_rng = np.random.default_rng(seed)
        elif hasattr(policy, "noise_key"):  # another SBX actor: JAX's key
            import jax

            policy.key = jax.random.PRNGKey(seed)
        else:  # SB3 (torch) samples from torch's global generator
            import torch

            torch.manual_seed(seed)

    def __call__(self, obs: dict) -> np.ndarray:
        missing = [k for k in self.keys if k not in obs]
        if missing:
            raise KeyError(f"observation lacks {missing}; the policy needs {list(self.keys)}")
        action, _ = self.model.predict(
            {k: obs[k] for k in self.keys}, deterministic=self.deterministic
        )
        return np.asarray(action, dtype=np.float32)


def load_run_policy(
    run_dir: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    deterministic: bool = True,
) -> RunPolicy:
    """The policy of a run's latest checkpoint (or of ``checkpoint``), on the CPU
    (``deterministic=False``: sampling actions, `RunPolicy`).

    Raises:
        RunDirError: when the run has no config or no checkpoint with a model.
    """
    run = RunPaths.of(run_dir)
    config = run.read_config()
    algo = str(config.get("learner", {}).get("algo", "sac"))
    ckpt = Path(checkpoint) if checkpoint is not None else run.latest_checkpoint()
    if ckpt is None or not (ckpt / "model.zip").is_file():
        raise RunDirError(f"run {run.root} has no checkpoint with a model.zip yet")
    model = _algo_class(algo).load(ckpt / "model.zip", device="cpu")
    return RunPolicy(model, deterministic=deterministic)
