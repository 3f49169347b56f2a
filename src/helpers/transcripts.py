"""Read timed lecture transcripts into one tidy table of cues.

Every reader returns the same frame: one row per cue with ``start_s``,
``end_s`` (seconds, floats), ``text`` and ``line`` (the 1-based line of the
file the cue starts on, so later errors can point back to it), plus
``speaker`` where the format names one (WebVTT ``<v Name>``, a ``speaker``
column). Study records (``.md``) also give ``corpus_id``, ``score`` and
``url`` per segment. ``frame.attrs`` holds ``path``, ``format`` and ``tier``.

Formats, chosen by file suffix unless ``format=`` is given:

========== ============================ ============================================
format     suffixes                     notes
========== ============================ ============================================
vtt        .vtt                         NOTE/STYLE/REGION blocks, cue settings, tags
srt        .srt
json       .json                        a list of cues, or ``{"segments": [...]}``
jsonl      .jsonl, .ndjson              one cue object per line
csv        .csv, .tsv                   columns ``start``, ``end``, ``text``
textgrid   .textgrid                    Praat long or short text format; ``tier=``
record     .md                          the study's evaluation records
========== ============================ ============================================

Times may be seconds (``12.5``) or clock times (``HH:MM:SS``,
``HH:MM:SS.mmm``, ``HH:MM:SS,mmm``, ``MM:SS.mmm``). A UTF-8 byte-order mark
and CRLF line ends are accepted. Anything else that is wrong raises
:class:`helpers.errors.InputError` naming the file and the line or field;
no text is ever dropped silently (only empty TextGrid intervals and NURC
pause marks ``...``, which hold no words, are skipped).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from pathlib import Path

import pandas as pd

from .errors import InputError, decode_text

__all__ = ["read_transcript", "parse_time", "SUPPORTED_FORMATS", "CUE_COLUMNS"]

SUPPORTED_FORMATS = ("vtt", "srt", "json", "jsonl", "csv", "textgrid", "record")
CUE_COLUMNS = ["start_s", "end_s", "text", "line"]

_SUFFIXES = {
    ".vtt": "vtt",
    ".srt": "srt",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".textgrid": "textgrid",
    ".md": "record",
}
# Column / key names accepted for each field in JSON, JSONL and CSV input.
_ALIASES = {
    "start_s": ("start_s", "start", "begin", "start_time", "inicio", "início"),
    "end_s": ("end_s", "end", "stop", "end_time", "fim"),
    "text": ("text", "transcript", "transcricao", "transcrição"),
    "speaker": ("speaker", "falante"),
}
_CLOCK = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:[.,]\d+)?)$")
_ARROW = re.compile(r"^\s*(?P<start>\S+)\s+-->\s+(?P<end>\S+)(?:\s+(?P<settings>.*))?$")
_TAG = re.compile(r"<[^>]*>")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
_PAUSE_ONLY = re.compile(r"^[\s.…]*$")


def parse_time(value, *, path=None, line=None, field=None) -> float:
    """Parse a time given as seconds or as a clock time into seconds.

    Parameters
    ----------
    value : str, int or float
        ``12.5``, ``"12.5"``, ``"00:08:00"``, ``"00:08:00.250"``,
        ``"00:08:00,250"`` or ``"08:00.250"``.
    path, line, field : optional
        Where the value came from, used in the error message.

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    InputError
        If the value is not a time, or is negative.

    Examples
    --------
    >>> parse_time("01:02:05")
    3725.0
    >>> parse_time("00:00:07,867")
    7.867
    >>> parse_time("02:30.5")
    150.5
    >>> parse_time(12)
    12.0
    """
    if isinstance(value, bool):
        raise InputError(f"cannot read {value!r} as a time", path=path, line=line, field=field)
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = math.inf
    else:
        text = str(value).strip()
        m = _CLOCK.match(text)
        if m:
            minutes, secs = int(m["m"]), float(m["s"].replace(",", "."))
            if m["h"] is not None and minutes >= 60 or secs >= 60:
                raise InputError(f"cannot read {text!r} as a time: minutes and seconds must be < 60", path=path, line=line, field=field)
            # float(): an hour count of thousands of digits is too large, not an int() ValueError
            seconds = float(m["h"] or 0) * 3600 + minutes * 60 + secs
        else:
            try:
                seconds = float(text.replace(",", ".")) if re.fullmatch(r"[+-]?\d+(?:[.,]\d+)?", text) else float("nan")
            except ValueError:  # pragma: no cover - the pattern above guarantees a number
                seconds = float("nan")
            if math.isnan(seconds):
                raise InputError(
                    f"cannot read {text!r} as a time; use seconds or HH:MM:SS[.mmm]", path=path, line=line, field=field
                )
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError(f"time must be a finite, non-negative number of seconds, got {value!r}", path=path, line=line, field=field)
    return round(seconds, 6)


def read_transcript(path, *, format: str | None = None, tier: str | None = None) -> pd.DataFrame:
    """Read a timed transcript into a table of cues.

    Parameters
    ----------
    path : str or os.PathLike
        The transcript file.
    format : {"vtt", "srt", "json", "jsonl", "csv", "textgrid", "record"}, optional
        Overrides the format the file's suffix implies.
    tier : str, optional
        TextGrid only: the interval tier to read. Default: the first interval
        tier that holds any words.

    Returns
    -------
    pandas.DataFrame
        Columns ``start_s, end_s, text, line`` (+ ``speaker``; + ``corpus_id,
        score, url`` for records), in file order. ``attrs``: ``path``,
        ``format``, ``tier``.

    Raises
    ------
    InputError
        Unknown format, empty file, bytes that are not UTF-8, a malformed cue,
        an unreadable time, a cue that ends before it starts, a missing column.

    Examples
    --------
    >>> cues = read_transcript("data/sample/lectures/aula01_cnn_unet.vtt")  # doctest: +SKIP
    >>> cues[["start_s", "end_s", "speaker"]].head(1)  # doctest: +SKIP
       start_s  end_s    speaker
    0    1.263  6.628  Professor
    """
    path = Path(path)
    fmt = (format or _SUFFIXES.get(path.suffix.lower(), "")).lower()
    if fmt not in SUPPORTED_FORMATS:
        raise InputError(
            f"unknown transcript format {fmt or path.suffix or '(no suffix)'!r}; "
            f"supported: {', '.join(SUPPORTED_FORMATS)} (suffixes {', '.join(sorted(_SUFFIXES))})",
            path=path,
        )
    if not path.is_file():
        raise InputError("file not found", path=path)
    if tier and fmt != "textgrid":
        tier = None  # a tier only means something for TextGrids; other formats ignore it
    text = _read_text(path, allow_utf16=fmt == "textgrid")
    reader = {
        "vtt": _read_vtt,
        "srt": _read_srt,
        "json": _read_json,
        "jsonl": _read_jsonl,
        "csv": _read_csv,
        "textgrid": _read_textgrid,
        "record": _read_record,
    }[fmt]
    rows, used_tier = reader(text, path, tier) if fmt == "textgrid" else (reader(text, path), None)
    if not rows:
        raise InputError(f"no cues found in this {fmt} file", path=path)
    for i, row in enumerate(rows):
        if row["end_s"] < row["start_s"]:
            message = f"cue ends ({row['end_s']} s) before it starts ({row['start_s']} s)"
            if not row["line"]:  # JSON: no line numbers, name the item as its other errors do
                raise InputError(f"segment {i}: {message}", path=path, field="end")
            raise InputError(message, path=path, line=row["line"])
    frame = pd.DataFrame(rows)
    extra = [c for c in frame.columns if c not in CUE_COLUMNS]
    frame = frame[CUE_COLUMNS + extra]
    frame["line"] = frame["line"].astype(int)
    if "speaker" in frame:
        frame["speaker"] = frame["speaker"].astype(object).where(frame["speaker"].notna(), None)
    frame.attrs.update(path=str(path), format=fmt, tier=used_tier)
    return frame


# --------------------------------------------------------------------------- helpers


def _read_text(path: Path, *, allow_utf16: bool = False) -> str:
    # Praat writes UTF-16 (with a byte-order mark) when the text is not ASCII
    text = decode_text(path.read_bytes(), path, allow_utf16=allow_utf16)
    if not text.strip():
        raise InputError("file is empty", path=path)
    return text


def _blocks(text: str):
    """Yield ``(first_line_number, [lines])`` for blank-line separated blocks."""
    block, start = [], 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def _clean(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _timed_cue(block, first, path, *, kind):
    """Parse a VTT/SRT cue block: [identifier], timing line, text lines."""
    for k, line in enumerate(block[:2]):
        m = _ARROW.match(line)
        if m:
            number = first + k
            start = parse_time(m["start"], path=path, line=number)
            end = parse_time(m["end"], path=path, line=number)
            body = block[k + 1 :]
            voices = _VOICE.findall(" ".join(body))
            row = {"start_s": start, "end_s": end, "text": _clean(" ".join(body)), "line": number}
            if voices:
                row["speaker"] = voices[0].strip()
            return row
    raise InputError(f"malformed {kind} cue: expected a 'start --> end' timing line, got {block[0]!r}", path=path, line=first)


def _read_vtt(text, path):
    blocks = list(_blocks(text))
    first_line, header = blocks[0]
    if not header[0].startswith("WEBVTT"):
        raise InputError("a WebVTT file must start with 'WEBVTT'", path=path, line=first_line)
    rows = []
    for number, block in blocks:
        if block is header:
            # the header block may run straight into a cue without a blank line
            rest = [i for i, line in enumerate(block) if "-->" in line]
            if not rest:
                continue
            number, block = number + rest[0], block[rest[0] :]
        head = block[0].split(maxsplit=1)[0] if block[0].split() else ""
        if head in ("NOTE", "STYLE", "REGION") and "-->" not in block[0]:
            continue
        row = _timed_cue(block, number, path, kind="WebVTT")
        rows.append(row)
    if any("speaker" in r for r in rows):
        for r in rows:
            r.setdefault("speaker", None)
    return rows


def _read_srt(text, path):
    rows = []
    for number, block in _blocks(text):
        rows.append(_timed_cue(block, number, path, kind="SRT"))
    return rows


def _pick(record: dict, field: str):
    for key in _ALIASES[field]:
        if key in record:
            return record[key]
    lowered = {str(k).lower(): v for k, v in record.items()}
    for key in _ALIASES[field]:
        if key in lowered:
            return lowered[key]
    raise KeyError(field)


def _table_row(record, path, line, where):
    if not isinstance(record, dict):
        raise InputError(f"{where} is not an object with start/end/text", path=path, line=line)
    row = {"line": line}
    for field in ("start_s", "end_s", "text"):
        try:
            value = _pick(record, field)
        except KeyError:
            names = "/".join(_ALIASES[field][:2])
            raise InputError(f"{where} has no {names!r} value", path=path, line=line, field=_ALIASES[field][1]) from None
        if field == "text":
            if value is None or (isinstance(value, float) and math.isnan(value)):
                value = ""
            row["text"] = " ".join(str(value).split())
        else:
            row[field] = parse_time(value, path=path, line=line, field=_ALIASES[field][1])
    try:
        speaker = _pick(record, "speaker")
        row["speaker"] = None if speaker in ("", None) else str(speaker)
    except KeyError:
        pass
    return row


def _load_json(text, path, line=None):
    """json.loads, with every failure an InputError (``line``: the JSONL line ``text`` is)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON: {err.msg} (column {err.colno})", path=path, line=line or err.lineno) from None
    except ValueError:  # an integer of more than 4300 digits
        raise InputError("invalid JSON: a number has too many digits", path=path, line=line) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", path=path, line=line) from None


