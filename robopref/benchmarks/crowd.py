"""Issue 18's crowd benchmark: five scripted teachers of mixed quality label the same queries.

The crowd is B-Pref's teachers (`robopref.preferences.teachers`): an oracle, a stochastic one
(``beta = 1``), two mistake-prone ones (``eps = 0.2`` and ``0.4``) and a skip-prone one. They
answer the same queries on recorded panda-reach episodes (expert, perturbed and random
rollouts), 5% of which are fresh gold pairs (`robopref.preferences.gold.fresh_gold`), through
a real `LabelStore`. Per seed it measures

* **(a) recovery**: `calibrate` per teacher, as ``robopref labels calibrate`` does in sim
  (``--gaps auto``: every query's privileged return gap) and as on a real robot (``--gaps
  off``: gold and agreement only; ``beta`` is then unknown). Goal: ``eps`` within 0.05 and
  ``beta`` within a factor 1.5 (``beta = inf`` counts as recovered when the fit is capped);
* **(b) reward learning**: held-out preference accuracy of the preference reward model
  trained on the crowd's labels with ``annotator_model`` ``none`` (all labels alike) and
  ``calibrated`` (each label's noise its annotator's fitted mistake rate, fitted as PEBBLE's
  refit does: gold and agreement), ``calibrated-beta`` (eps and beta fitted with every
  query's gap, beta a temperature on the logit, `label_temperature`), and on the oracle's
  labels only; and the share of the ``none`` -> oracle gap that ``calibrated`` (and
  ``calibrated-beta``) recovers (goal: at least half).

Recovery is also measured against the flips a rational teacher actually made
(``eps_ok_realized``): 100 answers flipped at 0.4 are within 0.05 of 0.4 only 69% of the time.

The teacher signal is privileged progress scaled so that the median return gap of two random
windows is 1: ``beta = 1`` then means a teacher right 73% of the time at a typical gap
(B-Pref's ``beta`` is on the scale of its reward; progress alone, in [0, 1], would make
``beta = 1`` a coin).

Run ``bench/crowd.sh`` (or ``python -m robopref.benchmarks.crowd --seeds 3``): one JSON line,
and ``bench/results/crowd/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from robopref.preferences.teachers import CROWD

TASK = "panda-reach"
SEGMENT = 5
#: B-Pref's teachers of the issue, the crowd training uses too (``teacher.name=crowd``):
#: ``(preset, overrides)``; true parameters in `TRUE`.
TEACHERS = CROWD
#: ``(beta, eps)`` each teacher answers by (``inf``: perfectly rational).
TRUE = {
    "oracle": (math.inf, 0.0),
    "stochastic": (1.0, 0.0),
    "mistake-0.2": (math.inf, 0.2),
    "mistake-0.4": (math.inf, 0.4),
    "skip": (math.inf, 0.0),
}
EPS_TOL, BETA_FACTOR = 0.05, 1.5


def record(out: Path, seed: int) -> tuple[list, list]:
    """Training and held-out episodes of `TASK` (expert, perturbed, random), cached in ``out``."""
    from robopref.data import EpisodeStore
    from robopref.rollout import record_default_episodes

    sets = []
    for name, s, counts in (("train", seed, (8, 24, 8)), ("test", seed + 1000, (4, 12, 4))):
        d = out / f"{name}-s{seed}"
        if not d.is_dir():
            record_default_episodes(TASK, str(d), seed=s, counts=counts, cameras=())
        sets.append([ep for ep in EpisodeStore(d) if ep.length >= SEGMENT])
    return sets[0], sets[1]


def _window_returns(pool) -> np.ndarray:
    from robopref.preferences import segment_rewards

    out = np.empty(len(pool))
    for i in range(len(pool)):
        episode, start = pool.window(i)
        out[i] = segment_rewards(episode, start, pool.length, "progress").sum()
    return out


def _crowd_labels(store, pool, returns, scale, n_queries, gold_rate, rng) -> None:
    """Adds ``n_queries`` (a ``gold_rate`` share gold) and every teacher's answers to them."""
    from robopref.preferences import QuerySpec, draw_pairs, make_teacher
    from robopref.preferences.gold import fresh_gold, mix_gold
    from robopref.preferences.records import GoldSpec

    n_gold = int(round(gold_rate * n_queries))
    gold = [
        (q._replace(k=len(TEACHERS)), GoldSpec(g.answer, g.source, g.delta * scale))
        for q, g in fresh_gold(pool, n_gold, rng, signal="progress", margin=1.0, selector="uniform")
    ]
    pairs = draw_pairs(len(pool), n_queries - len(gold), rng)
    specs = [QuerySpec(pool.ref(a), pool.ref(b), "uniform", None, len(TEACHERS)) for a, b in pairs]
    specs, gold_col = mix_gold(specs, gold, rng)
    ids = store.add_queries(specs, gold=gold_col)
    index = {pool.ref(i): i for i in range(len(pool))}
    ia = np.asarray([index[s.seg_a] for s in specs])
    ib = np.asarray([index[s.seg_b] for s in specs])
    # Each teacher sees the scaled segment returns (one "step" carrying the whole return:
    # myopia is off, so only the sums matter).
    ra, rb = (scale * returns[ia])[:, None], (scale * returns[ib])[:, None]
    margin = float(np.mean(np.abs(scale * returns)))
    for name, (preset, over) in TEACHERS.items():
        teacher = make_teacher(preset, **over).with_margin(margin)
        for qid, label in zip(ids, teacher.label(ra, rb, rng)):
            store.add_label(qid, label, name, source=f"teacher:{name}")


