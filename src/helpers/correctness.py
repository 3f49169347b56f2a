"""Answer correctness: an LLM judge that grades an answer against the reference answer.

The study's human labels say whether an answer is *right* (C correct, P
partial, I incorrect). Its judge, Answer Relevance, says only whether the
answer *addresses* the question, so a fluent wrong answer earns a 3. Here the
judge also reads the reference answer and gives a grade on the labels' own
scale::

    2 = correct (C)    1 = partial (P)    0 = wrong (I)

Each *variant* in :data:`VARIANTS` is one way of asking a small model for
that grade (prompts in ``helpers/prompts/correctness.yaml``):

``direct``     one digit in one forward pass; the expected grade
               ``E = sum_g g * p(g) / sum_g p(g)`` over the digit
               probabilities (G-Eval, Liu et al. 2023);
``reasons``    one sentence comparing the facts, then ``Score: N``;
``checks``     two yes/no decisions on one shared prefix (does the answer
               conflict with the reference? does it cover all of it?):
               ``E = (1 - p_conflict) * (1 + p_covers)``;
``checklist``  the reference turned once per question into yes/no checks
               (RocketEval, Wei et al. 2025), every answer checked item by
               item: ``E = 2 * mean_i p_yes(i)``;
``diff``       the stretches where the answer's words depart from the
               reference's (:func:`differing_stretches`), each checked with
               one yes/no ("the same facts?") on the short stretches alone:
               ``E = 2 * mean_i p_yes(i)``; an answer in its own words is
               checked whole.

Every variant returns the continuous ``expected_score`` (0..2), an integer
``score`` (the most probable grade, or the one the judge wrote) and its
label. The continuous score becomes C/P/I honestly with cut-offs fitted by
grouped cross-validation (:mod:`helpers.calibration`).

References
----------
Es et al. (2024), RAGAS: answer correctness as statement-level F1 against
the ground truth. Liu et al. (2023), G-Eval: NLG evaluation using GPT-4
with better human alignment. Wei et al. (2025), RocketEval: efficient
automated LLM evaluation via grading checklist.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import pandas as pd

from .calibration import apply_cutoffs
from .errors import InputError, PromptTooLong
from .generation import is_abstention
from .labels import GRADE_LABELS, LABEL_GRADES
from .prompting import build_messages, prompt_version, retry_message
from .scoring import expected_score, nearest_score, parse_judge_reply, score_token_logprobs

__all__ = [
    "GRADE_LABELS",
    "VARIANTS",
    "DEFAULT_VARIANT",
    "Variant",
    "correctness_items",
    "differing_stretches",
    "grade_answers",
    "GRADE_COLUMNS",
    "judge_correctness",
    "SHIPPED_CUTOFFS",
    "variant_cutoffs",
    "yes_probability",
    "parse_checklist",
]

PROMPTS = "correctness"


@dataclass(frozen=True)
class Variant:
    """One way of asking for a correctness grade.

    Attributes
    ----------
    mode : str
        ``direct``, ``reasons``, ``checks`` or ``checklist``.
    prompts : tuple of str
        The prompt names in ``correctness.yaml`` it uses.
    language : str
        ``en`` or ``pt`` instructions.
    max_grade : int
        Top of the scale the judge is asked for (2, or 3 for the 0-3 variant;
        its expected score is rescaled to 0..2).
    guard : bool
        The answer is rendered as guarded data (:func:`helpers.prompting.build_messages`).
    anchor : bool
        Report the expected grade *relative to the reference's own*: the same
        judge also grades the reference as if it were the answer (one call
        per question, cached), and ``expected_score`` is
        ``E[g | answer] - E[g | reference]``, from -2 to 2. A small judge
        grades some questions higher than others whatever the answer; the
        difference cancels that, and cut-offs fitted on it carry across
        questions. The ``score`` and ``label`` stay the answer's own argmax.
    """

    mode: str
    prompts: tuple
    language: str = "en"
    max_grade: int = 2
    guard: bool = False
    anchor: bool = False

    @property
    def call_version(self) -> str:
        """The version each call is cached under: an anchored variant makes the same calls as its plain twin."""
        versions = [prompt_version(p, self.language, prompts=PROMPTS, guard=self.guard) for p in self.prompts]
        names = "+".join(v.split("/")[0] for v in versions)
        guards = sorted({v.partition("+")[2] for v in versions} - {""})  # each prompt's guard, named once
        return f"{names}/{self.language}" + "".join(f"+{g}" for g in guards)

    @property
    def version(self) -> str:
        """The version stored with each grade (``+ref`` for an anchored variant)."""
        return self.call_version + ("+ref" if self.anchor else "")


#: The judge lab's variants. The default metric of a run is :data:`DEFAULT_VARIANT`.
VARIANTS: dict = {
    "direct-en": Variant("direct", ("correctness_direct",), "en"),
    "direct-pt": Variant("direct", ("correctness_direct",), "pt"),
    "direct03-en": Variant("direct", ("correctness_direct_03",), "en", max_grade=3),
    "fewshot-en": Variant("direct", ("correctness_fewshot",), "en"),
    "fewshot-en+ref": Variant("direct", ("correctness_fewshot",), "en", anchor=True),
    "direct-pt+ref": Variant("direct", ("correctness_direct",), "pt", anchor=True),
    "fewshot-pt": Variant("direct", ("correctness_fewshot",), "pt"),
    "checks-en": Variant("checks", ("correctness_conflict", "correctness_coverage"), "en"),
    "checks-pt": Variant("checks", ("correctness_conflict", "correctness_coverage"), "pt"),
    "checklist-en": Variant("checklist", ("checklist_make", "checklist_check"), "en"),
    "diff-en": Variant("diff", ("correctness_same",), "en"),
    "reasons-en": Variant("reasons", ("correctness_reasons",), "en"),
    "reasons-pt": Variant("reasons", ("correctness_reasons",), "pt"),
}

DEFAULT_VARIANT = "fewshot-en+ref"

#: Cut-offs ``(c1, c2)`` that turn a variant's ``expected_score`` into its
#: label when the judge is the offline default model: I below ``c1``, P up to
#: ``c2``, C from ``c2`` (:func:`helpers.calibration.apply_cutoffs`). Without
#: them a small judge's most probable digit is its label, and the default
#: model's is "1" for 110 of 112 answers: every answer P. Fitted by
#: :func:`helpers.calibration.fit_cutoffs` on all 196 labelled answers of the
#: sample (answer bank and contrast set together, the guarded judge of
#: ``make run``, guard-v2: benchmarks/results/attacks.parquet, 2026-11-28);
#: in-sample quadratic kappa 0.55 / 0.37 / 0.46 on bank / contrast / all
#: (the previous pair, fitted on guard-v1's scores, 0.55 / 0.30 / 0.42);
#: plain scores labelled with the same pair 0.50 / 0.35 / 0.42, against
#: 0.60 / 0.41 / 0.50 for a pair fitted on the plain scores themselves. What
#: they are worth on answers they were not fitted on is the cross-validated
#: agreement (leave one question out; 06, benchmarks/attacks.py): quadratic
#: kappa 0.51 on the bank, 0.26 on the contrast set, 0.38 on all. Read on the
#: anchored score they say: C when the judge grades the answer at least about
#: as high as the reference itself, I when clearly lower. Another judge model
#: keeps the argmax; give it its own with ``cutoffs=`` (06 prints them).
SHIPPED_CUTOFFS: dict = {"fewshot-en+ref": (-0.093, 0.018)}

_YES = ("yes", "sim", "y", "s")
_NO = ("no", "não", "nao", "n")


def get_variant(name: str) -> Variant:
    """The :class:`Variant` called ``name``; an unknown name lists the known ones."""
    if name not in VARIANTS:
        raise InputError(f"unknown correctness variant {name!r} (known: {', '.join(VARIANTS)})", field="variant")
    return VARIANTS[name]


def yes_probability(top) -> float:
    """P(yes) from the log-probabilities of the first reply token.

    ``p = sum_yes exp(lp) / (sum_yes exp(lp) + sum_no exp(lp))`` over the
    alternatives whose text is *yes*/*sim* or *no*/*não* (any case, any
    leading space or punctuation). NaN when neither appears.

    Examples
    --------
    >>> round(yes_probability({"Yes": -0.1, " No": -2.4, "The": -5.0}), 3)
    0.909
    """
    yes = no = 0.0
    for token, lp in (top or {}).items():
        word = re.sub(r"[^\wçãõáéíóú]", "", str(token).lower())
        if word in _YES:
            yes += math.exp(lp)
        elif word in _NO:
            no += math.exp(lp)
    return yes / (yes + no) if yes + no > 0 else float("nan")


def parse_checklist(text: str, *, max_items: int = 4) -> list:
    """The checklist lines a judge wrote: numbering and bullets removed, at most ``max_items``.

    Examples
    --------
    >>> parse_checklist("1. Does it say 64 filters?\\n- Does it say 28 parameters?\\n")
    ['Does it say 64 filters?', 'Does it say 28 parameters?']
    """
    items = []
    for line in str(text or "").splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)]|\[\s?\])\s*", "", line).strip()
        if len(line) >= 8 and not line.endswith(":"):
            items.append(line)
    return items[:max_items]


def correctness_items(answers: pd.DataFrame, questions: pd.DataFrame, *, path="questions") -> pd.DataFrame:
    """Join answers to their question text and reference answer.

    Parameters
    ----------
    answers : DataFrame
        ``question_id``, ``answer_source``, ``answer`` (and any other columns).
    questions : DataFrame
        ``question_id``, ``question``, ``reference_answer``.
    path : str
        Named in the error when ``questions`` has no reference column.

    Returns
    -------
    DataFrame
        ``answers`` with ``question`` and ``reference`` added, sorted by
        question so the judge reuses each question's prefix. A row without a
        reference keeps an empty ``reference``: :func:`judge_correctness`
        gives it NaN with status ``no_reference``, never 0.
    """
    refs = questions["reference_answer"] if "reference_answer" in questions.columns else pd.Series(dtype=str)
    if not refs.fillna("").astype(str).str.strip().any():
        raise InputError("answer correctness needs reference answers; the question set has none",
                         path=path, field="reference_answer")
    ref = questions[["question_id", "question", "reference_answer"]].rename(columns={"reference_answer": "reference"})
    items = answers.drop(columns=[c for c in ("question", "reference") if c in answers.columns]).merge(ref, on="question_id", how="left")
    items["reference"] = items["reference"].fillna("").astype(str).str.strip()
    return items.sort_values(["question_id", "answer_source"], kind="stable").reset_index(drop=True)


def _digits(top, max_grade):
    """(expected grade rescaled to 0..2, argmax grade) from a digit token's alternatives."""
    probs = {}
    for token, lp in (top or {}).items():
        t = str(token).strip()
        if t.isdigit() and int(t) <= max_grade:
            probs[int(t)] = probs.get(int(t), 0.0) + math.exp(lp)
    if not probs:
        return float("nan"), None
    e = expected_score(probs, min_score=0, max_score=max_grade)
    best = max(probs, key=probs.get)
    return e * 2 / max_grade, best


