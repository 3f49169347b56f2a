"""The judge lab on the sample's real labelled answers, with the non-LLM baselines (fast)."""

import pandas as pd
import pytest

from helpers import lab, retrieval
from helpers.errors import InputError


@pytest.fixture(scope="module")
def items(sample_dir):
    qs = retrieval.read_questions(sample_dir / "questions.csv")
    return lab.labelled_answers(qs, {"bank": sample_dir / "answer_bank.csv", "contrast": sample_dir / "contrast_set.csv"})


@pytest.fixture(scope="module")
def result(items):
    scores = lab.score_table(items, progress=False)
    scores = lab.with_combined(scores, llm_method="rouge_l", features=("token_f1",))
    labelled = lab.cv_labels(scores)
    return labelled, lab.lab_agreement(labelled, n_boot=100, seed=0)


def test_every_labelled_answer_is_there_once_with_its_set_and_kind(items):
    assert len(items) == 84 + 112
    assert not items.duplicated(["question_id", "answer_source"]).any()
    assert items.groupby("set").size().to_dict() == {"bank": 84, "contrast": 112}
    contrast = items[items["set"] == "contrast"]
    assert contrast.groupby("kind")["label"].agg(set).to_dict() == {
        "near_miss": {"I"}, "paraphrase": {"C"}, "partial_overlap": {"P"}, "partial_paraphrase": {"P"}}
    assert (contrast.groupby("question_id").size() == 4).all() and contrast["question_id"].nunique() == 28
    assert items["reference"].str.len().gt(0).all() and items["question"].str.len().gt(0).all()


def test_contrast_rows_have_a_reason(sample_dir):
    raw = pd.read_csv(sample_dir / "contrast_set.csv", dtype=str, keep_default_na=False)
    assert list(raw.columns) == ["question_id", "answer_source", "answer", "label", "kind", "reason"]
    assert raw["reason"].str.strip().str.len().gt(10).all()
    assert (raw["answer_source"] == "contrast:" + raw["kind"]).all()


def test_word_overlap_sorts_the_bank_but_not_the_contrast_set(result):
    # what the contrast set was built to show: on it, word overlap points the wrong way
    labelled, res = result
    qwk = res[(res["statistic"] == "cohen_kappa_quadratic")].set_index(["method", "set"])["value"]
    assert qwk["token_f1", "bank"] > qwk["token_f1", "contrast"] + 0.3
    assert qwk["token_f1", "contrast"] < 0.1
    sp = res[(res["statistic"] == "spearman")].set_index(["method", "set"])["value"]
    assert sp["token_f1", "bank"] > 0.6 and sp["token_f1", "contrast"] < 0
    # fitted on the bank alone, word overlap sorts the bank (the issue measured 0.85)
    alone = lab.cv_labels(labelled[labelled["method"] == "token_f1"].drop(columns=["label_cv", "c1", "c2"]), fit_on="set")
    bank = lab.lab_agreement(alone[alone["set"] == "bank"], n_boot=20)
    assert bank.set_index(["set", "statistic"]).loc[("bank", "cohen_kappa_quadratic"), "value"] > 0.75


def test_cut_offs_are_fitted_without_the_rows_own_question(result):
    labelled, _ = result
    f1 = labelled[labelled["method"] == "token_f1"]
    # the cut-offs differ by held-out question: each fold is fitted on the others
    assert f1.groupby("question_id")[["c1", "c2"]].nunique().max().max() == 1
    assert f1.drop_duplicates("question_id")[["c1", "c2"]].drop_duplicates().shape[0] > 1
    assert f1["label_cv"].isin(["I", "P", "C"]).all()


