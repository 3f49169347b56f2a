"""Evidence recall of the generator's context: equal-share truncation vs evidence selection.

For the 26 answerable sample questions (top-10 E5 retrieval over the sample
lectures, as 01-02 do it): the share of gold spans whose cues are whole in
the context (:func:`helpers.context.evidence_recall`), and the context's
tokens, for today's default (``lexical``, 3 segments, 240 tokens), the
other scorers, and budgets of 160, 240 and 400 tokens. No LLM: a few minutes
the first time (E5 over every window), seconds after.
Abstentions and answer quality need the generator: see the README's table,
made with ``generation.generate_answers`` on the same settings.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def sample_retrieval(top_k: int = 10):
    """The sample as 01-02 see it: ``(segments, questions, embed, ids)``, ``ids[i]`` the top ``top_k`` segment
    positions of question ``i`` by E5 over a flat index."""
    from helpers import embeddings, index, retrieval, segments

    segs = segments.segment_files(segments.expand_paths([str(ROOT / "data/sample/lectures/*")]), 160, 40)
    qs = retrieval.read_questions(ROOT / "data/sample/questions.csv")
    cache = ROOT / "data" / "cache"  # the runs' embedding cache: windows embedded once, then read back
    cache.mkdir(parents=True, exist_ok=True)
    embed = embeddings.embed_function(cache_dir=str(cache))
    idx = index.build_index(embed(segs["text"].tolist(), "passage"), "flat")
    _, ids = index.search(idx, embed(qs["question"].tolist(), "query"), top_k)
    return segs, qs, embed, ids


def run() -> dict:
    from helpers import context, generation

    segs, qs, embed, ids = sample_retrieval(10)
    answerable = [i for i, s in enumerate(qs["gold_spans"]) if s]
    out = {"questions": len(qs), "answerable": len(answerable)}
    settings = [("truncate", 3, b) for b in (240, 400, 600)]
    settings += list(itertools.product(("lexical", "e5", "hybrid"), (3, 5), (160, 240, 400)))
    for selection, n, budget in settings:
        recall, tokens = [], []
        for i in answerable:
            ret = segs.iloc[ids[i]].assign(rank=np.arange(1, 11))
            ctx, _, n_tok = generation.build_context(qs["question"].iloc[i], ret, n_segments=n, budget_tokens=budget,
                                                     selection=selection, embed=embed)
            recall.append(context.evidence_recall(ctx, qs["gold_spans"].iloc[i], segs))
            tokens.append(n_tok)
        out[f"{selection}:{n}:{budget}"] = {"evidence_recall": round(float(np.nanmean(recall)), 3),
                                            "context_tokens": round(float(np.mean(tokens)))}
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
