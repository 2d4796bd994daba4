"""The multi-view process reward model: learning, fusion, missing views, save/load, bad input.

The data are synthetic episodes whose pictures encode progress differently in each view (a
square sliding across "front", up "side", growing in "wrist"), so a tiny model learns them
in seconds; the sim-episode figures of the README come from `robopref reward eval-prm`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from robopref.cli import main
from robopref.data import Episode, EpisodeStore
from robopref.rewards import prm_train
from robopref.rewards.model_file import ModelFormatError, NonFiniteRewardError
from robopref.rewards.preference import PreferenceRewardModel
from robopref.rewards.prm import PRMConfig, ProcessRewardModel, hop_target, progress_after_hop
from robopref.rewards.prm_train import (
    _color_jitter,
    _two_hot,
    adapt_prm,
    evaluate_prm,
    frame_set,
    progress_labels,
    train_prm,
    view_subsets,
)

S = 36
VIEWS = ("front", "side", "wrist")
TINY = dict(image_size=S, channels=(8, 16, 16), feature_dim=16, hidden=(32,), batch_size=16)


def draw(p: float, view: str, rng, mirrored_front: bool = False) -> np.ndarray:
    img = rng.integers(0, 40, (S, S, 3), dtype=np.uint8)
    pos = int(round(2 + p * (S - 12)))
    if view == "front":
        x = S - 8 - pos if mirrored_front else pos  # the variant's goal is on the other side
        img[14:22, x : x + 8] = (255, 200, 40)
    elif view == "side":
        img[pos : pos + 8, 4:12] = (40, 200, 255)
    else:
        k = 2 + int(round(p * 14))
        img[S // 2 - k : S // 2 + k, S // 2 - k : S // 2 + k] = (200, 255, 200)
    return img


def synthetic_episode(kind: str, seed: int, views=VIEWS, mirrored_front=False) -> Episode:
    """``kind``: "expert" (0 -> 1, success), "regress" (up, then down), "fail" (stays low)."""
    rng = np.random.default_rng(seed)
    t = int(rng.integers(20, 30))
    x = np.linspace(0, 1, t + 1)
    if kind == "expert":
        prog = x
    elif kind == "regress":
        prog = np.where(x < 0.6, x * 1.2, np.maximum(0.72 - (x - 0.6) * 1.5, 0.1))
    else:
        prog = 0.25 * x
    prog = np.clip(prog + rng.normal(0, 0.01, t + 1), 0, 0.999)
    success = np.zeros(t, bool)
    if kind == "expert":
        success[-1] = True
        prog[-1] = 1.0
    frames = {v: np.stack([draw(p, v, rng, mirrored_front) for p in prog]) for v in views}
    return Episode(
        state=rng.standard_normal((t + 1, 5)),
        action=rng.uniform(-1, 1, (t, 4)),
        reward=success.astype(np.float32),
        success=success,
        timestamp=np.arange(t + 1) / 20,
        metadata={
            "task": "synthetic",
            "source": "expert" if kind == "expert" else "perturbed",
            "backend": "test",
            "seed": seed,
            "robot": "none",
            "control_hz": 20.0,
        },
        frames=frames,
        progress=prog.astype(np.float32),
        terminated=kind == "expert",
        truncated=kind != "expert",
    )


def episodes(seed0: int, n: int = 12, **kw) -> list[Episode]:
    kinds = ("expert", "regress", "fail")
    return [synthetic_episode(kinds[i % 3], seed0 + i, **kw) for i in range(n)]


@pytest.fixture(scope="module")
def trained() -> ProcessRewardModel:
    model = ProcessRewardModel(PRMConfig(**TINY, steps=250, seed=1), task="synthetic")
    train_prm(model, frame_set(model, episodes(0, 18)))
    return model


@pytest.fixture(scope="module")
def held_out() -> list[Episode]:
    return episodes(1000, 12)


def test_learns_progress_and_success_from_every_view_subset(trained, held_out):
    result = evaluate_prm(trained, frame_set(trained, held_out))
    assert result["spearman"] > 0.9
    assert result["success_auc"] > 0.95
    assert result["hop_mae"] < 0.3
    assert set(result["per_views"]) == {"+".join(s) for s in view_subsets(VIEWS)}
    assert len(result["per_views"]) == 7
    for subset, row in result["per_views"].items():
        # View dropout in training: every single view still carries the progress signal.
        assert row["spearman"] > 0.75, subset


def test_untrained_model_is_no_better_than_chance(held_out):
    model = ProcessRewardModel(PRMConfig(**TINY), task="synthetic")
    result = evaluate_prm(model, frame_set(model, held_out), subsets=[VIEWS])
    assert result["spearman"] < 0.8  # the trained-model test above is not a foregone result


def test_missing_views_are_used_and_reported(trained, held_out):
    ep = held_out[0]
    obs = {v: ep.frames[v][-1] for v in ("front", "side")}
    phi = trained.potential(obs)
    assert 0.0 <= phi <= 1.0
    assert trained.last_missing_views == ("wrist",)
    pred = trained.predict({"side": ep.frames["side"]})
    assert pred.missing_views == ("front", "wrist") and pred.views_used == ("side",)
    assert pred.potential.shape == (ep.length + 1,) and pred.bins.shape == (ep.length + 1, 21)
    np.testing.assert_allclose(pred.bins.sum(1), 1.0, atol=1e-5)
    full = trained.predict(ep.frames)
    assert full.missing_views == ()
    with pytest.raises(ValueError, match="none of its views"):
        trained.potential({"state": np.zeros(5)})


def test_bad_images_are_refused_and_other_sizes_resized(trained, held_out):
    frame = held_out[0].frames["front"][:3]
    with pytest.raises(ValueError, match="uint8"):
        trained.predict({"front": frame.astype(np.float32)})
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        trained.predict({"front": frame[..., :1]})
    with pytest.raises(ValueError, match="frame counts"):
        trained.predict({"front": frame, "side": frame[:2]})
    import cv2

    big = np.stack([cv2.resize(f, (72, 72), interpolation=cv2.INTER_NEAREST) for f in frame])
    back = np.stack([cv2.resize(f, (S, S), interpolation=cv2.INTER_AREA) for f in big])
    np.testing.assert_allclose(
        trained.predict({"front": big}).potential, trained.predict({"front": back}).potential
    )


def test_color_jitter_changes_each_image_within_range_and_is_seeded():
    x = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    out = _color_jitter(x.clone(), 0.4, torch.Generator().manual_seed(1))
    again = _color_jitter(x.clone(), 0.4, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    assert out.min() >= 0.0 and out.max() <= 1.0
    # Every image changed, and by different amounts: factors are drawn per image.
    change = (out - x).abs().mean(dim=(1, 2, 3))
    assert (change > 1e-3).all() and change.std() > 1e-3
    # The channels move apart: a colour-balance change, not only a brightness one.
    ratio = out.mean(dim=(2, 3)) / x.mean(dim=(2, 3))
    assert (ratio.std(dim=1) > 1e-3).any()


def test_augmentation_runs_in_training_only(monkeypatch, held_out):
    calls = {"jitter": 0, "shift": 0}
    jitter, shift = prm_train._color_jitter, prm_train._random_shift

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(prm_train, "_color_jitter", counting("jitter", jitter))
    monkeypatch.setattr(prm_train, "_random_shift", counting("shift", shift))
    model = ProcessRewardModel(PRMConfig(**TINY, steps=3, color_jitter=0.3), task="synthetic")
    train_prm(model, frame_set(model, held_out[:2]))
    assert calls == {"jitter": 3, "shift": 3}
    evaluate_prm(model, frame_set(model, held_out[:2]), subsets=[VIEWS])
    model.potential_batch({v: held_out[0].frames[v] for v in VIEWS})
    assert calls == {"jitter": 3, "shift": 3}  # inference sees the frames as they are
    on = ProcessRewardModel(PRMConfig(**TINY, steps=2), task="synthetic")
    train_prm(on, frame_set(on, held_out[:2]))
    assert calls["jitter"] == 5  # on by default (0.3)
    off = ProcessRewardModel(PRMConfig(**TINY, steps=2, color_jitter=0.0), task="synthetic")
    train_prm(off, frame_set(off, held_out[:2]))
    assert calls["jitter"] == 5  # 0 turns it off


def test_hop_target_by_hand():
    np.testing.assert_allclose(
        hop_target([0.2, 0.6, 0.5, 0.0], [0.6, 0.3, 0.5, 1.0]), [0.4 / 0.8, -0.3 / 0.6, 0.0, 1.0]
    )
    assert hop_target(1.0, 1.0) == 0.0 and hop_target(0.0, 0.0) == 0.0


def test_progress_after_hop_inverts_the_hop_target():
    rng = np.random.default_rng(0)
    p_from, p_to = rng.uniform(0.05, 0.95, 200), rng.uniform(0.0, 1.0, 200)
    np.testing.assert_allclose(
        progress_after_hop(p_from, hop_target(p_from, p_to)), p_to, atol=1e-12
    )
    # From the start (progress 0) a hop is the progress itself; a full hop reaches the goal,
    # a full regress the start, and a hop beyond [-1, 1] (an untrained head) is clipped.
    np.testing.assert_allclose(progress_after_hop(0.0, [0.3, -0.5, 1.0]), [0.3, 0.0, 1.0])
    np.testing.assert_allclose(progress_after_hop(0.4, [1.0, -1.0, 2.0, -3.0]), [1, 0, 1, 0])


def test_two_hot_targets_have_the_label_as_expectation():
    labels = torch.tensor([0.0, 0.05, 0.5, 0.77, 1.0])
    t = _two_hot(labels, 21)
    np.testing.assert_allclose(t.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(t @ torch.linspace(0, 1, 21), labels, atol=1e-6)
    assert (t > 0).sum(1).max() <= 2


def test_hop_head_orders_forward_and_backward(trained, held_out):
    ep = next(e for e in held_out if e.metadata["source"] == "expert")
    early = {v: f[2:5] for v, f in ep.frames.items()}
    late = {v: f[-4:-1] for v, f in ep.frames.items()}
    assert (trained.hop(early, late) > 0.3).all()
    assert (trained.hop(late, early) < -0.3).all()
    with pytest.raises(ValueError, match="'from' frames"):
        trained.hop(early, {v: f[:1] for v, f in late.items()})


def test_labels_from_progress_time_and_errors():
    ep = synthetic_episode("expert", 3)
    lab = progress_labels(ep)
    assert lab[-1] == 1.0 and lab.shape == (ep.length + 1,)
    np.testing.assert_allclose(progress_labels(ep, "time"), np.linspace(0, 1, ep.length + 1))
    ep.progress = None
    with pytest.raises(ValueError, match="labels='time'"):
        progress_labels(ep)
    with pytest.raises(ValueError, match="unknown label source"):
        progress_labels(ep, "phase")
    model = ProcessRewardModel(PRMConfig(**TINY))
    with pytest.raises(ValueError, match="no episodes"):
        frame_set(model, [])
    ep.frames = {}
    with pytest.raises(ValueError, match="no frames"):
        frame_set(model, [ep], labels="time")


def test_save_load_round_trip_and_bad_files(trained, held_out, tmp_path):
    frames = held_out[1].frames
    path = trained.save(tmp_path / "m.prm")
    loaded = ProcessRewardModel.load(path)
    np.testing.assert_array_equal(
        loaded.predict(frames).potential, trained.predict(frames).potential
    )
    assert loaded.config == trained.config and loaded.history == trained.history
    assert loaded.task == "synthetic"

    blob = path.read_bytes()
    (tmp_path / "cut.prm").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelFormatError, match="cut.prm"):
        ProcessRewardModel.load(tmp_path / "cut.prm")
    payload = torch.load(path, weights_only=True)
    payload["version"] = 99
    torch.save(payload, tmp_path / "v99.prm")
    with pytest.raises(ModelFormatError, match="version 99"):
        ProcessRewardModel.load(tmp_path / "v99.prm")
    PreferenceRewardModel(5, 4).save(tmp_path / "pref.pt")
    with pytest.raises(ModelFormatError, match="not a robopref.process_reward"):
        ProcessRewardModel.load(tmp_path / "pref.pt")
    with pytest.raises(FileNotFoundError):
        ProcessRewardModel.load(tmp_path / "missing.prm")


def test_non_finite_output_names_the_model(held_out):
    model = ProcessRewardModel(PRMConfig(**TINY), name="broken-prm")
    with torch.no_grad():
        model.net.progress[0].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteRewardError, match="broken-prm"):
        model.potential({v: f[0] for v, f in held_out[0].frames.items()})


def test_construction_leaves_global_rng_alone():
    state = torch.get_rng_state()
    ProcessRewardModel(PRMConfig(**TINY, seed=5))
    assert torch.equal(state, torch.get_rng_state())
    a, b = (
        ProcessRewardModel(PRMConfig(**TINY, seed=5)),
        ProcessRewardModel(PRMConfig(**TINY, seed=5)),
    )
    assert torch.equal(a.net.view_embed, b.net.view_embed)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(views=()), "views"),
        (dict(views=("front", "front")), "views"),
        (dict(image_size=20), "image_size"),
        (dict(bins=1), "bins"),
        (dict(activation="gelu"), "activation"),
        (dict(view_dropout=1.0), "view_dropout"),
        (dict(lr=-1.0), "lr"),
        (dict(channels=(8, 8)), "channels"),
        (dict(color_jitter=1.0), "color_jitter"),
        (dict(color_jitter=-0.1), "color_jitter"),
    ],
)
def test_config_errors_name_the_field(bad, match):
    with pytest.raises(ValueError, match=match):
        PRMConfig(**bad)


def numpy_potential(head: dict, feats: np.ndarray, mask: np.ndarray) -> float:
    """The head's maths written out in NumPy: what the C evaluator implements."""
    h = feats.astype(np.float64) + head["view_embed"]
    s = h @ head["attn_query"] / np.sqrt(h.shape[1])
    s = np.where(mask, s, -np.inf)
    a = np.exp(s - s.max())
    a /= a.sum()
    z = (a[:, None] * h).sum(0)
    z = (z - z.mean()) / np.sqrt(z.var() + head["norm_eps"]) * head["norm_weight"] + head[
        "norm_bias"
    ]
    for i, (w, b) in enumerate(zip(head["weights"], head["biases"])):
        z = z @ w + b
        if i < len(head["weights"]) - 1:
            z = np.maximum(z, 0)
    p = np.exp(z - z.max())
    p /= p.sum()
    return float(p @ head["bin_centers"])


