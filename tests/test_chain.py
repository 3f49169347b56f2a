"""The whole chain 01-07 on the sample with the real default models, on two questions.

Slow (a few minutes on 2 CPU cores): the generator and the judge are the
offline default GGUF, so this checks what `make run` does end to end, and
that a re-run makes zero LLM calls.
"""

import json

import pandas as pd
import pytest

from helpers import runs

pytestmark = pytest.mark.slow

STAGES = ["01_build_index", "02_retrieve", "03_generate", "04_judge", "05_analyze", "06_judge_lab", "07_judge_under_attack"]
BASELINES = {"token_f1", "exact_match", "rouge_l", "answer_similarity"}


def _two_questions(cfg):
    # q04 is answered in one segment; q27 is one the lectures do not answer
    cfg["generator"]["questions"] = ["q04", "q27"]
    cfg["lab"]["questions"] = ["q04", "q27"]  # the judge lab on their 14 labelled answers (bank and contrast set)
    cfg["attacks"]["questions"] = ["q04"]  # every attack on q04's wrong answer
    cfg["analysis"]["bootstrap"] = 50


@pytest.fixture(scope="module")
def chain(tmp_path_factory, sample_run):
    with sample_run(tmp_path_factory.mktemp("chain"), STAGES, edit=_two_questions) as run:
        yield run


def test_every_stage_ran_and_wrote_what_the_manifest_lists(chain):
    _, run_dir = chain
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert list(manifest["stages"]) == STAGES
    assert all(s["status"] == "done" for s in manifest["stages"].values())
    for art in manifest["artefacts"]:
        assert (run_dir / art["path"]).stat().st_size == art["bytes"]
    paths = {a["path"] for a in manifest["artefacts"]}
    assert {"answers.parquet", "judgments.parquet", "evaluation.parquet", "agreement.parquet",
            "figures/05_confusion.png", "figures/05_agreement.png"} <= paths
    for role in ("generator", "judge"):
        model = manifest["models"][role]
        assert len(model["sha256"]) == 64 and model["bytes"] == 1_117_320_768


def test_answers_and_judgments(chain):
    _, run_dir = chain
    answers = pd.read_parquet(run_dir / "answers.parquet")
    assert answers["question_id"].tolist() == ["q04", "q27"]
    assert answers["answer"].str.len().gt(0).all()
    j = pd.read_parquet(run_dir / "judgments.parquet")
    ar = j[j["metric"] == "answer_relevance"]
    # the generated answer and the bank's C, P and I answers of each question
    assert len(ar) == 2 * 4 and not ar.duplicated(["question_id", "answer_source", "repetition"]).any()
    assert set(j["metric"]) == {"answer_correctness", "answer_relevance", "context_relevance", "groundedness"} | BASELINES
    ac = j[j["metric"] == "answer_correctness"]
    assert len(ac) == 2 * 4 and ac["status"].eq("ok").all()
    # the default variant is anchored: the expected grade minus the reference's own, guarded
    assert ac["expected_score"].between(-2, 2).all() and ac["label"].isin(["C", "P", "I"]).all()
    assert ac["prompt_version"].str.endswith("/en+guard-v2+ref").all()
    abstained = ac["answer_source"].eq("generated") & ac["question_id"].isin(answers.loc[answers["abstained"], "question_id"])
    assert ac.loc[~abstained, "reason"].str.contains("reference's own").all()
    # an abstention gets one yes/no on the reference instead; q27's reference says the lectures do not answer it
    assert abstained.any() and ac.loc[abstained, "reason"].str.startswith("abstention: P(").all()
    assert ac.loc[abstained & ac["question_id"].eq("q27"), "label"].eq("C").all()
    assert (ac["score"] == ac["label"].map({"I": 0, "P": 1, "C": 2})).all()
    f1 = j[j["metric"] == "token_f1"]
    assert len(f1) == 2 * 4 and f1["score"].between(0, 1).all()
    ok = ar["status"] == "ok"
    assert ar.loc[ok, "score"].isin([0, 1, 2, 3]).all() and ar.loc[~ok, "score"].isna().all()
    assert (ar.loc[ok, "score_norm"] - ar.loc[ok, "score"] / 3).abs().max() < 1e-9
    # sample.yaml's Answer Relevance and groundedness are one digit each: the expected score from its probabilities
    assert ar["prompt_version"].str.startswith("ar-direct").all() and ar["completion_tokens"].eq(1).all()
    assert ar["expected_score"].between(0, 3).all() and (ar.loc[ok, "expected_score"] - ar.loc[ok, "score"]).abs().max() <= 1.5
    gr = j[j["metric"] == "groundedness"]
    assert len(gr) == 2  # the generated answers (sample.yaml judges the bank for correctness, not groundedness)
    assert gr["prompt_version"].str.startswith("gr-direct").all() and gr["expected_score"].between(0, 3).all()
    # the generator's context is evidence from inside the segments, and it decided whether to answer
    assert answers["p_answerable"].between(0, 1).all() and answers["context_tokens"].le(240).all()
    assert answers["context"].str.match(r"\[1\] \S+ \d\d:\d\d:\d\d-\d\d:\d\d:\d\d: ").all()
    assert answers["answerable"].tolist() == [True, False]  # q27: the lectures do not say
    cr = j[j["metric"] == "context_relevance"]
    assert len(cr) == 2 * 3 and cr["expected_score"].between(0, 3).all()


