"""LLM-judge prompts, reply parsing and score helpers.

The prompts are data, not code: ``helpers/prompts/judge.yaml`` (and
``generate.yaml`` for the generator) hold one versioned system/user pair per
metric and language. :func:`build_messages` fills them in, and
:func:`prompt_version` gives the string stored with every judgement
(e.g. ``"ar-cot-v1/en"``).

The judge answers in the chain-of-thought shape of the study's records::

    Criteria: <...>
    Supporting Evidence: <...>
    Score: 2

:func:`parse_judge_reply` reads the score from the *last* line that starts
with a score key (``Score:``, ``Pontuação:``, ``Nota:``, with or without
markdown), from a JSON object, from a reply that is only a number, or from a
few phrasings that state a score ("I give it 2"). When it cannot read one
number unambiguously it says so: ``score=None``, ``ok=False`` and a
``status`` naming why. It never guesses.

TruLens's old parser (``re_configured_rating``, behind its
``*_with_cot_reasons`` feedbacks) took every number on any line that mentioned
"Score" (without reasons: anywhere in the reply) and returned the smallest one
in range, a min()/first-digit heuristic. So "On a scale of 0 to 3, I give it
2" read as 0, "Score: 2/10" read as 2, and a reasoning line such as "a Score
of 3 requires ..." counted as a score line. We avoid that: only a line that
*starts* with the key counts, the last such line wins, and a number that is
out of range, not whole, or one of several is a failure, not a score.
"""

from __future__ import annotations

import copy
import json
import math
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from .errors import InputError

__all__ = [
    "DEFAULT_LABELS",
    "JUDGMENT_COLUMNS",
    "METRIC_FIELDS",
    "judge_items",
    "score_token_logprobs",
    "STATUSES",
    "JudgeReply",
    "build_messages",
    "denormalise",
    "expected_score",
    "format_segments",
    "load_prompts",
    "normalise",
    "parse_judge_reply",
    "prompt_version",
    "score_to_label",
]

#: The study's mapping from a 0-3 score to a label (C correct, P partial, I incorrect).
DEFAULT_LABELS: dict = {3: "C", 2: "P", 1: "P", 0: "I"}

#: Every value :attr:`JudgeReply.status` can take.
STATUSES = ("ok", "empty", "no_score", "out_of_range", "not_integer", "ambiguous")

_LANG_KEYS = ("system", "user")


# --------------------------------------------------------------------------
# prompts
# --------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _prompt_text(name: str) -> str:
    path = resources.files("helpers") / "prompts" / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"no prompt file {name}.yaml in helpers/prompts", field="name")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def _load(name: str) -> dict:
    where = f"helpers/prompts/{name}.yaml"
    try:
        data = yaml.safe_load(_prompt_text(name))
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", path=where) from None
    if not isinstance(data, dict) or not data:
        raise InputError("expected a mapping of prompt names at the top level", path=where)
    for metric, entry in data.items():
        if not isinstance(entry, dict):
            raise InputError("expected a mapping", path=where, field=str(metric))
        version = entry.get("version")
        if not isinstance(version, str) or not version.strip():
            raise InputError("missing or empty version string", path=where, field=f"{metric}.version")
        if not _languages(entry):
            raise InputError("no language with both 'system' and 'user'", path=where, field=str(metric))
    return data


def _languages(entry: dict) -> list:
    return [
        lang
        for lang, value in entry.items()
        if isinstance(value, dict) and all(isinstance(value.get(k), str) for k in _LANG_KEYS)
    ]


def load_prompts(name: str = "judge") -> dict:
    """Read a prompt file shipped with the package.

    Parameters
    ----------
    name : str
        The file's stem in ``helpers/prompts``: ``"judge"`` or ``"generate"``.

    Returns
    -------
    dict
        ``{prompt_name: {"version": str, "en": {"system", "user"}, "pt": {...}}}``;
        a fresh copy, so changing it changes nothing else.

    Raises
    ------
    InputError
        For an unknown name, bad YAML, or an entry without a version or
        without a language.

    Examples
    --------
    >>> load_prompts()["answer_relevance"]["version"]
    'ar-cot-v1'
    """
    return copy.deepcopy(_load(str(name)))


