"""Query selection: which pairs of segments to ask a teacher about next.

PEBBLE (Lee, Smith & Abbeel, ICML 2021) and B-Pref (``reward_model.py``: ``uniform_sampling``,
``disagreement_sampling``, ``entropy_sampling``) "oversample, then pick": draw
``oversample * n`` candidate pairs uniformly, score each with the reward model, keep the ``n``
highest. Scores (higher = more informative):

* ``uniform``: no model, no score; the first ``n`` draws.
* ``disagreement``: std over ensemble members of ``P(A > B)`` (the model's ``disagreement``).
* ``entropy``: binary entropy of the ensemble-mean ``P(A > B)`` (``predict_preference``),
  i.e. the predictive entropy. B-Pref averages the members' entropies instead; the entropy of
  the mean also counts member disagreement and needs only the mean.

A selector returns `QuerySpec` rows (segments, score, selector name) ready for
`LabelStore.add_queries`. The model is any object with ``predict_preference(batch)`` and
``disagreement(batch)`` (`PreferenceScorer`), such as `robopref.rewards.PreferenceRewardModel`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from robopref.preferences.records import QuerySpec, SegmentRef

if TYPE_CHECKING:  # the batch type lives with the torch model; import it only when scoring
    from robopref.data import Episode
    from robopref.preferences.batches import PreferenceBatch


class PreferenceScorer(Protocol):
    """What a selector needs from a reward model (`PreferenceRewardModel` has both)."""

    def predict_preference(self, batch: PreferenceBatch) -> np.ndarray: ...

    def disagreement(self, batch: PreferenceBatch) -> np.ndarray: ...


class SegmentPool:
    """Every window of ``length`` steps (every ``stride`` steps) of some episodes.

    Windows are referenced, not copied: arrays are gathered only for the pairs scored.

    Args:
        episodes: episodes sharing state and action sizes; ones shorter than ``length``
            contribute no window.
        length: steps per segment (one length per pool, as a `PreferenceBatch` needs).
        stride: steps between window starts.

    Raises:
        ValueError: bad length/stride, mismatched sizes, or fewer than two windows.
    """

    def __init__(self, episodes: Sequence[Episode], length: int, stride: int = 1) -> None:
        for name, v in (("length", length), ("stride", stride)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        self.length = length
        self._episodes = list(episodes)
        dims = {(ep.state.shape[1], ep.action.shape[1]) for ep in self._episodes}
        if len(dims) > 1:
            raise ValueError(f"episodes differ in (state, action) sizes: {sorted(dims)}")
        rows = [
            (i, s)
            for i, ep in enumerate(self._episodes)
            for s in range(0, ep.length - length + 1, stride)
        ]
        if len(rows) < 2:
            raise ValueError(
                f"need at least 2 windows of {length} steps to make a pair, got {len(rows)} "
                f"from {len(self._episodes)} episodes"
            )
        self._rows = np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._rows)

    def ref(self, index: int) -> SegmentRef:
        """Window ``index`` as ``(episode_id, start, length)`` of its root episode."""
        ep_index, start = (int(v) for v in self._rows[index])
        ep = self._episodes[ep_index]
        parent = ep.metadata.get("segment")  # a segment's own offsets point into its root
        root = (parent["episode_id"], parent["start"]) if parent else (ep.episode_id, 0)
        return SegmentRef(root[0], root[1] + start, self.length)

    def window(self, index: int) -> tuple[Episode, int]:
        """Window ``index`` as ``(episode, start)`` in the episode the pool holds."""
        ep_index, start = (int(v) for v in self._rows[index])
        return self._episodes[ep_index], start

    def arrays(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``obs (n, L, D)`` and ``act (n, L, A)`` of windows ``indices``.

        Step ``t`` pairs ``state[t]`` with ``action[t]``, as `batch_from_segments` does.
        """
        obs, act = [], []
        for ep_index, start in self._rows[np.asarray(indices, dtype=np.int64)]:
            ep, window = self._episodes[ep_index], slice(start, start + self.length)
            obs.append(ep.state[window])
            act.append(ep.action[window])
        return np.stack(obs), np.stack(act)

    def batch(self, idx_a: np.ndarray, idx_b: np.ndarray) -> PreferenceBatch:
        """An unlabelled `PreferenceBatch` (label 0.5) of pairs ``(idx_a[i], idx_b[i])``."""
        from robopref.preferences.batches import PreferenceBatch

        (obs_a, act_a), (obs_b, act_b) = self.arrays(idx_a), self.arrays(idx_b)
        return PreferenceBatch(obs_a, act_a, obs_b, act_b, np.full(len(obs_a), 0.5, np.float32))


