"""``robopref train`` and ``robopref eval``.

Flags map one to one onto `robopref.rl.config.TrainConfig` keys; a flag left out keeps the
value of ``--config FILE`` (or the default). ``--set key=value`` reaches any other key
(``--set learner.batch_size=128``; values are read as JSON, else taken as strings).
"""

from __future__ import annotations

import argparse
import json
import sys

# flag -> dotted config key: the keys a flag of their own reaches; every other key is set
# with ``--set key=value`` (``--list-keys`` lists them). Each flag's type and help come from
# the key's field in `TrainConfig` (one source: its annotation, default and docstring).
TRAIN_FLAGS = {
    "task": "task",
    "reward": "reward",
    "teacher": "teacher.name",
    "labels": "labels",
    "steps": "steps",
    "run_dir": "run_dir",
    "seed": "seed",
    "algo": "learner.algo",
    "demos": "demos",
    "policy_input": "learner.policy_input",
    "selector": "pebble.selector",
    "unsup_steps": "pebble.unsup_steps",
    "query_every": "pebble.query_every",
    "segment_length": "pebble.segment_length",
    "prm": "shaping.prm",
    "vlm_checkpoint": "shaping.vlm_checkpoint",
    "eval_episodes": "eval_episodes",
}
_FLAG_TYPES = {"int": int, "float": float, "str": str}


def _unquote(doc: str) -> str:
    """``doc`` without its reST quoting, which a terminal would show as is."""
    return doc.replace("``", "").replace("`", "")


def _first_sentence(doc: str) -> str:
    doc = _unquote(doc)
    end = doc.find(". ")
    return doc if end < 0 else doc[: end + 1]


def _flag_help(info) -> str:
    default = "unset" if info.default is None else info.default
    return f"{_first_sentence(info.doc) or info.key} [{info.key}, default {default}]"


class _ConfigHelpFormatter(argparse.HelpFormatter):
    """Adds each flag's valid names to its help when help is printed, not when the parser
    is built: the names come from the registries (`robopref.rl.config.choices`), whose
    import (the simulators) would otherwise slow down every command."""

    def _get_help_string(self, action):  # argparse's own hook (ArgumentDefaultsHelpFormatter)
        text = action.help or ""
        key = TRAIN_FLAGS.get(action.dest)
        if key is not None:
            from robopref.rl.config import choices

            names = choices().get(key)
            if names:
                text += " one of: " + ", ".join(names)
        return text


def _list_keys() -> int:
    from robopref.rl.config import choices, describe_keys

    names = choices()
    for info in describe_keys():
        default = "null" if info.default is None else json.dumps(info.default)
        valid = f"; one of: {', '.join(names[info.key])}" if info.key in names else ""
        print(f"{info.key} ({info.type}, default {default}{valid})")
        if info.doc:
            print(f"    {_unquote(info.doc)}")
    return 0


def parse_set(items: list[str]) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            out[key.strip()] = text
    return out


def _overrides(args) -> dict:
    flags = {TRAIN_FLAGS[f]: getattr(args, f) for f in TRAIN_FLAGS if getattr(args, f) is not None}
    if args.no_progress:
        flags["progress_bar"] = False
    return {**flags, **parse_set(args.set)}


def _cmd_train(args) -> int:
    if args.list_keys:
        return _list_keys()
    from robopref.rl.config import load_config, unflatten
    from robopref.rl.train import TrainingStopped, train

    overrides = _overrides(args)
    try:
        if args.resume:
            if args.config:
                raise ValueError("--resume takes the run's own config.json; drop --config")
            summary = train(resume=args.resume, overrides=unflatten(overrides))
        else:
            summary = train(load_config(args.config, overrides))
    except TrainingStopped as e:
        print(f"robopref train: {e}", file=sys.stderr)
        return 3
    print(json.dumps(summary), flush=True)
    return 0


def _cmd_eval(args) -> int:
    from robopref.rl.config import from_dict
    from robopref.rl.evaluate import evaluate_policy
    from robopref.rl.policy import load_run_policy
    from robopref.runs import RunPaths

    run = RunPaths.of(args.run)
    config = from_dict(run.read_config())
    if args.backend and args.backend != config.env.backend:
        # Cross-simulator evaluation: the same robot, controller and observation in the
        # other simulator (a MuJoCo-trained policy in the PyBullet twin).
        config = config.replace(**{"env.backend": args.backend})
    deterministic = not args.stochastic
    policy = load_run_policy(run.root, deterministic=deterministic)
    videos = None if args.no_video else run.videos
    if videos is not None and args.backend:
        videos = videos / config.env.backend
    if videos is not None and not deterministic:
        videos = videos / "stochastic"
    if args.workers > 1:  # the same episodes and figures as a serial run, on Ray workers
        from robopref.sweep.parallel import parallel_evaluate

        result = parallel_evaluate(
            config,
            run.root,
            args.episodes,
            args.workers,
            seed=args.seed,
            video_dir=videos,
            codec=args.codec,
            deterministic=deterministic,
        )
    else:
        result = evaluate_policy(
            config, policy, args.episodes, seed=args.seed, video_dir=videos, codec=args.codec
        )
    result = {
        "run": str(run.root),
        "backend": config.env.backend,
        "deterministic": deterministic,
        **result,
    }
    # Each kind of evaluation keeps its own file: eval.json is the deterministic policy in
    # the run's simulator, as training's final evaluation; eval-bullet.json,
    # eval-stochastic.json and eval-bullet-stochastic.json the others.
    name = "eval" + (f"-{config.env.backend}" if args.backend else "")
    out = run.eval.with_name(name + ("" if deterministic else "-stochastic") + ".json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)
    return 0


def add_commands(sub) -> None:
    from robopref.rl.config import describe_keys

    keys = {info.key: info for info in describe_keys()}
    s = sub.add_parser(
        "train",
        help="train a policy from preferences and progress rewards (PEBBLE on SB3)",
        formatter_class=_ConfigHelpFormatter,
    )
    for flag, key in TRAIN_FLAGS.items():
        info = keys[key]
        kind = _FLAG_TYPES[info.type.removesuffix(" | None")]
        s.add_argument(f"--{flag.replace('_', '-')}", type=kind, help=_flag_help(info))
    s.add_argument("--config", help="YAML or JSON config file (keys of TrainConfig)")
    s.add_argument("--resume", metavar="RUN", help="resume the run in this directory")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any key")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument(
        "--list-keys", action="store_true", help="print every config key, its default and doc"
    )
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("eval", help="evaluate a run's policy: success, true return, videos")
    s.add_argument("run", help="run directory")
    s.add_argument("--episodes", type=int, default=10, help="episodes (seeds)")
    s.add_argument("--seed", type=int, default=10_000, help="first seed")
    s.add_argument("--no-video", action="store_true", help="no clips")
    s.add_argument("--codec", default="h264", help="h264 (.mp4) or vp9 (.webm)")
    s.add_argument(
        "--backend", help="simulator to evaluate in: mujoco, bullet (default: the run's)"
    )
    s.add_argument("--workers", type=int, default=1, help="Ray workers (default 1: no Ray)")
    s.add_argument(
        "--stochastic",
        action="store_true",
        help="sample actions from SAC's stochastic policy (noise seeded per episode) instead "
        "of its deterministic mean; writes eval-stochastic.json",
    )
    s.set_defaults(func=_cmd_eval)
