"""The evaluation table from runs, the study's records and LLMJudge; stability; metric association."""

import numpy as np
import pandas as pd
import pytest

from helpers import agreement
from helpers.analysis import (
    EVAL_COLUMNS,
    from_llmjudge,
    from_records,
    from_run,
    judge_agreement,
    metric_association,
    rater_agreement,
    stability,
)
from helpers.annotations import read_llmjudge
from helpers.runs import write_table

STUDY_MAP = {3: "C", 2: "P", 1: "P", 0: "I"}


def test_from_records_keeps_the_studys_numbers(seeds_dir):
    ev = from_records(sorted(seeds_dir.glob("*.md")), label_map=STUDY_MAP)
    assert list(ev.columns[: len(EVAL_COLUMNS)]) == EVAL_COLUMNS
    ev = ev.set_index("question_id")
    # record 86: manual C, AR 0.33 (score 1), automated P; record 118: C, 1.00 (3), C
    assert ev["human"].to_dict() == {"pergunta_086": "C", "pergunta_118": "C"}
    assert ev["score"].to_dict() == {"pergunta_086": 1.0, "pergunta_118": 3.0}
    assert ev["judge_label"].to_dict() == {"pergunta_086": "P", "pergunta_118": "C"}
    assert ev["label_map_agrees"].all()  # the default map reproduces both records
    # the study's top-10 E5 cosines all sit between 0.83 and 0.86
    assert ev["top_score"].between(0.83, 0.87).all() and (ev["score_spread"] < 0.04).all()


def test_from_records_shows_a_map_that_disagrees(seeds_dir):
    ev = from_records(sorted(seeds_dir.glob("*.md")), label_map={3: "C", 2: "C", 1: "I", 0: "I"})
    assert ev.set_index("question_id")["judge_label"]["pergunta_086"] == "P"  # the record's own label, as written
    assert not ev.set_index("question_id")["label_map_agrees"]["pergunta_086"]


def _kappa_by_hand(a, b, k=4):
    """Cohen's kappa from the confusion matrix, written out (independent of helpers.agreement)."""
    m = np.zeros((k, k))
    for x, y in zip(a, b):
        m[int(x), int(y)] += 1
    n = m.sum()
    po = np.trace(m) / n
    pe = (m.sum(1) @ m.sum(0)) / n**2
    return (po - pe) / (1 - pe)


@pytest.mark.parametrize("judge", ["Olz-exp", "RMITIR-llama70B"])
def test_llmjudge_kappa_matches_an_independent_computation(llmjudge_dir, judge):
    ev = from_llmjudge(read_llmjudge(llmjudge_dir))
    g = ev[ev["answer_source"] == judge]
    assert len(g) == 4423
    # the independent reading: the two files, line by line
    def read(path):
        return {(p[0], p[2]): int(p[3]) for p in (line.split() for line in path.read_text().splitlines()) if p}
    human = read(llmjudge_dir / "llmjudge_test_qrel_idx.txt")
    labels = read(llmjudge_dir / "scores" / f"{judge}.txt")
    pairs = [(h, labels[k]) for k, h in human.items() if labels.get(k) in (0, 1, 2, 3)]
    expected = _kappa_by_hand(*zip(*pairs))
    got = agreement.cohen_kappa(g["human"], g["score"], labels=(0, 1, 2, 3))
    assert got == pytest.approx(expected, abs=1e-12)
    summary = agreement.agreement_summary(g["human"], g["score"], labels=(0, 1, 2, 3), n_boot=0).set_index("statistic")
    assert summary.loc["cohen_kappa", "value"] == pytest.approx(expected, abs=1e-12)
    assert summary.loc["cohen_kappa", "n"] == len(pairs)
    assert summary.loc["cohen_kappa", "n_missing"] == 4423 - len(pairs)


def _run(tmp_path, judgments):
    write_table(pd.DataFrame(judgments), tmp_path, "judgments")
    write_table(pd.DataFrame({"question_id": ["q1", "q1", "q2", "q2"], "rank": [1, 2, 1, 2],
                              "segment_id": list("abab"), "score": [0.86, 0.84, 0.85, 0.845]}), tmp_path, "retrievals")
    return tmp_path


