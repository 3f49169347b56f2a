"""Read and write the study's evaluation records (Markdown), exactly.

A record is one question, the segments the retriever returned for it, the
LLM's answer, the human label and the LLM judge's *Answer Relevance* (AR)
score with its reasoning. The study's records look like this (``…`` stands
for the rest of a line; ``⏎`` marks a blank line, and blank lines matter)::

    **Pergunta 86**: Por que a rede U-Net não pode ser construída com um …
    ⏎
    **Segmentos recuperados pelo E5**:
    - *Corpus ID:* 7959
    - *Score:* 0.8566197156906128
    - *URL:* oculto
    - *Início:* 00:08:00
    - *Fim:* 00:10:41
    - *Transcrição:* é exatamente o cara que vai ser concatenado …
    ⏎
    - *Corpus ID:* 7960          (… ten segments, each followed by a blank line)
    …
    ⏎
    **Resposta gerada pelo LLM**: Porque existem atalhos de concatenação.
    ⏎
    **Referências**:
    - [Vídeo de referência oculto]()
    ⏎
    **Anotação manual**: C
    ⏎
    **Answer Relevance (AR)**: 0.33
    ⏎
    **Anotação automatizada**: P
    ⏎
    **Raciocínio (AR CoT)**: Criteria: … comprehensively.  Score: 1
    ⏎
    ⏎
    ---

and the file ends with a newline after ``---``. A file may hold several
records one after another (each ends with its ``---`` line).

:func:`read_records` gives two tables, ``questions`` (one row per record) and
``retrieved`` (one row per segment); :func:`write_records` writes them back
byte for byte: numbers are written from the literal ``*_text`` columns the
reader keeps (``score_text``, ``answer_relevance_text``, ``start``, ``end``)
whenever those still agree with the numeric columns, and otherwise formatted
as the study did (``repr`` of the score, AR with two decimals, ``HH:MM:SS``).
A value that is not known (no human label yet, a judge's answer that could
not be parsed) is written as ``—`` and read back as missing.
:func:`records_from_run` builds the two tables from a run folder's parquet
tables, and :func:`write_run_records` writes them to ``<run>/records/``.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, decode_text
from .transcripts import parse_time

__all__ = [
    "read_records",
    "format_record",
    "write_records",
    "records_from_run",
    "write_run_records",
    "format_time",
    "QUESTION_COLUMNS",
    "RETRIEVED_COLUMNS",
    "MISSING",
]

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
_LABELS = ("C", "P", "I")
_LABEL_WORDS = {
    "c": "C", "correct": "C", "correto": "C", "correta": "C",
    "p": "P", "partial": "P", "partially correct": "P", "parcial": "P", "parcialmente correto": "P",
    "parcialmente correta": "P",
    "i": "I", "incorrect": "I", "incorreto": "I", "incorreta": "I", "wrong": "I",
}
_DEFAULT_RETRIEVER = "E5"
_HIDDEN_URL = "oculto"

# Section headers, in the order a record has them: (key, label written, normalised name).
_SECTIONS = [
    ("question", "Pergunta", None),
    ("segments", "Segmentos", None),
    ("answer", "Resposta gerada pelo LLM", "resposta gerada pelo llm"),
    ("references", "Referências", "referencias"),
    ("manual_label", "Anotação manual", "anotacao manual"),
    ("answer_relevance", "Answer Relevance (AR)", "answer relevance (ar)"),
    ("automated_label", "Anotação automatizada", "anotacao automatizada"),
    ("reasoning", "Raciocínio (AR CoT)", "raciocinio (ar cot)"),
]
_ORDER = {key: i for i, (key, _, _) in enumerate(_SECTIONS)}
_LABEL_OF = {key: label for key, label, _ in _SECTIONS}
_HEADER = re.compile(r"^\*\*(?P<name>[^*]+?)(?::\*\*|\*\*:)[ \t]?(?P<value>.*)$")
_QUESTION_NAME = re.compile(r"^pergunta\s+(?P<n>\d+)$")
_SEGMENTS_NAME = re.compile(r"^segmentos recuperados pelo\s+(?P<who>.+)$")
_SEPARATOR = "---"

_BULLET = re.compile(r"^\s*-\s*\*(?P<key>[^*]+?):\*[ \t]?(?P<value>.*)$")
_SEGMENT_FIELDS = {  # normalised bullet name -> (column, label written)
    "corpus id": ("corpus_id", "Corpus ID"),
    "score": ("score", "Score"),
    "url": ("url", "URL"),
    "inicio": ("start", "Início"),
    "fim": ("end", "Fim"),
    "transcricao": ("text", "Transcrição"),
}
_SEGMENT_REQUIRED = ("corpus_id", "score", "start", "end", "text")
_LABEL_OF_FIELD = {col: label for col, label in _SEGMENT_FIELDS.values()}
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$")


# --------------------------------------------------------------------------- reading


def read_records(paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read study records (``.md``) into a table of questions and one of retrieved segments.

    Parameters
    ----------
    paths : str, os.PathLike or list of them
        A file, a folder (its ``*.md`` files), a glob pattern such as
        ``"data/paper/*.md"``, or a list of any of these. A file may hold one
        record or several, each ending with a ``---`` line.

    Returns
    -------
    questions : pandas.DataFrame
        One row per record, in file order: ``question_id`` (``"pergunta_086"``),
        ``question_number`` (86), ``question``, ``retriever`` (``"E5"``),
        ``answer``, ``references`` (list of the block's lines, as written),
        ``manual_label`` and ``automated_label`` (``"C"``, ``"P"``, ``"I"`` or
        None), ``answer_relevance`` (float, NaN if unknown),
        ``answer_relevance_text`` (as written, e.g. ``"0.33"``), ``reasoning``,
        ``source`` (the file) and ``line`` (where the record starts).
    retrieved : pandas.DataFrame
        One row per segment: ``question_id, rank`` (1-based), ``corpus_id``
        (str), ``score`` (float), ``score_text``, ``url``, ``start``, ``end``
        (as written, e.g. ``"00:08:00"``), ``start_s``, ``end_s`` (seconds),
        ``text`` and ``line``.

    Raises
    ------
    InputError
        No file found, bytes that are not UTF-8, a missing or out-of-order
        section, a segment without one of its fields, a score, time or AR that
        is not a number, an unknown label, a question number seen twice. The
        message names the file, the line and the field.

    Examples
    --------
    >>> questions, retrieved = read_records("data/paper/*.md")  # doctest: +SKIP
    >>> questions[["question_id", "manual_label", "answer_relevance"]]  # doctest: +SKIP
        question_id manual_label  answer_relevance
    0  pergunta_086            C              0.33
    1  pergunta_118            C              1.00
    """
    questions, retrieved, seen = [], [], {}
    for path in _expand(paths):
        lines = _read_text(path).split("\n")
        for start, stop in _split_records(lines, path):
            q, segs = _parse_record(lines, start, stop, path)
            if q["question_id"] in seen:
                raise InputError(
                    f"question {q['question_number']} appears twice (first at {seen[q['question_id']]})",
                    path=path,
                    line=q["line"],
                    field="Pergunta",
                )
            seen[q["question_id"]] = f"{path}, line {q['line']}"
            questions.append(q)
            retrieved.extend(segs)
    if not questions:
        raise InputError("no records found ('**Pergunta N**: ...')", path=_describe(paths))
    return _questions_frame(questions), _retrieved_frame(retrieved)


