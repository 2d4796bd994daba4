"""The PRM's success and preference heads, old model files, and `robopref reward finetune-prm`.

The episodes are test_prm's synthetic ones (pictures that encode progress in each view); the
labels say which of two segments is further along (the higher mean privileged progress), a
preference a per-frame score can express, so a tiny model learns it in a few dozen steps.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_prm import TINY, episodes, synthetic_episode

from robopref.cli import main
from robopref.data import EpisodeStore
from robopref.preferences import Label, LabelStore, QuerySpec, SegmentRef
from robopref.rewards import frames as frames_module
from robopref.rewards import prm as prm_module
from robopref.rewards import vlm as vlm_module
from robopref.rewards.model_file import ModelFormatError
from robopref.rewards.prm import HEADS, PRMConfig, ProcessRewardModel
from robopref.rewards.prm_labels import pair_accuracy, pairs_from_labels
from robopref.rewards.prm_train import evaluate_prm, frame_set, train_prm
from robopref.runs import RunPaths

SEG = 8
TINY_VIEWS = ("front", "side", "wrist")


def labelled(eps, n: int, seed: int, skip_every: int = 0) -> list[Label]:
    """``n`` random pairs of ``SEG``-step segments, labelled by mean privileged progress."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        segs = []
        for _ in range(2):
            ep = eps[rng.integers(len(eps))]
            start = int(rng.integers(0, ep.length - SEG + 1))
            segs.append((SegmentRef(ep.episode_id, start, SEG), ep))
        (a, ep_a), (b, ep_b) = segs
        pa = ep_a.progress[a.start : a.start + SEG + 1].mean()
        pb = ep_b.progress[b.start : b.start + SEG + 1].mean()
        label = "skip" if skip_every and i % skip_every == 0 else ("a" if pa > pb else "b")
        out.append(Label(i + 1, i + 1, label, "teacher:test", 0.0, None, "test", a, b))
    return out


def bt_loss(model: ProcessRewardModel, pairs) -> float:
    """Bradley-Terry loss of every pair, each segment scored by the mean over its frames."""
    with torch.no_grad():
        net = model.net
        z = net.fuse(net.encode(model.to_tensor(pairs.images)), torch.from_numpy(pairs.mask))
        s = net.preference_score(z).double()
        diff = s[pairs.rows_a].mean(1) - s[pairs.rows_b].mean(1)
        return float(
            F.binary_cross_entropy_with_logits(diff, torch.from_numpy(pairs.target).double())
        )


def success_loss(model: ProcessRewardModel, data) -> float:
    with torch.no_grad():
        net = model.net
        z = net.fuse(net.encode(model.to_tensor(data.images)), torch.from_numpy(data.mask))
        won = torch.from_numpy(data.frame_success).float()
        return float(F.binary_cross_entropy_with_logits(net.success_logit(z), won))


def test_success_head_learns_per_frame_success_and_gives_probabilities():
    model = ProcessRewardModel(PRMConfig(**TINY, steps=150, seed=3, hop_weight=0.0))
    data = frame_set(model, episodes(0, 12))
    assert data.frame_success.sum() == 4  # the four experts' final frames
    frames = episodes(1000, 1)[0].frames
    with pytest.raises(ValueError, match="success head was never trained"):
        model.success_probability(frames)
    before = success_loss(model, data)
    summary = train_prm(model, data)
    assert model.trained_heads == {"success"} and "loss_success" in summary
    assert success_loss(model, data) < 0.5 * before
    p = model.success_probability(frames)
    assert p.dtype == np.float64 and ((0 <= p) & (p <= 1)).all()
    held_out = evaluate_prm(model, frame_set(model, episodes(1000, 9)), subsets=[TINY_VIEWS])
    assert held_out["success_head_auc"] > 0.9