def test_from_run_joins_bank_labels_and_other_metrics(tmp_path):
    rows = []
    for q, src, s in [("q1", "generated", 3), ("q1", "bank:C", 3), ("q1", "bank:I", np.nan), ("q2", "bank:P", 1)]:
        rows.append({"question_id": q, "answer_source": src, "metric": "answer_relevance", "repetition": 0,
                     "score": s, "expected_score": np.nan, "status": "ok" if s == s else "unparsed"})
    for q, _rank, e in [("q1", 1, 2.6), ("q1", 2, 1.4), ("q2", 1, 0.5)]:
        rows.append({"question_id": q, "answer_source": "generated", "metric": "context_relevance", "repetition": 0,
                     "score": round(e), "expected_score": e, "status": "ok"})
    rows.append({"question_id": "q1", "answer_source": "generated", "metric": "groundedness", "repetition": 0,
                 "score": 2, "expected_score": np.nan, "status": "ok"})
    run = _run(tmp_path, rows)
    (tmp_path / "bank.csv").write_text(
        "question_id,answer_source,label,answer\nq1,bank:C,C,certa\nq1,bank:I,I,errada\nq2,bank:P,P,meio certa\n", encoding="utf-8")
    ev = from_run(run, label_map=STUDY_MAP, answer_bank=str(tmp_path / "bank.csv")).set_index("unit")
    assert list(ev.reset_index().columns) == EVAL_COLUMNS
    assert ev.loc["q1 · bank:C", "human"] == "C" and ev.loc["q1 · bank:C", "judge_label"] == "C"
    # an unreadable reply stays missing: no label invented for it
    assert np.isnan(ev.loc["q1 · bank:I", "score"]) and ev.loc["q1 · bank:I", "judge_label"] is None
    assert pd.isna(ev.loc["q1 · generated", "human"])  # nobody labelled the generated answer
    assert ev.loc["q1 · generated", "context_relevance"] == pytest.approx(2.0)  # mean expected score
    assert ev.loc["q1 · generated", "groundedness"] == 2 and np.isnan(ev.loc["q2 · bank:P", "groundedness"])
    assert np.isnan(ev.loc["q1 · bank:C", "groundedness"])  # judged for the generated answer, not this one
    assert ev.loc["q2 · bank:P", "score_spread"] == pytest.approx(0.005)


def test_stability_counts_flips():
    j = pd.DataFrame({"question_id": ["q1"] * 3 + ["q2"] * 3, "answer_source": "generated", "metric": "answer_relevance",
                      "repetition": [0, 1, 2] * 2, "score": [3, 3, 0, 2, 1, np.nan]})
    s = stability(j, label_map=STUDY_MAP).set_index("question_id")
    assert s.loc["q1", "labels"] == "CCI" and s.loc["q1", "flip_rate"] == pytest.approx(1 / 3)
    assert s.loc["q2", "flip_rate"] == 0 and s.loc["q2", "n"] == 3  # 2 and 1 are both P; the missing one is not a flip
    assert s.loc["q1", "variance"] == pytest.approx(np.var([3, 3, 0]))


def test_stability_leaves_out_items_judged_once():
    once = pd.DataFrame({"question_id": ["q1", "q2"], "answer_source": "generated", "metric": "answer_relevance",
                         "repetition": 0, "score": [3, 1]})
    s = stability(once, label_map=STUDY_MAP)
    assert s.empty and list(s.columns) == ["question_id", "answer_source", "n", "mean", "variance", "labels", "flip_rate"]
    twice = pd.concat([once, once.assign(repetition=1, score=[0, 1]).head(1)])  # q1 judged twice, q2 once
    s = stability(twice, label_map=STUDY_MAP)
    assert s["question_id"].tolist() == ["q1"] and s["labels"].iloc[0] == "CI" and s["flip_rate"].iloc[0] == 0.5


