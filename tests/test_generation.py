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


class _ScriptedLLM:
    """Replies by prompt: the yes/no check gets the scripted log-probabilities, the answer call a fixed text."""

    backend, fingerprint = "scripted", "scripted"

    def __init__(self, p_yes):
        self.p_yes, self.calls = p_yes, []

    def chat(self, messages, *, prompt_version, max_tokens=256, **kw):
        import math

        from helpers.llm import Completion

        self.calls.append(prompt_version)
        if prompt_version.startswith("gen-check"):
            top = {"sim": math.log(self.p_yes), "não": math.log(1 - self.p_yes)}
            return Completion(text="sim", prompt_tokens=300, completion_tokens=1, latency_s=1.0,
                              logprobs=[{"token": "sim", "logprob": top["sim"], "top": top}], finish_reason="length")
        return Completion(text="A U-Net tem um codificador e um decodificador.", prompt_tokens=290, completion_tokens=12,
                          latency_s=2.0, finish_reason="stop")


@pytest.mark.parametrize("p_yes, abstains", [(0.2, True), (0.49, True), (0.5, False), (0.9, False)])
def test_the_check_decides_abstention_before_any_generation(sample_segments, p_yes, abstains):
    from helpers.generation import FALLBACK, generate_answers, is_abstention

    ret = sample_segments.head(3).assign(rank=[1, 2, 3], question_id="q1")
    qs = pd.DataFrame({"question_id": ["q1"], "question": ["Como é a arquitetura da U-Net?"]})
    llm = _ScriptedLLM(p_yes)
    out = generate_answers(llm, qs, ret, budget_tokens=240, selection="lexical", progress=False).iloc[0]
    assert out["p_answerable"] == pytest.approx(p_yes)
    assert is_abstention(out["answer"]) is abstains
    if abstains:  # one call, nothing generated
        assert llm.calls == ["gen-check-v1/pt"] and out["answer"] == FALLBACK and out["completion_tokens"] == 0
        assert out["latency_s"] == 1.0 and out["finish_reason"] == "abstained"
    else:
        assert llm.calls == ["gen-check-v1/pt", "gen-v3/pt"] and out["latency_s"] == 3.0
