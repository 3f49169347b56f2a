"""What the generator sees: the context budget and query-focused trimming."""

import pandas as pd
import pytest

from helpers.errors import InputError
from helpers.generation import build_context, trim_to_query
from helpers.segments import segment_files


def test_trim_keeps_the_run_that_matches_the_question():
    text = " ".join(["enchimento"] * 50 + ["o", "dropout", "desliga", "neurônios", "aleatoriamente"] + ["enchimento"] * 50)
    out = trim_to_query(text, "O que o dropout desliga?", 6)
    assert "dropout desliga" in out and out.startswith("…") and out.endswith("…")
    assert len(out.replace("…", "").split()) == 6


def test_trim_leaves_short_text_alone():
    assert trim_to_query("curto demais", "qualquer coisa", 10) == "curto demais"


@pytest.fixture(scope="module")
def sample_segments(root):
    return segment_files(sorted((root / "data/sample/lectures").glob("*.vtt")))


def test_context_respects_the_budget_and_keeps_provenance(sample_segments):
    ret = sample_segments.head(3).assign(rank=[1, 2, 3])
    context, ids, tokens = build_context("Para que serve o max pooling?", ret, n_segments=3, budget_tokens=240)
    assert ids == ret["segment_id"].tolist()
    assert tokens <= 240 + 3 * 20  # the three headers come on top of the budget
    lines = context.split("\n")
    assert [line[:3] for line in lines] == ["[1]", "[2]", "[3]"]
    assert lines[0].startswith("[1] aula01_cnn_unet 00:00:01-")
    # every word of the context comes from the segment it is attributed to
    for line, text in zip(lines, ret["text"]):
        body = line.split(": ", 1)[1].replace("…", "").split()
        assert " ".join(body) in text


def test_context_uses_the_top_ranks_only(sample_segments):
    ret = sample_segments.head(4).assign(rank=[4, 2, 1, 3])
    _, ids, _ = build_context("x", ret, n_segments=2, budget_tokens=100)
    assert ids == [sample_segments["segment_id"][2], sample_segments["segment_id"][1]]


def test_context_needs_a_segment():
    with pytest.raises(InputError, match="context_segments"):
        build_context("x", pd.DataFrame(), n_segments=0)
