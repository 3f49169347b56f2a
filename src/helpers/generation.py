"""Answers from retrieved segments: the context the generator sees, and the answers table.

The default model reads about 20 prompt tokens per second on a 2-core CPU,
and one 160 s segment is about 550 tokens of Portuguese, so the context is
built to a token budget: the top ``n_segments`` segments share it equally,
and a segment longer than its share is trimmed to the run of words that
shares most content words with the question (*query-focused trimming*),
marked with ``…`` where text was cut. Every segment keeps its rank, lecture
and time span, so the answer can be traced back to the video.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

from .errors import InputError

__all__ = ["build_context", "trim_to_query", "generate_answers", "ANSWER_COLUMNS"]

ANSWER_COLUMNS = [
    "question_id", "answer", "prompt_version", "segment_ids", "context", "context_tokens", "prompt_tokens",
    "completion_tokens", "latency_s", "finish_reason", "cache_hit", "backend", "model",
]

# Portuguese function words that say nothing about a question's topic.
_STOP = set(
    """a o as os um uma uns umas de da do das dos em na no nas nos por para pra com sem que qual quais
    quando como onde porque por que é e ou se ser são foi era tem ter há isso isto esse essa este esta
    ele ela eles elas eu você vocês a gente me te lhe nos mais menos muito muita já não sim também
    ao aos à às pelo pela pelos pelas entre sobre até depois antes então tá né aí lá aqui vai vou
    faz fazer fica ficar dá dar""".split()
)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFC", text.lower()))


def _stem(word: str) -> str:
    return word[:5]


def trim_to_query(text: str, question: str, max_words: int) -> str:
    """The ``max_words``-word run of ``text`` sharing most content words with ``question``.

    Examples
    --------
    >>> trim_to_query("a b c dropout desliga neurônios d e f", "o que faz o dropout?", 3)
    '… dropout desliga neurônios …'
    """
    words = text.split()
    if len(words) <= max_words:
        return text
    if max_words <= 0:
        return ""
    q = {_stem(w) for w in _words(question) if w not in _STOP and len(w) > 2}
    hits = [1 if any(_stem(w) in q for w in _words(tok)) else 0 for tok in words]
    best, best_start, run = -1, 0, sum(hits[:max_words])
    for start in range(0, len(words) - max_words + 1):
        if start:
            run += hits[start + max_words - 1] - hits[start - 1]
        if run > best:
            best, best_start = run, start
    piece = " ".join(words[best_start : best_start + max_words])
    return ("… " if best_start > 0 else "") + piece + (" …" if best_start + max_words < len(words) else "")


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def build_context(question: str, retrieved: pd.DataFrame, *, n_segments: int = 3, budget_tokens: int = 600, count_tokens=None) -> tuple[str, list[str], int]:
    """The numbered context block the generator sees for one question.

    Parameters
    ----------
    question : str
    retrieved : pandas.DataFrame
        This question's retrievals joined with segments (``rank, segment_id,
        lecture_id, start_s, end_s, text``).
    n_segments : int
        How many of the top-ranked segments to include.
    budget_tokens : int
        Token budget of the whole block, shared equally by the segments.
    count_tokens : callable, optional
        ``count_tokens(text) -> int``; default about 3.5 characters per token
        (Qwen2.5 on Portuguese speech: 3.4). The estimate is the default on
        purpose: the context, and so the cache key, is then the same for
        every model, and a cached re-run never loads a tokenizer.

    Returns
    -------
    (context, segment_ids, tokens)

    Examples
    --------
    >>> ret = pd.DataFrame({"rank": [1], "segment_id": ["aula-000"], "lecture_id": ["aula"],
    ...                     "start_s": [0.0], "end_s": [160.0], "text": ["o dropout desliga neurônios"]})
    >>> build_context("o que é dropout?", ret)[0]
    '[1] aula 00:00:00-00:02:40: o dropout desliga neurônios'
    """
    if n_segments < 1:
        raise InputError(f"must be >= 1, got {n_segments}", field="context_segments")
    count = count_tokens or (lambda t: max(1, round(len(t) / 3.5)))
    top = retrieved.sort_values("rank").head(n_segments)
    share = max(16, budget_tokens // max(1, len(top)))
    blocks, ids = [], []
    for i, row in enumerate(top.itertuples(), start=1):
        header = f"[{i}] {row.lecture_id} {_clock(row.start_s)}-{_clock(row.end_s)}: "
        text = row.text
        n_tok = count(text)
        if n_tok > share:
            # words per token in this text, to size the trimmed run
            words = max(8, int(len(text.split()) * share / n_tok))
            text = trim_to_query(text, question, words)
            while count(text) > share and words > 8:
                words = int(words * 0.9)
                text = trim_to_query(row.text, question, words)
        blocks.append(header + text)
        ids.append(row.segment_id)
    context = "\n".join(blocks)
    return context, ids, count(context)


def generate_answers(llm, questions: pd.DataFrame, retrieved: pd.DataFrame, *, prompts="generate", language: str = "pt", n_segments: int = 3,
                     budget_tokens: int = 600, max_tokens: int = 160, temperature: float = 0.0, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Answer every question from its retrieved segments.

    Parameters
    ----------
    llm : helpers.llm.CachedLLM
        The generator behind the cache: answers already in the cache cost
        nothing, so a killed run resumes where it stopped.
    questions : pandas.DataFrame
        ``question_id, question``.
    retrieved : pandas.DataFrame
        Retrievals joined with segments (see :func:`build_context`).
    prompts : str or dict
        The generator prompt file's name, or prompts already loaded
        (:func:`helpers.judge.load_prompts`).
    language : {"pt", "en"}
        Prompt language.

    Returns
    -------
    pandas.DataFrame
        One row per question, columns :data:`ANSWER_COLUMNS`.
    """
    from tqdm.auto import tqdm

    from .judge import build_messages, prompt_version

    version = prompt_version("answer", language, prompts=prompts)
    rows = []
    bar = tqdm(questions.itertuples(), total=len(questions), desc="answers", disable=not progress)
    for q in bar:
        ret = retrieved[retrieved["question_id"] == q.question_id]
        context, ids, ctx_tokens = build_context(q.question, ret, n_segments=n_segments, budget_tokens=budget_tokens,
                                                 count_tokens=None)
        messages = build_messages("answer", language, prompts=prompts, question=q.question, context=context)
        out = llm.chat(messages, prompt_version=version, max_tokens=max_tokens, temperature=temperature, seed=seed)
        rows.append({
            "question_id": q.question_id, "answer": out.text, "prompt_version": version, "segment_ids": list(ids), "context": context,
            "context_tokens": ctx_tokens, "prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
            "latency_s": out.latency_s, "finish_reason": out.finish_reason,
            "cache_hit": out.cached, "backend": llm.backend, "model": llm.fingerprint,
        })
        bar.set_postfix(cached=sum(r["cache_hit"] for r in rows))
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)
