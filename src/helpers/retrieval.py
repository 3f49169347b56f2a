"""Questions, top-k retrieval, and how good the retrieval was.

A question file (CSV) has columns ``question_id``, ``question`` and,
optionally, ``reference_answer`` and ``gold_spans`` or ``gold_segment_ids``.
``gold_spans`` says where in the lectures the answer is spoken::

    aula01_cnn_unet 00:10:05-00:10:32; aula01_cnn_unet 00:14:40-00:14:58

A segment is *relevant* to a gold span when it lies over at least half of the
span (or over ``min_overlap_s`` seconds of it, whichever is less). A question
with no gold span is one the lectures do not answer: it is kept, and left out
of recall and MRR.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, decode_text, read_csv_rows
from .index import search
from .labels import LABELS

__all__ = [
    "read_questions",
    "read_answer_bank",
    "parse_gold_spans",
    "retrieve",
    "relevant_segments",
    "retrieval_metrics",
    "summarise_metrics",
    "study_retrievals",
]

_SPAN = re.compile(r"^\s*(?P<lecture>\S+)\s+(?P<start>[\d:.,]+)\s*-\s*(?P<end>[\d:.,]+)\s*$")


def parse_gold_spans(value, *, path=None, line=None) -> list[tuple[str, float, float]]:
    """Parse a ``gold_spans`` cell into ``[(lecture_id, start_s, end_s), ...]``.

    Examples
    --------
    >>> parse_gold_spans("aula01 00:01:00-00:01:30; aula02 00:10:00.5-00:10:20")
    [('aula01', 60.0, 90.0), ('aula02', 600.5, 620.0)]
    >>> parse_gold_spans("")
    []
    """
    from .transcripts import parse_time

    if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip():
        return []
    spans = []
    for part in str(value).split(";"):
        if not part.strip():
            continue
        m = _SPAN.match(part)
        if not m:
            raise InputError(
                f"cannot read gold span {part.strip()!r}; expected 'LECTURE HH:MM:SS-HH:MM:SS'",
                path=path,
                line=line,
                field="gold_spans",
            )
        start = parse_time(m["start"], path=path, line=line, field="gold_spans")
        end = parse_time(m["end"], path=path, line=line, field="gold_spans")
        if end < start:
            raise InputError(f"gold span {part.strip()!r} ends before it starts", path=path, line=line, field="gold_spans")
        spans.append((m["lecture"], start, end))
    return spans


def _read_csv(path, not_found: str) -> tuple[pd.DataFrame, list[int]]:
    """A UTF-8 CSV file as a frame of strings (as ``pd.read_csv(dtype=str, keep_default_na=False)``) and each row's line."""
    if not Path(path).is_file():
        raise InputError(not_found, path=path)
    header, rows = read_csv_rows(decode_text(Path(path).read_bytes(), path), path)
    return pd.DataFrame([cells for _, cells in rows], columns=header, dtype=object), [line for line, _ in rows]


def read_questions(path) -> pd.DataFrame:
    """Read a question file (CSV, UTF-8).

    Returns
    -------
    pandas.DataFrame
        ``question_id`` (str), ``question``, ``reference_answer`` (may be
        empty), ``gold_spans`` (list of tuples), ``gold_segment_ids`` (list of str).

    Raises
    ------
    InputError
        Missing file or column, empty or duplicated ``question_id``, empty
        question, unreadable gold span; the message names file, line and field.

    Examples
    --------
    >>> qs = read_questions("data/sample/questions.csv")  # doctest: +SKIP
    """
    df, lines = _read_csv(path, "question file not found")
    for col in ("question_id", "question"):
        if col not in df.columns:
            raise InputError(f"missing column (found: {', '.join(df.columns)})", path=path, field=col)
    if df.empty:
        raise InputError("no questions", path=path)
    for col in ("reference_answer", "gold_spans", "gold_segment_ids"):
        if col not in df.columns:
            df[col] = ""
    seen = {}
    spans, seg_ids = [], []
    for line, (_, row) in zip(lines, df.iterrows()):
        qid = row["question_id"].strip()
        if not qid:
            raise InputError("empty question_id", path=path, line=line, field="question_id")
        if qid in seen:
            raise InputError(f"question_id {qid!r} repeats line {seen[qid]}", path=path, line=line, field="question_id")
        seen[qid] = line
        if not row["question"].strip():
            raise InputError("empty question", path=path, line=line, field="question")
        spans.append(parse_gold_spans(row["gold_spans"], path=path, line=line))
        seg_ids.append([s.strip() for s in re.split(r"[;,\s]+", row["gold_segment_ids"]) if s.strip()])
    df["question_id"] = df["question_id"].str.strip()
    df["gold_spans"] = spans
    df["gold_segment_ids"] = seg_ids
    return df.reset_index(drop=True)