def _describe(paths):
    if isinstance(paths, (str, os.PathLike)):
        return paths
    return ", ".join(str(p) for p in paths)


def _expand(paths) -> list[Path]:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise InputError("no record files given")
    files = []
    for item in items:
        text = str(item)
        if Path(text).is_file():
            files.append(Path(text))
        elif Path(text).is_dir():
            found = sorted(Path(text).glob("*.md"))
            if not found:
                raise InputError("folder holds no .md records", path=text)
            files.extend(found)
        elif isinstance(item, str) and glob.has_magic(text):
            matches = sorted(m for m in glob.glob(text, recursive=True) if Path(m).is_file())
            if not matches:
                raise InputError("no file matches this pattern", path=text)
            files.extend(Path(m) for m in matches)
        else:
            raise InputError("file not found", path=text)
    return files


def _read_text(path: Path) -> str:
    return decode_text(path.read_bytes(), path)


def _norm(name: str) -> str:
    """Header/bullet name without accents, case or extra spaces: 'Anotação  Manual' -> 'anotacao manual'."""
    decomposed = unicodedata.normalize("NFKD", name)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def _section_of(line: str):
    """``(key, extra, value)`` if ``line`` is a section header, else None."""
    m = _HEADER.match(line)
    if not m:
        return None
    name = _norm(m["name"])
    q = _QUESTION_NAME.match(name)
    if q:
        return "question", q["n"], m["value"]  # the digits; _parse_record checks their size
    s = _SEGMENTS_NAME.match(name)
    if s:
        return "segments", " ".join(m["name"].split()[3:]), m["value"]
    for key, _, normalised in _SECTIONS[2:]:
        if name == normalised or (key in ("answer_relevance", "reasoning") and name == normalised.split(" (")[0]):
            return key, None, m["value"]
    return None


