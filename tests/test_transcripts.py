"""Transcript readers: every format, every bad input, real NURC-SP lectures and the study's records."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from helpers.errors import InputError
from helpers.transcripts import SUPPORTED_FORMATS, parse_time, read_transcript

VTT = """WEBVTT - aula de teste

NOTE uma nota que não é fala

STYLE
::cue { color: yellow }

intro
00:00:01.000 --> 00:00:04.500 align:start position:10%
<v Professor>Bom dia, pessoal.
Vamos começar?

00:04.500 --> 00:09.250
A rede &amp; o <i>tensor</i>.
"""

SRT = """1
00:00:01,000 --> 00:00:04,500
Primeira legenda,
em duas linhas.

2
00:00:04,500 --> 00:01:02,000
<i>Segunda</i> legenda.
"""

TEXTGRID_SHORT = '''File type = "ooTextFile"
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
"ele disse ""olá"" 2 vezes"
6
10
""
'''


def write(tmp_path, name, text, *, encoding="utf-8", newline="\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("00:08:00", 480.0),
        ("01:02:05", 3725.0),
        ("00:00:07.867", 7.867),
        ("00:00:07,867", 7.867),
        ("02:30.5", 150.5),
        ("12.25", 12.25),
        ("12,25", 12.25),
        (12, 12.0),
        (0.5, 0.5),
        ("100:00:00", 360000.0),
    ],
)
def test_parse_time_accepts_clock_and_seconds(value, seconds):
    assert parse_time(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "abc", "1:2:3:4", "00:61:00", "00:00:75", "-3", float("nan"), float("inf"), True])
def test_parse_time_rejects_garbage(value):
    with pytest.raises(InputError, match="time"):
        parse_time(value, path="x.csv", line=3, field="start")


# --------------------------------------------------------------------------- formats


def test_webvtt_with_notes_styles_settings_and_voice(tmp_path):
    cues = read_transcript(write(tmp_path, "a.vtt", VTT))
    assert cues.attrs["format"] == "vtt"
    assert cues[["start_s", "end_s"]].values.tolist() == [[1.0, 4.5], [4.5, 9.25]]
    assert cues["text"].tolist() == ["Bom dia, pessoal. Vamos começar?", "A rede & o tensor."]
    assert cues["speaker"].tolist()[0] == "Professor"
    assert cues["line"].tolist() == [9, 13]  # the timing lines


def test_srt_with_comma_millis_and_tags(tmp_path):
    cues = read_transcript(write(tmp_path, "a.srt", SRT))
    assert cues[["start_s", "end_s"]].values.tolist() == [[1.0, 4.5], [4.5, 62.0]]
    assert cues["text"].tolist() == ["Primeira legenda, em duas linhas.", "Segunda legenda."]
    assert "speaker" not in cues


def test_bom_and_crlf_are_accepted(tmp_path):
    plain = read_transcript(write(tmp_path, "a.srt", SRT))
    bom_crlf = read_transcript(write(tmp_path, "b.srt", "\ufeff" + SRT, newline="\r\n"))
    pd.testing.assert_frame_equal(plain, bom_crlf, check_like=True)
    vtt = read_transcript(write(tmp_path, "c.vtt", "\ufeff" + VTT, newline="\r\n"))
    assert len(vtt) == 2


def test_json_list_and_whisper_style_segments(tmp_path):
    cues = [{"start": 0, "end": "00:00:02.5", "text": "olá", "speaker": "A"}, {"start": 2.5, "end": 4, "text": "turma"}]
    a = read_transcript(write(tmp_path, "a.json", json.dumps(cues)))
    b = read_transcript(write(tmp_path, "b.json", json.dumps({"text": "olá turma", "segments": cues})))
    assert a["text"].tolist() == b["text"].tolist() == ["olá", "turma"]
    assert a["end_s"].tolist() == [2.5, 4.0]
    assert a["speaker"].tolist() == ["A", None]


def test_jsonl_keeps_line_numbers(tmp_path):
    text = '{"start_s": 0, "end_s": 1, "text": "um"}\n\n{"start_s": 1, "end_s": 2, "text": "dois"}\n'
    cues = read_transcript(write(tmp_path, "a.jsonl", text))
    assert cues["text"].tolist() == ["um", "dois"] and cues["line"].tolist() == [1, 3]


def test_csv_with_clock_times_and_semicolons(tmp_path):
    text = "start;end;text\n00:00:00;00:00:03,5;primeira fala\n00:00:03,5;00:00:08;segunda; com ponto e vírgula\n"
    with pytest.raises(InputError, match=r"a.csv, line 3: row has more cells"):
        read_transcript(write(tmp_path, "a.csv", text))
    text = 'start,end,text\n00:00:00,3.5,"primeira, fala"\n3.5,8,segunda\n'
    cues = read_transcript(write(tmp_path, "b.csv", text))
    assert cues[["start_s", "end_s"]].values.tolist() == [[0.0, 3.5], [3.5, 8.0]]
    assert cues["text"].tolist() == ["primeira, fala", "segunda"] and cues["line"].tolist() == [2, 3]


def test_textgrid_short_format_default_tier_and_quotes(tmp_path):
    cues = read_transcript(write(tmp_path, "a.TextGrid", TEXTGRID_SHORT))
    assert cues.attrs["tier"] == "fala"
    # the "..." pause and the empty interval hold no words; the quoted quote survives
    assert cues[["start_s", "end_s", "text"]].values.tolist() == [[2.0, 6.0, 'ele disse "olá" 2 vezes']]


def test_textgrid_utf16_as_praat_writes_it(tmp_path):
    cues = read_transcript(write(tmp_path, "a.TextGrid", "\ufeff" + TEXTGRID_SHORT, encoding="utf-16-le"))
    assert cues["text"].tolist() == ['ele disse "olá" 2 vezes']


def test_textgrid_unknown_tier_lists_the_tiers(tmp_path):
    with pytest.raises(InputError, match=r"a.TextGrid, field 'tier': no interval tier named 'TB-l1'.*\['fala'\]"):
        read_transcript(write(tmp_path, "a.TextGrid", TEXTGRID_SHORT), tier="TB-l1")


def test_format_override(tmp_path):
    cues = read_transcript(write(tmp_path, "legendas.txt", SRT), format="srt")
    assert len(cues) == 2


def test_supported_formats_are_all_readable(sample_dir):
    seen = {read_transcript(p).attrs["format"] for p in (sample_dir / "lectures").iterdir() if p.suffix != ".md"}
    assert seen <= set(SUPPORTED_FORMATS) and len(seen) >= 2


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "name, content, pattern",
    [
        ("a.docx", "x", r"a.docx: unknown transcript format '.docx'"),
        ("a.vtt", "", r"a.vtt: file is empty"),
        ("a.srt", "  \n\n", r"a.srt: file is empty"),
        ("a.vtt", "00:00:01.000 --> 00:00:02.000\noi\n", r"a.vtt, line 1: a WebVTT file must start with 'WEBVTT'"),
        ("a.vtt", "WEBVTT\n\n00:00:05.000 --> 00:00:02.000\noi\n", r"a.vtt, line 3: cue ends \(2.0 s\) before it starts \(5.0 s\)"),
        ("a.vtt", "WEBVTT\n\n00:00:01.000 --> 00:0x:02.000\noi\n", r"a.vtt, line 3: cannot read '00:0x:02.000' as a time"),
        ("a.srt", "1\n00:00:01,000 --> 00:00:02,000\noi\n\n2\nsem tempo\ntexto\n", r"a.srt, line 5: malformed SRT cue"),
        ("a.csv", "inicio_x,end,text\n0,1,oi\n", r"a.csv, line 1, field 'start': missing column 'start'"),
        ("a.csv", "start,end,text\n0,1,oi\n3,x,oi\n", r"a.csv, line 3, field 'end': cannot read 'x' as a time"),
        ("a.json", '[{"start": 0, "end": 1, "text": "oi"},\n {"start": 1, "text": "x"}]', r"a.json, field 'end': segment 1: .*no 'end_s/end' value"),
        ("a.json", '[{"start": 0, "end": 1, "text": "oi"},\n {"start": 1 "end": 2}]', r"a.json, line 2: invalid JSON"),
        ("a.json", '{"words": []}', r"a.json, field 'segments': expected a list of cues"),
        ("a.jsonl", '{"start": 0, "end": 1, "text": "oi"}\n{"start": 0, "end": 1, "text": oi}\n', r"a.jsonl, line 2: invalid JSON"),
        ("a.TextGrid", 'File type = "ooTextFile"\nObject class = "TextGrid"\n0\n10\n<exists>\n1\n"IntervalTier"\n"t"\n0\n10\n2\n0\n5\n"a"\n5\n', r"a.TextGrid, line 15: TextGrid ends early"),
        ("a.TextGrid", 'File type = "ooTextFile"\nObject class = "Sound"\n', r"a.TextGrid, line 2: not a TextGrid"),
        ("a.TextGrid", 'File type = "ooTextFile"\nObject class = "TextGrid"\n0\n10\n<exists>\n1\n"IntervalTier"\n"t"\n0\n10\n1\n8\n3\n"a"\n', r"a.TextGrid, line 12: cue ends"),
        ("a.md", "**Pergunta 1**: x\n\n- *Corpus ID:* 1\n- *Score:* 0.8\n- *Início:* 00:00:01\n- *Transcrição:* oi\n", r"a.md, line 3, field 'Fim': segment 1 lacks Fim"),
        ("a.md", "- *Corpus ID:* 1\n- *Score:* alto\n- *Início:* 00:00:01\n- *Fim:* 00:00:02\n- *Transcrição:* oi\n", r"a.md, line 2, field 'Score': score 'alto' is not a number"),
        ("a.md", "**Pergunta 1**: nenhuma lista aqui\n", r"a.md: no cues found"),
    ],
)
def test_bad_input_names_file_and_line_or_field(tmp_path, name, content, pattern):
    with pytest.raises(InputError, match=pattern):
        read_transcript(write(tmp_path, name, content))


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "a.srt"
    path.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\naula de regulariza" + "ção\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"a.srt, line 3: byte 0xe7 is not UTF-8"):
        read_transcript(path)


def test_input_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        read_transcript(write(tmp_path, "a.vtt", ""))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_transcript(tmp_path / "nada.vtt")


# --------------------------------------------------------------------------- real data


def _independent_tier_count(path, tier):
    """Count the tier's worded intervals straight from the file's lines (no shared code)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f'\t\tname = "{tier}"')
    texts, spans = [], []
    for i in range(start + 1, len(lines)):
        line = lines[i].strip()
        if line.startswith("class = "):
            break
        if line.startswith("xmin = ") and lines[i + 2].strip().startswith("text = "):
            text = lines[i + 2].strip()[len('text = "') : -1]
            if text.strip(" .…"):
                texts.append(text)
                spans.append((float(line[7:]), float(lines[i + 1].strip()[7:])))
    return texts, spans


