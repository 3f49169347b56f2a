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
``retrieved`` (one row per segment); :func:`segment_lists` parses only the
segments (what :func:`helpers.transcripts.read_transcript` reads from a
record). :func:`write_records` writes the tables back byte for byte (numbers
from the literal ``*_text`` columns the reader keeps, see
:mod:`helpers.record_format`, where writing lives). A value that is not known
(no human label yet, a judge's answer that could not be parsed) is written as
``—`` and read back as missing. :func:`helpers.analysis.records_from_run`
builds the two tables from a run folder's parquet tables (also importable
from here), and :func:`write_run_records` writes them to ``<run>/records/``.
"""

from __future__ import annotations

import glob
import math
import os
import re
import unicodedata
from pathlib import Path

import pandas as pd

from .errors import InputError, decode_text
from .files import format_time
from .labels import LABELS
from .record_format import (
    _PLACEHOLDERS,
    _SEPARATOR,
    MISSING,
    QUESTION_COLUMNS,
    RETRIEVED_COLUMNS,
    _is_blank,
    _question_id,
    _strip_blank_lines,
    format_record,
    write_records,
    write_run_records,
)
from .transcripts import parse_time

__all__ = [
    "read_records",
    "segment_lists",
    "format_record",
    "write_records",
    "records_from_run",
    "write_run_records",
    "format_time",
    "QUESTION_COLUMNS",
    "RETRIEVED_COLUMNS",
    "MISSING",
]


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

_BULLET = re.compile(r"^\s*-\s*\*(?P<key>[^*]+?):\*[ \t]?(?P<value>.*)$")
# a segment's bullets, in the order a record writes them: column -> label written
_LABEL_OF_FIELD = {"corpus_id": "Corpus ID", "score": "Score", "url": "URL", "start": "Início", "end": "Fim", "text": "Transcrição"}
_SEGMENT_REQUIRED = ("corpus_id", "score", "start", "end", "text")
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


#: normalised bullet name ('inicio') -> (column, label written)
_SEGMENT_FIELDS = {_norm(label): (col, label) for col, label in _LABEL_OF_FIELD.items()}


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
        elif value.upper() in LABELS:
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
                f"segment {seg['values'].get('corpus_id', '?').strip()} lacks {', '.join(_LABEL_OF_FIELD[c] for c in missing)} "
                f"(no {', '.join(repr('*' + _LABEL_OF_FIELD[c] + ':*') for c in missing)} line)",
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


def segment_lists(text: str, path=None) -> list[dict]:
    """The segments of every segment list in ``text``, parsed as :func:`read_records` parses them.

    For a reader that wants only the segments (:func:`helpers.transcripts.read_transcript`
    reads a record as timed cues). A list starts at a segment bullet
    (``- *Corpus ID:* ...``) and runs to the next ``**Header**:`` line or the
    end of the text, so a file of bare bullets reads too.

    Returns
    -------
    list of dict
        One per segment, with the columns of ``retrieved`` (``question_id`` None).

    Raises
    ------
    InputError
        As :func:`read_records` for a segment list, naming ``path`` and the line.

    Examples
    --------
    >>> rows = segment_lists("- *Corpus ID:* 7\\n- *Score:* 0.8\\n- *Início:* 00:01:00\\n- *Fim:* 00:02:00\\n- *Transcrição:* oi\\n")
    >>> [(r["corpus_id"], r["score"], r["start_s"], r["text"]) for r in rows]
    [('7', 0.8, 60.0, 'oi')]
    """
    lines, rows, start = text.split("\n"), [], None
    for i, line in enumerate([*lines, "**end**:"]):
        bullet = _BULLET.match(line)
        if _HEADER.match(line) and start is not None:
            rows += _parse_segments(lines[start:i], start + 1, None, path)
            start = None
        elif start is None and bullet and _norm(bullet["key"]) in _SEGMENT_FIELDS:
            start = i
    return rows


def records_from_run(run_dir, *, retriever: str | None = None):
    """The record tables of a run: :func:`helpers.analysis.records_from_run` (the run adapter lives there)."""
    from .analysis import records_from_run as from_run

    return from_run(run_dir, retriever=retriever)


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