def test_numpy_head_reproduces_the_potential(trained, held_out):
    head = trained.numpy_head()
    assert head["views"] == list(VIEWS) and head["activation"] == "relu"
    frames = held_out[2].frames
    feats, mask = trained.features(frames)
    assert feats.dtype == np.float32 and feats.shape == (len(mask), 3, 16)
    mask[::2, 1] = False  # some rows without the side view
    want = [numpy_potential(head, f, m) for f, m in zip(feats, mask)]
    got = trained.predict({v: f for v, f in frames.items()}).potential
    np.testing.assert_allclose(want[1::2], got[1::2], atol=1e-5)
    partial = trained.predict({"front": frames["front"], "wrist": frames["wrist"]}).potential
    np.testing.assert_allclose(want[::2], partial[::2], atol=1e-5)


def test_one_shot_adaptation_to_an_unseen_variant():
    """A variant whose goal is on the other side (the square slides right to left): trained
    on the nominal task with the front view only, the model reads the variant backwards; one
    demo of it (time labels, no privileged progress) fixes that."""
    cfg = PRMConfig(**{**TINY, "views": ("front",)}, steps=120, seed=2)
    model = ProcessRewardModel(cfg)
    train_prm(model, frame_set(model, episodes(0, 9, views=("front",))))
    variant = episodes(500, 9, views=("front",), mirrored_front=True)
    before = evaluate_prm(model, frame_set(model, variant), subsets=[("front",)])
    demo = synthetic_episode("expert", 77, views=("front",), mirrored_front=True)
    demo.progress = None  # a demo of a new variant comes without privileged labels
    adapt_prm(model, demo, steps=160, lr=1e-3, seed=0)
    after = evaluate_prm(model, frame_set(model, variant), subsets=[("front",)])
    assert after["spearman"] > 0.85
    assert before["spearman"] < 0.0 < 0.85 < after["spearman"]
    assert len(model.history) == 2


