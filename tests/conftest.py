"""Shared fixtures: paths to the project's data and the public data sets, a real run of the sample, and a
stand-in LLM backend."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from helpers.llm import LLM, Completion

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


@contextlib.contextmanager
def _sample_run(tmp: Path, stages, *, edit=None, log=None):
    """``configs/sample.yaml`` run for real into ``tmp`` (its own run and cache folders), from the repository
    root, which stays the working folder until the block ends; yields ``(cfg, run_dir)``.

    ``edit(cfg)`` changes the loaded config first (fewer questions, fewer resamples); ``log`` gets the
    runner's step lines.
    """
    from helpers import runs
    from helpers.config import load_config

    old = os.getcwd()
    os.chdir(ROOT)
    try:
        cfg = load_config(ROOT / "configs/sample.yaml")
        (edit or (lambda _: None))(cfg)
        cfg.update(runs_dir=str(tmp / "runs"), cache_dir=str(tmp / "cache"), stages=list(stages))
        yield cfg, Path(runs.run_config(cfg, progress=False, log=log or (lambda *_: None)))
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def sample_run():
    """The context manager above: ``with sample_run(tmp, stages) as (cfg, run_dir): ...``."""
    return _sample_run


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


class CountingLLM(LLM):
    """A stand-in backend that counts its calls (tests of the cache and the judges' plumbing, not of a model).

    ``reply(messages, calls)`` gives the reply to the ``calls``-th call: a
    string (10 prompt tokens, 2 completion tokens, 0.5 s) or a whole
    :class:`~helpers.llm.Completion` (e.g. with log-probabilities).
    """

    backend = "fake"
    model = "counting"

    def __init__(self, reply=lambda messages, calls: f"reply {calls}", *, fingerprint: str = "fake:1"):
        self.reply, self.fingerprint, self.calls = reply, fingerprint, 0

    def chat(self, messages, **decoding):
        self.calls += 1
        out = self.reply(messages, self.calls)
        return out if isinstance(out, Completion) else Completion(text=out, prompt_tokens=10, completion_tokens=2,
                                                                 latency_s=0.5)


@pytest.fixture
def counting_llm():
    """The :class:`CountingLLM` class: ``counting_llm()``, ``counting_llm(reply=..., fingerprint=...)``."""
    return CountingLLM