def _read_json(text, path):
    data = _load_json(text, path)
    if isinstance(data, dict):
        for key in ("segments", "cues", "chunks"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise InputError("expected a list of cues or an object with a 'segments' list", path=path, field="segments")
    if not isinstance(data, list):
        raise InputError("expected a list of cues", path=path)
    # JSON has no cheap per-item line numbers; name the item instead.
    return [_json_item(item, path, i) for i, item in enumerate(data)]


def _json_item(item, path, i):
    try:
        row = _table_row(item, path, None, f"cue {i}")
    except InputError as err:
        raise InputError(f"segment {i}: {err.message}", path=path, field=err.field) from None
    row["line"] = 0
    return row


def _read_jsonl(text, path):
    rows = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        item = _load_json(line, path, number)
        rows.append(_table_row(item, path, number, "this line"))
    return rows


def _read_csv(text, path):
    delimiter = "\t" if path.suffix.lower() == ".tsv" else None
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    done = [0]  # the last line of the last row read
    try:
        return _csv_cues(reader, path, done)
    except csv.Error as err:  # e.g. a cell larger than the csv module's limit
        raise InputError(f"not valid CSV: {err}", path=path, line=done[0] + 1) from None


def _csv_cues(reader, path, done):
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    done[0] = reader.line_num
    for field in ("start_s", "end_s", "text"):
        if not any(a in (h.lower() for h in header) for a in _ALIASES[field]):
            raise InputError(
                f"missing column {_ALIASES[field][1]!r} (or {_ALIASES[field][0]!r}); header is {header}",
                path=path,
                line=1,
                field=_ALIASES[field][1],
            )
    rows = []
    for record in reader:
        number = reader.line_num
        if None in record:
            raise InputError(f"row has more cells than the header ({len(header)})", path=path, line=number)
        rows.append(_table_row(record, path, number, "this row"))
        done[0] = number
    return rows


# TextGrid ------------------------------------------------------------------------
# Praat's long ("key = value") and short (values only) text formats hold the same
# sequence of strings and numbers; labels, "[n]" indices and "<exists>" carry no data.
_TG_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(\[\s*\d*\s*\])|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(<exists>|<absent>)|(!.*)$', re.M)


def _tg_tokens(text):
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    import bisect

    for m in _TG_TOKEN.finditer(text):
        string, index, number, flag, comment = m.groups()
        if index is not None or comment is not None:
            continue
        line = bisect.bisect_right(line_starts, m.start())
        if string is not None:
            yield ("s", string.replace('""', '"'), line)
        elif number is not None:
            yield ("n", float(number), line)
        else:
            yield ("f", flag, line)


def _read_textgrid(text, path, tier):
    tokens = [t for t in _tg_tokens(text) if t[0] != "f"]
    pos = 0

    def take(kind, what):
        nonlocal pos
        if pos >= len(tokens):
            raise InputError(f"TextGrid ends early: expected {what}", path=path, line=len(text.rstrip().split("\n")))
        token = tokens[pos]
        if token[0] != kind:
            raise InputError(f"malformed TextGrid: expected {what}, got {token[1]!r}", path=path, line=token[2])
        pos += 1
        return token[1], token[2]

    def count(what):
        value, line = take("n", what)
        if value < 0 or not value.is_integer():  # inf is not an integer either
            raise InputError(f"malformed TextGrid: {what} must be a whole number, got {value:g}", path=path, line=line)
        return int(value)

    def time(what):
        value, line = take("n", what)
        return parse_time(value, path=path, line=line, field=what), line

    file_type, line = take("s", "'ooTextFile'")
    if file_type != "ooTextFile":
        raise InputError(f"not a Praat text file (File type = {file_type!r})", path=path, line=line)
    object_class, line = take("s", "'TextGrid'")
    if object_class != "TextGrid":
        raise InputError(f"not a TextGrid (Object class = {object_class!r})", path=path, line=line)
    take("n", "xmin")
    take("n", "xmax")
    n_tiers = count("number of tiers")
    tiers = []
    for _ in range(n_tiers):
        cls, _ = take("s", "tier class")
        name, name_line = take("s", "tier name")
        take("n", "tier xmin")
        take("n", "tier xmax")
        n = count("number of intervals")
        items = []
        for _ in range(n):
            if cls == "IntervalTier":
                start, line = time("xmin")
                end, _ = time("xmax")
                label, _ = take("s", "interval text")
                items.append((start, end, label, line))
            else:
                take("n", "point time")
                take("s", "point mark")
        tiers.append((cls, name, items, name_line))

    def has_words(items):
        return any(not _PAUSE_ONLY.match(label) for _, _, label, _ in items)

    interval_tiers = [t for t in tiers if t[0] == "IntervalTier"]
    if tier:
        chosen = [t for t in interval_tiers if t[1] == tier]
        if not chosen:
            names = [t[1] for t in interval_tiers]
            raise InputError(f"no interval tier named {tier!r}; this file has {names}", path=path, field="tier")
    else:
        chosen = [t for t in interval_tiers if has_words(t[2])]
        if not chosen:
            raise InputError("no interval tier holds any text", path=path, field="tier")
    _, name, items, _ = chosen[0]
    rows = [
        {"start_s": start, "end_s": end, "text": " ".join(label.split()), "line": line}
        for start, end, label, line in items
        if not _PAUSE_ONLY.match(label)
    ]
    return rows, name


# Study records -------------------------------------------------------------------


def _read_record(text, path):
    """The segments of a study record as cues (parsed by :func:`helpers.records.segment_lists`)."""
    from .records import segment_lists  # records reads times with parse_time: imported here, not at the top

    return [
        {
            "start_s": seg["start_s"],
            "end_s": seg["end_s"],
            "text": " ".join(seg["text"].split()),
            "line": seg["line"],
            "corpus_id": seg["corpus_id"],
            "score": seg["score"],
            "url": (seg["url"] or "").strip(),
        }
        for seg in segment_lists(text, path)
    ]
