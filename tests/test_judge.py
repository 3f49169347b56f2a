"""Judge prompts, reply parsing and score helpers."""

import math
import re

import pandas as pd
import pytest

from helpers.cache import ContentCache
from helpers.errors import InputError, PromptTooLong
from helpers.judge import (
    JUDGMENT_COLUMNS,
    METRIC_FIELDS,
    STATUSES,
    JudgeReply,
    build_messages,
    denormalise,
    expected_score,
    items_for,
    judge_items,
    load_prompts,
    normalise,
    parse_judge_reply,
    prompt_version,
    score_to_label,
    segment_budget,
)
from helpers.llm import LLM, CachedLLM, Completion
from helpers.prompting import retry_message

SEEDS = ["record_pergunta_086.md", "record_pergunta_118.md"]
COT_METRICS = ["answer_relevance", "context_relevance", "groundedness"]
METRICS = COT_METRICS + ["context_relevance_direct"]  # the last answers with one digit, no reasons
FIELDS = {
    "question": "Por que a U-Net?",
    "answer": "Por causa dos atalhos.",
    "segment": "trecho um",
    "context": "[1] trecho um",
}


def seed_record(seeds_dir, name):
    """The AR score, the automated label and the judge's CoT of one record."""
    text = (seeds_dir / name).read_text(encoding="utf-8")
    ar = re.search(r"^\*\*Answer Relevance \(AR\)\*\*:\s*([0-9.]+)\s*$", text, re.M)
    label = re.search(r"^\*\*Anotação automatizada\*\*:\s*(\w+)\s*$", text, re.M)
    cot = re.search(r"^\*\*Raciocínio \(AR CoT\)\*\*:\s*(.+?)\s*$", text, re.M)
    assert ar and label and cot, f"{name}: record layout changed"
    return float(ar.group(1)), label.group(1), cot.group(1)


# --------------------------------------------------------------------------
# parsing: the seeds' own replies
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SEEDS)
def test_seed_cot_parses_to_the_recorded_score(seeds_dir, name):
    ar, label, cot = seed_record(seeds_dir, name)
    reply = parse_judge_reply(cot)
    assert reply.ok and reply.status == "ok"
    assert reply.score == denormalise(ar)
    assert score_to_label(reply.score) == label
    assert math.isclose(normalise(reply.score), ar, abs_tol=0.005)
    assert reply.reason.startswith("Criteria:") and "Supporting Evidence:" in reply.reason
    assert "Score:" not in reply.reason and reply.raw == cot


@pytest.mark.parametrize("name", SEEDS)
def test_seed_cot_with_line_breaks_restored(seeds_dir, name):
    ar, _, cot = seed_record(seeds_dir, name)
    text = re.sub(r"\s+(Supporting Evidence:|Score:)", r"\n\1", cot)
    assert parse_judge_reply(text).score == denormalise(ar)


# --------------------------------------------------------------------------
# parsing: a table of reply shapes
# --------------------------------------------------------------------------

CUT_OFF = (
    "Criteria: The RESPONSE must be relevant to the entire PROMPT to receive a maximum "
    "score of 3. A Score of 3 requires a complete answer.\nSupporting Evidence: The RESPONSE "
    "mentions the concatenation shortcuts, but"
)

