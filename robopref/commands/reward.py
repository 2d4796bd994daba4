"""``robopref reward ...``: train, evaluate, adapt and fine-tune (on a run's preference labels)
process reward models; compare rewards.

Every subcommand prints one JSON line (the figures the README quotes come from these).

``train-prm --task a,b,...`` trains one multi-task PRM on episodes of those tasks; the
commands that take a model condition a multi-task one on ``--task``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from robopref.rollout import load_episodes, record_default_episodes


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.split(",") if x)


def _threads(n: int) -> None:
    import torch

    if n > 0:
        torch.set_num_threads(n)


def _episodes_of_tasks(directory: str, tasks: tuple[str, ...]) -> list:
    """The episodes of ``directory`` for a multi-task model of ``tasks``: all of them, which
    must be of those tasks, with some of each.

    Raises:
        ValueError: episodes of a task not in ``tasks``, or a task without episodes.
    """
    episodes = load_episodes(directory)
    found = sorted({ep.metadata["task"] for ep in episodes})
    other = [t for t in found if t not in tasks]
    if other:
        raise ValueError(
            f"episodes of task {', '.join(map(repr, other))} in {directory!r}, which is not "
            f"in --task {list(tasks)}"
        )
    missing = [t for t in tasks if t not in found]
    if missing:
        raise ValueError(
            f"no episodes of task {', '.join(map(repr, missing))} in {directory!r} (found {found})"
        )
    return episodes


def _load_prm(path: str, task: str):
    """The PRM of ``path``; a multi-task one conditioned on ``task`` when given (a single-task
    one is unchanged: ``--task`` then only selects episodes)."""
    from robopref.rewards.prm import ProcessRewardModel

    model = ProcessRewardModel.load(path)
    if task and model.tasks:
        model.for_task(task)
    return model


def _cmd_train_prm(args) -> int:
    from robopref.rewards.prm import PRMConfig, ProcessRewardModel
    from robopref.rewards.prm_train import frame_set, train_prm

    tasks = _csv(args.task)
    if not tasks:
        raise ValueError(f"--task: a task or a comma-separated list of tasks, got {args.task!r}")
    multi = len(tasks) > 1
    given = {k: getattr(args, k) for k in ("shift", "color_jitter", "image_size")}
    config = PRMConfig(
        views=_csv(args.views),
        tasks=tasks if multi else (),
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        **{k: v for k, v in given.items() if v is not None},  # None: PRMConfig's default
    )
    _threads(args.threads)
    if multi:  # no task chosen: each frame is conditioned on its episode's task
        episodes = _episodes_of_tasks(args.episodes, tasks)
        model = ProcessRewardModel(config, name=Path(args.out).stem)
    else:
        episodes = load_episodes(args.episodes, tasks[0])
        model = ProcessRewardModel(config, name=Path(args.out).stem, task=tasks[0])
    start = time.perf_counter()
    summary = train_prm(
        model, frame_set(model, episodes, labels=args.labels), progress_bar=not args.quiet
    )
    model.save(args.out)
    print(
        json.dumps(
            {
                "out": args.out,
                "task": args.task,
                **({"tasks": list(tasks)} if multi else {}),
                **summary,
                "seconds": time.perf_counter() - start,
            }
        )
    )
    return 0


def _cmd_eval_prm(args) -> int:
    from robopref.rewards.prm_train import evaluate_prm, frame_set

    _threads(args.threads)
    model = _load_prm(args.model, args.task)
    episodes = load_episodes(args.episodes, args.task or None)
    result = evaluate_prm(model, frame_set(model, episodes))
    print(json.dumps({"model": args.model, "task": args.task, **result}))
    return 0


def _cmd_adapt_prm(args) -> int:
    from robopref.rewards.prm_train import adapt_prm, evaluate_prm, frame_set

    _threads(args.threads)
    model = _load_prm(args.model, args.task)
    demo = load_episodes(args.demo, args.task or None)
    experts = [ep for ep in demo if ep.metadata["source"] == "expert" and ep.is_success]
    if not experts:
        raise ValueError(f"no successful expert episode in {args.demo!r} to adapt from")
    row = {"model": args.model, "out": args.out, "demo": experts[0].episode_id}
    held_out = frame_set(model, load_episodes(args.eval, args.task or None)) if args.eval else None
    if held_out is not None:
        row["before"] = evaluate_prm(model, held_out, subsets=[model.config.views])
        row["before"].pop("per_views")
    row["adapt"] = adapt_prm(model, experts[0], steps=args.steps, labels=args.labels)
    if held_out is not None:
        row["after"] = evaluate_prm(model, held_out, subsets=[model.config.views])
        row["after"].pop("per_views")
    model.save(args.out)
    print(json.dumps(row))
    return 0


def _finetuned_path(model: str) -> Path:
    path = Path(model)
    return path.with_name(f"{path.stem}-finetuned{path.suffix}")


def _cmd_finetune_prm(args) -> int:
    from robopref.rewards.prm_labels import finetune_prm, load_run_pairs, pair_accuracy
    from robopref.rewards.prm_train import evaluate_prm, frame_set

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    _threads(args.threads)
    model = _load_prm(args.model, args.task)
    out = Path(args.out) if args.out else _finetuned_path(args.model)
    # Everything is read and checked before training, and the model is written last: a bad
    # input writes nothing.
    pairs, report = load_run_pairs(
        model,
        args.labels,
        max_frames=args.max_frames,
        skip_missing=args.skip_missing,
        model_path=args.model,
    )
    task = args.task or model.task or None
    data = frame_set(model, load_episodes(args.episodes, task)) if args.episodes else None
    held_out = frame_set(model, load_episodes(args.eval, task)) if args.eval else None
    row = {"model": args.model, "out": str(out), "run": args.labels, **report}

    def evaluate() -> dict:
        assert held_out is not None
        result = evaluate_prm(model, held_out, subsets=[model.config.views])
        result.pop("per_views")
        return result

    if held_out is not None:
        row["before"] = evaluate()
    if "preference" in model.trained_heads:
        row["pair_accuracy_before"] = pair_accuracy(model, pairs)
    row["finetune"] = finetune_prm(
        model, pairs, steps=args.steps, lr=args.lr, data=data, keep_weight=args.keep_weight
    )
    row["pair_accuracy"] = pair_accuracy(model, pairs)
    if held_out is not None:
        row["after"] = evaluate()
    model.save(out)
    print(json.dumps(row))
    return 0


def _cmd_compare_policy(args) -> int:
    from robopref.rl.evaluate import EVAL_SEED
    from robopref.rl.reward_report import policy_prm_report, report_table

    if args.a or args.b:
        raise ValueError("--policy rolls out the run's policy: drop the rewards A B")
    episodes = args.episodes or "10"
    if not episodes.isdigit():
        raise ValueError(f"--policy: --episodes is a number of rollouts, got {episodes!r}")
    _threads(args.threads)
    report = policy_prm_report(
        args.policy,
        int(episodes),
        seed=EVAL_SEED if args.seed is None else args.seed,
        backend=args.backend or None,
        prm=args.prm or None,
    )
    if args.table:
        print("\n".join(report_table(report)))
    else:
        print(json.dumps(report))
    return 0


def _cmd_compare(args) -> int:
    import tempfile

    from robopref.rewards.compare import compare_rewards

    if args.policy:
        return _cmd_compare_policy(args)
    if not (args.a and args.b and args.task):
        raise ValueError(
            "compare needs two rewards A B and --task (EPIC distance), or --policy RUN "
            "(a PRM's return against the task along a run's policy)"
        )
    seed = 0 if args.seed is None else args.seed
    if args.episodes:
        episodes = load_episodes(args.episodes, args.task)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            episodes = record_default_episodes(args.task, tmp, seed=seed)
    row = compare_rewards(
        args.a,
        args.b,
        episodes,
        gamma=args.gamma,
        sample_states=args.sample_states,
        sample_actions=args.sample_actions,
        seed=seed,
    )
    print(json.dumps({"task": args.task, **row}))
    return 0


def add_commands(sub) -> None:
    """Registers ``robopref reward`` and its subcommands on the top-level subparsers."""
    p = sub.add_parser("reward", help="process reward models and reward diagnostics")
    rsub = p.add_subparsers(dest="reward_command", required=True)

    def common(s: argparse.ArgumentParser) -> None:
        s.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")

    s = rsub.add_parser("train-prm", help="train a multi-view PRM on recorded episodes")
    s.add_argument(
        "--task",
        required=True,
        help="task of the episodes; a comma-separated list trains one multi-task PRM on "
        "episodes of those tasks (each frame conditioned on its episode's task)",
    )
    s.add_argument("--episodes", required=True, help="directory of recorded episodes")
    s.add_argument("--out", required=True, help="model file to write")
    s.add_argument("--views", default="front,side,wrist", help="comma-separated cameras")
    s.add_argument("--steps", type=int, default=1500, help="gradient steps")
    s.add_argument("--batch-size", type=int, default=32, help="frame pairs per step")
    s.add_argument("--labels", default="progress", help="progress (privileged) or time")
    s.add_argument(
        "--shift", type=int, help="random-shift augmentation in pixels (default: the PRM config's)"
    )
    s.add_argument(
        "--color-jitter",
        type=float,
        help="brightness, contrast and colour augmentation in [0, 1), 0: off "
        "(default: the PRM config's, 0.3)",
    )
    s.add_argument(
        "--image-size",
        type=int,
        help="square input size in pixels (default: the PRM config's, 84); record the episodes "
        "at this size (rollout --image-size), since frames of another size are resized to it",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    common(s)
    s.set_defaults(func=_cmd_train_prm)

    s = rsub.add_parser("eval-prm", help="Spearman and success AUC, per view subset (JSON)")
    s.add_argument("model", help="PRM file")
    s.add_argument("--episodes", required=True, help="directory of held-out episodes")
    s.add_argument(
        "--task",
        default="",
        help="only episodes of this task; a multi-task PRM is conditioned on it (default: "
        "each episode on its own task)",
    )
    common(s)
    s.set_defaults(func=_cmd_eval_prm)

    s = rsub.add_parser("adapt-prm", help="one-shot adaptation from one expert episode")
    s.add_argument("model", help="PRM file to start from")
    s.add_argument("--demo", required=True, help="directory with an expert episode")
    s.add_argument("--out", required=True, help="adapted model file to write")
    s.add_argument("--eval", default="", help="held-out episodes of the variant")
    s.add_argument("--steps", type=int, default=150, help="fine-tuning steps")
    s.add_argument("--labels", default="time", help="time (demo order) or progress")
    s.add_argument(
        "--task",
        default="",
        help="only episodes of this task; a multi-task PRM is conditioned on it",
    )
    common(s)
    s.set_defaults(func=_cmd_adapt_prm)

    s = rsub.add_parser(
        "finetune-prm", help="fine-tune a PRM on a run's preference labels (its camera frames)"
    )
    s.add_argument("model", help="PRM file to start from")
    s.add_argument(
        "--labels", required=True, metavar="RUN_DIR", help="run with labels.sqlite and episodes/"
    )
    s.add_argument("--out", default="", help="model file to write (default: MODEL-finetuned.pt)")
    s.add_argument("--steps", type=int, default=200, help="fine-tuning steps")
    s.add_argument("--lr", type=float, default=3e-4, help="learning rate")
    s.add_argument(
        "--episodes",
        default="",
        help="progress-labelled episodes to keep training progress on (default: keep the "
        "model's progress bins on the labelled frames, --keep-weight)",
    )
    s.add_argument(
        "--keep-weight", type=float, default=1.0, help="weight of keeping the progress bins"
    )
    s.add_argument("--eval", default="", help="held-out episodes: figures before and after")
    s.add_argument("--max-frames", type=int, default=16, help="frames kept per segment")
    s.add_argument(
        "--skip-missing",
        action="store_true",
        help="train on the labels whose episodes are present with frames; report the rest",
    )
    s.add_argument(
        "--task",
        default="",
        help="only episodes of this task (default: the model's); a multi-task PRM is "
        "conditioned on it",
    )
    common(s)
    s.set_defaults(func=_cmd_finetune_prm)

    s = rsub.add_parser(
        "compare",
        help="EPIC distance between two rewards, or (--policy RUN) a PRM's return against "
        "the task along a run's policy (JSON)",
    )
    s.add_argument("a", nargs="?", help="sparse, progress, or a PRM / preference model file")
    s.add_argument("b", nargs="?", help="sparse, progress, or a PRM / preference model file")
    s.add_argument("--task", help="task of the episodes (EPIC mode)")
    s.add_argument(
        "--episodes",
        default="",
        help="EPIC: directory of recorded episodes (default: record some); --policy: number "
        "of rollouts (default 10)",
    )
    s.add_argument("--gamma", type=float, default=0.99)
    s.add_argument("--sample-states", type=int, default=256)
    s.add_argument("--sample-actions", type=int, default=16)
    s.add_argument(
        "--seed", type=int, help="EPIC: sampling seed (default 0); --policy: first seed (10000)"
    )
    s.add_argument(
        "--policy",
        metavar="RUN",
        help="roll out this run's policy and tabulate, per episode, the PRM return, the true "
        "return and success, with summary figures",
    )
    s.add_argument("--backend", default="", help="--policy: mujoco or bullet (the run's)")
    s.add_argument("--prm", default="", help="--policy: PRM file (default: the run's own)")
    s.add_argument("--table", action="store_true", help="--policy: a Markdown table, not JSON")
    common(s)
    s.set_defaults(func=_cmd_compare)
