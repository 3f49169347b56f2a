"""Shared fixtures: paths to the project's data and the public data sets."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the tests read the public data sets in place from "
            "../shared/data beside the checkout (see README, 'Tests')."
        )
    return path


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def nurc_dir() -> Path:
    """Six real NURC-SP lectures (Praat TextGrid, tier ``TB-l1``)."""
    return _shared("data", "nurc-sp")


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    """The study's two records (also copied into ``data/paper/``)."""
    return _shared("seeds")


@pytest.fixture(scope="session")
def faquad_dir() -> Path:
    """FaQuAD, pt-BR questions with gold passages."""
    return _shared("data", "faquad")


@pytest.fixture(scope="session")
def llmjudge_dir() -> Path:
    """LLMJudge: human 0-3 labels and 33 LLM judges' labels."""
    return _shared("data", "llmjudge")


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The project's own sample: lectures, questions, answer bank."""
    return ROOT / "data" / "sample"
