"""The context the generator reads: evidence picked inside the retrieved segments.

A retrieved segment is 2.5 minutes of speech, about 550 tokens, and a small
CPU model reads about 45 prompt tokens a second: three whole segments cost
half a minute per answer, and cutting each one to an equal share cuts the
evidence away as often as not. :func:`select_evidence` instead splits the
top segments into their subtitle cues (*pieces*), scores every piece against
the question, keeps the best ones (each with its neighbours, so a sentence
is not cut in half) up to the token budget, and gives them back in
transcript order with their timestamps::

    [1] aula01_cnn_unet 00:00:40-00:01:17: Pensem numa imagem colorida de 224 por 224 pixels. ...
    [2] aula01_cnn_unet 00:02:05-00:02:21: ...

Scores (``scorer``):

``"e5"``
    cosine between the E5 ``query:`` vector of the question and the
    ``passage:`` vector of the piece with its neighbours;
``"lexical"``
    share of the question's content words (5-letter stems) in the piece,
    weighted by inverse piece frequency;
``"hybrid"``
    the mean of the two scores' ranks.

:func:`evidence_recall` says whether the gold span of a question made it into
the context, so the budget can be chosen from numbers.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata

import numpy as np
import pandas as pd

from .errors import InputError
from .files import clock  # re-exported: generation formats its headers with it

__all__ = ["segment_pieces", "select_evidence", "render_context", "gold_cues", "evidence_recall", "SCORERS"]

SCORERS = ("e5", "lexical", "hybrid")

# Portuguese and English function words that say nothing about a question's topic.
STOPWORDS = frozenset(
    """a o as os um uma uns umas de da do das dos em na no nas nos por para pra com sem que qual quais
    quando como onde porque por que é e ou se ser são foi era tem ter há isso isto esse essa este esta
    ele ela eles elas eu você vocês a gente me te lhe nos mais menos muito muita já não sim também
    ao aos à às pelo pela pelos pelas entre sobre até depois antes então tá né aí lá aqui vai vou
    faz fazer fica ficar dá dar the of and to in is are what why how which does do an for on with""".split()
)

_GAP_S = 2.0  # cues further apart than this are not one stretch of speech (two segments that do not overlap)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (NFC), e.g. ``words("Por que, U-Net?") == ['por', 'que', 'u', 'net']``."""
    return re.findall(r"\w+", unicodedata.normalize("NFC", str(text).lower()))


def content_stems(text: str) -> set[str]:
    """5-letter stems of the content words of ``text`` (function words and words of <= 2 letters dropped)."""
    return {w[:5] for w in words(text) if w not in STOPWORDS and len(w) > 2}


def _split_long(start: float, end: float, text: str, max_words: int) -> list[tuple[float, float, str]]:
    """A cue of more than ``max_words`` words cut at sentence ends, times shared by length."""
    n = len(text.split())
    if n <= max_words:
        return [(start, end, text)]
    parts, cur = [], []
    for sent in _SENTENCE.split(text):
        if cur and len(" ".join(cur + [sent]).split()) > max_words:
            parts.append(" ".join(cur))
            cur = []
        cur.append(sent)
    if cur:
        parts.append(" ".join(cur))
    # a sentence that is itself too long is cut every max_words words
    pieces = []
    for p in parts:
        w = p.split()
        pieces += [" ".join(w[i : i + max_words]) for i in range(0, len(w), max_words)]
    total = sum(len(p) for p in pieces) or 1
    out, t = [], start
    for p in pieces:
        dt = (end - start) * len(p) / total
        out.append((t, t + dt, p))
        t += dt
    return out


