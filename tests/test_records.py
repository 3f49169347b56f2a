"""Study records: read the two seeds exactly, write them back byte for byte, build records from a run."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from helpers.errors import InputError
from helpers.records import (
    MISSING,
    format_record,
    format_time,
    read_records,
    records_from_run,
    write_records,
    write_run_records,
)
from helpers.transcripts import read_transcript

SEEDS = ("record_pergunta_086.md", "record_pergunta_118.md")
NO_PLACE = ["source", "line"]


@pytest.fixture(scope="module")
def seeds(seeds_dir):
    return [seeds_dir / name for name in SEEDS]


@pytest.fixture(scope="module")
def seed_tables(seeds):
    return read_records(seeds)


def _raw_fields(path):
    """What a record says, read with plain regular expressions (independent of the reader)."""
    text = path.read_text(encoding="utf-8")

    def one(pattern):
        return re.search(pattern, text, re.M)[1]

    return {
        "number": int(one(r"^\*\*Pergunta (\d+)\*\*: ")),
        "question": one(r"^\*\*Pergunta \d+\*\*: (.*)$"),
        "answer": one(r"^\*\*Resposta gerada pelo LLM\*\*: (.*)$"),
        "manual": one(r"^\*\*Anotação manual\*\*: (.*)$"),
        "ar": one(r"^\*\*Answer Relevance \(AR\)\*\*: (.*)$"),
        "automated": one(r"^\*\*Anotação automatizada\*\*: (.*)$"),
        "reasoning": one(r"^\*\*Raciocínio \(AR CoT\)\*\*: (.*)$"),
        "corpus_ids": re.findall(r"^- \*Corpus ID:\* (.*)$", text, re.M),
        "scores": re.findall(r"^- \*Score:\* (.*)$", text, re.M),
        "starts": re.findall(r"^- \*Início:\* (.*)$", text, re.M),
        "ends": re.findall(r"^- \*Fim:\* (.*)$", text, re.M),
        "texts": re.findall(r"^- \*Transcrição:\* (.*)$", text, re.M),
    }


def _clock(text):
    h, m, s = (int(x) for x in text.split(":"))
    return h * 3600 + m * 60 + s


def _assert_same_records(a, b):
    (qa, ra), (qb, rb) = a, b
    pd.testing.assert_frame_equal(qa.drop(columns=NO_PLACE), qb.drop(columns=NO_PLACE))
    pd.testing.assert_frame_equal(ra.drop(columns=["line"]), rb.drop(columns=["line"]))


# ----------------------------------------------------------------------------- reading the seeds


def test_seed_086_fields(seed_tables, seeds):
    questions, retrieved = seed_tables
    q = questions.set_index("question_id").loc["pergunta_086"]
    assert q["question_number"] == 86
    assert q["question"] == "Por que a rede U-Net não pode ser construída com um modelo sequencial?"
    assert q["retriever"] == "E5"
    assert q["answer"] == "Porque existem atalhos de concatenação."
    assert q["references"] == ["- [Vídeo de referência oculto]()"]
    assert q["manual_label"] == "C"
    assert q["answer_relevance"] == 0.33 and q["answer_relevance_text"] == "0.33"
    assert q["automated_label"] == "P"
    assert q["reasoning"].startswith("Criteria: The RESPONSE must be relevant to the entire PROMPT")
    assert q["reasoning"].endswith("does not address the entire PROMPT comprehensively.  Score: 1")  # two spaces kept
    assert q["source"] == str(seeds[0]) and q["line"] == 1

    segs = retrieved[retrieved["question_id"] == "pergunta_086"]
    assert len(segs) == 10 and segs["rank"].tolist() == list(range(1, 11))
    first = segs.iloc[0]
    assert first["corpus_id"] == "7959"
    assert first["score"] == 0.8566197156906128 and first["score_text"] == "0.8566197156906128"
    assert (first["start"], first["end"]) == ("00:08:00", "00:10:41")
    assert (first["start_s"], first["end_s"]) == (480.0, 641.0)
    assert first["url"] == "oculto"
    assert first["text"].startswith("é exatamente o cara que vai ser concatenado lá do lado")
    assert first["text"].endswith("por que que esse cara não pode ser sequencial exatamente pel")
    assert first["line"] == 4
    assert segs["corpus_id"].tolist() == ["7959", "7960", "7029", "7717", "7031", "6793", "5736", "6694", "7705", "7728"]
    assert segs["score"].is_monotonic_decreasing
    # A score with fewer digits is kept as written, not padded.
    assert segs.iloc[4]["score_text"] == "0.850906491279602"


@pytest.mark.parametrize("name", SEEDS)
def test_seed_fields_match_the_file(seed_tables, seeds_dir, name):
    raw = _raw_fields(seeds_dir / name)
    questions, retrieved = seed_tables
    qid = f"pergunta_{raw['number']:03d}"
    q = questions.set_index("question_id").loc[qid]
    assert q["question_number"] == raw["number"]
    assert q["question"] == raw["question"]
    assert q["answer"] == raw["answer"]
    assert q["manual_label"] == raw["manual"]
    assert q["answer_relevance_text"] == raw["ar"] and q["answer_relevance"] == float(raw["ar"])
    assert q["automated_label"] == raw["automated"]
    assert q["reasoning"] == raw["reasoning"]
    segs = retrieved[retrieved["question_id"] == qid]
    assert segs["corpus_id"].tolist() == raw["corpus_ids"]
    assert segs["score_text"].tolist() == raw["scores"]
    assert segs["score"].tolist() == [float(s) for s in raw["scores"]]
    assert segs["start"].tolist() == raw["starts"] and segs["end"].tolist() == raw["ends"]
    assert segs["start_s"].tolist() == [_clock(t) for t in raw["starts"]]
    assert segs["end_s"].tolist() == [_clock(t) for t in raw["ends"]]
    assert segs["text"].tolist() == raw["texts"]


def test_seed_118_values(seed_tables):
    questions, retrieved = seed_tables
    q = questions.set_index("question_id").loc["pergunta_118"]
    assert q["question"] == "Qual a função da camada de saída na rede U-Net?"
    assert (q["manual_label"], q["answer_relevance"], q["answer_relevance_text"], q["automated_label"]) == ("C", 1.0, "1.00", "C")
    assert q["reasoning"].endswith("Score: 3")
    segs = retrieved[retrieved["question_id"] == "pergunta_118"]
    assert len(segs) == 10
    first = segs.iloc[0]
    assert (first["corpus_id"], first["score"], first["start"], first["end"]) == ("7961", 0.837855339050293, "00:12:01", "00:14:48")


def test_the_scores_are_float32_values(seed_tables):
    """The study's scores are float32 similarities printed as float64 (what float(np.float32) gives)."""
    _, retrieved = seed_tables
    assert all(float(np.float32(s)) == s for s in retrieved["score"])


