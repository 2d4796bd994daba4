"""Scripted experts solve their tasks (a modest number of seeds here; 100 in the benchmark)."""

import numpy as np
import pytest

import sim

SEEDS = 8


def run_expert(task, backend, seeds, **options):
    env = sim.make(task, backend=backend, cameras=(), **options)
    policy = sim.expert(task)
    wins, progress_ok = 0, True
    try:
        for seed in range(seeds):
            obs, info = env.reset(seed=seed)
            done = False
            while not done:
                obs, reward, term, trunc, info = env.step(policy(obs, info))
                done = term or trunc
            wins += info["success"]
            progress_ok &= (info["progress"] == 1.0) == info["success"]
    finally:
        env.close()
    return wins, progress_ok


@pytest.mark.slow
@pytest.mark.parametrize("backend", sim.list_backends())
@pytest.mark.parametrize("task", sim.list_tasks(include_dmc=False))
def test_expert_succeeds(task, backend):
    wins, progress_ok = run_expert(task, backend, SEEDS)
    assert wins >= SEEDS - 1, f"{task} on {backend}: {wins}/{SEEDS}"
    assert progress_ok, "progress must be 1 exactly when the task is solved"


@pytest.mark.slow
@pytest.mark.parametrize("task", ["panda-lift", "panda-push"])
def test_expert_succeeds_under_domain_randomization(task):
    wins, _ = run_expert(task, "mujoco", SEEDS, randomize=True)
    assert wins >= SEEDS - 2, f"{task}: {wins}/{SEEDS}"


def test_random_policy_rarely_succeeds_and_progress_is_low():
    env = sim.make("panda-pick-place", cameras=())
    rng = np.random.default_rng(0)
    try:
        obs, info = env.reset(seed=0)
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(rng.uniform(-1, 1, 4))
            done = term or trunc
        assert not info["success"] and info["progress"] < 0.5
    finally:
        env.close()


def test_noisy_expert_needs_an_rng():
    from sim.experts import GraspExpert

    with pytest.raises(ValueError, match="rng"):
        GraspExpert(noise_std=0.1)


def test_push_expert_progress_hardly_ever_falls():
    env = sim.make("panda-push")
    expert = sim.expert("panda-push")
    drops = []
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        last, worst = info["progress"], 0.0
        for _ in range(env.unwrapped.task.max_steps):
            obs, _, terminated, truncated, info = env.step(expert(obs, info))
            worst = min(worst, info["progress"] - last)
            last = info["progress"]
            if terminated or truncated:
                break
        drops.append(worst)
    env.close()
    assert min(drops) > -0.1, drops


@pytest.mark.parametrize("task", ["panda-lift", "panda-pick-place"])
def test_the_missed_grasp_expert_raises_a_closed_empty_hand(task):
    """Hard negatives for the PRM: the gripper closes beside the cube, never on it, and the
    empty hand rises; the task's progress stays low."""
    from robopref.rollout import episode_rng

    env = sim.make(task, cameras=())
    try:
        for seed in range(3):
            policy = sim.missed_grasp_expert(task, episode_rng(seed))
            obs, info = env.reset(seed=seed)
            cube0 = np.asarray(info["privileged"]["object_pos"]).copy()
            done, closed, grasped, heights, progress = False, False, False, [], []
            while not done:
                action = policy(obs, info)
                closed |= action[3] < 0
                obs, _, term, trunc, info = env.step(action)
                done = term or trunc
                p = info["privileged"]
                grasped |= bool(p["grasped"])
                heights.append(float(p["tcp"][2]))
                progress.append(info["progress"])
            cube = np.asarray(p["object_pos"])
            assert closed and not grasped and not info["success"]
            assert max(heights[-10:]) > cube0[2] + 0.08  # the empty hand is up in the air
            assert np.linalg.norm(cube - cube0) < 0.01  # the cube was never touched
            assert max(progress) < 0.35
    finally:
        env.close()


def test_the_missed_grasp_expert_needs_a_grasping_task():
    with pytest.raises(ValueError, match=r"no missed-grasp policy for 'panda-reach'.*valid: \["):
        sim.missed_grasp_expert("panda-reach", np.random.default_rng(0))
