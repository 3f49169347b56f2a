"""LLM judges over tables of items: what each metric judges, and the calls.

Three parts, three modules:

- :mod:`helpers.prompting` renders the prompts (``helpers/prompts/judge.yaml``
  holds one versioned system/user pair per metric and language);
- :mod:`helpers.scoring` reads a reply (:func:`parse_judge_reply`) and does
  the score arithmetic (:func:`normalise`, :func:`expected_score`, ...);
- this module builds the items a metric judges from a run's tables
  (:func:`items_for`) and asks the judge about each (:func:`judge_items`),
  giving the rows of ``judgments.parquet`` (:data:`JUDGMENT_COLUMNS`);
  :func:`judge_metrics` does both for every metric of a run (notebook 04).

The names of the other two are importable from here too
(``judge.build_messages``, ``judge.parse_judge_reply``, ...).
"""

from __future__ import annotations

import pandas as pd

from .errors import InputError, PromptTooLong
from .generation import is_abstention
from .prompting import build_messages, format_segments, load_prompts, prompt_version, retry_message
from .scoring import (
    DEFAULT_LABELS,
    STATUSES,
    JudgeReply,
    denormalise,
    expected_score,
    normalise,
    parse_judge_reply,
    score_to_label,
    score_token_logprobs,
)

__all__ = [
    "DEFAULT_LABELS",
    "JUDGMENT_COLUMNS",
    "METRIC_FIELDS",
    "STATUSES",
    "JudgeReply",
    "build_messages",
    "denormalise",
    "expected_score",
    "format_segments",
    "ITEM_METRICS",
    "items_for",
    "judge_items",
    "judge_metrics",
    "load_prompts",
    "normalise",
    "parse_judge_reply",
    "prompt_version",
    "score_to_label",
    "score_token_logprobs",
    "segment_budget",
]

# --------------------------------------------------------------------------
# running the judge over a table of items
# --------------------------------------------------------------------------

#: Columns of ``judgments.parquet``: one row per item, metric and repetition.
JUDGMENT_COLUMNS = [
    "question_id", "answer_source", "metric", "repetition", "segment_id", "rank", "score", "score_norm",
    "expected_score", "label", "status", "attempts", "reason", "raw", "prompt_version", "judge_model",
    "prompt_tokens", "completion_tokens", "latency_s", "cache_hit",
]

#: What each metric's prompt needs from an item.
METRIC_FIELDS = {
    "answer_relevance": ("question", "answer"),
    "answer_relevance_direct": ("question", "answer"),
    "context_relevance": ("question", "segment"),
    "context_relevance_direct": ("question", "segment"),
    "groundedness": ("context", "answer"),
    "groundedness_direct": ("context", "answer"),
}


#: The metrics :func:`items_for` builds items for (each also with its ``_direct`` twin where it has one).
ITEM_METRICS = ("answer_relevance", "answer_correctness", "context_relevance", "groundedness")


def _need(frame, columns, name):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"needs columns {missing} (has {list(frame.columns)})", field=name)


def _answer_items(answers, questions, answer_bank):
    """Generated answers and the bank's answers to the answered questions, beside the question."""
    _need(answers, ["question_id", "answer"], "answers")
    _need(questions, ["question_id", "question"], "questions")
    answered = questions[questions["question_id"].isin(answers["question_id"])]
    items = answers[["question_id", "answer"]].assign(answer_source="generated")
    if answer_bank is not None:
        _need(answer_bank, ["question_id", "answer_source", "answer"], "answer_bank")
        bank = answer_bank[answer_bank["question_id"].isin(answered["question_id"])]
        items = pd.concat([items, bank[["question_id", "answer", "answer_source"]]], ignore_index=True)
    return items.merge(answered[["question_id", "question"]], on="question_id").sort_values(["question_id", "answer_source"])


