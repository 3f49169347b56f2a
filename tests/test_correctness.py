"""Answer correctness: prompts, reading yes/no and digit probabilities, the variants' flow, bad input."""

import math
import re

import pandas as pd
import pytest

from helpers import correctness as C
from helpers.errors import InputError, PromptTooLong
from helpers.judge import build_messages, load_prompts
from helpers.llm import Completion

QUESTIONS = pd.DataFrame({
    "question_id": ["q1", "q2"],
    "question": ["Quantos canais tem a saída?", "Por que usar dropout?"],
    "reference_answer": ["64 canais, um por filtro.", ""],
})
ANSWERS = pd.DataFrame({
    "question_id": ["q1", "q1", "q2"],
    "answer_source": ["bank:C", "bank:I", "bank:C"],
    "answer": ["São 64 canais, um por filtro.", "São 32 canais.", "Para regularizar."],
})


class ScriptedLLM:
    """Replies by rule from the last user message; records every call (unit tests of the flow only)."""

    fingerprint = "fake:scripted"

    def __init__(self):
        self.calls = []

    def chat(self, messages, *, prompt_version, max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=None):
        user = messages[-1]["content"]
        self.calls.append((prompt_version, user))
        wrong = "32 canais" in user
        if max_tokens == 1:
            if "CHECK:" in user or "VERIFICAÇÃO:" in user:
                check = re.split(r"CHECK:|VERIFICAÇÃO:", user)[-1]
                conflict = "conflicts" in check or "contradiz" in check
                yes = wrong if conflict else not wrong
                top = {"yes": math.log(0.9), "no": math.log(0.1)} if yes else {"yes": math.log(0.1), "no": math.log(0.9)}
            else:
                top = {"0": math.log(0.8), "2": math.log(0.2)} if wrong else {"2": math.log(0.7), "1": math.log(0.3)}
            token = max(top, key=top.get)
            return Completion(token, 10, 1, 0.5, [{"token": token, "logprob": top[token], "top": top}], "length")
        if "REFERENCE:" in user and "ANSWER" not in user:
            return Completion("1. Does the answer say there are 64 channels?", 10, 12, 1.0, None, "stop")
        text = "Comparison: it changes the number.\nScore: 0" if wrong else "Comparison: same facts.\nScore: 2"
        return Completion(text, 10, 12, 2.0, None, "stop")


@pytest.fixture()
def items():
    return C.correctness_items(ANSWERS, QUESTIONS)


def test_every_prompt_renders_in_both_languages():
    prompts = load_prompts("correctness")
    fields = {"question": "Q?", "reference": "R.", "answer": "A.", "item": "Does it say R?"}
    english_only = {"correctness_unanswerable"}  # measured: its Portuguese wording misread an answerable reference
    for name, entry in prompts.items():
        assert entry["version"]
        assert ("pt" in entry) == (name not in english_only), name
        for language in ("en", "pt") if "pt" in entry else ("en",):
            msgs = build_messages(name, language, prompts="correctness", **fields)
            assert "{" not in msgs[0]["content"] and msgs[1]["content"].strip()
            assert "{" not in msgs[1]["content"]


def test_answer_comes_after_the_reference_so_answers_share_a_prefix():
    user = build_messages("correctness_direct", "en", prompts="correctness", question="Q?", reference="R.", answer="A.")[1]["content"]
    assert user.index("REFERENCE: R.") < user.index("ANSWER: A.")
    assert user.endswith("ANSWER: A.")


@pytest.mark.parametrize("top, expected", [
    ({"Yes": -0.1, " No": -2.4}, 0.909),
    ({"sim": math.log(0.25), "Não": math.log(0.75)}, 0.25),
    ({" yes": math.log(0.3), "YES": math.log(0.3), "no": math.log(0.4)}, 0.6),
])
def test_yes_probability(top, expected):
    assert C.yes_probability(top) == pytest.approx(expected, abs=1e-3)


def test_yes_probability_without_yes_or_no_is_nan():
    assert math.isnan(C.yes_probability({"The": -0.1, "2": -1.0}))
    assert math.isnan(C.yes_probability(None))


class AbstentionLLM:
    """P(yes) 0.9 when the text it is shown says the question cannot be answered, else 0.2; records each call."""

    fingerprint = "fake:abstention"

    def __init__(self):
        self.calls = []

    def chat(self, messages, *, prompt_version, max_tokens=256, **kw):
        user = messages[-1]["content"]
        self.calls.append((prompt_version, user))
        p = 0.9 if "não pode ser respondida" in user.split("CHECK:")[0] else 0.2
        top = {"yes": math.log(p), "no": math.log(1 - p)}
        return Completion("yes" if p > 0.5 else "no", 10, 1, 0.5, [{"token": "yes", "logprob": 0.0, "top": top}], "length")


