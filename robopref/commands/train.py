"""``robopref train`` and ``robopref eval``.

Flags map one to one onto `robopref.rl.config.TrainConfig` keys; a flag left out keeps the
value of ``--config FILE`` (or the default). ``--set key=value`` reaches any other key
(``--set learner.batch_size=128``; values are read as JSON, else taken as strings).
"""

from __future__ import annotations

import json
import sys

# flag -> dotted config key
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
    policy = load_run_policy(run.root)
    videos = None if args.no_video else run.videos
    if videos is not None and args.backend:
        videos = videos / config.env.backend
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
        )
    else:
        result = evaluate_policy(
            config, policy, args.episodes, seed=args.seed, video_dir=videos, codec=args.codec
        )
    result = {"run": str(run.root), "backend": config.env.backend, **result}
    out = run.eval if not args.backend else run.eval.with_name(f"eval-{config.env.backend}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser(
        "train", help="train a policy from preferences and progress rewards (PEBBLE on SB3)"
    )
    s.add_argument("--task", help="task name, see `robopref tasks` (default panda-reach)")
    s.add_argument("--reward", help="terms joined by +: sparse, pref, prm, vlm (default pref)")
    s.add_argument("--teacher", help="oracle, stochastic, mistake, myopic, skip, equal, human")
    s.add_argument("--labels", type=int, help="label budget (default 100)")
    s.add_argument("--steps", type=int, help="env steps (default 20000)")
    s.add_argument("--run-dir", help="run directory (default runs/<task>-<reward>-s<seed>)")
    s.add_argument("--config", help="YAML or JSON config file (keys of TrainConfig)")
    s.add_argument("--resume", metavar="RUN", help="resume the run in this directory")
    s.add_argument("--seed", type=int, help="seed (default 0)")
    s.add_argument("--algo", help="sac (default), rlpd (demos, critic ensemble; JAX) or ppo")
    s.add_argument(
        "--demos", help="N scripted-expert episodes, or a directory of episodes, in the buffer"
    )
    s.add_argument("--policy-input", help="state (default) or pixels")
    s.add_argument("--selector", help="uniform, disagreement (default) or entropy")
    s.add_argument("--unsup-steps", type=int, help="PEBBLE state-entropy pre-training steps")
    s.add_argument("--query-every", type=int, help="env steps between query rounds")
    s.add_argument("--segment-length", type=int, help="steps per queried segment")
    s.add_argument("--prm", help="PRM file for 'prm' (default: train a quick one first)")
    s.add_argument("--vlm-checkpoint", help="local CLIP checkpoint directory for 'vlm'")
    s.add_argument("--eval-episodes", type=int, help="final evaluation episodes (default 10)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any key")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    s.set_defaults(func=_cmd_eval)
