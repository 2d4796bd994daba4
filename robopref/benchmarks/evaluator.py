"""``robopref bench evaluator``: per-call latency of the C evaluator against torch and NumPy.

One JSON line per head, at batch 1 on one core:
``{"head", "kernel", "c_us_p50", "torch_us_p50", "torch_module_us_p50", "numpy_us_p50",
"speedup_vs_torch", "speedup_vs_torch_module", "macs", "weight_bytes", "core_gmacs",
"bound_us", "c_vs_bound", "stream_us", "c_vs_stream"}``.

* ``preference``: the default `PreferenceRewardModel` of ``panda-push`` (state 40, 3 members
  of 40 -> 256 -> 256 -> 1, LeakyReLU, tanh); ``torch_us_p50`` is its ``reward`` (the real
  model, input checks included), ``torch_module_us_p50`` its bare ensemble module.
* ``prm``: the PRM head of `robopref.rewards.prm`'s defaults (3 views, D=64, 64 -> 256 -> 21
  bins), random weights; torch is an equivalent module (both columns are that module).

``bound_us`` is the arithmetic bound: the call's multiply-adds over the multiply-adds per
second one core does, measured in the same run as the best of several 1024^3 float32 matmuls
in torch on one thread (``core_gmacs``). A batch-1 matrix-vector product reads each weight
once for one multiply-add, so the memory path, not the arithmetic, sets the pace once the
weights leave L1: ``stream_us`` is that floor, the time to merely read ``weight_bytes``
once, measured by the extension's own streaming loop.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from robopref.benchmarks.sim import pin_to_one_core
from robopref.evaluator import Evaluator, heads
from robopref.evaluator.blob import encode_blob

if TYPE_CHECKING:
    from typing_extensions import Buffer

HEADS = ("preference", "prm")
OBS_DIM = 40  # panda-push


def _p50_us(fn: Callable[[], Any], calls: int) -> float:
    for _ in range(min(calls, 2000)):  # warm caches, allocators and torch's dispatch
        fn()
    times = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        fn()
        times[i] = clock() - t0
    return float(np.median(times)) / 1e3


def core_macs_per_s(size: int = 1024, reps: int = 15) -> float:
    """Multiply-adds per second of one core: the best of ``reps`` float32 matmuls in torch."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return size**3 / best