def test_every_nurc_lecture_matches_an_independent_count(nurc_dir):
    files = sorted(nurc_dir.glob("*.TextGrid"))
    assert len(files) == 6
    total_s = 0.0
    for path in files:
        cues = read_transcript(path, tier="TB-l1")
        texts, spans = _independent_tier_count(path, "TB-l1")
        assert len(cues) == len(texts), path.name
        np.testing.assert_allclose(cues[["start_s", "end_s"]].to_numpy(float), np.array(spans), atol=1e-6)
        assert (cues["end_s"] >= cues["start_s"]).all() and cues["start_s"].is_monotonic_increasing
        total_s += cues["end_s"].max()
    assert 4.0 <= total_s / 3600 <= 4.6  # the data README says 4.3 h of speech


def test_nurc_lecture_124_header_and_default_tier(nurc_dir):
    path = nurc_dir / "SP_EF_124.TextGrid"
    cues = read_transcript(path)  # default: first interval tier with words
    assert cues.attrs["tier"] == "TB-l1"
    assert re.search(r"xmax = 2790.0", path.read_text(encoding="utf-8"))
    assert cues["end_s"].max() <= 2790.0
    assert cues["text"].iloc[0] == "(...) relacional... não é?"
    asr = read_transcript(path, tier="Transcription")
    assert asr.attrs["tier"] == "Transcription" and len(asr) > 100


