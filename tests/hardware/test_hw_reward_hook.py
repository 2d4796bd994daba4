"""The exported reward evaluator as the bridge's reward model (hardware/core/reward_hook.py)."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hardware.core.bridge import Bridge, BridgeConfig
from hardware.core.reward_hook import (
    EvaluatorRewardModel,
    PotentialModel,
    RewardHook,
    RewardModel,
    load_reward_hook,
)
from hardware.policies.scripted import GoalReachPolicy
from hardware.robots import get_robot
from hardware.ros.bridge_cli import build_parser, load_reward
from hardware.ros.bridge_cli import main as bridge_main
from hardware.standin.sim_robot import InProcessLink, run_closed_loop
from robopref.evaluator import Evaluator, export_blob, export_models
from robopref.preferences import PreferenceBatch
from robopref.rewards import PreferenceRewardConfig, PreferenceRewardModel
from robopref.rewards.prm import PRMConfig, ProcessRewardModel

ROOT = Path(__file__).resolve().parents[2]
STATE, ACT = 18, 4  # the Panda's proprio state; the bridge's action
VIEWS = ("front", "side", "wrist")


def preference_model(kind: str, obs_dim: int = STATE, act_dim: int = ACT, seed: int = 1):
    """A small ensemble with non-trivial input statistics (0 epochs: normalizer only)."""
    model = PreferenceRewardModel(
        obs_dim,
        act_dim if kind == "state_action" else None,
        PreferenceRewardConfig(hidden=(16, 16), input=kind, output_activation="none", seed=seed),
    )
    rng = np.random.default_rng(seed)
    obs = rng.normal(0.3, 0.5, (8, 4, obs_dim)).astype(np.float32)
    act = rng.uniform(-1, 1, (8, 4, act_dim)).astype(np.float32)
    label = rng.integers(0, 2, 4).astype(np.float32)
    model.train(PreferenceBatch(obs[:4], act[:4], obs[4:], act[4:], label), epochs=0)
    return model


def prm_model(seed: int = 0, views=VIEWS, feature_dim: int = 8) -> ProcessRewardModel:
    cfg = PRMConfig(views=views, image_size=36, feature_dim=feature_dim, hidden=(16,), seed=seed)
    return ProcessRewardModel(cfg)


def prm_with_success_head() -> ProcessRewardModel:
    """The `prm_model()` weights with a success head marked trained (its seeded init, made
    sharper so P(success) moves with the frames)."""
    import torch

    model = prm_model()
    with torch.no_grad():
        for layer in model.net.success:
            layer.weight.mul_(4.0)
    model.trained_heads = {"success"}
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Saved models and the blobs exported from them."""
    d = tmp_path_factory.mktemp("reward_models")
    pref_s, pref_sa, prm = preference_model("state"), preference_model("state_action"), prm_model()
    paths = {
        "pref_s": pref_s.save(d / "pref_state.pt"),
        "pref_sa": pref_sa.save(d / "pref_state_action.pt"),
        "prm": prm.save(d / "prm.pt"),
        "prm_other": prm_model(seed=7).save(d / "prm_other.pt"),  # same shapes, other weights
        "prm_2views": prm_model(views=("front", "wrist")).save(d / "prm_2views.pt"),
        "prm_dim4": prm_model(feature_dim=4).save(d / "prm_dim4.pt"),
        "prm_success": prm_with_success_head().save(d / "prm_success.pt"),
    }
    blobs = {
        # From the head dict directly and from saved files: both exporters.
        "state": export_blob(d / "state.rpe", preference=pref_s.numpy_head()),
        "state_prm": export_models(d / "state_prm.rpe", paths["pref_s"], paths["prm"]),
        "sa_prm": export_models(d / "sa_prm.rpe", paths["pref_sa"], paths["prm"]),
        "prm_only": export_models(d / "prm_only.rpe", prm_model=paths["prm"]),
        "sa_prm_success": export_models(
            d / "sa_prm_success.rpe", paths["pref_sa"], paths["prm_success"]
        ),
        "state17": export_blob(
            d / "state17.rpe", preference=preference_model("state", obs_dim=17).numpy_head()
        ),
        "sa_act3": export_models(
            d / "sa_act3.rpe", preference_model("state_action", act_dim=3).save(d / "a3.pt")
        ),
    }
    return {
        "pref_s": pref_s,
        "pref_sa": pref_sa,
        "prm": prm,
        "prm_success": ProcessRewardModel.load(paths["prm_success"]),
        "paths": paths,
        "blobs": blobs,
    }


