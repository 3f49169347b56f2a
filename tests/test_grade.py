"""Grading answers that no run produced: reading them, the table, the command line."""

import math

import pandas as pd
import pytest
from test_correctness import QUESTIONS, ScriptedLLM

from helpers import correctness as C
from helpers.__main__ import main
from helpers.errors import InputError
from helpers.retrieval import read_answer_bank, read_questions


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_answers_to_grade_need_no_label_nor_source(tmp_path):
    path = _write(tmp_path / "answers.csv", "question_id,answer,label\nq1,São 64 canais.,C\nq1,São 32 canais.,\n")
    answers = read_answer_bank(path, labelled=False)
    assert answers["answer_source"].tolist() == ["line2", "line3"] and answers["label"].tolist() == ["C", ""]
    with pytest.raises(InputError) as err:  # a labelled bank needs its answer_source column
        read_answer_bank(path)
    assert err.value.field == "answer_source" and "missing column" in str(err.value)
    path = _write(tmp_path / "bank.csv", "question_id,answer_source,answer,label\nq1,a,São 64 canais.,C\nq1,b,São 32 canais.,\n")
    with pytest.raises(InputError) as err:  # and a label on every line
        read_answer_bank(path)
    assert err.value.line == 3 and err.value.field == "label"


def test_a_wrong_label_is_still_an_error_naming_its_line(tmp_path):
    path = _write(tmp_path / "answers.csv", "question_id,answer,label\nq1,São 64 canais.,C\nq1,São 32 canais.,X\n")
    with pytest.raises(InputError) as err:
        read_answer_bank(path, labelled=False)
    assert err.value.line == 3 and err.value.field == "label" and "answers.csv" in str(err.value)


def test_grade_answers_puts_the_judge_and_the_baselines_beside_the_human_label():
    answers = pd.DataFrame({"question_id": ["q1", "q1", "q2"], "answer_source": ["a", "b", "c"],
                            "answer": ["64 canais, um por filtro.", "São 32 canais.", "Para regularizar."],
                            "label": ["C", "", "C"]})
    table = C.grade_answers(ScriptedLLM(), QUESTIONS, answers, progress=False)
    assert table.columns.tolist() == C.GRADE_COLUMNS and len(table) == 3
    right, wrong, no_ref = (table.iloc[i] for i in range(3))
    assert right["token_f1"] == 1.0 and wrong["token_f1"] < 1.0  # the baselines against the reference
    assert right["expected_score"] > wrong["expected_score"] and right["judge_label"] == "C" and wrong["judge_label"] == "I"
    assert right["label"] == "C" and wrong["label"] == ""  # the human label, as read
    assert no_ref["status"] == "no_reference" and math.isnan(no_ref["expected_score"]) and math.isnan(no_ref["token_f1"])


def test_grade_command_rejects_bad_input_with_a_clear_error(tmp_path, capsys):
    questions = _write(tmp_path / "questions.csv", "question_id,question,reference_answer\nq1,Quantos canais?,64 canais.\n")
    answers = _write(tmp_path / "answers.csv", "question_id,answer\nq9,São 64 canais.\n")
    assert main(["grade", str(questions), str(answers), "--out", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert "answers.csv" in err and "line 2" in err and "q9" in err
    answers = _write(tmp_path / "answers.csv", "question_id,answer\nq1,São 64 canais.\n")
    assert main(["grade", str(questions), str(answers), "--out", str(tmp_path / "out.csv"), "--cutoffs", "low,high"]) == 2
    assert "--cutoffs" in capsys.readouterr().err and not (tmp_path / "out.csv").exists()


@pytest.mark.slow
def test_grade_command_grades_sample_answers_with_the_default_model(tmp_path, sample_dir, capsys):
    """Four real answers of the sample's bank, the offline default model: a table and the agreement."""
    bank = pd.read_csv(sample_dir / "answer_bank.csv")
    pick = bank[bank["question_id"].isin(["q02", "q05"]) & bank["label"].isin(["C", "I"])]
    answers = tmp_path / "answers.csv"
    pick.to_csv(answers, index=False)
    out = tmp_path / "graded.csv"
    args = ["grade", str(sample_dir / "questions.csv"), str(answers), "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--quiet"]
    assert main(args) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) == 4 and set(table["judge_label"]) <= {"C", "P", "I"} and (table["status"] == "ok").all()
    printed = capsys.readouterr().out
    assert "4 answers graded" in printed and "cohen_kappa_quadratic" in printed
    assert "cut-offs" in table["reason"].iloc[0]  # the default model: the shipped cut-offs label the grade
    assert main(args) == 0  # a second run is served by the cache
    assert pd.read_csv(out, keep_default_na=False).equals(table)
    assert len(read_questions(sample_dir / "questions.csv")) == 28
