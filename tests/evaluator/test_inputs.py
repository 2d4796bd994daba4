"""Call-path checks on every backend: dtype, shape, layout, writability, NaN/inf (raised as
ValueError, naming the input and index), missing heads, masks, flags, and backend choice."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import make_evaluator

from robopref.evaluator import BACKEND_ENV, Evaluator, heads
from robopref.evaluator.blob import encode_blob


@pytest.fixture
def ev(small_blob, backend):
    return make_evaluator(small_blob, backend)


@pytest.fixture
def x(rng):
    """Valid inputs of the small heads: state (5,), action (2,), features (3, 12)."""
    f32 = lambda *s: rng.normal(0, 1, s).astype(np.float32)  # noqa: E731
    return {
        "s": f32(5),
        "a": f32(2),
        "S": f32(4, 5),
        "A": f32(4, 2),
        "f": f32(3, 12),
        "F": f32(4, 3, 12),
    }


def bad_arrays(good: np.ndarray) -> list[tuple[object, str]]:
    """Variants of a valid float32 array that must be refused, and what the error says."""
    wide = np.zeros(good.shape[:-1] + (good.shape[-1] * 2,), np.float32)
    return [
        (good.astype(np.float64), "float32"),
        (good.astype(np.float16), "float32"),
        (good.astype(np.int32), "float32"),
        (good[..., :-1], "shape"),
        (good[None], "shape"),
        (wide[..., ::2], "C-contiguous"),
        (good.tolist(), "float32 array"),
        (None, "float32 array|action is missing"),
    ]


def test_wrong_dtype_shape_or_layout_is_a_value_error(ev, x):
    calls = [
        (lambda v: ev.reward(v, x["a"]), x["s"]),
        (lambda v: ev.reward(x["s"], v), x["a"]),
        (lambda v: ev.reward_batch(v, x["A"]), x["S"]),
        (lambda v: ev.reward_batch(x["S"], v), x["A"]),
        (lambda v: ev.potential(v), x["f"]),
        (lambda v: ev.potential_batch(v), x["F"]),
        (lambda v: ev.shaped(x["f"], v, False), x["f"]),
        (lambda v: ev.shaped_batch(v, x["F"], np.zeros(4, bool)), x["F"]),
    ]
    for call, good in calls:
        call(good)  # the valid input passes
        for bad, what in bad_arrays(good):
            with pytest.raises(ValueError, match=what):
                call(bad)


def test_masks_and_flags_must_be_bool(ev, x):
    with pytest.raises(ValueError, match="bool"):
        ev.potential(x["f"], np.ones(3, np.float32))
    with pytest.raises(ValueError, match="shape"):
        ev.potential(x["f"], np.ones(4, bool))
    with pytest.raises(ValueError, match="bool"):
        ev.shaped_batch(x["F"], x["F"], np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="shape"):
        ev.potential_batch(x["F"], np.ones((4, 2), bool))
    for flag in (0.5, float("nan"), "yes", None):
        with pytest.raises(ValueError, match="terminated"):
            ev.shaped(x["f"], x["f"], flag)
    assert ev.shaped(x["f"], x["f"], np.True_) == ev.shaped(x["f"], x["f"], 1)


def test_nan_or_inf_input_raises_naming_where(ev, x):
    s, a = x["s"].copy(), x["a"].copy()
    s[3] = np.nan
    with pytest.raises(ValueError, match="state: NaN or inf, index 3"):
        ev.reward(s, a)
    a[1] = -np.inf
    with pytest.raises(ValueError, match="action: NaN or inf, index 1"):
        ev.reward(x["s"], a)
    S = x["S"].copy()
    S[2, 4] = np.inf
    with pytest.raises(ValueError, match="states: NaN or inf at row 2, index 4"):
        ev.reward_batch(S, x["A"])
    F = x["F"].copy()
    F[1, 2, 7] = np.nan
    with pytest.raises(ValueError, match="features: NaN or inf at row 1, view 2, index 7"):
        ev.potential_batch(F)
    with pytest.raises(ValueError, match="next_features: NaN or inf at row 1, view 2"):
        ev.shaped_batch(x["F"], F, np.zeros(4, bool))
    # Absent views and the next state of a terminal transition are not read at all.
    mask = np.ones((4, 3), bool)
    mask[1, 2] = False
    assert np.isfinite(ev.potential_batch(F, mask)).all()
    assert np.isfinite(ev.shaped_batch(x["F"], F, np.array([0, 1, 0, 0], bool))).all()


def test_a_row_without_views_is_refused(ev, x):
    with pytest.raises(ValueError, match="mask: no view present"):
        ev.potential(x["f"], np.zeros(3, bool))
    mask = np.ones((4, 3), bool)
    mask[3] = False
    with pytest.raises(ValueError, match="mask: no view present at row 3"):
        ev.potential_batch(x["F"], mask)
    with pytest.raises(ValueError, match="next_mask: no view present at row 3"):
        ev.shaped_batch(x["F"], x["F"], np.zeros(4, bool), None, mask)


def test_non_finite_output_is_refused(make, rng):
    head = heads.random_preference_head(rng, 3, hidden=(4,), members=2, output_activation="none")
    head["input_std"][:] = 1e-30  # a finite input far outside the data overflows float32
    ev = make(preference=head)
    assert np.isfinite(ev.reward(np.ones(3, np.float32))).all()
    with pytest.raises(ValueError, match="non-finite output"):
        ev.reward(np.full(3, 1e20, np.float32))


def test_state_heads_ignore_actions_and_state_action_heads_need_them(make, rng, x):
    state_head = make(preference=heads.random_preference_head(rng, 5, hidden=(4,)))
    assert state_head.reward(x["s"]) == state_head.reward(x["s"], "ignored")
    both = make(preference=heads.random_preference_head(rng, 5, 2, hidden=(4,)))
    with pytest.raises(ValueError, match="action is missing"):
        both.reward(x["s"])
    with pytest.raises(ValueError, match="action is missing"):
        both.reward_batch(x["S"])


def test_outputs_and_empty_batches(ev, x):
    means, spreads = ev.reward_batch(x["S"], x["A"])
    assert means.dtype == spreads.dtype == np.float32 and means.shape == (4,)
    assert (spreads >= 0).all()
    empty = np.zeros((0, 5), np.float32)
    assert ev.reward_batch(empty, np.zeros((0, 2), np.float32))[0].shape == (0,)
    assert ev.potential_batch(np.zeros((0, 3, 12), np.float32)).shape == (0,)
    out = np.empty(4, np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        ev._impl.potential_batch(x["F"], None, out)


def test_a_missing_head_is_named(make, rng, x):
    only_pref = make(preference=heads.random_preference_head(rng, 5, hidden=(4,)))
    with pytest.raises(ValueError, match="has no PRM head"):
        only_pref.potential(x["f"])
    only_prm = make(prm=heads.random_prm_head(rng, dim=12, hidden=(4,)))
    with pytest.raises(ValueError, match="shaping constants"):
        only_prm.shaped(x["f"], x["f"], False)
    with pytest.raises(ValueError, match="preference head"):
        only_prm.reward(x["s"])


def test_backend_is_chosen_explicitly_never_by_fallback(small_blob, monkeypatch):
    assert Evaluator.from_bytes(small_blob).backend == "c"
    monkeypatch.setenv(BACKEND_ENV, "numpy")
    assert Evaluator.from_bytes(small_blob).backend == "numpy"
    with pytest.raises(ValueError, match="unknown evaluator backend 'fortran'"):
        Evaluator.from_bytes(small_blob, backend="fortran")
    # A missing build: the C backend raises, saying how to build, and does not fall back.
    monkeypatch.setitem(sys.modules, "robopref.evaluator._evaluator", None)
    monkeypatch.delattr("robopref.evaluator._evaluator", raising=False)
    with pytest.raises(ImportError, match="not built"):
        Evaluator.from_bytes(small_blob, backend="c")


def test_the_c_extension_is_built_and_imports_no_torch():
    import subprocess

    code = (
        "import sys, robopref.evaluator as e, robopref.evaluator._evaluator as c;"
        "assert 'torch' not in sys.modules, 'torch imported';"
        "print(c.KERNELS)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "generic" in out.stdout


def test_unknown_kernel_is_refused(small_blob):
    from robopref.evaluator import _evaluator

    with pytest.raises(ValueError, match="unknown kernel 'gpu'"):
        _evaluator.Evaluator(small_blob, kernel="gpu")
    assert _evaluator.Evaluator(small_blob, kernel="generic").kernel == "generic"
    assert (
        encode_blob(gamma=0.5) and _evaluator.Evaluator(encode_blob(gamma=0.5)).info["gamma"] == 0.5
    )
