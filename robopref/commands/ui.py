"""``robopref label`` (the browser query UI) and ``robopref labels export``.

``robopref label RUN`` serves RUN's label store on http://127.0.0.1:8765/ and prints one JSON
line with the URL first. With ``--episodes DIR`` it first imports recorded episodes (real
robot or sim) into the run, and with ``--pairs N`` queues N uniformly random pairs of their
segments, so a person can label recordings without a trainer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from robopref.runs import RunPaths


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.split(",") if x)


def prepare_run(
    run_dir: str,
    episodes: str = "",
    pairs: int = 0,
    segment_length: int = 0,
    seed: int = 0,
    k: int = 1,
) -> dict:
    """Checks the run directory; imports episodes and queues uniform pairs when asked.

    Returns:
        ``{"imported": [...ids], "queries_added": n}`` for the printed summary.

    Raises:
        FileNotFoundError: no run directory (and no ``episodes`` to start one from).
        ValueError: ``pairs`` without episodes, or bad numbers.
    """
    from robopref.ui.episodes import add_uniform_queries, import_episodes

    run = RunPaths.of(run_dir)
    for name, v, low in (("pairs", pairs, 0), ("segment_length", segment_length, 0), ("k", k, 1)):
        if v < low:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {low}, got {v}")
    summary: dict = {"imported": [], "queries_added": 0}
    if episodes:
        run.root.mkdir(parents=True, exist_ok=True)
        summary["imported"] = import_episodes(run, episodes)
    elif not run.root.is_dir():
        raise FileNotFoundError(
            f"no run directory at {run.root} (start a run with `robopref train`, or label "
            "recorded episodes with --episodes DIR --pairs N)"
        )
    if pairs:
        ids = add_uniform_queries(
            run,
            pairs,
            episode_ids=summary["imported"] or None,
            segment_length=segment_length or None,
            seed=seed,
            k=k,
        )
        summary["queries_added"] = len(ids)
    return summary


def cmd_label(args) -> int:
    from robopref.ui.config import UIConfig
    from robopref.ui.server import serve

    config = UIConfig(
        run_dir=Path(args.run),
        host=args.host,
        port=args.port,
        annotator=args.annotator,
        token=args.token or None,
        allow_hosts=_csv(args.allow_hosts),
        codec=args.codec,
    )  # checked before anything is imported or written
    summary = prepare_run(
        args.run, args.episodes, args.pairs, args.segment_length, args.seed, args.k
    )
    summary["imported"] = len(summary["imported"])
    serve(config, **summary)
    return 0


def cmd_labels_export(args) -> int:
    from robopref.preferences import LabelStore

    run = RunPaths.of(args.run)
    if not run.labels.is_file():
        raise FileNotFoundError(f"no label store at {run.labels}")
    with LabelStore(run.labels) as store:
        if args.out:
            rows = store.export(args.out, args.format)
            print(json.dumps({"out": args.out, "format": args.format, "rows": rows}))
        else:
            rows = store.export(sys.stdout, args.format)
            sys.stdout.flush()
            print(json.dumps({"format": args.format, "rows": rows}), file=sys.stderr)
    return 0


def bench_ui_main(args) -> int:
    """``robopref bench ui``: one JSON line (`robopref.benchmarks.ui.bench_ui`)."""
    from robopref.benchmarks.ui import bench_ui

    labels = getattr(args, "calls", 300)
    print(json.dumps(bench_ui(labels=labels)), flush=True)
    return 0


def add_commands(sub) -> None:
    """Registers ``robopref label`` and ``robopref labels export`` on the subparsers."""
    s = sub.add_parser("label", help="label a run's preference queries in the browser")
    s.add_argument("run", help="run directory (labels.sqlite, episodes/, clips/)")
    s.add_argument(
        "--host", default="127.0.0.1", help="address to bind; non-loopback needs a token"
    )
    s.add_argument("--port", type=int, default=8765, help="TCP port (0: a free one)")
    s.add_argument("--annotator", default="", help="name the page suggests")
    s.add_argument("--token", default="", help="access token (default: generated off loopback)")
    s.add_argument(
        "--allow-hosts", default="", help="comma-separated extra Host names (a proxy, an alias)"
    )
    s.add_argument("--codec", default="h264", help="clip codec: h264 (MP4) or vp9 (WebM)")
    s.add_argument("--episodes", default="", help="import recorded episodes from this folder")
    s.add_argument("--pairs", type=int, default=0, help="queue N uniform random pairs first")
    s.add_argument(
        "--segment-length", type=int, default=0, help="steps per segment of --pairs (0: auto)"
    )
    s.add_argument("--seed", type=int, default=0, help="seed of --pairs")
    s.add_argument("--k", type=int, default=1, help="labels wanted per query of --pairs")
    s.set_defaults(func=cmd_label)

    p = sub.add_parser("labels", help="the label store of a run")
    lsub = p.add_subparsers(dest="labels_command", required=True)
    s = lsub.add_parser("export", help="write every label as CSV or JSON Lines")
    s.add_argument("run", help="run directory")
    s.add_argument("--format", default="csv", choices=["csv", "jsonl"], help="output format")
    s.add_argument("--out", default="", help="file to write (default: stdout)")
    s.set_defaults(func=cmd_labels_export)
    from robopref.commands import labels as labels_commands

    labels_commands.add_commands(lsub)
