"""Kill a real run mid-stage (SIGKILL) and run it again: it resumes, nothing lost, nothing duplicated.

The first test runs the real default GGUF (03_generate). The second kills each
stage that calls an LLM (03_generate, 04_judge, 06_judge_lab) through the
``openai`` backend pointed at a stand-in OpenAI-compatible server in this
process (deterministic replies with log-probabilities), so it needs no model.
"""

import collections
import hashlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    assert 1 <= done_before < 12  # up to three calls a question: the check, then the draft and its groundedness
    assert load_manifest(tmp_path / "runs" / "resume")["stages"]["03_generate"]["status"] == "running"

    run_config(cfg, progress=False, log=lambda *_: None)
    answers = pd.read_parquet(tmp_path / "runs" / "resume" / "answers.parquet")
    assert sorted(answers["question_id"]) == ["q01", "q04", "q12", "q27"]  # every question once
    # in question order, as they were made: one when the check abstains, else the draft and its groundedness too
    calls = [1 if finish == "abstained" else 3 for finish in answers["finish_reason"]]
    whole = sum(1 for i in range(len(calls)) if sum(calls[: i + 1]) <= done_before)
    assert int(answers["cache_hit"].sum()) == whole  # questions whose calls all finished before the kill were kept
    assert _entries(llm_cache) == sum(calls)  # no call was made twice
    assert answers["answer"].str.len().gt(0).all()

    # an unchanged config reuses the stage; forcing it re-runs the notebook with zero LLM calls
    run_config(cfg, stages=["03_generate"], force=True, progress=False, log=lambda *_: None)
    again = pd.read_parquet(tmp_path / "runs" / "resume" / "answers.parquet")
    assert again["cache_hit"].all() and _entries(llm_cache) == sum(calls)
    pd.testing.assert_frame_equal(again.drop(columns="cache_hit"), answers.drop(columns="cache_hit"))


# --------------------------------------------------------------------------- every LLM stage, without a model


def _fake_reply(body):
    """A deterministic chat completion: a digit (max_tokens=1) or "... Score: d", with log-probabilities."""
    digit = str(hashlib.sha256(json.dumps(body["messages"], sort_keys=True).encode()).digest()[0] % 3)
    probs = {d: (0.6 if d == digit else 0.2) for d in "012"}
    if int(body.get("max_tokens") or 0) == 1:
        tokens = [(digit, {d: math.log(p) for d, p in probs.items()})]
    else:
        tokens = [("Reasoning", {}), (": stand-in", {}), (".\n", {}), ("Score", {}), (":", {}),
                  (f" {digit}", {f" {d}": math.log(p) for d, p in probs.items()})]
    top_n = int(body.get("top_logprobs") or 0)
    content = [{"token": t, "logprob": top.get(t, 0.0), "bytes": None,
                "top_logprobs": [{"token": k, "logprob": v, "bytes": None} for k, v in list(top.items())[:top_n]]}
               for t, top in tokens]
    return {
        "id": "stand-in", "object": "chat.completion", "created": 0, "model": body.get("model", "stand-in"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(t for t, _ in tokens)},
                     "finish_reason": "stop", "logprobs": {"content": content} if body.get("logprobs") else None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": len(tokens), "total_tokens": 10 + len(tokens)},
    }


