"""Per-annotator calibration: B-Pref's teacher parameters fitted to each person's labels.

B-Pref (Lee et al. 2021; `robopref.preferences.teachers`) models an imperfect teacher by
rationality ``beta`` (``P(A) = sigmoid(beta * (R_A - R_B))``), a mistake rate ``eps`` (the
answer flipped), and skip and equal rates. Issue 18 fits these per annotator by maximum
likelihood, so that the reward model can weigh people by how reliable they are.

The evidence for an annotator's decisive answers (``a``/``b``) is the true answer of each
query they answered, which is either

* **gold**: a query whose answer is known (`LabelStore.gold`: privileged sim progress with a
  clear margin, or an expert's label), or
* **agreement with the others**: a latent true answer inferred from everyone else's labels
  on the same query, weighted by their fitted reliability. This is Dawid & Skene's EM
  (1979) with one error rate per annotator ("one-coin"), with two changes: only queries
  with a known truth or a second answer count (on a query nobody else answered a person
  can only agree with themselves), and the error rate follows B-Pref's model instead of
  being a constant.

Under B-Pref's model an answer is right with probability
``(1 - eps) * sigmoid(beta * |delta|) + eps * (1 - sigmoid(beta * |delta|))``, where
``delta`` is the query's true return gap. ``beta`` is on the scale of that gap, so it can be
fitted only where the gap is known: queries carrying a privileged ``delta`` (sim episodes
scored by the teacher signal, `robopref.preferences.teachers.segment_rewards`). Without it
(real-robot recordings) ``beta`` is reported as null and every error counts as a mistake, so
``eps_mistake`` is the annotator's total error rate. Skip and equal rates are the fractions
of the annotator's answers (their maximum-likelihood estimates).

Inter-annotator agreement is Krippendorff's alpha (nominal: ``a``, ``b``, ``equal``; skips
are missing values) over the queries with two or more answers, computed by the
``krippendorff`` package.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from robopref.preferences.records import GoldAnswer, Label, check_gold_consistency

__all__ = [
    "FIGURE_BLOCK",
    "MIN_GOLD_SHOWN",
    "MIN_LABELS",
    "annotator_figures",
    "AnnotatorFit",
    "Calibration",
    "calibrate",
    "krippendorff_alpha",
    "label_noise",
    "label_temperature",
    "one_coin_log_likelihood",
    "realized_error",
]

#: Fewest decisive labels an annotator needs before their parameters are reported; below it
#: a fit of two parameters (and a rate) is mostly noise.
MIN_LABELS = 20
# beta's search range, in units of 1 / (the median return gap): B-Pref's teachers of interest
# lie well inside; the upper end stands for a perfectly rational teacher (beta = inf).
_BETA_LO, _BETA_HI = 1e-2, 1e3
# Error rates are kept off 0 and 1 inside the likelihood: one answer against a perfect
# record must cost a finite amount, and a vote can never weigh infinitely.
_E_MIN = 1e-4
# Half the 95% quantile of chi-square with 1 degree of freedom (a likelihood-ratio test).
_LR_THRESHOLD = 3.841 / 2
_VALUES = {"a": 0.0, "b": 1.0, "equal": 2.0}


@dataclasses.dataclass(frozen=True)
class AnnotatorFit:
    """One annotator's fitted B-Pref parameters (a row of ``robopref labels calibrate``).

    Attributes:
        annotator: the name.
        labels: all their labels, skips included.
        gold: gold queries they answered (not skipped), not counting gold taken from their
            own labels (`robopref labels gold --from-annotator`).
        gold_agreement: fraction of those answers equal to the gold answer; None without gold.
        beta: rationality on the scale of the return gap; None where no query has a known
            gap. At the search range's upper end (``beta_capped``) the annotator is, within
            the data, perfectly rational.
        eps_mistake: probability of flipping a decisive answer (the total error rate when
            ``beta`` is None).
        p_skip: fraction of their labels that are skips.
        p_equal: fraction of their non-skip labels that are "equal".
        insufficient: fewer than ``min_labels`` decisive labels; the parameters are then None.
        decisive: their ``a``/``b`` labels.
        beta_capped: ``beta`` sits at the upper end of its range.
    """

    annotator: str
    labels: int
    gold: int
    gold_agreement: float | None
    beta: float | None
    eps_mistake: float | None
    p_skip: float | None
    p_equal: float | None
    insufficient: bool = False
    decisive: int = 0
    beta_capped: bool = False

    def to_json(self, min_labels: int = MIN_LABELS) -> dict[str, Any]:
        """The JSON row: issue 18's keys, plus ``insufficient`` rows' threshold."""

        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 4)

        out = {
            "annotator": self.annotator,
            "labels": self.labels,
            "gold": self.gold,
            "gold_agreement": r(self.gold_agreement),
            "beta": r(self.beta),
            "eps_mistake": r(self.eps_mistake),
            "p_skip": r(self.p_skip),
            "p_equal": r(self.p_equal),
        }
        if self.insufficient:
            out.update(insufficient=True, decisive=self.decisive, min_labels=min_labels)
        elif self.beta_capped:
            out["beta_capped"] = True
        return out


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Every annotator's fit, and the crowd's Krippendorff alpha.

    ``gap_scale`` is the median known return gap (None where no gap is known): ``beta`` is
    on the gap's scale, ``beta * gap_scale`` is a rationality without units.
    """

    annotators: dict[str, AnnotatorFit]
    alpha: float | None
    alpha_queries: int
    min_labels: int = MIN_LABELS
    gap_scale: float | None = None

    def lines(self) -> list[dict[str, Any]]:
        """The JSON lines ``robopref labels calibrate`` prints: one per annotator, then alpha."""
        rows = [fit.to_json(self.min_labels) for _, fit in sorted(self.annotators.items())]
        alpha = None if self.alpha is None else round(self.alpha, 4)
        rows.append(
            {
                "krippendorff_alpha": alpha,
                "queries": self.alpha_queries,
                "annotators": len(self.annotators),
            }
        )
        return rows


