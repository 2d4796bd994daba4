"""``robopref export --policy RUN``: a state-based run's deterministic actor as an evaluator blob.

The bridge then runs the policy in the C evaluator (``robopref bridge --policy-blob``), with
neither torch, SB3 nor JAX (DESIGN.md: deployment needs no learner). What goes into the
blob's policy section (`robopref.evaluator.heads.check_policy_head`) is what each learner's
``predict(obs, deterministic=True)`` computes:

* **sac** (SB3, torch): the ``latent_pi`` MLP and the ``mu`` layer, ``tanh``, then SB3's
  ``unscale_action`` to the action space's bounds;
* **ppo** (SB3, torch): the ``mlp_extractor.policy_net`` MLP and ``action_net`` (the
  Gaussian's mean, its mode), clipped to the bounds, as ``predict`` does;
* **rlpd** (SBX, JAX): the squashed Gaussian actor's hidden layers and mean head
  (`robopref.rl.rlpd.actor_arrays`; its log-std head is not needed for the mode), with the
  observation normalization when the run has it (``obs_rms``: mean, ``max(std, MIN_STD)``,
  clipped to ``+-CLIP_OBS``), ``tanh`` and ``unscale_action``.

Only state-based policies fit: the observation must be the ``state`` vector alone, flattened
as is (SB3's ``CombinedExtractor`` / ``FlattenExtractor`` of one Box). A pixel policy keeps
the torch path (``robopref bridge --run``): its CNN encoder is not part of the blob format.
The state's layout (`sim.state.state_layout`: the arm, the mode and the fields) and the task go
with the policy, so the bridge refuses it on a robot whose state differs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["export_run_policy", "policy_head", "run_layout"]

PIXELS_HINT = "pixel policies keep the torch path: `robopref bridge --run RUN`"
#: Prefixes of the simulator's task names and the arm (kinematic model) their state describes.
SIM_ARMS = {"panda-": ("panda", 7)}


def _state_dim(model: Any) -> int:
    """The state size of a model whose observation is the ``state`` vector alone."""
    space = model.observation_space
    spaces = getattr(space, "spaces", None)
    if spaces is not None:
        if set(spaces) != {"state"}:
            raise ValueError(
                f"the policy observes {sorted(spaces)}, not the state alone; {PIXELS_HINT}"
            )
        space = spaces["state"]
    shape = tuple(getattr(space, "shape", None) or ())
    if len(shape) != 1:
        raise ValueError(f"the policy's state has shape {shape}, not a vector; {PIXELS_HINT}")
    return int(shape[0])


def _check_flatten(extractor: Any) -> None:
    """Refuses a torch features extractor that is more than a flatten of the state."""
    from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor
    from torch import nn

    subs = list(extractor.extractors.values()) if isinstance(extractor, CombinedExtractor) else []
    if not isinstance(extractor, FlattenExtractor) and not (
        subs and all(isinstance(m, nn.Flatten) for m in subs)
    ):
        raise ValueError(
            f"the policy's features extractor {type(extractor).__name__} is not a flatten of "
            f"the state; {PIXELS_HINT}"
        )


def _torch_activation(module: Any) -> str:
    from torch import nn

    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.Tanh):
        return "tanh"
    # The C kernels' leaky ReLU has torch's default slope, 0.01.
    if isinstance(module, nn.LeakyReLU) and module.negative_slope == 0.01:
        return "leaky_relu"
    raise ValueError(f"the policy uses activation {module!r}; exportable: ReLU, Tanh, LeakyReLU")


def _torch_mlp(hidden: Any, last: Any) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """``(weights (in, out), biases, activation)`` of ``Linear, act, ..., Linear`` + ``last``."""
    from torch import nn

    modules = [*hidden, last]
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    acts = {_torch_activation(m) for m in modules if not isinstance(m, nn.Linear)}
    if len(acts) > 1 or len(modules) != 2 * len(linears) - 1:
        raise ValueError(f"the policy's network is not an MLP of one activation: {modules}")
    weights = [m.weight.detach().cpu().numpy().T.copy() for m in linears]
    biases = [m.bias.detach().cpu().numpy().copy() for m in linears]
    return weights, biases, acts.pop() if acts else "relu"


def _sac_arrays(model: Any) -> dict[str, Any]:
    actor = model.policy.actor
    if getattr(actor, "use_sde", False):
        raise ValueError("a SAC policy with gSDE is not exportable (its mode is another map)")
    _check_flatten(actor.features_extractor)
    weights, biases, act = _torch_mlp(actor.latent_pi, actor.mu)
    return {"weights": weights, "biases": biases, "activation": act, "output": "tanh"}


def _ppo_arrays(model: Any) -> dict[str, Any]:
    from stable_baselines3.common.distributions import DiagGaussianDistribution

    policy = model.policy
    if policy.squash_output or not isinstance(policy.action_dist, DiagGaussianDistribution):
        raise ValueError(
            f"a PPO policy with {type(policy.action_dist).__name__} (squashed: "
            f"{policy.squash_output}) is not exportable; a diagonal Gaussian is"
        )
    _check_flatten(getattr(policy, "pi_features_extractor", policy.features_extractor))
    weights, biases, act = _torch_mlp(policy.mlp_extractor.policy_net, policy.action_net)
    return {"weights": weights, "biases": biases, "activation": act, "output": "clip"}


def _jax_activation(fn: Any) -> str | None:
    """The name of a JAX activation, told by its values: a saved model's ``relu`` comes back
    from the pickle as a copy, not as ``jax.nn.relu`` itself."""
    probe = np.array([-3.0, -0.5, 0.0, 0.25, 2.0], np.float32)
    got = np.asarray(fn(probe), np.float32)
    known = {
        "relu": np.maximum(probe, 0),
        "tanh": np.tanh(probe),
        "leaky_relu": np.where(probe > 0, probe, 0.01 * probe),
    }
    return next((k for k, v in known.items() if np.allclose(got, v, rtol=0, atol=1e-6)), None)


def _rlpd_arrays(model: Any) -> dict[str, Any]:
    from sbx.common.policies import SquashedGaussianActor

    from robopref.rl.rlpd import CLIP_OBS, MIN_STD, actor_arrays

    policy = model.policy
    act = _jax_activation(policy.actor.activation_fn)
    # SBX's squashed Gaussian MLP (flax ``Dense_0..``: hidden layers, mean, log-std), as
    # `robopref.rl.rlpd.numpy_action` runs it; another actor class (Simba's residual
    # blocks) is not what the blob holds.
    if type(policy.actor) is not SquashedGaussianActor or act is None:
        raise ValueError(
            f"the rlpd actor {type(policy.actor).__name__} ({policy.actor.activation_fn}) is "
            "not a squashed Gaussian MLP with ReLU, tanh or leaky ReLU"
        )
    layers = actor_arrays(policy.actor_state)[:-1]  # the log-std head plays no part in the mode
    arrays: dict[str, Any] = {
        "weights": [np.asarray(k, np.float32) for k, _ in layers],
        "biases": [np.asarray(b, np.float32) for _, b in layers],
        "activation": act,
        "output": "tanh",
    }
    rms = policy.obs_rms
    if rms is not None:  # `RLPDPolicy.normalize`, kept in float64 as it computes it
        arrays["obs_mean"] = np.asarray(rms.mean, np.float64)
        arrays["obs_std"] = np.maximum(np.sqrt(np.asarray(rms.var, np.float64)), MIN_STD)
        arrays["obs_clip"] = float(CLIP_OBS)
    return arrays


_ARRAYS = {"sac": _sac_arrays, "ppo": _ppo_arrays, "rlpd": _rlpd_arrays}


def policy_head(model: Any, algo: str, task: str, layout: str, robot: str) -> dict[str, Any]:
    """The checked policy head of a loaded learner (``sac``, ``ppo`` or ``rlpd``).

    Args:
        model: The SB3 / SBX model.
        algo: Its learner name.
        task: The task it was trained on.
        layout: Its state's layout (`run_layout`).
        robot: The arm its state describes ("" for none).

    Raises:
        ValueError: an unknown learner, a policy that is not state-based, or an actor the
            blob cannot hold (the message says which part).
    """
    if algo not in _ARRAYS:
        raise ValueError(f"unknown learner {algo!r}; exportable: {sorted(_ARRAYS)}")
    obs_dim = _state_dim(model)
    space = model.action_space
    head = {
        "algo": algo,
        "task": task,
        "robot": robot,
        "layout": layout,
        "obs_mean": np.zeros(obs_dim),
        "obs_std": np.ones(obs_dim),
        "obs_clip": 0.0,
        "action_low": np.asarray(space.low, np.float32),
        "action_high": np.asarray(space.high, np.float32),
        **_ARRAYS[algo](model),
    }
    from robopref.evaluator.heads import check_policy_head

    return check_policy_head(head)


def run_layout(task: str, state_mode: str | None, obs_dim: int) -> tuple[str, str]:
    """``(layout, robot)`` of a run's state: `sim.state.state_layout` for a simulated arm's task
    (its mode from the run's ``env.state``; where a run does not say, the mode whose size is
    ``obs_dim``), else the task's own state (``robot`` "").

    Raises:
        ValueError: when the layout's size is not ``obs_dim``.
    """
    from sim.state import STATE_MODES, state_dim, state_layout

    for prefix, (robot, n_arm) in SIM_ARMS.items():
        if not task.startswith(prefix):
            continue
        sizes = {m: state_dim(m, n_arm) for m in STATE_MODES}
        modes = [state_mode] if state_mode else [m for m in STATE_MODES if sizes[m] == obs_dim]
        if not modes or modes[0] not in sizes or sizes[modes[0]] != obs_dim:
            raise ValueError(
                f"the policy takes a state of {obs_dim} values; a {task} state has "
                f"{sizes} values by mode (run's env.state: {state_mode!r})"
            )
        return state_layout(modes[0], robot, n_arm), robot
    return f"{task} state[{obs_dim}]", ""


def export_run_policy(
    run_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None = None,
) -> Path:
    """Writes the deterministic actor of a run's latest checkpoint (or ``checkpoint``) to a
    ``.rpe`` blob, atomically.

    Raises:
        robopref.runs.RunDirError: no run, config or checkpoint.
        ValueError: a pixel policy, a run that names no task, or an actor the blob cannot
            hold.
    """
    from robopref.evaluator import export_blob
    from robopref.rl.policy import load_run_policy
    from robopref.runs import RunPaths

    run = RunPaths.of(run_dir)
    config = run.read_config()
    learner = config.get("learner", {})
    if learner.get("policy_input", "state") != "state":
        raise ValueError(f"run {run.root} has a {learner['policy_input']} policy; {PIXELS_HINT}")
    task = run.task()
    model = load_run_policy(run_dir, checkpoint).model
    layout, robot = run_layout(task, config.get("env", {}).get("state"), _state_dim(model))
    algo = str(learner.get("algo", "sac"))
    return export_blob(out_path, policy=policy_head(model, algo, task, layout, robot))