def segment_pieces(retrieved: pd.DataFrame, *, n_segments: int = 5, max_words: int = 40) -> pd.DataFrame:
    """The cues of a question's top ``n_segments`` segments, each once, in transcript order.

    Parameters
    ----------
    retrieved : pandas.DataFrame
        One question's retrievals joined with segments: ``rank, segment_id,
        lecture_id, start_s, end_s, text`` and, from 01, the cue lists
        ``cue_start_s, cue_end_s, cue_text``. A segment without cue lists
        (a study record) counts as one cue.
    n_segments : int
        How many top-ranked segments to draw pieces from.
    max_words : int
        A cue longer than this is cut at sentence ends (times shared by length).

    Returns
    -------
    pandas.DataFrame
        ``lecture_id, start_s, end_s, text, rank, segment_id`` (the
        best-ranked segment holding the piece), sorted by lecture and time; segments
        overlap, so a cue in two of them appears once.

    Examples
    --------
    >>> ret = pd.DataFrame({"rank": [1], "segment_id": ["L-000"], "lecture_id": ["L"], "start_s": [0.0],
    ...                     "end_s": [9.0], "text": ["a b. c d"], "cue_start_s": [[0.0, 5.0]],
    ...                     "cue_end_s": [[5.0, 9.0]], "cue_text": [["a b.", "c d"]]})
    >>> segment_pieces(ret)[["start_s", "end_s", "text"]].values.tolist()
    [[0.0, 5.0, 'a b.'], [5.0, 9.0, 'c d']]
    """
    if n_segments < 1:
        raise InputError(f"must be >= 1, got {n_segments}", field="context_segments")
    top = retrieved.sort_values("rank").head(n_segments)
    seen: dict[tuple, dict] = {}
    for row in top.itertuples():
        starts = getattr(row, "cue_start_s", None)
        if starts is None or (isinstance(starts, float) and math.isnan(starts)) or len(starts) == 0:
            cues = [(row.start_s, row.end_s, row.text)]
        else:
            cues = list(zip(row.cue_start_s, row.cue_end_s, row.cue_text))
        for start, end, text in cues:
            for s, e, t in _split_long(float(start), float(end), str(text), max_words):
                key = (row.lecture_id, round(s, 3), t)
                if key not in seen:
                    seen[key] = {"lecture_id": row.lecture_id, "start_s": s, "end_s": e, "text": t, "rank": int(row.rank),
                                 "segment_id": row.segment_id}
    pieces = pd.DataFrame(list(seen.values()), columns=["lecture_id", "start_s", "end_s", "text", "rank", "segment_id"])
    return pieces.sort_values(["lecture_id", "start_s"], kind="stable").reset_index(drop=True)


def _windows(pieces: pd.DataFrame, neighbours: int) -> list[list[int]]:
    """For each piece, the positions of itself and its ``neighbours`` on each side in the same lecture."""
    lect = pieces["lecture_id"].tolist()
    out = []
    for i in range(len(pieces)):
        lo, hi = i, i
        while lo > 0 and i - lo < neighbours and lect[lo - 1] == lect[i]:
            lo -= 1
        while hi < len(pieces) - 1 and hi - i < neighbours and lect[hi + 1] == lect[i]:
            hi += 1
        out.append(list(range(lo, hi + 1)))
    return out


def _lexical_scores(question: str, texts: list[str]) -> np.ndarray:
    q = content_stems(question)
    if not q or not texts:
        return np.zeros(len(texts))
    stems = [content_stems(t) for t in texts]
    df = {s: sum(s in st for st in stems) for s in q}
    idf = {s: math.log((1 + len(texts)) / (1 + df[s])) + 1 for s in q}
    norm = sum(idf.values())
    return np.array([sum(idf[s] for s in q if s in st) / norm for st in stems])


