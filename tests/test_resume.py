"""Kill a real run mid-stage (SIGKILL) and run it again: it resumes, nothing lost, nothing duplicated."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from helpers.config import load_config
from helpers.runs import load_manifest, run_config

pytestmark = pytest.mark.slow


def _entries(path):
    if not path.exists():
        return 0
    try:
        return sqlite3.connect(path, timeout=5).execute("SELECT COUNT(*) FROM entries WHERE namespace='llm'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_generation_then_resume(tmp_path, root):
    questions = pd.read_csv(root / "data/sample/questions.csv", dtype=str, keep_default_na=False)
    questions[questions["question_id"].isin(["q01", "q04", "q12", "q27"])].to_csv(tmp_path / "q.csv", index=False)
    cfg_path = tmp_path / "resume.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "run_id": "resume", "runs_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
        "transcripts": [str(root / "data/sample/lectures/*.vtt")], "questions": str(tmp_path / "q.csv"),
        "stages": ["01_build_index", "02_retrieve", "03_generate"],
        "generator": {"max_tokens": 40, "context_budget_tokens": 120},
    }))
    cfg = load_config(cfg_path)
    run_config(cfg, stages=["01_build_index", "02_retrieve"], progress=False, log=lambda *_: None)

    llm_cache = tmp_path / "cache" / "llm.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "helpers", "run", str(cfg_path), "--quiet"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while _entries(llm_cache) < 1:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no answer was cached within 5 minutes"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its notebook kernel, mid-stage
    proc.wait()
    done_before = _entries(llm_cache)
    assert 1 <= done_before < 4
    assert load_manifest(tmp_path / "runs" / "resume")["stages"]["03_generate"]["status"] == "running"

    run_config(cfg, progress=False, log=lambda *_: None)
    answers = pd.read_parquet(tmp_path / "runs" / "resume" / "answers.parquet")
    assert sorted(answers["question_id"]) == ["q01", "q04", "q12", "q27"]  # every question once
    assert int(answers["cache_hit"].sum()) == done_before  # what finished before the kill was kept
    assert _entries(llm_cache) == 4  # no call was made twice
    assert answers["answer"].str.len().gt(0).all()

    # an unchanged config reuses the stage; forcing it re-runs the notebook with zero LLM calls
    run_config(cfg, stages=["03_generate"], force=True, progress=False, log=lambda *_: None)
    again = pd.read_parquet(tmp_path / "runs" / "resume" / "answers.parquet")
    assert again["cache_hit"].all() and _entries(llm_cache) == 4
    pd.testing.assert_frame_equal(again.drop(columns="cache_hit"), answers.drop(columns="cache_hit"))