class _Meter:
    """Adds up tokens, latency and cache hits over the calls for one answer."""

    def __init__(self, llm):
        self.llm, self.prompt_tokens, self.completion_tokens, self.latency, self.hit, self.raw = llm, 0, 0, 0.0, True, []

    def chat(self, messages, version, **kw):
        out = self.llm.chat(messages, prompt_version=version, temperature=0.0, seed=0, **kw)
        self.prompt_tokens += out.prompt_tokens
        self.completion_tokens += out.completion_tokens
        self.latency += out.latency_s
        self.hit = self.hit and out.cached
        self.raw.append(out.text)
        return out


def _one_token(meter, name, language, fields, version, guard=False):
    messages = build_messages(name, language, prompts=PROMPTS, guard=guard, **fields)
    out = meter.chat(messages, version, max_tokens=1, top_logprobs=20)
    return out.logprobs[0]["top"] if out.logprobs else {}


def _direct(meter, v, fields):
    top = _one_token(meter, v.prompts[0], v.language, fields, v.call_version, v.guard)
    expected, best = _digits(top, v.max_grade)
    if best is not None and v.max_grade != 2:
        best = nearest_score(best * 2 / v.max_grade)
    return expected, best, "", "ok" if best is not None else "no_score"


def _abstention(meter, v, fields):
    """An abstention is right when the reference says the question cannot be answered: one yes/no on the reference.

    ``p`` = P(yes) to "does the REFERENCE say the question cannot be
    answered?" (prompt ``correctness_unanswerable``, English whatever the
    variant's language, the reference alone in it); the expected grade is the scale's bottom + p x its width (0..2, or
    -2..2 for an anchored variant), the grade 2 or 0.
    """
    top = _one_token(meter, "correctness_unanswerable", "en", {"reference": fields["reference"]},
                     prompt_version("correctness_unanswerable", "en", prompts=PROMPTS))
    p = yes_probability(top)
    if math.isnan(p):
        return float("nan"), None, "abstention; no yes/no in the reply", "no_score"
    low = -2.0 if v.anchor else 0.0
    return low + (2.0 - low) * p, 2 if p >= 0.5 else 0, f"abstention: P(the reference says it cannot be answered)={p:.2f}", "ok"


