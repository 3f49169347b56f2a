"""Notebooks: committed clean and paired, parameters declared once (in the notebook) and read by the runner."""

import ast
import copy
import glob
import json

import jupytext
import pandas as pd
import pytest

from helpers.config import load_config
from helpers.errors import InputError
from helpers.runs import (
    NOTEBOOKS,
    STAGES,
    declared_parameters,
    notebook_defaults,
    stage_overrides,
    stage_parameters,
)

NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
CONFIGS = sorted(glob.glob(str(NOTEBOOKS.parent / "configs" / "*.yaml")))


def parameters_cell(name):
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name}: one cell tagged 'parameters'"
    return nb, cells[0]


def test_every_stage_has_a_notebook():
    assert set(STAGES) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name}: run `make notebooks` on a clean copy"


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_matches_its_py_twin(name):
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    nb = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    assert [c.source for c in py.cells] == [c.source for c in nb.cells], f"{name}: run `make notebooks`"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_papermill_reads_every_parameter_with_its_type_default_and_help(name):
    # what `papermill --help-notebook` prints: every assignment of the cell, typed, with its comment as help
    _, cell = parameters_cell(name)
    assigned = [n.target.id for n in ast.parse(cell.source).body if isinstance(n, ast.AnnAssign)]
    assert len(assigned) == len(ast.parse(cell.source).body), f"{name}: only typed assignments in the parameters cell"
    declared = declared_parameters(NOTEBOOKS / f"{name}.ipynb")
    assert list(declared) == assigned  # papermill silently skips a line it cannot read ("=" or quotes in a comment)
    assert {"run_dir", "cache_dir"} <= set(declared)
    for param, info in declared.items():
        assert info["help"].strip(), f"{name}.{param}: no comment"
        assert info["inferred_type_name"] in ("str", "int", "float", "bool", "list", "dict"), f"{name}.{param}"
    defaults = notebook_defaults(name)  # every default a literal of its declared type
    assert all(type(defaults[p]).__name__ == declared[p]["inferred_type_name"] or
               (declared[p]["inferred_type_name"] == "float" and isinstance(defaults[p], int)) for p in declared)


@pytest.mark.parametrize("name", NAMES)
def test_a_chapter_starts_with_its_title_and_question(name):
    nb, _ = parameters_cell(name)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"# {name[:2]} · ")
    assert "**Question:**" in nb.cells[0].source


@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_cells_are_short(name):
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            code = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
            assert len(code) <= 25, f"{name}: a cell of {len(code)} lines; move the work into a helper"


@pytest.mark.parametrize("name", NAMES)
def test_no_chapter_behind_an_if(name):
    # a notebook reads top to bottom: what depends on the data or a parameter is decided in a helper
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    for cell in nb.cells:
        if cell.cell_type == "code":
            gates = [n.lineno for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.If)]
            assert not gates, f"{name}: an if statement in a cell ({cell.source.splitlines()[gates[0] - 1]!r})"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.rsplit("/", 1)[-1])
def test_every_config_runs_its_stages_with_declared_parameters(config):
    cfg = load_config(config)
    for name in cfg["stages"]:
        params = stage_parameters(name, cfg, "data/runs/x")
        declared = declared_parameters(NOTEBOOKS / f"{name}.ipynb")
        assert set(params) == set(declared)  # every parameter has a value: the config's or the notebook's
        assert params["run_dir"] == "data/runs/x" and params["cache_dir"] == cfg["cache_dir"]
        injected = stage_overrides(name, cfg, "data/runs/x")
        assert set(injected) <= set(params) and all(params[k] == v for k, v in injected.items())


def test_the_runner_injects_only_what_the_config_changes(root):
    cfg = load_config(root / "configs/sample.yaml")
    defaults = notebook_defaults("02_retrieve")
    assert set(stage_overrides("02_retrieve", cfg, "r")) == {"run_dir", "cache_dir"}  # the sample keeps 02's defaults
    changed = copy.deepcopy(cfg)
    changed["retrieval"]["top_k"] = defaults["top_k"] + 5
    assert stage_overrides("02_retrieve", changed, "r")["top_k"] == defaults["top_k"] + 5
    # the effective parameters, which the stage's fingerprint covers, change with it, and only for 02
    assert stage_parameters("02_retrieve", changed, "r") != stage_parameters("02_retrieve", cfg, "r")
    assert stage_parameters("01_build_index", changed, "r") == stage_parameters("01_build_index", cfg, "r")


def test_values_take_the_type_the_notebook_declares(root):
    cfg = load_config(root / "configs/sample.yaml")
    cfg["segments"]["window_s"] = 120  # an int in YAML; the notebook declares a float
    cfg["generator"]["questions"] = [7, "q02"]  # ids as the notebook declares them: strings
    assert type(stage_parameters("01_build_index", cfg, "r")["window_s"]) is float
    assert stage_parameters("03_generate", cfg, "r")["question_ids"] == ["7", "q02"]
    assert stage_parameters("01_build_index", cfg, "r")["index_options"] == {}


def test_a_parameter_the_notebook_does_not_declare_is_an_error(root, monkeypatch):
    cfg = load_config(root / "configs/sample.yaml")
    stage = STAGES["02_retrieve"]
    monkeypatch.setitem(STAGES, "02_retrieve", type(stage)(stage.name, stage.outputs, {**stage.params, "top_n": "retrieval.top_k"}))
    with pytest.raises(InputError) as err:
        stage_parameters("02_retrieve", cfg, "r")
    assert err.value.field == "top_n" and "02_retrieve" in str(err.value)


def test_the_study_records_chapter_runs_on_its_own(root, tmp_path, monkeypatch):
    # no model: the paper config's chapter end to end through the runner, into a temporary folder
    from helpers.runs import run_config

    monkeypatch.chdir(root)
    cfg = load_config(root / "configs/paper.yaml")
    cfg.update(runs_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    cfg["analysis"]["paper_figures_dir"] = str(tmp_path / "figures")
    run_dir = run_config(cfg, progress=False, log=lambda *_: None)
    ev = pd.read_parquet(run_dir / "evaluation.parquet")
    assert len(ev) == 2 and set(ev["human"]) <= {"C", "P", "I"}
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == sorted(
        p.name for p in (run_dir / "figures").glob("08_*.png")) != []
    injected = json.loads((run_dir / "notebooks/08_study_records.ipynb").read_text(encoding="utf-8"))
    cells = [c for c in injected["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert cells and "bootstrap" not in "".join(cells[0]["source"])  # 0 is the notebook's own default