def _train_accuracy(
    labels, episodes, test_batch, truth, seed, noise=None, weight=None, temperature=None
) -> float:
    from robopref.preferences import batch_from_labels
    from robopref.rewards.preference import PreferenceRewardConfig, PreferenceRewardModel

    batch = batch_from_labels([lab for lab in labels if lab.label != "skip"], episodes)
    if noise is not None:
        batch = batch._replace(noise=noise, weight=weight, temperature=temperature)
    cfg = PreferenceRewardConfig(hidden=(64, 64), input="state", epochs=60, seed=seed)
    model = PreferenceRewardModel(batch.obs_a.shape[-1], None, cfg)
    model.train(batch, rng=np.random.default_rng(seed))
    return float(np.mean((model.predict_preference(test_batch) > 0.5) == truth))


def _realized_eps(labels, deltas, name: str) -> float | None:
    """A rational teacher's flips as it made them: its decisive answers against a nonzero gap.

    100 answers of a teacher flipping with probability 0.4 flip 0.4 +- 0.049 of the time, so
    no estimator is within 0.05 of 0.4 in every crowd; this is what the fit can recover.
    """
    from robopref.preferences.calibration import realized_error

    if not math.isinf(TRUE[name][0]):
        return None
    return realized_error(labels, deltas, name)


def _recovery(fit, name: str, realized: float | None = None) -> dict[str, Any]:
    beta_true, eps_true = TRUE[name]
    row: dict[str, Any] = {"eps": fit.eps_mistake, "beta": fit.beta, "capped": fit.beta_capped}
    row["eps_ok"] = fit.eps_mistake is not None and abs(fit.eps_mistake - eps_true) <= EPS_TOL
    row["eps_realized"] = realized
    row["eps_ok_realized"] = (
        None
        if realized is None or fit.eps_mistake is None
        else abs(fit.eps_mistake - realized) <= EPS_TOL
    )
    if fit.beta is None:
        row["beta_ok"] = None
    elif math.isinf(beta_true):
        row["beta_ok"] = bool(fit.beta_capped)
    else:
        row["beta_ok"] = 1 / BETA_FACTOR <= fit.beta / beta_true <= BETA_FACTOR
    row["p_skip"] = fit.p_skip
    return row


def run_seed(train, test, seed: int, n_queries: int = 100, gold_rate: float = 0.05) -> dict:
    """One crowd on ``train``'s windows; figures (a) and (b) of one seed."""
    import torch

    from robopref.preferences import LabelStore, SegmentPool, draw_pairs
    from robopref.preferences.calibration import calibrate, label_noise, label_temperature

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pool = SegmentPool(train, SEGMENT, stride=1)
    returns = _window_returns(pool)
    probe = draw_pairs(len(pool), 2000, rng)
    scale = 1.0 / float(np.median(np.abs(returns[probe[:, 0]] - returns[probe[:, 1]])) or 1.0)
    with tempfile.TemporaryDirectory() as tmp, LabelStore(Path(tmp) / "labels.sqlite") as store:
        _crowd_labels(store, pool, returns, scale, n_queries, gold_rate, rng)
        labels, gold = store.labels(), store.gold()
    index = {pool.ref(i): i for i in range(len(pool))}
    deltas = {
        lab.query_id: float(scale * (returns[index[lab.seg_a]] - returns[index[lab.seg_b]]))
        for lab in labels
    }
    with_gaps = calibrate(labels, gold, deltas)
    gold_only = calibrate(labels, gold)
    out: dict[str, Any] = {"seed": seed, "labels": len(labels), "gold": len(gold)}
    realized = {n: _realized_eps(labels, deltas, n) for n in TEACHERS}
    out["recovery"] = {n: _recovery(with_gaps.annotators[n], n, realized[n]) for n in TEACHERS}
    out["recovery_gaps_off"] = {
        n: _recovery(gold_only.annotators[n], n, realized[n]) for n in TEACHERS
    }
    out["alpha"] = with_gaps.alpha

    episodes = {ep.episode_id: ep for ep in train}
    test_pool = SegmentPool(test, SEGMENT, stride=1)
    test_returns = _window_returns(test_pool)
    pairs = draw_pairs(len(test_pool), 3000, rng)
    gap = test_returns[pairs[:, 0]] - test_returns[pairs[:, 1]]
    pairs, gap = pairs[gap != 0], gap[gap != 0]
    test_batch, truth = test_pool.batch(pairs[:, 0], pairs[:, 1]), gap > 0
    decisive = [lab for lab in labels if lab.label != "skip"]
    noise, weight = label_noise(gold_only, decisive)  # as PEBBLE's calibrated refit
    # calibrated-beta needs beta, i.e. known gaps: the fit as `labels calibrate --gaps auto`.
    noise_b, weight_b = label_noise(with_gaps, decisive)
    temperature = label_temperature(with_gaps, decisive)
    oracle = [lab for lab in decisive if lab.annotator == "oracle"]
    out["accuracy"] = {
        "none": _train_accuracy(decisive, episodes, test_batch, truth, seed),
        "calibrated": _train_accuracy(decisive, episodes, test_batch, truth, seed, noise, weight),
        "calibrated_beta": _train_accuracy(
            decisive, episodes, test_batch, truth, seed, noise_b, weight_b, temperature
        ),
        "oracle_only": _train_accuracy(oracle, episodes, test_batch, truth, seed),
    }
    first = {n: [lab.annotator == n for lab in decisive].index(True) for n in TEACHERS}
    out["noise"] = {n: float(noise[i]) for n, i in first.items()}
    out["temperature"] = {n: float(temperature[i]) for n, i in first.items()}
    return out


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return round(float(np.mean(vals)), 4) if vals else None


