"""Each notebook is a plain Papermill notebook: its parameters are listed by
`papermill --help-notebook` with their comments, and a stage runs on its own
given a run folder (`papermill notebooks/02_retrieve.ipynb out.ipynb -p run_dir ... -p top_k 5`)."""

import subprocess
import sys
from pathlib import Path

import jupytext
import pandas as pd
import pytest

from helpers.runs import NOTEBOOKS

NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
PAPERMILL = [sys.executable, "-m", "papermill"]


def _declared(name) -> dict:
    """``{parameter: comment}`` as written in the notebook's parameters cell."""
    cell = next(
        c for c in jupytext.read(NOTEBOOKS / f"{name}.py").cells if "parameters" in c.metadata.get("tags", [])
    )
    out = {}
    for line in cell.source.splitlines():
        if line.strip():
            out[line.split(":")[0].strip()] = line.split("#", 1)[1].strip()
    return out


@pytest.mark.parametrize("name", NAMES)
def test_help_notebook_lists_every_parameter_with_its_comment(name):
    from click.testing import CliRunner
    from papermill.cli import papermill

    res = CliRunner().invoke(
        papermill, ["--help-notebook", str(NOTEBOOKS / f"{name}.ipynb")]
    )  # the papermill command
    assert res.exit_code == 0, res.output
    assert f"Parameters inferred for notebook '{NOTEBOOKS / f'{name}.ipynb'}'" in res.output
    text = " ".join(res.output.split())  # click wraps long help lines
    declared = _declared(name)
    assert declared and {"run_dir", "cache_dir"} <= set(declared)
    for param, comment in declared.items():
        assert f"{param}: " in text, param
        assert " ".join(comment.split()) in text, (param, comment)


@pytest.mark.slow
def test_stages_run_on_their_own_with_papermill(tmp_path, root):
    """01 then 02 by hand, as the README shows: a run folder and a parameter or two, nothing else."""
    run_dir, cache = tmp_path / "run", tmp_path / "cache"

    def papermill(name, *params):
        args = [a for k, v in params for a in ("-p", k, str(v))]
        res = subprocess.run(
            [
                *PAPERMILL,
                str(NOTEBOOKS / f"{name}.ipynb"),
                str(tmp_path / f"{name}.ipynb"),
                "-p",
                "run_dir",
                str(run_dir),
                "-p",
                "cache_dir",
                str(cache),
                *args,
                "--no-progress-bar",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert res.returncode == 0, res.stderr[-3000:]

    papermill("01_build_index", ("window_s", 120))
    papermill("02_retrieve", ("top_k", 5))
    segs = pd.read_parquet(run_dir / "segments.parquet")
    rets = pd.read_parquet(run_dir / "retrievals.parquet")
    questions = pd.read_parquet(run_dir / "questions.parquet")
    assert rets.groupby("question_id").size().eq(5).all() and rets["question_id"].nunique() == len(questions)
    assert (
        segs["end_s"] - segs["start_s"]
    ).median() < 160  # the 120 s windows asked for, not the default 160 s
    assert Path(tmp_path / "02_retrieve.ipynb").stat().st_size > 0