def segment_budget(answers) -> int:
    """Tokens of one segment in the generator's context: what the context-relevance judge reads of each.

    ``max(16, max context_tokens // max segments per context)`` over the
    answers: the share of the budget the generator gave its largest context's
    segments, read back from what 03 wrote (so it holds for any
    ``context_budget_tokens`` and ``context_segments``).

    Examples
    --------
    >>> segment_budget(pd.DataFrame({"context_tokens": [232, 239], "segment_ids": [["a"], ["a", "b", "c"]]}))
    79
    """
    _need(answers, ["context_tokens", "segment_ids"], "answers")
    return int(max(16, answers["context_tokens"].max() // max(1, answers["segment_ids"].map(len).max())))


def items_for(metric: str, *, answers, questions, retrievals=None, segments=None, answer_bank=None,
              context_relevance_top: int = 3, path: str = "questions"):
    """The items one judge metric scores, built from a run's tables.

    ================== ===========================================================================
    metric             one item per
    ================== ===========================================================================
    answer_relevance   generated answer and bank answer: ``question``, ``answer``
    answer_correctness the same answers with the question's ``reference``
                       (:func:`helpers.correctness.correctness_items`)
    context_relevance  retrieved segment of rank <= ``context_relevance_top`` (0: all): the
                       ``question`` and the ``segment`` as the generator read it, trimmed to its
                       share of the context budget (:func:`segment_budget`)
    groundedness       generated answer (and bank answer, when ``answer_bank`` is given): the
                       ``answer`` and the ``context`` the generator saw for that question
    ================== ===========================================================================

    Parameters
    ----------
    metric : str
        One of :data:`ITEM_METRICS`, with or without a ``_direct`` suffix.
    answers : DataFrame
        03's ``answers.parquet``: ``question_id, answer`` (and ``context``,
        ``context_tokens``, ``segment_ids``).
    questions : DataFrame
        The question set: ``question_id, question`` (and ``reference_answer``
        for answer correctness). Only the answered questions are judged.
    retrievals, segments : DataFrame, optional
        02's ``retrievals.parquet`` and 01's ``segments.parquet``, for context
        relevance.
    answer_bank : DataFrame, optional
        Answers with known labels (:func:`helpers.retrieval.read_answer_bank`):
        ``question_id, answer_source, answer``; judged beside the generated ones.
    context_relevance_top : int
        The ranks whose segments context relevance judges.
    path : str
        Named in the error when the questions have no reference answers.

    Returns
    -------
    DataFrame
        ``question_id``, ``answer_source`` and the fields the metric's prompt
        needs (:data:`METRIC_FIELDS`), plus ``segment_id`` and ``rank`` for
        context relevance; ordered by question so the judge reuses each
        question's evaluated prefix.

    Raises
    ------
    InputError
        An unknown metric, a table without a needed column, context relevance
        without retrievals and segments.

    Examples
    --------
    >>> answers = pd.DataFrame({"question_id": ["q1"], "answer": ["A U-Net."]})
    >>> questions = pd.DataFrame({"question_id": ["q1", "q2"], "question": ["Qual rede?", "E?"]})
    >>> items_for("answer_relevance", answers=answers, questions=questions)[["question_id", "answer_source"]]
      question_id answer_source
    0          q1     generated
    """
    base = metric.removesuffix("_direct")
    if base not in ITEM_METRICS:
        raise InputError(f"unknown judge metric {metric!r} (known: {', '.join(ITEM_METRICS)})", field="metric")
    if base == "answer_relevance":
        return _answer_items(answers, questions, answer_bank)
    if base == "answer_correctness":
        from .correctness import correctness_items

        items = _answer_items(answers, questions, answer_bank)
        return correctness_items(items[["question_id", "answer_source", "answer"]], questions, path=path)
    if base == "groundedness":
        _need(answers, ["question_id", "answer", "context"], "answers")
        items = answers[["question_id", "answer", "context"]].assign(answer_source="generated")
        if answer_bank is None:
            return items
        bank = _answer_items(answers, questions, answer_bank)
        bank = bank[bank["answer_source"] != "generated"][["question_id", "answer", "answer_source"]]
        items = pd.concat([items, bank.merge(answers[["question_id", "context"]], on="question_id")], ignore_index=True)
        return items.sort_values(["question_id", "answer_source"], kind="stable")  # same context in a row
    from .generation import build_context

    if retrievals is None or segments is None:
        raise InputError("context relevance needs the retrievals and the segments", field="retrievals")
    _need(retrievals, ["question_id", "rank", "segment_id"], "retrievals")
    _need(segments, ["segment_id", "lecture_id", "start_s", "end_s", "text"], "segments")
    answered = questions[questions["question_id"].isin(answers["question_id"])]
    rets = retrievals.merge(segments, on="segment_id")
    top = rets if context_relevance_top <= 0 else rets[rets["rank"] <= context_relevance_top]
    share = segment_budget(answers)
    items = top.merge(answered[["question_id", "question"]], on="question_id").assign(answer_source="retrieved")
    # the judge reads the same stretch of each segment that the generator read (same budget per segment)
    items["segment"] = [build_context(row["question"], items.loc[[i]], n_segments=1, budget_tokens=share)[0]
                        for i, row in items.iterrows()]
    return items


# An answer that only says the excerpts do not hold the answer (helpers.generation.is_abstention) is grounded
# by definition: the groundedness rubric gives it 3, and judge_items does so without asking the judge.
ABSTENTION_REASON = "abstention: 3 by the rubric, the judge was not asked"
#: Status of an item whose prompt does not fit the judge's context window: NaN, the other items are judged.
TOO_LONG = "too_long"


def judge_items(llm, items, metric: str, *, language: str = "en", repetitions: int = 1, max_tokens: int = 200,
                temperature: float = 0.0, seed: int = 0, max_retries: int = 1, top_logprobs: int = 10,
                label_map=None, guard: bool = False, progress: bool = True):
    """Score every item with one judge metric.

    Parameters
    ----------
    llm : helpers.llm.CachedLLM
        The judge behind the cache (a re-run costs nothing; a killed run
        resumes where it stopped).
    items : pandas.DataFrame
        ``question_id``, ``answer_source`` and the fields the metric needs
        (:data:`METRIC_FIELDS`); ``segment_id`` and ``rank`` for context
        relevance.
    metric : str
        ``"answer_relevance"``, ``"context_relevance"`` (with reasons),
        ``"context_relevance_direct"`` (one digit, one forward pass) or
        ``"groundedness"``.
    repetitions : int
        Judge each item this many times (seeds ``seed .. seed+repetitions-1``);
        at temperature 0 the repetitions differ only by numerical noise.
    max_retries : int
        Re-ask this many times when a reply has no readable score (the
        follow-up message quotes the format); then the score is stored as
        missing (NaN) with the reply's status. Never a guess.
    top_logprobs : int
        Alternatives kept per token where the backend gives log-probabilities;
        they give ``expected_score`` (G-Eval style). 0 turns them off.
    label_map : dict, optional
        Score to label (default :data:`DEFAULT_LABELS`).
    guard : bool
        Render the answer as guarded data, in delimiters it cannot close,
        with the instruction to grade it and not obey it
        (:func:`helpers.prompting.build_messages`); the prompt version says so.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`JUDGMENT_COLUMNS`; ``metric`` is reported without the
        ``_direct`` suffix (the prompt version tells the two apart). For
        groundedness, an answer that is an abstention
        (:func:`helpers.generation.is_abstention`) gets the rubric's 3 with
        reason :data:`ABSTENTION_REASON` and no LLM call: the default 1.5B
        judge gave the fallback sentence 0.83-0.86 despite the rule.
    """
    from tqdm.auto import tqdm

    if metric not in METRIC_FIELDS:
        raise InputError(f"unknown judge metric {metric!r} (known: {', '.join(METRIC_FIELDS)})", field="metrics")
    version = prompt_version(metric, language, guard=guard)
    direct = metric.endswith("_direct")
    label_map = label_map or DEFAULT_LABELS
    rows = []
    total = len(items) * repetitions
    bar = tqdm(total=total, desc=metric.replace("_direct", ""), disable=not progress)

    def row(item, rep, score, expected, **rest):  # one judgment; ``rest``: status, attempts, reason, raw, tokens, latency, hit
        return {
            "question_id": item["question_id"], "answer_source": item.get("answer_source", ""),
            "metric": metric.replace("_direct", ""), "repetition": rep,
            "segment_id": item.get("segment_id", "") or "", "rank": int(item.get("rank", 0) or 0),
            "score": float("nan") if score is None else float(score), "score_norm": normalise(score),
            "expected_score": expected, "label": score_to_label(score, label_map) if score is not None else None,
            "prompt_version": version, "judge_model": llm.fingerprint, **rest,
        }

    for item in items.to_dict("records"):
        if metric.startswith("groundedness") and is_abstention(item.get("answer", "")):
            # the rubric scores an abstention 3; the small judge does not apply that rule (0.8 measured), so it is not asked
            rows += [row(item, rep, 3, 3.0, status="ok", attempts=0, reason=ABSTENTION_REASON, raw="", prompt_tokens=0,
                         completion_tokens=0, latency_s=0.0, cache_hit=True) for rep in range(repetitions)]
            bar.update(repetitions)
            continue
        fields = {f: item.get(f) for f in METRIC_FIELDS[metric]}
        base = build_messages(metric, language, guard=guard, **fields)
        for rep in range(repetitions):
            messages, attempts, reply, out = list(base), 0, None, None
            prompt_tokens = completion_tokens = 0
            latency, hit, too_long = 0.0, True, ""
            while True:
                attempts += 1
                try:
                    out = llm.chat(messages, prompt_version=version, max_tokens=1 if direct else max_tokens,
                                   temperature=temperature, seed=seed + rep, top_logprobs=top_logprobs)
                except PromptTooLong as err:  # longer than the judge's window: this item only, NaN with a status
                    too_long = err.message
                    break
                prompt_tokens += out.prompt_tokens
                completion_tokens += out.completion_tokens
                latency += out.latency_s
                hit = hit and out.cached
                reply = parse_judge_reply(out.text)
                if reply.ok or direct or attempts > max_retries:
                    break
                messages = messages + [{"role": "assistant", "content": out.text}, retry_message(language, max_score=3)]
            if too_long:
                rows.append(row(item, rep, None, float("nan"), status=TOO_LONG, attempts=attempts, reason=too_long, raw="",
                                prompt_tokens=0, completion_tokens=0, latency_s=latency, cache_hit=False))
                bar.update(1)
                continue
            if direct:
                top = out.logprobs[0]["top"] if out.logprobs else None
            else:
                top = score_token_logprobs(out.logprobs)
            expected = expected_score(top, logprobs=True) if top else float("nan")
            score = reply.score if reply.ok else None
            rows.append(row(item, rep, score, expected, status=reply.status, attempts=attempts, reason=reply.reason,
                            raw=out.text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, latency_s=latency,
                            cache_hit=hit))
            bar.update(1)
            bar.set_postfix(failed=sum(r["status"] != "ok" for r in rows), cached=sum(r["cache_hit"] for r in rows))
    bar.close()
    return pd.DataFrame(rows, columns=JUDGMENT_COLUMNS)


def judge_metrics(llm, metrics, *, answers, questions, retrievals=None, segments=None, answer_bank=None,
                  path: str = "questions", reasons=None, correctness_variant: str = "", correctness_cutoffs=(),
                  context_relevance_top: int = 3,
                  groundedness_answer_bank: bool = True, baselines: bool = True, embedder=None, guard: bool = False,
                  progress: bool = True, **options) -> pd.DataFrame:
    """Every judge metric in ``metrics`` on a run's tables: one table of judgments.

    For each metric, :func:`items_for` builds its items and the judge scores
    them: :func:`judge_items` (answer relevance, context relevance,
    groundedness) or :func:`helpers.correctness.judge_correctness` (answer
    correctness). With ``baselines`` the non-LLM baselines against the
    reference (:func:`helpers.baselines.baseline_judgments`) are scored on the
    answer-correctness items too, whether or not the LLM grades correctness.
    The blocks come in one fixed order, whatever the order of ``metrics``:
    answer relevance, answer correctness, the baselines, context relevance,
    groundedness; a metric not listed adds no rows.

    Parameters
    ----------
    llm : helpers.llm.CachedLLM
        The judge behind the cache.
    metrics : list of str
        Some of :data:`ITEM_METRICS`.
    answers, questions, retrievals, segments, answer_bank, path, context_relevance_top
        As for :func:`items_for`.
    reasons : dict, optional
        ``{metric: bool}``: True asks that metric's judge for its reasons
        before the score (chain of thought); False (the default) for one
        digit, read as an expected score (the ``_direct`` prompt).
    correctness_variant : str
        The :data:`helpers.correctness.VARIANTS` key ("": its default).
    correctness_cutoffs : pair, optional
        ``(c1, c2)`` that label its expected grade; empty: the variant's own
        for the default model, else the most probable grade
        (:func:`helpers.correctness.variant_cutoffs`).
    groundedness_answer_bank : bool
        Also judge the bank's answers against the context the generator saw.
    baselines, embedder
        Score the baselines; the embedder of their answer-reference cosine
        (None: that one is left out).
    guard, progress, **options
        Passed to :func:`judge_items` (``language, repetitions, temperature,
        seed, max_tokens, max_retries, label_map``); ``guard`` to the
        correctness judge too.

    Returns
    -------
    DataFrame
        Columns :data:`JUDGMENT_COLUMNS`, index 0..n-1.

    Raises
    ------
    InputError
        A metric that is not one of :data:`ITEM_METRICS` (field ``metrics``).

    Examples
    --------
    >>> answers = pd.DataFrame({"question_id": ["q1"], "answer": ["A U-Net."]})
    >>> questions = pd.DataFrame({"question_id": ["q1"], "question": ["Qual rede?"], "reference_answer": ["U-Net"]})
    >>> t = judge_metrics(None, [], answers=answers, questions=questions, progress=False)
    >>> t[["metric", "score"]].values.tolist()
    [['token_f1', 1.0], ['exact_match', 1.0], ['rouge_l', 1.0]]
    """
    from .baselines import baseline_judgments
    from .correctness import DEFAULT_VARIANT, judge_correctness

    unknown = [m for m in metrics if m not in ITEM_METRICS]
    if unknown:
        raise InputError(f"unknown judge metrics {unknown} (known: {', '.join(ITEM_METRICS)})", field="metrics")
    reasons = reasons or {}
    run = dict(answers=answers, questions=questions, retrievals=retrievals, segments=segments, path=path)
    judged = lambda m, items: judge_items(llm, items, m if reasons.get(m) else f"{m}_direct",  # noqa: E731
                                          guard=guard, progress=progress, **options)
    tables = []
    if "answer_relevance" in metrics:
        tables.append(judged("answer_relevance", items_for("answer_relevance", answer_bank=answer_bank, **run)))
    if "answer_correctness" in metrics or baselines:
        ac_items = items_for("answer_correctness", answer_bank=answer_bank, **run)
    if "answer_correctness" in metrics:
        graded = judge_correctness(llm, ac_items, variant=correctness_variant or DEFAULT_VARIANT, guard=guard,
                                   cutoffs=correctness_cutoffs or "default", progress=progress)
        tables.append(graded[JUDGMENT_COLUMNS])
    if baselines:
        tables.append(baseline_judgments(ac_items, embedder=embedder))
    if "context_relevance" in metrics:
        items = items_for("context_relevance", context_relevance_top=context_relevance_top, **run)
        tables.append(judged("context_relevance", items))
    if "groundedness" in metrics:
        bank = answer_bank if groundedness_answer_bank else None
        tables.append(judged("groundedness", items_for("groundedness", answer_bank=bank, **run)))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=JUDGMENT_COLUMNS)