REPLIES = [
    # id, reply, score, status
    ("cot", "Criteria: whole prompt.\nSupporting Evidence: only half answered.\nScore: 1", 1, "ok"),
    ("cot_crlf", "Criteria: c\r\nSupporting Evidence: e\r\nScore: 2\r\n", 2, "ok"),
    ("one_line_cot", "Criteria: c. Supporting Evidence: e.  Score: 3", 3, "ok"),
    ("bold_key", "Criteria: c\n**Score:** 2", 2, "ok"),
    ("bold_key_colon_outside", "**Score**: 2", 2, "ok"),
    ("bold_value", "Score: **2**", 2, "ok"),
    ("brackets", "Score: [2]", 2, "ok"),
    ("equals", "Score = 2", 2, "ok"),
    ("heading", "### Score: 3", 3, "ok"),
    ("bullet", "- Score: 0", 0, "ok"),
    ("final_score", "Final Score: 2", 2, "ok"),
    ("value_on_next_line", "Criteria: c\nScore:\n**3**", 3, "ok"),
    ("fraction", "Score: 2/3", 2, "ok"),
    ("out_of", "Score: 3 out of 3", 3, "ok"),
    ("parenthesis", "Score: 2 (the response covers half the prompt)", 2, "ok"),
    ("integer_float", "Score: 2.0", 2, "ok"),
    ("pt_key", "Critérios: c\nPontuação: 2", 2, "ok"),
    ("pt_key_no_accent", "Pontuacao: 1", 1, "ok"),
    ("pt_nota", "Nota: 3", 3, "ok"),
    ("pt_note_after_score", "Criteria: c\nScore: 2\nNota: a resposta não cita o trecho.", 2, "ok"),
    ("score_word_in_reasoning",
     "Criteria: a Score of 3 requires relevance to the entire PROMPT.\n"
     "Supporting Evidence: the score should reflect that one part is missing.\nScore: 2", 2, "ok"),
    ("rubric_line_then_score",
     "Criteria:\nScore: 3 requires the whole PROMPT to be answered.\nSupporting Evidence: half.\nScore: 1",
     1, "ok"),
    ("last_score_wins", "Score: 3\nOn reflection the answer misses a part.\nScore: 2", 2, "ok"),
    ("think_block", "<think>Maybe Score: 0?</think>\nCriteria: c\nScore: 3", 3, "ok"),
    ("bare_digit", "2", 2, "ok"),
    ("bare_digit_dot", " 3. ", 3, "ok"),
    ("bare_fraction", "1/3", 1, "ok"),
    ("json", '{"score": 2, "reason": "covers half"}', 2, "ok"),
    ("json_fenced_upper", '```json\n{"Score": 3, "Reason": "complete"}\n```', 3, "ok"),
    ("json_nota", '{"nota": 1, "justificativa": "parcial"}', 1, "ok"),
    ("json_pontuacao_string", '{"pontuação": "2"}', 2, "ok"),
    ("json_trulens_v2", '{"criteria": "c", "supporting_evidence": "e", "score": 3}', 3, "ok"),
    ("json_in_prose", 'Here is my evaluation: {"score": 0, "reason": "refusal"}', 0, "ok"),
    ("ragas_like_rating", '{"rating": 2}', 2, "ok"),
    ("stated_scale", "On a scale of 0 to 3, I give it 2.", 2, "ok"),
    ("stated_scale_pt", "Numa escala de 0 a 3, dou nota 2.", 2, "ok"),
    ("id_give_a", "I'd give this response a 1 (scale 0-3).", 1, "ok"),
    ("rating_is_out_of", "The rating is 1 out of 3.", 1, "ok"),
    # failures: never a guessed 0 or -1
    ("ten_point_float", "Score: 10.0", None, "out_of_range"),
    ("too_high", "Score: 4", None, "out_of_range"),
    ("negative", "Score: -1", None, "out_of_range"),
    ("wrong_denominator", "Score: 2/10", None, "out_of_range"),
    ("prose_wrong_denominator", "I give it 7/10.", None, "out_of_range"),
    ("bare_out_of_range", "7", None, "out_of_range"),
    ("json_out_of_range", '{"score": 10}', None, "out_of_range"),
    ("half_point", "Score: 2.5", None, "not_integer"),
    ("half_point_pt_comma", "Nota: 2,5", None, "not_integer"),
    ("two_numbers", "Score: 2 or 3", None, "ambiguous"),
    ("range", "Score: 2-3", None, "ambiguous"),
    ("template_echoed", "Criteria: <the criteria you apply>\nScore: <0 to 3>", None, "ambiguous"),
    ("template_echoed_list", "Score: <0, 1, 2 or 3>", None, "ambiguous"),
    ("prose_disagrees", "I give it 2. On second thought I'd give it 3.", None, "ambiguous"),
    ("json_two_keys_disagree", '{"score": 2, "nota": 3}', None, "ambiguous"),
    ("prose_unreadable", "I would rate this highly", None, "no_score"),
    ("word_score", "Score: high", None, "no_score"),
    ("not_applicable", "Score: N/A", None, "no_score"),
    ("rubric_line_only", "Criteria: c\nScore: 3 requires the whole PROMPT to be answered.", None, "no_score"),
    ("conditional_prose", "I would give 3 only if both parts were answered.", None, "no_score"),
    ("cut_off_mid_reasoning", CUT_OFF, None, "no_score"),
    ("score_mid_sentence", "The Score: 2 seems right but let me check the other part", None, "no_score"),
    ("numbered_list", "1. The response mentions the shortcuts.\n2. It does not explain them.", None, "no_score"),
    ("ragas_verdict", '{"reason": "supported by the context", "verdict": 1}', None, "no_score"),
    ("json_score_word", '{"score": "high"}', None, "no_score"),
    ("json_bool", '{"score": true}', None, "no_score"),
    ("broken_json", '{"score": 2, "reason": "cut', None, "no_score"),
    ("empty", "", None, "empty"),
    ("whitespace", "  \n\t ", None, "empty"),
    ("think_only", "<think>I give it 2</think>", None, "empty"),
]