@pytest.mark.parametrize("variant, low", [("fewshot-en+ref", -2.0), ("direct-pt", 0.0)])
def test_an_abstention_is_right_only_when_the_reference_says_there_is_no_answer(variant, low):
    from helpers.generation import FALLBACK

    questions = pd.DataFrame({"question_id": ["q1", "q2"], "question": ["Quantos canais?", "Qual otimizador?"],
                              "reference_answer": ["64 canais.", "As aulas não tratam disso; a pergunta não pode ser respondida."]})
    answers = pd.DataFrame({"question_id": ["q1", "q2"], "answer_source": ["generated"] * 2, "answer": [FALLBACK] * 2})
    llm = AbstentionLLM()
    out = C.judge_correctness(llm, C.correctness_items(answers, questions), variant=variant, cutoffs=None, progress=False)
    assert out["label"].tolist() == ["I", "C"] and out["score"].tolist() == [0.0, 2.0]
    assert out["expected_score"].tolist() == pytest.approx([low + (2 - low) * 0.2, low + (2 - low) * 0.9])
    # one call per answer, on the reference alone: the grading prompt (and the anchor's) is never asked
    assert len(llm.calls) == 2 and all(v.startswith("ac-unanswerable-v1/en") for v, _ in llm.calls)
    assert all("TEXT:" in user and FALLBACK not in user for _, user in llm.calls)


def test_an_answer_too_long_for_the_window_gets_a_status_and_the_others_are_graded(items):
    class Windowed(ScriptedLLM):
        def chat(self, messages, **kw):
            if len(messages[-1]["content"]) > 4000:
                raise PromptTooLong("prompt of 9000 tokens + 1 to generate exceeds n_ctx=4096")
            return super().chat(messages, **kw)

    long = items.copy()
    long.loc[1, "answer"] = "São 64 canais, um por filtro. " * 400
    out = C.judge_correctness(Windowed(), long, variant="fewshot-en+ref", cutoffs=None, progress=False)
    assert out["status"].tolist() == ["ok", "too_long", "no_reference"]
    assert math.isnan(out["expected_score"][1]) and out["label"][1] is None and "n_ctx=4096" in out["reason"][1]
    assert out["label"][0] == "C"


def test_parse_checklist():
    text = "Checklist:\n1. Does the answer say 64 filters?\n2) Does it say 28 parameters?\n- Does it say 3x3?\n* Ok?\n5. Fifth one here?"
    assert C.parse_checklist(text) == ["Does the answer say 64 filters?", "Does it say 28 parameters?", "Does it say 3x3?", "Fifth one here?"]
    assert C.parse_checklist("", max_items=4) == []


def test_items_sorted_by_question_with_reference(items):
    assert items["question_id"].tolist() == ["q1", "q1", "q2"]
    assert items.loc[0, "reference"] == "64 canais, um por filtro."
    assert items.loc[2, "reference"] == ""


def test_question_set_without_references_is_an_error_naming_file_and_column():
    with pytest.raises(InputError) as err:
        C.correctness_items(ANSWERS, QUESTIONS.assign(reference_answer=""), path="my-questions.csv")
    assert err.value.field == "reference_answer" and "my-questions.csv" in str(err.value)
    with pytest.raises(InputError):
        C.correctness_items(ANSWERS, QUESTIONS.drop(columns="reference_answer"))


def test_unknown_variant_lists_the_known_ones(items):
    with pytest.raises(InputError) as err:
        C.judge_correctness(ScriptedLLM(), items, variant="oracle")
    assert "direct-en" in str(err.value) and err.value.field == "variant"


@pytest.mark.parametrize("variant", list(C.VARIANTS))
def test_every_variant_grades_right_above_wrong_and_leaves_no_reference_missing(items, variant):
    llm = ScriptedLLM()
    rows = C.judge_correctness(llm, items, variant=variant, progress=False).set_index("answer_source", append=True)
    right, wrong = rows.xs("bank:C", level=1).iloc[0], rows.xs("bank:I", level=1).iloc[0]
    assert right["expected_score"] > wrong["expected_score"]
    assert right["label"] in ("C", "P") and wrong["label"] in ("I", "P")
    low = -2 if C.VARIANTS[variant].anchor else 0  # an anchored grade is relative to the reference's own
    assert low <= wrong["expected_score"] <= 2 and low <= right["expected_score"] <= 2
    missing = rows.xs("bank:C", level=1).iloc[1]
    assert missing["status"] == "no_reference" and math.isnan(missing["expected_score"]) and missing["label"] is None
    assert not any("Para regularizar" in u for _, u in llm.calls)  # no call at all for an answer without a reference
    assert set(rows["metric"]) == {"answer_correctness"}
    assert rows["prompt_version"].str.contains(f"/{C.VARIANTS[variant].language}", regex=False).all()