def test_analysis_measures_the_judge_against_the_bank_labels(chain):
    _, run_dir = chain
    ev = pd.read_parquet(run_dir / "evaluation.parquet")
    assert ev["human"].notna().sum() == 6  # the bank's labelled answers; generated ones are unlabelled
    agreement = pd.read_parquet(run_dir / "agreement.parquet").set_index("statistic")
    assert agreement.loc["raw_agreement", "n"] + agreement.loc["raw_agreement", "n_missing"] == 6


def test_judge_lab_scores_every_labelled_answer_of_its_questions(chain):
    _, run_dir = chain
    scores = pd.read_parquet(run_dir / "lab_scores.parquet")
    assert set(scores["question_id"]) == {"q04", "q27"}
    assert scores.groupby("method").size().eq(14).all()  # 3 bank + 4 contrast answers per question
    assert {"fewshot-en+ref", "combined"} | BASELINES <= set(scores["method"])
    assert scores["label_cv"].dropna().isin(["C", "P", "I"]).all()
    result = pd.read_parquet(run_dir / "lab_agreement.parquet")
    assert set(result["set"]) == {"bank", "contrast", "all"}
    assert (run_dir / "figures" / "06_forest.png").stat().st_size > 10_000


def test_the_guard_shows_the_judge_the_clean_answer_whatever_was_appended(chain):
    _, run_dir = chain
    t = pd.read_parquet(run_dir / "attacks.parquet")
    assert set(t["question_id"]) == {"q04"} and t["attack"].nunique() == 15  # the clean answer and 14 attacks
    guarded = t[t["guard"]].set_index("attack")["expected_score"]
    # once the appended attack is cut out, the judge reads exactly the clean answer: the very same judgment
    for name in ("instruction_en", "instruction_pt", "score_line_en", "json_verdict", "fake_end_pt", "control_tokens"):
        assert guarded[name] == guarded["none"], name
    assert (t.loc[t["attack"] != "none", "injection_flag"] != "").mean() > 0.9
    effect = pd.read_parquet(run_dir / "attack_effect.parquet")
    assert set(effect["guard"]) == {False, True} and (run_dir / "figures" / "07_attacks.png").stat().st_size > 10_000


def test_rerun_makes_zero_llm_calls(chain):
    cfg, run_dir = chain
    runs.run_config(cfg, stages=["03_generate", "04_judge"], force=True, progress=False, log=lambda *_: None)
    assert pd.read_parquet(run_dir / "answers.parquet")["cache_hit"].all()
    j = pd.read_parquet(run_dir / "judgments.parquet")
    assert j.loc[~j["metric"].isin(BASELINES), "cache_hit"].all()  # every LLM judgment from the cache