def _is_blank(line: str) -> bool:
    return not line.strip()


def _next_content(lines, i):
    while i < len(lines) and _is_blank(lines[i]):
        i += 1
    return i


def _split_records(lines, path):
    """``[(first, stop), ...]`` 0-based line ranges of the records in a file.

    A record starts with '**Pergunta N**:' at the top of the file or after a
    '---' line, and ends with a '---' line followed only by blank lines and
    the next record (or the end of the file). A '---' inside a reasoning
    followed by more text is text.
    """
    ranges = []
    i = _next_content(lines, 0)
    while i < len(lines):
        found = _section_of(lines[i])
        if not found or found[0] != "question":
            raise InputError(
                f"expected a record starting with '**Pergunta N**: ...', got {lines[i][:60]!r}",
                path=path,
                line=i + 1,
                field="Pergunta",
            )
        start, stop, after = i, len(lines), len(lines)
        for j in range(i + 1, len(lines)):
            if lines[j].strip() == _SEPARATOR:
                k = _next_content(lines, j + 1)
                nxt = _section_of(lines[k]) if k < len(lines) else None
                if k == len(lines) or (nxt and nxt[0] == "question"):
                    stop, after = j, k
                    break
        ranges.append((start, stop))
        i = after
    return ranges


def _strip_blank_lines(chunk: list[str]) -> list[str]:
    a, b = 0, len(chunk)
    while a < b and _is_blank(chunk[a]):
        a += 1
    while b > a and _is_blank(chunk[b - 1]):
        b -= 1
    return chunk[a:b]