def states(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.3, 0.6, (n, STATE)).astype(np.float32)


def frames(seed: int) -> dict[str, np.ndarray]:
    """Bridge-sized (84 x 84) frames of every view, smooth enough to survive resizing."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in VIEWS:
        coarse = rng.integers(0, 256, (7, 7, 3), dtype=np.uint8)
        out[v] = np.ascontiguousarray(np.repeat(np.repeat(coarse, 12, 0), 12, 1))
    return out


# --- reward -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["state", "state_action"])
def test_reward_is_the_preference_models_ensemble_mean(models, kind):
    blob = models["blobs"]["state" if kind == "state" else "sa_prm"]
    model = models["pref_s" if kind == "state" else "pref_sa"]
    hook = load_reward_hook(blob)
    assert isinstance(hook, RewardModel) and hook.potential is None  # no encoder: no Phi
    s = states(20)
    a = np.random.default_rng(1).uniform(-1, 1, (20, ACT)).astype(np.float32)
    want_mean, want_spread = model.reward(s, a)
    got = np.array([hook.reward({"state": s[i].astype(np.float64)}, a[i]) for i in range(20)])
    np.testing.assert_allclose(got, want_mean, rtol=0, atol=1e-5)
    assert hook.last_spread == pytest.approx(float(want_spread[-1]), abs=1e-5)
    assert hook.last_reward == got[-1]
    assert np.ptp(want_mean) > 0.05 and np.ptp(want_spread) > 0  # not a vacuous comparison
    if kind == "state_action":  # the action matters: another action, another reward
        other = hook.reward({"state": s[0]}, -a[0])
        assert other == pytest.approx(float(model.reward(s[:1], -a[:1])[0][0]), abs=1e-5)
        assert abs(other - got[0]) > 1e-4


def test_rewardhook_sees_a_blob_without_prm_as_having_no_potential(models):
    hook = load_reward_hook(models["blobs"]["state"], backend="numpy")
    assert not isinstance(hook, PotentialModel)
    plug = RewardHook(hook)
    obs = {"state": states(1)[0], **frames(0)}
    assert plug.potential(obs) is None and plug.errors == 0
    want = float(models["pref_s"].reward(obs["state"][None])[0][0])
    assert plug.reward(obs, np.zeros(ACT, np.float32)) == pytest.approx(want, abs=1e-5)
    bad = RewardHook(hook).reward({"state": np.full(STATE, np.nan, np.float32)}, None)
    assert bad is None  # a NaN state is refused by the evaluator and counted, not raised


# --- potential ----------------------------------------------------------------------------------
def test_potential_is_the_prms_with_missing_views_masked(models):
    prm = models["prm"]
    hook = load_reward_hook(models["blobs"]["state_prm"], models["paths"]["prm"])
    assert isinstance(hook, PotentialModel) and isinstance(hook, RewardModel)
    values = []
    for seed, drop in [(0, ()), (1, ()), (2, ("side",)), (3, ("front", "wrist"))]:
        f = frames(seed)
        obs = {"state": states(1)[0], **{v: f[v] for v in VIEWS if v not in drop}}
        want = prm.predict({v: obs[v][None] for v in VIEWS if v in obs}).potential[0]
        phi = hook.potential(obs)
        assert phi == pytest.approx(want, abs=1e-5), drop
        assert hook.last_potential == phi and hook.last_missing_views == drop
        values.append(phi)
    # The dropped views change Phi: the mask is really applied, not zero features averaged in.
    f = frames(2)
    assert abs(hook.potential(f) - values[2]) > 1e-6
    assert np.ptp(values) > 1e-5
    # No PRM view at all: an error the bridge's RewardHook counts, not a crash.
    plug = RewardHook(hook)
    assert plug.potential({"state": states(1)[0]}) is None and plug.errors == 1


def test_prm_only_blob_gives_a_potential_and_no_reward(models):
    hook = load_reward_hook(models["blobs"]["prm_only"], models["paths"]["prm"])
    assert hook.reward is None and not isinstance(hook, RewardModel)
    f = frames(4)
    assert hook.potential(f) == pytest.approx(models["prm"].potential(f), abs=1e-5)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        load_reward_hook(models["blobs"]["prm_only"])  # its head needs the encoder


def test_a_blob_alone_does_not_import_torch(models):
    code = (
        "import sys\n"
        "from hardware.core.reward_hook import load_reward_hook\n"
        f"h = load_reward_hook({str(models['blobs']['state_prm'])!r})\n"
        "assert h.potential is None and h.reward is not None\n"
        "assert 'torch' not in sys.modules, 'torch imported without an encoder'\n"
    )
    env = {**os.environ, "MUJOCO_GL": "egl", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]


# --- success probability ------------------------------------------------------------------------
def test_success_probability_is_the_prms_success_head_with_one_encoder_pass(models, monkeypatch):
    model = models["prm_success"]
    hook = load_reward_hook(models["blobs"]["sa_prm_success"], models["paths"]["prm_success"])
    assert hook.success_probability is not None and RewardHook(hook).has_success_probability
    passes = []
    features = hook.encoder.features
    monkeypatch.setattr(hook.encoder, "features", lambda v: passes.append(1) or features(v))
    values = []
    for seed, drop in [(0, ()), (1, ("side",)), (2, ("front", "wrist"))]:
        f = frames(seed)
        obs = {"state": states(1)[0], **{v: f[v] for v in VIEWS if v not in drop}}
        views = {v: obs[v][None] for v in VIEWS if v in obs}
        want_p = model.success_probability(views)[0]
        want_phi = model.predict(views).potential[0]
        n = len(passes)
        assert hook.potential(obs) == pytest.approx(want_phi, abs=1e-5)
        p = hook.success_probability(obs)  # as the bridge asks: the encoder is not run again
        assert len(passes) == n + 1
        assert p == pytest.approx(want_p, abs=1e-5) and hook.last_success_probability == p
        values.append(p)
    assert np.ptp(values) > 1e-3  # the views matter: not a constant
    # Another observation, or the same dict with a frame replaced: encoded afresh.
    obs = {"state": states(1)[0], **frames(3)}
    hook.potential(obs)
    obs["front"] = frames(4)["front"]
    want = model.success_probability({v: obs[v][None] for v in VIEWS})[0]
    assert hook.success_probability(obs) == pytest.approx(want, abs=1e-5)


def test_without_a_success_head_there_is_no_success_probability(models):
    hook = load_reward_hook(models["blobs"]["sa_prm"], models["paths"]["prm"])
    assert hook.success_probability is None and not RewardHook(hook).has_success_probability
    assert RewardHook(hook).success_probability({"state": states(1)[0]}) is None
    no_encoder = load_reward_hook(models["blobs"]["sa_prm_success"])
    assert no_encoder.success_probability is None  # the head needs the encoder's features


def closed_loop(models, stand_in, clock, blob: str, prm: str, **config):
    stand_in.reset(seed=3)
    cfg = BridgeConfig(task="panda-reach", cameras=("front",), source="bridge",
                       backend="mujoco", max_steps=8, **config)  # fmt: skip
    hook = load_reward_hook(
        models["blobs"][blob], models["paths"][prm], robot="panda_mujoco", cameras=("front",)
    )
    link = InProcessLink(stand_in, cfg.period)
    bridge = Bridge("panda_mujoco", GoalReachPolicy(stand_in.goal.copy()), link, config=cfg,
                    clock=clock, reward_fn=hook)  # fmt: skip
    with bridge:
        bridge.start()
        results = run_closed_loop(stand_in, bridge, clock, link, max_seconds=5.0)
    return bridge, results


def test_the_bridge_logs_the_success_probability_each_step_by_default(models, stand_in, clock):
    bridge, results = closed_loop(models, stand_in, clock, "sa_prm_success", "prm_success")
    ep = bridge.last_episode
    assert ep is not None and ep.length == 8 and bridge.reward.errors == 0
    rec = ep.metadata["reward_model"]
    p = rec["success_probability"]
    assert len(p) == ep.length + 1 and None not in p
    want = models["prm_success"].success_probability({"front": ep.frames["front"]})
    np.testing.assert_allclose(rec["success_probability"], want, rtol=0, atol=1e-5)
    stepped = [r.success_probability for r in results if r.action is not None]
    assert stepped[: ep.length] == rec["success_probability"][: ep.length]
    assert np.ptp(rec["success_probability"]) > 0  # the arm moved, the frames changed


def test_log_success_false_logs_none_and_true_needs_the_head(models, stand_in, clock):
    bridge, results = closed_loop(
        models, stand_in, clock, "sa_prm_success", "prm_success", log_success=False
    )
    assert "success_probability" not in bridge.last_episode.metadata["reward_model"]
    assert all(r.success_probability is None for r in results)
    hook = load_reward_hook(models["blobs"]["sa_prm"], models["paths"]["prm"])
    with pytest.raises(ValueError, match="log_success=True, but the reward model"):
        Bridge("panda_mujoco", GoalReachPolicy(np.zeros(3)), InProcessLink(stand_in, 0.05),
               config=BridgeConfig(log_success=True), reward_fn=hook)  # fmt: skip
    with pytest.raises(ValueError, match="log_success must be None, True or False"):
        BridgeConfig(log_success="yes")  # type: ignore[arg-type]


# --- errors -------------------------------------------------------------------------------------
def test_state_or_action_size_other_than_the_bridges_is_refused(models):
    with pytest.raises(ValueError, match=r"state of 17 values.*has 18"):
        load_reward_hook(models["blobs"]["state17"])
    with pytest.raises(ValueError, match=r"action of 3 values.*have 4"):
        load_reward_hook(models["blobs"]["sa_act3"])
    # A 6-joint arm observes 16 values: the Panda's blob does not fit it.
    with pytest.raises(ValueError, match=r"state of 18 values.*ur5e observation state has 16"):
        load_reward_hook(models["blobs"]["state"], robot="ur5e")


def test_encoder_that_does_not_match_the_prm_head_is_refused(models):
    blob, paths = models["blobs"]["state_prm"], models["paths"]
    with pytest.raises(ValueError, match=r"views \['front', 'side', 'wrist'\].*\['front', 'wrist'"):
        load_reward_hook(blob, paths["prm_2views"])
    with pytest.raises(ValueError, match=r"of 8 features.*of 4"):
        load_reward_hook(blob, paths["prm_dim4"])
    with pytest.raises(ValueError, match="not the model the blob's PRM head was exported from"):
        load_reward_hook(blob, paths["prm_other"])
    with pytest.raises(ValueError, match="no PRM head"):
        load_reward_hook(models["blobs"]["state"], paths["prm"])
    with pytest.raises(ValueError, match="none of the PRM's views"):
        load_reward_hook(blob, paths["prm"], cameras=("top",))


def test_prm_head_without_encoder_is_reported(models, caplog):
    with caplog.at_level(logging.WARNING, logger="hardware.core.reward_hook"):
        hook = load_reward_hook(models["blobs"]["state_prm"])
    assert hook.potential is None and "PRM head unused" in caplog.text


# --- through the bridge -------------------------------------------------------------------------
def test_closed_loop_episode_records_the_evaluators_values(models, stand_in, clock):
    stand_in.reset(seed=3)
    goal = stand_in.goal.copy()
    cfg = BridgeConfig(
        task="panda-reach", cameras=("front",), source="bridge", backend="mujoco", max_steps=12
    )
    hook = load_reward_hook(
        models["blobs"]["sa_prm"], models["paths"]["prm"], robot="panda_mujoco", cameras=("front",)
    )
    link = InProcessLink(stand_in, cfg.period)
    bridge = Bridge("panda_mujoco", GoalReachPolicy(goal), link, config=cfg, clock=clock,
                    reward_fn=hook)  # fmt: skip
    with bridge:
        bridge.start()
        results = run_closed_loop(stand_in, bridge, clock, link, max_seconds=5.0)
    ep = bridge.last_episode
    assert ep is not None and ep.length == 12 and ep.metadata["stop_reason"] == "max_steps"
    assert bridge.reward.errors == 0, bridge.reward.last_error
    rec = ep.metadata["reward_model"]
    assert None not in rec["reward"] and None not in rec["potential"]
    assert len(rec["reward"]) == ep.length and len(rec["potential"]) == ep.length + 1
    # The recorded values are the evaluator's (and the torch models') at the recorded steps.
    ev = Evaluator.load(models["blobs"]["sa_prm"], backend="numpy")
    want_r, _ = ev.reward_batch(ep.state[:-1], ep.action)
    np.testing.assert_allclose(rec["reward"], want_r, rtol=0, atol=1e-5)
    torch_r, _ = models["pref_sa"].reward(ep.state[:-1], ep.action)
    np.testing.assert_allclose(rec["reward"], torch_r, rtol=0, atol=1e-5)
    want_phi = models["prm"].predict({"front": ep.frames["front"]}).potential
    np.testing.assert_allclose(rec["potential"], want_phi, rtol=0, atol=1e-5)
    assert hook.last_missing_views == ("side", "wrist")  # not bridge cameras: masked
    step_rewards = [r.reward for r in results if r.reward is not None]
    assert step_rewards[: ep.length] == rec["reward"]  # what each step returned, recorded
    assert np.ptp(rec["reward"]) > 0 and np.ptp(rec["potential"]) > 0  # the arm moved


# --- bridge_cli ---------------------------------------------------------------------------------
def test_bridge_cli_wires_reward_and_encoder(models):
    blob, prm = str(models["blobs"]["state_prm"]), str(models["paths"]["prm"])
    panda = get_robot("panda_mujoco")
    args = build_parser().parse_args(["--reward", blob, "--reward-encoder", prm])
    assert (args.reward, args.reward_encoder) == (blob, prm)
    hook = load_reward(args, panda, ("front",))
    assert isinstance(hook, EvaluatorRewardModel) and hook.cameras == ("front",)
    obs = {"state": states(1)[0], "front": frames(5)["front"]}
    want = models["prm"].predict({"front": obs["front"][None]}).potential[0]
    assert hook.potential(obs) == pytest.approx(want, abs=1e-5)
    only_blob = load_reward(build_parser().parse_args(["--reward", blob]), panda)
    assert only_blob.potential is None and only_blob.reward is not None
    assert load_reward(build_parser().parse_args([]), panda) is None
    with pytest.raises(ValueError, match="--reward-encoder needs --reward"):
        load_reward(build_parser().parse_args(["--reward-encoder", prm]), panda)


def test_bridge_cli_refuses_a_blob_that_does_not_fit_before_connecting(models, capsys):
    bad = str(models["blobs"]["state17"])
    for argv, message in [
        (["--robot", "panda_mujoco", "--reward", bad], "state of 17 values"),
        (["--reward-encoder", str(models["paths"]["prm"])], "--reward-encoder needs --reward"),
        (["--reward", str(Path(bad).with_name("missing.rpe"))], "missing.rpe"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            bridge_main(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
