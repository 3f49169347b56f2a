"""Several processes at once, all real processes.

* One run folder, two runs: the second stops at once with a message naming the
  run folder and the holder's pid; it writes nothing there. The lock is an
  ``flock``, dropped by the kernel when its holder dies, even by SIGKILL.
* One cache, many writers: processes hammering one ``llm.sqlite`` through
  :class:`~helpers.llm.CachedLLM` (a fake backend) never fail with "database is
  locked" and leave every entry sound; a later pass is all cache hits.
* Two real runs (stages 01-02) with different run folders on one cache folder
  both finish, and a third run embeds nothing.
"""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import yaml

from helpers import runs
from helpers.cache import ContentCache
from helpers.errors import RunInUseError

ENV = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}


def _config(tmp_path, root, run_id, *, cache="cache", name=None):
    """A small config: one lecture, two questions, stages 01-02 (no LLM)."""
    questions = tmp_path / "q.csv"
    if not questions.exists():
        q = pd.read_csv(root / "data/sample/questions.csv", dtype=str, keep_default_na=False)
        q[q["question_id"].isin(["q01", "q04"])].to_csv(questions, index=False)
    path = tmp_path / f"{name or run_id}.yaml"
    path.write_text(yaml.safe_dump({
        "run_id": run_id, "runs_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / cache),
        "transcripts": [str(root / "data/sample/lectures/*.vtt")], "questions": str(questions),
        "stages": ["01_build_index", "02_retrieve"],
    }))
    return path