def read_answer_bank(path, *, questions: pd.DataFrame | None = None, labels=LABELS, labelled: bool = True) -> pd.DataFrame:
    """Read an answer bank: answers written and labelled by people, for judging the judge.

    Parameters
    ----------
    path : str or os.PathLike
        CSV with ``question_id, answer_source, answer, label`` (UTF-8).
    questions : pandas.DataFrame, optional
        When given, every ``question_id`` must be one of its questions.
    labels : tuple of str
        The allowed labels.
    labelled : bool
        False reads answers to grade that may have no label: ``label`` may be
        missing or empty (a label given must still be one of ``labels``), and
        ``answer_source`` may be missing (it becomes ``line<N>``).

    Returns
    -------
    pandas.DataFrame
        The rows, with ``line`` (the CSV line of each answer).

    Raises
    ------
    InputError
        Missing file or column, empty answer, unknown label or question id,
        a repeated ``(question_id, answer_source)``; names file, line, field.

    Examples
    --------
    >>> bank = read_answer_bank("data/sample/answer_bank.csv")  # doctest: +SKIP
    >>> bank["label"].value_counts().to_dict()  # doctest: +SKIP
    {'C': 28, 'P': 28, 'I': 28}
    """
    df, lines = _read_csv(path, "answer bank not found")
    if not labelled:
        df["label"] = df["label"] if "label" in df.columns else ""
        df["answer_source"] = df["answer_source"] if "answer_source" in df.columns else [f"line{n}" for n in lines]
    for col in ("question_id", "answer_source", "answer", "label"):
        if col not in df.columns:
            raise InputError(f"missing column (found: {', '.join(df.columns)})", path=path, field=col)
    known = set(questions["question_id"]) if questions is not None else None
    seen = {}
    for line, (_, row) in zip(lines, df.iterrows()):
        for col in ("question_id", "answer_source", "answer"):
            if not row[col].strip():
                raise InputError(f"empty {col}", path=path, line=line, field=col)
        if row["label"].strip() not in labels and (labelled or row["label"].strip()):
            raise InputError(f"label {row['label']!r} is not one of {', '.join(labels)}", path=path, line=line, field="label")
        if known is not None and row["question_id"].strip() not in known:
            raise InputError(f"question_id {row['question_id']!r} is not in the question file", path=path, line=line, field="question_id")
        key = (row["question_id"].strip(), row["answer_source"].strip())
        if key in seen:
            raise InputError(f"{key} repeats line {seen[key]}", path=path, line=line, field="answer_source")
        seen[key] = line
    df = df.apply(lambda c: c.str.strip())
    df["line"] = np.asarray(lines, dtype=np.int64)
    return df


def retrieve(index, query_vectors: np.ndarray, question_ids, segments: pd.DataFrame, top_k: int = 10) -> pd.DataFrame:
    """Search the index for each question.

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per question and rank, columns ``question_id, rank,
        segment_id, score`` (rank 1 is the best).

    Examples
    --------
    >>> rets = retrieve(index, qvecs, questions.question_id, segments, top_k=10)  # doctest: +SKIP
    """
    scores, ids = search(index, query_vectors, top_k)
    seg_ids = segments["segment_id"].to_numpy()
    rows = []
    for qid, srow, irow in zip(question_ids, scores, ids):
        for rank, (score, i) in enumerate(zip(srow, irow), start=1):
            if i < 0:
                continue
            rows.append({"question_id": qid, "rank": rank, "segment_id": seg_ids[i], "score": float(score)})
    return pd.DataFrame(rows, columns=["question_id", "rank", "segment_id", "score"])


def relevant_segments(questions: pd.DataFrame, segments: pd.DataFrame, *, min_overlap_s: float = 10.0) -> dict[str, list[set]]:
    """For each question, one set of relevant segment ids per gold span.

    Explicit ``gold_segment_ids`` count as one span each.

    Examples
    --------
    >>> segs = pd.DataFrame({"segment_id": ["a-0", "a-1"], "lecture_id": ["a", "a"],
    ...                      "start_s": [0.0, 120.0], "end_s": [160.0, 280.0]})
    >>> qs = pd.DataFrame({"question_id": ["q1"], "gold_spans": [[("a", 130.0, 150.0)]],
    ...                    "gold_segment_ids": [[]]})
    >>> relevant_segments(qs, segs)
    {'q1': [{'a-0', 'a-1'}]}
    """
    out = {}
    for q in questions.itertuples(index=False):
        sets = []
        for lecture, start, end in q.gold_spans:
            lec = segments[segments["lecture_id"] == lecture]
            overlap = np.minimum(lec["end_s"], end) - np.maximum(lec["start_s"], start)
            need = min(min_overlap_s, 0.5 * (end - start)) if end > start else 0.0
            hit = lec.loc[overlap >= max(need, 1e-9) if end > start else (lec["start_s"] <= start) & (lec["end_s"] >= end), "segment_id"]
            sets.append(set(hit))
        sets.extend({s} for s in q.gold_segment_ids)
        out[q.question_id] = sets
    return out