@pytest.mark.parametrize("text, score, status", [r[1:] for r in REPLIES], ids=[r[0] for r in REPLIES])
def test_reply_shapes(text, score, status):
    reply = parse_judge_reply(text)
    assert (reply.score, reply.ok, reply.status) == (score, status == "ok", status)
    assert reply.raw == text
    if not reply.ok:
        assert reply.score is None  # never a stand-in 0 or -1


def test_every_status_is_reachable():
    # the parser really produces each status it documents, on the replies above
    assert {parse_judge_reply(text).status for _, text, _, _ in REPLIES} == set(STATUSES)


def test_reason_keeps_the_cot_shape():
    reply = parse_judge_reply("Criteria: c.\nSupporting Evidence: e.\n**Score:** 2\n")
    assert reply.reason == "Criteria: c.\nSupporting Evidence: e."


def test_reason_from_json():
    assert parse_judge_reply('{"score": 2, "reason": "covers half"}').reason == "covers half"
    reply = parse_judge_reply('{"criteria": "c", "supporting_evidence": "e", "score": 3}')
    assert reply.reason == "Criteria: c\nSupporting Evidence: e"


def test_other_scales():
    assert parse_judge_reply("Score: 7/10", max_score=10).score == 7
    assert parse_judge_reply("Score: 1", min_score=1, max_score=5).score == 1
    assert parse_judge_reply("Score: 0", min_score=1, max_score=5).status == "out_of_range"


def test_reply_is_frozen():
    reply = parse_judge_reply("Score: 2")
    assert isinstance(reply, JudgeReply)
    with pytest.raises(AttributeError):
        reply.score = 3


def test_non_string_reply_is_an_error():
    with pytest.raises(InputError):
        parse_judge_reply(2)


# --------------------------------------------------------------------------
# prompts
# --------------------------------------------------------------------------


def test_every_metric_has_en_and_pt_and_a_version():
    prompts = load_prompts()
    assert set(METRICS) <= set(prompts)
    versions = [prompts[m]["version"] for m in METRICS]
    assert all(isinstance(v, str) and v.strip() for v in versions)
    assert len(set(versions)) == len(versions)
    for metric in METRICS:
        for language in ("en", "pt"):
            texts = prompts[metric][language]
            assert texts["system"].strip() and texts["user"].strip()


def test_generate_prompts_share_their_prefix():
    # the yes/no check runs first; the answer call must reuse all of its prompt but the final question
    gen = load_prompts("generate")
    assert gen["answer"]["default_language"] == "pt"
    for language in ("pt", "en"):
        check = build_messages("answer_check", language, prompts=gen, context=["a", "b"], question="Q?")
        answer = build_messages("answer", language, prompts=gen, context=["a", "b"], question="Q?")
        assert check[0] == answer[0]
        assert check[1]["content"].startswith(answer[1]["content"] + "\n\n")
        assert "[1] a\n\n[2] b" in answer[1]["content"] and answer[1]["content"].endswith("Q?")
        # the fallback is never offered to the answer prompt: the check decides it (gen-v2 refused 17 of 26)
        assert "não contêm a resposta" not in answer[0]["content"] + answer[1]["content"]
    assert prompt_version("answer", "pt", prompts="generate") == "gen-v3/pt"


@pytest.mark.parametrize("name, metric", [("judge", m) for m in METRICS] + [("generate", "answer")])
@pytest.mark.parametrize("language", ["en", "pt"])
def test_system_prompts_are_fixed_and_short(name, metric, language):
    system = load_prompts(name)[metric][language]["system"]
    assert "{" not in system and "}" not in system  # no fields: the prefix can be cached
    # Rough token estimate (Qwen2.5's tokenizer: ~1.45 tokens a word in English,
    # ~1.95 in Portuguese); the default model reads ~19 tokens/s on this CPU.
    assert len(system.split()) * {"en": 1.4, "pt": 2.0}[language] <= 180


@pytest.mark.parametrize("language", ["en", "pt"])
@pytest.mark.parametrize("metric", COT_METRICS)
def test_echoed_template_is_not_a_score(metric, language):
    template = load_prompts()[metric][language]["system"].rsplit("\n", 3)[-3:]
    assert template[-1].startswith("Score:")
    assert not parse_judge_reply("\n".join(template)).ok


@pytest.mark.parametrize("language", ["en", "pt"])
@pytest.mark.parametrize("metric", COT_METRICS)
def test_judge_prompts_ask_for_the_cot_keys(metric, language):
    system = load_prompts()[metric][language]["system"]
    for key in ("Criteria:", "Supporting Evidence:", "Score:"):
        assert key in system


