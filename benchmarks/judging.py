"""Seconds per judged answer: 04 as it judged when issue 11 was filed against 04 today, in one process, no cache.

Then (``configs/sample.yaml`` before the correctness judge): Answer
Relevance and groundedness with reasons (the study's ``Criteria /
Supporting Evidence / Score``), context relevance one digit per segment,
every answer unguarded, the bank's answers judged for groundedness too.
Today (``configs/sample.yaml`` now): every metric one digit, its expected
score read from the digit's log-probabilities; answer correctness with the
default variant (its anchor call per question included); every answer
guarded; groundedness on the generated answers only (the bank is judged for
correctness instead); the word baselines. Both go through
:func:`helpers.judge.judge_metrics`, as 04 does, on the same tables: for
each of ``n_questions`` sample questions one "generated" answer (the bank's
C answer, with a 240-token lexical context of three segments of its
lecture), the bank's three labelled answers, and the three segments.

Besides the ratio, it reports how often the one-digit score equals the score
given with reasons (Answer Relevance, groundedness, on the answers both
judged): agreement with the human labels is measured on all labelled answers
by 06_judge_lab.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LLM_METRICS = ("answer_correctness", "answer_relevance", "context_relevance", "groundedness")  # the rest are word baselines


def _tables(n_questions: int) -> dict:
    """04's inputs for ``n_questions`` sample questions: answers, questions, retrievals, segments, answer_bank."""
    from helpers import context, retrieval, segments

    qs = retrieval.read_questions(ROOT / "data/sample/questions.csv")
    bank = retrieval.read_answer_bank(ROOT / "data/sample/answer_bank.csv", questions=qs)
    lectures = [str(ROOT / f"data/sample/lectures/*.{ext}") for ext in ("vtt", "srt", "TextGrid")]
    segs = segments.segment_files(segments.expand_paths(lectures), 160, 40)
    picked = [q for q in qs["question_id"] if q in set(bank["question_id"])][:n_questions]
    answers, rets = [], []
    for qid in picked:
        q = qs.set_index("question_id").loc[qid]
        lecture = q["gold_spans"][0][0] if q["gold_spans"] else segs["lecture_id"].iloc[0]
        mine = segs[segs["lecture_id"] == lecture].head(3).assign(rank=[1, 2, 3])
        pieces = context.select_evidence(q["question"], context.segment_pieces(mine), budget_tokens=240)
        right = bank[(bank["question_id"] == qid) & (bank["label"] == "C")]["answer"].iloc[0]
        answers.append({"question_id": qid, "answer": right, "context": context.render_context(pieces),
                        "context_tokens": 240, "segment_ids": list(mine["segment_id"])})
        rets += [{"question_id": qid, "rank": r.rank, "segment_id": r.segment_id} for r in mine.itertuples()]
    return {"answers": pd.DataFrame(answers), "questions": qs[qs["question_id"].isin(picked)], "retrievals": pd.DataFrame(rets),
            "segments": segs, "answer_bank": bank[bank["question_id"].isin(picked)]}


def _cpu() -> str:
    return next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")


def _judge(llm, tables, *, then: bool):
    """(seconds, judgments, answers judged): 04's judging as it was when the issue was filed, or as it is today."""
    from helpers import judge

    t0 = time.perf_counter()
    if then:
        out = judge.judge_metrics(llm, ["answer_relevance", "context_relevance", "groundedness"], **tables,
                                  reasons={"answer_relevance": True, "groundedness": True}, groundedness_answer_bank=True,
                                  baselines=False, guard=False, progress=False)
    else:
        out = judge.judge_metrics(llm, list(LLM_METRICS), **tables, groundedness_answer_bank=False, guard=True, progress=False)
    return time.perf_counter() - t0, out, len(tables["answers"]) + len(tables["answer_bank"])


def _head(tables, n: int = 1) -> dict:
    keep = set(tables["answers"]["question_id"].head(n))
    return {k: (v if k == "segments" else v[v["question_id"].isin(keep)]) for k, v in tables.items()}


