"""``robopref reward compare --policy RUN``: a PRM's return against the task along a policy.

The reward-hacking report of issue 14: a trained run's policy is rolled out as
``robopref eval`` rolls it out (deterministic, fresh seeds, `robopref.rl.evaluate`), with
the PRM's cameras rendered, and every episode gets its PRM return (``sum_t Phi(s_t')`` over
its steps, as the training loop logs it in ``reward/potential_return``), its true return and
its success; `robopref.rewards.compare.potential_return_report` sums them up. A policy that
exploits the PRM shows as failed episodes with PRM returns like successful ones, and as a
weak rank correlation between the two returns. Where the episodes carry the simulator's
privileged progress, the PRM's ranking of the policy's own frames is reported too
(``frame_spearman``, as ``robopref reward eval-prm`` ranks held-out scripted episodes'):
a PRM that ranks scripted episodes well can still misrank the states a learner visits.

The PRM is the run's own (``shaping.prm`` if the run named a file, else the quick PRM it
trained and kept in ``reward/prm.pt``) unless another file is given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from robopref.data import Episode
from robopref.rewards.compare import potential_return_report
from robopref.rl.config import from_dict
from robopref.rl.evaluate import EVAL_SEED, evaluate_episodes
from robopref.rl.policy import load_run_policy
from robopref.runs import RunDirError, RunPaths


def run_prm_path(run: RunPaths, config) -> Path:
    """The PRM file a run trained with.

    Raises:
        RunDirError: when the run had no PRM term, or its PRM file is gone.
    """
    if "prm" not in config.terms:
        raise RunDirError(
            f"run {run.root} was trained without a PRM (reward {config.reward!r}): pass "
            "--prm FILE to score its policy with one"
        )
    path = Path(config.shaping.prm) if config.shaping.prm else run.reward / "prm.pt"
    if not path.is_file():
        raise RunDirError(f"run {run.root}: its PRM {path} is missing; pass --prm FILE")
    return path


def policy_prm_report(
    run_dir: str | os.PathLike[str],
    episodes: int = 10,
    *,
    seed: int = EVAL_SEED,
    backend: str | None = None,
    prm: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Rolls out ``run_dir``'s policy and scores every episode with a PRM.

    Args:
        run_dir: A run directory with a checkpoint.
        episodes: Episodes (seeds ``seed``, ``seed + 1``, ...).
        seed: The first seed (the default is ``robopref eval``'s).
        backend: Simulator to roll out in; None: the run's.
        prm: A PRM file; None: the run's own.

    Returns:
        ``run``, ``task``, ``backend``, ``prm`` (the file), ``shaping_mode``, ``rows`` (per
        episode: ``seed``, ``prm_return``, ``true_return``, ``success``), the figures of
        `potential_return_report`, and ``frame_spearman``: Spearman of the potential against
        the privileged progress label over every frame of the episodes (None without
        progress, e.g. a dm_control task, or when either is constant).

    Raises:
        RunDirError: no run, no checkpoint with a policy, or no PRM (a `ValueError`).
        ValueError: ``episodes`` below 1.
    """
    from scipy.stats import spearmanr

    from robopref.rewards.prm import ProcessRewardModel
    from robopref.rewards.prm_train import progress_labels

    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    run = RunPaths.of(run_dir)
    config = from_dict(run.read_config())
    if backend and backend != config.env.backend:
        config = config.replace(**{"env.backend": backend})
    policy = load_run_policy(run.root)
    prm_path = Path(prm) if prm else run_prm_path(run, config)
    if not prm_path.is_file():
        raise FileNotFoundError(f"--prm {prm_path}: no such file")
    model = ProcessRewardModel.load(prm_path)
    if model.tasks:  # a multi-task PRM scores the run's task (an error if it lacks it)
        model.for_task(config.task)
    rows: list[dict[str, Any]] = []
    potentials: list[np.ndarray] = []
    labels: list[np.ndarray] = []

    def score(ep_seed: int, ep: Episode) -> None:
        phi = model.potential_batch({v: ep.frames[v] for v in model.config.views})
        if ep.progress is not None:
            potentials.append(phi)
            labels.append(progress_labels(ep))
        rows.append(
            {
                "seed": ep_seed,
                "prm_return": float(np.sum(phi[1:])),  # Phi(s') of each step
                "true_return": float(np.nansum(ep.reward)),
                "success": bool(ep.is_success),
            }
        )

    seeds = list(range(seed, seed + episodes))
    evaluate_episodes(config, policy, seeds, cameras=model.config.views, on_episode=score)
    frame_spearman = None
    if labels:
        phi_all, label_all = np.concatenate(potentials), np.concatenate(labels)
        if np.ptp(phi_all) > 0 and np.ptp(label_all) > 0:
            frame_spearman = float(spearmanr(phi_all, label_all).statistic)
    return {
        "run": str(run.root),
        "task": config.task,
        "backend": config.env.backend,
        "prm": str(prm_path),
        "shaping_mode": config.shaping.mode if {"prm", "vlm"} & set(config.terms) else None,
        "rows": rows,
        **potential_return_report(rows),
        "frame_spearman": frame_spearman,
    }


def _fmt(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def report_table(report: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per episode, then the summary figures."""
    lines = [
        f"{report['run']} ({report['task']}, {report['backend']}), PRM {report['prm']}:",
        "",
        "| seed | PRM return | true return | success |",
        "|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['seed']} | {r['prm_return']:.2f} | {r['true_return']:.1f} "
            f"| {'yes' if r['success'] else 'no'} |"
        )
    lines += [
        "",
        f"success rate {report['success_rate']:.2f}, mean true return "
        f"{report['true_return']:.1f}, mean PRM return {report['prm_return']:.2f} (successful "
        f"{_fmt(report['prm_return_success'])}, failed {_fmt(report['prm_return_failure'])}), "
        f"Spearman(PRM return, true return) {_fmt(report['spearman_prm_true'], 3)}; "
        f"Spearman(potential, privileged progress) over the policy's frames "
        f"{_fmt(report.get('frame_spearman'), 3)}",
    ]
    return lines


__all__ = ["policy_prm_report", "report_table", "run_prm_path"]
