"""One PRM for several tasks: task conditioning, save/load, unknown tasks, adaptation, export
to the C evaluator, and ``robopref reward train-prm --task a,b``.

The two tasks are test_prm's synthetic episodes seen through the front camera only, once as
they are and once mirrored (the square slides the other way): the same picture is early in
one task and late in the other, so only the task embedding can tell the model which.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_prm import TINY, episodes, synthetic_episode

from robopref.cli import main
from robopref.data import EpisodeStore
from robopref.evaluator import Evaluator, export_models
from robopref.evaluator.blob import encode_blob
from robopref.rewards.compare import compare_rewards
from robopref.rewards.prm import PRMConfig, ProcessRewardModel
from robopref.rewards.prm_train import adapt_prm, evaluate_prm, frame_set, train_prm

NOMINAL, MIRRORED = "panda-push", "panda-lift"  # any two names; real ones for the CLI
FRONT = ("front",)
MULTI = dict(TINY, views=FRONT, tasks=(NOMINAL, MIRRORED))
TOL = 1e-5


def task_episodes(task: str, seed0: int, n: int) -> list:
    eps = episodes(seed0, n, views=FRONT, mirrored_front=task == MIRRORED)
    for ep in eps:
        ep.metadata["task"] = task
    return eps


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from torch's threads, and lose ten times over to them on a
    machine whose cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def multi() -> ProcessRewardModel:
    """A multi-task model trained on both tasks (no task chosen: each episode's own)."""
    model = ProcessRewardModel(PRMConfig(**MULTI, steps=300, seed=2), name="multi")
    data = frame_set(model, task_episodes(NOMINAL, 0, 9) + task_episodes(MIRRORED, 100, 9))
    train_prm(model, data)
    return model


@pytest.fixture(scope="module")
def held_out() -> dict[str, list]:
    return {NOMINAL: task_episodes(NOMINAL, 1000, 6), MIRRORED: task_episodes(MIRRORED, 1100, 6)}


def spearman(model: ProcessRewardModel, eps: list) -> float:
    return evaluate_prm(model, frame_set(model, eps), subsets=[FRONT])["spearman"]


def copy_of(model: ProcessRewardModel, tmp_path) -> ProcessRewardModel:
    return ProcessRewardModel.load(model.save(tmp_path / "copy.prm"))


def test_training_conditions_each_frame_on_its_episodes_task(multi, held_out):
    a, b = held_out[NOMINAL][:2], held_out[MIRRORED][:1]
    data = frame_set(multi, a + b)
    n_a = sum(ep.length + 1 for ep in a)
    assert data.task is not None
    assert (data.task[:n_a] == 0).all() and (data.task[n_a:] == 1).all()
    assert multi.task == ""  # frame_set read the episodes' tasks, it chose none
    single = ProcessRewardModel(PRMConfig(**TINY))
    assert frame_set(single, a).task is None


def test_the_task_changes_the_potential_of_the_same_frames(multi, held_out, tmp_path):
    model = copy_of(multi, tmp_path)
    # With no task chosen, each held-out episode is read as its own task: both are learnt.
    assert spearman(model, held_out[NOMINAL] + held_out[MIRRORED]) > 0.8
    for task, other in ((NOMINAL, MIRRORED), (MIRRORED, NOMINAL)):
        model.for_task(task)
        assert spearman(model, held_out[task]) > 0.8, task
        # The same frames, read as the other task, run backwards.
        assert spearman(model, held_out[other]) < -0.3, task
    frames = held_out[NOMINAL][0].frames
    phi = {t: model.for_task(t).potential_batch(frames) for t in (NOMINAL, MIRRORED)}
    assert np.abs(phi[NOMINAL] - phi[MIRRORED]).max() > 0.5
    # An expert episode: from start to goal as its own task, from goal to start mirrored.
    assert phi[NOMINAL][-1] - phi[NOMINAL][0] > 0.4
    assert phi[MIRRORED][-1] - phi[MIRRORED][0] < -0.4
    # The other outputs are conditioned as well.
    early, late = {"front": frames["front"][:3]}, {"front": frames["front"][-3:]}
    hop = {t: model.for_task(t).hop(early, late) for t in (NOMINAL, MIRRORED)}
    assert (hop[NOMINAL] > 0.2).all() and (hop[MIRRORED] < -0.2).all()


def test_save_load_keeps_the_tasks_the_current_task_and_the_outputs(multi, held_out, tmp_path):
    frames = held_out[MIRRORED][1].frames
    model = copy_of(multi, tmp_path).for_task(MIRRORED)
    path = model.save(tmp_path / "m.prm")
    payload = torch.load(path, weights_only=True)
    assert payload["version"] == 3 and payload["config"]["tasks"] == [NOMINAL, MIRRORED]
    assert payload["task"] == MIRRORED and "task_embed.weight" in payload["state_dict"]
    loaded = ProcessRewardModel.load(path)
    assert loaded.tasks == (NOMINAL, MIRRORED) and loaded.task == MIRRORED
    assert loaded.config == multi.config and loaded.history == multi.history
    for task in (NOMINAL, MIRRORED):
        np.testing.assert_array_equal(
            loaded.for_task(task).predict(frames).bins, model.for_task(task).predict(frames).bins
        )
    # Saved with no task chosen, it loads with none.
    none = ProcessRewardModel.load(copy_of(multi, tmp_path).save(tmp_path / "none.prm"))
    assert none.task == "" and none.tasks == (NOMINAL, MIRRORED)
    assert "tasks=['panda-push', 'panda-lift']" in repr(none)


def test_an_unknown_or_missing_task_is_a_clear_error(multi, held_out, tmp_path):
    model = copy_of(multi, tmp_path)
    known = r"it knows \['panda-push', 'panda-lift'\]"
    with pytest.raises(ValueError, match=f"not trained on task 'panda-stack'; {known}"):
        model.for_task("panda-stack")
    with pytest.raises(ValueError, match=known):
        model.task = "panda-stack"
    with pytest.raises(ValueError, match=known):
        ProcessRewardModel(PRMConfig(**MULTI), task="panda-stack")
    assert model.task == ""  # nothing was chosen by the failed calls
    frames = held_out[NOMINAL][0].frames
    for call in (
        lambda: model.potential({"front": frames["front"][0]}),
        lambda: model.predict(frames),
        lambda: model.hop(frames, frames),
        lambda: model.numpy_head(),
    ):
        with pytest.raises(ValueError, match="multi-task PRM of tasks .*choose"):
            call()
    stray = task_episodes("panda-stack", 5, 1)
    with pytest.raises(ValueError, match=f"task 'panda-stack', which .* not trained on; {known}"):
        frame_set(model, stray)
    model.for_task(NOMINAL)
    assert frame_set(model, stray).task.tolist() == [0] * (stray[0].length + 1)  # the chosen
    single = ProcessRewardModel(PRMConfig(**TINY), task="synthetic")
    assert single.for_task("synthetic") is single
    with pytest.raises(ValueError, match="single-task PRM of task 'synthetic'"):
        single.for_task(NOMINAL)
    for bad in ((NOMINAL,), (NOMINAL, NOMINAL), (NOMINAL, "")):
        with pytest.raises(ValueError, match="tasks must be empty"):
            PRMConfig(tasks=bad)


def test_a_single_task_model_is_what_it_was(multi, held_out, tmp_path):
    single = ProcessRewardModel(PRMConfig(**{**TINY, "views": FRONT}, seed=2), task=NOMINAL)
    assert single.net.task_embed is None and single.tasks == ()
    path = single.save(tmp_path / "single.prm")
    payload = torch.load(path, weights_only=True)
    # The version-2 file of before: no tasks key, no embedding (older readers still load it).
    assert payload["version"] == 2 and "tasks" not in payload["config"]
    assert not any(k.startswith("task_embed") for k in payload["state_dict"])
    loaded = ProcessRewardModel.load(path)
    assert loaded.tasks == () and loaded.task == NOMINAL and loaded.net.task_embed is None
    # The embedding is made after every other layer: a multi-task model of the same seed
    # starts from the single-task model's weights, plus the embedding.
    fresh = ProcessRewardModel(PRMConfig(**MULTI, seed=2)).for_task(MIRRORED)
    weights = fresh.net.state_dict()
    assert set(weights) - set(single.net.state_dict()) == {"task_embed.weight"}
    for key, value in single.net.state_dict().items():
        assert torch.equal(weights[key], value), key
    with pytest.raises(ValueError, match="single-task PRM has no task embedding"):
        single.net.fuse(torch.zeros(1, 1, 16), torch.ones(1, 1, dtype=torch.bool), torch.zeros(1))
    with pytest.raises(ValueError, match="needs the task of each observation"):
        fresh.net.fuse(torch.zeros(1, 1, 16), torch.ones(1, 1, dtype=torch.bool))


def test_one_shot_adaptation_of_a_chosen_task(multi, held_out, tmp_path):
    """The nominal task's goal moves to the other side: conditioned on the nominal task, the
    model reads the variant backwards until one demo of it (time labels) is adapted on."""
    model = copy_of(multi, tmp_path).for_task(NOMINAL)
    variant = task_episodes(MIRRORED, 500, 6)
    for ep in variant:
        ep.metadata["task"] = NOMINAL  # a variant of the nominal task
    demo = synthetic_episode("expert", 77, views=FRONT, mirrored_front=True)
    demo.metadata["task"], demo.progress = NOMINAL, None
    before = spearman(model, variant)
    embed = model.net.task_embed.weight.detach().clone()
    adapt_prm(model, demo, steps=160, lr=1e-3, seed=0)
    after = spearman(model, variant)
    assert before < 0.0 < 0.8 < after
    moved = (model.net.task_embed.weight.detach() - embed).abs().sum(1)
    # Only the chosen task's row was trained (the other only feels AdamW's weight decay).
    assert moved[0] > 0 and moved[1] < 1e-3 * moved[0]
    assert len(model.history) == len(multi.history) + 1 and model.task == NOMINAL
    assert ProcessRewardModel.load(model.save(tmp_path / "adapted.prm")).task == NOMINAL


def test_export_folds_the_chosen_task_and_matches_torch(multi, held_out, tmp_path):
    model = copy_of(multi, tmp_path)
    assert "success" in model.trained_heads
    frames = held_out[NOMINAL][2].frames
    feats, mask = model.features(frames)
    rng = np.random.default_rng(0)
    n = 2000
    rand_feats = rng.normal(0, 1, (n, 1, model.config.feature_dim)).astype(np.float32)
    rand_mask = np.ones((n, 1), bool)
    got = {}
    for task in (NOMINAL, MIRRORED):
        model.for_task(task)
        want_phi = model.predict(frames).potential
        want_p = model.success_probability(frames)
        with torch.no_grad():
            idx = model.task_index(n)
            z = model.net.fuse(torch.from_numpy(rand_feats), torch.from_numpy(rand_mask), idx)
            want_rand = (torch.softmax(model.net.logits(z), -1) @ model.net.centers).numpy()
        data = encode_blob(prm=model.numpy_head())
        for backend in ("c", "numpy"):
            ev = Evaluator.from_bytes(data, backend=backend)
            assert np.abs(ev.potential_batch(feats, mask) - want_phi).max() <= TOL, backend
            assert np.abs(ev.success_probability_batch(feats, mask) - want_p).max() <= TOL
            assert np.abs(ev.potential_batch(rand_feats, rand_mask) - want_rand).max() <= TOL
        got[task] = want_phi
    assert np.abs(got[NOMINAL] - got[MIRRORED]).max() > 0.3  # two different heads compared
    # Only the LayerNorm bias differs between the tasks' heads: the embedding folded in.
    heads = {t: model.for_task(t).numpy_head() for t in (NOMINAL, MIRRORED)}
    assert not np.array_equal(heads[NOMINAL]["norm_bias"], heads[MIRRORED]["norm_bias"])
    np.testing.assert_array_equal(heads[NOMINAL]["weights"][0], heads[MIRRORED]["weights"][0])

    path = copy_of(multi, tmp_path).save(tmp_path / "multi.prm")  # no task chosen
    with pytest.raises(ValueError, match="multi.prm: .*choose the task to export"):
        export_models(tmp_path / "x.rpe", prm_model=path)
    with pytest.raises(ValueError, match="not trained on task 'panda-stack'"):
        export_models(tmp_path / "x.rpe", prm_model=path, prm_task="panda-stack")
    assert not (tmp_path / "x.rpe").exists()
    blob = export_models(tmp_path / "lift.rpe", prm_model=path, prm_task=MIRRORED)
    ev = Evaluator.load(blob, "c")
    assert np.abs(ev.potential_batch(feats, mask) - got[MIRRORED]).max() <= TOL


def test_compare_conditions_a_multi_task_model_on_the_episodes_task(multi, held_out, tmp_path):
    path = str(copy_of(multi, tmp_path).save(tmp_path / "multi.prm"))
    same = compare_rewards(path, "progress", held_out[MIRRORED], sample_states=64)
    assert same["epic"] < 0.5  # read as its own task, the potential follows progress
    with pytest.raises(ValueError, match="multi-task PRM with no task chosen, on episodes of"):
        compare_rewards(path, "progress", held_out[NOMINAL][:1] + held_out[MIRRORED][:1])


def test_cli_trains_one_model_on_a_comma_list_of_tasks(tmp_path, capsys):
    store = EpisodeStore(tmp_path / "eps")
    for ep in task_episodes(NOMINAL, 0, 3) + task_episodes(MIRRORED, 100, 3):
        store.save(ep)
    eps, out = str(tmp_path / "eps"), tmp_path / "multi.prm"
    train = ["reward", "train-prm", "--episodes", eps, "--views", "front", "--quiet"]
    tiny = ["--steps", "3", "--batch-size", "4"]
    assert main([*train, "--task", f"{NOMINAL},{MIRRORED}", "--out", str(out), *tiny]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["tasks"] == [NOMINAL, MIRRORED] and row["episodes"] == 6 and row["steps"] == 3
    model = ProcessRewardModel.load(out)
    assert model.tasks == (NOMINAL, MIRRORED) and model.task == ""
    assert model.net.task_embed.weight.abs().sum() > 0  # both rows trained from zero
    assert (model.net.task_embed.weight.abs().sum(1) > 0).all()

    for task in (NOMINAL, MIRRORED):
        assert main(["reward", "eval-prm", str(out), "--episodes", eps, "--task", task]) == 0
        row = json.loads(capsys.readouterr().out)
        assert row["task"] == task and row["episodes"] == 3 and row["model"] == str(out)
    assert main(["reward", "eval-prm", str(out), "--episodes", eps]) == 0  # each its own
    assert json.loads(capsys.readouterr().out)["episodes"] == 6
    assert main(["reward", "eval-prm", str(out), "--episodes", eps, "--task", "panda-stack"]) == 2
    assert "it knows ['panda-push', 'panda-lift']" in capsys.readouterr().err

    adapted = tmp_path / "adapted.prm"
    adapt = ["reward", "adapt-prm", str(out), "--demo", eps, "--eval", eps, "--steps", "2"]
    assert main([*adapt, "--out", str(adapted), "--task", MIRRORED]) == 0
    row = json.loads(capsys.readouterr().out)
    assert {"before", "after", "adapt"} <= set(row) and row["after"]["episodes"] == 3
    assert ProcessRewardModel.load(adapted).task == MIRRORED

    blob = tmp_path / "r.rpe"
    assert main(["export", "--out", str(blob), "--prm", str(out)]) == 2
    assert "choose the task to export" in capsys.readouterr().err and not blob.exists()
    assert main(["export", "--out", str(blob), "--prm", str(out), "--prm-task", NOMINAL]) == 0
    assert json.loads(capsys.readouterr().out)["info"]["prm"]["views"] == list(FRONT)

    # Episodes of a task not in --task, and a task without episodes: errors naming them.
    bad = tmp_path / "bad.prm"
    assert main([*train, "--task", f"{NOMINAL},panda-reach", "--out", str(bad), *tiny]) == 2
    err = capsys.readouterr().err
    assert "episodes of task 'panda-lift'" in err and "not in --task" in err
    three = f"{NOMINAL},{MIRRORED},panda-reach"
    assert main([*train, "--task", three, "--out", str(bad), *tiny]) == 2
    assert "no episodes of task 'panda-reach'" in capsys.readouterr().err
    assert not bad.exists()
    # One task keeps the single-task path: no embedding, the task as metadata.
    single = tmp_path / "single.prm"
    assert main([*train, "--task", NOMINAL, "--out", str(single), *tiny]) == 0
    assert "tasks" not in json.loads(capsys.readouterr().out)
    loaded = ProcessRewardModel.load(single)
    assert loaded.tasks == () and loaded.task == NOMINAL and loaded.net.task_embed is None
