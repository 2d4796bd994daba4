"""Task variants (a new cube size or colour): what the PRM's one-shot adaptation adapts to."""

from __future__ import annotations

import numpy as np
import pytest

import sim


@pytest.mark.parametrize("backend", ["mujoco", "bullet"])
def test_variant_changes_the_cube_and_the_expert_still_solves_it(backend):
    env = sim.make(
        "panda-lift", backend=backend, object_half_size=0.028, object_rgba=(0.1, 0.3, 0.9, 1)
    )
    nominal = sim.make("panda-lift", backend=backend)
    try:
        assert env.task.h == 0.028 and env.base_scene.object_rgba == (0.1, 0.3, 0.9, 1.0)
        obs, info = env.reset(seed=0)
        ref, _ = nominal.reset(seed=0)
        # A blue cube in the front view: the red-dominant pixels of the nominal scene fall.
        red = lambda im: int(((im[..., 0] > 150) & (im[..., 2] < 80)).sum())  # noqa: E731
        blue = lambda im: int(((im[..., 2] > 150) & (im[..., 0] < 80)).sum())  # noqa: E731
        assert red(obs["front"]) < red(ref["front"]) and blue(obs["front"]) > blue(ref["front"])
        expert = sim.expert("panda-lift")
        for _ in range(env.max_steps):
            obs, _, term, trunc, info = env.step(expert(obs, info))
            if term or trunc:
                break
        assert info["success"]
    finally:
        env.close()
        nominal.close()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"object_half_size": 0.2}, "object_half_size"),
        ({"object_half_size": "big"}, "object_half_size"),
        ({"object_rgba": (1, 0, 0)}, "object_rgba"),
        ({"object_rgba": (2, 0, 0, 1)}, "object_rgba"),
    ],
)
def test_bad_variant_options(options, match):
    with pytest.raises(ValueError, match=match):
        sim.make("panda-push", **options)


def test_rollout_records_the_variant(tmp_path):
    from robopref.data import EpisodeStore
    from robopref.rollout import RolloutConfig, run_rollouts

    cfg = RolloutConfig(
        task="panda-reach",
        episodes=1,
        out=str(tmp_path),
        video=False,
        policy="perturbed",
        object_half_size=0.03,
        object_rgba=(0, 0, 1, 1),
    )
    run_rollouts(cfg, progress_bar=False)
    (ep,) = list(EpisodeStore(tmp_path))
    assert ep.metadata["object_half_size"] == 0.03 and ep.metadata["source"] == "perturbed"
    assert np.isfinite(ep.state).all()


def test_perturbed_rollouts_show_progress_and_regress(tmp_path):
    from robopref.data import EpisodeStore
    from robopref.rollout import RolloutConfig, run_rollouts

    cfg = RolloutConfig(
        task="panda-lift",
        policy="perturbed",
        episodes=4,
        out=str(tmp_path),
        seed=100,
        video=False,
        cameras=(),
    )
    run_rollouts(cfg, progress_bar=False)
    eps = list(EpisodeStore(tmp_path))
    rises = [float(np.max(np.maximum.accumulate(e.progress) - e.progress[0])) for e in eps]
    drops = [float(np.max(np.maximum.accumulate(e.progress) - e.progress)) for e in eps]
    assert max(rises) > 0.3  # the expert still makes progress between bursts
    assert max(drops) > 0.1  # and a burst of random actions undoes some of it
