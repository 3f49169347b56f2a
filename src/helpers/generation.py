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

import pandas as pd

from .context import SCORERS, clock, content_stems, render_context, segment_pieces, select_evidence
from .errors import InputError

__all__ = ["build_context", "trim_to_query", "generate_answers", "is_abstention", "with_diagnostics",
           "ABSTENTION", "FALLBACK", "ANSWER_COLUMNS"]

# The answer when the excerpts do not state it (both prompt languages, see prompts/generate.yaml),
# and the part of it that is_abstention looks for (gen-v2 answers wrote the sentence themselves).
FALLBACK = "Os trechos recuperados não contêm a resposta."
ABSTENTION = "não contêm a resposta"


def is_abstention(answer: str) -> bool:
    """Whether a generated answer is the prompt's fallback, i.e. says the segments do not hold the answer.

    Examples
    --------
    >>> is_abstention("Os trechos recuperados não contêm a resposta."), is_abstention("É a U-Net.")
    (True, False)
    """
    return ABSTENTION in " ".join(str(answer).lower().split())

ANSWER_COLUMNS = [
    "question_id", "answer", "p_answerable", "draft", "draft_groundedness", "prompt_version", "segment_ids", "context",
    "context_tokens", "prompt_tokens", "completion_tokens", "latency_s", "finish_reason", "cache_hit", "backend", "model",
]

def trim_to_query(text: str, question: str, max_words: int) -> str:
    """The ``max_words``-word run of ``text`` sharing most content words with ``question``.

    Examples
    --------
    >>> trim_to_query("a b c dropout desliga neurônios d e f", "o dropout desliga neurônios?", 3)
    '… dropout desliga neurônios …'
    """
    words = text.split()
    if len(words) <= max_words:
        return text
    if max_words <= 0:
        return ""
    q = content_stems(question)
    hits = [1 if content_stems(tok) & q else 0 for tok in words]
    best, best_start, run = -1, 0, sum(hits[:max_words])
    for start in range(0, len(words) - max_words + 1):
        if start:
            run += hits[start + max_words - 1] - hits[start - 1]
        if run > best:
            best, best_start = run, start
    piece = " ".join(words[best_start : best_start + max_words])
    return ("… " if best_start > 0 else "") + piece + (" …" if best_start + max_words < len(words) else "")


