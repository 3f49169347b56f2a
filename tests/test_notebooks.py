"""Notebooks are committed clean, paired with py:percent twins, with documented parameters."""

import json

import jupytext
import pytest

from helpers.runs import NOTEBOOKS, STAGES, declared_parameters

NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


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


@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell_is_plain_and_commented(name):
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    lines = [line for line in cells[0].source.splitlines() if line.strip()]
    assert all("#" in line and ":" in line.split("=")[0] for line in lines), "each parameter: typed, with a comment"
    assert set(declared_parameters(NOTEBOOKS / f"{name}.ipynb")) >= {"run_dir", "cache_dir"}
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("name", NAMES)
def test_papermill_reads_every_parameter(name):
    # papermill's parser silently skips a line it cannot read (e.g. "=" or quotes in the comment)
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = {line.split(":")[0].strip() for line in cell.source.splitlines() if line.strip()}
    assert set(declared_parameters(NOTEBOOKS / f"{name}.ipynb")) == names


@pytest.mark.parametrize("name", sorted(STAGES))
def test_runner_passes_only_declared_parameters(name, root):
    from helpers.config import load_config
    from helpers.runs import stage_parameters

    params = stage_parameters(name, load_config(root / "configs/sample.yaml"), "data/runs/x")
    assert set(params) <= set(declared_parameters(NOTEBOOKS / f"{name}.ipynb"))
