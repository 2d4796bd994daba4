"""Exporting saved models into a blob, and the benchmark row (a tiny smoke run)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from robopref.evaluator import Evaluator, export_models, read_blob
from robopref.rewards import PreferenceRewardConfig, PreferenceRewardModel


def test_export_models_from_a_saved_preference_model(tmp_path, rng):
    model = PreferenceRewardModel(6, 2, PreferenceRewardConfig(hidden=(16,), input="state_action"))
    model.save(tmp_path / "pref.pt")
    path = export_models(tmp_path / "r.rpe", preference_model=tmp_path / "pref.pt", gamma=0.97)
    info = Evaluator.load(path).info
    assert (info["preference"]["obs_dim"], info["preference"]["act_dim"]) == (6, 2)
    assert (info["gamma"], info["scale"], info["prm"]) == (0.97, 1.0, None)
    obs = rng.normal(size=(50, 6)).astype(np.float32)
    act = rng.normal(size=(50, 2)).astype(np.float32)
    got = Evaluator.load(path).reward_batch(obs, act)
    for g, w in zip(got, model.reward(obs, act)):
        assert np.abs(g - w).max() <= 1e-5
    assert read_blob(path).preference["input"] == "state_action"


def test_export_models_from_a_saved_prm(tmp_path):
    import robopref.rewards.prm as prm

    model = prm.ProcessRewardModel(prm.PRMConfig(image_size=36, steps=1))
    model.save(tmp_path / "prm.pt")
    path = export_models(tmp_path / "r.rpe", prm_model=tmp_path / "prm.pt", gamma=None)
    info = Evaluator.load(path).info
    assert info["prm"]["views"] == tuple(model.config.views) and info["gamma"] is None


def test_export_models_says_when_the_prm_module_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "robopref.rewards.prm", None)
    with pytest.raises(ImportError, match="cannot export the PRM"):
        export_models(tmp_path / "r.rpe", prm_model=tmp_path / "prm.pt")
    assert not (tmp_path / "r.rpe").exists()


def test_export_models_refuses_nothing_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="nothing to export"):
        export_models(tmp_path / "r.rpe", gamma=None)
    with pytest.raises(FileNotFoundError):
        export_models(tmp_path / "r.rpe", preference_model=tmp_path / "missing.pt")


def test_benchmark_row_smoke():
    import torch

    from robopref.benchmarks.evaluator import bench_evaluator

    threads = torch.get_num_threads()
    try:
        row = bench_evaluator("prm", calls=200)
    finally:
        torch.set_num_threads(threads)  # the benchmark runs torch on one thread
    keys = ("c_us_p50", "torch_us_p50", "numpy_us_p50", "bound_us", "stream_us", "core_gmacs")
    assert all(row[k] > 0 for k in keys), row
    # The row's times are rounded to 0.01 us and the speedup to 0.1: the ratio of the
    # rounded times may differ by their relative rounding error times the ratio (0.27 at a
    # speedup of 80 over a 1.6 us C call) plus the speedup's own rounding.
    ratio = row["torch_us_p50"] / row["c_us_p50"]
    slack = ratio * (0.005 / row["c_us_p50"] + 0.005 / row["torch_us_p50"]) + 0.05 + 1e-9
    assert row["speedup_vs_torch"] == pytest.approx(ratio, abs=slack)
    assert row["macs"] == 3 * 64 * 2 + 64 * 256 + 256 * 21
    with pytest.raises(ValueError, match="unknown head"):
        bench_evaluator("vlm", calls=1)
