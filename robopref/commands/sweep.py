"""``robopref sweep FILE`` and ``robopref sweep report DIR``.

The sweep file is read and checked before Ray starts, so a typo costs no cluster time; the
command ends with one JSON line ``{"sweep", "runs", "completed", "failed", "results"}`` and
exits 1 when a run failed (its error is in ``results``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _cmd_sweep(args) -> int:
    if args.file == "report":
        return _cmd_report(args)
    if args.dir is not None:
        raise ValueError(f"unexpected argument {args.dir!r}: `robopref sweep FILE [--out DIR]`")
    from robopref.sweep.spec import load_sweep

    spec = load_sweep(args.file)  # every sweep-file error is named here, before Ray starts
    out = args.out or str(Path("runs") / "sweeps" / Path(args.file).stem)
    from robopref.sweep.runner import run_sweep

    summary = run_sweep(
        spec,
        out,
        source=str(args.file),
        address=args.address,
        max_concurrent=args.max_concurrent,
        resume=args.resume,
        max_retries=args.max_retries,
        progress=not args.no_progress,
    )
    if summary["completed"]:
        from robopref.sweep.report import make_report

        report = make_report(summary["sweep"])
        print("\n".join(report["table"]), file=sys.stderr)
        print(f"report: {report['report']}", file=sys.stderr, flush=True)
    print(json.dumps(summary), flush=True)
    return 0 if not summary["failed"] else 1


def _cmd_report(args) -> int:
    from robopref.sweep.report import make_report

    if args.dir is None:
        raise ValueError("`robopref sweep report DIR`: give the sweep directory")
    report = make_report(args.dir, args.out)
    print("\n".join(report.pop("table")), flush=True)
    print(json.dumps(report), flush=True)
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser(
        "sweep",
        help="runs over a grid of settings and seeds on Ray; `sweep report DIR`: IQM and CIs",
        description="robopref sweep FILE [--out DIR] [--address ADDR] [--max-concurrent N] "
        "[--resume]  |  robopref sweep report DIR [--out OUT]",
    )
    s.add_argument("file", help="sweep file (YAML or JSON: base, grid, seeds), or `report`")
    s.add_argument("dir", nargs="?", help="with `report`: a sweep directory or summaries")
    s.add_argument(
        "--out", help="sweep directory (default runs/sweeps/<file name>); report: its folder"
    )
    s.add_argument("--address", help="Ray cluster: auto or ray://host:port (default: a local Ray)")
    s.add_argument("--max-concurrent", type=int, help="most runs at once (default: Ray's CPUs)")
    s.add_argument("--resume", action="store_true", help="go on with the sweep in --out")
    s.add_argument("--max-retries", type=int, default=3, help="retries of a run whose worker died")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_sweep)
