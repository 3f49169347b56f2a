"""The whole chain 01-05 on the sample with the real default models, on two questions.

Slow (a few minutes on 2 CPU cores): the generator and the judge are the
offline default GGUF, so this checks what `make run` does end to end, and
that a re-run makes zero LLM calls.
"""

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from helpers import runs
from helpers.config import load_config

pytestmark = pytest.mark.slow

STAGES = ["01_build_index", "02_retrieve", "03_generate", "04_judge", "05_analyze"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory, root):
    old = os.getcwd()
    os.chdir(root)
    tmp = tmp_path_factory.mktemp("chain")
    cfg = load_config(root / "configs/sample.yaml")
    # q04 is answered in one segment; q27 is one the lectures do not answer
    cfg["generator"]["questions"] = ["q04", "q27"]
    cfg["analysis"]["bootstrap"] = 50
    cfg.update(runs_dir=str(tmp / "runs"), cache_dir=str(tmp / "cache"), stages=STAGES)
    run_dir = runs.run_config(cfg, progress=False, log=lambda *_: None)
    yield cfg, Path(run_dir)
    os.chdir(old)


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
    assert set(j["metric"]) == {"answer_relevance", "context_relevance", "groundedness"}
    ok = ar["status"] == "ok"
    assert ar.loc[ok, "score"].isin([0, 1, 2, 3]).all() and ar.loc[~ok, "score"].isna().all()
    assert (ar.loc[ok, "score_norm"] - ar.loc[ok, "score"] / 3).abs().max() < 1e-9
    assert ar.loc[ok, "reason"].str.contains("Criteria").all()
    gr = j[j["metric"] == "groundedness"]
    assert len(gr) == 2 * 4  # the generated answer and the bank's three, against the same segments
    cr = j[j["metric"] == "context_relevance"]
    assert len(cr) == 2 * 3 and cr["expected_score"].between(0, 3).all()


def test_analysis_measures_the_judge_against_the_bank_labels(chain):
    _, run_dir = chain
    ev = pd.read_parquet(run_dir / "evaluation.parquet")
    assert ev["human"].notna().sum() == 6  # the bank's labelled answers; generated ones are unlabelled
    agreement = pd.read_parquet(run_dir / "agreement.parquet").set_index("statistic")
    assert agreement.loc["raw_agreement", "n"] + agreement.loc["raw_agreement", "n_missing"] == 6


def test_rerun_makes_zero_llm_calls(chain):
    cfg, run_dir = chain
    runs.run_config(cfg, stages=["03_generate", "04_judge"], force=True, progress=False, log=lambda *_: None)
    assert pd.read_parquet(run_dir / "answers.parquet")["cache_hit"].all()
    assert pd.read_parquet(run_dir / "judgments.parquet")["cache_hit"].all()
