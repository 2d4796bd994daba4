"""Parity with torch: every head the evaluator supports, 10,000 random inputs each, max abs
error <= 1e-5 on every backend (C with its own kernels, C generic, the NumPy twin)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import BACKENDS, make_evaluator
from torch import nn

from robopref.evaluator import heads
from robopref.evaluator.blob import encode_blob
from robopref.preferences import PreferenceBatch
from robopref.rewards import PreferenceRewardConfig, PreferenceRewardModel

TOL = 1e-5
N = 10_000
OBS, ACT = 37, 4  # panda-push: state 37, action 4


def trained_normalizer(model: PreferenceRewardModel, rng: np.random.Generator) -> None:
    """Gives the model non-trivial input statistics (train with 0 epochs only updates them)."""
    obs = rng.normal(2.0, 3.0, (64, 5, OBS)).astype(np.float32)
    act = rng.uniform(-1, 1, (64, 5, ACT)).astype(np.float32)
    label = rng.integers(0, 2, 64).astype(np.float32)
    model.train(PreferenceBatch(obs[:32], act[:32], obs[32:], act[32:], label[:32]), epochs=0)


def preference_cases():
    for act, out, kind in itertools.product(
        heads.ACTIVATIONS, heads.OUTPUT_ACTIVATIONS, heads.INPUTS
    ):
        yield pytest.param(
            PreferenceRewardConfig(
                hidden=(64, 48), activation=act, output_activation=out, input=kind, seed=3
            ),
            id=f"{act}-{out}-{kind}",
        )
    # The default head of the issue: 3 x (state -> 256 -> 256 -> 1), LeakyReLU, tanh.
    yield pytest.param(PreferenceRewardConfig(input="state"), id="default-3x256x256-state")


@pytest.mark.parametrize("config", list(preference_cases()))
def test_preference_matches_the_torch_model(config, rng):
    model = PreferenceRewardModel(OBS, ACT, config)
    trained_normalizer(model, rng)
    if config.output_activation == "none":  # scale up so the outputs leave [-1, 1]
        with torch.no_grad():
            model._net.weights[-1].mul_(4.0)
    obs = rng.normal(2.0, 3.0, (N, OBS)).astype(np.float32)
    act = rng.uniform(-1, 1, (N, ACT)).astype(np.float32)
    want_mean, want_spread = model.reward(obs, act)
    data = encode_blob(preference=model.numpy_head(), obs_dim=OBS)
    a = act if config.input == "state_action" else None
    for backend in BACKENDS:
        ev = make_evaluator(data, backend)
        mean, spread = ev.reward_batch(obs, a)
        assert np.abs(mean - want_mean).max() <= TOL, backend
        assert np.abs(spread - want_spread).max() <= TOL, backend
        for i in range(0, N, 997):  # the one-step path gives the batch path's numbers
            one = ev.reward(obs[i], None if a is None else a[i])
            assert np.allclose(
                one, (mean[i], spread[i]), rtol=0, atol=1e-7 if backend != "numpy" else TOL
            )
    assert np.ptp(want_spread) > 0 and np.ptp(want_mean) > 0.05  # the test is not vacuous


class TorchPRMHead(nn.Module):
    """The PRM head maths in torch, written from the head spec (the test oracle)."""

    def __init__(self, h: dict):
        super().__init__()
        t = lambda a: nn.Parameter(torch.from_numpy(np.asarray(a)))  # noqa: E731
        self.embed, self.query = t(h["view_embed"]), t(h["attn_query"])
        self.norm = nn.LayerNorm(len(h["attn_query"]), eps=h["norm_eps"])
        self.norm.weight, self.norm.bias = t(h["norm_weight"]), t(h["norm_bias"])
        self.layers = nn.ModuleList()
        for w, b in zip(h["weights"], h["biases"]):
            layer = nn.Linear(*w.shape)
            layer.weight, layer.bias = t(w.T.copy()), t(b)
            self.layers.append(layer)
        self.act = {"relu": F.relu, "leaky_relu": F.leaky_relu, "tanh": torch.tanh}[h["activation"]]
        self.centers = torch.from_numpy(h["bin_centers"])

    @torch.no_grad()
    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = feats + self.embed
        scores = (h @ self.query) / math.sqrt(h.shape[-1])
        a = F.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        z = self.norm((a.unsqueeze(-1) * h).sum(1))
        for i, layer in enumerate(self.layers):
            z = layer(z)
            z = self.act(z) if i < len(self.layers) - 1 else z
        return F.softmax(z, -1) @ self.centers


def random_mask(rng: np.random.Generator, n: int, v: int) -> np.ndarray:
    mask = rng.random((n, v)) < 0.7
    mask[np.arange(n), rng.integers(0, v, n)] = True  # at least one view per row
    return mask


@pytest.mark.parametrize(
    "views, dim, hidden, bins, activation",
    [
        (("front", "side", "wrist"), 64, (256,), 21, "relu"),  # the PRM's defaults
        (("front", "side", "wrist"), 37, (70, 9), 5, "leaky_relu"),  # tails of every kernel
        (("a", "b"), 128, (64,), 130, "tanh"),
        (("only",), 16, (8,), 2, "relu"),
    ],
)
def test_prm_matches_torch(views, dim, hidden, bins, activation, rng):
    head = heads.random_prm_head(rng, views, dim, hidden, bins, activation)
    head["weights"][-1] *= 6  # sharp bin distributions, not a near-uniform average
    feats = rng.normal(0, 1, (N, len(views), dim)).astype(np.float32)
    mask = random_mask(rng, N, len(views))
    want = TorchPRMHead(head)(torch.from_numpy(feats), torch.from_numpy(mask)).numpy()
    feats[~mask] = np.nan  # absent views are never read
    data = encode_blob(prm=head)
    for backend in BACKENDS:
        ev = make_evaluator(data, backend)
        got = ev.potential_batch(feats, mask)
        assert np.abs(got - want).max() <= TOL, backend
        for i in range(0, N, 997):
            assert abs(ev.potential(feats[i], mask[i]) - got[i]) <= (
                TOL if backend == "numpy" else 0
            )
    assert np.ptp(want) > 0.1


def test_prm_matches_the_real_process_reward_model(rng):
    import robopref.rewards.prm as prm

    model = prm.ProcessRewardModel(prm.PRMConfig(image_size=36, steps=1))
    frames = {v: rng.integers(0, 256, (40, 36, 36, 3), dtype=np.uint8) for v in ("front", "wrist")}
    feats, mask = model.features(frames)
    want = model.predict(frames).potential
    data = encode_blob(prm=model.numpy_head())
    for backend in BACKENDS:
        got = make_evaluator(data, backend).potential_batch(feats, mask)
        assert np.abs(got - want).max() <= TOL, backend


def test_shaped_is_the_shaping_modules_formula(backend, rng):
    from robopref.rewards.shaping import shaping_terms

    head = heads.random_prm_head(rng, dim=24, hidden=(16,), bins=7)
    ev = make_evaluator(encode_blob(prm=head, gamma=0.95, scale=0.5), backend)
    f, g = (rng.normal(0, 1, (500, 3, 24)).astype(np.float32) for _ in range(2))
    m, gm = random_mask(rng, 500, 3), random_mask(rng, 500, 3)
    term = rng.random(500) < 0.3
    want = 0.5 * shaping_terms(ev.potential_batch(f, m), ev.potential_batch(g, gm), term, 0.95)
    got = ev.shaped_batch(f, g, term, m, gm)
    # C: bit for bit. NumPy: BLAS may round a row differently in a batch of another size.
    tol = 1e-6 if backend == "numpy" else 0.0
    assert got.dtype == np.float64 and np.abs(got - want).max() <= tol
    for i in range(0, 500, 37):
        assert abs(ev.shaped(f[i], g[i], bool(term[i]), m[i], gm[i]) - got[i]) <= tol
    # Terminal: Phi(s') is 0 and s' is not evaluated, so even an all-absent s' is fine.
    none = np.zeros(3, bool)
    assert ev.shaped(f[0], g[0], True, m[0], none) == -0.5 * ev.potential(f[0], m[0])
    # Truncation is not termination: Phi(s') counts.
    truncated = 0.5 * (0.95 * ev.potential(g[0]) - ev.potential(f[0]))
    assert abs(ev.shaped(f[0], g[0], False) - truncated) <= tol