@pytest.mark.parametrize("language", ["en", "pt"])
@pytest.mark.parametrize("metric, last", [
    ("answer_relevance", "answer"), ("context_relevance", "segment"), ("groundedness", "answer"),
])
def test_build_messages_substitutes_fields_variable_part_last(metric, language, last):
    msgs = build_messages(metric, language, **FIELDS)
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == load_prompts()[metric][language]["system"]
    user = msgs[1]["content"]
    assert "{" not in user and user.endswith(FIELDS[last])


def test_build_messages_answer_relevance_en():
    msgs = build_messages("answer_relevance", question="Por que?", answer="Porque sim.")
    assert msgs[1]["content"] == "PROMPT: Por que?\nRESPONSE: Porque sim."


def test_build_messages_numbers_segment_lists():
    msgs = build_messages("groundedness", "en", answer="A", context=["um", {"text": "dois"}])
    assert "[1] um\n\n[2] dois" in msgs[1]["content"]


def test_braces_in_fields_are_kept():
    msgs = build_messages("answer_relevance", question="o que é {x}?", answer="{answer}")
    assert msgs[1]["content"] == "PROMPT: o que é {x}?\nRESPONSE: {answer}"


@pytest.mark.parametrize("kwargs, field", [
    ({"metric": "faithfulness"}, "metric"),
    ({"metric": "answer_relevance", "language": "es"}, "language"),
    ({"metric": "answer_relevance", "drop": "answer"}, "answer"),
    ({"metric": "context_relevance", "drop": "segment"}, "segment"),
    ({"metric": "groundedness", "drop": "context"}, "context"),
])
def test_build_messages_errors_name_the_field(kwargs, field):
    fields = {k: v for k, v in FIELDS.items() if k != kwargs.get("drop")}
    with pytest.raises(InputError) as err:
        build_messages(kwargs["metric"], kwargs.get("language", "en"), **fields)
    assert err.value.field == field and f"'{field}'" in str(err.value)


def test_prompt_version():
    assert prompt_version("answer_relevance", "en") == "ar-cot-v1/en"
    assert prompt_version("groundedness", "pt").endswith("/pt")
    with pytest.raises(InputError):
        prompt_version("answer_relevance", "fr")


def test_load_prompts_returns_a_copy():
    load_prompts()["answer_relevance"]["version"] = "changed"
    assert load_prompts()["answer_relevance"]["version"] == "ar-cot-v1"


def test_unknown_prompt_file():
    with pytest.raises(InputError) as err:
        load_prompts("nope")
    assert err.value.field == "name"


def test_prompts_ship_with_the_package(root):
    # setuptools ships a package's data files that its package-data globs match, relative to the package
    from setuptools.config.pyprojecttoml import read_configuration

    globs = read_configuration(root / "pyproject.toml")["tool"]["setuptools"]["package-data"]["helpers"]
    package = root / "src" / "helpers"
    shipped = {p for pattern in globs for p in package.glob(pattern)}
    prompt_files = set((package / "prompts").glob("*.yaml"))
    assert {p.stem for p in prompt_files} == {"judge", "correctness", "generate"}
    assert prompt_files <= shipped
    for path in prompt_files:  # and each one loads through the package, as an installed copy would
        assert load_prompts(path.stem)


# --------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SEEDS)
def test_seed_scores_map_to_the_seed_labels(seeds_dir, name):
    ar, label, _ = seed_record(seeds_dir, name)
    score = denormalise(ar)
    assert round(normalise(score), 2) == ar
    assert score_to_label(score) == label


def test_seed_values():
    assert (denormalise(0.33), score_to_label(1)) == (1, "P")
    assert (denormalise(1.00), score_to_label(3)) == (3, "C")


def test_normalise():
    assert normalise(0) == 0.0 and normalise(3) == 1.0 and normalise(5, max_score=10) == 0.5
    assert math.isnan(normalise(None)) and math.isnan(normalise(float("nan")))


def test_score_to_label():
    assert [score_to_label(s) for s in (0, 1, 2, 3, 2.0)] == ["I", "P", "P", "C", "P"]
    assert score_to_label(None) is None and score_to_label(float("nan")) is None
    assert score_to_label(1, {"0": "no", "1": "yes"}) == "yes"
    with pytest.raises(InputError):
        score_to_label(2.5)
    with pytest.raises(InputError):
        score_to_label(4)


def test_denormalise_rejects_off_scale_values():
    assert denormalise(0.67) == 2 and denormalise(None) is None
    with pytest.raises(InputError):
        denormalise(0.5)