def draw_pairs(pool_size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` distinct pairs of distinct windows, uniformly; ``(m, 2)`` int64.

    A pair is distinct up to order (A, B) vs (B, A), so no pair is asked twice; ``m`` is
    ``count`` unless the pool has fewer pairs, ``pool_size * (pool_size - 1) / 2``.
    """
    total = pool_size * (pool_size - 1) // 2
    count = min(count, total)
    if count > total // 4:  # dense: permute all pairs rather than reject duplicates
        i, j = np.triu_indices(pool_size, 1)
        pairs = np.stack([i, j], 1)[rng.permutation(total)[:count]]
        swap = rng.random(count) < 0.5  # either window may be shown as A
        pairs[swap] = pairs[swap, ::-1]
        return pairs
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    while len(seen) < count:
        for a, b in rng.integers(0, pool_size, size=(2 * (count - len(seen)), 2)).tolist():
            if a != b:
                seen.setdefault((min(a, b), max(a, b)), (a, b))
    return np.asarray(list(seen.values())[:count], dtype=np.int64).reshape(-1, 2)


ScoreFn = Callable[[PreferenceScorer, "PreferenceBatch"], np.ndarray]


def disagreement_score(model: PreferenceScorer, batch: PreferenceBatch) -> np.ndarray:
    """Std over ensemble members of ``P(A > B)`` (PEBBLE's disagreement sampling)."""
    return np.asarray(model.disagreement(batch), dtype=np.float64)


def _xlogx(x: np.ndarray) -> np.ndarray:
    # x log x -> 0 as x -> 0; the inner where keeps log(0) (and its warning) out.
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def entropy_score(model: PreferenceScorer, batch: PreferenceBatch) -> np.ndarray:
    """Binary entropy (nats) of the ensemble-mean ``P(A > B)``; highest at 0.5."""
    p = np.asarray(model.predict_preference(batch), dtype=np.float64)
    if p.size and not ((p >= 0) & (p <= 1)).all():
        raise ValueError("predict_preference returned values outside [0, 1]")
    return -(_xlogx(p) + _xlogx(1.0 - p))


@dataclasses.dataclass(frozen=True)
class Selector:
    """A named query selector; ``score`` None means uniform (no model)."""

    name: str
    score: ScoreFn | None

    def select(
        self,
        pool: SegmentPool,
        n: int,
        rng: np.random.Generator,
        model: PreferenceScorer | None = None,
        oversample: int = 10,
        k: int = 1,
        chunk: int = 1024,
    ) -> list[QuerySpec]:
        """Picks ``n`` pairs: the ``n`` best-scoring of ``oversample * n`` uniform candidates.

        Args:
            pool: the windows to pair up.
            n: queries wanted (fewer only if the pool has fewer distinct pairs).
            rng: the only source of randomness.
            model: the reward model; required unless the selector is uniform.
            oversample: candidates drawn per query kept (B-Pref's ``large_batch``, 10 there).
            k: labels wanted per query (stored with it).
            chunk: pairs scored per model call, to bound memory.

        Returns:
            `QuerySpec` rows, best first (draw order for uniform), for `LabelStore.add_queries`.

        Raises:
            ValueError: bad arguments, a missing model, or scores of the wrong shape or NaN.
        """
        for name, v, low in (("n", n, 1), ("oversample", oversample, 1), ("chunk", chunk, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if self.score is None:
            return self._specs(pool, draw_pairs(len(pool), n, rng), None, k)
        if model is None:
            raise ValueError(f"selector {self.name!r} scores pairs with a model; got model=None")
        pairs = draw_pairs(len(pool), oversample * n, rng)
        scores = np.concatenate(
            [self._score(model, pool, pairs[s : s + chunk]) for s in range(0, len(pairs), chunk)]
        )
        best = np.argsort(-scores, kind="stable")[:n]  # ties keep draw order
        return self._specs(pool, pairs[best], scores[best], k)

    def _score(self, model: PreferenceScorer, pool: SegmentPool, pairs: np.ndarray) -> np.ndarray:
        assert self.score is not None  # `select` draws a scoreless selector's pairs itself
        scores = np.asarray(self.score(model, pool.batch(pairs[:, 0], pairs[:, 1])))
        if scores.shape != (len(pairs),) or not np.isfinite(scores).all():
            raise ValueError(
                f"selector {self.name!r}: the model gave scores of shape {scores.shape} "
                f"(finite: {bool(np.isfinite(scores).all())}) for {len(pairs)} pairs"
            )
        return scores.astype(np.float64)

    def _specs(
        self, pool: SegmentPool, pairs: np.ndarray, scores: np.ndarray | None, k: int
    ) -> list[QuerySpec]:
        return [
            QuerySpec(
                pool.ref(a), pool.ref(b), self.name, None if scores is None else float(scores[i]), k
            )
            for i, (a, b) in enumerate(pairs.tolist())
        ]


_SELECTORS: dict[str, Selector] = {
    "uniform": Selector("uniform", None),
    "disagreement": Selector("disagreement", disagreement_score),
    "entropy": Selector("entropy", entropy_score),
}


def selector_names() -> tuple[str, ...]:
    """Names of the registered selectors."""
    return tuple(_SELECTORS)


def get_selector(name: str) -> Selector:
    """The selector registered as ``name``; a ValueError lists the valid names."""
    if name not in _SELECTORS:
        raise ValueError(f"unknown selector {name!r}; valid selectors: {selector_names()}")
    return _SELECTORS[name]


def register_selector(name: str, score: ScoreFn | None, overwrite: bool = False) -> Selector:
    """Registers a selector scoring pairs with ``score(model, batch) -> (B,)`` (higher first)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"selector name must be a non-empty str, got {name!r}")
    if name in _SELECTORS and not overwrite:
        raise ValueError(f"selector {name!r} already exists; pass overwrite=True to replace it")
    _SELECTORS[name] = Selector(name, score)
    return _SELECTORS[name]


def select_queries(
    name: str, pool: SegmentPool, n: int, rng: np.random.Generator, **kwargs: Any
) -> list[QuerySpec]:
    """``get_selector(name).select(pool, n, rng, **kwargs)``."""
    return get_selector(name).select(pool, n, rng, **kwargs)