def test_an_anchored_variant_grades_the_reference_once_per_question_and_subtracts_it(items):
    plain = C.judge_correctness(ScriptedLLM(), items, variant="fewshot-en", progress=False)
    llm = ScriptedLLM()
    anchored = C.judge_correctness(llm, items, variant="fewshot-en+ref", progress=False)
    graded_reference = [u for _, u in llm.calls if u.endswith("ANSWER: 64 canais, um por filtro.")]
    assert len(graded_reference) == 1 and len(llm.calls) == 3  # two answers of q1, its reference once; q2 has none
    own = plain["expected_score"].iloc[0]  # the scripted judge grades the reference like the right answer
    assert anchored["expected_score"].iloc[:2].tolist() == pytest.approx((plain["expected_score"].iloc[:2] - own).tolist())
    assert anchored["label"].tolist() == plain["label"].tolist()  # the label stays the answer's own grade
    assert anchored["prompt_version"].iloc[0].endswith("/en+ref") and "reference's own" in anchored["reason"].iloc[0]
    assert math.isnan(anchored["expected_score"].iloc[2])


def test_checks_variant_makes_two_one_token_calls_per_answer(items):
    llm = ScriptedLLM()
    C.judge_correctness(llm, items[items["reference"] != ""], variant="checks-en", progress=False)
    assert len(llm.calls) == 4
    # the two checks of one answer share everything up to the CHECK line
    a, b = llm.calls[0][1], llm.calls[1][1]
    assert a.split("CHECK:")[0] == b.split("CHECK:")[0]


def test_direct_03_is_rescaled_to_0_2():
    expected, best = C._digits({"3": 0.0}, 3)
    assert expected == pytest.approx(2.0) and best == 3
    assert C._digits({"0": 0.0}, 3)[0] == 0.0
    assert C._digits({"The": -0.1}, 2) == (pytest.approx(float("nan"), nan_ok=True), None)


def _default_fingerprint():
    from helpers.llm import model_fingerprint

    return model_fingerprint("llama_cpp")


def test_shipped_cutoffs_label_the_default_models_grades_and_no_other_model(items):
    llm = ScriptedLLM()
    llm.fingerprint = _default_fingerprint()
    cut = C.SHIPPED_CUTOFFS["fewshot-en+ref"]
    rows = C.judge_correctness(llm, items, variant="fewshot-en+ref", progress=False)
    argmax = C.judge_correctness(ScriptedLLM(), items, variant="fewshot-en+ref", progress=False)
    # the right answer grades like the reference (difference 0), the wrong one far below
    right, wrong = rows["expected_score"].iloc[0], rows["expected_score"].iloc[1]
    assert wrong < cut[0] <= right
    expected = ["I" if s < cut[0] else "C" if s >= cut[1] else "P" for s in (right, wrong)]
    assert rows["label"].iloc[:2].tolist() == expected
    assert rows["score"].iloc[:2].tolist() == [{"I": 0, "P": 1, "C": 2}[x] for x in expected]
    assert "cut-offs" in rows["reason"].iloc[0] and "most probable digit" in rows["reason"].iloc[0]
    # another model (or the lab, cutoffs=None) keeps the most probable digit
    assert argmax["label"].iloc[:2].tolist() == ["C", "I"] and "cut-offs" not in argmax["reason"].iloc[0]
    lab = C.judge_correctness(llm, items, variant="fewshot-en+ref", cutoffs=None, progress=False)
    assert lab["label"].tolist() == argmax["label"].tolist()
    # the row without a reference stays missing whatever the cut-offs
    assert rows["label"].iloc[2] is None and rows["status"].iloc[2] == "no_reference"


def test_cutoffs_given_by_the_user_apply_to_any_model(items):
    rows = C.judge_correctness(ScriptedLLM(), items, variant="fewshot-en", cutoffs=[1.5, 1.9], progress=False)
    e = rows["expected_score"].iloc[:2]
    assert rows["label"].iloc[:2].tolist() == ["I" if s < 1.5 else "C" if s >= 1.9 else "P" for s in e]


