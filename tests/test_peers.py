"""The peers benchmark's own machinery (benchmarks/peers): no network, no model, no peers' venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))

import proxy  # noqa: E402
import run  # noqa: E402


@pytest.fixture(scope="module")
def bank():
    from helpers import lab, retrieval

    qs = retrieval.read_questions(ROOT / "data/sample/questions.csv")
    return lab.labelled_answers(qs, {"bank": ROOT / "data/sample/answer_bank.csv"})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_stop_group_ends_a_process_and_its_children(tmp_path):
    script = "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); " \
             "print(c.pid, flush=True); time.sleep(300)"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(proc.stdout.readline())
    assert _alive(proc.pid) and _alive(child)
    t0 = time.time()
    run.stop_group(proc, grace_s=5)
    deadline = time.time() + 5
    while _alive(child) and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is not None and not _alive(child)
    assert time.time() - t0 < 10
    run.stop_group(proc)  # stopping a stopped group is harmless


class _Upstream(BaseHTTPRequestHandler):
    """A stand-in for llama.cpp's server: /v1/chat/completions answers, /v1/responses is 404 (as llama.cpp's)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/chat/completions":
            out, code = {"choices": [{"message": {"content": body["messages"][-1]["content"].upper()}}]}, 200
        else:
            out, code = {"error": "not found"}, 404
        data = json.dumps(out).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_counting_proxy_forwards_counts_and_serves_embeddings():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        def embed(texts):
            return [[float(len(t)), 1.0] for t in texts]

        with proxy.CountingProxy(f"http://127.0.0.1:{upstream.server_address[1]}", embed=embed) as p:
            reply = _post(f"{p.base_url}/chat/completions", {"messages": [{"role": "user", "content": "olá"}]})
            assert reply["choices"][0]["message"]["content"] == "OLÁ"
            with pytest.raises(urllib.error.HTTPError) as err:
                _post(f"{p.base_url}/responses", {"input": "x"})
            assert err.value.code == 404  # and says why, in words TruLens reads as "fall back to chat completions"
            message = json.loads(err.value.read())["error"]["message"].lower()
            assert "not supported" in message and "response" in message
            vecs = _post(f"{p.base_url}/embeddings", {"input": ["ab", "abcd"], "model": "e5"})
            assert [d["embedding"] for d in vecs["data"]] == [[2.0, 1.0], [4.0, 1.0]]
            with urllib.request.urlopen(p.base_url.replace("/v1", "/_peers/counts"), timeout=10) as r:
                counts = json.loads(r.read())
        assert counts["model_calls"] == 1 and counts["embedding_calls"] == 1 and counts["failed"] == 1
        assert counts["requests"] == {"/v1/chat/completions": 1, "/v1/responses": 1, "/v1/embeddings": 1}
    finally:
        upstream.shutdown()
        upstream.server_close()