def build_context(question: str, retrieved: pd.DataFrame, *, n_segments: int = 3, budget_tokens: int = 600, selection: str = "truncate",
                  embed=None, count_tokens=None) -> tuple[str, list[str], int]:
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
        Token budget of the whole block.
    selection : {"truncate", "e5", "lexical", "hybrid"}
        ``"truncate"``: each of the top ``n_segments`` segments gets an equal
        share of the budget and is cut to its stretch sharing most words with
        the question. The others pick the cues of those segments most similar
        to the question, by that score, with their neighbours, in transcript
        order (:func:`helpers.context.select_evidence`).
    embed : callable, optional
        ``embed(texts, kind) -> unit vectors`` for ``"e5"`` and ``"hybrid"``.
    count_tokens : callable, optional
        ``count_tokens(text) -> int``; default about 3.5 characters per token
        (Qwen2.5 on Portuguese speech: 3.4). The estimate is the default on
        purpose: the context, and so the cache key, is then the same for
        every model, and a cached re-run never loads a tokenizer.

    Returns
    -------
    (context, segment_ids, tokens)
        ``segment_ids``: the segments the context's text comes from, best-ranked first.

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
    if selection != "truncate":
        if selection not in SCORERS:
            raise InputError(f"unknown context selection {selection!r}; use truncate, {', '.join(SCORERS)}", field="context_selection")
        chosen = select_evidence(question, segment_pieces(retrieved, n_segments=n_segments), budget_tokens=budget_tokens,
                                 scorer=selection, embed=embed, count_tokens=count)
        context = render_context(chosen)
        ids = chosen.sort_values("rank")["segment_id"].drop_duplicates().tolist()
        return context, ids, count(context)
    if retrieved.empty:
        raise InputError("no retrieved segments to build a context from", field="retrievals")
    top = retrieved.sort_values("rank").head(n_segments)
    share = max(16, budget_tokens // max(1, len(top)))
    blocks, ids = [], []
    for i, row in enumerate(top.itertuples(), start=1):
        header = f"[{i}] {row.lecture_id} {clock(row.start_s)}-{clock(row.end_s)}: "
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


def generate_answers(llm, questions: pd.DataFrame, retrieved: pd.DataFrame, *, prompts="generate", language: str = "pt",
                     n_segments: int = 3, budget_tokens: int = 600, selection: str = "truncate", embed=None, max_tokens: int = 160,
                     temperature: float = 0.0, seed: int = 0, min_groundedness: float = 0.0, judge_language: str = "en",
                     guard: bool = True, progress: bool = True) -> pd.DataFrame:
    """Answer every question from its retrieved segments.

    Up to three calls per question, one decision each: ``answer_check`` asks
    whether the context states the answer (one token; ``p_answerable`` is
    P(yes) from its log-probabilities); when P(yes) < 0.5 the answer is
    :data:`FALLBACK` and nothing is generated, else ``answer`` writes a
    *draft*. Both prompts share their prefix, so the second call reads only
    the last few tokens. With ``min_groundedness`` > 0 the draft is then
    checked against the context by the judge's one-digit groundedness prompt
    (0-3, G-Eval expected score, :func:`helpers.judge.judge_items`); a draft
    scoring below ``min_groundedness`` (an answer the model made up) is
    replaced by :data:`FALLBACK`. With the judge's settings (``judge_language``,
    ``guard``) and model, 04 finds that score in the cache and pays nothing.

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
        (:func:`helpers.prompting.load_prompts`).
    language : {"pt", "en"}
        Prompt language.
    n_segments, budget_tokens, selection, embed
        How the context is built (:func:`build_context`).
    min_groundedness : float
        Withhold a draft whose expected groundedness is below this (0: keep
        every draft, no third call). The default run's 1.6 is the lowest score
        an answerable FaQuAD question got (``benchmarks/answerability.py``).
    judge_language, guard
        The groundedness prompt's language and guard, as 04 uses them.

    Returns
    -------
    pandas.DataFrame
        One row per question, columns :data:`ANSWER_COLUMNS`.
    """
    from tqdm.auto import tqdm

    from .correctness import yes_probability
    from .prompting import build_messages, prompt_version

    version = prompt_version("answer", language, prompts=prompts)
    check_version = prompt_version("answer_check", language, prompts=prompts)
    rows = []
    bar = tqdm(questions.itertuples(), total=len(questions), desc="answers", disable=not progress)
    for q in bar:
        ret = retrieved[retrieved["question_id"] == q.question_id]
        context, ids, ctx_tokens = build_context(q.question, ret, n_segments=n_segments, budget_tokens=budget_tokens,
                                                 selection=selection, embed=embed)
        fields = dict(prompts=prompts, question=q.question, context=context)
        # one decision per call: first, do the excerpts state the answer? (one token, P(yes) from its log-probabilities)
        check = llm.chat(build_messages("answer_check", language, **fields), prompt_version=check_version, max_tokens=1,
                         temperature=0.0, seed=seed, top_logprobs=10)
        p_yes = yes_probability(check.logprobs[0]["top"]) if check.logprobs else float("nan")
        draft, grounded, latency, cached = "", float("nan"), check.latency_s, check.cached
        versions = f"{check_version}+{version}"
        if p_yes == p_yes and p_yes < 0.5:  # "no" likelier: abstain without generating (NaN: no log-probabilities, answer)
            out = check
            text, completion_tokens, finish = FALLBACK, 0, "abstained"
        else:
            out = llm.chat(build_messages("answer", language, **fields), prompt_version=version, max_tokens=max_tokens,
                           temperature=temperature, seed=seed)
            draft, completion_tokens, finish = out.text, out.completion_tokens, out.finish_reason
            text, latency, cached = draft, latency + out.latency_s, cached and out.cached
            if min_groundedness > 0:  # a third decision: does the context support the draft?
                verdict = _groundedness_verdict(llm, q.question_id, draft, context, language=judge_language, guard=guard, seed=seed)
                grounded, latency = verdict["expected_score"], latency + verdict["latency_s"]
                versions += f"+{verdict['prompt_version']}"
                cached = cached and bool(verdict["cache_hit"])
                if grounded == grounded and grounded < min_groundedness:
                    text, finish = FALLBACK, "unsupported"
        rows.append({
            "question_id": q.question_id, "answer": text, "p_answerable": p_yes, "draft": draft, "draft_groundedness": grounded,
            "prompt_version": versions, "segment_ids": list(ids), "context": context,
            "context_tokens": ctx_tokens, "prompt_tokens": out.prompt_tokens, "completion_tokens": completion_tokens,
            "latency_s": latency, "finish_reason": finish, "cache_hit": cached, "backend": llm.backend, "model": llm.fingerprint,
        })
        bar.set_postfix(cached=sum(r["cache_hit"] for r in rows))
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def _groundedness_verdict(llm, question_id, answer, context, *, language, guard, seed):
    """The judge's one-digit groundedness verdict on one answer: a row of :func:`helpers.judge.judge_items`
    (``expected_score`` 0-3, ``prompt_version``, ``latency_s``, ``cache_hit``, ...), asked as 04 asks it."""
    from .judge import judge_items

    item = pd.DataFrame({"question_id": [question_id], "answer_source": ["generated"], "answer": [answer], "context": [context]})
    return judge_items(llm, item, "groundedness_direct", language=language, guard=guard, seed=seed, progress=False).iloc[0]


def with_diagnostics(answers: pd.DataFrame, questions: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """``answers`` with ``answerable``, ``evidence_recall`` and ``abstained`` per question.

    ``answerable``: the question has gold spans; ``evidence_recall``: share of
    them whose cues are whole in the context (:func:`helpers.context.evidence_recall`,
    NaN when not answerable); ``abstained``: the answer is the prompt's
    fallback (:func:`is_abstention`).
    """
    from .context import _spans, evidence_recall

    gold = questions.set_index("question_id")["gold_spans"]
    out = answers.copy()
    spans = [gold.get(q, []) for q in out["question_id"]]
    out["answerable"] = [bool(_spans(s)) for s in spans]
    out["evidence_recall"] = [evidence_recall(c, s, segments) for c, s in zip(out["context"], spans)]
    out["abstained"] = out["answer"].map(is_abstention)
    return out