def test_preference_head_ranks_the_better_segment_higher():
    train_eps, test_eps = episodes(0, 9), episodes(2000, 9)
    model = ProcessRewardModel(PRMConfig(**TINY, seed=4))
    pairs, report = pairs_from_labels(
        model, labelled(train_eps, 60, 0), {e.episode_id: e for e in train_eps}, max_frames=5
    )
    assert report["used"] == 60 and pairs.rows_a.shape == (60, 5)
    test_pairs, _ = pairs_from_labels(
        model, labelled(test_eps, 40, 1), {e.episode_id: e for e in test_eps}, max_frames=5
    )
    before = bt_loss(model, pairs)
    with pytest.raises(ValueError, match="preference head was never trained"):
        model.segment_score(test_eps[0].frames)
    summary = train_prm(model, None, pairs=pairs, steps=120, lr=1e-3, seed=0)
    assert {"loss_pref", "pairs"} <= set(summary) and "loss_bins" not in summary
    assert model.trained_heads == {"success", "preference"}
    assert bt_loss(model, pairs) < 0.6 * before
    assert pair_accuracy(model, test_pairs) >= 0.8
    # Scoring through the public API: an expert's late segment beats a failure's.
    expert, fail = test_eps[0], test_eps[2]
    late = {v: f[-SEG:] for v, f in expert.frames.items()}
    low = {v: f[-SEG:] for v, f in fail.frames.items()}
    assert model.segment_score(late) > model.segment_score(low)


def test_heads_do_not_touch_the_potential():
    frames = episodes(1000, 1)[0].frames
    model = ProcessRewardModel(PRMConfig(**TINY, seed=5))
    phi = model.predict(frames).potential
    with torch.no_grad():
        for head in HEADS:
            for p in getattr(model.net, head).parameters():
                p.add_(torch.randn_like(p))
    np.testing.assert_array_equal(model.predict(frames).potential, phi)
    # Same seed, same progress weights as a model made before the heads existed: the heads
    # are created last, so the seeded init of everything else is unchanged.
    again = ProcessRewardModel(PRMConfig(**TINY, seed=5))
    np.testing.assert_array_equal(again.predict(frames).potential, phi)


def old_format_file(model: ProcessRewardModel, path) -> None:
    """What `ProcessRewardModel.save` wrote before the heads (format version 1)."""
    new_fields = ("success_weight", "preference_weight", "preference_batch", "preference_frames")
    cfg = {k: v for k, v in model.config.__dict__.items() if k not in new_fields}
    payload = {
        "format": "robopref.process_reward",
        "version": 1,
        "name": model.name,
        "task": model.task,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "history": model.history,
        "state_dict": {
            k: v.clone() for k, v in model.net.state_dict().items() if k.split(".")[0] not in HEADS
        },
    }
    torch.save(payload, path)


def test_old_files_without_heads_load_and_score_the_same(tmp_path):
    model = ProcessRewardModel(PRMConfig(**TINY, steps=20, seed=6), task="synthetic")
    eps = episodes(0, 6)
    train_prm(model, frame_set(model, eps))
    old_format_file(model, tmp_path / "old.prm")
    old = ProcessRewardModel.load(tmp_path / "old.prm")
    frames = episodes(1000, 1)[0].frames
    np.testing.assert_array_equal(old.predict(frames).potential, model.predict(frames).potential)
    assert old.trained_heads == set() and old.history == model.history
    with pytest.raises(ValueError, match="success head was never trained"):
        old.success_probability(frames)
    assert "success_head_auc" not in evaluate_prm(old, frame_set(old, eps), subsets=[TINY_VIEWS])
    # Saved again, it is a version-2 file that keeps the potential and the (empty) heads.
    old.save(tmp_path / "new.prm")
    again = ProcessRewardModel.load(tmp_path / "new.prm")
    assert torch.load(tmp_path / "new.prm", weights_only=True)["version"] == 2
    np.testing.assert_array_equal(again.predict(frames).potential, model.predict(frames).potential)
    assert again.trained_heads == set()
    # A version-2 file must have every weight; a version-1 file lacking progress weights is
    # corrupt either way.
    payload = torch.load(tmp_path / "new.prm", weights_only=True)
    payload["state_dict"] = {
        k: v for k, v in payload["state_dict"].items() if not k.startswith("success")
    }
    torch.save(payload, tmp_path / "cut.prm")
    with pytest.raises(ModelFormatError, match="cut.prm.*missing weights"):
        ProcessRewardModel.load(tmp_path / "cut.prm")
    payload = torch.load(tmp_path / "old.prm", weights_only=True)
    payload["state_dict"].pop("progress.0.weight")
    torch.save(payload, tmp_path / "bad-v1.prm")
    with pytest.raises(ModelFormatError, match="bad-v1.prm.*progress.0.weight"):
        ProcessRewardModel.load(tmp_path / "bad-v1.prm")


