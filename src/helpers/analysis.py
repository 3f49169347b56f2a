"""Adapters from each kind of input to the tables the analysis and the records use.

:func:`records_from_run` turns a run folder's tables into the study's record
tables (:mod:`helpers.records`), so a run can be written and read as records.
:func:`from_run`, :func:`from_records` and :func:`from_llmjudge` turn the
three kinds of input into one tidy evaluation frame, each judged answer
beside its human label and retrieval evidence, so notebook 05 does not care
where its numbers came from:

``unit``            what was labelled (question and answer source, or query and passage)
``question_id``     the group the bootstrap resamples whole
``answer_source``   ``generated``, ``bank:C`` ..., ``study``, or the judge's name
``human``           the human label (NaN where nobody labelled it)
``annotator``       who gave it
``score``           the judge's 0-3 score (NaN when its reply was unreadable)
``status``          the parse status of the judge's reply
``judge_label``     the automated label from the score-to-label map
``top_score``, ``score_spread``  the best retrieval cosine and max - min over the top k
``correctness``, ``correctness_label``  answer correctness (expected grade; minus the reference's own for a
                    ``+ref`` variant) and its label, where judged
``token_f1``, ``exact_match``, ``rouge_l``, ``answer_similarity``  the baselines against the reference, where scored
``context_relevance``, ``groundedness``  question-level judge scores where judged
``injection_flag``  why the answer seems to talk to the grader (:mod:`helpers.attacks`; empty: it does not)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .files import format_time
from .labels import LABEL_WORDS, LABELS
from .record_format import (
    _DEFAULT_RETRIEVER,
    _PLACEHOLDERS,
    QUESTION_COLUMNS,
    RETRIEVED_COLUMNS,
    _corpus_id,
    _get,
    _is_missing,
    _question_id,
    _references,
)

__all__ = [
    "from_run", "from_records", "from_llmjudge", "records_from_run", "stability", "metric_association", "correctness_labels",
    "judge_agreement", "rater_agreement", "EVAL_COLUMNS",
]

#: The non-LLM baselines 04 scores beside the judges (:mod:`helpers.baselines`).
BASELINES = ("token_f1", "exact_match", "rouge_l", "answer_similarity")

EVAL_COLUMNS = [
    "unit", "question_id", "answer_source", "repetition", "human", "annotator", "score", "status", "judge_label",
    "correctness", "correctness_label", "top_score", "score_spread", "context_relevance", "groundedness",
    *BASELINES, "injection_flag",
]


def _map_labels(scores: pd.Series, label_map: dict) -> pd.Series:
    mapping = {int(k): v for k, v in label_map.items()}
    return scores.map(lambda s: mapping.get(int(s)) if pd.notna(s) else None)


def _retrieval_evidence(rets: pd.DataFrame) -> pd.DataFrame:
    g = rets.groupby("question_id")["score"]
    return pd.DataFrame({"top_score": g.max(), "score_spread": g.max() - g.min()}).reset_index()


def from_run(run_dir, *, label_map: dict, annotations=None, answer_bank: str = "") -> pd.DataFrame:
    """The evaluation table of a run of this suite.

    Human labels come from the answer bank (answers whose label is known by
    construction) and from annotation files (labels people gave the
    generated answers); answers nobody labelled keep ``human`` NaN.

    Parameters
    ----------
    run_dir : path
        A run folder with ``judgments.parquet`` (and ``retrievals.parquet``).
    label_map : dict
        0-3 score to label.
    annotations : DataFrame, optional
        :func:`helpers.annotations.read_annotations` output.
    answer_bank : str
        The bank CSV the judge scored (its labels are the human labels).
    """
    from .retrieval import read_answer_bank
    from .runs import read_table

    j = read_table(run_dir, "judgments")
    ar = j[j["metric"] == "answer_relevance"].copy()
    if ar.empty:
        raise InputError("no answer_relevance judgments in this run", path=f"{run_dir}/judgments.parquet", field="metric")
    human = []
    if answer_bank:
        bank = read_answer_bank(answer_bank)
        human.append(bank[["question_id", "answer_source", "label"]].assign(annotator="answer bank"))
    if annotations is not None and len(annotations):
        human.append(annotations[["question_id", "answer_source", "label", "annotator"]])
    ev = ar[["question_id", "answer_source", "repetition", "score", "status"]]
    if human:
        h = pd.concat(human, ignore_index=True).rename(columns={"label": "human"})
        ev = ev.merge(h, on=["question_id", "answer_source"], how="left")
    else:
        ev = ev.assign(human=None, annotator=None)
    ev["judge_label"] = _map_labels(ev["score"], label_map)
    ev = ev.merge(_retrieval_evidence(read_table(run_dir, "retrievals")), on="question_id", how="left")
    # context relevance judges the retrieved segments: one value per question, shared by its answers
    cr = j[(j["metric"] == "context_relevance") & (j["repetition"] == 0)]
    value = cr["expected_score"].where(cr["expected_score"].notna(), cr["score"])
    ev = ev.merge(value.groupby(cr["question_id"]).mean().rename("context_relevance"), left_on="question_id", right_index=True, how="left")
    # groundedness judges one answer: joined to that answer only
    gr = j[(j["metric"] == "groundedness") & (j["repetition"] == 0)][["question_id", "answer_source", "score"]]
    ev = ev.merge(gr.rename(columns={"score": "groundedness"}), on=["question_id", "answer_source"], how="left")
    # answer correctness judges one answer against the reference: its expected grade and its own label
    ac = j[(j["metric"] == "answer_correctness") & (j["repetition"] == 0)]
    ac = ac.reindex(columns=["question_id", "answer_source", "expected_score", "label"]).rename(
        columns={"expected_score": "correctness", "label": "correctness_label"})
    ev = ev.merge(ac, on=["question_id", "answer_source"], how="left")
    base = j[j["metric"].isin(BASELINES) & (j["repetition"] == 0)]
    if len(base):
        wide = base.pivot_table(index=["question_id", "answer_source"], columns="metric", values="score", dropna=False)
        ev = ev.merge(wide.reset_index(), on=["question_id", "answer_source"], how="left")
    ev = ev.merge(_injection_flags(run_dir, answer_bank), on=["question_id", "answer_source"], how="left")
    ev["unit"] = ev["question_id"] + " · " + ev["answer_source"]
    return ev.reindex(columns=EVAL_COLUMNS)


def _injection_flags(run_dir, answer_bank: str) -> pd.DataFrame:
    """``question_id, answer_source, injection_flag`` of every answer the run judged (:func:`helpers.attacks.flag_answers`)."""
    from .attacks import flag_answers
    from .retrieval import read_answer_bank
    from .runs import read_table

    texts = [pd.DataFrame(columns=["question_id", "answer_source", "answer"])]
    if (Path(run_dir) / "answers.parquet").is_file():  # a run may judge only the bank
        texts.append(read_table(run_dir, "answers")[["question_id", "answer"]].assign(answer_source="generated"))
    if answer_bank:
        texts.append(read_answer_bank(answer_bank)[["question_id", "answer_source", "answer"]])
    texts = pd.concat(texts, ignore_index=True)
    return texts.assign(injection_flag=flag_answers(texts["answer"]).to_numpy()).drop(columns="answer")


def from_records(paths, *, label_map: dict) -> pd.DataFrame:
    """The evaluation table of the study's records, numbers as they are written.

    The judge's 0-3 score is recovered from Answer Relevance (``AR * 3``,
    so 0.33 -> 1 and 1.00 -> 3); the automated label is the record's own,
    not re-derived, so a mismatch with ``label_map`` stays visible.
    """
    from .judge import denormalise
    from .records import read_records

    qs, rets = read_records(paths)
    ev = pd.DataFrame({
        "question_id": qs["question_id"],
        "answer_source": "study",
        "repetition": 0,
        "human": qs["manual_label"],
        "annotator": "study",
        "score": [float(denormalise(v)) if pd.notna(v) else np.nan for v in qs["answer_relevance"]],
        "status": "ok",
        "judge_label": qs["automated_label"],
    })
    derived = _map_labels(ev["score"], label_map)
    ev["label_map_agrees"] = derived.eq(ev["judge_label"])
    ev = ev.merge(_retrieval_evidence(rets), on="question_id", how="left")
    ev["unit"] = ev["question_id"]
    return ev.reindex(columns=EVAL_COLUMNS + ["label_map_agrees"])


def from_llmjudge(frame: pd.DataFrame) -> pd.DataFrame:
    """The evaluation table of LLMJudge (:func:`helpers.annotations.read_llmjudge`): 0-3 on both sides."""
    ev = pd.DataFrame({
        "unit": frame["query_id"] + "/" + frame["doc_id"],
        "question_id": frame["query_id"],
        "answer_source": frame["judge"],
        "repetition": 0,
        "human": frame["human"],
        "annotator": "TREC assessors",
        "score": frame["label"],
        "status": np.where(frame["label"].isna(), "invalid", "ok"),
        "judge_label": frame["label"],
    })
    return ev.reindex(columns=EVAL_COLUMNS)


# --------------------------------------------------------------------------- a run as records


def _read_parquet(run_dir: Path, name: str, required: tuple, *, optional: bool = False):
    path = run_dir / f"{name}.parquet"
    if not path.exists():
        if optional:
            return None
        raise InputError(f"not found: records need {name}.parquet", path=path)
    frame = pd.read_parquet(path)
    for col in required:
        if col not in frame.columns:
            raise InputError(f"missing column (found: {', '.join(map(str, frame.columns))})", path=path, field=col)
    return frame


def _one_per_question(frame, path, known, *, strict=True):
    """{question_id: row} for a table with at most one row per question."""
    keys = frame["question_id"].astype(str)
    dup = keys[keys.duplicated()]
    if len(dup):
        raise InputError(f"question {dup.iloc[0]!r} has more than one row; a record holds one", path=path, field="question_id")
    unknown = sorted(set(keys) - known)
    if unknown and strict:
        raise InputError(f"rows for questions not in questions.parquet: {unknown[:5]}", path=path, field="question_id")
    return {k: row for k, (_, row) in zip(keys, frame.iterrows())}


def _run_label(value, path, field):
    if value is None:
        return None
    text = " ".join(str(value).split()).casefold()
    if text in _PLACEHOLDERS:
        return None
    if text in LABEL_WORDS:
        return LABEL_WORDS[text]
    raise InputError(f"label {value!r} is not C/P/I (correct, partial, incorrect)", path=path, field=field)


def _run_references(row, path):
    try:
        return _references_of(row)
    except InputError as err:
        raise InputError(err.message, path=path, field=err.field or "gold_spans") from None
    except (TypeError, ValueError) as err:
        raise InputError(f"cannot read gold spans {row['gold_spans']!r}: {err}", path=path, field="gold_spans") from None


def _references_of(row):
    refs = _get(row, "references")
    if refs is not None:
        return _references(refs)
    spans = _get(row, "gold_spans")
    if spans is None:
        return []
    if isinstance(spans, str) and spans.lstrip().startswith("["):
        spans = json.loads(spans)  # questions.parquet stores parsed spans as JSON
    elif isinstance(spans, str):
        from .retrieval import parse_gold_spans

        spans = parse_gold_spans(spans)
    lines = []
    for span in list(spans):
        if isinstance(span, Mapping):
            span = list(span.values())
        lecture, start, end = list(span)[:3]
        lines.append(f"- [{lecture} {format_time(start)}-{format_time(end)}]()")
    return lines


def records_from_run(run_dir, *, retriever: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the record tables from a run folder's parquet tables.

    Reads ``questions``, ``retrievals`` and ``segments`` (required) and, when
    they exist, ``answers`` (``answer``), ``judgments`` (the row with
    ``metric == "answer_relevance"`` and ``repetition == 0``: ``score_norm``, or
    ``score / 3``, is the AR; ``reason`` the reasoning; ``label`` the automated
    label) and ``annotations`` (``manual_label`` or ``label``; a
    ``manual_label`` column in ``questions`` wins). What a missing table would
    give is left empty and written as ``—``.

    Records are numbered by ``question_number`` if ``questions`` has it, else by
    the digits ending each ``question_id`` (``q07`` -> 7) when those are unique,
    else 1, 2, 3, ... in table order; ``question_id`` becomes
    ``pergunta_007`` and the run's own id is kept as ``run_question_id``.
    References come from a ``references`` column or else from ``gold_spans``.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run folder, e.g. ``data/runs/sample``.
    retriever : str, optional
        The name in '**Segmentos recuperados pelo ...**'. Default: a
        ``retriever`` column of ``retrievals``, else ``"E5"``.

    Returns
    -------
    questions, retrieved : pandas.DataFrame
        The tables :func:`helpers.records.read_records` returns (``source`` and ``line`` empty;
        ``retrieved`` also has ``segment_id`` and ``lecture_id``).

    Raises
    ------
    InputError
        A required table or column missing, a retrieval of a segment not in
        ``segments.parquet``, two answers or judgments for one question, a
        label that is not C/P/I.

    Examples
    --------
    >>> questions, retrieved = records_from_run("data/runs/sample")  # doctest: +SKIP
    >>> write_records(questions, retrieved, "data/runs/sample/records")  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    qs = _read_parquet(run_dir, "questions", ("question_id", "question"))
    rt = _read_parquet(run_dir, "retrievals", ("question_id", "rank", "segment_id", "score"))
    sg = _read_parquet(run_dir, "segments", ("segment_id", "start_s", "end_s", "text"))
    answers = _read_parquet(run_dir, "answers", ("question_id", "answer"), optional=True)
    judgments = _read_parquet(run_dir, "judgments", ("question_id", "metric"), optional=True)
    annotations = _read_parquet(run_dir, "annotations", ("question_id",), optional=True)

    q_path = run_dir / "questions.parquet"
    run_ids = [str(q) for q in qs["question_id"]]
    if len(set(run_ids)) != len(run_ids):
        dup = next(q for q in run_ids if run_ids.count(q) > 1)
        raise InputError(f"question_id {dup!r} repeats", path=q_path, field="question_id")
    known = set(run_ids)
    numbers = _run_numbers(qs, run_ids, q_path)

    if retriever is None:
        names = rt["retriever"].dropna().unique() if "retriever" in rt.columns else []
        retriever = str(names[0]) if len(names) == 1 else _DEFAULT_RETRIEVER

    answer_of = {}
    if answers is not None:
        if "repetition" in answers.columns:
            answers = answers[answers["repetition"] == 0]
        answer_of = _one_per_question(answers, run_dir / "answers.parquet", known)
    judgment_of = {}
    if judgments is not None:
        chosen = judgments[judgments["metric"] == "answer_relevance"]
        if "answer_source" in chosen.columns:  # the generated answer's judgment, not the answer bank's
            chosen = chosen[chosen["answer_source"].isin(["generated", ""])]
        if "repetition" in chosen.columns:
            chosen = chosen[chosen["repetition"] == 0]
        judgment_of = _one_per_question(chosen, run_dir / "judgments.parquet", known)
    manual_of = {}
    a_path = run_dir / "annotations.parquet"
    if "manual_label" in qs.columns:
        manual_of = {qid: _run_label(_get(row, "manual_label"), q_path, "manual_label") for qid, (_, row) in zip(run_ids, qs.iterrows())}
    elif annotations is not None:
        col = "manual_label" if "manual_label" in annotations.columns else "label" if "label" in annotations.columns else None
        if col is None:
            raise InputError("missing column", path=a_path, field="manual_label")
        rows = _one_per_question(annotations, a_path, known, strict=False)
        manual_of = {qid: _run_label(_get(row, col), a_path, col) for qid, row in rows.items()}

    j_path = run_dir / "judgments.parquet"
    q_rows = []
    for qid, number, (_, row) in zip(run_ids, numbers, qs.iterrows()):
        j = judgment_of.get(qid)
        ar = None
        if j is not None:
            ar = _get(j, "score_norm")
            if ar is None and _get(j, "score") is not None:
                ar = float(_get(j, "score")) / 3.0
        answer = _get(answer_of[qid], "answer") if qid in answer_of else None
        q_rows.append(
            {
                "question_id": _question_id(number),
                "question_number": number,
                "question": str(row["question"]),
                "retriever": retriever,
                "answer": None if answer is None else str(answer),
                "references": _run_references(row, q_path),
                "manual_label": manual_of.get(qid),
                "answer_relevance": math.nan if ar is None else float(ar),
                "answer_relevance_text": None,
                "automated_label": None if j is None else _run_label(_get(j, "label"), j_path, "label"),
                "reasoning": None if j is None or _get(j, "reason") is None else str(_get(j, "reason")),
                "source": None,
                "line": None,
                "run_question_id": qid,
            }
        )
    questions = pd.DataFrame(q_rows, columns=QUESTION_COLUMNS + ["run_question_id"])
    questions["question_number"] = questions["question_number"].astype(int)
    questions["answer_relevance"] = questions["answer_relevance"].astype(float)

    r_path = run_dir / "retrievals.parquet"
    unknown = sorted(set(rt["question_id"].astype(str)) - known)
    if unknown:
        raise InputError(f"retrievals for questions not in questions.parquet: {unknown[:5]}", path=r_path, field="question_id")
    seg_by_id = {str(k): row for k, (_, row) in zip(sg["segment_id"], sg.iterrows())}
    id_of = dict(zip(run_ids, questions["question_id"]))
    r_rows = []
    order = {qid: i for i, qid in enumerate(run_ids)}
    rt = rt.assign(_q=rt["question_id"].astype(str))
    rt = rt.assign(_o=rt["_q"].map(order)).sort_values(["_o", "rank"], kind="stable")
    for qid, group in rt.groupby("_q", sort=False):
        for rank, (_, hit) in enumerate(group.iterrows(), start=1):
            seg_id = str(hit["segment_id"])
            if seg_id not in seg_by_id:
                raise InputError(f"segment {seg_id!r} is not in segments.parquet", path=r_path, field="segment_id")
            seg = seg_by_id[seg_id]
            score = _get(hit, "score")
            if score is None:
                raise InputError(f"question {qid!r}, rank {hit['rank']}: no score", path=r_path, field="score")
            r_rows.append(
                {
                    "question_id": id_of[qid],
                    "rank": rank,
                    "corpus_id": _corpus_id(hit["segment_id"]),
                    "score": float(score),
                    "score_text": None,
                    "url": _get(seg, "url"),
                    "start": None,
                    "end": None,
                    "start_s": float(seg["start_s"]),
                    "end_s": float(seg["end_s"]),
                    "text": "" if _get(seg, "text") is None else str(seg["text"]),
                    "line": None,
                    "segment_id": hit["segment_id"],
                    "lecture_id": _get(seg, "lecture_id"),
                }
            )
    retrieved = pd.DataFrame(r_rows, columns=RETRIEVED_COLUMNS + ["segment_id", "lecture_id"])
    retrieved["rank"] = retrieved["rank"].astype(int)
    for col in ("score", "start_s", "end_s"):
        retrieved[col] = retrieved[col].astype(float)
    return questions, retrieved


def _run_numbers(qs, run_ids, q_path) -> list[int]:
    if "question_number" in qs.columns:
        numbers = []
        for qid, value in zip(run_ids, qs["question_number"]):
            if _is_missing(value):
                raise InputError(f"question {qid!r} has no question_number", path=q_path, field="question_number")
            numbers.append(int(value))
        if len(set(numbers)) != len(numbers):
            raise InputError("question_number repeats", path=q_path, field="question_number")
        return numbers
    digits = [re.search(r"(\d+)$", qid) for qid in run_ids]
    if all(digits):
        numbers = [int(m[1]) for m in digits]
        if len(set(numbers)) == len(numbers):
            return numbers
    return list(range(1, len(run_ids) + 1))


# --------------------------------------------------------------------------- statistics of the evaluation table


def stability(judgments: pd.DataFrame, *, label_map: dict) -> pd.DataFrame:
    """Per item: how the judge's score varies over repetitions, and how often the label flips.

    Returns
    -------
    pandas.DataFrame
        ``question_id, answer_source, n, mean, variance, labels, flip_rate``
        where ``flip_rate`` is the share of repetitions whose label differs
        from the item's most common label. Items judged once are left out
        (nothing to compare): with ``judge.repetitions = 1`` the table is empty.
    """
    ar = judgments[judgments["metric"] == "answer_relevance"].copy()
    ar = ar[ar.groupby(["question_id", "answer_source"])["repetition"].transform("size") > 1]
    if ar.empty:  # every item judged once (judge.repetitions = 1): nothing to compare
        return pd.DataFrame(columns=["question_id", "answer_source", "n", "mean", "variance", "labels", "flip_rate"])
    ar["label"] = _map_labels(ar["score"], label_map)

    def summarise(g):
        labels = g["label"].dropna()
        mode = labels.mode().iloc[0] if len(labels) else None
        return pd.Series({
            "n": len(g), "mean": g["score"].mean(), "variance": g["score"].var(ddof=0),
            "labels": "".join(sorted(labels)), "flip_rate": float((labels != mode).mean()) if len(labels) else np.nan,
        })

    return ar.groupby(["question_id", "answer_source"]).apply(summarise, include_groups=False).reset_index()


def metric_association(ev: pd.DataFrame, *, labels=LABELS) -> pd.DataFrame:
    """Which judge metric best predicts the human label: Spearman's rho with the label's rank.

    Each metric is compared on the units where it and a human label exist;
    ``n`` says how many, so a metric judged on few units is not over-read.
    Spearman's rho is Pearson's correlation of the ranks (ties get their mean
    rank), ``rho = cov(rank x, rank y) / (sd(rank x) sd(rank y))``
    (Spearman 1904; :func:`scipy.stats.spearmanr`); NaN with fewer than three
    units or a constant side.

    References
    ----------
    .. [1] Spearman, C. (1904). The proof and measurement of association
       between two things. *American Journal of Psychology*, 15(1), 72-101.

    Examples
    --------
    >>> ev = pd.DataFrame({"human": ["I", "P", "C", "C"], "score": [0, 1, 3, 2]})
    >>> metric_association(ev)[["metric", "spearman_rho", "n"]].round(3)
                 metric  spearman_rho  n
    0  answer_relevance         0.949  4
    """
    from scipy.stats import spearmanr

    h = ev["human"].map({label: i for i, label in enumerate(labels)})
    rows = []
    for col, name in (("correctness", "answer_correctness"), ("score", "answer_relevance"),
                      ("context_relevance", "context_relevance"),
                      ("groundedness", "groundedness"), ("top_score", "top retrieval cosine"),
                      *((b, b) for b in BASELINES)):
        if col not in ev.columns:
            continue
        ok = h.notna() & ev[col].notna()
        n = int(ok.sum())
        rho = spearmanr(ev.loc[ok, col], h[ok]).statistic if n >= 3 and ev.loc[ok, col].nunique() > 1 and h[ok].nunique() > 1 else np.nan
        rows.append({"metric": name, "spearman_rho": float(rho), "n": n})
    return pd.DataFrame(rows)


def correctness_labels(ev: pd.DataFrame, *, labels=LABELS) -> pd.Series:
    """C/P/I from the correctness judge's expected grade, with honest cut-offs.

    A labelled answer is labelled by cut-offs fitted on the *other* questions'
    labelled answers (leave one question out, :func:`helpers.calibration.cross_validated_labels`);
    an unlabelled one (a generated answer nobody labelled) by cut-offs fitted
    on every labelled answer. None where there is no grade or too few labels.
    """
    from .calibration import apply_cutoffs, cross_validated_labels, fit_cutoffs

    out = pd.Series(None, index=ev.index, dtype=object)
    if "correctness" not in ev.columns or "human" not in ev.columns:
        return out
    graded = ev["correctness"].notna()
    known = graded & ev["human"].notna()
    if known.sum() < 3 or ev.loc[known, "question_id"].nunique() < 2:
        return out
    cv = cross_validated_labels(ev.loc[known, "correctness"].to_numpy(float), ev.loc[known, "human"].to_numpy(),
                                ev.loc[known, "question_id"].to_numpy(), order=tuple(labels))
    out[known] = cv["label_cv"].to_numpy()
    rest = graded & ~known
    if rest.any():
        cut = fit_cutoffs(ev.loc[known, "correctness"].to_numpy(float), ev.loc[known, "human"].to_numpy(), order=tuple(labels))
        out[rest] = apply_cutoffs(ev.loc[rest, "correctness"].to_numpy(float), cut, order=tuple(labels))
    return out


def judge_agreement(ev: pd.DataFrame, *, judges: Mapping[str, str], labels=LABELS, statistics=None,
                    n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Each judge's labels against the human label, side by side: one block of rows per judge.

    :func:`helpers.agreement.agreement_summary` on the units with a human
    label, resampling whole questions (``question_id``) for the intervals.
    A judge whose label column is absent or empty on every labelled unit
    (answer correctness when 04 did not grade it) is left out, so the table
    holds the judges that were run.

    Parameters
    ----------
    ev : DataFrame
        The evaluation table (:func:`from_run`): ``human``, ``question_id`` and
        the judges' label columns.
    judges : mapping
        ``{judge name: label column}``, e.g. ``{"answer relevance": "judge_label"}``.
    statistics : list of str, optional
        Keep only these statistics (default: all).

    Returns
    -------
    DataFrame
        ``statistic, value, ci_low, ci_high, n, n_missing, judge``.

    Examples
    --------
    >>> ev = pd.DataFrame({"question_id": ["q1", "q2", "q3"], "human": ["C", "I", "P"],
    ...                    "judge_label": ["C", "C", "P"], "correctness_label": None})
    >>> t = judge_agreement(ev, judges={"relevance": "judge_label", "correctness": "correctness_label"},
    ...                     statistics=["raw_agreement"], n_boot=0)
    >>> t[["judge", "statistic", "value"]].round(3).values.tolist()
    [['relevance', 'raw_agreement', 0.667]]
    """
    from .agreement import agreement_summary

    labelled = ev[ev["human"].notna()]
    parts = [agreement_summary(labelled["human"], labelled[col], labels=labels, groups=labelled["question_id"],
                               n_boot=n_boot, seed=seed).assign(judge=name)
             for name, col in judges.items() if col in labelled.columns and labelled[col].notna().any()]
    columns = ["statistic", "value", "ci_low", "ci_high", "n", "n_missing", "judge"]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return out if statistics is None else out[out["statistic"].isin(statistics)].reset_index(drop=True)