def _checks(meter, v, fields):
    conflict = yes_probability(_one_token(meter, v.prompts[0], v.language, fields, v.call_version, v.guard))
    covers = yes_probability(_one_token(meter, v.prompts[1], v.language, fields, v.call_version, v.guard))
    expected = (1 - conflict) * (1 + covers)
    reason = f"p(conflict)={conflict:.2f}, p(covers all)={covers:.2f}"
    return expected, nearest_score(expected), reason, "ok" if not math.isnan(expected) else "no_score"


def _reasons(meter, v, fields):
    messages = build_messages(v.prompts[0], v.language, prompts=PROMPTS, guard=v.guard, **fields)
    out = meter.chat(messages, v.call_version, max_tokens=120, top_logprobs=10)
    reply = parse_judge_reply(out.text, max_score=2)
    if not reply.ok:
        messages = messages + [{"role": "assistant", "content": out.text}, retry_message(v.language, max_score=2)]
        out = meter.chat(messages, v.call_version, max_tokens=120, top_logprobs=10)
        reply = parse_judge_reply(out.text, max_score=2)
    top = score_token_logprobs(out.logprobs)
    expected = _digits(top, 2)[0] if top else float("nan")
    if reply.ok and math.isnan(expected):
        expected = float(reply.score)
    return expected, reply.score, reply.reason, reply.status