class _Obs:
    """One annotator's decisive labels as arrays (query index, +1 for "a", gap or NaN)."""

    def __init__(self, rows: list[tuple[int, float, float]]) -> None:
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        self.q = arr[:, 0].astype(np.int64)
        self.y = arr[:, 1]
        self.s = arr[:, 2]
        self.known = ~np.isnan(self.s)

    def subset(self, keep: np.ndarray) -> _Obs:
        out = _Obs([])
        out.q, out.y, out.s, out.known = self.q[keep], self.y[keep], self.s[keep], self.known[keep]
        return out


def _p_right(eps: float, beta: float | None, s: np.ndarray) -> np.ndarray:
    """P(the answer is right) under B-Pref's model; ``s`` NaN where the gap is unknown."""
    out = np.full(s.shape, 1.0 - eps)
    known = ~np.isnan(s)
    if beta is not None and known.any():
        sig = 0.5 * (1.0 + np.tanh(0.5 * beta * s[known]))
        out[known] = (1.0 - eps) * sig + eps * (1.0 - sig)
    return np.clip(out, _E_MIN, 1.0 - _E_MIN)


def _beta_settled(new: float | None, old: float | None) -> bool:
    """Whether a refit's ``beta`` moved less than 0.1%; None (no gaps to fit it by) never
    moves, and an annotator without gaps has None both times."""
    return new is None or old is None or abs(math.log(new / old)) < 1e-3