def run(n_questions: int = 4) -> dict:
    from helpers.llm import CachedLLM, LlamaCppLLM

    tables = _tables(n_questions)
    # prefix_states=0: a real 04 meets each prompt family once, cold; kept states would hand both sides the warm-up's prefixes
    llm = CachedLLM(llm=LlamaCppLLM("default", n_ctx=4096, prefix_states=0), cache=None)
    _judge(llm, _head(tables), then=False)  # warm-up: load, first prompts
    t_then, old, n = _judge(llm, tables, then=True)
    t_now, new, _ = _judge(llm, tables, then=False)
    keys = ["metric", "question_id", "answer_source"]

    def same(metric):
        both = old[old["metric"] == metric].merge(new[new["metric"] == metric], on=keys)
        return f"{int((both['score_x'] == both['score_y']).sum())} / {len(both)}"

    return {
        "answers": n, "questions": n_questions, "judgments_then": len(old),
        "judgments_now": int(new["metric"].isin(LLM_METRICS).sum()),
        "then_s_per_answer": round(t_then / n, 2), "now_s_per_answer": round(t_now / n, 2),
        "ratio_now_to_then": round(t_now / t_then, 2),
        "answer_relevance_same_score": same("answer_relevance"), "groundedness_same_score": same("groundedness"),
        "cpu": _cpu(),
    }


def flash_attention(n_questions: int = 4, rounds: int = 2) -> dict:
    """llama.cpp's flash attention against the plain kernel: 04's one-digit judging, same answers, same process.

    Two models on the same GGUF (weights mapped once), FA off and on, take
    turns ``rounds`` times (off, on, off, on, ...) so a slower stretch of a
    shared CPU hits both; the ratio is of the median round times. Then how
    far the outputs move: the share of identical digits and the largest
    change of an expected score, over every metric.
    """
    from helpers.llm import CachedLLM, LlamaCppLLM

    tables = _tables(n_questions)
    llms = {fa: CachedLLM(llm=LlamaCppLLM("default", n_ctx=4096, flash_attn=fa, prefix_states=0), cache=None) for fa in (False, True)}
    for llm in llms.values():
        _judge(llm, _head(tables), then=False)  # warm-up
    times, out = {False: [], True: []}, {}
    for _ in range(rounds):
        for fa, llm in llms.items():
            t, out[fa], n = _judge(llm, tables, then=False)
            times[fa].append(t)
    off, on = (out[fa][out[fa]["metric"].isin(LLM_METRICS)] for fa in (False, True))
    both = np.isfinite(off["expected_score"]) & np.isfinite(on["expected_score"])
    return {
        "answers": n, "judgments": len(off), "rounds": rounds,
        "plain_s_per_answer": round(float(np.median(times[False])) / n, 2),
        "flash_s_per_answer": round(float(np.median(times[True])) / n, 2),
        "speedup": round(float(np.median(times[False]) / np.median(times[True])), 2),
        "same_digit": round(float(np.mean(off["score"].to_numpy() == on["score"].to_numpy())), 3),
        "max_expected_score_change": round(float(np.max(np.abs(off["expected_score"][both] - on["expected_score"][both]))), 4),
        "cpu": _cpu(),
    }


def _generate(llm, tables):
    """(seconds, answers): 03 on the tables' questions and segments, with the sample config's settings."""
    from helpers import generation

    rets = tables["retrievals"].merge(tables["segments"], on="segment_id")
    t0 = time.perf_counter()
    out = generation.generate_answers(llm, tables["questions"], rets, language="pt", n_segments=3, budget_tokens=240,
                                      selection="lexical", max_tokens=100, min_groundedness=1.6, judge_language="en",
                                      guard=True, progress=False)
    return time.perf_counter() - t0, out