def _parse_record(lines, start, stop, path):
    """Parse lines[start:stop] (one record) into a question dict and its segment dicts."""
    found = {}  # key -> (line index, extra, [value lines])
    current = None
    for i in range(start, stop):
        section = _section_of(lines[i])
        expected = 0 if current is None else _ORDER[current] + 1
        if section and _ORDER[section[0]] >= expected and not (current == "reasoning"):
            key = section[0]
            if _ORDER[key] > expected:
                missing = _SECTIONS[expected]
                raise InputError(
                    f"record has no '**{_header_label(missing[0])}**:' section (expected before line {i + 1})",
                    path=path,
                    line=start + 1,
                    field=missing[1],
                )
            found[key] = (i, section[1], [section[2]])
            current = key
        elif current is None:  # pragma: no cover - _split_records starts every record on its header
            raise InputError("text before the record's '**Pergunta N**:' line", path=path, line=i + 1)
        else:
            found[current][2].append(lines[i])
    for key, label, _ in _SECTIONS:
        if key not in found:
            raise InputError(
                f"record has no '**{_header_label(key)}**:' section", path=path, line=start + 1, field=label
            )

    digits = found["question"][1]
    if len(digits.lstrip("0")) > 15:  # int() refuses thousands of digits; tables hold 64-bit numbers
        raise InputError(f"question number {digits[:20]}... is too large", path=path, line=start + 1, field="Pergunta")
    number = int(digits)
    qid = _question_id(number)
    q = {
        "question_id": qid,
        "question_number": number,
        "question": "\n".join(_strip_blank_lines(found["question"][2])),
        "retriever": found["segments"][1],
        "source": str(path),
        "line": start + 1,
    }
    if not q["question"].strip():
        raise InputError("the question is empty", path=path, line=start + 1, field="Pergunta")

    seg_line, _, seg_lines = found["segments"]
    if seg_lines[0].strip():
        raise InputError(
            "the segment list starts on the line after its header", path=path, line=seg_line + 1, field="Segmentos"
        )
    segments = _parse_segments(seg_lines[1:], seg_line + 2, qid, path)

    for key in ("answer", "reasoning"):
        value = "\n".join(_strip_blank_lines(found[key][2]))
        q[key] = None if value.strip() in ("", MISSING) else value
    ref_line, _, ref_lines = found["references"]
    q["references"] = [line for line in ref_lines if line.strip()]

    for key in ("manual_label", "automated_label"):
        line_no, _, value_lines = found[key]
        value = _single_value(value_lines, path, line_no + 1, _LABEL_OF[key])
        if value.casefold() in _PLACEHOLDERS:
            q[key] = None
        elif value.upper() in _LABELS:
            q[key] = value.upper()
        else:
            raise InputError(
                f"label {value!r} is not C (correct), P (partial), I (incorrect) or {MISSING} (unknown)",
                path=path,
                line=line_no + 1,
                field=_LABEL_OF[key],
            )

    line_no, _, value_lines = found["answer_relevance"]
    value = _single_value(value_lines, path, line_no + 1, _LABEL_OF["answer_relevance"])
    if value.casefold() in _PLACEHOLDERS:
        q["answer_relevance"], q["answer_relevance_text"] = math.nan, None
    else:
        ar = _number(value)
        if ar is None:
            raise InputError(
                f"answer relevance {value!r} is not a number", path=path, line=line_no + 1, field=_LABEL_OF["answer_relevance"]
            )
        if not 0.0 <= ar <= 1.0:
            raise InputError(
                f"answer relevance {value!r} is outside 0-1 (it is the judge's 0-3 score divided by 3)",
                path=path,
                line=line_no + 1,
                field=_LABEL_OF["answer_relevance"],
            )
        q["answer_relevance"], q["answer_relevance_text"] = ar, value
    return q, segments


def _header_label(key):
    return "Pergunta N" if key == "question" else ("Segmentos recuperados pelo E5" if key == "segments" else _LABEL_OF[key])


def _question_id(number: int) -> str:
    return f"pergunta_{number:03d}"


def _single_value(value_lines, path, line, field):
    kept = _strip_blank_lines(value_lines)
    if len(kept) > 1:
        raise InputError(f"expected one value on the header's line, got {len(kept)} lines", path=path, line=line, field=field)
    return kept[0].strip() if kept else ""


def _number(text: str):
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    value = float(text.replace(",", "."))
    return value if math.isfinite(value) else None


