"""Bad files, generated: every reader gives a result or an InputError that names the file.

Property-based tests (hypothesis) of the readers of users' files: transcripts
(every format), study records, annotations (CSV, XLSX, LLMJudge qrels), the
config, the question file and the answer bank. The inputs are any bytes, and
the project's real, valid files damaged in structured ways: cut short anywhere,
a line deleted, doubled or swapped, lines recombined, bytes flipped or
inserted, re-encoded (Latin-1, cp1252, UTF-16, UTF-32, a byte-order mark),
CRLF or CR line ends, a number made huge, negative, NaN or infinite, two numbers
swapped (reversed times), and emptied. For each, the reader must

* return a result that keeps the reader's own promises (finite, non-negative,
  ordered times; known labels; ...), or
* raise :class:`helpers.errors.InputError` whose message names the file and,
  when it names a line, a line the file has;

never another exception, and never leave a file behind. Targeted properties
check that the line named is the right one: a byte that is not UTF-8, a cue or
segment whose times are reversed, a segment's bad number.

Hypothesis runs derandomized and without an example database, so every run
(and CI) tries the same examples; the whole file takes well under a minute.
To hunt for new bugs, ``PROPERTY_SCALE=20 pytest tests/test_properties.py``
tries 20 times as many examples, from a fresh random seed each run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers.annotations import read_annotations, read_llmjudge
from helpers.config import DEFAULTS, load_config
from helpers.errors import InputError
from helpers.records import read_records
from helpers.retrieval import read_answer_bank, read_questions
from helpers.transcripts import CUE_COLUMNS, read_transcript

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"

_SCALE = int(os.environ.get("PROPERTY_SCALE", "1"))
FAST = settings(
    max_examples=100 * _SCALE,
    deadline=None,
    derandomize=_SCALE == 1,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PER_FORMAT = settings(FAST, max_examples=60 * _SCALE)  # a property run once per file format
FEW = settings(FAST, max_examples=40 * _SCALE)


# --------------------------------------------------------------------------- valid files

VTT = b"""WEBVTT - aula de teste

NOTE uma nota

intro
00:00:01.000 --> 00:00:04.500 align:start
<v Professor>Bom dia, pessoal.
Vamos come\xc3\xa7ar?

00:04.500 --> 00:09.250
A rede &amp; o <i>tensor</i>.
"""
SRT = b"""1
00:00:01,000 --> 00:00:04,500
Primeira legenda,
em duas linhas.

2
00:00:04,500 --> 00:01:02,000
<i>Segunda</i> legenda.
"""
TEXTGRID_SHORT = b'''File type = "ooTextFile"
Object class = "TextGrid"

0
10
<exists>
2
"TextTier"
"marcas"
0
10
1
2.5
"x"
"IntervalTier"
"fala"
0
10
3
0
2
"..."
2
6
"ele disse ""ol\xc3\xa1"" 2 vezes"
6
10
""
'''
JSON = (
    b'{"segments": [{"start": 0.5, "end": 2.0, "text": "Bom dia", "speaker": "Professor"},\n'
    b' {"start": "00:00:02.5", "end": "00:00:04,250", "text": "a rede"}]}\n'
)
JSONL = b'{"start": 0.5, "end": 2.0, "text": "Bom dia"}\n{"inicio": "00:00:02.5", "fim": 4.25, "texto": "x", "text": "a rede"}\n'
CSV_CUES = b'start,end,text,speaker\n0.5,2.0,Bom dia,Professor\n00:00:02.5,00:00:04.250,"a rede, o ""tensor""",\n'
TSV_CUES = b"start\tend\ttext\n0.5\t2.0\tBom dia\n2.5\t4.25\ta rede\n"
ANNOTATIONS = b"question_id,answer_source,annotator,label\nq01,generated,ana,C\nq02,generated,ana, p \nq03,bank:C,bruno,I\nq04,generated,ana,\n"
QRELS = b"q1 0 p1 3\nq1 0 p2 0\nq2 0 p1 1\nq2 0 p9 2\n"
JUDGE = b"q1 0 p1 2\nq1 0 p2 5\nq2 0 p1 1\n"
QUERIES = b"q1\tO que \xc3\xa9 dropout?\nq2\tPara que serve a U-Net?\n"


