"""Command line: ``python -m helpers run CONFIG``, ``grade QUESTIONS ANSWERS``, ``segment FILE...``, ``report RUN_DIR`` and ``lab``."""

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


def grade_command(args) -> None:
    """``python -m helpers grade``: :func:`helpers.correctness.grade_answers` on two CSV files, written to ``--out``.

    With human labels, prints the judge's agreement with them (quadratic and
    unweighted kappa, Gwet's AC1, intervals from resampling questions) and
    Spearman's rho of its grade and of token F1 with the label.
    """
    from .agreement import agreement_summary
    from .correctness import grade_answers
    from .files import write_atomic
    from .labels import RANK
    from .llm import get_llm
    from .retrieval import read_answer_bank, read_questions

    questions = read_questions(args.questions)
    answers = read_answer_bank(args.answers, questions=questions, labelled=False)
    try:
        cutoffs = [float(c) for c in args.cutoffs.split(",")] if args.cutoffs else "default"
    except ValueError:
        raise InputError(f"--cutoffs must be two numbers c1,c2, got {args.cutoffs!r}", field="cutoffs") from None
    llm = get_llm({"backend": "llama_cpp", "model": args.model, "n_ctx": args.n_ctx}, cache_dir=args.cache)
    table = grade_answers(llm, questions, answers, variant=args.variant, guard=not args.no_guard, cutoffs=cutoffs,
                          path=args.questions, progress=not args.quiet)
    out = str(args.out)
    write_atomic(out, (lambda tmp: table.to_csv(tmp, index=False)) if out.endswith(".csv") else
                 (lambda tmp: table.to_parquet(tmp, index=False)))
    print(f"{len(table)} answers graded -> {out}; judge labels: {table['judge_label'].value_counts().to_dict()}")
    long = table[table["status"] == "too_long"]
    if len(long):
        print(f"not graded, the prompt exceeds --n-ctx {args.n_ctx} (status too_long; a larger "
              f"--n-ctx grades them, the rest comes from the cache): " + ", ".join(
                  f"{q}/{s}" for q, s in zip(long["question_id"], long["answer_source"])))
    known = table[(table["label"] != "") & table["judge_label"].notna()]
    if len(known):
        summ = agreement_summary(known["label"], known["judge_label"], groups=known["question_id"])
        summ = summ[summ["statistic"].isin(["cohen_kappa_quadratic", "cohen_kappa", "gwet_ac1"])]
        print(f"agreement with the {len(known)} human labels (95% intervals from resampling questions):")
        for row in summ.itertuples():
            print(f"  {row.statistic:<24} {row.value:6.2f}  [{row.ci_low:.2f}, {row.ci_high:.2f}]")
        rank = known["label"].map(RANK)
        for col in ("expected_score", "token_f1"):
            print(f"  Spearman's rho, {col:<15} {known[col].corr(rank, method='spearman'):6.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="execute a config's notebooks with Papermill into data/runs/<run-id>/")
    p_run.add_argument("config", help="YAML config, e.g. configs/sample.yaml")
    p_run.add_argument("--stages", help="comma-separated stages to run (default: the config's)")
    p_run.add_argument("--force", action="store_true", help="re-run stages even if unchanged")
    p_run.add_argument("--quiet", action="store_true", help="no progress bars")

    p_grade = sub.add_parser("grade", help="grade answers against reference answers (correctness judge and word baselines); "
                             "with human labels, print the agreement")
    p_grade.add_argument("questions", help="CSV: question_id, question, reference_answer")
    p_grade.add_argument("answers", help="CSV: question_id, answer; answer_source and label (C/P/I) optional")
    p_grade.add_argument("--out", required=True, help="output table, .csv or .parquet (one row per answer)")
    p_grade.add_argument("--variant", default="fewshot-en+ref", help="correctness variant (default: fewshot-en+ref)")
    p_grade.add_argument("--model", default="default", help="GGUF file for llama.cpp (default: the offline default model)")
    p_grade.add_argument("--n-ctx", type=int, default=4096, help="the judge's context window in tokens (default 4096; "
                         "an answer whose prompt does not fit gets status too_long)")
    p_grade.add_argument("--cache", default="data/cache", help="LLM cache folder (a re-run resumes from it)")
    p_grade.add_argument("--cutoffs", help="c1,c2: expected grade below c1 is I, from c2 is C (default: the variant's "
                         "own for the default model)")
    p_grade.add_argument("--no-guard", action="store_true", help="show the judge the answers unguarded")
    p_grade.add_argument("--quiet", action="store_true", help="no progress bar")

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
        elif args.command == "grade":
            grade_command(args)
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