def _checklist(meter, v, fields, checklists):
    items = checklists[fields["question"], fields["reference"]]
    checked = [(it, yes_probability(_one_token(meter, v.prompts[1], v.language, {"answer": fields["answer"], "item": it},
                                               v.call_version, v.guard))) for it in items]
    p = [x for _, x in checked if not math.isnan(x)]
    expected = 2 * sum(p) / len(p) if p else float("nan")
    reason = " | ".join(f"{it} {x:.2f}" for it, x in checked)  # every item beside its own p(yes), NaN included
    return expected, nearest_score(expected), reason, "ok" if p else "no_score"


#: Short words that never make a stretch worth checking on their own (after normalize_answer).
_FUNCTION_WORDS = frozenset(
    "a o os as um uma uns umas de da do das dos e em no na nos nas ao aos se que por para com ou mais como mas "
    "the an of in on at to and or is are be it its for by with".split()
)


def differing_stretches(reference: str, answer: str, *, context: int = 4, min_shared: float = 0.3):
    """Where an answer's words depart from the reference's: the pairs the ``diff`` variant checks.

    Both texts are split at whitespace and each word normalised as SQuAD does
    (:func:`helpers.baselines.normalize_answer`: lower case, accents folded,
    punctuation dropped; articles kept); :class:`difflib.SequenceMatcher`
    aligns the two word sequences. Every stretch of the reference that the
    answer replaces or leaves out, and every stretch the answer adds, becomes
    one pair ``(reference words, answer words)``, each side widened by
    ``context`` words, when it holds a content word (not only short function
    words). ``shared`` is the share of the reference's words the alignment
    matches. When ``shared < min_shared`` the answer is in its own words and
    is compared whole: one pair ``(reference, answer)``. An answer that only
    differs in function words gives no pair.

    Returns
    -------
    shared : float
    pairs : list of (str, str)

    Examples
    --------
    >>> differing_stretches("A saída tem 64 canais, um por filtro.", "A saída tem 32 canais, um por filtro.", context=2)
    (0.875, [('saída tem 64 canais, um', 'saída tem 32 canais, um')])
    >>> differing_stretches("Por causa do gradiente.", "Porque a função é convexa.")[1]
    [('Por causa do gradiente.', 'Porque a função é convexa.')]
    """
    import difflib

    from .baselines import normalize_answer

    def split(text):
        words = [w for w in str(text).split() if normalize_answer(w, drop_articles=False)]
        return words, [normalize_answer(w, drop_articles=False) for w in words]

    (rw, rn), (aw, an) = split(reference), split(answer)
    ops = difflib.SequenceMatcher(None, rn, an, autojunk=False).get_opcodes()
    shared = sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag == "equal") / max(1, len(rn))
    if shared < min_shared:
        return shared, [(str(reference), str(answer))]
    content = lambda words: any(w not in _FUNCTION_WORDS for w in words)  # noqa: E731
    pairs = []
    for tag, i1, i2, j1, j2 in ops:
        if tag != "equal" and (content(rn[i1:i2]) or content(an[j1:j2])):
            pairs.append((" ".join(rw[max(0, i1 - context):i2 + context]), " ".join(aw[max(0, j1 - context):j2 + context])))
    return shared, pairs


