"""The config tree: defaults, files, flags, and errors that name the key."""

from __future__ import annotations

import json

import pytest

from robopref.cli import main
from robopref.rl.config import ConfigError, TrainConfig, from_dict, load_config


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