def _fit(obs: _Obs, right: np.ndarray, scale: float) -> tuple[float, float | None, bool]:
    """Maximum-likelihood ``(eps, beta, capped)`` given P(each label is right) ``right``.

    A coarse grid over (eps, log beta) finds the basin (the likelihood has a shallow ridge
    between "rational with mistakes" and "stochastic without": a grid cannot get stuck on
    the wrong side of it), then Nelder-Mead polishes the grid's best point.
    """
    from scipy.optimize import minimize, minimize_scalar

    if not obs.known.any():
        # Without gaps the model is one coin: its MLE is the expected share of wrong answers.
        return float(np.clip(1.0 - right.mean(), 0.0, 1.0)), None, False
    lo, hi = math.log(_BETA_LO / scale), math.log(_BETA_HI / scale)
    s, w = obs.s[obs.known], right[obs.known]
    w_unknown = right[~obs.known]

    def nll_grid(eps: np.ndarray, log_beta: np.ndarray) -> np.ndarray:
        sig = 0.5 * (1.0 + np.tanh(0.5 * np.exp(log_beta)[:, None, None] * s))  # (B, 1, n)
        e = eps[None, :, None]
        p = np.clip((1.0 - e) * sig + e * (1.0 - sig), _E_MIN, 1.0 - _E_MIN)
        out = -(w * np.log(p) + (1.0 - w) * np.log1p(-p)).sum(-1)
        p0 = np.clip(1.0 - eps, _E_MIN, 1.0 - _E_MIN)  # labels without a gap: one coin
        return out - (w_unknown.sum() * np.log(p0) + (1.0 - w_unknown).sum() * np.log1p(-p0))

    eps_grid, beta_grid = np.linspace(0.0, 0.99, 100), np.linspace(lo, hi, 36)
    grid = nll_grid(eps_grid, beta_grid)
    b0, e0 = np.unravel_index(np.argmin(grid), grid.shape)

    def nll(x: np.ndarray) -> float:
        return float(nll_grid(np.asarray([x[0]]), np.asarray([x[1]]))[0, 0])

    # Nelder-Mead: two parameters, no gradient to approximate; the bounds keep eps a rate.
    full = minimize(
        nll, np.asarray([eps_grid[e0], beta_grid[b0]]), method="Nelder-Mead",
        bounds=[(0.0, 0.999), (lo, hi)], options={"xatol": 1e-4, "fatol": 1e-6},
    )  # fmt: skip
    best = (float(full.x[0]), float(full.x[1]), float(full.fun))
    # B-Pref's two pure teachers are nested in the full model: rational with mistakes
    # (beta = inf) and stochastic without (eps = 0). From 100 labels a flat error rate and a
    # gently rising one are hard to tell apart, so the full model's extra parameter must earn
    # its place: a likelihood-ratio test at 5% (chi-square, 1 dof: 3.84 / 2 in NLL) keeps the
    # nested model unless the data reject it. This is still maximum likelihood, within the
    # model the data support.
    rational = minimize_scalar(lambda e: nll(np.asarray([e, hi])), bounds=(0.0, 0.999),
                               method="bounded", options={"xatol": 1e-5})  # fmt: skip
    stochastic = minimize_scalar(lambda b: nll(np.asarray([0.0, b])), bounds=(lo, hi),
                                 method="bounded", options={"xatol": 1e-4})  # fmt: skip
    nested = [
        (float(rational.x), hi, float(rational.fun)),
        (0.0, float(stochastic.x), float(stochastic.fun)),
    ]
    # Where both pass, the likelier one. (Preferring the rational one whenever it passed
    # turned a stochastic teacher, beta = 1, into "rational with 29% mistakes" although the
    # stochastic fit was far likelier: the crowd benchmark, issue 18.)
    passing = [m for m in nested if m[2] - best[2] < _LR_THRESHOLD]
    best = min(passing, key=lambda m: m[2]) if passing else best
    eps, log_beta = best[0], best[1]
    return eps, math.exp(log_beta), log_beta >= hi - 1e-2