def test_cli_train_eval_adapt_and_errors(tmp_path, capsys):
    store = EpisodeStore(tmp_path / "eps")
    for ep in episodes(0, 6):
        ep.metadata["task"] = "panda-push"
        store.save(ep)
    out = tmp_path / "m.prm"
    argv = ["reward", "train-prm", "--task", "panda-push", "--episodes", str(tmp_path / "eps")]
    # The CLI's model has the default 84-pixel input: frames of 36 are resized.
    assert main([*argv, "--out", str(out), "--steps", "3", "--quiet", "--batch-size", "4"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["steps"] == 3 and row["frames"] > 100 and out.is_file()
    assert ProcessRewardModel.load(out).config.image_size == 84
    # --image-size sets the input size (the frames are resized to it); a bad one is refused.
    sized = tmp_path / "s.prm"
    assert main([*argv, "--out", str(sized), "--steps", "1", "--quiet", "--image-size", "48"]) == 0
    capsys.readouterr()
    assert ProcessRewardModel.load(sized).config.image_size == 48
    assert main([*argv, "--out", str(tmp_path / "x.prm"), "--steps", "1", "--image-size", "8"]) == 2
    assert "image_size" in capsys.readouterr().err and not (tmp_path / "x.prm").exists()
    assert main(["reward", "eval-prm", str(out), "--episodes", str(tmp_path / "eps")]) == 0
    row = json.loads(capsys.readouterr().out)
    assert {"spearman", "success_auc", "per_views"} <= set(row) and len(row["per_views"]) == 7
    adapted = tmp_path / "a.prm"
    assert (
        main(
            [
                "reward",
                "adapt-prm",
                str(out),
                "--demo",
                str(tmp_path / "eps"),
                "--out",
                str(adapted),
                "--steps",
                "2",
                "--eval",
                str(tmp_path / "eps"),
            ]
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out)
    assert {"before", "after", "adapt"} <= set(row) and adapted.is_file()
    assert ProcessRewardModel.load(adapted).history[-1]["steps"] == 2

    assert (
        main(
            [
                *argv[:2],
                "--task",
                "panda-lift",
                "--episodes",
                str(tmp_path / "eps"),
                "--out",
                str(tmp_path / "x.prm"),
            ]
        )
        == 2
    )
    assert "no episodes of task 'panda-lift'" in capsys.readouterr().err
    assert (
        main(
            ["reward", "eval-prm", str(tmp_path / "nope.prm"), "--episodes", str(tmp_path / "eps")]
        )
        == 2
    )
    assert main(["reward", "eval-prm", str(out), "--episodes", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.prm").exists()
