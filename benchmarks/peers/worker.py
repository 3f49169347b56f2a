"""One peer tool's own metrics on labelled answers; runs in the peers' venv (benchmarks/peers/.venv).

Started by ``run.py`` once per tool::

    benchmarks/peers/.venv/bin/python benchmarks/peers/worker.py --tool ragas \\
        --items items.jsonl --out ragas.jsonl --base-url http://127.0.0.1:PORT/v1 --model qwen-default

Each tool is set up as its documentation shows, with its defaults, pointed
at the OpenAI-compatible URL (a counting proxy in front of llama.cpp's
server, which also serves E5 embeddings at ``/v1/embeddings``):

- TruLens: ``trulens.providers.openai.OpenAI(model_engine=..., base_url=...)``;
  Answer Relevance is ``provider.relevance_with_cot_reasons(prompt, response)``
  (the RAG triad's), correctness is
  ``GroundTruthAgreement(golden_set, provider=provider).agreement_measure(prompt, response)``.
- RAGAS: ``llm_factory(model, client=AsyncOpenAI(...))`` and
  ``embedding_factory("openai", model=..., client=..., interface="modern")``;
  ``ragas.metrics.collections.AnswerCorrectness`` (statement F1 0.75 +
  answer-reference embedding similarity 0.25) and ``AnswerRelevancy``
  (3 generated questions, their embedding similarity to the question).
- DeepEval: ``deepeval.models.LocalModel(model=..., base_url=...)``;
  ``AnswerRelevancyMetric`` and ``GEval`` named Correctness with the
  documentation's criteria, on input, actual output and expected output.

Every line of ``--out`` is JSON: ``{"meta": {...}}`` (versions, settings,
metric names; then the re-run cost) or ``{"row": {...}}`` (one answer and
metric: ``score``, ``status`` ok / error / parse_failure / nan / timeout,
``error``, ``seconds``, ``calls`` model calls, ``embedding_calls``), flushed
as it is made, so a run stopped by the time limit keeps what it scored.
When a metric's first :data:`FAIL_FAST` answers fail with one and the same
error, the rest are marked with that error without being tried.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import time
import traceback
import urllib.request
from importlib.metadata import PackageNotFoundError, version

API_KEY = "sk-local-no-key"  # llama.cpp's server runs without a key; clients insist on one
#: A metric whose first answers all fail with one and the same error is not tried on the rest (marked error, "not tried").
FAIL_FAST = 3
GEVAL_CRITERIA = "Determine whether the actual output is factually correct based on the expected output."


def _versions(*packages) -> dict:
    out = {}
    for p in packages:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def classify(err: BaseException) -> str:
    """``timeout``, ``parse_failure`` (the model's reply was not the JSON/score the tool wanted) or ``error``."""
    text = f"{type(err).__name__} {err}".lower()
    if "timeout" in text or "timed out" in text:
        return "timeout"
    if any(k in text for k in ("json", "pars", "validat", "instructorretry", "retryerror", "incomplete", "schema")):
        return "parse_failure"
    return "error"


# ----------------------------------------------------------------------------- the tools

def setup_trulens(base_url: str, model: str, items: list) -> tuple[dict, dict]:
    from trulens.feedback import GroundTruthAgreement
    from trulens.providers.openai import OpenAI

    provider = OpenAI(model_engine=model, base_url=base_url, api_key=API_KEY)
    golden = [{"query": it["question"], "expected_response": it["reference"]} for it in items]
    agreement = GroundTruthAgreement(golden, provider=provider)

    def relevance(it):
        score, _reasons = provider.relevance_with_cot_reasons(prompt=it["question"], response=it["answer"])
        return score

    def correctness(it):
        out = agreement.agreement_measure(it["question"], it["answer"])
        return out[0] if isinstance(out, tuple) else out

    settings = {"provider": f"trulens.providers.openai.OpenAI(model_engine={model!r}, base_url=proxy)",
                "answer_relevance": "provider.relevance_with_cot_reasons (0-3 rubric, normalised to 0-1)",
                "ground_truth_agreement": "GroundTruthAgreement([{query, expected_response}], provider).agreement_measure (0-10, /10)"}
    return {"answer_relevance": relevance, "ground_truth_agreement": correctness}, {
        "versions": _versions("trulens", "trulens-core", "trulens-feedback", "trulens-providers-openai", "openai"), "settings": settings}


def setup_ragas(base_url: str, model: str, items: list) -> tuple[dict, dict]:
    from openai import AsyncOpenAI
    from ragas.embeddings.base import embedding_factory
    from ragas.llms import llm_factory
    from ragas.metrics.collections import AnswerCorrectness, AnswerRelevancy

    client = AsyncOpenAI(base_url=base_url, api_key=API_KEY)
    llm = llm_factory(model, client=client)
    emb = embedding_factory("openai", model="multilingual-e5-small", client=client, interface="modern")
    correctness, relevancy = AnswerCorrectness(llm=llm, embeddings=emb), AnswerRelevancy(llm=llm, embeddings=emb)
    loop = asyncio.new_event_loop()

    def ac(it):
        coro = correctness.ascore(user_input=it["question"], response=it["answer"], reference=it["reference"])
        return loop.run_until_complete(coro).value

    def ar(it):
        return loop.run_until_complete(relevancy.ascore(user_input=it["question"], response=it["answer"])).value

    settings = {"llm": f"llm_factory({model!r}, client=AsyncOpenAI(base_url=proxy)) (instructor, JSON mode; defaults)",
                "embeddings": "embedding_factory('openai', model='multilingual-e5-small', client=..., interface='modern')"
                              " -> the proxy's E5",
                "answer_correctness": f"collections.AnswerCorrectness, weights {correctness.weights}, beta {correctness.beta}",
                "answer_relevancy": f"collections.AnswerRelevancy, strictness {relevancy.strictness}"}
    return {"answer_correctness": ac, "answer_relevancy": ar}, {
        "versions": _versions("ragas", "instructor", "openai"), "settings": settings}


def setup_deepeval(base_url: str, model: str, items: list) -> tuple[dict, dict]:
    from deepeval.metrics import AnswerRelevancyMetric, GEval
    from deepeval.models import LocalModel
    from deepeval.test_case import LLMTestCase, SingleTurnParams

    llm = LocalModel(model=model, base_url=base_url, api_key=API_KEY)
    relevancy = AnswerRelevancyMetric(model=llm)
    correctness = GEval(name="Correctness", criteria=GEVAL_CRITERIA, model=llm,
                        evaluation_params=[SingleTurnParams.INPUT, SingleTurnParams.ACTUAL_OUTPUT, SingleTurnParams.EXPECTED_OUTPUT])

    def case(it):
        return LLMTestCase(input=it["question"], actual_output=it["answer"], expected_output=it["reference"],
                           retrieval_context=[it["context"]] if it.get("context") else None)

    def ar(it):
        relevancy.measure(case(it), _show_indicator=False)
        return relevancy.score

    def geval(it):
        correctness.measure(case(it), _show_indicator=False)
        return correctness.score

    settings = {"model": f"deepeval.models.LocalModel(model={model!r}, base_url=proxy)",
                "answer_relevancy": "AnswerRelevancyMetric(model) (threshold 0.5, include_reason, async_mode: defaults)",
                "geval_correctness": f"GEval(name='Correctness', criteria={GEVAL_CRITERIA!r}, "
                                     "evaluation_params=[INPUT, ACTUAL_OUTPUT, EXPECTED_OUTPUT])"}
    return {"answer_relevancy": ar, "geval_correctness": geval}, {
        "versions": _versions("deepeval", "openai"), "settings": settings}


SETUPS = {"trulens": setup_trulens, "ragas": setup_ragas, "deepeval": setup_deepeval}


# ----------------------------------------------------------------------------- the loop

def _counts(base_url: str) -> dict:
    root = base_url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/_peers/counts", timeout=10) as r:
        return json.loads(r.read())


def score_one(fn, item, base_url) -> dict:
    before, t0 = _counts(base_url), time.perf_counter()
    try:
        value = fn(item)
        value = float("nan") if value is None else float(value)
        status, error = ("nan", "score is NaN/None") if math.isnan(value) else ("ok", "")
    except Exception as err:  # noqa: BLE001 - every failure is a result here
        value, status, error = float("nan"), classify(err), f"{type(err).__name__}: {str(err)[:300]}"
    after = _counts(base_url)
    return {"score": None if math.isnan(value) else value, "status": status, "error": error,
            "seconds": round(time.perf_counter() - t0, 3), "calls": after["model_calls"] - before["model_calls"],
            "embedding_calls": after["embedding_calls"] - before["embedding_calls"], "failed_requests": after["failed"] - before["failed"],
            "prompt_tokens": after["prompt_tokens"] - before["prompt_tokens"],
            "completion_tokens": after["completion_tokens"] - before["completion_tokens"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tool", required=True, choices=sorted(SETUPS))
    p.add_argument("--items", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True)
    a = p.parse_args(argv)
    # any client a tool builds by default goes to the local proxy, never to a hosted API; no telemetry
    os.environ.update({"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": a.base_url, "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
                       "RAGAS_DO_NOT_TRACK": "true", "TRULENS_OTEL_TRACING": "0", "HF_HUB_OFFLINE": "1"})
    items = [json.loads(line) for line in open(a.items, encoding="utf-8") if line.strip()]
    out = open(a.out, "a", encoding="utf-8")

    def emit(obj):
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        out.flush()

    t0 = time.perf_counter()
    try:
        metrics, meta = SETUPS[a.tool](a.base_url, a.model, items)
    except Exception as err:  # noqa: BLE001 - the tool failed to start: say so and stop
        emit({"meta": {"error": f"start failed: {type(err).__name__}: {str(err)[:400]}", "traceback": traceback.format_exc()[-2000:]}})
        return 2
    emit({"meta": {**meta, "metrics": list(metrics), "setup_s": round(time.perf_counter() - t0, 2)}})
    history: dict = {name: [] for name in metrics}
    for item in items:
        for name, fn in metrics.items():
            first = history[name][:FAIL_FAST]
            if len(first) == FAIL_FAST and len({e for _, e in first}) == 1 and first[0][0] == "error":
                # the first answers all failed the same way: the rest would too (and each costs the tool's retries)
                row = {"score": None, "status": "error", "error": f"not tried: the first {FAIL_FAST} answers failed with: {first[0][1]}",
                       "seconds": None, "calls": None, "embedding_calls": None, "failed_requests": None, "prompt_tokens": None,
                       "completion_tokens": None}
            else:
                row = score_one(fn, item, a.base_url)
                history[name].append((row["status"], row["error"]))
            emit({"row": {"question_id": item["question_id"], "answer_source": item["answer_source"], "metric": name, **row}})
    # what a re-run costs: the first answer again, same objects, as a user re-running the cell would
    rerun = {name: score_one(fn, items[0], a.base_url)["calls"] for name, fn in metrics.items()} if items else {}
    emit({"meta": {"rerun_calls": rerun, "done": True}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
