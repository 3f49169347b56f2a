"""Seconds per judged answer: 04's earlier defaults against today's, in one process, no cache.

Earlier defaults: Answer Relevance and groundedness with reasons (the study's
``Criteria / Supporting Evidence / Score``, up to 150 tokens each), context
relevance one digit per segment, answer correctness one digit. Today's:
every metric one digit, its expected score read from the digit's
log-probabilities. Both run on the same answers in the same order (grouped
by question, so llama.cpp reuses each question's prompt prefix): for each of
``n_questions`` sample questions the bank's three labelled answers (judged
for relevance and correctness, as 04 judges the bank) and one answer with
its context (judged with every metric, as 04 judges a generated answer).

Besides the ratio, it reports how often the one-digit score equals the score
given with reasons (Answer Relevance, groundedness): agreement with the
human labels is measured on all labelled answers by 06_judge_lab.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _items(n_questions: int):
    from helpers import context, retrieval, segments

    qs = retrieval.read_questions(ROOT / "data/sample/questions.csv")
    bank = retrieval.read_answer_bank(ROOT / "data/sample/answer_bank.csv", questions=qs)
    segs = segments.segment_files(segments.expand_paths([str(ROOT / "data/sample/lectures/*.vtt")]), 160, 40)
    picked = [q for q in qs["question_id"] if q in set(bank["question_id"])][:n_questions]
    gen, cr = [], []
    for qid in picked:
        q = qs.set_index("question_id").loc[qid]
        lecture = q["gold_spans"][0][0] if q["gold_spans"] else segs["lecture_id"].iloc[0]
        mine = segs[segs["lecture_id"] == lecture].head(3).assign(rank=[1, 2, 3])
        ctx = context.render_context(context.select_evidence(q["question"], context.segment_pieces(mine), budget_tokens=240))
        right = bank[(bank["question_id"] == qid) & (bank["label"] == "C")]["answer"].iloc[0]
        gen.append({"question_id": qid, "question": q["question"], "answer": right, "context": ctx, "answer_source": "generated"})
        for row in mine.itertuples():
            cr.append({"question_id": qid, "question": q["question"], "segment": row.text[:280], "segment_id": row.segment_id,
                       "rank": row.rank, "answer_source": "retrieved"})
    banked = bank[bank["question_id"].isin(picked)].merge(qs[["question_id", "question", "reference_answer"]], on="question_id")
    answers = pd.concat([pd.DataFrame(gen), banked], ignore_index=True).sort_values(["question_id", "answer_source"], kind="stable")
    answers["reference"] = answers["question_id"].map(qs.set_index("question_id")["reference_answer"])
    return answers.reset_index(drop=True), pd.DataFrame(cr), len(gen)


def _cpu() -> str:
    return next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")


def _judge(llm, answers, segs, *, reasons: bool):
    from helpers import correctness, judge

    t0 = time.perf_counter()
    ar = judge.judge_items(llm, answers, "answer_relevance" if reasons else "answer_relevance_direct", max_tokens=150, progress=False)
    ac = correctness.judge_correctness(llm, answers, variant="fewshot-en", progress=False)
    cr = judge.judge_items(llm, segs, "context_relevance_direct", progress=False)
    gen = answers[answers["answer_source"] == "generated"]
    gr = judge.judge_items(llm, gen, "groundedness" if reasons else "groundedness_direct", max_tokens=150, progress=False)
    return time.perf_counter() - t0, ar, ac, cr, gr


def run(n_questions: int = 4) -> dict:
    from helpers.llm import CachedLLM, LlamaCppLLM

    answers, segs, n_generated = _items(n_questions)
    base = LlamaCppLLM("default", n_ctx=4096)
    llm = CachedLLM(llm=base, cache=None)
    _judge(llm, answers.head(1), segs.head(1), reasons=False)  # warm-up: load, first system prompt
    t_old, ar_old, _, _, gr_old = _judge(llm, answers, segs, reasons=True)
    t_new, ar_new, _, _, gr_new = _judge(llm, answers, segs, reasons=False)
    n = len(answers)
    same = lambda a, b: float(np.mean(a["score"].to_numpy() == b["score"].to_numpy()))  # noqa: E731
    return {
        "answers": n, "of_which_generated": n_generated, "segments": len(segs),
        "with_reasons_s_per_answer": round(t_old / n, 2),
        "one_digit_s_per_answer": round(t_new / n, 2),
        "speedup": round(t_old / t_new, 2),
        "answer_relevance_same_score": round(same(ar_old, ar_new), 2),
        "groundedness_same_score": round(same(gr_old, gr_new), 2),
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

    answers, segs, _ = _items(n_questions)
    llms = {fa: CachedLLM(llm=LlamaCppLLM("default", n_ctx=4096, flash_attn=fa), cache=None) for fa in (False, True)}
    for llm in llms.values():
        _judge(llm, answers.head(1), segs.head(1), reasons=False)  # warm-up
    times, out = {False: [], True: []}, {}
    for _ in range(rounds):
        for fa, llm in llms.items():
            t, *tables = _judge(llm, answers, segs, reasons=False)
            times[fa].append(t)
            out[fa] = pd.concat(tables, ignore_index=True)
    off, on = out[False], out[True]
    both = np.isfinite(off["expected_score"]) & np.isfinite(on["expected_score"])
    n = len(answers)
    return {
        "answers": n, "segments": len(segs), "judgments": len(off), "rounds": rounds,
        "plain_s_per_answer": round(float(np.median(times[False])) / n, 2),
        "flash_s_per_answer": round(float(np.median(times[True])) / n, 2),
        "speedup": round(float(np.median(times[False]) / np.median(times[True])), 2),
        "same_digit": round(float(np.mean(off["score"].to_numpy() == on["score"].to_numpy())), 3),
        "max_expected_score_change": round(float(np.max(np.abs(off["expected_score"][both] - on["expected_score"][both]))), 4),
        "cpu": _cpu(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