def test_read_records_accepts_a_path_a_pattern_a_folder_and_a_list(seeds, seeds_dir, seed_tables):
    assert read_records(seeds[0])[0]["question_id"].tolist() == ["pergunta_086"]
    assert read_records(str(seeds_dir / "record_pergunta_*.md"))[0]["question_id"].tolist() == ["pergunta_086", "pergunta_118"]
    assert read_records(seeds_dir)[0]["question_id"].tolist() == ["pergunta_086", "pergunta_118"]
    questions, retrieved = read_records([str(p) for p in reversed(seeds)])
    assert questions["question_id"].tolist() == ["pergunta_118", "pergunta_086"]
    assert retrieved["question_id"].tolist() == ["pergunta_118"] * 10 + ["pergunta_086"] * 10


def test_the_transcript_reader_reads_what_we_write(tmp_path, seed_tables):
    out = tmp_path / "both.md"
    write_records(*seed_tables, out)
    cues = read_transcript(out)
    assert len(cues) == 20
    assert cues["corpus_id"].tolist() == seed_tables[1]["corpus_id"].tolist()
    assert cues["score"].tolist() == seed_tables[1]["score"].tolist()


# ----------------------------------------------------------------------------- writing


@pytest.mark.parametrize("name", SEEDS)
def test_format_record_reproduces_each_seed_byte_for_byte(seed_tables, seeds_dir, name):
    questions, retrieved = seed_tables
    qid = name[len("record_") : -len(".md")]
    row = questions.set_index("question_id", drop=False).loc[qid]
    text = format_record(row, retrieved[retrieved["question_id"] == qid])
    assert text.encode("utf-8") == (seeds_dir / name).read_bytes()


