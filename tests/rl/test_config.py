"""The config tree: defaults, files, flags, and errors that name the key."""

from __future__ import annotations

import json
import re

import pytest

from robopref.cli import main
from robopref.rl.config import ConfigError, TrainConfig, conservative_k, from_dict, load_config


def test_defaults_files_and_overrides_stack(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("task: panda-push\nlearner:\n  batch_size: 64\n  net_arch: [64, 64]\n")
    c = load_config(f, {"learner.batch_size": 128, "reward": "pref+prm"})
    assert c.task == "panda-push"
    assert c.learner.batch_size == 128  # the flag wins over the file
    assert c.learner.net_arch == (64, 64)
    assert c.terms == ("pref", "prm")
    assert c.learner.algo == TrainConfig().learner.algo  # untouched keys keep defaults
    assert from_dict(json.loads(json.dumps(c.to_dict()))) == c  # config.json round trip


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"learner.batchsize": 1}, "unknown config key learner.batchsize"),
        ({"pebble": {"selektor": "x"}}, "unknown config key pebble.selektor"),
        ({"learner.batch_size": True}, "learner.batch_size: expected an integer"),
        ({"learner.batch_size": "64"}, "learner.batch_size: expected an integer"),
        ({"learner.gamma": "high"}, "learner.gamma: expected a number"),
        ({"env.cameras": "front"}, "env.cameras: expected a list"),
        ({"learner": 3}, "learner: expected a mapping"),
        ({"pebble.selector": "best"}, "pebble.selector: 'best' is not one of"),
        ({"steps": 0}, "steps: must be >= 1"),
        ({"learner.gamma": 1.5}, "learner.gamma: must be in (0, 1]"),
        ({"reward": "pref+magic"}, "reward: bad spec 'pref+magic'"),
        ({"reward": "pref+pref"}, "reward: bad spec"),
        ({"labels": 0}, "labels: a 'pref' reward needs a label budget"),
        ({"shaping.scale": float("nan")}, "shaping.scale: must be finite"),
        ({"pebble.conservative_k": -1.0}, "pebble.conservative_k: must be >= 0"),
        ({"pebble.labels_per_round": 200}, "pebble.labels_per_round: 200 per round is more"),
        ({"pebble.crop": 13}, "pebble.crop: 13 steps off each end"),
        ({"pebble.crop": -1}, "pebble.crop: must be >= 0"),
        ({"pebble.pseudo_ratio": -2}, "pebble.pseudo_ratio: must be >= 0"),
        ({"pebble.pseudo_threshold": 0.2}, "pebble.pseudo_threshold: must be in [0.5, 1]"),
        ({"pebble.pseudo_weight": -0.5}, "pebble.pseudo_weight: must be >= 0"),
        ({"learner.recent_fraction": 1.0}, "learner.recent_fraction: must be in [0, 1)"),
        ({"learner.recent_steps": 0}, "learner.recent_steps: must be >= 1"),
        ({"pebble.refit_threads": -1}, "pebble.refit_threads: must be >= 0"),
        (
            {"demos": "5", "learner": {"recent_fraction": 0.5}},
            "learner.recent_fraction: with learner.demo_fraction=0.5 no share",
        ),
    ],
)
def test_bad_keys_and_values_name_the_key(overrides, message):
    flat = {k: v for k, v in overrides.items() if "." in k}
    nested = {k: v for k, v in overrides.items() if "." not in k}
    with pytest.raises(ConfigError) as e:
        if nested:
            from_dict(nested)
        else:
            load_config(overrides=flat)
    assert message in str(e.value)