def test_agreement_table_has_intervals_for_every_method_and_set(result):
    _, res = result
    assert set(res["set"]) == {"bank", "contrast", "all"}
    assert {"token_f1", "exact_match", "rouge_l", "combined"} <= set(res["method"])
    ok = res.dropna(subset=["value"])
    assert (ok["ci_low"] <= ok["value"] + 1e-9).all() and (ok["value"] <= ok["ci_high"] + 1e-9).all()
    n = res[(res["set"] == "all") & (res["statistic"] == "cohen_kappa_quadratic")].set_index("method")["n"]
    assert (n + res[(res["set"] == "all") & (res["statistic"] == "cohen_kappa_quadratic")].set_index("method")["n_missing"] == 196).all()


def test_headline_and_best_method(result):
    _, res = result
    head = lab.headline(res)
    assert head["all"].is_monotonic_decreasing and {"all", "bank", "contrast", "seconds_per_answer"} <= set(head.columns)
    assert lab.best_method(res, family="baseline") == head[head["family"] == "baseline"]["method"].iloc[0]
    with pytest.raises(InputError):
        lab.best_method(res, family="llm")


def test_combined_needs_its_features(items):
    scores = lab.score_table(items.head(14), progress=False)
    with pytest.raises(InputError) as err:
        lab.with_combined(scores, llm_method="checks-en")
    assert "checks-en" in str(err.value)


def test_combined_with_no_llm_method_adds_nothing_and_with_one_adds_a_method(items):
    scores = lab.score_table(items, progress=False)
    assert lab.with_combined(scores, llm_method="") is scores
    # with scored methods (token_f1 standing in for the LLM), one held-out score per labelled answer
    combined = lab.with_combined(scores, llm_method="token_f1", features=("rouge_l",))
    added = combined[combined["method"] == "combined"]
    assert len(combined) == len(scores) + len(added) and len(added) == len(items)
    assert set(added["family"]) == {"combined"}


def test_ppi_curve_from_the_lab_rows(result):
    labelled, _ = result
    curve = lab.ppi_curve(labelled, method="token_f1", ns=(20, 60), n_repeats=20, seed=1)
    assert set(curve["method"]) == {"PPI", "classical"} and set(curve["n"]) == {20, 60}
    width = curve.groupby(["n", "method"])["width"].mean()
    assert width[60, "classical"] < width[20, "classical"]


def test_fast_spearman_matches_scipy():
    import numpy as np
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.integers(0, 3, 40).astype(float), np.round(rng.random(40), 1)
        assert lab._spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert np.isnan(lab._spearman(np.ones(5), np.arange(5.0)))


class CountingEmbedder:
    """A bag-of-letters embedder that records every text it embeds (unit tests of the flow only)."""

    def __init__(self):
        self.texts = []

    def embed_queries(self, texts):
        import numpy as np

        texts = list(texts)
        self.texts += texts
        vecs = np.array([[t.lower().count(c) for c in "aeiou"] for t in texts], dtype=np.float32) + 1e-3
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_score_table_embeds_each_scored_pair_once_and_matches_the_baselines(items):
    from helpers.baselines import baseline_scores

    some = items.head(12).copy()
    some.loc[some.index[3], "reference"] = ""  # no reference: no score, nothing embedded for it
    emb = CountingEmbedder()
    scores = lab.score_table(some, embedder=emb, progress=False)
    assert len(emb.texts) == 2 * 11  # each answer and its reference once, never the lexical baselines twice
    keys = ["question_id", "answer_source"]
    wide = scores.pivot_table(index=keys, columns="method", values="score", dropna=False)
    expected = baseline_scores(some, reference_col="reference", embedder=CountingEmbedder())
    expected.index = pd.MultiIndex.from_frame(some[keys])
    for method in ("token_f1", "exact_match", "rouge_l", "answer_similarity"):
        pd.testing.assert_series_equal(wide.loc[expected.index, method], expected[method], check_names=False)
    missing = (scores["question_id"] == some["question_id"].iloc[3]) & (scores["answer_source"] == some["answer_source"].iloc[3])
    assert scores.loc[missing, "status"].eq("no_score").all() and missing.sum() == 4