def _diff(meter, v, fields):
    shared, pairs = differing_stretches(fields["reference"], fields["answer"])
    checked = [(ref, ans, yes_probability(_one_token(meter, v.prompts[0], v.language,
                                                     {"question": fields["question"], "reference": ref, "answer": ans},
                                                     v.call_version, v.guard))) for ref, ans in pairs]
    p = [x for _, _, x in checked if not math.isnan(x)]
    expected = 2 * sum(p) / len(p) if p else (2.0 if not pairs else float("nan"))
    reason = f"shared words {shared:.2f}; " + (" | ".join(f"{r!r} vs {a!r} {x:.2f}" for r, a, x in checked) or "no stretch differs")
    return expected, nearest_score(expected) if not math.isnan(expected) else None, reason, "ok" if p or not pairs else "no_score"


def _make_checklists(llm, items, v):
    """One checklist per (question, reference), with the seconds it took."""
    out, seconds = {}, {}
    for (q, ref), _ in items.groupby(["question", "reference"], sort=False):
        if not ref:
            continue
        meter = _Meter(llm)
        messages = build_messages(v.prompts[0], v.language, prompts=PROMPTS, question=q, reference=ref)
        reply = meter.chat(messages, v.call_version, max_tokens=120)
        out[q, ref] = parse_checklist(reply.text) or [f"Does the answer state that: {ref}"]
        seconds[q, ref] = meter.latency
    return out, seconds


def variant_cutoffs(variant: str, llm, cutoffs="default"):
    """The cut-offs that label ``variant``'s grades from ``llm``, or None for the argmax grade.

    ``cutoffs="default"``: :data:`SHIPPED_CUTOFFS` when ``llm`` is the offline
    default model (its fingerprint says so), else None. A pair ``(c1, c2)``
    is used as given; None or ``()`` asks for the argmax.

    Examples
    --------
    >>> variant_cutoffs("fewshot-en", None) is None
    True
    >>> variant_cutoffs("fewshot-en", None, cutoffs=[-0.1, 0.2])
    (-0.1, 0.2)
    """
    from .llm import model_fingerprint

    if isinstance(cutoffs, str):
        if cutoffs != "default":
            raise InputError(f"cutoffs must be 'default', a pair [c1, c2] or empty, got {cutoffs!r}", field="cutoffs")
        on_default = getattr(llm, "fingerprint", None) == model_fingerprint("llama_cpp")
        return SHIPPED_CUTOFFS.get(variant) if on_default else None
    if cutoffs is None or len(cutoffs) == 0:
        return None
    apply_cutoffs([], cutoffs)  # its check: two non-decreasing numbers, else InputError(field="cutoffs")
    return tuple(float(c) for c in cutoffs)