def _sample(name: str) -> bytes:
    return (ROOT / "data" / "sample" / name).read_bytes()


# The real files, cut to their first cues or rows (still valid) so that each example is fast.


def _first_blocks(data: bytes, n: int) -> bytes:
    return b"\n\n".join(data.split(b"\n\n")[:n]) + b"\n"


def _first_intervals(data: bytes, n: int) -> bytes:
    """A Praat long-format TextGrid with only the first ``n`` intervals of each tier."""
    out, kept = [], 0
    lines = data.split(b"\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith(b"intervals: size ="):
            out.append(line.split(b"=")[0] + b"= %d" % n)
            kept = 0
        elif line.strip().startswith(b"intervals ["):
            if kept < n:
                out.extend(lines[i : i + 4])
            kept += 1
            i += 4
            continue
        else:
            out.append(line)
        i += 1
    return b"\n".join(out)


def _first_lines(data: bytes, n: int) -> bytes:
    return b"".join(data.splitlines(keepends=True)[:n])


TRANSCRIPTS = {  # file name -> a valid file of that format
    "aula.vtt": _first_blocks(_sample("lectures/aula01_cnn_unet.vtt"), 12),
    "teste.vtt": VTT,
    "aula.srt": _first_blocks(_sample("lectures/aula02_regularizacao_dropout.srt"), 12),
    "teste.srt": SRT,
    "aula.TextGrid": _first_intervals(_sample("lectures/aula03_treinamento_paralelo_gpus.TextGrid"), 6),
    "curto.TextGrid": TEXTGRID_SHORT,
    "cues.json": JSON,
    "cues.jsonl": JSONL,
    "cues.csv": CSV_CUES,
    "cues.tsv": TSV_CUES,
    "record.md": (SEEDS / "record_pergunta_086.md").read_bytes(),
}
RECORD = TRANSCRIPTS["record.md"]
CONFIGS = {name: (ROOT / "configs" / name).read_bytes() for name in ("sample.yaml", "judge-lab.yaml")}
QUESTIONS = _first_lines(_sample("questions.csv"), 8)
ANSWER_BANK = _first_lines(_sample("answer_bank.csv"), 10)


# --------------------------------------------------------------------------- the property


def _n_lines(data: bytes) -> int:
    """Lines the file has, however it is encoded (an upper bound for a reader's line numbers)."""
    counts = [len(re.split(rb"\r\n|\r|\n", data))]
    for codec in ("utf-16", "utf-32"):
        counts.append(len(re.split(r"\r\n|\r|\n", data.decode(codec, errors="replace"))))
    return max(counts)


def _run(read, name: str, data: bytes, *, files=None):
    """Write ``data`` to a fresh folder as ``name`` and read it; the result or the InputError.

    Anything but an InputError propagates (and fails the test). An InputError must name
    the file and, if it names a line, one the file has. The folder must hold exactly what
    was written, before and after.
    """
    folder = Path(tempfile.mkdtemp(prefix="prop-"))
    try:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        for other, content in (files or {}).items():
            (folder / other).parent.mkdir(parents=True, exist_ok=True)
            (folder / other).write_bytes(content)
        before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
        try:
            result = read(folder / name.split("/")[0] if "/" in name else path)
        except InputError as err:
            assert err.path is not None and str(err.path).startswith(str(folder)), f"error names no file: {err}"
            assert err.path in str(err)
            if err.line is not None:
                assert 1 <= err.line <= _n_lines(data), f"line {err.line} of a {_n_lines(data)}-line file: {err}"
            result = err
        after = sorted(p.relative_to(folder) for p in folder.rglob("*"))
        assert after == before, f"the reader changed the folder: {sorted(set(after) ^ set(before))}"
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_cues(cues, data):
    assert len(cues) > 0
    assert list(cues.columns[:4]) == CUE_COLUMNS
    start, end = cues["start_s"].to_numpy(float), cues["end_s"].to_numpy(float)
    assert np.isfinite(start).all() and np.isfinite(end).all()
    assert (start >= 0).all() and (end >= start).all()
    assert cues["text"].map(lambda t: isinstance(t, str)).all()
    assert cues["line"].between(0, _n_lines(data)).all()


def _check_records(tables, data):
    questions, retrieved = tables
    assert len(questions) > 0 and questions["question_id"].is_unique
    assert questions["answer_relevance"].map(lambda v: math.isnan(v) or 0 <= v <= 1).all()
    assert set(questions["manual_label"].dropna()) <= {"C", "P", "I"}
    assert set(questions["automated_label"].dropna()) <= {"C", "P", "I"}
    for col in ("score", "start_s", "end_s"):
        assert np.isfinite(retrieved[col].to_numpy(float)).all()
    assert (retrieved["start_s"] >= 0).all() and (retrieved["end_s"] >= retrieved["start_s"]).all()
    assert retrieved["line"].between(1, _n_lines(data)).all()


def _finite_numbers(value) -> bool:
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def _check_config(cfg):
    assert set(DEFAULTS) <= set(cfg)
    assert 0 <= cfg["segments"]["overlap_s"] < cfg["segments"]["window_s"]
    assert all(_finite_numbers(cfg[key]) for key in DEFAULTS)


def _check_lines(frame, data):
    lines = frame["line"].tolist()
    assert lines == sorted(lines) and all(2 <= n <= _n_lines(data) for n in lines)


# --------------------------------------------------------------------------- damage

_NUMBER = re.compile(rb"\d+(?:[.,:]\d+)*")
_ODD_NUMBERS = [
    b"1e999", b"-1", b"-0.5", b"nan", b"NaN", b"inf", b"-inf", b"Infinity", b"1e308", b"0", b"00:00:00",
    b"99:99:99", b"9" * 30, b"9" * 400, b"9" * 5000, b"1" + b"0" * 4400 + b":00:00", b"",
]
_CODECS = ["latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"]
_TINY_FILES = [b"", b"\n", b" \t\r\n", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00", b"\x00", b"\r"]


def _lines(data):
    return data.split(b"\n")


def _cut(draw, data):
    return data[: draw(st.integers(0, len(data)))]


def _delete_line(draw, data):
    lines = _lines(data)
    del lines[draw(st.integers(0, len(lines) - 1))]
    return b"\n".join(lines)


def _duplicate_line(draw, data):
    lines = _lines(data)
    i = draw(st.integers(0, len(lines) - 1))
    lines.insert(i, lines[i])
    return b"\n".join(lines)


def _swap_lines(draw, data):
    lines = _lines(data)
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _recombine(draw, data):
    """A new file from the file's own lines and a few random ones: structure out of order."""
    lines = _lines(data)
    piece = st.one_of(st.sampled_from(lines), st.text(max_size=30).map(str.encode), st.just(b""))
    return b"\n".join(draw(st.lists(piece, max_size=40)))


def _flip(draw, data):
    if not data:
        return data
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
    return bytes(out)


def _insert(draw, data):
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


def _reencode(draw, data):
    return data.decode("utf-8", errors="replace").encode(draw(st.sampled_from(_CODECS)), errors="replace")


def _line_ends(draw, data):
    return data.replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r"])))


def _odd_number(draw, data):
    numbers = list(_NUMBER.finditer(data))
    if not numbers:
        return data
    m = draw(st.sampled_from(numbers))
    new = draw(st.one_of(st.sampled_from(_ODD_NUMBERS), st.sampled_from(numbers).map(lambda n: n.group())))
    return data[: m.start()] + new + data[m.end() :]


def _swap_numbers(draw, data):
    """Two numbers trade places: a cue or segment that ends before it starts, counts that lie."""
    numbers = list(_NUMBER.finditer(data))
    if len(numbers) < 2:
        return data
    i = draw(st.integers(0, len(numbers) - 2))
    a, b = numbers[i], numbers[draw(st.integers(i + 1, min(i + 3, len(numbers) - 1)))]
    return data[: a.start()] + b.group() + data[a.end() : b.start()] + a.group() + data[b.end() :]


def _tiny(draw, data):
    return draw(st.sampled_from(_TINY_FILES))


_DAMAGE = [_cut, _delete_line, _duplicate_line, _swap_lines, _recombine, _flip, _insert, _reencode, _line_ends,
           _odd_number, _odd_number, _swap_numbers, _tiny]


@st.composite
def damaged(draw, valid: bytes):
    """``valid`` after one to three kinds of damage."""
    data = valid
    for _ in range(draw(st.integers(1, 3))):
        data = draw(st.sampled_from(_DAMAGE))(draw, data)
    return data


any_bytes = st.one_of(st.binary(max_size=400), st.text(max_size=400).map(lambda s: s.encode("utf-8")))


# --------------------------------------------------------------------------- transcripts


@pytest.mark.parametrize("name", list(TRANSCRIPTS))
@PER_FORMAT
@given(data=st.data())
def test_a_damaged_transcript_gives_cues_or_an_input_error(name, data):
    content = data.draw(damaged(TRANSCRIPTS[name]), label="file")
    result = _run(read_transcript, name, content)
    if not isinstance(result, InputError):
        _check_cues(result, content)


@pytest.mark.parametrize("name", ["x.vtt", "x.srt", "x.TextGrid", "x.json", "x.jsonl", "x.csv", "x.md"])
@FEW
@given(content=any_bytes)
@example(content=b"\xff\xfe\x00")  # a UTF-16 byte-order mark and half a character
@example(content=b'[{"start": 1' + b"0" * 400 + b', "end": 2, "text": "x"}]')  # an int no float holds
@example(content=b'{"start": 1' + b"0" * 5000 + b', "end": 2, "text": "x"}')  # an int Python will not parse
@example(content=b"[" * 100_000)  # JSON nested past Python's recursion limit
def test_any_bytes_give_cues_or_an_input_error(name, content):
    result = _run(read_transcript, name, content)
    if not isinstance(result, InputError):
        _check_cues(result, content)


_json_value = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-(10**400), 10**400) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_cue_keys = st.sampled_from(["start", "end", "text", "speaker", "inicio", "fim", "Start", "END", "start_s", "texto", "x"])


@PER_FORMAT
@given(cues=st.lists(st.dictionaries(_cue_keys, _json_value, max_size=5) | _json_value, max_size=4),
       wrap=st.sampled_from(["list", "segments", "jsonl", "csv"]))
def test_structured_cues_with_any_values(cues, wrap):
    if wrap == "list":
        name, content = "c.json", json.dumps(cues)
    elif wrap == "segments":
        name, content = "c.json", json.dumps({"segments": cues})
    elif wrap == "jsonl":
        name, content = "c.jsonl", "\n".join(json.dumps(c) for c in cues)
    else:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["start", "end", "text"])
        for c in cues:
            writer.writerow(list(c.values()) if isinstance(c, dict) else [c])
        name, content = "c.csv", out.getvalue()
    result = _run(read_transcript, name, content.encode("utf-8"))
    if not isinstance(result, InputError):
        _check_cues(result, content.encode("utf-8"))


