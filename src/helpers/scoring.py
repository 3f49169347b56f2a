"""Reading a judge's reply, and the arithmetic of scores.

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

Around the parser, the score arithmetic every judge shares: :func:`normalise`
(``s / max``, the study's 0.33 and 1.00), :func:`denormalise`,
:func:`score_to_label`, :func:`expected_score` (G-Eval's probability-weighted
score), :func:`score_token_logprobs` (the score token's alternatives in a
reply), :func:`nearest_score` and :func:`is_missing`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import pandas as pd

from .errors import InputError
from .labels import SCORE_LABELS

__all__ = [
    "DEFAULT_LABELS",
    "STATUSES",
    "JudgeReply",
    "denormalise",
    "expected_score",
    "is_missing",
    "nearest_score",
    "normalise",
    "parse_judge_reply",
    "score_to_label",
    "score_token_logprobs",
]

#: The study's mapping from a 0-3 score to a label (C correct, P partial, I incorrect).
DEFAULT_LABELS: dict = dict(SCORE_LABELS)

#: Every value :attr:`JudgeReply.status` can take.
STATUSES = ("ok", "empty", "no_score", "out_of_range", "not_integer", "ambiguous")

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


def is_missing(value) -> bool:
    """Whether a single value stands for "no value": None, NaN (any float type), ``pd.NA`` or ``NaT``.

    An array or any other object is not missing.

    Examples
    --------
    >>> is_missing(None), is_missing(float("nan")), is_missing(0), is_missing("")
    (True, True, False, False)
    """
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-like: not a missing scalar
        return False


def nearest_score(value, *, min_score: int = 0, max_score: int = 2):
    """The whole score nearest a continuous one (halves round up), clipped to the scale.

    ``floor(value + 0.5)`` limited to ``min_score..max_score``; None for a
    missing value. Turns an expected grade (:func:`expected_score`) into a
    grade.

    Examples
    --------
    >>> nearest_score(1.5), nearest_score(1.49), nearest_score(2.7), nearest_score(float("nan"))
    (2, 1, 2, None)
    """
    if is_missing(value):
        return None
    return int(min(max_score, max(min_score, math.floor(value + 0.5))))


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
    if is_missing(score):
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
    if is_missing(value):
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
    if is_missing(score):
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
