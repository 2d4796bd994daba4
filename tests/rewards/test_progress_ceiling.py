"""The frame-only progress limit (`robopref.benchmarks.progress_ceiling`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robopref.benchmarks.progress_ceiling import features, held_out_spearman, main, prm_breakdown
from robopref.data import Episode
from robopref.data.storage import save_episode
from sim.state import field_slices, state_dim

F = field_slices("full")


def push_like(seed: int, T: int = 30, relative: bool = True, full: bool = True) -> Episode:
    """A cube pushed from a random start toward a fixed marker, part of the way. Progress is
    its distance covered relative to where it started (``relative``, as push's progress: the
    start is not in a later frame) or the absolute distance left (a frame shows it all)."""
    rng = np.random.default_rng(seed)
    goal = np.array([0.5, 0.0, 0.02])
    start = goal + np.r_[rng.uniform(-0.3, 0.3, 2), 0.0]
    share = np.linspace(0.0, rng.uniform(0.2, 1.0), T + 1)[:, None]
    cube = start + share * (goal - start)
    d, d0 = np.linalg.norm(cube - goal, axis=1), np.linalg.norm(start - goal)
    # Clipped as the tasks' `frac` clips: at the start 1 - d / d0 is 0 up to rounding, and a
    # norm's rounding can differ by machine (SIMD paths), giving -6e-8, which Episode refuses.
    progress = np.clip(1 - d / d0 if relative else 1 - d / 0.45, 0, 1)
    state = np.zeros((T + 1, state_dim("full")), np.float32)
    state[:, F["object_pos"]] = cube
    state[:, F["goal"]] = goal
    state[:, F["tcp"]] = cube - [0.06, 0, 0]
    if not full:
        state = state[:, :18]
    return Episode(
        state=state,
        action=np.zeros((T, 4), np.float32),
        reward=np.zeros(T, np.float32),
        success=np.zeros(T, bool),
        timestamp=np.arange(T + 1) / 20.0,
        metadata={"task": "panda-push", "source": "expert", "backend": "mujoco", "seed": seed,
                  "robot": "franka_panda", "control_hz": 20},
        progress=progress.astype(np.float32),
    )  # fmt: skip


def spearman_pair(relative: bool) -> tuple[float, float]:
    train = [push_like(s, relative=relative) for s in range(40)]
    test = [push_like(100 + s, relative=relative) for s in range(20)]
    out = []
    for with_reset in (False, True):
        row = held_out_spearman(
            features(train, with_reset), features(test, with_reset), steps=400, seeds=1, hidden=64
        )
        assert row["per_seed"] == [row["spearman"]]
        out.append(row["spearman"])
    return out[0], out[1]


@pytest.mark.slow
def test_progress_relative_to_an_unseen_start_caps_what_a_frame_can_rank():
    frame, with_reset = spearman_pair(relative=True)
    assert with_reset > 0.95  # given where the cube started, the label is learnable
    assert frame < with_reset - 0.05  # from the frame alone it is not
    # The control: progress a frame shows in full is learnable without the start.
    frame_abs, _ = spearman_pair(relative=False)
    assert frame_abs > 0.95


def test_features_are_the_frames_positions_and_the_reset_ones():
    ep = push_like(0, T=5)
    x, y = features([ep], with_reset=False)
    assert x.shape == (6, 10) and np.allclose(y, ep.progress)
    assert np.allclose(x[:, 3:6], ep.state[:, F["object_pos"]])
    xr, _ = features([ep], with_reset=True)
    assert xr.shape == (6, 16)
    assert np.allclose(xr[:, 13:16], ep.state[0, F["object_pos"]])  # the start, on every row


def test_episodes_it_cannot_use_are_named(tmp_path, capsys):
    with pytest.raises(ValueError, match="'full' layout's 40"):
        features([push_like(0, full=False)], with_reset=False)
    no_progress = push_like(1)
    no_progress.progress = None
    with pytest.raises(ValueError, match="has no progress"):
        features([no_progress], with_reset=False)
    with pytest.raises(ValueError, match="no episodes"):
        features([], with_reset=False)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        held_out_spearman(features([push_like(0)], False), features([push_like(1)], False), steps=0)
    # Through the CLI: exit 2 and the reason; a good pair of directories gives one JSON line.
    for d in ("train", "test", "proprio"):
        (tmp_path / d).mkdir()
    for s in range(6):
        save_episode(push_like(s), tmp_path / "train")
    for s in range(3):
        save_episode(push_like(10 + s), tmp_path / "test")
        save_episode(push_like(20 + s, full=False), tmp_path / "proprio")
    assert main(["--train", str(tmp_path / "train"), "--test", str(tmp_path / "proprio")]) == 2
    assert "not the 'full' layout's 40" in capsys.readouterr().err
    assert main(["--train", str(tmp_path / "nowhere"), "--test", str(tmp_path / "test")]) == 2
    assert "does not exist" in capsys.readouterr().err
    argv = ["--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"), "--steps", "50"]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--threads", "0"])
    assert e.value.code == 2 and "--threads must be >= 1" in capsys.readouterr().err
    # Episodes of two tasks need --task; with it, only that task's are used.
    reach = push_like(30)
    reach.metadata["task"] = "panda-reach"
    save_episode(reach, tmp_path / "test")
    assert main(argv) == 2
    assert "several tasks ['panda-push', 'panda-reach']: pass --task" in capsys.readouterr().err
    assert main([*argv, "--task", "panda-reach"]) == 2  # the training episodes are push's
    assert "no episodes of task 'panda-reach'" in capsys.readouterr().err
    (tmp_path / "test" / f"{reach.episode_id}.episode.npz").unlink()
    assert main([*argv, "--seeds", "2"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["task"] == "panda-push" and row["train_frames"] == 6 * 31
    assert row["test_frames"] == 3 * 31 and len(row["with_reset"]["per_seed"]) == 2


def test_prm_breakdown_isolates_the_tied_zero_frames():
    rng = np.random.default_rng(0)
    label = np.r_[np.zeros(30), np.linspace(0.05, 1.0, 70)]
    source = np.array(["random"] * 30 + ["expert"] * 70)
    # A model that ranks the positive frames exactly but scatters the tied zeros among them.
    potential = np.r_[rng.uniform(0.0, 0.5, 30), label[30:]]
    row = prm_breakdown(potential, label, source)
    assert row["spearman"] < 0.95
    assert row["zeros_ranked_last"] == 1.0  # all that was lost was the zeros' place
    assert row["by_source"]["expert"] == 1.0 and row["by_source"]["random"] is None  # all 0
    assert row["without_random"] == 1.0 and row["zero_label_share"] == 0.3
    # A model that ranks everything right loses nothing anywhere.
    assert prm_breakdown(label, label, source)["spearman"] == 1.0
    with pytest.raises(ValueError, match="as long as each other, got 3, 100, 100"):
        prm_breakdown(potential[:3], label, source)
    # A second estimate is scored as the potential is; of another length it is refused.
    assert prm_breakdown(potential, label, source, anchored=label)["forward_anchored"] == 1.0
    assert "forward_anchored" not in row
    with pytest.raises(ValueError, match="got 100, 100, 100, 99"):
        prm_breakdown(potential, label, source, anchored=label[:99])


def test_the_cli_breaks_down_a_prm_on_the_held_out_frames(tmp_path, capsys):
    from test_prm import TINY

    from robopref.rewards.prm import PRMConfig, ProcessRewardModel

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    prm = ProcessRewardModel(PRMConfig(**TINY), task="panda-push")
    prm.save(tmp_path / "prm.pt")
    size = TINY["image_size"]
    for d, seeds in (("train", range(4)), ("test", range(10, 13))):
        (tmp_path / d).mkdir()
        for s in seeds:
            ep = push_like(s, T=8)
            rng = np.random.default_rng(s)
            ep.frames = {
                v: rng.integers(0, 255, (9, size, size, 3), np.uint8) for v in prm.config.views
            }
            if s == 12:
                ep.metadata["source"] = "random"
            save_episode(ep, tmp_path / d)
    zeros = sum(int((push_like(s, T=8).progress == 0).sum()) for s in range(10, 13))
    argv = ["--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"), "--steps", "20"]
    assert main([*argv, "--seeds", "1", "--prm", str(tmp_path / "prm.pt")]) == 0
    out = json.loads(capsys.readouterr().out)["prm"]
    assert out["model"] == str(tmp_path / "prm.pt")
    assert set(out["by_source"]) == {"expert", "random"}
    assert zeros >= 1 and out["zero_label_share"] == pytest.approx(zeros / 27, abs=1e-4)
    assert -1.0 <= out["spearman"] <= 1.0 and -1.0 <= out["zeros_ranked_last"] <= 1.0
    assert -1.0 <= out["forward_anchored"] <= 1.0
    # --seeds 0: the breakdown alone, no regressor; without --prm it is refused.
    assert main([*argv, "--seeds", "0", "--prm", str(tmp_path / "prm.pt")]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert "frame_state" not in alone and alone["prm"] == out
    with pytest.raises(SystemExit) as e:
        main([*argv, "--seeds", "0"])
    assert e.value.code == 2 and "--seeds 0 only with --prm" in capsys.readouterr().err
    # Held-out episodes without camera frames cannot be scored by a PRM: exit 2 naming one.
    blind = tmp_path / "blind"
    blind.mkdir()
    save_episode(push_like(40, T=8), blind)
    blind_argv = ["--train", str(tmp_path / "train"), "--test", str(blind), "--seeds", "0"]
    assert main([*blind_argv, "--prm", str(tmp_path / "prm.pt")]) == 2
    assert "has no frames of views" in capsys.readouterr().err
    # A PRM file that is not one: exit 2 naming it, as for the episodes.
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    assert main([*argv, "--seeds", "1", "--prm", str(tmp_path / "bad.pt")]) == 2
    assert "bad.pt" in capsys.readouterr().err