def test_agreement_table_on_the_answer_bank(bank):
    rank = bank["label"].map({"I": 0, "P": 1, "C": 2}).to_numpy(float)
    rng = np.random.default_rng(0)
    keys = bank[["question_id", "answer_source"]]
    good = keys.assign(tool="a", metric="follows_labels", score=rank + rng.normal(0, 0.3, len(bank)), status="ok",
                       seconds=2.0, calls=3)
    noise = keys.assign(tool="b", metric="noise", score=rng.normal(0, 1, len(bank)), status="ok", seconds=1.0, calls=1)
    # a third of its answers without a score, for three different reasons
    causes = np.array(["ok", "ok", "ok", "error", "parse_failure", "timeout"] * (len(bank) // 6 + 1))[: len(bank)]
    flaky = keys.assign(tool="c", metric="flaky", score=rank, status=causes, seconds=5.0, calls=2)
    table = run.agreement_table(pd.concat([good, noise, flaky], ignore_index=True), bank, n_boot=200).set_index("metric")
    assert table.loc["follows_labels", "qwk"] > 0.8 and table.loc["follows_labels", "qwk_low"] <= table.loc["follows_labels", "qwk"]
    assert abs(table.loc["noise", "qwk"]) < 0.3 and table.loc["follows_labels", "spearman"] > table.loc["noise", "spearman"]
    row = table.loc["flaky"]
    assert (row["n_error"], row["n_parse_failure"], row["n_timeout"], row["n_nan"]) == (14, 14, 14, 0)
    assert row["n_scored"] == len(bank) - 42 and row["no_score_share"] == pytest.approx(42 / len(bank))
    assert table.loc["follows_labels", "calls_per_answer"] == 3 and table.loc["noise", "no_score_share"] == 0
    md = run.markdown_table(table.reset_index(), {"c": {"error": "start failed: boom"}})
    assert "| c | flaky |" in md and "start failed: boom" in md


def test_agreement_table_refuses_scores_of_unlabelled_answers(bank):
    from helpers.errors import InputError

    stray = pd.DataFrame([{"tool": "a", "metric": "m", "question_id": "q99", "answer_source": "bank:C", "score": 1.0,
                           "status": "ok", "seconds": 1.0, "calls": 1}])
    with pytest.raises(InputError, match="not labelled"):
        run.agreement_table(stray, bank)


def test_read_scores_marks_what_a_stopped_worker_never_reached(bank, tmp_path):
    items = bank.head(3)
    out = tmp_path / "tool.jsonl"
    out.write_text(json.dumps({"meta": {"metrics": ["m"]}}) + "\n" + json.dumps(
        {"row": {"question_id": items["question_id"].iloc[0], "answer_source": items["answer_source"].iloc[0], "metric": "m",
                 "score": 0.5, "status": "ok", "error": "", "seconds": 1.0, "calls": 4, "embedding_calls": 0}}) + "\n")
    got = run.read_scores(out, "t", items, ["m"], timed_out=True)
    assert got["status"].tolist() == ["ok", "timeout", "timeout"] and got["calls"].iloc[0] == 4
    assert run.read_scores(out, "t", items, ["m"])["status"].tolist() == ["ok", "not_run", "not_run"]


def test_worker_records_every_answer_and_stops_trying_a_metric_that_always_fails(bank, tmp_path, monkeypatch):
    import worker

    calls = {"boom": 0}

    def boom(item):
        calls["boom"] += 1
        raise RuntimeError("Error code: 404 - {'detail': 'Not Found'}")

    def setup_fake(base_url, model, items):
        return {"fine": lambda it: len(it["answer"]) / 1000, "boom": boom, "empty": lambda it: None,
                "bad_json": lambda it: json.loads("{not json")}, {"versions": {}, "settings": {"model": model}}

    monkeypatch.setitem(worker.SETUPS, "fake", setup_fake)
    items = bank.head(5)
    items_path = tmp_path / "items.jsonl"
    items.assign(context="")[["question_id", "answer_source", "question", "reference", "answer", "context"]].to_json(
        items_path, orient="records", lines=True, force_ascii=False)
    out = tmp_path / "fake.jsonl"
    with proxy.CountingProxy("http://127.0.0.1:9") as p:  # nothing upstream: the fake tool makes no model calls
        assert worker.main(["--tool", "fake", "--items", str(items_path), "--out", str(out), "--base-url", p.base_url,
                            "--model", "m"]) == 0
    got = run.read_scores(out, "fake", items, ["fine", "boom", "empty", "bad_json"]).set_index("metric")
    assert (got.loc["fine", "status"] == "ok").all() and got.loc["fine", "score"].tolist() == [len(a) / 1000 for a in items["answer"]]
    assert (got.loc["empty", "status"] == "nan").all() and (got.loc["bad_json", "status"] == "parse_failure").all()
    assert (got.loc["boom", "status"] == "error").all() and calls["boom"] == worker.FAIL_FAST + 1  # 3 answers, then the re-run
    assert got.loc["boom", "error"].str.startswith("not tried").sum() == len(items) - worker.FAIL_FAST
    meta = [json.loads(line)["meta"] for line in out.read_text().splitlines() if line.startswith('{"meta"')]
    assert meta[0]["metrics"] == ["fine", "boom", "empty", "bad_json"] and meta[-1]["done"]
    assert meta[-1]["rerun_calls"] == {"fine": 0, "boom": 0, "empty": 0, "bad_json": 0}