@pytest.mark.parametrize(
    "name, first_id, score, start, end, text_start",
    [
        ("record_pergunta_086.md", "7959", 0.8566197156906128, 480.0, 641.0, "é exatamente o cara"),
        ("record_pergunta_118.md", "7961", None, 721.0, 888.0, None),
    ],
)
def test_study_records(seeds_dir, name, first_id, score, start, end, text_start):
    cues = read_transcript(seeds_dir / name)
    assert cues.attrs["format"] == "record"
    assert len(cues) == 10
    first = cues.iloc[0]
    assert first["corpus_id"] == first_id
    assert (first["start_s"], first["end_s"]) == (start, end)
    if score is not None:
        assert first["score"] == score
    if text_start is not None:
        assert first["text"].startswith(text_start)
    # the record's own bullets, counted independently
    raw = (seeds_dir / name).read_text(encoding="utf-8")
    assert cues["corpus_id"].tolist() == re.findall(r"\*Corpus ID:\* (\S+)", raw)
    assert cues["score"].tolist() == [float(s) for s in re.findall(r"\*Score:\* (\S+)", raw)]
    assert cues["score"].between(0.82, 0.86).all()  # the study: a narrow band of E5 cosines
    assert (cues["end_s"] > cues["start_s"]).all()


def test_paper_copies_read_like_the_seeds(root, seeds_dir):
    for seed in seeds_dir.glob("*.md"):
        a = read_transcript(seed)
        b = read_transcript(root / "data" / "paper" / seed.name)
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
