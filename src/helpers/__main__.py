"""Command line: ``python -m helpers run CONFIG``, ``segment FILE...``, ``report RUN_DIR`` and ``lab``."""

from __future__ import annotations

import argparse
import os
import sys

from .errors import InputError


def lab_command(extra=()) -> list[str]:
    """The ``jupyter lab`` command line of ``make lab``: notebooks/ as its root, kernels started in the repository root.

    A kernel starts in its notebook's folder by default; here it starts where
    ``make run`` runs, so the notebooks' relative paths (``data/runs/sample``)
    mean the same in JupyterLab as under the runner. Their kernel is ``python3``,
    the project's ``.venv`` (registered by ``make setup``). As root (CI,
    containers) ``--allow-root`` is added.
    """
    from .runs import NOTEBOOKS, ROOT

    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={NOTEBOOKS}",
        f"--MappingKernelManager.root_dir={ROOT}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + [a for a in extra if a != "--"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="execute a config's notebooks with Papermill into data/runs/<run-id>/")
    p_run.add_argument("config", help="YAML config, e.g. configs/sample.yaml")
    p_run.add_argument("--stages", help="comma-separated stages to run (default: the config's)")
    p_run.add_argument("--force", action="store_true", help="re-run stages even if unchanged")
    p_run.add_argument("--quiet", action="store_true", help="no progress bars")

    p_seg = sub.add_parser("segment", help="cut transcripts into overlapping timed windows")
    p_seg.add_argument("files", nargs="+", help="transcript files (VTT, SRT, JSON, JSONL, CSV, TextGrid, study records)")
    p_seg.add_argument("--out", required=True, help="output table (.parquet or .csv)")
    p_seg.add_argument("--window-s", type=float, default=160.0, help="window length in seconds (default 160)")
    p_seg.add_argument("--overlap-s", type=float, default=40.0, help="overlap in seconds (default 40)")
    p_seg.add_argument("--tier", default=None, help="TextGrid tier (default: first interval tier with text)")

    p_rep = sub.add_parser("report", help="(re)build a run folder's HTML report, <run_dir>/report/index.html")
    p_rep.add_argument("run_dir", help="run folder, e.g. data/runs/sample")
    p_rep.add_argument("--force", action="store_true", help="render every notebook again, even if unchanged")

    sub.add_parser(
        "lab",
        help="JupyterLab on notebooks/, its kernels started in the repository root; "
        "other options go to jupyter lab (e.g. --no-browser --ServerApp.port=8890)",
    )

    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "run":
            from .runs import run_config

            stages = args.stages.split(",") if args.stages else None
            run_dir = run_config(args.config, stages=stages, force=args.force, progress=not args.quiet)
            print(f"run folder: {run_dir}")
            print(f"report: {run_dir / 'report' / 'index.html'}")
        elif args.command == "report":
            from .report import build_report

            print(f"report: {build_report(args.run_dir, force=args.force)}")
        elif args.command == "lab":
            cmd = lab_command(extra)
            os.execv(cmd[0], cmd)  # the server takes this process's place (Ctrl-C stops it)
        elif args.command == "segment":
            from .segments import segment_files

            segs = segment_files(args.files, args.window_s, args.overlap_s, tier=args.tier)
            if args.out.endswith(".csv"):
                segs.to_csv(args.out, index=False)
            else:
                segs.to_parquet(args.out, index=False)
            print(f"{len(segs)} segments from {segs['lecture_id'].nunique()} lecture(s) -> {args.out}")
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a notebook failed; the message names it and its executed copy
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