def judge_correctness(llm, items: pd.DataFrame, *, variant: str = DEFAULT_VARIANT, guard: bool = False,
                      cutoffs="default", progress: bool = True) -> pd.DataFrame:
    """Grade every answer against its reference with one correctness variant.

    Parameters
    ----------
    llm : helpers.llm.CachedLLM
        The judge behind the content cache (greedy, seed 0).
    items : DataFrame
        :func:`correctness_items` output: ``question_id``, ``answer_source``,
        ``question``, ``reference``, ``answer``.
    variant : str
        A key of :data:`VARIANTS`.
    guard : bool
        Render the answer as guarded data, in delimiters it cannot close
        (:func:`helpers.prompting.build_messages`); the prompt version says so.
    cutoffs : "default", pair or None
        How a grade becomes a label (:func:`variant_cutoffs`): by default the
        variant's :data:`SHIPPED_CUTOFFS` on ``expected_score`` when the judge
        is the offline default model, else the most probable (or written)
        grade. The judge lab passes None: it fits its own, leaving each
        question out.

    Returns
    -------
    DataFrame
        :data:`helpers.judge.JUDGMENT_COLUMNS` with ``metric`` =
        ``"answer_correctness"``, ``score`` the 0-2 grade of the label (the
        argmax grade when there are no cut-offs), ``score_norm`` = grade / 2,
        ``expected_score`` the continuous 0..2 grade (for an anchored variant,
        ``+ref``, minus the reference's own: -2..2), ``label`` C/P/I, plus
        ``variant``. A row without a reference is NaN with status
        ``no_reference``; one whose prompt does not fit the judge's context
        window is NaN with status ``too_long`` (the others are graded).

    Examples
    --------
    >>> rows = judge_correctness(judge_llm, correctness_items(bank, questions))  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from .judge import JUDGMENT_COLUMNS, TOO_LONG

    v = dataclasses.replace(get_variant(variant), guard=bool(guard))
    cut = variant_cutoffs(variant, llm, cutoffs)
    has_ref = items["reference"].astype(str).str.strip() != ""
    checklists, make_s = (_make_checklists(llm, items[has_ref], v) if v.mode == "checklist" else ({}, {}))
    per_question = items[has_ref].groupby(["question", "reference"]).size()

    def grade_one(meter, fields):
        if v.mode == "direct":
            return _direct(meter, v, fields)
        if v.mode == "checks":
            return _checks(meter, v, fields)
        if v.mode == "reasons":
            return _reasons(meter, v, fields)
        if v.mode == "diff":
            return _diff(meter, v, fields)
        return _checklist(meter, v, fields, checklists)

    anchors = {}  # (question, reference) -> (the reference's own expected grade, its seconds)
    rows = []
    for item in tqdm(items.to_dict("records"), desc=f"correctness {variant}", disable=not progress):
        fields = {"question": item["question"], "reference": item["reference"], "answer": item["answer"]}
        key = (item["question"], item["reference"])
        meter = _Meter(llm)
        try:
            if not str(item["reference"]).strip():
                expected, grade, reason, status = float("nan"), None, "", "no_reference"
            elif is_abstention(item["answer"]):
                expected, grade, reason, status = _abstention(meter, v, fields)
            else:
                expected, grade, reason, status = grade_one(meter, fields)
                if v.mode == "checklist":
                    meter.latency += make_s.get(key, 0.0) / max(1, per_question.get(key, 1))
                if v.anchor:
                    if key not in anchors:
                        own = _Meter(llm)
                        anchors[key] = (grade_one(own, {**fields, "answer": item["reference"]})[0], own.latency)
                    ref_expected, ref_s = anchors[key]
                    meter.latency += ref_s / max(1, per_question.get(key, 1))
                    reason = f"E[grade] {expected:.3f}, the reference's own {ref_expected:.3f}" + (f"; {reason}" if reason else "")
                    expected = expected - ref_expected
        except PromptTooLong as err:  # a prompt longer than the model's window: this answer only, NaN with a status
            expected, grade, reason, status = float("nan"), None, err.message, TOO_LONG
        if cut is not None and not math.isnan(expected):
            argmax, grade = grade, LABEL_GRADES[apply_cutoffs([expected], cut)[0]]
            reason = f"{reason}; cut-offs {cut[0]:g}, {cut[1]:g} -> {GRADE_LABELS[grade]} (most probable digit {argmax})"
        rows.append({
            "question_id": item["question_id"], "answer_source": item.get("answer_source", ""),
            "metric": "answer_correctness", "repetition": 0, "segment_id": "", "rank": 0,
            "score": float("nan") if grade is None else float(grade),
            "score_norm": float("nan") if grade is None else grade / 2, "expected_score": expected,
            "label": GRADE_LABELS.get(grade), "status": status, "attempts": len(meter.raw), "reason": reason,
            "raw": "\n---\n".join(meter.raw), "prompt_version": v.version, "judge_model": llm.fingerprint,
            "prompt_tokens": meter.prompt_tokens, "completion_tokens": meter.completion_tokens,
            "latency_s": meter.latency, "cache_hit": meter.hit and bool(meter.raw), "variant": variant,
        })
    return pd.DataFrame(rows, columns=[*JUDGMENT_COLUMNS, "variant"])


#: Columns of :func:`grade_answers`: one row per answer.
GRADE_COLUMNS = ["question_id", "answer_source", "answer", "label", "judge_label", "expected_score", "grade", "status",
                 "token_f1", "exact_match", "rouge_l", "reason"]


def grade_answers(llm, questions: pd.DataFrame, answers: pd.DataFrame, *, variant: str = DEFAULT_VARIANT,
                  guard: bool = True, cutoffs="default", path: str = "questions", progress: bool = True) -> pd.DataFrame:
    """Grade answers that no run produced against their references: the judge and the word baselines.

    For a set of question-answer pairs from elsewhere (rated by people or
    not): :func:`judge_correctness` with ``variant`` (guarded by default, as
    ``make run`` judges; labelled by :func:`variant_cutoffs`) beside token F1,
    exact match and ROUGE-L against the reference
    (:func:`helpers.baselines.baseline_scores`). Every call goes through
    ``llm``'s cache, so an interrupted grading resumes where it stopped.
    ``python -m helpers grade`` runs it on two CSV files.

    Parameters
    ----------
    llm : helpers.llm.CachedLLM
    questions : DataFrame
        ``question_id, question, reference_answer``
        (:func:`helpers.retrieval.read_questions`).
    answers : DataFrame
        ``question_id, answer_source, answer`` and ``label`` (the human label,
        may be empty) (:func:`helpers.retrieval.read_answer_bank` with
        ``labelled=False``).

    Returns
    -------
    DataFrame
        :data:`GRADE_COLUMNS`, sorted by question: ``label`` the human label
        ("" when none), ``judge_label`` the judge's, ``expected_score`` its
        continuous grade, ``grade`` 0-2. A question without a reference gives
        NaN with status ``no_reference``.
    """
    from .baselines import baseline_scores

    items = correctness_items(answers, questions, path=path)
    judged = judge_correctness(llm, items, variant=variant, guard=guard, cutoffs=cutoffs, progress=progress)
    base = baseline_scores(items, reference_col="reference")  # NaN where the reference is empty
    out = items[["question_id", "answer_source", "answer"]].assign(
        label=items["label"].fillna("") if "label" in items.columns else "",
        judge_label=judged["label"].to_numpy(), expected_score=judged["expected_score"].to_numpy(),
        grade=judged["score"].to_numpy(), status=judged["status"].to_numpy(), reason=judged["reason"].to_numpy(),
        **{c: base[c].to_numpy() for c in ("token_f1", "exact_match", "rouge_l")},
    )
    return out[GRADE_COLUMNS]