def prefix_states(n_questions: int = 4, rounds: int = 2) -> dict:
    """Keeping each prompt family's evaluated prefix across switches (``LlamaCppLLM(prefix_states=8)``, the default) against not (0).

    As :func:`flash_attention`: two models on the same GGUF take turns
    ``rounds`` times on 04's judging of today, then 03's three calls per
    question (check, draft, groundedness digit) on the same questions, where
    the families alternate at every question; each block starts cold (no
    prompt held, no prefix kept), as a stage does in its own process; the
    ratios are of the median round times. 04 asks one family after another,
    so it should gain nothing: it is the control. Then how far the outputs
    move: identical digits, the largest change of an expected score or of the
    check's P(yes), identical answers.
    """
    from helpers.llm import CachedLLM, LlamaCppLLM

    tables = _tables(n_questions)
    llms = {k: CachedLLM(llm=LlamaCppLLM("default", n_ctx=4096, prefix_states=k), cache=None) for k in (0, 8)}


    for llm in llms.values():
        _judge(llm, _head(tables), then=False)  # warm-up
    times = {k: {"judge": [], "generate": []} for k in llms}
    judged, answered = {}, {}
    for _ in range(rounds):
        for k, llm in llms.items():
            llm.llm.forget_prompts()  # each stage starts cold, as 03 and 04 do in their own processes
            t, judged[k], n = _judge(llm, tables, then=False)
            times[k]["judge"].append(t)
            llm.llm.forget_prompts()
            t, answered[k] = _generate(llm, tables)
            times[k]["generate"].append(t)
    off, on = (judged[k][judged[k]["metric"].isin(LLM_METRICS)] for k in (0, 8))
    both = np.isfinite(off["expected_score"]) & np.isfinite(on["expected_score"])
    med = {k: {s: float(np.median(v)) for s, v in times[k].items()} for k in llms}
    return {
        "questions": n_questions, "answers_judged": n, "judgments": len(off), "rounds": rounds,
        "judge_s_off": round(med[0]["judge"], 1), "judge_s_on": round(med[8]["judge"], 1),
        "judge_speedup": round(med[0]["judge"] / med[8]["judge"], 2),
        "generate_s_off": round(med[0]["generate"], 1), "generate_s_on": round(med[8]["generate"], 1),
        "generate_speedup": round(med[0]["generate"] / med[8]["generate"], 2),
        "same_digit": round(float(np.mean(off["score"].to_numpy() == on["score"].to_numpy())), 3),
        "max_expected_score_change": round(float(np.max(np.abs(off["expected_score"][both] - on["expected_score"][both]))), 4),
        "max_p_answerable_change": round(float(np.max(np.abs(answered[0]["p_answerable"] - answered[8]["p_answerable"]))), 4),
        "max_draft_groundedness_change": round(float(np.nanmax(np.abs(
            answered[0]["draft_groundedness"] - answered[8]["draft_groundedness"]))), 4),
        "same_answer": f"{int((answered[0]['answer'] == answered[8]['answer']).sum())} / {len(answered[0])}",
        "cpu": _cpu(),
    }


def prefix_states_generate(n_questions: int = 28) -> dict:
    """03 on every sample question with each family's prefix kept (8) and not (0): one cold model each, one after the other.

    The inputs are :func:`_tables`' (three segments of each question's lecture,
    240-token lexical evidence); 03's settings are the sample config's.
    Reports the seconds, the ratio and how far the outputs move.
    """
    from helpers.llm import CachedLLM, LlamaCppLLM

    tables = _tables(n_questions)
    seconds, out = {}, {}
    for k in (0, 8):
        llm = CachedLLM(llm=LlamaCppLLM("default", n_ctx=4096, prefix_states=k), cache=None)
        seconds[k], out[k] = _generate(llm, tables)
        del llm
    a, b = out[0], out[8]
    return {
        "questions": len(a), "generate_s_off": round(seconds[0], 1), "generate_s_on": round(seconds[8], 1),
        "generate_speedup": round(seconds[0] / seconds[8], 2),
        "same_answer": f"{int((a['answer'] == b['answer']).sum())} / {len(a)}",
        "max_p_answerable_change": round(float((a["p_answerable"] - b["p_answerable"]).abs().max()), 4),
        "max_draft_groundedness_change": round(float((a["draft_groundedness"] - b["draft_groundedness"]).abs().max()), 4),
        "cpu": _cpu(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