@pytest.mark.parametrize("bad", ["shipped", [0.5], [0.9, 0.1], [0.1, 0.2, 0.3]])
def test_bad_cutoffs_are_an_error_naming_the_field(items, bad):
    with pytest.raises(InputError) as err:
        C.judge_correctness(ScriptedLLM(), items, variant="fewshot-en", cutoffs=bad, progress=False)
    assert err.value.field == "cutoffs"


def test_differing_stretches_finds_the_changed_fact_with_its_context():
    ref = "Cada filtro tem 28 parâmetros; com 64 filtros são 1.792 parâmetros e a saída tem 64 canais."
    near = "Cada filtro tem 28 parâmetros; com 64 filtros são 5.376 parâmetros e a saída tem 64 canais."
    shared, pairs = C.differing_stretches(ref, near, context=1)
    assert shared == pytest.approx(16 / 17)  # 17 words, one replaced
    assert pairs == [("são 1.792 parâmetros", "são 5.376 parâmetros")]


def test_differing_stretches_sees_a_left_out_or_added_stretch():
    ref = "A camada densa tem 150 milhões de pesos e perde a estrutura espacial da imagem."
    left_out = "A camada densa tem 150 milhões de pesos."
    _, pairs = C.differing_stretches(ref, left_out, context=2)
    assert pairs == [("de pesos e perde a estrutura espacial da imagem.", "de pesos.")]
    _, pairs = C.differing_stretches(left_out, ref, context=2)  # the same stretch, added
    assert pairs == [("de pesos.", "de pesos e perde a estrutura espacial da imagem.")]


def test_differing_stretches_ignores_case_accents_punctuation_and_function_words():
    ref = "A função ReLU zera os valores negativos."
    assert C.differing_stretches(ref, "a funcao relu zera valores negativos")[1] == []
    assert C.differing_stretches(ref, "A função ReLU zera os valores positivos.", context=0)[1] == [("negativos.", "positivos.")]


def test_an_answer_in_its_own_words_is_compared_whole():
    ref = "Porque o gradiente desaparece nas camadas fundas."
    own = "Nas redes muito profundas o sinal de treino some antes de chegar ao início."
    shared, pairs = C.differing_stretches(ref, own)
    assert shared < 0.3 and pairs == [(ref, own)]


def test_diff_variant_checks_each_stretch_once_and_averages_p_yes(items):
    llm = ScriptedLLM()
    rows = C.judge_correctness(llm, items[items["reference"] != ""], variant="diff-en", progress=False)
    # "São 64 canais, um por filtro." differs from "64 canais, um por filtro." only by "São": one check
    # "São 32 canais." against the reference: one stretch, "32" for "64" and the rest left out
    assert len(llm.calls) == 2 and all("CHECK:" in u for _, u in llm.calls)
    right, wrong = rows["expected_score"].tolist()
    assert right == pytest.approx(1.8) and wrong == pytest.approx(0.2)  # 2 x p(yes), p = 0.9 / 0.1
    assert rows["label"].tolist() == ["C", "I"] and "vs" in rows["reason"].iloc[0]


def test_diff_variant_gives_the_top_grade_without_a_call_when_nothing_differs():
    llm = ScriptedLLM()
    items = C.correctness_items(ANSWERS.assign(answer=["64 canais, um por filtro", "", ""]).iloc[:1], QUESTIONS)
    rows = C.judge_correctness(llm, items, variant="diff-en", progress=False)
    assert llm.calls == [] and rows["expected_score"].iloc[0] == 2.0 and rows["label"].iloc[0] == "C"


def test_the_short_reference_set_pairs_a_sentence_with_the_span_and_one_without_from_the_same_paragraph(faquad_dir):
    """benchmarks/short_references.py: the reference is the gold span, C holds it, I does not, both from its paragraph."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import short_references

    frame = short_references.items(12, path=faquad_dir / "train.json")
    assert len(frame) == 24 and frame.groupby("question_id")["label"].apply(lambda g: sorted(g) == ["C", "I"]).all()
    data = json.loads((faquad_dir / "train.json").read_text(encoding="utf-8"))["data"]
    contexts = {p["qas"][0]["question"]: (p["context"], p["qas"][0]["answers"][0]["text"].strip())
                for doc in data for p in doc["paragraphs"]}
    for row in frame.itertuples():
        context, span = contexts[row.question]
        assert row.reference == span and row.answer in context and 40 <= len(row.answer) <= 300
        assert (span in row.answer) == (row.label == "C")