def _entry(metric, language, prompts):
    table = _load(prompts) if isinstance(prompts, str) else prompts
    if not isinstance(table, dict) or metric not in table:
        known = ", ".join(sorted(map(str, table))) if isinstance(table, dict) else ""
        raise InputError(f"unknown metric {metric!r} (known: {known})", field="metric")
    entry = table[metric]
    languages = _languages(entry) if isinstance(entry, dict) else []
    if language not in languages:
        raise InputError(
            f"no {language!r} prompt for {metric!r} (languages: {', '.join(languages)})",
            field="language",
        )
    return entry, entry[language]


def prompt_version(metric: str, language: str = "en", *, prompts="judge") -> str:
    """The version string stored with a judgement.

    Parameters
    ----------
    metric : str
        ``"answer_relevance"``, ``"context_relevance"`` or ``"groundedness"``
        (or ``"answer"``, the generator's, with ``prompts="generate"``).
    language : str
        ``"en"`` or ``"pt"``.
    prompts : str or dict
        A prompt file's name, or prompts already loaded.

    Examples
    --------
    >>> prompt_version("answer_relevance", "en")
    'ar-cot-v1/en'
    """
    entry, _ = _entry(metric, language, prompts)
    return f"{entry['version']}/{language}"


def format_segments(segments, *, start: int = 1) -> str:
    """Number retrieved segments for a prompt: ``"[1] ...\\n\\n[2] ..."``.

    Parameters
    ----------
    segments : iterable of str or of mappings with a ``"text"`` key
        The segments, best first.
    start : int
        The first number.

    Examples
    --------
    >>> format_segments(["a U-Net tem atalhos", "Keras Sequential"])
    '[1] a U-Net tem atalhos\\n\\n[2] Keras Sequential'
    """
    parts = []
    for i, seg in enumerate(segments, start=start):
        text = seg.get("text", "") if isinstance(seg, dict) else seg
        parts.append(f"[{i}] {str(text).strip()}")
    return "\n\n".join(parts)


def build_messages(metric: str, language: str = "en", *, prompts="judge", **fields) -> list:
    """Chat messages for one judgement (or one generation).

    The system message is fixed and comes first; the user message carries the
    variable parts, last, so a llama.cpp server can reuse the evaluated
    prefix across calls.

    Parameters
    ----------
    metric : str
        The prompt's name in the file, e.g. ``"answer_relevance"``.
    language : str
        ``"en"`` or ``"pt"``.
    prompts : str or dict
        A prompt file's name (``"judge"``, ``"generate"``) or prompts already
        loaded with :func:`load_prompts`.
    **fields
        The placeholders' values: ``question``, ``answer``, ``segment`` or
        ``context``. A list or tuple is numbered with :func:`format_segments`.
        Fields the prompt does not use are ignored.

    Returns
    -------
    list of dict
        ``[{"role": "system", "content": ...}, {"role": "user", "content": ...}]``

    Raises
    ------
    InputError
        For an unknown metric (field ``"metric"``) or language (field
        ``"language"``), or a missing field (named as the field).

    Examples
    --------
    >>> msgs = build_messages("answer_relevance", "en", question="Q?", answer="A.")
    >>> [m["role"] for m in msgs], msgs[1]["content"]
    (['system', 'user'], 'PROMPT: Q?\\nRESPONSE: A.')
    """
    _, texts = _entry(metric, language, prompts)
    values = {}
    for part in _LANG_KEYS:
        for _, name, _, _ in string.Formatter().parse(texts[part]):
            if name is None or name in values:
                continue
            value = fields.get(name)
            if value is None:
                raise InputError(f"the {metric!r} prompt needs {name!r}", field=name)
            values[name] = format_segments(value) if isinstance(value, (list, tuple)) else str(value)
    return [
        {"role": "system", "content": texts["system"].format_map(values)},
        {"role": "user", "content": texts["user"].format_map(values)},
    ]