def test_write_records_to_a_folder_reproduces_the_seeds(tmp_path, seed_tables, seeds_dir):
    written = write_records(*seed_tables, tmp_path / "records")
    assert [p.name for p in written] == list(SEEDS)
    for path in written:
        assert path.read_bytes() == (seeds_dir / path.name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == list(SEEDS)  # no temporary files left


def test_read_write_read_is_field_for_field_equal(tmp_path, seed_tables):
    write_records(*seed_tables, tmp_path)
    again = read_records(sorted(tmp_path.glob("*.md")))
    _assert_same_records(seed_tables, again)


def test_numbers_are_formatted_when_no_literal_is_kept(tmp_path, seed_tables, seeds_dir):
    questions, retrieved = seed_tables
    questions = questions.drop(columns=["answer_relevance_text"])
    retrieved = retrieved.drop(columns=["score_text", "start", "end"])
    write_records(questions, retrieved, tmp_path)
    for name in SEEDS:
        assert (tmp_path / name).read_bytes() == (seeds_dir / name).read_bytes()


def test_a_changed_number_is_written_not_its_stale_literal(seed_tables):
    questions, retrieved = seed_tables
    q = questions.iloc[0].copy()
    q["answer_relevance"] = 2 / 3
    segs = retrieved[retrieved["question_id"] == q["question_id"]].copy()
    segs.loc[segs.index[0], "score"] = 0.5
    segs.loc[segs.index[0], "start_s"] = 481.25
    text = format_record(q, segs)
    assert "**Answer Relevance (AR)**: 0.67\n" in text
    assert "- *Score:* 0.5\n" in text
    assert "- *Início:* 00:08:01.250\n" in text


def test_a_multi_record_file_round_trips(tmp_path, seed_tables, seeds_dir):
    out = tmp_path / "all.md"
    assert write_records(*seed_tables, out) == [out]
    assert out.read_bytes() == b"".join((seeds_dir / name).read_bytes() for name in SEEDS)
    again = read_records(out)
    _assert_same_records(seed_tables, again)
    assert again[0]["line"].tolist() == [1, 90]
    assert again[0]["source"].tolist() == [str(out), str(out)]
    write_records(*again, tmp_path / "again.md")
    assert (tmp_path / "again.md").read_bytes() == out.read_bytes()


def test_records_may_be_separated_by_blank_lines_and_lack_the_last_separator(tmp_path, seeds_dir):
    a, b = ((seeds_dir / name).read_text(encoding="utf-8") for name in SEEDS)
    path = tmp_path / "loose.md"
    path.write_text("\n\n" + a + "\n\n" + b.rstrip().removesuffix("---").rstrip() + "\n", encoding="utf-8")
    questions, retrieved = read_records(path)
    assert questions["question_number"].tolist() == [86, 118] and len(retrieved) == 20
    assert questions["line"].tolist() == [3, 94]


def test_crlf_and_bom_are_accepted(tmp_path, seeds_dir, seed_tables):
    path = tmp_path / "crlf.md"
    path.write_bytes(b"\xef\xbb\xbf" + (seeds_dir / SEEDS[0]).read_bytes().replace(b"\n", b"\r\n"))
    questions, retrieved = read_records(path)
    one = seed_tables[0].iloc[:1]
    pd.testing.assert_frame_equal(questions.drop(columns=NO_PLACE), one.drop(columns=NO_PLACE))


def test_unknown_values_are_written_as_a_dash_and_read_back_as_missing(tmp_path):
    q = pd.DataFrame(
        [
            {
                "question_id": "pergunta_007",
                "question_number": 7,
                "question": "O que é dropout?",
                "answer": None,
                "references": [],
                "manual_label": None,
                "answer_relevance": float("nan"),
                "automated_label": None,
                "reasoning": None,
            }
        ]
    )
    path = tmp_path / "record.md"
    write_records(q, None, path)
    text = path.read_text(encoding="utf-8")
    assert text == (
        "**Pergunta 7**: O que é dropout?\n\n"
        "**Segmentos recuperados pelo E5**:\n\n"
        f"**Resposta gerada pelo LLM**: {MISSING}\n\n"
        "**Referências**:\n\n"
        f"**Anotação manual**: {MISSING}\n\n"
        f"**Answer Relevance (AR)**: {MISSING}\n\n"
        f"**Anotação automatizada**: {MISSING}\n\n"
        f"**Raciocínio (AR CoT)**: {MISSING}\n\n\n---\n"
    )
    questions, retrieved = read_records(path)
    row = questions.iloc[0]
    assert row["answer"] is None and row["reasoning"] is None
    assert row["manual_label"] is None and row["automated_label"] is None
    assert math.isnan(row["answer_relevance"]) and row["answer_relevance_text"] is None
    assert row["references"] == [] and retrieved.empty


def test_multi_line_answer_and_reasoning_round_trip(tmp_path, seed_tables):
    questions, retrieved = seed_tables
    questions = questions.copy()
    questions.loc[0, "answer"] = "Primeiro parágrafo.\n\n- um item\n- **negrito**: outro"
    questions.loc[0, "reasoning"] = "Criteria: x\n\n---\n\nSupporting Evidence: y\n**Pergunta 3**: not a header here\n\nScore: 2"
    path = tmp_path / "multi.md"
    write_records(questions, retrieved, path)
    again = read_records(path)
    _assert_same_records((questions, retrieved), again)
    write_records(*again, tmp_path / "again.md")
    assert (tmp_path / "again.md").read_bytes() == path.read_bytes()


def test_format_time():
    assert format_time(0) == "00:00:00"
    assert format_time(5136) == "01:25:36"
    assert format_time(7.867) == "00:00:07.867"
    assert format_time(360000) == "100:00:00"


# ----------------------------------------------------------------------------- bad input


def _mutated(tmp_path, seeds_dir, old, new, count=1):
    text = (seeds_dir / SEEDS[0]).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "bad.md"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "old, new, line, field",
    [
        ("**Anotação manual**: C\n\n", "", 1, "Anotação manual"),
        ("**Answer Relevance (AR)**: 0.33", "**Answer Relevance (AR)**: alta", 82, "Answer Relevance (AR)"),
        ("**Answer Relevance (AR)**: 0.33", "**Answer Relevance (AR)**: 2", 82, "Answer Relevance (AR)"),
        ("- *Fim:* 00:10:41\n", "", 4, "Fim"),
        ("- *Score:* 0.8566197156906128", "- *Score:* alto", 5, "Score"),
        ("- *Início:* 00:08:00", "- *Início:* oito minutos", 7, "Início"),
        ("- *Início:* 00:08:00", "- *Início:* 00:11:00", 8, "Fim"),
        ("- *Início:* 00:08:00", "- *Inicio:* 00:08:00\n- *Início:* 00:08:00", 8, "Início"),
        ("- *URL:* oculto", "- *Link:* oculto", 6, "Link"),
        ("**Anotação manual**: C", "**Anotação manual**: correto", 80, "Anotação manual"),
        ("**Anotação automatizada**: P", "**Anotação automatizada**: P\nQ", 84, "Anotação automatizada"),
        ("**Raciocínio (AR CoT)**:", "**Raciocinio**:", 1, None),  # accent-less header is accepted: no error
        ("**Referências**:\n", "", 1, "Referências"),
        ("**Segmentos recuperados pelo E5**:\n", "", 1, "Segmentos"),
        ("\n\n- *Corpus ID:* 7960", "\n\nstray words\n- *Corpus ID:* 7960", 11, "Segmentos"),
        ("**Segmentos recuperados pelo E5**:", "**Segmentos recuperados pelo E5**: x", 3, "Segmentos"),
        ("**Pergunta 86**:", "Intro\n**Pergunta 86**:", 1, "Pergunta"),
    ],
)
def test_bad_records_name_file_line_and_field(tmp_path, seeds_dir, old, new, line, field):
    path = _mutated(tmp_path, seeds_dir, old, new)
    if field is None:
        assert read_records(path)[0]["reasoning"].iloc[0].startswith("Criteria:")
        return
    with pytest.raises(InputError) as info:
        read_records(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), line, field), str(err)
    assert str(path) in str(err) and f"line {line}" in str(err)