def summarize(per_seed: list[dict]) -> dict[str, Any]:
    """Means over seeds: per teacher recovery rates, and the reward models' accuracy."""
    rec: dict[str, Any] = {}
    for key in ("recovery", "recovery_gaps_off"):
        rec[key] = {}
        for name in TEACHERS:
            rows = [s[key][name] for s in per_seed]
            beta_true, eps_true = TRUE[name]
            rec[key][name] = {
                "true_eps": eps_true,
                "true_beta": None if math.isinf(beta_true) else beta_true,
                "eps_mean": _mean(r["eps"] for r in rows),
                "eps_abs_err_mean": _mean(
                    abs(r["eps"] - eps_true) for r in rows if r["eps"] is not None
                ),
                "eps_ok": _mean(r["eps_ok"] for r in rows),
                "eps_ok_realized": _mean(r["eps_ok_realized"] for r in rows),
                "beta_median": (
                    None
                    if any(r["beta"] is None for r in rows)
                    else round(float(np.median([r["beta"] for r in rows])), 3)
                ),  # fmt: skip
                "beta_ok": _mean(r["beta_ok"] for r in rows),
                "p_skip_mean": _mean(r["p_skip"] for r in rows),
            }
    # The gaps below take every mean to be a number (as the accuracies are).
    acc = {
        k: cast(float, _mean(s["accuracy"][k] for s in per_seed)) for k in per_seed[0]["accuracy"]
    }
    gaps = [
        (s["accuracy"]["calibrated"] - s["accuracy"]["none"])
        / (s["accuracy"]["oracle_only"] - s["accuracy"]["none"])
        for s in per_seed
        if s["accuracy"]["oracle_only"] != s["accuracy"]["none"]
    ]
    pooled = (
        (acc["calibrated"] - acc["none"]) / (acc["oracle_only"] - acc["none"])
        if acc["oracle_only"] != acc["none"]
        else None
    )
    pooled_beta = (
        (acc["calibrated_beta"] - acc["none"]) / (acc["oracle_only"] - acc["none"])
        if acc["oracle_only"] != acc["none"]
        else None
    )
    return {
        **rec,
        "accuracy": acc,
        "gap_recovered": None if pooled is None else round(pooled, 3),
        "gap_recovered_per_seed": [round(g, 3) for g in gaps],
        "gap_recovered_beta": None if pooled_beta is None else round(pooled_beta, 3),
    }


def run(seeds: int = 3, queries: int = 100, gold_rate: float = 0.05, cache: str = "") -> dict:
    """Every seed, then the summary (what ``bench/crowd.sh`` prints)."""
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cache_dir = Path(cache or tempfile.mkdtemp(prefix="robopref-crowd-"))
    per_seed = []
    for seed in range(seeds):
        train, test = record(cache_dir, seed)
        per_seed.append(run_seed(train, test, seed, queries, gold_rate))
    return {
        "bench": "crowd",
        "task": TASK,
        "segment": SEGMENT,
        "seeds": seeds,
        "queries": queries,
        "gold_rate": gold_rate,
        "teachers": list(TEACHERS),
        **summarize(per_seed),
        "per_seed": per_seed,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robopref.benchmarks.crowd", description=__doc__)
    p.add_argument("--seeds", type=int, default=3, help="crowds (default 3)")
    p.add_argument("--queries", type=int, default=100, help="queries, i.e. labels per teacher")
    p.add_argument("--gold-rate", type=float, default=0.05, help="share of gold queries")
    p.add_argument("--cache", default="", help="episode cache directory (default: a temp dir)")
    p.add_argument("--out", default="bench/results/crowd", help="summary.json goes here")
    args = p.parse_args(argv)
    if args.seeds < 1 or args.queries < 20 or not 0 <= args.gold_rate <= 1:
        p.error("need --seeds >= 1, --queries >= 20 and --gold-rate in [0, 1]")
    result = run(args.seeds, args.queries, args.gold_rate, args.cache)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {k: v for k, v in result.items() if k != "per_seed"}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