@pytest.mark.parametrize("probs, kwargs, expected", [
    ({0: 0.0, 1: 0.0, 2: 1.0, 3: 0.0}, {}, 2.0),
    ({2: 0.5, 3: 0.5}, {}, 2.5),
    ({2: 0.2, 3: 0.2}, {}, 2.5),  # renormalised
    ([0.1, 0.2, 0.3, 0.4], {}, 2.0),
    ({"2": math.log(0.75), " 3": math.log(0.25), "Score": -0.01}, {}, 2.25),  # logprobs, other tokens ignored
    ({"2": 0.25, " 2": 0.25, "3": 0.5}, {}, 2.5),  # same digit, two tokens
    ([{"token": "1", "logprob": 0.0}], {}, 1.0),  # OpenAI top_logprobs
    ({"3": 0.0}, {"logprobs": True}, 3.0),
    ({"7": 0.9, "1": 0.1}, {}, 1.0),  # out of the scale: ignored
])
def test_expected_score(probs, kwargs, expected):
    assert math.isclose(expected_score(probs, **kwargs), expected)


def test_expected_score_all_zero_is_nan():
    assert math.isnan(expected_score([0, 0, 0, 0]))
    assert math.isnan(expected_score({"Score": -0.1}))


@pytest.mark.parametrize("probs, kwargs", [
    ([0.5, 0.5], {}),
    ({2: -0.1, 3: 0.5}, {"logprobs": False}),
    ({2: float("nan")}, {}),
])
def test_expected_score_errors(probs, kwargs):
    with pytest.raises(InputError):
        expected_score(probs, **kwargs)


# --------------------------------------------------------------------------
# judge_items: the calls, the retry, the cache (a scripted backend behind the real cache)
# --------------------------------------------------------------------------


class ScriptedJudge(LLM):
    """Replies from a script keyed by the answer in the prompt; records every call it really makes."""

    backend, model, fingerprint, supports_logprobs = "fake", "scripted", "fake:scripted", True

    def __init__(self, replies):
        self.replies, self.calls = replies, []

    def chat(self, messages, *, max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=None):
        self.calls.append((list(messages), max_tokens, seed))
        answer = messages[1]["content"].rsplit("RESPONSE: ", 1)[-1]
        script = self.replies[answer]
        text = script[min(len(script), sum(m["role"] == "assistant" for m in messages) + 1) - 1]
        if max_tokens == 1:  # one digit: its alternatives' log-probabilities
            top = {"3": math.log(0.6), "2": math.log(0.3), "0": math.log(0.1)} if text == "3" else {text: 0.0}
            return Completion(text, 40, 1, 0.25, [{"token": text, "logprob": top[text], "top": top}], "length")
        return Completion(text, 40, 12, 1.5, None, "stop")


AR_ITEMS = pd.DataFrame({
    "question_id": ["q1", "q1", "q2"], "answer_source": ["generated", "bank:I", "generated"],
    "question": ["Por que a U-Net?", "Por que a U-Net?", "O que é dropout?"],
    "answer": ["Pelos atalhos.", "Porque é rápida.", "Sei lá."],
})


def cached_judge(tmp_path, replies):
    backend = ScriptedJudge(replies)
    return backend, CachedLLM(llm=backend, cache=ContentCache(tmp_path / "llm.sqlite", "llm"))


def test_judge_items_scores_retries_and_caches(tmp_path):
    replies = {
        "Pelos atalhos.": ["Criteria: c\nSupporting Evidence: e\nScore: 3"],
        "Porque é rápida.": ["I think it is fine.", "Criteria: c\nScore: 1"],  # unreadable, then read on the retry
        "Sei lá.": ["no idea", "still no idea"],  # unreadable twice: missing, never a guess
    }
    backend, llm = cached_judge(tmp_path, replies)
    rows = judge_items(llm, AR_ITEMS, "answer_relevance", progress=False)
    assert list(rows.columns) == JUDGMENT_COLUMNS and len(rows) == 3
    assert rows["score"].tolist()[:2] == [3.0, 1.0] and math.isnan(rows["score"].iloc[2])
    assert rows["label"].tolist() == ["C", "P", None]
    assert rows["status"].tolist() == ["ok", "ok", "no_score"]
    assert rows["attempts"].tolist() == [1, 2, 2]
    assert rows["score_norm"].iloc[1] == pytest.approx(1 / 3)
    assert rows["reason"].iloc[0] == "Criteria: c\nSupporting Evidence: e"
    assert (rows["prompt_version"] == "ar-cot-v1/en").all() and (rows["judge_model"] == "fake:scripted").all()
    assert rows["prompt_tokens"].tolist() == [40, 80, 80] and rows["latency_s"].tolist() == [1.5, 3.0, 3.0]
    # the retry quotes the format after the judge's own reply, on top of the first prompt
    retried = backend.calls[2][0]
    assert retried[:2] == build_messages("answer_relevance", "en", **AR_ITEMS.iloc[1][["question", "answer"]])
    assert retried[2] == {"role": "assistant", "content": "I think it is fine."}
    assert retried[3] == retry_message("en", max_score=3) and "0 to 3" in retried[3]["content"]
    assert len(backend.calls) == 5 and not rows["cache_hit"].any()
    # judged again: every reply from the cache, no call, the same table
    again = judge_items(llm, AR_ITEMS, "answer_relevance", progress=False)
    assert len(backend.calls) == 5 and again["cache_hit"].all()
    pd.testing.assert_frame_equal(again.drop(columns="cache_hit"), rows.drop(columns="cache_hit"))