def _with_line_ends(data: bytes, end: bytes) -> bytes:
    return data.replace(b"\n", end)


@pytest.mark.parametrize("name", list(TRANSCRIPTS))
@FEW
@given(data=st.data())
def test_a_byte_that_is_not_utf8_is_named_by_its_line(name, data):
    lines = TRANSCRIPTS[name].split(b"\n")
    k = data.draw(st.integers(0, len(lines) - 2), label="line index")  # the last piece is after the final newline
    at = data.draw(st.integers(0, len(lines[k])), label="column")
    bad = data.draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\x80", b"\xed\xa0\x80"]), label="bytes")
    lines[k] = lines[k][:at] + bad + lines[k][at:]
    end = data.draw(st.sampled_from([b"\n", b"\r\n", b"\r"]), label="line end")
    err = _run(read_transcript, name, _with_line_ends(b"\n".join(lines), end))
    assert isinstance(err, InputError) and err.line == k + 1 and "UTF-8" in err.message


_TIMING = re.compile(rb"^(?P<a>\S+) --> (?P<b>\S+)")


@pytest.mark.parametrize("name", ["aula.vtt", "aula.srt"])
@FEW
@given(data=st.data())
def test_a_cue_that_ends_before_it_starts_is_named_by_its_line(name, data):
    lines = TRANSCRIPTS[name].split(b"\n")
    timings = [i for i, line in enumerate(lines) if _TIMING.match(line)]
    i = data.draw(st.sampled_from(timings), label="cue")
    m = _TIMING.match(lines[i])
    lines[i] = m["b"] + b" --> " + m["a"] + lines[i][m.end() :]
    err = _run(read_transcript, name, b"\n".join(lines))
    assert isinstance(err, InputError) and err.line == i + 1 and "before it starts" in err.message