def test_bad_config_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learner: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.json"
    listy.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(listy)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_cli_reports_a_bad_key_in_one_line_and_writes_no_run(tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--run-dir", str(run), "--set", "learner.lr=0.1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "unknown config key learner.lr" in err
    assert "Traceback" not in err
    assert not run.exists()


def test_vlm_without_a_checkpoint_says_what_to_pass(tmp_path, capsys):
    rc = main(["train", "--run-dir", str(tmp_path / "r"), "--reward", "vlm", "--no-progress"])
    assert rc == 2
    assert "--vlm-checkpoint PATH" in capsys.readouterr().err


# ---------------------------------------------------------------- names the registries own
@pytest.fixture
def no_env(monkeypatch):
    """Makes building any environment fail the test: a config error must come first."""
    import sim

    def make(*args, **kwargs):
        raise AssertionError("an environment was built before the config was checked")

    monkeypatch.setattr(sim, "make", make)


def _registries() -> dict[str, tuple[str, ...]]:
    import sim
    from robopref.preferences import SIGNALS, selector_names, teacher_names
    from robopref.rl.policy import ALGOS
    from sim.state import STATE_MODES

    return {
        "env.backend": tuple(sim.list_backends()),
        "env.state": STATE_MODES,
        "learner.algo": ALGOS,
        "pebble.selector": selector_names(),
        "teacher.name": (*teacher_names(), "human", "crowd"),
        "teacher.signal": ("auto", *SIGNALS),
    }


def test_named_choices_are_the_registries_own():
    from robopref.rl.config import choices

    valid = choices()
    for key, names in _registries().items():
        assert valid[key] == names, key


@pytest.mark.parametrize(
    "key, bad",
    [
        ("teacher.name", "oracel"),
        ("pebble.selector", "disagreemnt"),
        ("learner.algo", "sacc"),
        ("env.backend", "bulet"),
        ("env.state", "proprioception"),
        ("teacher.signal", "rewards"),
    ],
)
def test_a_typo_in_a_registered_name_fails_at_parse_naming_key_value_and_valid(key, bad, no_env):
    with pytest.raises(ConfigError) as e:
        load_config(overrides={key: bad})
    valid = _registries()[key]
    assert str(e.value) == f"{key}: {bad!r} is not one of {list(valid)}"


def test_a_typo_in_the_teacher_fails_on_the_command_line_before_anything_is_built(
    tmp_path, capsys, no_env
):
    run = tmp_path / "run"
    rc = main(["train", "--run-dir", str(run), "--teacher", "oracel", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "teacher.name: 'oracel' is not one of" in err and "'oracle'" in err
    assert "'human'" in err and "Traceback" not in err
    assert not run.exists()


def test_a_name_registered_at_run_time_is_valid(monkeypatch):
    from robopref.preferences import selectors, teachers

    monkeypatch.setitem(teachers._PRESETS, "patient", {"beta": 2.0})
    monkeypatch.setitem(selectors._SELECTORS, "novel", selectors.Selector("novel", None))
    c = load_config(overrides={"teacher.name": "patient", "pebble.selector": "novel"})
    assert (c.teacher.name, c.pebble.selector) == ("patient", "novel")


@pytest.mark.parametrize(
    "task, backend, message",
    [
        ("panda-rech", "mujoco", "task: 'panda-rech' is not one of ['panda-"),
        ("dmc:walker-wak", "mujoco", "task: 'dmc:walker-wak' is not one of ['dmc:"),
        ("dmc:walker-walk", "bullet", "env.backend: dm_control tasks run on 'mujoco' only"),
    ],
)
def test_a_bad_task_fails_at_parse(task, backend, message, no_env):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(overrides={"task": task, "env.backend": backend})


def test_every_listed_task_parses(no_env):
    import sim

    for task in sim.list_tasks(include_dmc=False) + ["dmc:walker-walk"]:
        assert load_config(overrides={"task": task}).task == task


# ---------------------------------------------------------------- unset is None
UNSET = {
    "demos": "",
    "run_dir": "",
    "shaping": {"prm": "", "vlm_checkpoint": ""},
    "pebble": {"gold_rate": -1.0},
    "teacher": {k: -1.0 for k in ("beta", "gamma", "eps_mistake", "eps_skip", "eps_equal")},
}


def test_unset_is_none_and_round_trips_through_config_json():
    c = TrainConfig()
    assert c.demos is None and c.run_dir is None and c.shaping.prm is None
    assert c.shaping.vlm_checkpoint is None and c.pebble.gold_rate is None
    assert c.teacher.beta is None and c.teacher.eps_mistake is None
    saved = json.loads(json.dumps(c.to_dict()))
    assert saved["teacher"]["beta"] is None and saved["demos"] is None
    assert from_dict(saved) == c


def test_an_old_config_json_with_the_old_spellings_of_unset_still_loads(tmp_path):
    old = TrainConfig().to_dict()
    for section, value in UNSET.items():
        old[section] = {**old[section], **value} if isinstance(value, dict) else value
    f = tmp_path / "config.json"
    f.write_text(json.dumps(old))
    assert load_config(f) == TrainConfig()
    # And with values set, they are kept.
    c = load_config(f, {"teacher.beta": 2.5, "pebble.gold_rate": 0.1, "demos": "5"})
    assert (c.teacher.beta, c.pebble.gold_rate, c.demos) == (2.5, 0.1, "5")


def test_a_resumed_old_run_reads_its_config_json(tmp_path):
    from robopref.rl.train import prepare_run
    from robopref.runs import RunPaths

    run = RunPaths.of(tmp_path / "old").create()
    old = TrainConfig().to_dict()
    old.update(run_dir=str(run.root), demos="")
    old["teacher"]["beta"] = -1.0
    old["pebble"]["gold_rate"] = -1.0
    run.config.write_text(json.dumps(old))
    config, _, resumed = prepare_run(None, str(run.root))
    assert resumed and config.teacher.beta is None and config.demos is None


def test_gold_rate_resolves_none_by_teacher():
    from robopref.rl.config import HUMAN_GOLD_RATE, gold_rate

    assert gold_rate(TrainConfig()) == 0.0
    assert gold_rate(load_config(overrides={"teacher.name": "human"})) == HUMAN_GOLD_RATE
    assert gold_rate(load_config(overrides={"pebble.gold_rate": 0.2})) == 0.2


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"pebble.gold_rate": 1.5}, "pebble.gold_rate: must be in [0, 1]"),
        ({"teacher.beta": "high"}, "teacher.beta: expected a number, got 'high'"),
        ({"shaping.prm": 3}, "shaping.prm: expected a string, got 3"),
    ],
)
def test_optional_values_keep_their_type_checks(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(overrides=overrides)


def test_null_on_the_command_line_unsets():
    from robopref.commands.train import parse_set

    c = load_config(overrides=parse_set(["teacher.beta=null", "shaping.prm=null"]))
    assert c.teacher.beta is None and c.shaping.prm is None


def test_every_key_is_described_from_the_dataclass_fields():
    from robopref.rl.config import describe_keys, key_info

    infos = describe_keys()
    keys = [i.key for i in infos]
    assert len(keys) == len(set(keys))
    # the same keys, in the same order, as the resolved tree that config.json holds
    flat = []

    def walk(d, prefix=""):
        for k, v in d.items():
            walk(v, f"{prefix}{k}.") if isinstance(v, dict) else flat.append(f"{prefix}{k}")

    walk(TrainConfig().to_dict())
    assert keys == flat
    batch = key_info("learner.batch_size")
    assert (batch.type, batch.default) == ("int", 256)
    assert batch.doc.startswith("Transitions per gradient step")
    assert key_info("demos").type == "str | None"
    assert key_info("learner.net_arch").type == "tuple[int, ...]"
    # every key a flag of its own reaches says what it is (its help is this doc)
    from robopref.commands.train import TRAIN_FLAGS

    assert all(key_info(k).doc for k in TRAIN_FLAGS.values())
    with pytest.raises(ConfigError, match="unknown config key learner.batchsize"):
        key_info("learner.batchsize")


def test_train_flags_take_type_and_help_from_the_config(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    # the doc's first sentence, the dotted key and the default; quoting stripped
    assert "Label budget (non-skip labels). [labels, default 100]" in out
    assert "[pebble.query_every, default 5000]" in out
    assert "``" not in out
    # names a registry owns are listed when help is printed
    assert "[teacher.name, default oracle] one of: oracle," in out
    # the flag's type is the field's: a float for an int key is refused by argparse
    with pytest.raises(SystemExit):
        main(["train", "--labels", "1.5"])
    assert "invalid int value: '1.5'" in capsys.readouterr().err


def test_list_keys_prints_every_key_with_default_and_doc(capsys):
    from robopref.rl.config import describe_keys

    assert main(["train", "--list-keys"]) == 0
    out = capsys.readouterr().out
    for info in describe_keys():
        assert re.search(rf"^{re.escape(info.key)} \({re.escape(info.type)}, default ", out, re.M)
    assert "learner.batch_size (int, default 256)\n    Transitions per gradient step" in out
    assert 'pebble.selector (str, default "disagreement"; one of: uniform,' in out
    assert "demos (str | None, default null)" in out


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"task": "dmc:walker-walk", "reward": "sparse+progress"}, "'dmc:walker-walk' has none"),
        ({"reward": "sparse+prm+progress"}, "already the ideal PRM"),
        ({"reward": "sparse", "shaping.mode": "direct"}, "add 'prm', 'vlm' or 'progress'"),
    ],
)
def test_the_progress_term_is_refused_where_it_cannot_work(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=overrides)
    assert load_config(overrides={"reward": "sparse+progress"}).terms == ("sparse", "progress")


