"""Write the study's evaluation records, exactly; the parts of the format reading and writing share.

The format itself, and reading it, are in :mod:`helpers.records` (which
re-exports everything public here). :func:`format_record` writes one record
as the study did; :func:`write_records` writes a table of them (one file, or
a file per record), atomically; :func:`write_run_records` writes a run's.
Numbers are written from the literal ``*_text`` columns the reader keeps
(``score_text``, ``answer_relevance_text``, ``start``, ``end``) whenever those
still agree with the numeric columns, and otherwise formatted as the study did
(``repr`` of the score, AR with two decimals, ``HH:MM:SS``). A value that is
not known is written as :data:`MISSING` (``—``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .files import format_time, write_text
from .labels import LABELS
from .transcripts import parse_time

__all__ = ["format_record", "write_records", "write_run_records", "QUESTION_COLUMNS", "RETRIEVED_COLUMNS", "MISSING"]

QUESTION_COLUMNS = [
    "question_id",
    "question_number",
    "question",
    "retriever",
    "answer",
    "references",
    "manual_label",
    "answer_relevance",
    "answer_relevance_text",
    "automated_label",
    "reasoning",
    "source",
    "line",
]
RETRIEVED_COLUMNS = [
    "question_id",
    "rank",
    "corpus_id",
    "score",
    "score_text",
    "url",
    "start",
    "end",
    "start_s",
    "end_s",
    "text",
    "line",
]
#: What a record shows for a value that is not known; read back as missing.
MISSING = "—"
_PLACEHOLDERS = {"", "—", "–", "-", "n/a", "na", "none", "nan", "?"}
_DEFAULT_RETRIEVER = "E5"
_HIDDEN_URL = "oculto"
_SEPARATOR = "---"


def _is_blank(line: str) -> bool:
    return not line.strip()


def _strip_blank_lines(chunk: list[str]) -> list[str]:
    a, b = 0, len(chunk)
    while a < b and _is_blank(chunk[a]):
        a += 1
    while b > a and _is_blank(chunk[b - 1]):
        b -= 1
    return chunk[a:b]


def _question_id(number: int) -> str:
    return f"pergunta_{number:03d}"


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return False


def _get(row, key):
    try:
        value = row[key]
    except (KeyError, IndexError):
        return None
    return None if _is_missing(value) else value


def _text_or(value) -> str:
    if value is None:
        return MISSING
    text = str(value)
    return text if text.strip() else MISSING


def _multiline(value) -> str:
    """A free-text value as written after its header (trailing blank lines dropped, CRLF -> LF)."""
    if value is None:
        return MISSING
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(_strip_blank_lines(text.split("\n")))
    return text if text.strip() else MISSING


def _label(value, field) -> str:
    if value is None:
        return MISSING
    text = str(value).strip()
    if text.casefold() in _PLACEHOLDERS:
        return MISSING
    if text.upper() in LABELS:
        return text.upper()
    raise InputError(f"label {text!r} is not C, P, I or missing", field=field)


def _literal_or(literal, value, parse, fallback):
    """The written literal when it still reads as ``value``; else ``fallback(value)``."""
    if literal is not None and str(literal).strip():
        literal = str(literal).strip()
        if value is None:
            return literal
        try:
            if parse(literal) == float(value):
                return literal
        except (InputError, ValueError, TypeError):
            pass
    return None if value is None else fallback(value)


def _references(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [line for line in value.replace("\r\n", "\n").split("\n") if line.strip()]
    return [str(line) for line in list(value) if not _is_missing(line) and str(line).strip()]


def _corpus_id(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value).strip()


def _question_number(row) -> int:
    number = _get(row, "question_number")
    if number is not None:
        return int(number)
    qid = _get(row, "question_id")
    m = re.search(r"(\d+)$", str(qid)) if qid is not None else None
    if not m:
        raise InputError(f"cannot number question {qid!r}: give a question_number column", field="question_number")
    return int(m[1])


def _segment_block(seg) -> str:
    corpus_id = _get(seg, "corpus_id")
    if corpus_id is None:
        raise InputError("a retrieved segment has no corpus_id", field="corpus_id")
    score = _get(seg, "score")
    score_text = _literal_or(_get(seg, "score_text"), score, lambda t: float(t.replace(",", ".")), lambda v: repr(float(v)))
    if score_text is None:
        raise InputError(f"segment {corpus_id} has no score", field="score")
    times = []
    for literal_col, seconds_col in (("start", "start_s"), ("end", "end_s")):
        text = _literal_or(_get(seg, literal_col), _get(seg, seconds_col), parse_time, format_time)
        if text is None:
            raise InputError(f"segment {corpus_id} has no {seconds_col}", field=seconds_col)
        times.append(text)
    url = _get(seg, "url")
    url = _HIDDEN_URL if url is None or not str(url).strip() else str(url).strip()
    text = _get(seg, "text")
    text = "" if text is None else " ".join(str(text).splitlines())
    return (
        f"- *Corpus ID:* {_corpus_id(corpus_id)}\n"
        f"- *Score:* {score_text}\n"
        f"- *URL:* {url}\n"
        f"- *Início:* {times[0]}\n"
        f"- *Fim:* {times[1]}\n"
        f"- *Transcrição:* {text}\n"
        "\n"
    )


def format_record(question_row, retrieved_rows=None) -> str:
    """One record as Markdown text, in exactly the study's shape.

    Parameters
    ----------
    question_row : pandas.Series or dict
        A row of :func:`read_records`' ``questions`` (``question`` and
        ``question_number`` or a ``question_id`` ending in digits; the other
        columns may be missing or NaN and are then written as ``—``).
    retrieved_rows : pandas.DataFrame or list of dict, optional
        The question's segments (``corpus_id``, ``score``, ``start_s``/``start``,
        ``end_s``/``end``, ``text``, optional ``url``, ``score_text``),
        written in ``rank`` order when there is a ``rank`` column.

    Returns
    -------
    str
        The record, ending with ``"\\n\\n\\n---\\n"``.

    Raises
    ------
    InputError
        No question text or number, a segment without a score or times, a
        label that is not C/P/I.

    Examples
    --------
    >>> text = format_record({"question_number": 7, "question": "O que é dropout?"})
    >>> print(text.splitlines()[0])
    **Pergunta 7**: O que é dropout?
    >>> text.endswith("**Raciocínio (AR CoT)**: —\\n\\n\\n---\\n")
    True
    """
    number = _question_number(question_row)
    question = _get(question_row, "question")
    if question is None or not str(question).strip():
        raise InputError(f"question {number} has no text", field="question")
    retriever = _get(question_row, "retriever")
    retriever = _DEFAULT_RETRIEVER if retriever is None or not str(retriever).strip() else " ".join(str(retriever).split())

    if retrieved_rows is None:
        segments = []
    elif isinstance(retrieved_rows, pd.DataFrame):
        frame = retrieved_rows.sort_values("rank", kind="stable") if "rank" in retrieved_rows.columns else retrieved_rows
        segments = [row for _, row in frame.iterrows()]
    else:
        segments = list(retrieved_rows)
        if segments and all(isinstance(s, Mapping) and "rank" in s for s in segments):
            segments.sort(key=lambda s: s["rank"])

    ar = _get(question_row, "answer_relevance")
    ar_text = _literal_or(
        _get(question_row, "answer_relevance_text"), ar, lambda t: float(t.replace(",", ".")), lambda v: f"{float(v):.2f}"
    )
    references = "".join(f"{line}\n" for line in _references(_get(question_row, "references")))
    return (
        f"**Pergunta {number}**: {_multiline(question)}\n"
        "\n"
        f"**Segmentos recuperados pelo {retriever}**:\n"
        + "".join(_segment_block(seg) for seg in segments)
        + "\n"
        f"**Resposta gerada pelo LLM**: {_multiline(_get(question_row, 'answer'))}\n"
        "\n"
        "**Referências**:\n"
        f"{references}"
        "\n"
        f"**Anotação manual**: {_label(_get(question_row, 'manual_label'), 'manual_label')}\n"
        "\n"
        f"**Answer Relevance (AR)**: {_text_or(ar_text)}\n"
        "\n"
        f"**Anotação automatizada**: {_label(_get(question_row, 'automated_label'), 'automated_label')}\n"
        "\n"
        f"**Raciocínio (AR CoT)**: {_multiline(_get(question_row, 'reasoning'))}\n"
        "\n"
        "\n"
        f"{_SEPARATOR}\n"
    )


def write_records(questions: pd.DataFrame, retrieved: pd.DataFrame | None, path) -> list[Path]:
    """Write records: all in one file, or one file per record in a folder.

    Parameters
    ----------
    questions, retrieved : pandas.DataFrame
        As :func:`helpers.records.read_records` or :func:`helpers.analysis.records_from_run` return them
        (``retrieved`` may be None or empty: records without segments).
    path : str or os.PathLike
        A folder (an existing one, or a new path not ending in ``.md``): one
        file ``record_<question_id>.md`` per record. Otherwise one file with
        every record in ``questions`` order.

    Returns
    -------
    list of pathlib.Path
        The files written. Each is written to a temporary file first and
        moved into place, so a reader never sees half a file.

    Raises
    ------
    InputError
        A missing column, a segment whose question is not in ``questions``,
        or anything :func:`format_record` refuses.

    Examples
    --------
    >>> questions, retrieved = read_records("data/paper/*.md")  # doctest: +SKIP
    >>> write_records(questions, retrieved, "out/")  # doctest: +SKIP
    [PosixPath('out/record_pergunta_086.md'), PosixPath('out/record_pergunta_118.md')]
    """
    if "question" not in questions.columns or not {"question_id", "question_number"} & set(questions.columns):
        raise InputError("questions need columns 'question' and 'question_id' or 'question_number'", field="question")
    if "question_id" in questions.columns:
        ids = [str(q) for q in questions["question_id"]]
    else:
        ids = [_question_id(int(n)) for n in questions["question_number"]]
    by_question = {}
    if retrieved is not None and len(retrieved):
        if "question_id" not in retrieved.columns:
            raise InputError("retrieved segments need a 'question_id' column", field="question_id")
        keys = retrieved["question_id"].astype(str)
        unknown = sorted(set(keys) - set(ids))
        if unknown:
            raise InputError(f"retrieved segments for questions not in the question table: {unknown[:5]}", field="question_id")
        by_question = {qid: group for qid, group in retrieved.groupby(keys, sort=False)}

    texts = []
    for qid, (_, row) in zip(ids, questions.iterrows()):
        try:
            texts.append((qid, format_record(row, by_question.get(qid))))
        except InputError as err:
            raise InputError(f"question {qid}: {err.message}", field=err.field) from None

    path = Path(path)
    if path.is_dir() or (not path.exists() and path.suffix.lower() != ".md"):
        names = [f"record_{qid}.md" for qid, _ in texts]
        if len(set(names)) != len(names):
            raise InputError("two records have the same question_id", field="question_id")
        written = []
        for name, (_, text) in zip(names, texts):
            write_text(path / name, text)
            written.append(path / name)
        return written
    write_text(path, "".join(text for _, text in texts))
    return [path]



def write_run_records(run_dir, *, retriever: str | None = None) -> list[Path]:
    """Write one record per question of a run to ``<run_dir>/records/`` (:func:`helpers.analysis.records_from_run`).

    Examples
    --------
    >>> write_run_records("data/runs/sample")  # doctest: +SKIP
    [PosixPath('data/runs/sample/records/record_pergunta_001.md'), ...]
    """
    from .analysis import records_from_run

    run_dir = Path(run_dir)
    return write_records(*records_from_run(run_dir, retriever=retriever), run_dir / "records")