@pytest.mark.parametrize("name", list(TRANSCRIPTS))
@FEW
@given(bom=st.booleans(), end=st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_bom_and_line_ends_change_nothing(name, bom, end):
    want = _run(read_transcript, name, TRANSCRIPTS[name])
    got = _run(read_transcript, name, (b"\xef\xbb\xbf" if bom else b"") + _with_line_ends(TRANSCRIPTS[name], end))
    pd.testing.assert_frame_equal(got, want)


# --------------------------------------------------------------------------- study records


@FAST
@given(content=damaged(RECORD) | any_bytes)
@example(content=RECORD.replace(b"**Pergunta 86**", b"**Pergunta " + b"9" * 400 + b"**"))  # > 64-bit
@example(content=RECORD.replace(b"**Pergunta 86**", b"**Pergunta " + b"9" * 5000 + b"**"))  # > int() digits
def test_a_damaged_record_gives_tables_or_an_input_error(content):
    result = _run(read_records, "record_pergunta_086.md", content)
    if not isinstance(result, InputError):
        _check_records(result, content)


_BULLET = re.compile(rb"^- \*(?P<key>Score|In\xc3\xadcio|Fim):\* (?P<value>.*)$")


@FEW
@given(data=st.data())
def test_a_bad_segment_number_is_named_by_its_line_and_field(data):
    lines = RECORD.split(b"\n")
    bullets = [i for i, line in enumerate(lines) if _BULLET.match(line)]
    i = data.draw(st.sampled_from(bullets), label="bullet")
    m = _BULLET.match(lines[i])
    bad = data.draw(st.sampled_from([b"nan", b"inf", b"-inf", b"1e999", b"abc", b"", b"99:99:99", b"9" * 5000]
                                    + ([] if m["key"] == b"Score" else [b"-1", b"-0.5"])))  # a score may be negative
    lines[i] = lines[i][: m.start("value")] + bad
    err = _run(read_records, "r.md", b"\n".join(lines))
    assert isinstance(err, InputError), f"{lines[i]!r} was read"
    assert err.line == i + 1 and err.field == m["key"].decode("utf-8"), str(err)


@FEW
@given(data=st.data())
def test_a_segment_that_ends_before_it_starts_is_named_by_its_fim_line(data):
    lines = RECORD.split(b"\n")
    starts = [i for i, line in enumerate(lines)
              if line.startswith(b"- *In\xc3\xadcio:* ") and line.split(b":* ")[1] != lines[i + 1].split(b":* ")[1]]
    i = data.draw(st.sampled_from(starts), label="segment")
    start, end = lines[i].split(b":* ", 1)[1], lines[i + 1].split(b":* ", 1)[1]
    lines[i], lines[i + 1] = lines[i].replace(start, end), lines[i + 1].replace(end, start)
    err = _run(read_records, "r.md", b"\n".join(lines))
    assert isinstance(err, InputError) and err.line == i + 2 and err.field == "Fim"


# --------------------------------------------------------------------------- config

_CONFIG_VALUES = [
    "", "~", "1", "-1", "0", "0.5", "1e999", ".nan", ".inf", "-.inf", "9" * 400, "9" * 5000, "0x1F", "1_000",
    "2021-02-28", "2021-02-30", "2021-13-01 10:00:00", "yes", "'x'", "fewshot-en", "[]", "[[1]]", "[fewshot-en, 1]",
    "[.nan]", "{}", "{a: 1}", "{.inf: C}", "{3: C, x: P}", "{[1]: 2}", "!!binary aGk=", "!!binary x",
    "!!python/tuple [1]", "&a [*a]", "*nope", "{? [a]: 1}", "!!float x", "!!int 1.5", "|\n  text", '"\\x00"',
]


@st.composite
def config_texts(draw):
    """A config of known and unknown keys, each set to an awkward YAML value."""
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(list(DEFAULTS) + ["unknown", "api_key"]))
        value = draw(st.sampled_from(_CONFIG_VALUES))
        if isinstance(DEFAULTS.get(key), dict) and draw(st.booleans()):
            inner = draw(st.sampled_from(list(DEFAULTS[key]) + ["typo"]))
            lines.append(f"{key}:\n  {inner}: {value}")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines).encode("utf-8")