# The preference model's own config, embedded as pebble.reward (one source: its fields,
# types, checks and docs are the model's).
OLD_MODEL_KEYS = {
    "ensemble_size": ("ensemble_size", 5),
    "hidden": ("hidden", [64, 64]),
    "reward_lr": ("lr", 1e-3),
    "reward_epochs": ("epochs", 7),
    "reward_input": ("input", "state"),
    "reward_bootstrap": ("bootstrap", False),
    "reward_normalize": ("normalize_inputs", False),
}


def test_the_preference_model_config_is_embedded_and_reaches_the_model():
    from robopref.rewards.preference import PreferenceRewardConfig
    from robopref.rl.train import make_pref_model

    c = load_config(
        overrides={"pebble.reward.label_noise": 0.1, "pebble.reward.hidden": [16], "seed": 7}
    )
    assert isinstance(c.pebble.reward, PreferenceRewardConfig)
    model = make_pref_model(c, state_dim=4, act_dim=2)
    # every field of the embedded config reaches the model; the run's seed seeds it
    assert model.config == PreferenceRewardConfig(label_noise=0.1, hidden=(16,), seed=7)
    assert from_dict(json.loads(json.dumps(c.to_dict()))) == c  # config.json round trip


def test_an_old_config_json_with_the_flat_reward_keys_loads_them_into_pebble_reward(tmp_path):
    old = TrainConfig().to_dict()
    del old["pebble"]["reward"]
    old["pebble"].update({k: v for k, (_, v) in OLD_MODEL_KEYS.items()})
    f = tmp_path / "config.json"
    f.write_text(json.dumps(old))
    c = load_config(f)
    for new, value in OLD_MODEL_KEYS.values():
        got = getattr(c.pebble.reward, new)
        assert got == (tuple(value) if isinstance(value, list) else value), new
    # the old key on the command line means the same
    assert load_config(overrides={"pebble.reward_lr": 0.002}).pebble.reward.lr == 0.002


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"pebble.reward_lr": 0.1, "pebble.reward.lr": 0.2},
            "pebble.reward_lr and pebble.reward.lr are the same key",
        ),
        ({"pebble.reward.activation": "gelu"}, "pebble.reward.activation: 'gelu' is not one of"),
        ({"pebble.reward.input": "frames"}, "pebble.reward.input: 'frames' is not one of"),
        ({"pebble.reward.ensemble_size": 0}, "pebble.reward: ensemble_size must be an int >= 1"),
        ({"pebble.reward.label_noise": 1.0}, "pebble.reward: label_noise must be a number in"),
        ({"pebble.reward.epochs": 0}, "pebble.reward.epochs: must be >= 1"),
        ({"pebble.reward.seed": 3}, "pebble.reward.seed: the preference model is seeded by"),
        ({"pebble.reward.lr": "fast"}, "pebble.reward.lr: expected a number"),
        (
            {"pebble": {"reward": 3, "reward_lr": 0.1}},
            "pebble.reward: expected a mapping, got int",
        ),
    ],
)
def test_bad_preference_model_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(overrides=overrides)


