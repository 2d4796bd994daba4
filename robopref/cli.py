"""The ``robopref`` command. Each subcommand maps its flags one to one onto a config."""

from __future__ import annotations

import argparse
import json
import sys
from typing import cast

from robopref.commands import reward as reward_commands
from robopref.commands import sweep as sweep_commands
from robopref.commands import train as train_commands
from robopref.commands import ui as ui_commands


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.split(",") if x)


def _cmd_tasks(args) -> int:
    import sim

    print(
        json.dumps(
            {
                "tasks": sim.list_tasks(),
                "backends": sim.list_backends(),
                "cameras": list(sim.CAMERA_NAMES),
            }
        )
    )
    return 0


def _cmd_robots(args) -> int:
    # The CLI may import hardware/ (DESIGN.md); the library packages may not.
    from hardware.robots import get_robot, list_robots

    for name in args.names or list_robots():
        print(json.dumps(get_robot(name).summary()), flush=True)
    return 0


def _cmd_import(args) -> int:
    # The import is the bridge's pipeline run offline (message decoding, sync, the robot's
    # kinematics), so it lives in hardware/, which only the CLI may import (DESIGN.md).
    from hardware.ros.rosbag_import import ImportConfig, import_bag

    config = ImportConfig(
        robot=args.robot,
        topics=tuple(args.topics),
        task=args.task,
        control_hz=args.control_hz,
        image_size=args.image_size,
        slop=args.slop,
        max_gap=args.max_gap,
    )
    print(json.dumps(import_bag(args.bag, args.out, config)), flush=True)
    return 0


def _cmd_rollout(args) -> int:
    from robopref.rollout import RolloutConfig, run_rollouts

    config = RolloutConfig(
        task=args.task,
        backend=args.backend,
        policy=args.policy,
        episodes=args.episodes,
        out=args.out,
        seed=args.seed,
        cameras=_csv(args.cameras),
        image_size=args.image_size,
        randomize=args.randomize,
        expert_noise=args.expert_noise,
        video=not args.no_video,
        codec=args.codec,
        object_half_size=args.object_size,
        # four numbers, or the env's ValueError names what was given
        object_rgba=cast(
            "tuple[float, float, float, float] | None",
            tuple(float(c) for c in _csv(args.object_color)) or None,
        ),
    )
    if args.workers > 1:  # the same episode files as a serial run, on Ray workers
        from robopref.sweep.parallel import parallel_rollouts

        print(json.dumps(parallel_rollouts(config, args.workers)))
        return 0
    print(json.dumps(run_rollouts(config)))
    return 0


def _cmd_demo(args) -> int:
    from robopref.demo import run_demo

    overrides = train_commands.parse_set(args.set)
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.no_progress:
        overrides["progress_bar"] = False
    print(json.dumps(run_demo(args.run_dir, overrides)), flush=True)
    return 0


def _cmd_bench(args) -> int:
    import sim
    from robopref.benchmarks import sim as bench_sim

    if args.what == "train":  # pins itself to --cores
        from robopref.benchmarks.train import throughput

        for task in _csv(args.tasks) or ("panda-reach",):
            row = throughput(
                task, steps=args.steps, rounds=args.rounds, utd=args.utd, cores=args.cores
            )
            print(json.dumps(row), flush=True)
        return 0
    bench_sim.pin_to_one_core()
    if args.what == "reward":
        from robopref.benchmarks.reward import bench_reward

        for row in bench_reward(calls=args.calls, image_size=args.image_size):
            print(json.dumps(row), flush=True)
        return 0
    if args.what == "ui":
        return ui_commands.bench_ui_main(args)  # --calls = labels timed
    if args.what == "bridge":
        from robopref.benchmarks.bridge import bench_bridge

        for transport in _csv(args.transports):
            print(json.dumps(bench_bridge(transport, seconds=args.seconds)), flush=True)
        return 0
    if args.what == "evaluator":
        from robopref.benchmarks.evaluator import bench_evaluator

        for head in _csv(args.heads):
            print(json.dumps(bench_evaluator(head, calls=args.calls)), flush=True)
        return 0
    tasks = _csv(args.tasks) if args.tasks else sim.list_tasks(include_dmc=False)
    backends = _csv(args.backends)
    for task in tasks:
        for backend in backends:
            if args.what == "sim":
                row = bench_sim.bench_task(task, backend, steps=args.steps)
            else:
                row = bench_sim.bench_experts(task, backend, seeds=args.seeds)
            print(json.dumps(row), flush=True)
    return 0


