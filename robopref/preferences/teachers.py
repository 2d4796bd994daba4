"""Scripted teachers: B-Pref's simulated humans, labelling pairs of segments from true rewards.

B-Pref (Lee et al., NeurIPS 2021 Datasets and Benchmarks; ``reward_model.py: get_label`` in
rll-research/BPref) models an imperfect teacher with one stochastic rule and five knobs, applied
in this order to a pair of segments A, B of ``H`` steps with true per-step rewards:

1. **skip** (``eps_skip``): if neither segment reaches the skip threshold,
   ``max(R_A, R_B) <= eps_skip * margin``, the teacher does not answer ("skip").
2. **myopic** (``gamma``): step ``t`` of ``H`` counts ``gamma ** (H - 1 - t)``: the end of a
   segment weighs most, as a person remembers it best.
3. **stochastic** (``beta``): ``P(A) = sigmoid(beta * (R_A - R_B))`` on the (myopic) returns,
   Bradley-Terry with rationality ``beta``; ``beta = inf`` is the perfectly rational teacher
   (B-Pref's ``beta <= 0``). An exact tie is a fair coin, the ``beta -> inf`` limit.
4. **mistake** (``eps_mistake``): the answer is flipped with probability ``eps_mistake``.
5. **equal** (``eps_equal``): if ``|R_A - R_B| < eps_equal * margin`` (undiscounted returns),
   the answer is "equal", whatever the steps above gave.

The thresholds are relative to the data: ``margin`` is the return a typical segment earns,
which B-Pref's ``train_PEBBLE.py`` sets to the mean true return of the last 10 training
episodes times ``H / T`` (segment over episode length; `segment_margin`) and refreshes as the
policy improves. Set it with `ScriptedTeacher.with_margin`. As in B-Pref, a margin <= 0 (tasks
with negative rewards) switches skip and equal off; score such tasks with privileged progress
(`segment_rewards` with ``signal="progress"``), which is never negative.

Presets (B-Pref's README/paper teachers): `teacher_names` lists them, `make_teacher` builds one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from robopref.data import Episode, EpisodeStore
from robopref.preferences.records import Label
from robopref.preferences.store import LabelStore

# The preset teachers of B-Pref (its README lists the same parameter sets; "stochastic" is its
# "Noisy" teacher). Unset fields keep the oracle's values.
_PRESETS: dict[str, dict[str, float]] = {
    "oracle": {},
    "stochastic": {"beta": 1.0},
    "mistake": {"eps_mistake": 0.1},
    "myopic": {"gamma": 0.9},
    "skip": {"eps_skip": 0.1},
    "equal": {"eps_equal": 0.1},
}


def _number(name: str, v: Any, low: float, high: float, inf_ok: bool = False) -> float:
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool)
    if not ok or math.isnan(v) or not low <= v <= high or (math.isinf(v) and not inf_ok):
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {v!r}")
    return float(v)


@dataclasses.dataclass(frozen=True)
class ScriptedTeacher:
    """B-Pref's parameterized teacher (see the module docstring for the rule).

    Attributes:
        beta: rationality, ``>= 0``; ``math.inf`` answers by the larger return, 0 at random.
        gamma: myopia discount in (0, 1]; 1 weighs all steps equally.
        eps_mistake: probability of flipping the answer, in [0, 1].
        eps_skip: skip threshold as a fraction of ``margin``, >= 0.
        eps_equal: equal threshold as a fraction of ``margin``, >= 0.
        margin: return of a typical segment (`segment_margin`); required when ``eps_skip`` or
            ``eps_equal`` is positive.
        name: names the teacher in annotator ids (``"teacher:<name>"``).
    """

    beta: float = math.inf
    gamma: float = 1.0
    eps_mistake: float = 0.0
    eps_skip: float = 0.0
    eps_equal: float = 0.0
    margin: float | None = None
    name: str = "custom"

    def __post_init__(self) -> None:
        set_ = lambda name, v: object.__setattr__(self, name, v)  # noqa: E731 (frozen)
        set_("beta", _number("beta", self.beta, 0.0, math.inf, inf_ok=True))
        set_("gamma", _number("gamma", self.gamma, 0.0, 1.0))
        if self.gamma == 0:
            raise ValueError("gamma must be > 0 (0 would ignore all but the last step)")
        set_("eps_mistake", _number("eps_mistake", self.eps_mistake, 0.0, 1.0))
        for field in ("eps_skip", "eps_equal"):
            set_(field, _number(field, getattr(self, field), 0.0, math.inf))
        if self.margin is not None:
            set_("margin", _number("margin", self.margin, -math.inf, math.inf))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")

    def with_margin(self, margin: float) -> ScriptedTeacher:
        """This teacher with the thresholds' scale set (B-Pref refreshes it every round)."""
        return dataclasses.replace(self, margin=margin)

    @property
    def thresholds(self) -> tuple[float, float]:
        """``(skip, equal)`` thresholds on segment returns; 0 where off.

        Raises:
            ValueError: if a threshold is needed but no margin was set.
        """
        if (self.eps_skip > 0 or self.eps_equal > 0) and self.margin is None:
            raise ValueError(
                f"teacher {self.name!r} (eps_skip={self.eps_skip}, eps_equal={self.eps_equal}) "
                "needs a margin: teacher.with_margin(segment_margin(returns, H, T))"
            )
        margin = self.margin or 0.0
        return self.eps_skip * margin, self.eps_equal * margin

    def preference_probability(self, rewards_a: Any, rewards_b: Any) -> np.ndarray:
        """``P(A)`` before mistakes, skips and equals: ``sigmoid(beta * (R_A - R_B))``.

        Args:
            rewards_a: ``(B, H)`` true per-step rewards of segment A of each pair.
            rewards_b: ``(B, H)`` the same for segment B.

        Returns:
            float64 ``(B,)``; with ``beta = inf`` 1, 0, or 0.5 for a tie.
        """
        return self._p_a(*_check_rewards(rewards_a, rewards_b))

    def _p_a(self, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
        weights = self.gamma ** np.arange(ra.shape[1] - 1, -1, -1, dtype=np.float64)
        diff = (ra - rb) @ weights
        if math.isinf(self.beta):
            return 0.5 * (1.0 + np.sign(diff))
        # sigmoid(x) = (1 + tanh(x / 2)) / 2 cannot overflow.
        return 0.5 * (1.0 + np.tanh(0.5 * self.beta * diff))

    def label(self, rewards_a: Any, rewards_b: Any, rng: np.random.Generator) -> list[str]:
        """Answers each pair with ``"a"``, ``"b"``, ``"equal"`` or ``"skip"``.

        Args:
            rewards_a: ``(B, H)`` true per-step rewards of segment A of each pair.
            rewards_b: ``(B, H)`` the same for segment B.
            rng: the only source of randomness (the same generator state, the same labels).

        Raises:
            ValueError: on malformed or non-finite rewards, or a missing margin.
        """
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        thres_skip, thres_equal = self.thresholds
        rewards = _check_rewards(rewards_a, rewards_b)
        p_a = self._p_a(*rewards)
        ra, rb = (r.sum(1) for r in rewards)  # skip and equal use undiscounted returns
        # A fixed number of draws per pair keeps the stream independent of the parameters.
        u_choice, u_mistake = rng.random((2, len(p_a)))
        pick_a = (u_choice < p_a) ^ (u_mistake < self.eps_mistake)
        labels = np.where(pick_a, "a", "b").astype(object)
        # B-Pref marks "equal" after the mistake flip, so equal answers are never flipped.
        labels[np.abs(ra - rb) < thres_equal] = "equal"
        if thres_skip > 0:  # B-Pref's guard: a threshold <= 0 means no skipping
            labels[np.maximum(ra, rb) <= thres_skip] = "skip"
        return [str(v) for v in labels]

    __call__ = label


def _check_rewards(rewards_a: Any, rewards_b: Any) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, r in (("rewards_a", rewards_a), ("rewards_b", rewards_b)):
        r = np.asarray(r)
        if r.dtype.kind not in "biuf" or r.ndim != 2 or r.shape[1] < 1:
            raise ValueError(f"{name}: expected a real (B, H) array, got {r.dtype} {r.shape}")
        if not np.isfinite(r).all():
            raise ValueError(f"{name}: contains NaN or inf (unknown reward: real robot?)")
        out.append(r.astype(np.float64))
    if out[0].shape != out[1].shape:
        raise ValueError(f"rewards_a {out[0].shape} and rewards_b {out[1].shape} differ")
    return out[0], out[1]


def segment_margin(
    episode_returns: Sequence[float], segment_length: int, episode_length: int
) -> float:
    """B-Pref's threshold scale: mean episode return times ``segment_length / episode_length``.

    B-Pref (``train_PEBBLE.py``) averages the true returns of the last 10 training episodes
    and refreshes the margin before every round of queries.

    Raises:
        ValueError: no or non-finite returns, or ``segment_length`` outside
            ``1 .. episode_length``.
    """
    returns = np.asarray(episode_returns, dtype=np.float64)
    if returns.ndim != 1 or returns.size == 0 or not np.isfinite(returns).all():
        raise ValueError(f"episode_returns: expected finite returns, got {episode_returns!r}")
    if not 1 <= segment_length <= episode_length:
        raise ValueError(
            f"need 1 <= segment_length <= episode_length, got {segment_length}, {episode_length}"
        )
    return float(returns.mean() * segment_length / episode_length)


#: Issue 18's simulated crowd: five B-Pref teachers of mixed quality, each answering every
#: query as its own annotator (``teacher.name=crowd`` in training, and the crowd benchmark,
#: `robopref.benchmarks.crowd`): ``name -> (preset, overrides)``.
CROWD: dict[str, tuple[str, dict[str, float]]] = {
    "oracle": ("oracle", {}),
    "stochastic": ("stochastic", {"beta": 1.0}),
    "mistake-0.2": ("mistake", {"eps_mistake": 0.2}),
    "mistake-0.4": ("mistake", {"eps_mistake": 0.4}),
    "skip": ("skip", {"eps_skip": 0.5}),
}


def make_crowd() -> tuple[ScriptedTeacher, ...]:
    """The `CROWD`'s teachers, each named by its crowd name (its annotator id in the label
    store is then ``teacher:<name>``, as `answer_queries` spells it)."""
    return tuple(
        dataclasses.replace(make_teacher(preset, **over), name=name)
        for name, (preset, over) in CROWD.items()
    )


def teacher_names() -> tuple[str, ...]:
    """Names of the preset teachers."""
    return tuple(_PRESETS)


def make_teacher(name: str, **overrides: Any) -> ScriptedTeacher:
    """The preset teacher ``name``, with fields in ``overrides`` changed (e.g. ``margin=``).

    Raises:
        ValueError: for an unknown name (listing the valid ones) or a bad parameter.
    """
    if name not in _PRESETS:
        raise ValueError(f"unknown teacher {name!r}; valid teachers: {teacher_names()}")
    return ScriptedTeacher(**{"name": name, **_PRESETS[name], **overrides})


def register_teacher(name: str, overwrite: bool = False, **params: float) -> None:
    """Adds a preset (``beta``, ``gamma``, ``eps_*`` values) under ``name``.

    Raises:
        ValueError: if ``name`` exists (and not ``overwrite``) or a parameter is bad.
    """
    if name in _PRESETS and not overwrite:
        raise ValueError(f"teacher {name!r} already exists; pass overwrite=True to replace it")
    ScriptedTeacher(name=name, **params)  # validates before registering
    _PRESETS[name] = dict(params)


SIGNALS = ("reward", "progress", "progress-level")


def segment_rewards(
    episode: Episode, start: int, length: int, signal: str = "reward"
) -> np.ndarray:
    """The true per-step rewards a scripted teacher judges steps ``start .. start+length-1`` by.

    Args:
        episode: the (root) episode the segment comes from.
        start, length: the segment, as in `Episode.segment`.
        signal: ``"reward"``, the task reward; ``"progress"``, the per-step gain of the
            privileged sim progress (``progress[t+1] - progress[t]``; a segment's return is
            then the progress it made); or ``"progress-level"``, the progress reached after
            each step (``progress[t+1]``: progress as a dense reward, so a segment that
            holds the task done outranks one that stands still short of it, where their
            gains are both 0).

    Returns:
        float64 ``(length,)``.

    Raises:
        ValueError: an unknown signal, a range outside the episode, or an episode without it
            (NaN reward or no progress: a real-robot recording needs a human).
    """
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; valid: {SIGNALS}")
    seg = episode.segment(start, length)
    if signal in ("progress", "progress-level"):
        if seg.progress is None:
            raise ValueError(f"episode {episode.episode_id} has no progress (not from sim)")
        progress = seg.progress.astype(np.float64)
        return np.diff(progress) if signal == "progress" else progress[1:]
    if np.isnan(seg.reward).any():
        raise ValueError(f"episode {episode.episode_id} has unknown (NaN) task rewards")
    return seg.reward.astype(np.float64)


def answer_queries(
    store: LabelStore,
    episodes: Mapping[str, Episode] | EpisodeStore,
    teacher: ScriptedTeacher,
    rng: np.random.Generator,
    *,
    signal: str = "reward",
    annotator: str | None = None,
    limit: int | None = None,
) -> list[Label]:
    """Labels the store's open queries with a scripted teacher, as a human would in the UI.

    Each query ``annotator`` has not answered yet is labelled and committed in turn (oldest
    first), with ``source = "teacher:<name>"``.

    Args:
        store: the label store.
        episodes: the episodes the queries point into (a dict by id, or an `EpisodeStore`).
        teacher: the teacher; its margin must be set if it skips or says equal.
        rng: the teacher's randomness.
        signal: what the teacher judges by (`segment_rewards`).
        annotator: the annotator id; default ``"teacher:<name>"``.
        limit: stop after this many labels (default: all open queries).

    Returns:
        The stored labels, in order.
    """
    source = f"teacher:{teacher.name}"
    annotator = source if annotator is None else annotator
    load = episodes.load if isinstance(episodes, EpisodeStore) else episodes.__getitem__
    episode = functools.lru_cache(maxsize=64)(load)  # queries reuse episodes; bound the memory
    out: list[Label] = []
    while limit is None or len(out) < limit:
        query = store.next_query(annotator)
        if query is None:
            break
        ra, rb = (
            segment_rewards(episode(seg.episode_id), seg.start, seg.length, signal)
            for seg in (query.seg_a, query.seg_b)
        )
        if ra.shape != rb.shape:
            raise ValueError(f"query {query.id}: segments differ in length ({ra.size}, {rb.size})")
        label = teacher.label(ra[None], rb[None], rng)[0]
        out.append(store.add_label(query.id, label, annotator, source=source).label)
    return out