@pytest.mark.parametrize("name", list(CONFIGS))
@FAST
@given(data=st.data())
def test_a_damaged_config_loads_or_raises_an_input_error(name, data):
    content = data.draw(damaged(CONFIGS[name]) | config_texts() | any_bytes, label="file")
    result = _run(load_config, name, content)
    if not isinstance(result, InputError):
        _check_config(result)


@FEW
@given(section=st.sampled_from([k for k, v in DEFAULTS.items() if isinstance(v, dict)]), data=st.data())
def test_any_value_at_a_known_key_loads_or_raises_an_input_error(section, data):
    key = data.draw(st.sampled_from(list(DEFAULTS[section])), label="key")
    value = data.draw(_json_value, label="value")
    content = yaml.safe_dump({section: {key: value}}).encode("utf-8")
    result = _run(load_config, "c.yaml", content)
    if not isinstance(result, InputError):
        _check_config(result)
    else:
        assert result.field is not None or result.line is not None, str(result)


# --------------------------------------------------------------------------- question file, answer bank


_cell = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["q01", "q02", " q01 ", "", "C", "P", "I", "x", "bank:C", "aula01 00:01:00-00:01:30", "a 2-1",
                     "a 00:02:00-00:01:00", "a 1e999-2", '"', "\n", "\r\n", ",", "\x00"]),
)


