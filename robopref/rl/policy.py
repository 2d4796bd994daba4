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
    """The deterministic policy of a saved SB3 model.

    Args:
        model: A loaded SB3 model whose observation space is a ``Dict``.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.keys = tuple(model.observation_space.spaces)

    def __call__(self, obs: dict) -> np.ndarray:
        missing = [k for k in self.keys if k not in obs]
        if missing:
            raise KeyError(f"observation lacks {missing}; the policy needs {list(self.keys)}")
        action, _ = self.model.predict({k: obs[k] for k in self.keys}, deterministic=True)
        return np.asarray(action, dtype=np.float32)


def load_run_policy(
    run_dir: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None
) -> RunPolicy:
    """The policy of a run's latest checkpoint (or of ``checkpoint``), on the CPU.

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
    return RunPolicy(model)