def calibrate(
    labels: Sequence[Label],
    gold: Sequence[GoldAnswer] = (),
    deltas: Mapping[int, float] | None = None,
    *,
    min_labels: int = MIN_LABELS,
    iterations: int = 30,
) -> Calibration:
    """Fits B-Pref's parameters per annotator (see the module docstring).

    Args:
        labels: the store's labels (`LabelStore.labels`).
        gold: the store's gold answers (`LabelStore.gold`).
        deltas: privileged return gap ``R_A - R_B`` by query id, where known (sim);
            a gold answer's own ``delta`` is used where this has none.
        min_labels: decisive labels an annotator needs to be fitted.
        iterations: most EM rounds (it stops earlier once the parameters settle).

    Raises:
        GoldConflictError: two gold answers on one pair disagree (naming the pair).
        ValueError: a bad ``min_labels`` or ``iterations``.
    """
    for name, v, low in (("min_labels", min_labels, 1), ("iterations", iterations, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    check_gold_consistency(list(gold))
    gold_by_q = {g.query_id: g for g in gold}
    gaps: dict[int, float] = {g.query_id: g.delta for g in gold if g.delta is not None}
    gaps.update(deltas or {})

    by_annotator: dict[str, list[Label]] = defaultdict(list)
    for lab in labels:
        by_annotator[lab.annotator].append(lab)
    queries = sorted({lab.query_id for lab in labels})
    q_index = {q: i for i, q in enumerate(queries)}
    # Gold fixes the truth of its query: +inf log-odds for "a", -inf for "b".
    fixed = np.full(len(queries), np.nan)
    # A known gap is B-Pref's truth itself (its oracle answers by the gap's sign): in sim every
    # query is as good as gold, and agreement is the evidence only where no gap is known.
    for q, d in gaps.items():
        if q in q_index and d != 0.0:
            fixed[q_index[q]] = 1.0 if d > 0 else 0.0
    for q, g in gold_by_q.items():
        if q in q_index and g.answer != "equal":
            fixed[q_index[q]] = 1.0 if g.answer == "a" else 0.0

    obs: dict[str, _Obs] = {}
    for name, labs in by_annotator.items():
        rows = [
            (q_index[lab.query_id], 1.0 if lab.label == "a" else -1.0,
             abs(gaps[lab.query_id]) if lab.query_id in gaps else math.nan)
            for lab in labs
            if lab.label in ("a", "b")
        ]  # fmt: skip
        obs[name] = _Obs(rows)
    fitted = {n for n, o in obs.items() if len(o.q) >= min_labels}
    known = np.asarray([abs(v) for v in gaps.values() if v != 0.0])
    scale = float(np.median(known)) if known.size else 1.0

    # Start from everyone equally reliable (a plain majority vote), then alternate: the
    # posterior of each query's answer given the others (E), each annotator's MLE (M).
    params: dict[str, tuple[float, float | None, bool]] = {
        n: (0.2, None if not obs[n].known.any() else 1.0 / scale, False) for n in fitted
    }
    own_gold = {
        n: np.asarray(
            [
                qid in gold_by_q and gold_by_q[qid].source == f"annotator:{n}"
                for qid in (queries[i] for i in obs[n].q)
            ],
            dtype=bool,
        )
        for n in fitted
    }
    voters = np.zeros(len(queries), np.int64)
    for n in fitted:
        np.add.at(voters, obs[n].q, 1)
    for _ in range(iterations):
        votes = np.zeros(len(queries))
        weight_of: dict[str, np.ndarray] = {}
        for n in fitted:
            o = obs[n]
            p = _p_right(params[n][0], params[n][1], o.s)
            w = o.y * (np.log(p) - np.log1p(-p))
            weight_of[n] = w
            np.add.at(votes, o.q, w)
        new: dict[str, tuple[float, float | None, bool]] = {}
        for n in fitted:
            o = obs[n]
            p_a = 0.5 * (1.0 + np.tanh(0.5 * votes[o.q]))
            f = fixed[o.q].copy()
            f[own_gold[n]] = np.nan  # their own answers made gold are no evidence about them
            p_a = np.where(np.isnan(f), p_a, f)
            right = np.where(o.y > 0, p_a, 1.0 - p_a)
            # Evidence is a known truth or another fitted annotator's answer: on a query only
            # this annotator answered, the posterior is their own vote, which would agree
            # with itself and flatter them.
            shared = ~np.isnan(f) | (voters[o.q] >= 2)
            # Nothing shared yet (every answer theirs alone): keep the start, B-Pref-agnostic.
            new[n] = _fit(o.subset(shared), right[shared], scale) if shared.any() else params[n]
        settled = all(
            abs(new[n][0] - params[n][0]) < 1e-4 and _beta_settled(new[n][1], params[n][1])
            for n in fitted
        )
        params = new
        if settled:
            break

    fits = {}
    for name, labs in by_annotator.items():
        n_skip = sum(lab.label == "skip" for lab in labs)
        answered = len(labs) - n_skip
        on_gold = [
            (lab.label, gold_by_q[lab.query_id].answer)
            for lab in labs
            if lab.query_id in gold_by_q
            and lab.label != "skip"
            and gold_by_q[lab.query_id].source != f"annotator:{name}"
        ]
        if name not in fitted:
            fits[name] = AnnotatorFit(
                name, len(labs), len(on_gold), None, None, None, None, None,
                insufficient=True, decisive=len(obs[name].q),
            )  # fmt: skip
            continue
        eps, beta, capped = params[name]
        fits[name] = AnnotatorFit(
            annotator=name,
            labels=len(labs),
            gold=len(on_gold),
            gold_agreement=(sum(a == g for a, g in on_gold) / len(on_gold)) if on_gold else None,
            beta=beta,
            eps_mistake=eps,
            p_skip=n_skip / len(labs),
            p_equal=(sum(lab.label == "equal" for lab in labs) / answered) if answered else None,
            decisive=len(obs[name].q),
            beta_capped=capped,
        )
    alpha, n_alpha = krippendorff_alpha(labels)
    return Calibration(fits, alpha, n_alpha, min_labels, scale if known.size else None)


def realized_error(
    labels: Sequence[Label], deltas: Mapping[int, float], annotator: str
) -> float | None:
    """The share of ``annotator``'s decisive answers against the sign of the query's known
    return gap ``R_A - R_B`` (sim): the error rate the fit estimates, as the annotator
    actually erred. Queries without a gap, or with a gap of 0, do not count; None when none
    is left."""
    wrong = [
        (lab.label == "a") != (deltas[lab.query_id] > 0)
        for lab in labels
        if lab.annotator == annotator and lab.label in ("a", "b")
        and deltas.get(lab.query_id, 0.0) != 0.0
    ]  # fmt: skip
    return sum(wrong) / len(wrong) if wrong else None


def one_coin_log_likelihood(
    labels: Sequence[Label], gold: Sequence[GoldAnswer], eps: Mapping[str, float]
) -> float:
    """Marginal log-likelihood of the decisive answers under one error rate per annotator.

    Each query's true answer is ``a`` or ``b`` with probability 1/2 (gold fixes it), and an
    annotator in ``eps`` answers it wrongly with probability ``eps[name]`` (kept in
    ``[1e-4, 1 - 1e-4]``, as in the fit). Only the evidence the fit uses counts: queries
    with gold or with answers from two or more of these annotators. Comparing the fitted
    rates with the realized ones (`robopref labels calibrate --truth`) tells a local optimum
    of the EM (the realized rates likelier) from data that prefer the wrong reading.
    """
    gold_by_q = {g.query_id: g.answer for g in gold if g.answer != "equal"}
    by_query: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for lab in labels:
        if lab.label in ("a", "b") and lab.annotator in eps:
            by_query[lab.query_id].append((lab.annotator, lab.label))
    total = 0.0
    for q, answers in by_query.items():
        if len(answers) < 2 and q not in gold_by_q:
            continue
        terms = []
        for truth in ("a", "b"):
            if gold_by_q.get(q, truth) != truth:
                continue
            log_p = math.log(0.5) if q not in gold_by_q else 0.0
            for name, answer in answers:
                e = min(max(eps[name], _E_MIN), 1.0 - _E_MIN)
                log_p += math.log1p(-e) if answer == truth else math.log(e)
            terms.append(log_p)
        total += float(np.logaddexp.reduce(terms))
    return total


def krippendorff_alpha(labels: Sequence[Label]) -> tuple[float | None, int]:
    """Krippendorff's alpha (nominal) over the queries with two or more non-skip answers.

    Returns:
        ``(alpha, queries)``; alpha is None when no query qualifies or every answer is the
        same value (alpha is then 0/0, undefined).
    """
    import krippendorff

    by_query: dict[int, dict[str, float]] = defaultdict(dict)
    for lab in labels:
        if lab.label != "skip":
            by_query[lab.query_id][lab.annotator] = _VALUES[lab.label]
    shared = [q for q, answers in by_query.items() if len(answers) >= 2]
    if not shared:
        return None, 0
    coders = sorted({a for q in shared for a in by_query[q]})
    data = np.full((len(coders), len(shared)), np.nan)
    for j, q in enumerate(shared):
        for i, coder in enumerate(coders):
            data[i, j] = by_query[q].get(coder, np.nan)
    if len(np.unique(data[~np.isnan(data)])) < 2:
        return None, len(shared)
    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return (alpha if math.isfinite(alpha) else None), len(shared)


def label_noise(
    calibration: Calibration | None, labels: Sequence[Label], default: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-label noise and weight for the reward model's loss (``annotator_model=calibrated``).

    A B-Pref mistake rate ``eps`` (the answer flipped) is the robust Bradley-Terry mixture
    ``P = (1 - 2 eps) * sigmoid + eps`` (`PreferenceRewardModel`'s ``label_noise`` with
    ``2 * eps``, Christiano et al. 2017). An annotator right no more often than a coin
    (``eps >= 0.5``) carries no information about the reward, or the wrong one: weight 0.
    Annotators without a fit (too few labels) keep ``default`` and weight 1.

    Args:
        calibration: the fit (None: every label gets ``default``).
        labels: the labels to weigh; skips are dropped, as `batch_from_labels` does.
        default: label noise of annotators without a fit, in [0, 1).

    Returns:
        ``(noise, weight)``, float32 arrays with one entry per non-skip label, in order.
    """
    if not 0 <= default < 1:
        raise ValueError(f"default must be in [0, 1), got {default!r}")
    kept = [lab for lab in labels if lab.label != "skip"]
    noise = np.full(len(kept), default, np.float32)
    weight = np.ones(len(kept), np.float32)
    if calibration is None:
        return noise, weight
    for i, lab in enumerate(kept):
        fit = calibration.annotators.get(lab.annotator)
        if fit is None or fit.insufficient or fit.eps_mistake is None:
            continue
        if fit.eps_mistake >= 0.5:
            noise[i], weight[i] = 0.0, 0.0
        else:
            noise[i] = min(2.0 * fit.eps_mistake, 0.98)
    return noise, weight


def label_temperature(calibration: Calibration | None, labels: Sequence[Label]) -> np.ndarray:
    """Per-label temperature for the reward model's loss (``annotator_model=calibrated-beta``).

    B-Pref's stochastic teacher answers ``P(A) = sigmoid(beta * (R_A - R_B))``; the reward
    model is fitted by the same Bradley-Terry link on its own returns, whose scale is free. A
    label's temperature ``t`` scales the model's logit for that label, ``sigmoid(t * (r_A -
    r_B))``: ``t = tanh(beta * m / 2)``, ``m`` the median return gap. Far from rational
    (``beta * m`` small) that is ``beta / (2 / m)``, a temperature proportional to the
    annotator's rationality, so a coin-like person's labels move the reward little (their
    answer near a tie is noise, and the loss no longer asks the model to explain it);
    ``tanh(beta * m / 2) = 2 P(right at the median gap) - 1`` reaches 1, the plain
    Bradley-Terry loss, for a person almost always right at a typical gap. With
    `label_noise` it is B-Pref's whole model: ``eps + (1 - 2 eps) * sigmoid(t * logit)``.
    Annotators without a fitted ``beta`` (too few labels, or no known gap: a real robot's
    labels without gold gaps) get 1, as do rational fits (``beta`` capped).

    Args:
        calibration: the fit (None: every label gets 1).
        labels: the labels to weigh; skips are dropped, as `batch_from_labels` does.

    Returns:
        float32 array in (0, 1], one entry per non-skip label, in order.
    """
    kept = [lab for lab in labels if lab.label != "skip"]
    out = np.ones(len(kept), np.float32)
    if calibration is None or calibration.gap_scale is None:
        return out
    for i, lab in enumerate(kept):
        fit = calibration.annotators.get(lab.annotator)
        if fit is None or fit.insufficient or fit.beta is None or fit.beta_capped:
            continue
        # Kept off 0: the loss of a label with t = 0 is a constant (its weight is the way
        # to drop a label); beta's search range already starts at 1e-2 / m.
        out[i] = max(math.tanh(0.5 * fit.beta * calibration.gap_scale), 1e-3)
    return out


#: Labels per block of `annotator_figures`: agreement is computed over whole blocks only.
FIGURE_BLOCK = 10
#: Gold answers (in whole blocks) before a person's agreement is shown.
MIN_GOLD_SHOWN = 5


def annotator_figures(
    labels: Sequence[Label],
    gold: Sequence[GoldAnswer],
    block: int = FIGURE_BLOCK,
    min_gold: int = MIN_GOLD_SHOWN,
) -> dict[str, dict[str, Any]]:
    """Each annotator's count and gold agreement, as the query UI shows them.

    The agreement counts only the annotator's oldest labels in whole blocks of ``block``:
    if it moved right after each answer, a person could tell which query was gold (it
    moved) and which was not. It is None until ``min_gold`` gold answers are in those
    blocks. Gold taken from the annotator's own labels does not count for them.

    Returns:
        ``{name: {"labels", "gold", "agreement"}}``.
    """
    gold_by_q = {g.query_id: g for g in gold}
    mine: dict[str, list[Label]] = defaultdict(list)
    for lab in labels:
        mine[lab.annotator].append(lab)
    out = {}
    for name, labs in sorted(mine.items()):
        labs.sort(key=lambda lab: lab.id)
        counted = labs[: len(labs) // block * block]
        on_gold = [
            lab.label == gold_by_q[lab.query_id].answer
            for lab in counted
            if lab.query_id in gold_by_q
            and lab.label != "skip"
            and gold_by_q[lab.query_id].source != f"annotator:{name}"
        ]
        agreement = round(sum(on_gold) / len(on_gold), 4) if len(on_gold) >= min_gold else None
        out[name] = {"labels": len(labs), "gold": len(on_gold), "agreement": agreement}
    return out
