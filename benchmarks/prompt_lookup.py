"""Prompt-lookup decoding for the generator's answers: seconds and identical outputs, in one process.

Answers often copy a stretch of the excerpts. llama-cpp-python's
``LlamaPromptLookupDecoding`` proposes the tokens that followed the last
n-gram where it occurs in the prompt; the model checks them in one batch and
keeps the ones it would have written. At temperature 0 the answer should not
change, only the time. The cost: a draft model makes llama-cpp-python keep
the logits of every position (``logits_all``), so the prompt is read with the
output layer on every token.

Two models on the same GGUF, plain and with prompt lookup, answer the same
``n_questions`` sample questions (03's answer prompt, 240-token lexical
evidence from E5's top 3 segments), taking turns ``rounds`` times; the
ratio is of the median round times. No cache.
"""

from __future__ import annotations

import time

import numpy as np


def _prompts(n_questions: int):
    from evidence import sample_retrieval  # benchmarks/ is on sys.path when this file runs

    from helpers import generation
    from helpers.prompting import build_messages

    segs, qs, _, ids = sample_retrieval(3)
    out = []
    for i, q in enumerate(qs["question"].head(n_questions)):
        ctx, _, _ = generation.build_context(q, segs.iloc[ids[i]].assign(rank=[1, 2, 3]), n_segments=3, budget_tokens=240,
                                             selection="lexical")
        out.append(build_messages("answer", "pt", prompts="generate", question=q, context=ctx))
    return out


def run(n_questions: int = 8, rounds: int = 2, num_pred_tokens: int = 10) -> dict:
    import llama_cpp
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    from helpers.llm import LlamaCppLLM

    prompts = _prompts(n_questions)
    plain = LlamaCppLLM("default", n_ctx=2048)
    lookup = LlamaCppLLM("default", n_ctx=2048)
    lookup.llm = llama_cpp.Llama(model_path=str(lookup.path), n_ctx=2048, n_batch=512, n_threads=lookup.n_threads, seed=0,
                                 verbose=False, draft_model=LlamaPromptLookupDecoding(num_pred_tokens=num_pred_tokens))
    models = {"plain": plain, "lookup": lookup}
    for m in models.values():
        m.chat(prompts[0], max_tokens=4)  # warm-up
    times = {k: [] for k in models}
    texts = {}
    for _ in range(rounds):
        for name, m in models.items():
            t0 = time.perf_counter()
            outs = [m.chat(p, max_tokens=100, temperature=0.0) for p in prompts]
            times[name].append(time.perf_counter() - t0)
            texts[name] = [o.text for o in outs]
            tokens = sum(o.completion_tokens for o in outs)
    same = [a == b for a, b in zip(texts["plain"], texts["lookup"])]
    return {
        "questions": n_questions, "rounds": rounds, "num_pred_tokens": num_pred_tokens, "answer_tokens": tokens,
        "plain_s_per_answer": round(float(np.median(times["plain"])) / n_questions, 2),
        "lookup_s_per_answer": round(float(np.median(times["lookup"])) / n_questions, 2),
        "speedup": round(float(np.median(times["plain"]) / np.median(times["lookup"])), 2),
        "identical_answers": f"{sum(same)}/{len(same)}",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