def test_trained_heads_survive_save_and_load(tmp_path):
    model = ProcessRewardModel(PRMConfig(**TINY, steps=5, seed=7))
    train_prm(model, frame_set(model, episodes(0, 3)))
    model.save(tmp_path / "m.prm")
    loaded = ProcessRewardModel.load(tmp_path / "m.prm")
    frames = episodes(1000, 1)[0].frames
    assert loaded.trained_heads == {"success"}
    np.testing.assert_array_equal(
        loaded.success_probability(frames), model.success_probability(frames)
    )


def test_one_frame_check_for_every_camera_model():
    assert prm_module.check_frames is vlm_module.check_frames is frames_module.check_frames
    with pytest.raises(ValueError, match=r"view 'front': expected uint8"):
        ProcessRewardModel(PRMConfig(**TINY)).predict({"front": np.zeros((1, 8, 8, 3))})


# ---------------------------------------------------------------- finetune-prm end to end


def make_run(root, eps, n_labels: int = 24, task: str = "synthetic") -> RunPaths:
    """A run directory as the trainer or the UI leaves it: config, episodes, labels."""
    run = RunPaths.of(root).create()
    run.config.write_text(json.dumps({"task": task}))
    store = EpisodeStore(run.episodes)
    for ep in eps:
        store.save(ep)
    labels = labelled(eps, n_labels, 3, skip_every=6)
    with LabelStore(run.labels) as db:
        ids = db.add_queries([QuerySpec(lab.seg_a, lab.seg_b, "uniform") for lab in labels])
        for qid, lab in zip(ids, labels):
            db.add_label(qid, lab.label, "ann", source="ui")
    return run


@pytest.fixture
def prm_file(tmp_path):
    model = ProcessRewardModel(PRMConfig(**TINY, steps=10, seed=8), name="p", task="synthetic")
    train_prm(model, frame_set(model, episodes(0, 3)))
    return model.save(tmp_path / "prm.pt")