def test_judge_items_direct_reads_the_digit_probabilities(tmp_path):
    replies = {"Pelos atalhos.": ["3"], "Porque é rápida.": ["x"], "Sei lá.": ["0"]}
    backend, llm = cached_judge(tmp_path, replies)
    rows = judge_items(llm, AR_ITEMS, "answer_relevance_direct", repetitions=2, seed=5, progress=False)
    assert len(rows) == 6 and set(rows["metric"]) == {"answer_relevance"}  # reported without "_direct"
    assert rows["repetition"].tolist() == [0, 1] * 3
    assert [c[2] for c in backend.calls] == [5, 6] * 3 and all(c[1] == 1 for c in backend.calls)
    first = rows.iloc[0]
    assert first["score"] == 3 and first["expected_score"] == pytest.approx(0.6 * 3 + 0.3 * 2)
    assert rows["status"].iloc[2] == "no_score" and rows["attempts"].iloc[2] == 1  # one digit: never re-asked
    assert rows["prompt_version"].iloc[0] == prompt_version("answer_relevance_direct", "en")


def test_judge_items_rejects_an_unknown_metric(tmp_path):
    _, llm = cached_judge(tmp_path, {})
    with pytest.raises(InputError) as err:
        judge_items(llm, AR_ITEMS, "faithfulness", progress=False)
    assert err.value.field == "metrics"


# --------------------------------------------------------------------------
# items_for: the items of each metric, from the bundled sample
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_run(sample_dir):
    """The sample's questions, segments and answer bank; five questions "answered" from their gold segments."""
    from helpers.generation import build_context
    from helpers.retrieval import read_answer_bank, read_questions, relevant_segments
    from helpers.segments import expand_paths, segment_files

    questions = read_questions(sample_dir / "questions.csv")
    segments = segment_files(expand_paths(["lectures/*"], root=sample_dir))
    gold = relevant_segments(questions, segments)
    rows = []  # retrievals: the gold segments first, then the rest of the same lecture (any lecture: unanswerable)
    for qid in questions["question_id"]:
        ids = sorted(set().union(*gold[qid]))
        lecture = segments["lecture_id"].iloc[0] if not ids else segments.set_index("segment_id").loc[ids[0], "lecture_id"]
        rest = [s for s in segments.loc[segments["lecture_id"] == lecture, "segment_id"] if s not in ids]
        rows += [{"question_id": qid, "rank": r, "segment_id": s, "score": 1 / r} for r, s in enumerate(ids + rest, 1)]
    retrievals = pd.DataFrame(rows)
    bank = read_answer_bank(sample_dir / "answer_bank.csv", questions=questions)
    answered = questions.head(5)
    answers = []
    for q in answered.itertuples():
        ret = retrievals[retrievals["question_id"] == q.question_id].merge(segments, on="segment_id")
        context, ids, tokens = build_context(q.question, ret, n_segments=3, budget_tokens=240)
        answers.append({"question_id": q.question_id, "answer": f"resposta a {q.question_id}", "context": context,
                        "segment_ids": ids, "context_tokens": tokens})
    return dict(answers=pd.DataFrame(answers), questions=questions, retrievals=retrievals, segments=segments), bank


def test_items_for_answers_judges_generated_and_bank_answers(sample_run):
    run, bank = sample_run
    items = items_for("answer_relevance", answer_bank=bank, **run)
    answered = run["answers"]["question_id"].tolist()
    assert sorted(set(items["question_id"])) == answered  # the bank's other questions are left out
    assert items.groupby("question_id").size().tolist() == [4] * 5  # generated + bank C, P, I
    assert items["answer_source"].tolist()[:4] == ["bank:C", "bank:I", "bank:P", "generated"]
    q = run["questions"].set_index("question_id")["question"]
    assert (items["question"] == items["question_id"].map(q)).all()
    assert items_for("answer_relevance", **run)["answer_source"].eq("generated").all()
    # the same items in the _direct twin, with the fields its prompt needs
    pd.testing.assert_frame_equal(items_for("answer_relevance_direct", answer_bank=bank, **run), items)
    assert set(METRIC_FIELDS["answer_relevance"]) <= set(items.columns)


