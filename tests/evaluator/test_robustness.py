"""The C extension under stress: fuzzing in a subprocess (a crash fails the test), no memory
or reference growth over 100,000 calls (error paths included), several threads on one
Evaluator, and the GIL released in batch calls."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from robopref.evaluator import _evaluator, heads
from robopref.evaluator.blob import encode_blob

HERE = Path(__file__).parent


@pytest.mark.subprocess
def test_fuzz_blob_loader_and_call_paths_in_a_subprocess():
    env = {**os.environ, "FUZZ_EXAMPLES": "300"}
    out = subprocess.run(
        [sys.executable, str(HERE / "fuzz_targets.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    # A negative return code is a signal (SIGSEGV, SIGABRT): the extension crashed.
    assert out.returncode == 0, f"return code {out.returncode}\n{out.stderr[-4000:]}"
    assert "fuzz ok" in out.stderr


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_100k_calls_do_not_grow_memory_or_references(small_blob, rng):
    ev = _evaluator.Evaluator(small_blob)
    s, a = rng.normal(size=5).astype(np.float32), rng.normal(size=2).astype(np.float32)
    f = rng.normal(size=(3, 12)).astype(np.float32)
    S, A = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    F, T = rng.normal(size=(8, 3, 12)).astype(np.float32), np.zeros(8, bool)
    m32, sd32, o32, o64 = (np.empty(8, t) for t in ("f4", "f4", "f4", "f8"))
    bad = s.copy()
    bad[0] = np.nan
    wrong = np.zeros((8, 3, 11), np.float32)  # fails after two buffers are held

    def error(call):
        try:
            call()
        except ValueError:
            return
        raise AssertionError("expected a ValueError")

    calls = [
        lambda: ev.reward(s, a),
        lambda: ev.potential(f),
        lambda: ev.shaped(f, f, False),
        lambda: ev.reward_batch(S, A, m32, sd32),
        lambda: ev.potential_batch(F, None, o32),
        lambda: ev.shaped_batch(F, F, T, None, None, o64),
        lambda: error(lambda: ev.reward(bad, a)),
        lambda: error(lambda: ev.shaped_batch(F, F, T, None, None, np.empty(8, np.float32))),
        lambda: error(lambda: ev.shaped_batch(F, wrong, T, None, None, o64)),
    ]
    arrays = (s, a, f, S, A, F, T, m32, sd32, o32, o64, bad, wrong)
    for call in calls:  # warm up allocator pools and caches
        for _ in range(2000):
            call()
    refs = [sys.getrefcount(x) for x in arrays]
    before = rss_kib()
    for call in calls:
        for _ in range(100_000 // len(calls) + 1):
            call()
    grown = rss_kib() - before
    assert [sys.getrefcount(x) for x in arrays] == refs  # every buffer released, every path
    assert grown < 1024, f"RSS grew by {grown} KiB over 100,000 calls"


@pytest.fixture
def big_evaluator(rng):
    pref = heads.random_preference_head(rng, 37, 4, hidden=(128, 128))
    prm = heads.random_prm_head(rng, dim=64, hidden=(128,))
    return _evaluator.Evaluator(encode_blob(pref, prm, gamma=0.99))


def test_threads_sharing_one_evaluator_get_single_threaded_results(big_evaluator, rng):
    n = 400
    S, A = rng.normal(size=(n, 37)).astype(np.float32), rng.normal(size=(n, 4)).astype(np.float32)
    F, G = (rng.normal(size=(n, 3, 64)).astype(np.float32) for _ in range(2))
    T = rng.random(n) < 0.2

    def work():
        out = [np.empty(n, np.float32) for _ in range(3)] + [np.empty(n, np.float64)]
        big_evaluator.reward_batch(S, A, out[0], out[1])
        big_evaluator.potential_batch(F, None, out[2])
        big_evaluator.shaped_batch(F, G, T, None, None, out[3])
        return out

    want = work()
    results: list = []

    def thread_main():
        for _ in range(5):
            results.append(work())

    threads = [threading.Thread(target=thread_main) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    for got in results:
        assert all(np.array_equal(g, w) for g, w in zip(got, want))


@pytest.mark.parametrize("method", ["reward_batch", "potential_batch", "shaped_batch"])
def test_batch_calls_release_the_gil(big_evaluator, rng, method):
    """With the switch interval set out of reach, another thread runs during the call only if
    the call itself releases the GIL; so the counter moves during the call exactly when it
    does. The call is made long (tens of ms) so that, on a loaded machine, the other thread
    is surely scheduled before it ends."""
    n = 30000
    S, A = rng.normal(size=(n, 37)).astype(np.float32), rng.normal(size=(n, 4)).astype(np.float32)
    F = rng.normal(size=(n, 3, 64)).astype(np.float32)
    args = {
        "reward_batch": (S, A, np.empty(n, np.float32), np.empty(n, np.float32)),
        "potential_batch": (F, None, np.empty(n, np.float32)),
        "shaped_batch": (F, F, np.zeros(n, bool), None, None, np.empty(n)),
    }[method]
    started, done = threading.Event(), threading.Event()
    counter = [0]
    during = []

    def caller():
        started.set()
        before = counter[0]
        for _ in range(5):  # five calls: the main thread gets several chances to run
            getattr(big_evaluator, method)(*args)
        during.append(counter[0] - before)
        done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        t = threading.Thread(target=caller)
        t.start()
        started.wait()
        while not done.is_set():
            counter[0] += 1
            done.wait(0.0005)  # blocks briefly, releasing the GIL so the caller can finish
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert during[0] > 0