class FakeOpenAIServer:
    """An OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1 that counts each distinct request."""

    def __init__(self):
        self.delay = 0.0
        self.requests = collections.Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.requests[json.dumps(body, sort_keys=True)] += 1
                time.sleep(owner.delay)
                out = json.dumps(_fake_reply(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_server():
    server = FakeOpenAIServer()
    yield server
    server.close()


LLM_STAGES = {"03_generate": "answers", "04_judge": "judgments", "06_judge_lab": "lab_scores"}
# replies cached before the kill: enough for one whole row (03 asks three calls per question: check, draft, groundedness)
KEPT_BEFORE_KILL = {"03_generate": 3, "04_judge": 2, "06_judge_lab": 2}
VOLATILE = ["cache_hit", "latency_s", "seconds"]  # differ between a computed and a cached call, by design


def _cli(cfg_path, stages, root):
    return subprocess.Popen([sys.executable, "-m", "helpers", "run", str(cfg_path), "--stages", ",".join(stages), "--quiet"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})


def test_sigkill_mid_each_llm_stage_then_resume_without_a_model(tmp_path, root, fake_server):
    llm = {"backend": "openai", "model": "stand-in", "base_url": fake_server.url}
    picked = ["q01", "q04", "q12"]
    cfg_path = tmp_path / "resume.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "run_id": "resume", "runs_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache"),
        "transcripts": [str(root / "data/sample/lectures/*.vtt")], "questions": str(root / "data/sample/questions.csv"),
        "answer_bank": str(root / "data/sample/answer_bank.csv"),
        "stages": ["01_build_index", "02_retrieve", *LLM_STAGES],
        "generator": {**llm, "questions": picked}, "judge": llm,
        # a variant 04 did not use, so 06 asks its own questions instead of finding 04's replies in the cache
        "lab": {"questions": picked, "contrast_set": str(root / "data/sample/contrast_set.csv"),
                "variants": ["direct-en"], "combine_with": "direct-en"},
        "analysis": {"bootstrap": 50},
    }))
    cfg = load_config(cfg_path)
    run_dir, llm_cache = tmp_path / "runs" / "resume", tmp_path / "cache" / "llm.sqlite"
    run_config(cfg, stages=["01_build_index", "02_retrieve"], progress=False, log=lambda *_: None)
    timings = {}
    for n, (stage, table) in enumerate(LLM_STAGES.items()):
        t0 = time.time()
        stages = ["01_build_index", "02_retrieve", *list(LLM_STAGES)[: n + 1]]
        before = _entries(llm_cache)
        fake_server.requests.clear()
        fake_server.delay = 0.3  # slow replies: the kill lands mid-stage
        proc = _cli(cfg_path, stages, root)
        try:
            deadline = time.time() + 1800
            while _entries(llm_cache) < before + KEPT_BEFORE_KILL[stage]:
                assert proc.poll() is None, f"{stage}: the run ended before it could be killed: {proc.stderr.read()}"
                assert time.time() < deadline, f"{stage}: no LLM reply was cached within 30 minutes"
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the runner and its notebook kernel, mid-stage
            proc.wait()
        kept = _entries(llm_cache) - before
        assert load_manifest(run_dir)["stages"][stage]["status"] == "running", stage
        assert not (run_dir / f"{table}.parquet").exists(), stage

        fake_server.delay = 0.0
        resumed = _cli(cfg_path, stages, root)
        _, err = resumed.communicate(timeout=900)
        assert resumed.returncode == 0, f"{stage}: {err}"
        assert load_manifest(run_dir)["stages"][stage]["status"] == "done"
        out = pd.read_parquet(run_dir / f"{table}.parquet")
        # nothing lost: every reply cached before the kill was used, not asked again; nothing asked twice
        # except the few requests in flight at the kill (at most the openai backend's 4 parallel requests)
        asked_twice = sum(1 for c in fake_server.requests.values() if c > 1)
        assert asked_twice <= 4 and sum(fake_server.requests.values()) == len(fake_server.requests) + asked_twice, stage
        assert _entries(llm_cache) - before == len(fake_server.requests), stage  # one cache entry per distinct call
        assert 2 <= kept < len(fake_server.requests), stage
        if "cache_hit" in out:
            assert int(out["cache_hit"].sum()) >= 1, stage
        if stage == "03_generate":
            assert sorted(out["question_id"]) == picked  # every question once

        # no duplicates: re-running the stage from the cache alone gives the same table, without one request
        fake_server.requests.clear()
        run_config(cfg, stages=stages[-1:], force=True, progress=False, log=lambda *_: None)
        assert sum(fake_server.requests.values()) == 0, stage
        again = pd.read_parquet(run_dir / f"{table}.parquet")
        drop = [c for c in VOLATILE if c in out]
        pd.testing.assert_frame_equal(again.drop(columns=drop), out.drop(columns=drop))
        assert not list(run_dir.rglob("*.tmp")), stage
        timings[stage] = round(time.time() - t0, 1)
    print(f"kill and resume, seconds per stage: {timings}")