@st.composite
def csv_tables(draw, columns):
    """A CSV file with some of ``columns`` (in any order, maybe one more) and awkward cells."""
    header = draw(st.lists(st.sampled_from(columns + ["extra", ""]), min_size=1, max_size=len(columns) + 1))
    rows = draw(st.lists(st.lists(_cell, min_size=0, max_size=len(header) + 1), max_size=5))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@FAST
@given(content=damaged(QUESTIONS) | csv_tables(["question_id", "question", "reference_answer", "gold_spans",
                                                 "gold_segment_ids"]) | any_bytes)
@example(content=b"question_id,question\nq1,a?,extra\n")  # every row one cell longer than the header
@example(content=b"")
def test_a_damaged_question_file_reads_or_raises_an_input_error(content):
    result = _run(read_questions, "questions.csv", content)
    if not isinstance(result, InputError):
        assert len(result) > 0 and result["question_id"].is_unique
        assert (result["question_id"].str.strip() == result["question_id"]).all() and (result["question_id"] != "").all()
        assert result["gold_spans"].map(lambda spans: all(0 <= a <= b < math.inf for _, a, b in spans)).all()


@FAST
@given(content=damaged(ANSWER_BANK) | csv_tables(["question_id", "answer_source", "answer", "label"]) | any_bytes)
@example(content=b'question_id,answer_source,answer,label\nq1,bank:C,"never closed\n')
@example(content=b"")
def test_a_damaged_answer_bank_reads_or_raises_an_input_error(content):
    result = _run(read_answer_bank, "answer_bank.csv", content)
    if not isinstance(result, InputError):
        assert set(result["label"]) <= {"C", "P", "I"}
        _check_lines(result, content)