def test_judge_agreement_puts_the_judges_side_by_side_and_leaves_out_one_not_run():
    rng = np.random.default_rng(1)
    human = rng.choice(list("IPC"), 40)
    ev = pd.DataFrame({"question_id": [f"q{i // 4}" for i in range(40)], "human": human,
                       "judge_label": human, "correctness_label": rng.choice(list("IPC"), 40)})
    ev.loc[0, "human"] = None  # a generated answer nobody labelled: not counted
    stats = ["cohen_kappa", "raw_agreement"]
    t = judge_agreement(ev, judges={"perfect": "judge_label", "random": "correctness_label"}, statistics=stats,
                        n_boot=50, seed=0)
    assert t["judge"].tolist() == ["perfect", "perfect", "random", "random"]
    assert t["statistic"].tolist() == ["raw_agreement", "cohen_kappa"] * 2  # agreement_summary's order
    one = agreement.agreement_summary(ev["human"][1:], ev["correctness_label"][1:], groups=ev["question_id"][1:],
                                      n_boot=50, seed=0)
    random = t[t["judge"] == "random"].set_index("statistic")
    assert random.loc["cohen_kappa", "value"] == pytest.approx(one.set_index("statistic").loc["cohen_kappa", "value"])
    assert (t.loc[t["judge"] == "perfect", "value"] == 1).all() and (t["n"] == 39).all()
    # correctness not graded (all missing) or absent: only the judge that ran
    no_ac = judge_agreement(ev.assign(correctness_label=None), judges={"perfect": "judge_label",
                                                                      "random": "correctness_label"}, n_boot=0)
    assert set(no_ac["judge"]) == {"perfect"}
    assert judge_agreement(ev, judges={"x": "no_such_column"}, n_boot=0).empty


def test_rater_agreement_needs_two_annotators():
    ev = pd.DataFrame({"unit": ["a", "b", "c", "a", "b", "c"], "annotator": ["ana"] * 3 + ["bia"] * 3,
                       "human": ["C", "P", "I", "C", "P", "C"], "judge_label": ["C", "I", "I", "C", "I", "I"]})
    pairs = rater_agreement(ev)
    assert {tuple(sorted(p)) for p in pairs[["rater_a", "rater_b"]].values} == {("ana", "bia"), ("ana", "judge"),
                                                                                ("bia", "judge")}
    kappa = pairs[pairs["statistic"] == "cohen_kappa"].set_index(["rater_a", "rater_b"])["value"]
    assert kappa["ana", "bia"] == pytest.approx(agreement.cohen_kappa(list("CPI"), list("CPC")))
    # the judge's label counted once per unit, though the unit has a row per annotator
    assert pairs.loc[pairs["rater_a"].eq("ana") & pairs["rater_b"].eq("judge"), "n"].iloc[0] == 3
    one = rater_agreement(ev[ev["annotator"] == "ana"])
    assert one.empty and list(one.columns) == list(pairs.columns)


def test_metric_association_ranks_the_metric_that_follows_the_labels():
    ev = pd.DataFrame({"human": list("IIPPCC"), "score": [0, 1, 1, 2, 3, 3],
                       "context_relevance": [3, 0, 2, 1, 0, 2], "groundedness": np.nan,
                       "top_score": [0.84, 0.85, 0.84, 0.86, 0.85, 0.84]})
    t = metric_association(ev).set_index("metric")
    assert t.loc["answer_relevance", "spearman_rho"] > 0.9
    assert abs(t.loc["context_relevance", "spearman_rho"]) < 0.5
    assert np.isnan(t.loc["groundedness", "spearman_rho"]) and t.loc["groundedness", "n"] == 0


def test_correctness_labels_are_fitted_on_other_questions():
    from helpers.analysis import correctness_labels

    rng = np.random.default_rng(0)
    grades = {"I": 0.3, "P": 1.0, "C": 1.7}
    rows = [{"question_id": f"q{i}", "human": h, "correctness": grades[h] + rng.normal(0, 0.05)}
            for i in range(10) for h in ("I", "P", "C")]
    rows.append({"question_id": "q99", "human": None, "correctness": 1.9})  # a generated answer nobody labelled
    ev = pd.DataFrame(rows)
    labels = correctness_labels(ev)
    assert (labels[:-1] == ev["human"][:-1]).all() and labels.iloc[-1] == "C"
    # flipping one question's labels changes nothing about that question's own predictions
    flipped = ev.copy()
    flipped.loc[flipped["question_id"] == "q3", "human"] = ["C", "C", "C"]
    assert (correctness_labels(flipped)[ev["question_id"] == "q3"] == labels[ev["question_id"] == "q3"]).all()
    assert correctness_labels(ev.drop(columns="correctness")).isna().all()
