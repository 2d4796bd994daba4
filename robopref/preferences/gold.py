"""Gold pairs: queries whose answer is known, mixed unmarked into the queue (issue 18).

A gold pair measures the people who answer it (`robopref.preferences.calibration`). Two
sources:

* **fresh, from privileged returns** (sim): pairs of windows whose returns by the teacher
  signal (`segment_rewards`: task reward or privileged progress) differ by a clear margin,
  at least ``margin`` standard deviations of the candidates' returns, so the known answer is
  not a judgement call;
* **re-asked**: pairs already in the store's gold (an expert's answers, ``robopref labels
  gold --from-annotator``), asked again as new queries, each side shown as A at random.

Gold queries carry the round's selector name and no score, and sit at random places among
the round's queries: nothing the query UI sends tells them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robopref.preferences.records import GoldAnswer, GoldSpec, QuerySpec
from robopref.preferences.selectors import SegmentPool, draw_pairs
from robopref.preferences.teachers import segment_rewards

__all__ = ["fresh_gold", "mix_gold", "reask_gold"]

#: Candidate pairs drawn per gold pair wanted: most random pairs are close calls.
CANDIDATES_PER_GOLD = 20
_FLIP = {"a": "b", "b": "a", "equal": "equal"}


def fresh_gold(
    pool: SegmentPool,
    n: int,
    rng: np.random.Generator,
    *,
    signal: str,
    margin: float,
    selector: str,
    k: int = 1,
) -> list[tuple[QuerySpec, GoldSpec]]:
    """Up to ``n`` gold pairs of ``pool`` answered by their privileged returns.

    Raises:
        ValueError: the episodes lack ``signal`` (a real robot has no progress): use
            `reask_gold` there.
    """
    if n <= 0:
        return []
    pairs = draw_pairs(len(pool), CANDIDATES_PER_GOLD * n, rng)
    windows = sorted({int(i) for i in pairs.ravel()})
    returns = {}
    for i in windows:
        episode, start = pool.window(i)
        returns[i] = float(segment_rewards(episode, start, pool.length, signal).sum())
    spread = float(np.std(list(returns.values())))
    out = []
    for a, b in pairs.tolist():
        delta = returns[a] - returns[b]
        if delta != 0 and abs(delta) >= margin * spread:
            spec = QuerySpec(pool.ref(a), pool.ref(b), selector, None, k)
            out.append((spec, GoldSpec("a" if delta > 0 else "b", f"{signal}", delta)))
            if len(out) == n:
                break
    return out


def reask_gold(
    gold: Sequence[GoldAnswer],
    n: int,
    rng: np.random.Generator,
    *,
    selector: str,
    k: int = 1,
) -> list[tuple[QuerySpec, GoldSpec]]:
    """``n`` new queries on pairs of the store's gold (drawn with replacement), sides shuffled."""
    if n <= 0 or not gold:
        return []
    out = []
    for i in rng.integers(0, len(gold), size=n).tolist():
        g = gold[i]
        a, b, answer = g.seg_a, g.seg_b, g.answer
        delta = g.delta
        if rng.random() < 0.5:
            a, b, answer = b, a, _FLIP[answer]
            delta = None if delta is None else -delta
        out.append((QuerySpec(a, b, selector, None, k), GoldSpec(answer, g.source, delta)))
    return out


def mix_gold(
    specs: Sequence[QuerySpec],
    gold: Sequence[tuple[QuerySpec, GoldSpec]],
    rng: np.random.Generator,
) -> tuple[list[QuerySpec], list[GoldSpec | None]]:
    """Ordinary and gold queries in one random order, with the gold column for `add_queries`.

    A gold query takes an ordinary query's score away (None), so the scores of a round do
    not point at the gold ones either.
    """
    rows: list[tuple[QuerySpec, GoldSpec | None]] = [
        (s._replace(score=None) if gold else s, None) for s in specs
    ]
    rows += list(gold)
    order = rng.permutation(len(rows))
    return [rows[i][0] for i in order], [rows[i][1] for i in order]