# --------------------------------------------------------------------------
# parsing the judge's reply
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeReply:
    """What :func:`parse_judge_reply` read from one reply.

    Attributes
    ----------
    score : int or None
        The score, or None when none could be read.
    ok : bool
        True exactly when ``status == "ok"``.
    reason : str
        The reasoning before the final score line (``"Criteria: ...
        Supporting Evidence: ..."``), the JSON's reason, or the whole reply
        when it has neither a score line nor JSON.
    status : str
        One of :data:`STATUSES`.
    raw : str
        The reply as received.

    Examples
    --------
    >>> JudgeReply(2, True, "Criteria: x", "ok", "Criteria: x\\nScore: 2").score
    2
    """

    score: int | None
    ok: bool
    reason: str
    status: str
    raw: str


_MD = r"[*_`]{0,3}"
_KEY = (
    r"(?:(?:final|overall)\s+)?(?:score|rating)"
    r"|(?:pontua[çc][ãa]o|nota)(?:\s+final)?"
)
_NUM = r"[-+]?\d+(?:[.,]\d+)?(?![.,]?\d)"

# A line that starts with a score key, after optional quote/bullet/heading/markdown.
_KEY_LINE = re.compile(
    rf"^[ \t]*(?:>[ \t]*)*(?:[-+•][ \t]+|\*[ \t]+|\d+[.)][ \t]+)?(?:\#{{1,6}}[ \t]*)?"
    rf"{_MD}[ \t]*[\"']?(?P<key>{_KEY})[\"']?{_MD}[ \t]*[:=][ \t]*(?P<value>[^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)
# A key at the very end of the reply, after a sentence ("... comprehensively.  Score: 1"),
# as in the study's records, where the reply's line breaks were lost.
_KEY_TAIL = re.compile(
    rf"(?:[.!?;)\]\"'*`]|\s{{2}})[ \t]*(?P<lead>{_MD})[ \t]*(?P<key>{_KEY}){_MD}[ \t]*[:=]"
    rf"(?P<value>[^\n]*)\s*\Z",
    re.IGNORECASE,
)
_VALUE = re.compile(
    rf"^(?P<num>{_NUM})"
    rf"(?:\s*\(?\s*(?:/|out\s+of|of|de|em)\s*(?P<den>{_NUM})\s*\)?)?"
    rf"(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_REST_OK = re.compile(r"^(?:$|[.,;:!)(\-–—]|points?\b|pontos?\b)", re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.IGNORECASE | re.DOTALL)
_BARE = re.compile(r"^[*_`\[<(\"'\s]*[-+]?\d[^\n]{0,40}$")
_LIST_ITEM = re.compile(r"^\s*\d+[.)]\s+\S")

_JSON_SCORE_KEYS = ("score", "rating", "nota", "pontuação", "pontuacao", "final_score", "overall_score")
_JSON_REASON_KEYS = (
    "reason", "reasoning", "reasons", "rationale", "explanation", "justification",
    "razão", "razao", "justificativa", "raciocínio", "raciocinio", "explicação", "explicacao",
)

# First-person statements of a score, for replies without a score line.
_PROSE = re.compile(
    rf"""\b(?:
        I(?:\s+would|\s+will|'d|’d)?\s+(?:give|rate|assign|score|grade)
      | (?:my|the)\s+(?:final\s+)?(?:score|rating|grade)\s+(?:is|would\s+be|will\s+be)
      | (?:eu\s+)?(?:dou|daria|atribuo|atribuiria)
      | (?:minha|a)\s+nota(?:\s+final)?\s+(?:é|seria)
    )
    (?:\s+(?:it|this|this\s+response|the\s+response|the\s+answer|as|a|an|
             a\s+score\s+of|a\s+rating\s+of|a\s+grade\s+of|score\s+of|score|rating|
             à\s+resposta|a\s+resposta|uma\s+nota\s+de|uma\s+nota|a\s+nota|nota\s+de|nota|como)){{0,4}}
    \s*[:=]?\s*[*_`"'\[]*\s*
    (?>(?P<num>{_NUM})(?:\s*(?:/|out\s+of|de|em)\s*(?P<den>{_NUM}))?)
    (?!\s*(?:only\s+)?(?:if|when|unless|se|quando|caso)\b)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def _check_number(num, den, min_score, max_score):
    """(status, score) for a number read from a reply."""
    value = float(num.replace(",", "."))
    if den is not None and float(den.replace(",", ".")) != max_score:
        return "out_of_range", None
    if not value.is_integer():
        return "not_integer", None
    value = int(value)
    if not min_score <= value <= max_score:
        return "out_of_range", None
    return "ok", value


def _read_value(text, min_score, max_score, *, strict=False):
    """(status, score) for the text after a score key."""
    value = re.sub(r"[*_`\[\]<>\"']", "", text).strip()
    m = _VALUE.match(value)
    if not m:
        return "no_score", None
    rest = m["rest"].strip()
    if re.search(r"\d", rest):
        return "ambiguous", None  # "2 or 3", "2-3"
    if strict and not re.fullmatch(r"[.!]?", rest):
        return "no_score", None
    if not _REST_OK.match(rest):
        return "no_score", None  # "3 requires the RESPONSE to ..."
    return _check_number(m["num"], m["den"], min_score, max_score)


def _reply(status, score, reason, raw):
    return JudgeReply(score if status == "ok" else None, status == "ok", reason, status, raw)


def _from_json(body, min_score, max_score):
    m = _FENCE.search(body)
    if m:
        blob = m.group(1)
    else:
        start, end = body.find("{"), body.rfind("}")
        if start == -1 or end <= start:
            return None
        blob = body[start : end + 1]
    try:
        obj = json.loads(blob)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    lower = {str(k).strip().lower(): v for k, v in obj.items()}
    found = [lower[k] for k in _JSON_SCORE_KEYS if k in lower]
    if not found:
        return None
    reason = next((str(lower[k]).strip() for k in _JSON_REASON_KEYS if k in lower), "")
    if not reason and ("criteria" in lower or "supporting_evidence" in lower):
        reason = (
            f"Criteria: {str(lower.get('criteria', '')).strip()}\n"
            f"Supporting Evidence: {str(lower.get('supporting_evidence', '')).strip()}"
        )
    results = set()
    for value in found:
        if isinstance(value, bool) or value is None:
            results.add(("no_score", None))
        elif isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                results.add(("no_score", None))
            else:
                results.add(_check_number(repr(value), None, min_score, max_score))
        elif isinstance(value, str):
            results.add(_read_value(value, min_score, max_score))
        else:
            results.add(("no_score", None))
    status, score = results.pop() if len(results) == 1 else ("ambiguous", None)
    return status, score, reason


def _from_key_lines(body, min_score, max_score):
    """(status, score, reason) from the last score key, or None when there is none."""
    best = None  # (key position, value text, cut position, strict)
    for m in _KEY_LINE.finditer(body):
        value = m["value"]
        if not re.sub(r"[*_`\s]", "", value):  # "Score:" with the number on the next line
            nxt = re.match(r"\s*\n\s*([^\n]*)", body[m.end() :])
            value = nxt.group(1) if nxt else ""
        if m["key"].lower().startswith("nota") and not re.match(r"[*_`\[\s\"']*[-+]?\d", value):
            continue  # Portuguese "Nota:" is also "Note:"
        best = (m.start("key"), value, m.start(), False)
    tail = _KEY_TAIL.search(body)
    if tail and (best is None or tail.start("key") > best[0]):
        best = (tail.start("key"), tail["value"], tail.start("lead"), True)
    if best is None:
        return None
    _, value, cut, strict = best
    status, score = _read_value(value, min_score, max_score, strict=strict)
    return status, score, body[:cut].strip()


def _from_prose(body, min_score, max_score):
    scale = rf"\b{min_score}\s*(?:-|–|to|a|até|and|e)\s*{max_score}\b"
    text = re.sub(scale, " ", body, flags=re.IGNORECASE)
    results = {_check_number(m["num"], m["den"], min_score, max_score) for m in _PROSE.finditer(text)}
    if not results:
        return None
    return results.pop() if len(results) == 1 else ("ambiguous", None)


def parse_judge_reply(text, *, min_score: int = 0, max_score: int = 3) -> JudgeReply:
    """Read the score and the reasoning from a judge's reply.

    In order, the first that applies:

    1. a JSON object with a ``score`` key (also ``rating``, ``nota``,
       ``pontuação``; any case; bare or in a fenced block);
    2. the *last* score key that starts a line (``Score:``, ``**Score:**``,
       ``### Score:``, ``- Score:``, ``Score =``, ``Pontuação:``,
       ``Nota:``), or that ends the reply after a sentence;
    3. a reply whose first line is only a number (``"2"``, ``"2/3"``);
    4. a stated score in prose (``"I give it 2"``, ``"my score is 2"``,
       ``"the rating is 1 out of 3"``, ``"dou nota 2"``), after removing the
       scale (``"0 to 3"``), when all such statements agree. "A score of 3
       requires ..." and "I give 3 only if ..." are not statements of a score.

    The value may be ``2``, ``2.0``, ``**2**``, ``[2]``, ``2/3`` or ``2 out of
    3`` (the denominator must be ``max_score``), followed by punctuation or a
    parenthesis. Anything else fails rather than being guessed at.

    Parameters
    ----------
    text : str
        The reply. ``<think>...</think>`` blocks are ignored.
    min_score, max_score : int
        The scale.

    Returns
    -------
    JudgeReply
        ``score`` is None and ``ok`` False unless ``status == "ok"``;
        ``status`` is ``"empty"``, ``"no_score"`` (nothing readable, e.g. a
        reply cut off before its score), ``"out_of_range"`` (``Score: 4``,
        ``Score: 2/10``), ``"not_integer"`` (``Score: 2.5``) or
        ``"ambiguous"`` (``Score: 2 or 3``).

    Examples
    --------
    >>> r = parse_judge_reply("Criteria: whole prompt.\\nSupporting Evidence: partial.\\nScore: 1")
    >>> r.score, r.ok, r.reason
    (1, True, 'Criteria: whole prompt.\\nSupporting Evidence: partial.')
    >>> parse_judge_reply("Score: 2 or 3").status
    'ambiguous'
    """
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputError(f"expected the reply as a string, got {type(text).__name__}", field="text")
    body = _THINK.sub("", text).strip()
    if not body:
        return _reply("empty", None, "", text)

    found = _from_json(body, min_score, max_score)
    if found is not None:
        return _reply(*found, text)

    found = _from_key_lines(body, min_score, max_score)
    if found is not None:
        return _reply(*found, text)

    first, _, rest = body.partition("\n")
    if _BARE.match(first) and not _LIST_ITEM.match(first):  # "1. The response ..." is a list
        status, score = _read_value(first, min_score, max_score)
        if status != "no_score":
            return _reply(status, score, rest.strip(), text)

    found = _from_prose(body, min_score, max_score)
    if found is not None:
        return _reply(*found, body, text)
    return _reply("no_score", None, body, text)


# --------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def normalise(score, max_score: int = 3) -> float:
    """A 0..max_score score as a fraction: ``score / max_score``.

    Parameters
    ----------
    score : int, float or None
        The judge's score; None or NaN stands for no score.
    max_score : int
        The top of the scale.

    Returns
    -------
    float
        In [0, 1]; NaN for a missing score.

    Examples
    --------
    >>> round(normalise(1), 2), normalise(3), normalise(None)
    (0.33, 1.0, nan)
    """
    if _is_missing(score):
        return float("nan")
    if isinstance(score, bool):
        raise InputError(f"score {score!r} is not a number", field="score")
    return float(score) / max_score


def denormalise(value, max_score: int = 3, *, tol: float = 0.01):
    """The integer score behind a normalised one (``0.33`` -> ``1``).

    Parameters
    ----------
    value : float or None
        A fraction as printed in the study's records (two decimals).
    max_score : int
        The top of the scale.
    tol : float
        How far ``value`` may be from ``k / max_score``.

    Returns
    -------
    int or None
        None for None or NaN.

    Raises
    ------
    InputError
        When ``value`` is not within ``tol`` of a step of the scale.

    Examples
    --------
    >>> denormalise(0.33), denormalise(1.0), denormalise(0.67)
    (1, 3, 2)
    """
    if _is_missing(value):
        return None
    step = round(float(value) * max_score)
    if not 0 <= step <= max_score or abs(float(value) - step / max_score) > tol:
        raise InputError(f"{value!r} is not k/{max_score} for a whole k", field="score")
    return int(step)


def score_to_label(score, mapping=None):
    """The label for a score, by default the study's 3 -> C, 2/1 -> P, 0 -> I.

    Parameters
    ----------
    score : int, float or None
        A whole score (``2`` or ``2.0``); None or NaN gives None.
    mapping : dict, optional
        Score -> label; keys may be strings of integers (as in YAML).

    Returns
    -------
    str or None

    Raises
    ------
    InputError
        For a score that is not whole or not in the mapping.

    Examples
    --------
    >>> score_to_label(1), score_to_label(3.0), score_to_label(None)
    ('P', 'C', None)
    """
    if _is_missing(score):
        return None
    table = {int(k): str(v) for k, v in (DEFAULT_LABELS if mapping is None else mapping).items()}
    if isinstance(score, bool) or not float(score).is_integer():
        raise InputError(f"score {score!r} is not a whole number", field="score")
    key = int(score)
    if key not in table:
        raise InputError(f"score {key} has no label (mapping: {table})", field="score")
    return table[key]


def _digit(token):
    token = str(token).strip()
    return int(token) if token.isdigit() else None


def expected_score(digit_probs, *, logprobs=None, min_score: int = 0, max_score: int = 3) -> float:
    """G-Eval style score: the expectation of the score under the judge's
    probabilities for the score tokens, renormalised over ``min..max``.

    Parameters
    ----------
    digit_probs : mapping, sequence or array
        One of: a mapping ``{0: p0, ..., 3: p3}`` (keys may be token strings
        such as ``" 2"``; other tokens are ignored, repeated digits add up); a
        sequence of ``max_score - min_score + 1`` numbers, one per score; or
        OpenAI-style ``top_logprobs``, a sequence of ``{"token", "logprob"}``.
    logprobs : bool, optional
        Whether the values are log-probabilities. By default they are when
        any is negative (or for ``top_logprobs``); pass True for a lone
        ``{"2": 0.0}``.
    min_score, max_score : int
        The scale.

    Returns
    -------
    float
        The expected score; NaN when no score token has any probability.

    Raises
    ------
    InputError
        For a negative or NaN probability, or a sequence of the wrong length.

    Examples
    --------
    >>> expected_score({2: 0.5, 3: 0.5})
    2.5
    >>> expected_score([0.0, 0.0, 0.2, 0.2])
    2.5
    """
    pairs = []  # (score, value)
    if hasattr(digit_probs, "items"):
        pairs = [(_digit(k), v) for k, v in digit_probs.items()]
    else:
        items = list(digit_probs)
        if items and all(isinstance(x, dict) for x in items):
            pairs = [(_digit(x.get("token")), x.get("logprob")) for x in items]
            logprobs = True if logprobs is None else logprobs
        elif items and all(isinstance(x, (tuple, list)) and len(x) == 2 for x in items):
            pairs = [(_digit(k), v) for k, v in items]
        else:
            if len(items) != max_score - min_score + 1:
                raise InputError(
                    f"expected {max_score - min_score + 1} probabilities, got {len(items)}",
                    field="digit_probs",
                )
            pairs = [(min_score + i, v) for i, v in enumerate(items)]
    values = []
    for score, value in pairs:
        if score is None or not min_score <= score <= max_score:
            continue
        value = float(value)
        if math.isnan(value):
            raise InputError(f"probability for {score} is NaN", field="digit_probs")
        values.append((score, value))
    if logprobs is None:
        logprobs = any(v < 0 for _, v in values)
    if logprobs:
        values = [(s, math.exp(v)) for s, v in values]
    elif any(v < 0 for _, v in values):
        raise InputError("negative probability", field="digit_probs")
    total = sum(v for _, v in values)
    if total <= 0:
        return float("nan")
    return sum(s * v for s, v in values) / total


# --------------------------------------------------------------------------
# running the judge over a table of items
# --------------------------------------------------------------------------

#: Columns of ``judgments.parquet``: one row per item, metric and repetition.
JUDGMENT_COLUMNS = [
    "question_id", "answer_source", "metric", "repetition", "segment_id", "rank", "score", "score_norm",
    "expected_score", "label", "status", "attempts", "reason", "raw", "prompt_version", "judge_model",
    "prompt_tokens", "completion_tokens", "latency_s", "cache_hit",
]

#: What each metric's prompt needs from an item.
METRIC_FIELDS = {
    "answer_relevance": ("question", "answer"),
    "answer_relevance_direct": ("question", "answer"),
    "context_relevance": ("question", "segment"),
    "context_relevance_direct": ("question", "segment"),
    "groundedness": ("context", "answer"),
    "groundedness_direct": ("context", "answer"),
}

_RETRY = {
    "en": "Your reply did not end with a line 'Score: N' with N a whole number from 0 to 3. Reply again, in exactly the format asked for.",
    "pt": "Sua resposta não terminou com uma linha 'Score: N', com N inteiro de 0 a 3. Responda de novo, exatamente no formato pedido.",
}


def score_token_logprobs(logprobs) -> dict | None:
    """The judge's log-probabilities for the score token after the final ``Score:`` key.

    Parameters
    ----------
    logprobs : list of dict
        Per generated token ``{"token", "logprob", "top"}`` (see
        :class:`helpers.llm.Completion`).

    Returns
    -------
    dict or None
        ``{token: logprob}`` of the alternatives at the score position, or
        None when the reply has no score key followed by a digit.

    Examples
    --------
    >>> lp = [{"token": "Score", "logprob": 0.0, "top": {}}, {"token": ":", "logprob": 0.0, "top": {}},
    ...       {"token": " 2", "logprob": -0.1, "top": {" 2": -0.1, " 3": -2.4}}]
    >>> score_token_logprobs(lp)
    {' 2': -0.1, ' 3': -2.4}
    """
    if not logprobs:
        return None
    text, starts = "", []
    for tok in logprobs:
        starts.append(len(text))
        text += tok["token"]
    keys = list(re.finditer(r"(?im)(?:score|pontua[çc][ãa]o|nota)\W{0,4}[:=]", text))
    if not keys:
        return None
    after = keys[-1].end()
    for i, tok in enumerate(logprobs):
        if starts[i] + len(tok["token"]) <= after:
            continue
        if tok["token"].strip().isdigit():
            return dict(tok["top"]) or {tok["token"]: tok["logprob"]}
        if tok["token"].strip(" *[_"):
            return None  # something other than the score came first
    return None


def judge_items(llm, items, metric: str, *, language: str = "en", repetitions: int = 1, max_tokens: int = 200,
                temperature: float = 0.0, seed: int = 0, max_retries: int = 1, top_logprobs: int = 10,
                label_map=None, progress: bool = True):
    """Score every item with one judge metric.

    Parameters
    ----------
    llm : helpers.llm.CachedLLM
        The judge behind the cache (a re-run costs nothing; a killed run
        resumes where it stopped).
    items : pandas.DataFrame
        ``question_id``, ``answer_source`` and the fields the metric needs
        (:data:`METRIC_FIELDS`); ``segment_id`` and ``rank`` for context
        relevance.
    metric : str
        ``"answer_relevance"``, ``"context_relevance"`` (with reasons),
        ``"context_relevance_direct"`` (one digit, one forward pass) or
        ``"groundedness"``.
    repetitions : int
        Judge each item this many times (seeds ``seed .. seed+repetitions-1``);
        at temperature 0 the repetitions differ only by numerical noise.
    max_retries : int
        Re-ask this many times when a reply has no readable score (the
        follow-up message quotes the format); then the score is stored as
        missing (NaN) with the reply's status. Never a guess.
    top_logprobs : int
        Alternatives kept per token where the backend gives log-probabilities;
        they give ``expected_score`` (G-Eval style). 0 turns them off.
    label_map : dict, optional
        Score to label (default :data:`DEFAULT_LABELS`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`JUDGMENT_COLUMNS`; ``metric`` is reported without the
        ``_direct`` suffix (the prompt version tells the two apart).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if metric not in METRIC_FIELDS:
        raise InputError(f"unknown judge metric {metric!r} (known: {', '.join(METRIC_FIELDS)})", field="metrics")
    version = prompt_version(metric, language)
    direct = metric.endswith("_direct")
    label_map = label_map or DEFAULT_LABELS
    rows = []
    total = len(items) * repetitions
    bar = tqdm(total=total, desc=metric.replace("_direct", ""), disable=not progress)
    for item in items.to_dict("records"):
        fields = {f: item.get(f) for f in METRIC_FIELDS[metric]}
        base = build_messages(metric, language, **fields)
        for rep in range(repetitions):
            messages, attempts, reply, out = list(base), 0, None, None
            prompt_tokens = completion_tokens = 0
            latency, hit = 0.0, True
            while True:
                attempts += 1
                out = llm.chat(messages, prompt_version=version, max_tokens=1 if direct else max_tokens,
                               temperature=temperature, seed=seed + rep, top_logprobs=top_logprobs)
                prompt_tokens += out.prompt_tokens
                completion_tokens += out.completion_tokens
                latency += out.latency_s
                hit = hit and out.cached
                reply = parse_judge_reply(out.text)
                if reply.ok or direct or attempts > max_retries:
                    break
                messages = messages + [{"role": "assistant", "content": out.text}, {"role": "user", "content": _RETRY[language]}]
            if direct:
                top = out.logprobs[0]["top"] if out.logprobs else None
            else:
                top = score_token_logprobs(out.logprobs)
            expected = expected_score(top, logprobs=True) if top else float("nan")
            score = reply.score if reply.ok else None
            rows.append({
                "question_id": item["question_id"], "answer_source": item.get("answer_source", ""),
                "metric": metric.replace("_direct", ""), "repetition": rep,
                "segment_id": item.get("segment_id", "") or "", "rank": int(item.get("rank", 0) or 0),
                "score": float("nan") if score is None else float(score), "score_norm": normalise(score),
                "expected_score": expected, "label": score_to_label(score, label_map) if score is not None else None,
                "status": reply.status, "attempts": attempts, "reason": reply.reason, "raw": out.text,
                "prompt_version": version, "judge_model": llm.fingerprint, "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens, "latency_s": latency, "cache_hit": hit,
            })
            bar.update(1)
            bar.set_postfix(failed=sum(r["status"] != "ok" for r in rows), cached=sum(r["cache_hit"] for r in rows))
    bar.close()
    return pd.DataFrame(rows, columns=JUDGMENT_COLUMNS)
