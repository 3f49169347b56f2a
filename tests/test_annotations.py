"""Human labels in (CSV/XLSX, the labelling form) and the LLMJudge benchmark."""

import numpy as np
import pandas as pd
import pytest

from helpers.annotations import export_sheet, labelling_form, read_annotations, read_llmjudge
from helpers.errors import InputError
from helpers.runs import write_table


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_read_annotations_csv_and_xlsx_several_annotators(tmp_path):
    a = write(tmp_path / "ana.csv", "question_id,label\nq01,c\nq02, P \nq03,\n")
    pd.DataFrame({"question_id": ["q01", "q02"], "label": ["C", "I"], "annotator": ["bruno", "bruno"]}).to_excel(
        tmp_path / "b.xlsx", index=False)
    ann = read_annotations([a, tmp_path / "b.xlsx"])
    # the empty label of q03 is a row not labelled yet: dropped, not invented
    assert ann[["question_id", "annotator", "label"]].values.tolist() == [
        ["q01", "ana", "C"], ["q02", "ana", "P"], ["q01", "bruno", "C"], ["q02", "bruno", "I"]]
    assert set(ann["answer_source"]) == {"generated"}
    assert ann["line"].tolist() == [2, 3, 2, 3]


@pytest.mark.parametrize("text, field, line", [
    ("question_id,rotulo\nq01,C\n", "label", None),
    ("question_id,label\nq01,C\nq02,X\n", "label", 3),
    ("question_id,label\nq01,C\nq01,P\n", "label", 3),
    ("question_id,label\n,C\n", "question_id", 2),
])
def test_read_annotations_bad_input_names_file_line_and_field(tmp_path, text, field, line):
    path = write(tmp_path / "labels.csv", text)
    with pytest.raises(InputError) as err:
        read_annotations(path)
    assert err.value.field == field and err.value.line == line
    assert "labels.csv" in str(err.value)


def test_read_annotations_empty_label_rejected_when_asked(tmp_path):
    path = write(tmp_path / "labels.csv", "question_id,label\nq01,\n")
    with pytest.raises(InputError, match="line 2"):
        read_annotations(path, allow_empty=False)


def _tiny_run(run_dir):
    write_table(pd.DataFrame({"question_id": ["q1", "q2"], "question": ["O que é dropout?", "Para que serve a U-Net?"]}),
                run_dir, "questions")
    write_table(pd.DataFrame({"segment_id": ["a-0", "a-1"], "text": ["dropout desliga neurônios", "a U-Net segmenta"]}),
                run_dir, "segments")
    write_table(pd.DataFrame({"question_id": ["q1", "q1", "q2", "q2"], "rank": [1, 2, 1, 2],
                              "segment_id": ["a-0", "a-1", "a-1", "a-0"], "score": [.86, .84, .85, .83]}), run_dir, "retrievals")
    write_table(pd.DataFrame({"question_id": ["q1", "q2"], "answer": ["Desliga neurônios ao acaso.", "Segmentação."]}),
                run_dir, "answers")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_sheet_then_read_back(tmp_path, suffix):
    _tiny_run(tmp_path)
    sheet = export_sheet(tmp_path, tmp_path / f"sheet{suffix}", top_segments=1)
    df = pd.read_csv(sheet) if suffix == ".csv" else pd.read_excel(sheet)
    assert df["question_id"].tolist() == ["q1", "q2"]
    assert df.loc[0, "segments"] == "[1] dropout desliga neurônios"
    # a person fills the label column; the sheet reads back as annotations
    df["label"] = ["C", "P"]
    df["annotator"] = "prof"
    df.to_csv(tmp_path / "filled.csv", index=False)
    ann = read_annotations(tmp_path / "filled.csv")
    assert ann[["question_id", "answer_source", "annotator", "label"]].values.tolist() == [
        ["q1", "generated", "prof", "C"], ["q2", "generated", "prof", "P"]]


def test_labelling_form_saves_each_click_and_resumes(tmp_path):
    pytest.importorskip("ipywidgets")
    items = pd.DataFrame({"question_id": ["q1", "q2", "q3"], "question": ["?"] * 3, "answer": ["a", "b", "c"]})
    out = tmp_path / "labels.csv"
    form = labelling_form(items, out, annotator="ana")
    buttons = {b.description: b for b in form.children[2].children}
    buttons["C"].click()
    # saved on the click, before the form is closed: a dead kernel loses nothing
    assert read_annotations(out)[["question_id", "label"]].values.tolist() == [["q1", "C"]]
    buttons["I"].click()
    # a new form (the kernel restarted) starts at the first unlabelled answer
    form2 = labelling_form(items, out, annotator="ana")
    assert "q3" in form2.children[0].value
    next(b for b in form2.children[2].children if b.description == "P").click()
    assert "All answers labelled" in form2.children[0].value
    ann = read_annotations(out)
    assert ann[["question_id", "label"]].values.tolist() == [["q1", "C"], ["q2", "I"], ["q3", "P"]]
    # another annotator starts from the beginning
    assert "q1" in labelling_form(items, out, annotator="bruno").children[0].value


def test_read_llmjudge_counts_match_the_files(llmjudge_dir):
    df = read_llmjudge(llmjudge_dir)
    assert df["judge"].nunique() == 33
    assert df["query_id"].nunique() == 25
    sizes = df.groupby("judge").size()
    assert (sizes == 4423).all()
    human_lines = [line for line in (llmjudge_dir / "llmjudge_test_qrel_idx.txt").read_text().splitlines() if line.strip()]
    assert len(human_lines) == 4423
    # labels outside 0-3 are kept as missing and counted, never clipped
    invalid = df.attrs["invalid"]
    assert invalid["RMITIR-llama70B"] == 2 and invalid["h2oloo-zeroshot2"] == 1
    assert sum(invalid.values()) == int(df["label"].isna().sum())
    assert set(df["label"].dropna().unique()) <= {0, 1, 2, 3}
    assert df["query"].str.len().gt(0).all()


def test_read_llmjudge_bad_line_names_file_and_line(tmp_path):
    (tmp_path / "scores").mkdir()
    write(tmp_path / "llmjudge_test_qrel_idx.txt", "q1 0 p1 3\nq1 0 p2 1\n")
    write(tmp_path / "scores" / "judge-a.txt", "q1 0 p1 3\nq1 0 p2 two\n")
    with pytest.raises(InputError) as err:
        read_llmjudge(tmp_path)
    assert err.value.line == 2 and err.value.field == "label" and "judge-a.txt" in str(err.value)
    write(tmp_path / "scores" / "judge-a.txt", "q1 0 p1 3\nq1 0 p2 5\n")
    df = read_llmjudge(tmp_path)
    assert df["label"].tolist()[0] == 3 and np.isnan(df["label"].tolist()[1])
    assert df.attrs["invalid"] == {"judge-a": 1}