def test_a_question_seen_twice_is_an_error(tmp_path, seeds):
    path = tmp_path / "copy.md"
    path.write_bytes(seeds[0].read_bytes())
    with pytest.raises(InputError, match="appears twice") as info:
        read_records([seeds[0], path])
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 1, "Pergunta")


def test_missing_files_and_bad_bytes(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_records(tmp_path / "none.md")
    with pytest.raises(InputError, match="no file matches"):
        read_records(str(tmp_path / "*.md"))
    bad = tmp_path / "latin1.md"
    bad.write_bytes("**Pergunta 1**: Por que não?\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8") as info:
        read_records(bad)
    assert info.value.line == 1
    empty = tmp_path / "empty.md"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no records"):
        read_records(empty)


def test_writing_a_bad_label_is_an_error(seed_tables, tmp_path):
    questions, retrieved = seed_tables
    questions = questions.copy()
    questions.loc[1, "automated_label"] = "X"
    with pytest.raises(InputError, match="pergunta_118") as info:
        write_records(questions, retrieved, tmp_path / "out.md")
    assert info.value.field == "automated_label"
    assert not (tmp_path / "out.md").exists()


# ----------------------------------------------------------------------------- from a run


def _tiny_run(run_dir, *, full=True):
    run_dir.mkdir()
    pd.DataFrame(
        {
            "question_id": ["q86", "q118"],
            "question": ["Por que a U-Net não é sequencial?", "Qual a função da camada de saída?"],
            "reference_answer": ["Atalhos.", ""],
            # as notebook 02 writes it: the parsed spans as JSON
            "gold_spans": ['[["aula01", 480.0, 641.0]]', "[]"],
        }
    ).to_parquet(run_dir / "questions.parquet", engine="pyarrow", index=False)
    pd.DataFrame(
        {
            "question_id": ["q86", "q86", "q118"],
            "rank": [2, 1, 1],
            "segment_id": ["aula01_0002", "aula01_0001", "aula01_0002"],
            "score": np.array([0.8549192547798157, 0.8566197156906128, 0.837855339050293], dtype=np.float32),
        }
    ).to_parquet(run_dir / "retrievals.parquet", engine="pyarrow", index=False)
    pd.DataFrame(
        {
            "segment_id": ["aula01_0001", "aula01_0002", "aula01_0003"],
            "lecture_id": ["aula01", "aula01", "aula01"],
            "start_s": [480.0, 601.0, 722.5],
            "end_s": [641.0, 767.25, 900.0],
            "text": ["é exatamente o cara", "transposto com número\nde filtros", "não usado"],
        }
    ).to_parquet(run_dir / "segments.parquet", engine="pyarrow", index=False)
    if not full:
        return
    pd.DataFrame({"question_id": ["q86", "q118"], "answer": ["Porque existem atalhos de concatenação.", "Três saídas."]}).to_parquet(
        run_dir / "answers.parquet", engine="pyarrow", index=False
    )
    pd.DataFrame(
        {
            "question_id": ["q86", "q86", "q86", "q118"],
            "metric": ["answer_relevance", "answer_relevance", "faithfulness", "answer_relevance"],
            "repetition": [0, 1, 0, 0],
            "score": [1.0, 3.0, 2.0, np.nan],
            "score_norm": [1 / 3, 1.0, 2 / 3, np.nan],
            "reason": ["Criteria: ...  Score: 1", "other repetition", "other metric", "unparseable output"],
            "label": ["P", "C", "P", None],
        }
    ).to_parquet(run_dir / "judgments.parquet", engine="pyarrow", index=False)
    pd.DataFrame({"question_id": ["q86", "q999"], "manual_label": ["correct", "I"]}).to_parquet(
        run_dir / "annotations.parquet", engine="pyarrow", index=False
    )


def test_records_from_run_read_back_with_the_right_numbers(tmp_path):
    run_dir = tmp_path / "run"
    _tiny_run(run_dir)
    written = write_run_records(run_dir)
    assert [p.name for p in written] == ["record_pergunta_086.md", "record_pergunta_118.md"]
    questions, retrieved = read_records(run_dir / "records")

    q86, q118 = questions.iloc[0], questions.iloc[1]
    assert q86["question"] == "Por que a U-Net não é sequencial?"
    assert q86["answer"] == "Porque existem atalhos de concatenação."
    assert (q86["manual_label"], q86["answer_relevance"], q86["answer_relevance_text"]) == ("C", 0.33, "0.33")
    assert (q86["automated_label"], q86["reasoning"]) == ("P", "Criteria: ...  Score: 1")
    assert q118["answer"] == "Três saídas."
    assert q118["manual_label"] is None and q118["automated_label"] is None
    assert math.isnan(q118["answer_relevance"]) and q118["reasoning"] == "unparseable output"

    r86 = retrieved[retrieved["question_id"] == "pergunta_086"]
    assert r86["rank"].tolist() == [1, 2]
    assert r86["corpus_id"].tolist() == ["aula01_0001", "aula01_0002"]
    assert r86["score_text"].tolist() == ["0.8566197156906128", "0.8549192547798157"]  # the study's float32 digits
    assert r86["start"].tolist() == ["00:08:00", "00:10:01"]
    assert r86["end"].tolist() == ["00:10:41", "00:12:47.250"]
    assert r86["end_s"].tolist() == [641.0, 767.25]
    assert r86["text"].tolist() == ["é exatamente o cara", "transposto com número de filtros"]
    assert r86["url"].tolist() == ["oculto", "oculto"]
    r118 = retrieved[retrieved["question_id"] == "pergunta_118"]
    assert r118["score"].tolist() == [0.837855339050293]

    # The in-memory tables write exactly what was read back.
    built = records_from_run(run_dir)
    assert built[0]["run_question_id"].tolist() == ["q86", "q118"]
    assert list(built[0]["references"].iloc[0]) == ["- [aula01 00:08:00-00:10:41]()"]
    text = format_record(built[0].iloc[0], built[1][built[1]["question_id"] == "pergunta_086"])
    assert text == (run_dir / "records" / "record_pergunta_086.md").read_text(encoding="utf-8")


def test_records_from_run_with_only_the_required_tables(tmp_path):
    run_dir = tmp_path / "run"
    _tiny_run(run_dir, full=False)
    questions, retrieved = records_from_run(run_dir, retriever="BM25")
    assert questions["answer"].isna().all() and questions["manual_label"].isna().all()
    assert questions["answer_relevance"].isna().all()
    write_records(questions, retrieved, run_dir / "records.md")
    again, again_segments = read_records(run_dir / "records.md")
    assert again["retriever"].tolist() == ["BM25", "BM25"]
    assert again["answer"].isna().all() and again["automated_label"].isna().all()
    assert len(again_segments) == 3


def test_records_from_run_numbers_questions_and_uses_gold_spans(tmp_path):
    run_dir = tmp_path / "run"
    _tiny_run(run_dir, full=False)
    qs = pd.DataFrame(
        {
            "question_id": ["alpha", "beta"],
            "question": ["A?", "B?"],
            "gold_spans": ["aula01 00:08:00-00:08:30", ""],
        }
    )
    qs.to_parquet(run_dir / "questions.parquet", engine="pyarrow", index=False)
    rt = pd.read_parquet(run_dir / "retrievals.parquet")
    rt["question_id"] = ["alpha", "alpha", "beta"]
    rt.to_parquet(run_dir / "retrievals.parquet", engine="pyarrow", index=False)
    questions, _ = records_from_run(run_dir)
    assert questions["question_id"].tolist() == ["pergunta_001", "pergunta_002"]
    assert questions["references"].tolist() == [["- [aula01 00:08:00-00:08:30]()"], []]


@pytest.mark.parametrize(
    "table, frame, field",
    [
        ("retrievals", pd.DataFrame({"question_id": ["q86"], "rank": [1], "segment_id": ["nope"], "score": [0.5]}), "segment_id"),
        ("retrievals", pd.DataFrame({"question_id": ["q86"], "rank": [1], "segment_id": ["aula01_0001"]}), "score"),
        ("retrievals", pd.DataFrame({"question_id": ["q7"], "rank": [1], "segment_id": ["aula01_0001"], "score": [0.5]}), "question_id"),
        ("answers", pd.DataFrame({"question_id": ["q86", "q86"], "answer": ["a", "b"]}), "question_id"),
        ("judgments", pd.DataFrame({"question_id": ["q86"], "metric": ["answer_relevance"], "label": ["maybe"]}), "label"),
    ],
)
def test_records_from_run_bad_tables(tmp_path, table, frame, field):
    run_dir = tmp_path / "run"
    _tiny_run(run_dir, full=False)
    frame.to_parquet(run_dir / f"{table}.parquet", engine="pyarrow", index=False)
    with pytest.raises(InputError) as info:
        records_from_run(run_dir)
    assert info.value.path == str(run_dir / f"{table}.parquet") and info.value.field == field


def test_records_from_run_needs_the_three_tables(tmp_path):
    run_dir = tmp_path / "run"
    _tiny_run(run_dir, full=False)
    (run_dir / "segments.parquet").unlink()
    with pytest.raises(InputError, match="segments.parquet"):
        records_from_run(run_dir)
