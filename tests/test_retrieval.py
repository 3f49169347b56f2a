"""Questions, gold spans and retrieval metrics."""

import pandas as pd
import pytest

from helpers.errors import InputError
from helpers.retrieval import (
    parse_gold_spans,
    read_questions,
    relevant_segments,
    retrieval_metrics,
    study_retrievals,
    summarise_metrics,
)


def test_parse_gold_spans():
    assert parse_gold_spans("aula01 00:01:00-00:01:30;aula02 10:00.5-10:20") == [("aula01", 60.0, 90.0), ("aula02", 600.5, 620.0)]
    assert parse_gold_spans(" ") == []


@pytest.mark.parametrize("cell, msg", [("aula01 00:02:00", "cannot read gold span"), ("aula01 00:02:00-00:01:00", "ends before"), ("aula01 xx-00:01:00", "xx")])
def test_bad_gold_spans_name_the_line(tmp_path, cell, msg):
    path = tmp_path / "q.csv"
    pd.DataFrame({"question_id": ["q1", "q2"], "question": ["a?", "b?"], "gold_spans": ["", cell]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=msg) as err:
        read_questions(path)
    assert "q.csv" in str(err.value) and "line 3" in str(err.value)


def test_missing_column_and_duplicates(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("id,question\nq1,a?\n", encoding="utf-8")
    with pytest.raises(InputError, match="question_id"):
        read_questions(path)
    path.write_text("question_id,question\nq1,a?\nq1,b?\n", encoding="utf-8")
    with pytest.raises(InputError, match="repeats line 2") as err:
        read_questions(path)
    assert "line 3" in str(err.value)


def test_sample_questions_are_valid(root):
    qs = read_questions(root / "data/sample/questions.csv")
    assert len(qs) >= 12
    assert (qs["gold_spans"].map(len) == 0).sum() >= 1  # a question the lectures do not answer
    assert (qs["gold_spans"].map(len) >= 2).sum() >= 1  # answers that span two places


@pytest.fixture
def toy():
    segs = pd.DataFrame({
        "segment_id": ["a-0", "a-1", "a-2", "b-0"],
        "lecture_id": ["a", "a", "a", "b"],
        "start_s": [0.0, 120.0, 240.0, 0.0],
        "end_s": [160.0, 280.0, 400.0, 160.0],
    })
    qs = pd.DataFrame({
        "question_id": ["q1", "q2", "q3"],
        "gold_spans": [[("a", 250.0, 270.0)], [("a", 10.0, 20.0), ("b", 50.0, 60.0)], []],
        "gold_segment_ids": [[], [], []],
    })
    rets = pd.DataFrame({
        "question_id": ["q1"] * 3 + ["q2"] * 3 + ["q3"] * 3,
        "rank": [1, 2, 3] * 3,
        "segment_id": ["b-0", "a-1", "a-2", "a-0", "a-1", "a-2", "a-0", "a-1", "b-0"],
        "score": [0.9, 0.8, 0.7] * 3,
    })
    return segs, qs, rets


def test_relevant_segments(toy):
    segs, qs, _ = toy
    rel = relevant_segments(qs, segs)
    assert rel == {"q1": [{"a-1", "a-2"}], "q2": [{"a-0"}, {"b-0"}], "q3": []}


def test_metrics_by_hand(toy):
    segs, qs, rets = toy
    m = retrieval_metrics(rets, qs, segs, ks=(1, 3)).set_index("question_id")
    assert m.loc["q1", "rr"] == 0.5 and m.loc["q1", "recall@1"] == 0 and m.loc["q1", "recall@3"] == 1
    assert m.loc["q2", "rr"] == 1.0 and m.loc["q2", "recall@1"] == 0.5 and m.loc["q2", "recall@3"] == 0.5
    assert not m.loc["q3", "answerable"] and pd.isna(m.loc["q3", "rr"])
    s = summarise_metrics(m.reset_index())
    assert s["MRR"] == 0.75 and s["recall@1"] == 0.25 and s["n_answerable"] == 2


def test_study_retrievals_reads_each_record_in_rank_order(seeds_dir):
    ref = study_retrievals([str(seeds_dir / "record_pergunta_*.md")])
    assert ref.groupby("question_id")["rank"].apply(list).to_dict() == {
        "study 086": list(range(1, 11)), "study 118": list(range(1, 11))}
    first = ref[(ref["question_id"] == "study 086") & (ref["rank"] == 1)].iloc[0]
    assert first["score"] == pytest.approx(0.8566197156906128) and first["corpus_id"] == "7959"  # the record's own
    assert ref.groupby("question_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    # no records: an empty table with the key columns (nothing drawn); a pattern that matches nothing: an error
    assert study_retrievals([]).empty and list(study_retrievals([]).columns) == ["question_id", "rank", "score"]
    with pytest.raises(InputError):
        study_retrievals([str(seeds_dir / "nothing_*.md")])