def test_the_embedded_model_keys_are_listed_with_the_models_own_docs():
    from robopref.rl.config import key_info

    noise = key_info("pebble.reward.label_noise")
    assert (noise.type, noise.default) == ("float", 0.0)
    assert noise.doc.startswith("Robust Bradley-Terry")
    assert key_info("pebble.reward.activation").type == "'leaky_relu' | 'relu' | 'tanh'"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"teacher.name": "crowd"}, "pebble.labels_per_query: the crowd teacher has 5 members"),
        (
            {"teacher.name": "crowd", "pebble.labels_per_query": 5, "teacher.eps_mistake": 0.1},
            "teacher.eps_mistake: the crowd's teachers keep their own parameters",
        ),
        ({"labels": 3, "pebble.labels_per_query": 5}, "labels: a budget of 3 is less than one"),
    ],
)
def test_a_crowd_that_cannot_work_is_refused_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(overrides=overrides)
    ok = load_config(overrides={"teacher.name": "crowd", "pebble.labels_per_query": 5})
    assert ok.teacher.name == "crowd"


@pytest.mark.parametrize(
    "reward, k, resolved",
    [
        ("pref", None, 1.0),  # PEBBLE: the learned reward is the whole objective
        ("pref+prm", None, 1.0),  # a shaping potential does not change what is optimal
        ("pref+progress", None, 1.0),
        ("sparse+pref", None, 0.0),  # the task reward beside it decides (Panda recipes)
        ("sparse+pref+prm", None, 0.0),
        ("sparse+prm", None, 0.0),  # no preference term: nothing to be conservative about
        ("pref", 0.0, 0.0),  # a set value is kept
        ("sparse+pref", 2.5, 2.5),
    ],
)
def test_the_conservative_k_default_follows_the_reward_terms(reward, k, resolved):
    overrides = {"reward": reward, **({} if k is None else {"pebble.conservative_k": k})}
    config = load_config(overrides=overrides)
    assert config.pebble.conservative_k == k  # the tree keeps what was asked (None: auto)
    assert conservative_k(config) == resolved
    assert from_dict(json.loads(json.dumps(config.to_dict()))) == config