def run_cli(*argv, capsys):
    rc = main(["reward", "finetune-prm", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def test_finetune_prm_end_to_end_moves_the_preferred_segment_up(tmp_path, prm_file, capsys):
    eps = episodes(0, 6)
    run = make_run(tmp_path / "run", eps)
    model = ProcessRewardModel.load(prm_file)
    with LabelStore(run.labels) as db:
        labels = db.labels()
    pairs, _ = pairs_from_labels(model, labels, EpisodeStore(run.episodes), max_frames=6)
    margin_before = -bt_loss(model, pairs)
    argv = [prm_file, "--labels", run.root, "--steps", 60, "--lr", 1e-3, "--max-frames", 6]
    rc, row, err = run_cli(*argv, "--eval", tmp_path / "run" / "episodes", capsys=capsys)
    assert rc == 0, err
    out = tmp_path / "prm-finetuned.pt"
    assert row["out"] == str(out) and out.is_file()
    assert row["labels"] == 20 and row["skips"] == 4 and row["used"] == 20
    assert row["finetune"]["steps"] == 60 and row["finetune"]["pairs"] == 20
    assert {"loss_pref", "loss_success", "loss_keep"} <= set(row["finetune"])
    assert {"before", "after"} <= set(row) and row["pair_accuracy"] >= 0.8
    tuned = ProcessRewardModel.load(out)
    assert "preference" in tuned.trained_heads and tuned.history[-1]["pairs"] == 20
    assert -bt_loss(tuned, pairs) > margin_before + 0.1
    # The keep term held the potential near where it was on the labelled frames.
    frames = eps[0].frames
    assert np.abs(tuned.predict(frames).potential - model.predict(frames).potential).max() < 0.2


def test_finetune_prm_with_progress_episodes_and_explicit_out(tmp_path, prm_file, capsys):
    eps = episodes(0, 6)
    run = make_run(tmp_path / "run", eps)
    out = tmp_path / "deep" / "tuned.pt"
    rc, row, err = run_cli(
        prm_file,
        "--labels",
        run.root,
        "--out",
        out,
        "--steps",
        3,
        "--episodes",
        run.episodes,
        capsys=capsys,
    )
    assert rc == 0, err
    assert out.is_file() and "loss_bins" in row["finetune"] and "loss_keep" not in row["finetune"]


def nothing_written(tmp_path) -> bool:
    return not list(tmp_path.glob("*finetuned*")) and not (tmp_path / "o.pt").exists()


def test_finetune_prm_bad_inputs_name_the_file_and_write_nothing(tmp_path, prm_file, capsys):
    eps = episodes(0, 4)
    base = [prm_file, "--steps", 2, "--out", tmp_path / "o.pt"]

    rc, _, err = run_cli(*base, "--labels", tmp_path / "nowhere", capsys=capsys)
    assert rc == 2 and "no run directory" in err

    bare = RunPaths.of(tmp_path / "bare").create()
    rc, _, err = run_cli(*base, "--labels", bare.root, capsys=capsys)
    assert rc == 2 and str(bare.labels) in err and "no label store" in err
    assert not bare.labels.exists()  # never created by looking

    run = make_run(tmp_path / "lift", eps, task="panda-lift")
    rc, _, err = run_cli(*base, "--labels", run.root, capsys=capsys)
    assert rc == 2 and str(prm_file) in err and "'synthetic'" in err and "'panda-lift'" in err

    empty = make_run(tmp_path / "empty", eps, n_labels=0)
    rc, _, err = run_cli(*base, "--labels", empty.root, capsys=capsys)
    assert rc == 2 and "no labels yet" in err and str(empty.labels) in err

    skips = make_run(tmp_path / "skips", eps, n_labels=1, task="synthetic")  # label 0 is a skip
    rc, _, err = run_cli(*base, "--labels", skips.root, capsys=capsys)
    assert rc == 2 and "all 'skip'" in err

    # Episodes stored with states only (a scripted teacher's run).
    states_only = [synthetic_episode(k, 40 + i) for i, k in enumerate(("expert", "fail"))]
    for ep in states_only:
        ep.frames = {}
    mixed = make_run(tmp_path / "mixed", eps + states_only, n_labels=30)
    rc, _, err = run_cli(*base, "--labels", mixed.root, capsys=capsys)
    assert rc == 2 and "without camera frames" in err and "2 episode(s)" in err
    assert "of 25 labels" in err and "--skip-missing" in err
    frameless_run = make_run(tmp_path / "frameless", states_only, n_labels=6)
    rc, _, err = run_cli(*base, "--labels", frameless_run.root, "--skip-missing", capsys=capsys)
    assert rc == 2 and "none of the" in err

    # A missing episode file.
    gone = make_run(tmp_path / "gone", eps, n_labels=12)
    EpisodeStore(gone.episodes).path(eps[1].episode_id).unlink()
    rc, _, err = run_cli(*base, "--labels", gone.root, capsys=capsys)
    assert rc == 2 and "missing from" in err and eps[1].episode_id in err and "1 episode(s)" in err
    assert nothing_written(tmp_path)

    rc, _, err = run_cli(prm_file, "--labels", gone.root, "--steps", 0, capsys=capsys)
    assert rc == 2 and "--steps" in err and nothing_written(tmp_path)

    # --skip-missing trains on the rest and says what it left out.
    rc, row, err = run_cli(*base, "--labels", mixed.root, "--skip-missing", capsys=capsys)
    assert rc == 0, err
    assert row["episodes_without_frames"] and 0 < row["used"] < row["labels"]
    assert row["used"] + row["skipped_labels"] == row["labels"]