def _ranks(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(method="average").to_numpy() / max(1, len(x))


def render_context(selected: pd.DataFrame) -> str:
    """Numbered blocks ``[k] lecture HH:MM:SS-HH:MM:SS: text``, one per run of consecutive pieces.

    ``selected`` has ``lecture_id, start_s, end_s, text`` and ``block`` (pieces
    of one block share it), in transcript order.
    """
    lines = []
    for k, (_, block) in enumerate(selected.groupby("block", sort=True), start=1):
        lines.append(f"[{k}] {block['lecture_id'].iloc[0]} {clock(block['start_s'].min())}-{clock(block['end_s'].max())}: "
                     + " ".join(block["text"]))
    return "\n".join(lines)


def select_evidence(question: str, pieces: pd.DataFrame, *, budget_tokens: int = 240, scorer: str = "lexical", neighbours: int = 2,
                    embed=None, count_tokens=None) -> pd.DataFrame:
    """The pieces most similar to ``question``, with neighbours, up to ``budget_tokens``.

    Every piece gets a score against the question (see the module docstring);
    pieces are taken best first, each with ``neighbours`` pieces on each side,
    while the rendered context (:func:`render_context`, headers included)
    stays within the budget; a window that does not fit is skipped and the
    next tried. The result is in transcript order, consecutive pieces sharing
    a ``block`` number.

    Parameters
    ----------
    question : str
    pieces : pandas.DataFrame
        From :func:`segment_pieces`.
    budget_tokens : int
        Tokens of the whole context block.
    scorer : {"e5", "lexical", "hybrid"}
    neighbours : int
        Pieces kept on each side of a chosen piece.
    embed : callable, optional
        ``embed(texts, kind) -> unit vectors`` with ``kind`` ``"query"`` or
        ``"passage"``; needed by ``"e5"`` and ``"hybrid"``.
    count_tokens : callable, optional
        ``count_tokens(text) -> int``; default about 3.5 characters per token.

    Returns
    -------
    pandas.DataFrame
        The chosen rows of ``pieces`` plus ``score`` and ``block``.

    Raises
    ------
    InputError
        An unknown scorer (field ``context_selection``), no pieces (no
        retrieved segments), or a budget too small for one piece with its
        header (field ``context_budget_tokens``).

    Examples
    --------
    >>> pieces = pd.DataFrame({"lecture_id": ["L"] * 3, "start_s": [0.0, 5.0, 9.0], "end_s": [5.0, 9.0, 12.0],
    ...                        "text": ["bom dia", "o dropout desliga neurônios", "até logo"], "rank": [1, 1, 1]})
    >>> select_evidence("o que faz o dropout?", pieces, budget_tokens=16, scorer="lexical", neighbours=0)["text"].tolist()
    ['o dropout desliga neurônios']
    """
    if scorer not in SCORERS:
        raise InputError(f"unknown scorer {scorer!r}; use one of {', '.join(SCORERS)}", field="context_selection")
    if pieces.empty:
        raise InputError("no retrieved segments to build a context from", field="retrievals")
    count = count_tokens or (lambda t: max(1, round(len(t) / 3.5)))
    wins = _windows(pieces, neighbours)
    win_texts = [" ".join(pieces["text"].iloc[w]) for w in wins]
    if scorer == "lexical":
        score = _lexical_scores(question, win_texts)
    else:
        if embed is None:
            raise InputError(f"scorer {scorer!r} needs an embedder", field="context_selection")
        qv = np.asarray(embed([question], "query"))[0]
        score = np.asarray(embed(win_texts, "passage")) @ qv
        if scorer == "hybrid":
            score = (_ranks(score) + _ranks(_lexical_scores(question, win_texts))) / 2
    order = np.lexsort((pieces["rank"].to_numpy(), -score))  # best score first, better-ranked segment on ties
    lect, starts, ends, texts = (pieces[c].tolist() for c in ("lecture_id", "start_s", "end_s", "text"))

    def tokens(positions):  # what render_context would give, without pandas: this runs once per candidate
        lines, run = [], []
        for p in positions:
            if run and (p != run[-1] + 1 or lect[p] != lect[run[-1]] or starts[p] - ends[run[-1]] > _GAP_S):
                lines.append(run)
                run = []
            run.append(p)
        lines.append(run)
        return count("\n".join(f"[{k}] {lect[r[0]]} {clock(starts[r[0]])}-{clock(max(ends[i] for i in r))}: "
                                + " ".join(texts[i] for i in r) for k, r in enumerate(lines, start=1)))

    chosen: set[int] = set()
    for i in order:
        trial = sorted(chosen | set(wins[i]))
        if len(trial) == len(chosen):
            continue
        if tokens(trial) <= budget_tokens:
            chosen = set(trial)
    if not chosen:
        smallest = min(tokens([i]) for i in range(len(pieces)))
        raise InputError(f"budget of {budget_tokens} tokens is too small for one piece of context (the shortest needs {smallest})",
                         field="context_budget_tokens")
    out = _blocks(pieces, sorted(chosen))
    out["score"] = score[sorted(chosen)]
    return out


def _blocks(pieces: pd.DataFrame, positions: list[int]) -> pd.DataFrame:
    sel = pieces.iloc[positions].copy()
    pos = np.asarray(positions)
    lect = sel["lecture_id"].to_numpy()
    new = np.ones(len(pos), dtype=bool)
    gap = sel["start_s"].to_numpy(float)[1:] - sel["end_s"].to_numpy(float)[:-1]
    new[1:] = (np.diff(pos) != 1) | (lect[1:] != lect[:-1]) | (gap > _GAP_S)
    sel["block"] = np.cumsum(new)
    return sel


def _spans(value) -> list[tuple[str, float, float]]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else []
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [(str(s[0]), float(s[1]), float(s[2])) for s in value]


def gold_cues(segments: pd.DataFrame, lecture_id: str, start_s: float, end_s: float) -> list[str]:
    """Texts of the cues of ``lecture_id`` whose middle lies in ``[start_s, end_s]`` (from 01's cue lists)."""
    seen = {}
    for row in segments[segments["lecture_id"] == lecture_id].itertuples():
        for s, e, t in zip(row.cue_start_s, row.cue_end_s, row.cue_text):
            if start_s <= (s + e) / 2 <= end_s and str(t).strip():
                seen[(round(float(s), 3), t)] = str(t)
    return [seen[k] for k in sorted(seen)]


def evidence_recall(context: str, gold_spans, segments: pd.DataFrame, *, min_share: float = 0.5) -> float:
    """Share of a question's gold spans whose speech is in ``context``.

    A gold span counts as present when at least ``min_share`` of its cues
    (the cues whose middle lies in the span) appear word for word in the
    context; a cue cut by trimming does not count.

    .. math:: \\mathrm{recall} = \\frac{1}{|G|} \\sum_{g \\in G}
              \\mathbb{1}\\Big[\\frac{|\\{c \\in g : c \\subseteq \\mathrm{context}\\}|}{|g|} \\ge s\\Big]

    Returns NaN for a question without gold spans (one the lectures do not
    answer), or whose spans hold no cue.

    Examples
    --------
    >>> segs = pd.DataFrame({"lecture_id": ["L"], "cue_start_s": [[0.0, 5.0, 9.0]], "cue_end_s": [[5.0, 9.0, 12.0]],
    ...                      "cue_text": [["bom dia", "o dropout desliga neurônios", "até logo"]]})
    >>> evidence_recall("[1] L 00:00:05-00:00:09: o dropout desliga neurônios", [("L", 5.0, 9.0)], segs)
    1.0
    >>> evidence_recall("[1] L 00:00:05-00:00:09: … desliga neurônios", [("L", 5.0, 9.0)], segs)
    0.0
    """
    flat = " ".join(str(context).split())
    hits, n = 0, 0
    for lecture, start, end in _spans(gold_spans):
        cues = gold_cues(segments, lecture, start, end)
        if not cues:
            continue
        n += 1
        present = sum(" ".join(c.split()) in flat for c in cues)
        hits += present >= min_share * len(cues)
    return hits / n if n else float("nan")
