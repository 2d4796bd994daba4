"""Compare reward functions on recorded episodes with the EPIC distance.

A reward is named by a spec: ``sparse`` (the task's own reward, 1 on the step that succeeds),
``progress`` (privileged sim progress of the next state used directly as the reward: the
"semantic trap" that potential shaping avoids), or the path of a saved model: a process
reward model (its potential of the next state, ``Phi(s')``, as a reward; a multi-task one
with no task chosen is conditioned on the episodes' task) or a preference
reward model (its ensemble mean ``r(s, a)``).

The EPIC machinery (`robopref.rewards.diagnostics`) needs rewards of arbitrary
``(s, a, s')`` combinations of sampled states and actions. Image-based models cannot be
evaluated on made-up states, so here a "state" is the *index* of a recorded observation
and an "action" the index of a recorded action, and each reward is tabulated once per
observation (and per sampled action): the mesh of the canonicalization is then lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robopref.data import Episode
from robopref.rewards.diagnostics import epic_distance

BUILTIN = ("sparse", "progress")


class _Table:
    """Every observation and action of ``episodes``, indexed as EPIC states and actions."""

    def __init__(self, episodes: Sequence[Episode], n_sample_actions: int, rng):
        if not episodes:
            raise ValueError("no episodes to compare rewards on")
        self.episodes = list(episodes)
        rows, trans = [], []
        offset = 0
        for ep in self.episodes:
            rows.append(ep.length + 1)
            trans.append(offset + np.arange(ep.length))
            offset += ep.length + 1
        self.s = np.concatenate(trans)
        self.s2 = self.s + 1
        self.state = np.concatenate([ep.state for ep in self.episodes])
        self.success = np.concatenate(
            [np.concatenate([[False], ep.success]) for ep in self.episodes]
        )
        self.progress = None
        if all(ep.progress is not None for ep in self.episodes):
            self.progress = np.concatenate([ep.progress for ep in self.episodes])
        acts = np.concatenate([ep.action for ep in self.episodes])
        k = min(n_sample_actions, len(acts))
        # Action index space: [0, k) sampled actions (the mesh), [k, k + n) transition actions.
        self.actions = np.concatenate([acts[rng.choice(len(acts), k, replace=False)], acts])
        self.k = k
        self.a = k + np.arange(len(acts))

    def frames(self) -> dict[str, np.ndarray]:
        views = set.intersection(*(set(ep.frames) for ep in self.episodes))
        return {v: np.concatenate([ep.frames[v] for ep in self.episodes]) for v in sorted(views)}


def _next_state_reward(name: str, per_obs: np.ndarray) -> Callable[..., np.ndarray]:
    def fn(s, a, s2):
        return per_obs[s2[:, 0].astype(np.int64)]

    fn.__name__ = name
    return fn


def reward_fn(spec: str, table: _Table) -> Callable[..., np.ndarray]:
    """The EPIC reward function of a spec on ``table``'s index space.

    Raises:
        ValueError: for an unknown spec, or ``progress`` on episodes without progress.
        ModelFormatError: for a model file that is neither a PRM nor a preference model.
    """
    if spec == "sparse":
        return _next_state_reward("sparse", table.success.astype(np.float64))
    if spec == "progress":
        if table.progress is None:
            raise ValueError("reward 'progress' needs episodes with privileged progress")
        return _next_state_reward("progress", table.progress.astype(np.float64))
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"reward {spec!r}: not one of {list(BUILTIN)} nor a model file")
    from robopref.rewards.model_file import ModelFormatError
    from robopref.rewards.preference import PreferenceRewardModel
    from robopref.rewards.prm import ProcessRewardModel

    try:
        prm = ProcessRewardModel.load(path)
    except ModelFormatError:
        prm = None
    if prm is not None:
        if prm.tasks and not prm.task:
            # A multi-task PRM saved with no task chosen: condition it on the episodes' task.
            found = sorted({str(ep.metadata.get("task")) for ep in table.episodes})
            if len(found) != 1:
                raise ValueError(
                    f"reward {spec!r}: a multi-task PRM with no task chosen, on episodes of "
                    f"tasks {found}: compare episodes of one of its tasks {list(prm.tasks)}"
                )
            prm.for_task(found[0])
        return _next_state_reward(f"prm:{path.name}", prm.potential_batch(table.frames()))
    model = PreferenceRewardModel.load(path)  # raises ModelFormatError naming the file
    obs_rows = table.state
    uses_act = model.config.input == "state_action"
    # Sampled actions at every observation, and each transition's own action at its state.
    mesh = np.empty((len(obs_rows), table.k))
    for j in range(table.k):
        act = np.repeat(table.actions[j][None], len(obs_rows), 0) if uses_act else None
        mesh[:, j] = model.reward(obs_rows, act)[0]
    own = model.reward(obs_rows[table.s], table.actions[table.a] if uses_act else None)[0]

    def fn(s, a, s2):
        s, a = s[:, 0].astype(np.int64), a[:, 0].astype(np.int64)
        out = np.empty(len(s))
        sampled = a < table.k
        out[sampled] = mesh[s[sampled], a[sampled]]
        out[~sampled] = own[a[~sampled] - table.k]  # a transition action: only at its own s
        return out

    fn.__name__ = f"pref:{path.name}"
    return fn


def compare_rewards(
    spec_a: str,
    spec_b: str,
    episodes: Sequence[Episode],
    *,
    gamma: float = 0.99,
    sample_states: int = 256,
    sample_actions: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    """EPIC distance between two reward specs on the transitions of ``episodes``."""
    rng = np.random.default_rng(seed)
    table = _Table(episodes, sample_actions, rng)
    fa, fb = reward_fn(spec_a, table), reward_fn(spec_b, table)
    n_obs = len(table.state)
    ss = rng.choice(n_obs, min(sample_states, n_obs), replace=False)
    d = epic_distance(
        fa,
        fb,
        table.s[:, None].astype(np.float64),
        table.a[:, None].astype(np.float64),
        table.s2[:, None].astype(np.float64),
        gamma,
        ss[:, None].astype(np.float64),
        np.arange(table.k)[:, None].astype(np.float64),
    )
    return {
        "a": spec_a,
        "b": spec_b,
        "epic": d,
        "gamma": gamma,
        "transitions": len(table.s),
        "episodes": len(table.episodes),
    }


def potential_return_report(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Summary figures of a potential's return against the task along some episodes.

    The reward-hacking check of issue 14: a potential that a policy can exploit gives its
    failed episodes returns as high as its successful ones, and ranks episodes unlike the
    true return.

    Args:
        rows: One mapping per episode with ``prm_return`` (the potential summed over the
            episode's steps), ``true_return`` (the task's return) and ``success``.

    Returns:
        ``episodes``, ``success_rate``, ``true_return`` and ``prm_return`` (means),
        ``prm_return_success`` and ``prm_return_failure`` (the mean over successful and
        over failed episodes; None where there are none) and ``spearman_prm_true`` (rank
        correlation of the two returns over the episodes; None where either is constant).

    Raises:
        ValueError: for no rows, or a row that lacks one of the three keys.
    """
    if not rows:
        raise ValueError("no episodes to report on")
    need = ("prm_return", "true_return", "success")
    for i, r in enumerate(rows):
        missing = [k for k in need if k not in r]
        if missing:
            raise ValueError(f"episode row {i} lacks {missing}")
    prm = np.array([float(r["prm_return"]) for r in rows])
    true = np.array([float(r["true_return"]) for r in rows])
    success = np.array([bool(r["success"]) for r in rows])

    def mean_or_none(x: np.ndarray) -> float | None:
        return float(np.mean(x)) if len(x) else None

    rho = None
    if np.ptp(prm) > 0 and np.ptp(true) > 0:
        from scipy import stats

        rho = float(stats.spearmanr(prm, true).statistic)
    return {
        "episodes": len(rows),
        "success_rate": float(np.mean(success)),
        "true_return": float(np.mean(true)),
        "prm_return": float(np.mean(prm)),
        "prm_return_success": mean_or_none(prm[success]),
        "prm_return_failure": mean_or_none(prm[~success]),
        "spearman_prm_true": rho,
    }