def _parse_segments(lines, first_line, qid, path):
    segments, current, last = [], None, None

    def finish(seg):
        missing = [c for c in _SEGMENT_REQUIRED if c not in seg["values"]]
        if missing:
            raise InputError(
                f"segment {seg['values'].get('corpus_id', '?').strip()} has no "
                f"{', '.join(repr('*' + _LABEL_OF_FIELD[c] + ':*') for c in missing)} line",
                path=path,
                line=seg["line"],
                field=_LABEL_OF_FIELD[missing[0]],
            )
        values, at = seg["values"], seg["lines"]
        score_text = values["score"].strip()
        score = _number(score_text)
        if score is None:
            raise InputError(f"score {score_text!r} is not a number", path=path, line=at["score"], field="Score")
        start_text, end_text = values["start"].strip(), values["end"].strip()
        start_s = parse_time(start_text, path=path, line=at["start"], field="Início")
        end_s = parse_time(end_text, path=path, line=at["end"], field="Fim")
        if end_s < start_s:
            raise InputError(f"segment ends ({end_text}) before it starts ({start_text})", path=path, line=at["end"], field="Fim")
        corpus_id = values["corpus_id"].strip()
        if not corpus_id:
            raise InputError("empty corpus id", path=path, line=at["corpus_id"], field="Corpus ID")
        segments.append(
            {
                "question_id": qid,
                "rank": len(segments) + 1,
                "corpus_id": corpus_id,
                "score": score,
                "score_text": score_text,
                "url": values["url"].strip() if "url" in values else None,
                "start": start_text,
                "end": end_text,
                "start_s": start_s,
                "end_s": end_s,
                "text": values["text"],
                "line": seg["line"],
            }
        )

    for offset, line in enumerate(lines):
        number = first_line + offset
        m = _BULLET.match(line)
        if m:
            name = _norm(m["key"])
            if name not in _SEGMENT_FIELDS:
                raise InputError(
                    f"unknown segment field '*{m['key']}:*'; expected one of "
                    f"{', '.join(label for _, label in _SEGMENT_FIELDS.values())}",
                    path=path,
                    line=number,
                    field=m["key"].strip(),
                )
            column, label = _SEGMENT_FIELDS[name]
            if column == "corpus_id":
                if current is not None:
                    finish(current)
                current = {"line": number, "values": {}, "lines": {}}
            elif current is None:
                raise InputError(f"'*{label}:*' before any '*Corpus ID:*'", path=path, line=number, field=label)
            elif column in current["values"]:
                raise InputError(
                    f"segment has a second '*{label}:*' line (a '*Corpus ID:*' line missing?)", path=path, line=number, field=label
                )
            current["values"][column] = m["value"]
            current["lines"][column] = number
            last = column
        elif _is_blank(line):
            last = None
        elif current is not None and last == "text":
            current["values"]["text"] += " " + line.strip()  # a transcription wrapped over several lines
        else:
            raise InputError(
                f"unexpected line in the segment list: {line[:60]!r} (expected '- *Field:* value' bullets)",
                path=path,
                line=number,
                field="Segmentos",
            )
    if current is not None:
        finish(current)
    return segments


def _questions_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=QUESTION_COLUMNS)
    frame["question_number"] = frame["question_number"].astype(int)
    frame["answer_relevance"] = frame["answer_relevance"].astype(float)
    frame["line"] = frame["line"].astype(int)
    return frame


def _retrieved_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=RETRIEVED_COLUMNS)
    frame["rank"] = frame["rank"].astype(int)
    for col in ("score", "start_s", "end_s"):
        frame[col] = frame[col].astype(float)
    frame["line"] = frame["line"].astype(int)
    return frame


# --------------------------------------------------------------------------- writing


def format_time(seconds) -> str:
    """Seconds as the records write them: ``HH:MM:SS``, with ``.mmm`` only when not whole.

    Examples
    --------
    >>> format_time(480)
    '00:08:00'
    >>> format_time(5136.0)
    '01:25:36'
    >>> format_time(7.8675)
    '00:00:07.868'
    """
    ms = int(round(float(seconds) * 1000))
    if ms < 0:
        raise InputError(f"time must not be negative, got {seconds!r}", field="start_s")
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}" + (f".{ms:03d}" if ms else "")


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
    if text.upper() in _LABELS:
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
    ar_text = _literal_or(_get(question_row, "answer_relevance_text"), ar, lambda t: float(t.replace(",", ".")), lambda v: f"{float(v):.2f}")
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


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_records(questions: pd.DataFrame, retrieved: pd.DataFrame | None, path) -> list[Path]:
    """Write records: all in one file, or one file per record in a folder.

    Parameters
    ----------
    questions, retrieved : pandas.DataFrame
        As :func:`read_records` or :func:`records_from_run` return them
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
            _write_atomic(path / name, text)
            written.append(path / name)
        return written
    _write_atomic(path, "".join(text for _, text in texts))
    return [path]


# --------------------------------------------------------------------------- from a run


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
    if text in _LABEL_WORDS:
        return _LABEL_WORDS[text]
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
        The tables :func:`read_records` returns (``source`` and ``line`` empty;
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


def write_run_records(run_dir, *, retriever: str | None = None) -> list[Path]:
    """Write one record per question of a run to ``<run_dir>/records/``.

    Examples
    --------
    >>> write_run_records("data/runs/sample")  # doctest: +SKIP
    [PosixPath('data/runs/sample/records/record_pergunta_001.md'), ...]
    """
    run_dir = Path(run_dir)
    return write_records(*records_from_run(run_dir, retriever=retriever), run_dir / "records")
