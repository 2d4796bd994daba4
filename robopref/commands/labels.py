"""``robopref labels gold`` and ``robopref labels calibrate`` (issue 18).

``labels gold RUN --from-annotator NAME`` makes NAME's decisive answers the gold answers of
their queries (an expert's labels); ``--queue N`` then asks N of those pairs again, unmarked,
so that people who label without a trainer meet them too.

``labels calibrate RUN`` fits every annotator's B-Pref parameters
(`robopref.preferences.calibration`) and prints one JSON line per annotator and one with
Krippendorff's alpha. Where the run's episodes carry the teacher signal (sim), every query's
privileged return gap is used as well (``--gaps auto``); ``--gaps off`` judges people by gold
and agreement alone, as on a real robot.
"""

from __future__ import annotations

import json

import numpy as np

from robopref.runs import RunPaths


def _store(run_dir: str):
    from robopref.preferences import LabelStore

    run = RunPaths.of(run_dir)
    if not run.labels.is_file():
        raise FileNotFoundError(f"no label store at {run.labels}")
    return run, LabelStore(run.labels)


def gold_from_annotator(run_dir: str, annotator: str, queue: int = 0, seed: int = 0) -> dict:
    """Marks ``annotator``'s decisive labels as gold; queues ``queue`` re-asked gold pairs.

    Raises:
        ValueError: an annotator without decisive labels, or a negative ``queue``.
        GoldConflictError: the answers contradict each other or the stored gold (naming
            the pair); nothing is written.
    """
    from robopref.preferences import GoldSpec
    from robopref.preferences.gold import reask_gold
    from robopref.preferences.records import check_text

    annotator = check_text("--from-annotator", annotator)
    if queue < 0:
        raise ValueError(f"--queue must be >= 0, got {queue}")
    run, store = _store(run_dir)
    with store:
        mine = [lab for lab in store.labels() if lab.annotator == annotator and lab.label != "skip"]
        if not mine:
            names = sorted({lab.annotator for lab in store.labels()})
            raise ValueError(
                f"annotator {annotator!r} has no non-skip labels in {run.labels}; "
                f"annotators: {names}"
            )
        source = f"annotator:{annotator}"
        added = store.add_gold([(lab.query_id, GoldSpec(lab.label, source)) for lab in mine])
        queued = []
        if queue:
            expert = [g for g in store.gold() if g.source == source]
            rows = reask_gold(expert, queue, np.random.default_rng(seed), selector="uniform")
            queued = store.add_queries([q for q, _ in rows], gold=[g for _, g in rows])
        return {
            "run": str(run.root),
            "annotator": annotator,
            "gold_added": added,
            "gold_total": len(store.gold()),
            "queued": len(queued),
        }


def _gaps(run: RunPaths, labels, signal: str) -> dict[int, float]:
    """Privileged return gap of every labelled query whose episodes carry the signal."""
    from robopref.data import Episode, EpisodeStore
    from robopref.preferences import segment_rewards
    from robopref.rl.pebble import teacher_signal

    episodes = EpisodeStore(run.episodes)
    cache: dict[str, Episode] = {}
    gaps: dict[int, float] = {}
    for lab in labels:
        if lab.query_id in gaps:
            continue
        try:
            sides = []
            for seg in (lab.seg_a, lab.seg_b):
                if seg.episode_id not in cache:
                    cache[seg.episode_id] = episodes.load(seg.episode_id)
                ep = cache[seg.episode_id]
                sides.append(segment_rewards(ep, seg.start, seg.length, teacher_signal(signal, ep)))
        except (ValueError, FileNotFoundError, KeyError):
            continue  # no privileged signal (a real-robot recording): gold and agreement only
        gaps[lab.query_id] = float(sides[0].sum() - sides[1].sum())
    return gaps


def calibrate_run(
    run_dir: str, min_labels: int = 20, gaps: str = "auto", truth: bool = False
) -> list[dict]:
    """The JSON lines of ``robopref labels calibrate`` (`calibrate`).

    With ``truth`` each annotator's row adds ``error_vs_truth``: the share of their decisive
    answers against the sign of the query's privileged return gap (sim only; None where no
    answered query has one), the error the fit tries to estimate. With ``gaps="off"`` the
    fit itself sees no gap, as in training (`robopref.rl.pebble`), so the two can be compared.
    """
    from robopref.preferences.calibration import (
        calibrate,
        one_coin_log_likelihood,
        realized_error,
    )

    if gaps not in ("auto", "off"):
        raise ValueError(f"--gaps must be 'auto' or 'off', got {gaps!r}")
    run, store = _store(run_dir)
    with store:
        labels, gold = store.labels(), store.gold()
    signal = "auto"
    if run.config.is_file():
        signal = json.loads(run.config.read_text()).get("teacher", {}).get("signal", "auto")
    known = _gaps(run, labels, signal) if gaps == "auto" or truth else {}
    fit = calibrate(labels, gold, known if gaps == "auto" else None, min_labels=min_labels)
    lines = fit.lines()
    if truth:
        realized: dict[str, float] = {}
        for row in lines:
            if "annotator" in row:
                error = realized_error(labels, known, row["annotator"])
                row["error_vs_truth"] = None if error is None else round(error, 4)
                if error is not None and row["eps_mistake"] is not None:
                    realized[row["annotator"]] = error
        if realized and gaps == "off":
            # Is the fit a local optimum of the EM, or do the data prefer it to the truth?
            fitted = {n: float(fit.annotators[n].eps_mistake or 0.0) for n in realized}
            lines[-1]["log_likelihood"] = {
                "fit": round(one_coin_log_likelihood(labels, gold, fitted), 3),
                "truth": round(one_coin_log_likelihood(labels, gold, realized), 3),
            }
    return lines


def cmd_gold(args) -> int:
    row = gold_from_annotator(args.run, args.from_annotator, args.queue, args.seed)
    print(json.dumps(row))
    return 0


def cmd_calibrate(args) -> int:
    for line in calibrate_run(args.run, args.min_labels, args.gaps, args.truth):
        print(json.dumps(line), flush=True)
    return 0


def add_commands(lsub) -> None:
    """Registers ``gold`` and ``calibrate`` under ``robopref labels``."""
    s = lsub.add_parser("gold", help="make an expert's labels the gold answers of their queries")
    s.add_argument("run", help="run directory")
    s.add_argument("--from-annotator", required=True, metavar="NAME", help="the expert")
    s.add_argument("--queue", type=int, default=0, help="ask N of the gold pairs again now")
    s.add_argument("--seed", type=int, default=0, help="seed of --queue")
    s.set_defaults(func=cmd_gold)
    s = lsub.add_parser("calibrate", help="fit each annotator's B-Pref parameters (JSON lines)")
    s.add_argument("run", help="run directory")
    s.add_argument("--min-labels", type=int, default=20, help="decisive labels needed per person")
    s.add_argument(
        "--gaps", default="auto", choices=["auto", "off"],
        help="auto: use privileged return gaps where the episodes have them (sim)",
    )  # fmt: skip
    s.add_argument(
        "--truth", action="store_true",
        help="add each annotator's error against the privileged gaps (sim): error_vs_truth",
    )  # fmt: skip
    s.set_defaults(func=cmd_calibrate)