def rater_agreement(ev: pd.DataFrame, *, labels=LABELS, judge: str = "judge_label") -> pd.DataFrame:
    """Every pair of raters (each human annotator and the judge) on the units both labelled.

    :func:`helpers.agreement.pairwise_agreement` over the ``annotator``'s
    ``human`` labels and the judge's ``judge`` labels (rater ``"judge"``).
    Each rater gives one label per unit (the first row's: repetition 0). With
    fewer than two annotators (only the answer bank, or one annotation file)
    there are no people to compare: an empty table with the same columns.

    Returns
    -------
    DataFrame
        ``rater_a, rater_b, statistic, value, n, n_missing``.

    Examples
    --------
    >>> ev = pd.DataFrame({"unit": ["a", "b"], "annotator": "answer bank", "human": ["C", "I"],
    ...                    "judge_label": ["C", "C"]})
    >>> len(rater_agreement(ev))
    0
    """
    from .agreement import pairwise_agreement

    # one label per rater and unit: a unit's rows repeat for each annotator and each judge repetition
    raters = pd.concat([
        ev[["unit", "annotator", "human"]].dropna(subset=["annotator"]).drop_duplicates(["unit", "annotator"])
        .rename(columns={"annotator": "rater", "human": "label"}),
        ev[["unit", judge]].drop_duplicates("unit").assign(rater="judge").rename(columns={judge: "label"}),
    ])
    if ev["annotator"].nunique() < 2:
        raters = raters.iloc[0:0]
    return pairwise_agreement(raters, rater_col="rater", unit_col="unit", label_col="label", labels=labels)