def _run_cli(cfg_path, root):
    return subprocess.Popen([sys.executable, "-m", "helpers", "run", str(cfg_path), "--quiet"], cwd=root, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --------------------------------------------------------------------------- the run-folder lock


def test_a_held_run_folder_stops_a_second_run_and_a_killed_holder_frees_it(tmp_path, root):
    cfg_path = _config(tmp_path, root, "shared")
    run_dir = tmp_path / "runs" / "shared"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom helpers.runs import RunLock\nRunLock(sys.argv[1]).acquire()\n"
         "print('held', flush=True)\nsys.stdin.read()", str(run_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        message = f"{run_dir}: in use by another run (pid {holder.pid})"
        with pytest.raises(RunInUseError) as info:  # in-process
            runs.run_config(cfg_path, progress=False, log=lambda *_: None)
        assert str(info.value).startswith(message) and info.value.pid == holder.pid
        cli = subprocess.run([sys.executable, "-m", "helpers", "run", str(cfg_path), "--quiet"], cwd=root, env=ENV,
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 1 and f"error: {message}" in cli.stderr, cli.stderr
        assert sorted(p.name for p in run_dir.iterdir()) == [".run.lock"]  # neither wrote anything
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs in the holder
        holder.wait()
    with runs.RunLock(run_dir):  # the kernel dropped the dead holder's lock
        assert (run_dir / ".run.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunInUseError, match=f"pid {os.getpid()}"):  # one holder at a time, even in one process
            runs.RunLock(run_dir).acquire()
    runs.RunLock(run_dir).acquire().release()


@pytest.mark.slow
def test_two_real_runs_on_one_run_folder(tmp_path, root):
    cfg_path = _config(tmp_path, root, "shared")
    run_dir = tmp_path / "runs" / "shared"
    t0 = time.time()
    procs = [_run_cli(cfg_path, root) for _ in range(2)]  # started together: whichever locks first runs
    outs = [p.communicate(timeout=900) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], (codes, outs)
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert f"error: {run_dir}: in use by another run (pid {procs[winner].pid})" in outs[loser][1], outs[loser]
    assert f"run folder: {run_dir}" in outs[winner][0]
    manifest = runs.load_manifest(run_dir)
    assert [s["status"] for s in manifest["stages"].values()] == ["done", "done"]
    for art in manifest["artefacts"]:
        assert (run_dir / art["path"]).stat().st_size == art["bytes"]
    assert not [p for p in run_dir.rglob("*.tmp")]
    print(f"two runs on one folder: {time.time() - t0:.1f} s")


# --------------------------------------------------------------------------- one cache, many processes

WORKER = textwrap.dedent('''
    import json, os, random, sys, time, warnings
    from helpers.cache import ContentCache
    from helpers.llm import LLM, CachedLLM, Completion

    class Fake(LLM):
        backend = "fake"
        fingerprint = "fake:1"
        def __init__(self):
            self.calls = 0
        def chat(self, messages, **decoding):
            self.calls += 1
            time.sleep(random.random() * 0.002)
            q = messages[-1]["content"]
            return Completion(text=f"resposta a {q}: " + "x" * (len(q) * 37 % 3000), prompt_tokens=len(q), completion_tokens=7, latency_s=0.1)

    cache_dir, seed, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    warnings.simplefilter("error")  # a corruption warning fails the worker
    order = list(range(n))
    random.Random(seed).shuffle(order)
    while not os.path.exists(go):  # all workers start together, creating the cache file at once
        time.sleep(0.002)
    cached = CachedLLM(llm=Fake(), cache=ContentCache(os.path.join(cache_dir, "llm.sqlite"), "llm"))
    for i in order:
        q = f"pergunta {i}"
        out = cached.chat([{"role": "user", "content": q}], prompt_version="v1")
        assert out.text == f"resposta a {q}: " + "x" * (len(q) * 37 % 3000), (i, out.text[:40])
    print(json.dumps({"calls": cached.calls, "hits": cached.hits}))
''')


def _workers(tmp_path, cache_dir, seeds, n):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / f"go-{seeds[0]}"
    procs = [subprocess.Popen([sys.executable, str(script), str(cache_dir), str(s), str(n), str(go)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in seeds]
    time.sleep(1.0)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert "locked" not in err, err
        results.append(json.loads(out))
    return results


def test_many_processes_share_one_llm_cache(tmp_path):
    cache_dir, n = tmp_path / "cache", 150
    t0 = time.time()
    results = _workers(tmp_path, cache_dir, seeds=[1, 2, 3, 4, 5, 6], n=n)
    elapsed = time.time() - t0
    calls = sum(r["calls"] for r in results)
    assert all(r["calls"] + r["hits"] == n for r in results)
    assert n <= calls < 6 * n  # each prompt computed at least once; most were found in the cache
    cache = ContentCache(cache_dir / "llm.sqlite", "llm")
    assert len(cache) == n and cache.verify() == []
    con = sqlite3.connect(cache_dir / "llm.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # a third pass, in a new process: every call from the cache
    (again,) = _workers(tmp_path, cache_dir, seeds=[7], n=n)
    assert again == {"calls": 0, "hits": n}
    print(f"6 processes x {n} prompts: {elapsed:.1f} s, {calls} backend calls")


@pytest.mark.slow
def test_two_real_runs_share_a_cache_folder_and_a_third_reuses_it(tmp_path, root):
    t0 = time.time()
    procs = [_run_cli(_config(tmp_path, root, run_id), root) for run_id in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err
    db = tmp_path / "cache" / "embeddings.sqlite"
    cache = ContentCache(db, "embedding")
    n = len(cache)
    assert n > 0 and cache.verify() == []
    rows = sqlite3.connect(db).execute("SELECT key, sha256, created FROM entries ORDER BY key").fetchall()
    segs = [pd.read_parquet(tmp_path / "runs" / r / "segments.parquet") for r in ("a", "b")]
    pd.testing.assert_frame_equal(*segs)

    third = _run_cli(_config(tmp_path, root, "c"), root)
    out, err = third.communicate(timeout=900)
    assert third.returncode == 0, err
    nb = json.loads((tmp_path / "runs/c/notebooks/01_build_index.ipynb").read_text(encoding="utf-8"))
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert f"({len(segs[0])} from the cache, 0 embedded now)" in printed, printed
    # nothing was written to the cache: same entries, same hashes, same times
    assert sqlite3.connect(db).execute("SELECT key, sha256, created FROM entries ORDER BY key").fetchall() == rows
    print(f"two runs on one cache + a third: {time.time() - t0:.1f} s")