@pytest.mark.parametrize("reader, valid", [(read_questions, QUESTIONS), (read_answer_bank, ANSWER_BANK),
                                           (read_annotations, ANNOTATIONS)])
@FEW
@given(data=st.data())
def test_a_bad_row_is_named_by_the_line_it_starts_on(reader, valid, data):
    """Blank lines and cells that span lines before it do not shift the line an error names."""
    header, *rows = list(csv.reader(io.StringIO(valid.decode("utf-8"))))
    bad = data.draw(st.integers(0, len(rows) - 1), label="bad row")
    if data.draw(st.booleans(), label="too many cells"):
        rows[bad] = rows[bad] + ["x"] * data.draw(st.integers(1, 3))
    else:
        rows[bad] = [""] + rows[bad][1:]  # an empty question_id
    text_col = next(header.index(c) for c in ("question", "answer", "annotator") if c in header)
    for i in data.draw(st.lists(st.integers(0, bad - 1), max_size=3), label="rows over two lines") if bad else []:
        rows[i][text_col] += "\ncontinued"
    blanks = set(data.draw(st.lists(st.integers(0, bad), max_size=3), label="blank lines before rows"))
    expected = None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    line = 2
    for i, row in enumerate(rows):
        if i in blanks:
            out.write("\n")
            line += 1
        if i == bad:
            expected = line
        start = out.tell()
        writer.writerow(row)
        line += out.getvalue()[start:].count("\n")
    err = _run(reader, "t.csv", out.getvalue().encode("utf-8"))
    assert isinstance(err, InputError) and err.line == expected, f"{err} (expected line {expected})"


# --------------------------------------------------------------------------- annotations


@FAST
@given(content=damaged(ANNOTATIONS) | csv_tables(["question_id", "answer_source", "annotator", "label"]) | any_bytes)
@example(content=b"question_id,label\nq1,q2,C\n")  # pandas read this as question_id 'q2': a shifted column
def test_a_damaged_annotation_sheet_reads_or_raises_an_input_error(content):
    result = _run(read_annotations, "ana.csv", content)
    if not isinstance(result, InputError):
        assert set(result["label"]) <= {"C", "P", "I"} and (result["question_id"] != "").all()
        _check_lines(result, content)


@pytest.fixture(scope="module")
def workbook(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("xlsx") / "ana.xlsx"
    pd.DataFrame({"question_id": ["q01", "q02"], "label": ["C", "I"], "annotator": ["bruno", "bruno"]}).to_excel(path, index=False)
    return path.read_bytes()


@settings(FEW, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_damaged_workbook_reads_or_raises_an_input_error(workbook, data):
    content = data.draw(damaged(workbook) | any_bytes, label="file")
    result = _run(read_annotations, "ana.xlsx", content)
    if not isinstance(result, InputError):
        assert set(result["label"]) <= {"C", "P", "I"}


@pytest.mark.parametrize("damaged_file", ["llmjudge_test_qrel_idx.txt", "scores/judge_a.txt", "llm4eval_query_2024.txt"])
@FEW
@given(data=st.data())
def test_a_damaged_llmjudge_file_reads_or_raises_an_input_error(damaged_file, data):
    files = {"llmjudge_test_qrel_idx.txt": QRELS, "scores/judge_a.txt": JUDGE, "llm4eval_query_2024.txt": QUERIES}
    content = data.draw(damaged(files.pop(damaged_file)) | any_bytes, label="file")
    result = _run(read_llmjudge, f"llmjudge/{damaged_file}", content,
                  files={f"llmjudge/{name}": text for name, text in files.items()})
    if not isinstance(result, InputError):
        assert result["label"].dropna().isin([0, 1, 2, 3]).all()