def retrieval_metrics(retrievals: pd.DataFrame, questions: pd.DataFrame, segments: pd.DataFrame, *, ks=(1, 3, 5, 10)) -> pd.DataFrame:
    """Recall@k and reciprocal rank per question.

    ``recall@k`` is the share of a question's gold spans covered by at least
    one of its top-k segments; ``rr`` is 1 / the rank of the first relevant
    segment (0 if none is retrieved). Questions without gold spans get NaN
    and ``answerable=False``.

    Returns
    -------
    pandas.DataFrame
        One row per question: ``question_id, answerable, n_gold_spans,
        first_relevant_rank, rr, recall@1, ...``.
    """
    rel = relevant_segments(questions, segments)
    rows = []
    for qid, sets in rel.items():
        ranked = retrievals[retrievals["question_id"] == qid].sort_values("rank")
        ids = ranked["segment_id"].tolist()
        row = {"question_id": qid, "answerable": bool(sets), "n_gold_spans": len(sets)}
        if sets:
            union = set().union(*sets)
            first = next((r for r, s in enumerate(ids, start=1) if s in union), None)
            row["first_relevant_rank"] = first
            row["rr"] = 0.0 if first is None else 1.0 / first
            for k in ks:
                top = set(ids[:k])
                row[f"recall@{k}"] = sum(bool(s & top) for s in sets) / len(sets)
        else:
            row["first_relevant_rank"] = None
            row["rr"] = np.nan
            for k in ks:
                row[f"recall@{k}"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def summarise_metrics(metrics: pd.DataFrame) -> pd.Series:
    """Mean recall@k and MRR over answerable questions, with their count."""
    ans = metrics[metrics["answerable"]]
    cols = [c for c in metrics.columns if c.startswith("recall@")] + ["rr"]
    out = ans[cols].mean().rename({"rr": "MRR"})
    out["n_answerable"] = len(ans)
    out["n_questions"] = len(metrics)
    return out


def select_questions(questions: pd.DataFrame, question_ids=()) -> pd.DataFrame:
    """The rows of ``questions`` whose id is in ``question_ids`` (all of them when it is empty), in file order.

    Raises
    ------
    InputError
        An id not in the question file (field ``question_ids``).

    Examples
    --------
    >>> qs = pd.DataFrame({"question_id": ["q1", "q2"], "question": ["a?", "b?"]})
    >>> select_questions(qs, ["q2"])["question_id"].tolist()
    ['q2']
    """
    if not len(question_ids):
        return questions.reset_index(drop=True)
    unknown = sorted(set(map(str, question_ids)) - set(questions["question_id"]))
    if unknown:
        raise InputError(f"not in the question file: {', '.join(unknown)}", field="question_ids")
    return questions[questions["question_id"].isin(list(map(str, question_ids)))].reset_index(drop=True)


def study_retrievals(paths) -> pd.DataFrame:
    """The study's retrieved segments and their cosines, read from its records: one row per question and rank.

    Each record file (``data/paper/*.md``) holds one study question and its
    ten retrieved segments in rank order; the question is named ``study N``
    after the file's last ``_``-separated part, and ``rank`` counts from 1.
    No paths (``[]``) give an empty table with the key columns, so a notebook
    can draw "no reference" without a branch.

    Parameters
    ----------
    paths : str or list of str
        Record files or glob patterns (:func:`helpers.segments.expand_paths`;
        a pattern that matches nothing is an error).

    Returns
    -------
    DataFrame
        ``question_id, rank, score`` and the cues' ``start_s, end_s, text,
        corpus_id, ...`` (:func:`helpers.transcripts.read_transcript`).

    Examples
    --------
    >>> study_retrievals([]).columns.tolist()
    ['question_id', 'rank', 'score']
    >>> study_retrievals(["data/paper/*.md"]).groupby("question_id")["rank"].max().tolist()  # doctest: +SKIP
    [10, 10]
    """
    from .segments import expand_paths
    from .transcripts import read_transcript

    files = expand_paths(paths) if len(paths) else []
    frames = [read_transcript(f).assign(question_id=f"study {f.stem.rsplit('_', 1)[-1]}",
                                        rank=lambda d: range(1, len(d) + 1)) for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["question_id", "rank", "score"])