def stream_us(nbytes: int, passes: int = 2000, reps: int = 5) -> float:
    """Microseconds to read ``nbytes`` of float32 once, as a call reads its weights: the best
    of ``reps`` runs of ``passes`` passes over a buffer of that size (in the extension, AVX2)."""
    from robopref.evaluator import _evaluator

    buf = np.random.default_rng(0).random(max(nbytes // 4, 32), dtype=np.float32)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        # numpy's stubs give ndarray __buffer__ only on Python >= 3.12 (mypy targets 3.11)
        _evaluator.stream(cast("Buffer", buf), passes)
        best = min(best, (time.perf_counter() - t0) / passes)
    return best * 1e6


def _head_bytes(head: dict[str, Any]) -> int:
    """Bytes of float32 parameters a call reads."""
    arrays = [v for v in head.values() if isinstance(v, np.ndarray)]
    arrays += [a for key in ("weights", "biases") for a in head[key]]
    return 4 * sum(a.size for a in arrays)


def _preference_case(rng: np.random.Generator) -> dict[str, Any]:
    import torch

    from robopref.preferences import PreferenceBatch
    from robopref.rewards import PreferenceRewardConfig, PreferenceRewardModel

    model = PreferenceRewardModel(OBS_DIM, config=PreferenceRewardConfig(input="state"))
    obs = rng.normal(0, 1, (16, 4, OBS_DIM)).astype(np.float32)
    model.train(PreferenceBatch(obs[:8], None, obs[8:], None, np.ones(8, np.float32)), epochs=0)
    head = model.numpy_head()
    x = rng.normal(0, 1, OBS_DIM).astype(np.float32)
    x2, xt = x[None], torch.from_numpy(x)[None]
    net, members = model._net, head["weights"][0].shape[0]

    def module() -> None:
        with torch.inference_mode():
            net(xt.expand(members, -1, -1))

    macs = sum(int(np.prod(w.shape)) for w in head["weights"])
    return {
        "blob": encode_blob(preference=head),
        "call": lambda ev: lambda: ev.reward(x),
        "torch": lambda: model.reward(x2),
        "module": module,
        "macs": macs,
        "weight_bytes": _head_bytes(head),
    }


def _prm_case(rng: np.random.Generator) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    head = heads.random_prm_head(rng, dim=64, hidden=(256,), bins=21)
    v, d = head["view_embed"].shape
    t = torch.from_numpy

    class Head(nn.Module):  # the PRM head maths, as robopref.rewards.prm runs them
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(d, eps=head["norm_eps"])
            with torch.no_grad():
                self.norm.weight.copy_(t(head["norm_weight"]))
                self.norm.bias.copy_(t(head["norm_bias"]))
            self.layers = nn.ModuleList(nn.Linear(*w.shape) for w in head["weights"])
            with torch.no_grad():
                for layer, w, b in zip(self.layers, head["weights"], head["biases"]):
                    linear = cast(nn.Linear, layer)
                    linear.weight.copy_(t(w.T.copy()))
                    linear.bias.copy_(t(b))

        def forward(self, f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            h = f + t(head["view_embed"])
            s = (h @ t(head["attn_query"])) / math.sqrt(d)
            a = F.softmax(s.masked_fill(~m, float("-inf")), dim=1)
            z = self.norm((a.unsqueeze(-1) * h).sum(1))
            z = self.layers[1](F.relu(self.layers[0](z)))
            return F.softmax(z, -1) @ t(head["bin_centers"])

    net = Head().eval()
    f = rng.normal(0, 1, (v, d)).astype(np.float32)
    ft, mt = t(f)[None], torch.ones(1, v, dtype=torch.bool)

    def module() -> None:
        with torch.inference_mode():
            net(ft, mt).item()

    macs = 2 * v * d + sum(int(np.prod(w.shape)) for w in head["weights"])
    return {
        "blob": encode_blob(prm=head),
        "call": lambda ev: lambda: ev.potential(f),
        "torch": module,
        "module": module,
        "macs": macs,
        "weight_bytes": _head_bytes(head),
    }


def bench_evaluator(head: str = "preference", calls: int = 20_000, seed: int = 0) -> dict:
    """Measures one head at batch 1 (call `pin_to_one_core` first, as `main` does).

    Args:
        head: ``"preference"`` or ``"prm"``.
        calls: timed calls per implementation (after a warm-up).
        seed: seeds the weights and inputs.

    Returns:
        The JSON-ready row described in the module docstring (times in microseconds).
    """
    import torch

    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; valid: {HEADS}")
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    case = (_preference_case if head == "preference" else _prm_case)(rng)
    c_ev = Evaluator.from_bytes(case["blob"], backend="c")
    np_ev = Evaluator.from_bytes(case["blob"], backend="numpy")
    c_us = _p50_us(case["call"](c_ev), calls)
    torch_us = _p50_us(case["torch"], calls)
    module_us = _p50_us(case["module"], calls)
    numpy_us = _p50_us(case["call"](np_ev), max(calls // 4, 1))
    macs_per_s = core_macs_per_s()
    bound_us = case["macs"] / macs_per_s * 1e6
    floor_us = stream_us(case["weight_bytes"])
    return {
        "head": head,
        "kernel": c_ev.kernel,
        "c_us_p50": round(c_us, 2),
        "torch_us_p50": round(torch_us, 2),
        "torch_module_us_p50": round(module_us, 2),
        "numpy_us_p50": round(numpy_us, 2),
        "speedup_vs_torch": round(torch_us / c_us, 1),
        "speedup_vs_torch_module": round(module_us / c_us, 1),
        "macs": case["macs"],
        "weight_bytes": case["weight_bytes"],
        "core_gmacs": round(macs_per_s / 1e9, 1),
        "bound_us": round(bound_us, 2),
        "c_vs_bound": round(c_us / bound_us, 2),
        "stream_us": round(floor_us, 2),
        "c_vs_stream": round(c_us / floor_us, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m robopref.benchmarks.evaluator [--heads preference,prm] [--calls N]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--heads", default=",".join(HEADS), help="comma-separated heads")
    p.add_argument("--calls", type=int, default=20_000, help="timed calls per implementation")
    args = p.parse_args(argv)
    pin_to_one_core()
    for head in (h for h in args.heads.split(",") if h):
        print(json.dumps(bench_evaluator(head, calls=args.calls)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