HARDWARE_COMMANDS = {
    "sim-robot": ("hardware.standin.sim_robot", "MuJoCo stand-in robot on the ROS 2 wire (DDS)"),
    "bridge": ("hardware.ros.bridge_cli", "run a policy on a robot through the bridge (DDS)"),
}


def _cmd_export(args) -> int:
    from robopref.evaluator import Evaluator, export_models

    if args.policy:
        # A policy blob stands alone: the bridge takes it (--policy-blob) apart from the
        # reward blob it records with (--reward).
        if args.preference or args.prm or args.prm_task:
            raise ValueError(
                "--policy exports a policy alone: drop --preference, --prm and --prm-task"
            )
        from robopref.rl.export_policy import export_run_policy

        path = export_run_policy(args.policy, args.out, checkpoint=args.checkpoint or None)
    elif not (args.preference or args.prm):
        raise ValueError("nothing to export: give --preference and/or --prm, or --policy RUN")
    else:
        path = export_models(
            args.out,
            preference_model=args.preference or None,
            prm_model=args.prm or None,
            prm_task=args.prm_task or None,
            gamma=args.gamma,
            scale=args.scale,
        )
    info = Evaluator.load(path).info  # the blob loads back in the C evaluator
    print(json.dumps({"out": str(path), "bytes": path.stat().st_size, "info": info}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="robopref", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("tasks", help="list tasks, backends and cameras as JSON")
    s.set_defaults(func=_cmd_tasks)

    s = sub.add_parser(
        "robots", help="robot configs as JSON lines: joints, limits, topics, cameras"
    )
    s.add_argument("names", nargs="*", help="robot names (default: every registered robot)")
    s.set_defaults(func=_cmd_robots)

    s = sub.add_parser("import", help="turn a rosbag2 (SQLite3 or MCAP) into episodes")
    s.add_argument("bag", help="rosbag2 directory (or one .mcap / .db3 file)")
    s.add_argument("--out", required=True, help="episode directory to write (all or nothing)")
    s.add_argument(
        "--topics",
        nargs="+",
        default=[],
        metavar="[CAMERA=]TOPIC",
        help="joint state topic and cameras (default: the robot's topics found in the bag)",
    )
    s.add_argument("--task", default=None, help="episode task (default: the bag's)")
    s.add_argument("--robot", default=None, help="robot config (default: the bag's or by joints)")
    s.add_argument("--control-hz", type=float, default=None, help="row rate (default: sim's)")
    s.add_argument("--image-size", type=int, default=None, help="frame size (default: 84)")
    s.add_argument("--slop", type=float, default=None, help="sync slop, seconds (0.02)")
    s.add_argument("--max-gap", type=float, default=0.5, help="gap that ends an episode, s")
    s.set_defaults(func=_cmd_import)

    s = sub.add_parser("rollout", help="record episodes (and a clip per camera) of a policy")
    s.add_argument("--task", required=True, help="task name, see `robopref tasks`")
    s.add_argument("--backend", default="mujoco", help="mujoco or bullet")
    s.add_argument("--policy", default="expert", help="expert, perturbed or random")
    s.add_argument("--episodes", type=int, default=1, help="number of episodes")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--seed", type=int, default=0, help="first seed")
    s.add_argument("--cameras", default="front,side,wrist", help="comma-separated cameras")
    s.add_argument("--image-size", type=int, default=84, help="frame size in pixels")
    s.add_argument("--randomize", action="store_true", help="domain randomization on")
    s.add_argument("--expert-noise", type=float, default=0.0, help="expert action noise std")
    s.add_argument("--no-video", action="store_true", help="do not encode clips")
    s.add_argument("--codec", default="h264", help="h264 (.mp4) or vp9 (.webm)")
    s.add_argument("--object-size", type=float, help="task variant: cube half size, metres")
    s.add_argument("--object-color", default="", help="task variant: cube colour r,g,b,a in 0..1")
    s.add_argument("--workers", type=int, default=1, help="Ray workers (default 1: no Ray)")
    s.set_defaults(func=_cmd_rollout)

    s = sub.add_parser("demo", help="the main job: a short training run on embedded defaults")
    s.add_argument("--run-dir", default="runs/demo", help="run directory (-2, -3... if taken)")
    s.add_argument("--steps", type=int, help="env steps (default 6000)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any key")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_demo)

    train_commands.add_commands(sub)
    reward_commands.add_commands(sub)
    ui_commands.add_commands(sub)
    sweep_commands.add_commands(sub)

    # The hardware entry points keep their own parsers (hardware/ must not import the CLI);
    # these entries list them in --help and hand the rest of the command line over.
    for name, (target, text) in HARDWARE_COMMANDS.items():
        s = sub.add_parser(name, help=text, add_help=False)
        s.add_argument("args", nargs=argparse.REMAINDER, help=f"options of {target}")

    s = sub.add_parser(
        "export", help="export reward heads, or a run's policy, to a C-evaluator blob (.rpe)"
    )
    s.add_argument("--out", required=True, help="blob to write, e.g. reward.rpe")
    s.add_argument(
        "--policy",
        default="",
        metavar="RUN",
        help="a state-based run (sac, ppo, rlpd): its deterministic actor and observation "
        "preprocessing, for `robopref bridge --policy-blob`",
    )
    s.add_argument(
        "--checkpoint", default="", help="with --policy: this checkpoint (default: the latest)"
    )
    s.add_argument("--preference", default="", help="preference reward model file")
    s.add_argument("--prm", default="", help="process reward model file")
    s.add_argument(
        "--prm-task",
        default="",
        help="a multi-task PRM: the task to export (folded into the exported head)",
    )
    s.add_argument("--gamma", type=float, default=0.99, help="shaping discount")
    s.add_argument("--scale", type=float, default=1.0, help="shaping scale")
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser("bench", help="benchmarks that print JSON lines")
    s.add_argument(
        "what",
        choices=["sim", "experts", "reward", "evaluator", "bridge", "train", "ui"],
        help="what to measure",
    )
    s.add_argument("--tasks", default="", help="comma-separated tasks (default: Panda tasks)")
    s.add_argument("--backends", default="mujoco,bullet", help="comma-separated backends")
    s.add_argument("--steps", type=int, default=500, help="env steps per measurement")
    s.add_argument("--rounds", type=int, default=2, help="alternating runs of each (train)")
    s.add_argument("--utd", type=int, default=1, help="gradient steps per env step (train)")
    s.add_argument("--cores", type=int, default=1, help="cores every contender may use (train)")
    s.add_argument("--seeds", type=int, default=100, help="seeds per task (experts)")
    s.add_argument("--calls", type=int, default=300, help="timed calls (reward, evaluator)")
    s.add_argument("--heads", default="preference,prm", help="evaluator heads to time")
    s.add_argument(
        "--image-size", type=int, default=None, help="PRM input size in pixels (reward; default 84)"
    )
    s.add_argument("--transports", default="inproc,dds", help="bridge transports to time")
    s.add_argument("--seconds", type=float, default=60.0, help="seconds per bridge run")
    s.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in HARDWARE_COMMANDS:
        import importlib

        return importlib.import_module(HARDWARE_COMMANDS[argv[0]][0]).main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:
        # Bad input (unknown task, backend, camera...): one clear line, no traceback.
        print(f"robopref {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