def test_items_for_correctness_adds_the_reference(sample_run):
    run, bank = sample_run
    items = items_for("answer_correctness", answer_bank=bank, **run)
    ref = run["questions"].set_index("question_id")["reference_answer"].str.strip()
    assert len(items) == 20 and (items["reference"] == items["question_id"].map(ref)).all()
    no_ref = run["questions"].assign(reference_answer="")
    with pytest.raises(InputError) as err:
        items_for("answer_correctness", **{**run, "questions": no_ref}, path="q.csv")
    assert err.value.field == "reference_answer" and "q.csv" in str(err.value)


def test_items_for_context_relevance_reads_what_the_generator_read(sample_run):
    run, _ = sample_run
    items = items_for("context_relevance_direct", context_relevance_top=3, **run)
    assert items.groupby("question_id")["rank"].apply(list).tolist() == [[1, 2, 3]] * 5
    assert (items["answer_source"] == "retrieved").all()
    share = segment_budget(run["answers"])
    answers = run["answers"]
    assert share == max(16, answers["context_tokens"].max() // answers["segment_ids"].map(len).max())
    segments = run["segments"].set_index("segment_id")
    for row in items.itertuples():
        seg = segments.loc[row.segment_id]
        assert row.segment.startswith(f"[1] {seg.lecture_id} ")  # numbered and timed, as in the generator's context
        body = row.segment.split(": ", 1)[1]
        assert len(body) / 3.5 <= share + 2  # trimmed to the generator's share of the budget
        words = body.strip("… ").split()
        assert " ".join(words) in " ".join(seg.text.split())  # a stretch of the segment, not a rewrite
    everything = items_for("context_relevance", context_relevance_top=0, **run)
    assert len(everything) == len(run["retrievals"][run["retrievals"]["question_id"].isin(answers["question_id"])])


def test_items_for_groundedness_pairs_each_answer_with_its_context(sample_run):
    run, bank = sample_run
    plain = items_for("groundedness", **run)
    assert plain["answer_source"].eq("generated").all() and len(plain) == 5
    with_bank = items_for("groundedness_direct", answer_bank=bank, **run)
    assert len(with_bank) == 20 and with_bank["question_id"].is_monotonic_increasing  # same context in a row
    context = run["answers"].set_index("question_id")["context"]
    assert (with_bank["context"] == with_bank["question_id"].map(context)).all()


@pytest.mark.parametrize("metric, change, field", [
    ("faithfulness", {}, "metric"),
    ("context_relevance", {"retrievals": None}, "retrievals"),
    ("groundedness", {"drop": "context"}, "answers"),
    ("answer_relevance", {"qdrop": "question"}, "questions"),
])
def test_items_for_bad_input_names_the_field(sample_run, metric, change, field):
    run = dict(sample_run[0])
    if "retrievals" in change:
        run["retrievals"] = None
    if "drop" in change:
        run["answers"] = run["answers"].drop(columns=change["drop"])
    if "qdrop" in change:
        run["questions"] = run["questions"].drop(columns=change["qdrop"])
    with pytest.raises(InputError) as err:
        items_for(metric, **run)
    assert err.value.field == field


# --------------------------------------------------------------------------
# judge_metrics: every metric of 04 in one call, the same rows as metric by metric
# --------------------------------------------------------------------------


def _digit_reply(messages, calls):
    """A digit that depends on the prompt, with its alternatives' log-probabilities (deterministic)."""
    import zlib

    d = str(zlib.crc32(messages[-1]["content"].encode()) % 3)
    top = {d: math.log(0.7), str((int(d) + 1) % 3): math.log(0.3)}
    return Completion(d, 40, 1, 0.25, [{"token": d, "logprob": top[d], "top": top}], "length")


def test_judge_metrics_is_each_metric_judged_on_its_items_in_one_order(sample_run, counting_llm):
    from helpers.baselines import baseline_judgments
    from helpers.correctness import judge_correctness
    from helpers.judge import judge_metrics

    run, bank = sample_run
    options = dict(language="en", label_map={3: "C", 2: "P", 1: "P", 0: "I"}, progress=False)
    llm = counting_llm(reply=_digit_reply)
    got = judge_metrics(llm, ["groundedness", "context_relevance", "answer_correctness", "answer_relevance"],
                        answer_bank=bank, reasons={"answer_relevance": True}, correctness_variant="fewshot-en+ref",
                        context_relevance_top=2, groundedness_answer_bank=False, **run, **options)
    # what 04 did section by section, in the order of its sections
    ac_items = items_for("answer_correctness", answer_bank=bank, **run)
    by_hand = pd.concat([
        judge_items(llm, items_for("answer_relevance", answer_bank=bank, **run), "answer_relevance", **options),
        judge_correctness(llm, ac_items, variant="fewshot-en+ref", progress=False)[JUDGMENT_COLUMNS],
        baseline_judgments(ac_items),
        judge_items(llm, items_for("context_relevance", context_relevance_top=2, **run), "context_relevance_direct",
                    **options),
        judge_items(llm, items_for("groundedness", **run), "groundedness_direct", **options),
    ], ignore_index=True)
    llm_rows = got["prompt_version"] != "baseline-v1"  # a baseline's latency is measured, not replied
    pd.testing.assert_frame_equal(got.drop(columns="latency_s"), by_hand.drop(columns="latency_s"))
    assert got.loc[llm_rows, "latency_s"].tolist() == by_hand.loc[llm_rows, "latency_s"].tolist()
    assert list(dict.fromkeys(got["metric"])) == ["answer_relevance", "answer_correctness", "token_f1", "exact_match",
                                                   "rouge_l", "context_relevance", "groundedness"]
    by_metric = got.groupby("metric")
    assert by_metric.size()[["answer_relevance", "answer_correctness", "context_relevance", "groundedness"]].tolist() \
        == [20, 20, 10, 5]  # 5 answered questions x (generated + bank C, P, I); top 2 segments; generated only
    assert by_metric["prompt_version"].first()["answer_relevance"] == prompt_version("answer_relevance", "en")
    assert by_metric["prompt_version"].first()["groundedness"] == prompt_version("groundedness_direct", "en")
    one_digit = got["metric"].isin(["answer_correctness", "context_relevance", "groundedness"])
    assert got.loc[one_digit, "expected_score"].notna().all()  # read from the digits' probabilities


def test_judge_metrics_without_metrics_or_baselines_and_with_an_unknown_one(sample_run, counting_llm):
    from helpers.judge import judge_metrics

    run, bank = sample_run
    llm = counting_llm(reply=_digit_reply)
    empty = judge_metrics(llm, [], baselines=False, **run)
    assert empty.empty and list(empty.columns) == JUDGMENT_COLUMNS and llm.calls == 0
    only_baselines = judge_metrics(llm, [], answer_bank=bank, progress=False, **run)
    assert set(only_baselines["metric"]) == {"token_f1", "exact_match", "rouge_l"} and llm.calls == 0
    with pytest.raises(InputError) as err:
        judge_metrics(llm, ["answer_relevance", "faithfulness"], **run)
    assert err.value.field == "metrics" and "faithfulness" in str(err.value)


def test_an_abstention_is_grounded_by_the_rubric_without_asking_the_judge():
    from helpers.generation import FALLBACK
    from helpers.judge import ABSTENTION_REASON, judge_items

    class _NoCalls:
        fingerprint = "none"

        def chat(self, *a, **k):
            raise AssertionError("the judge was asked")

    items = pd.DataFrame({"question_id": ["q1"], "answer_source": ["generated"], "answer": [FALLBACK],
                          "context": ["[1] aula 00:00:00-00:00:09: o dropout desliga neurônios"]})
    for metric in ("groundedness", "groundedness_direct"):
        out = judge_items(_NoCalls(), items, metric, repetitions=2, progress=False)
        assert out["score"].tolist() == [3.0, 3.0] and out["expected_score"].tolist() == [3.0, 3.0]
        assert (out["status"] == "ok").all() and (out["reason"] == ABSTENTION_REASON).all() and out["label"].eq("C").all()
    with pytest.raises(AssertionError, match="asked"):  # any other answer goes to the judge
        judge_items(_NoCalls(), items.assign(answer="O dropout desliga neurônios."), "groundedness_direct", progress=False)


def test_an_item_longer_than_the_judges_window_gets_a_status_and_the_others_are_judged():
    from helpers.judge import TOO_LONG, judge_items
    from helpers.llm import Completion

    class _Window:
        fingerprint = "fake:window"

        def chat(self, messages, **k):
            if len(messages[-1]["content"]) > 2000:
                raise PromptTooLong("prompt of 5000 tokens + 1 to generate exceeds n_ctx=4096")
            return Completion("3", 10, 1, 0.1, [{"token": "3", "logprob": 0.0, "top": {"3": 0.0}}], "length")

    items = pd.DataFrame({"question_id": ["q1", "q2"], "answer_source": ["bank:C", "bank:C"], "question": ["Q?", "Q?"],
                          "answer": ["Curta.", "longa " * 1000]})
    out = judge_items(_Window(), items, "answer_relevance_direct", progress=False)
    assert out["status"].tolist() == ["ok", TOO_LONG] and out["score"].tolist()[0] == 3.0
    assert math.isnan(out["score"][1]) and "n_ctx=4096" in out["reason"][1] and out["label"][1] is None
