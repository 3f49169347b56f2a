"""The judge lab: every correctness metric and baseline on answers with known labels.

One long, tidy table of scores (:func:`score_table`): one row per labelled
answer and *method*, a method being an LLM variant of
:mod:`helpers.correctness`, the study's Answer Relevance, a non-LLM
baseline of :mod:`helpers.baselines`, or the combined score. Then
:func:`lab_agreement` turns each method's continuous score into C/P/I with
cut-offs fitted by cross-validation grouped by question
(:mod:`helpers.calibration`) and measures it against the labels on each
labelled set (the answer bank, the contrast set, both), with intervals from
resampling whole questions.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from .errors import InputError
from .labels import CORRECT, LABELS, RANK

__all__ = ["labelled_answers", "score_table", "with_combined", "cv_labels", "lab_agreement", "LAB_COLUMNS"]

#: Columns of ``lab_scores.parquet``: one row per labelled answer and method.
LAB_COLUMNS = [
    "question_id", "answer_source", "set", "kind", "label", "method", "family", "score", "grade", "status",
    "seconds", "cache_hit",
]

ORDER = LABELS  # I < P < C


def labelled_answers(questions: pd.DataFrame, sets: dict) -> pd.DataFrame:
    """Answers with known labels, from several files, beside their question and reference.

    Parameters
    ----------
    questions : DataFrame
        ``question_id, question, reference_answer``.
    sets : dict
        ``{set name: CSV path}``, e.g. ``{"bank": "data/sample/answer_bank.csv",
        "contrast": "data/sample/contrast_set.csv"}``; each read with
        :func:`helpers.retrieval.read_answer_bank`. A ``kind`` column is kept
        where the file has one (else the kind is the set's name).

    Returns
    -------
    DataFrame
        ``question_id, answer_source, answer, label, set, kind, question, reference``,
        sorted by question.
    """
    from .correctness import correctness_items
    from .retrieval import read_answer_bank

    frames = []
    for name, path in sets.items():
        if not path:
            continue
        df = read_answer_bank(path, questions=questions)
        kind = df["kind"] if "kind" in df.columns else pd.Series(name, index=df.index)
        frames.append(df[["question_id", "answer_source", "answer", "label"]].assign(set=name, kind=kind.values))
    if not frames:
        raise InputError("no labelled answer files given", field="sets")
    answers = pd.concat(frames, ignore_index=True)
    return correctness_items(answers, questions)


def _long(items, values, method, family, seconds, *, grade=None, status=None, hit=None):
    out = items[["question_id", "answer_source", "set", "kind", "label"]].copy()
    out["method"], out["family"], out["score"] = method, family, np.asarray(values, dtype=float)
    out["grade"] = np.nan if grade is None else np.asarray(grade, dtype=float)
    out["status"] = np.where(np.isnan(out["score"]), "no_score", "ok") if status is None else np.asarray(status)
    out["seconds"] = seconds
    out["cache_hit"] = False if hit is None else np.asarray(hit)
    return out


def score_table(items: pd.DataFrame, *, llm=None, variants=(), relevance: bool = False, embedder=None,
                guard: bool = False, progress: bool = True) -> pd.DataFrame:
    """Score labelled answers with the baselines and the LLM variants.

    Parameters
    ----------
    items : DataFrame
        :func:`labelled_answers` output.
    llm : helpers.llm.CachedLLM, optional
        The judge (needed for ``variants`` and ``relevance``).
    variants : sequence of str
        Keys of :data:`helpers.correctness.VARIANTS`.
    relevance : bool
        Also the study's Answer Relevance, with reasons (``answer_relevance``)
        and in one digit (``answer_relevance_direct``).
    embedder : helpers.embeddings.Embedder, optional
        For the E5 answer-reference cosine.
    guard : bool
        The LLM judges read the answer guarded (:func:`helpers.prompting.build_messages`).

    Returns
    -------
    DataFrame
        :data:`LAB_COLUMNS`; ``seconds`` is the judge's seconds for that
        answer (as measured when the reply was made, also for a cached one),
        the baselines' time per answer measured now.
    """
    from .baselines import answer_similarity, baseline_scores
    from .correctness import judge_correctness
    from .judge import judge_items

    parts = []
    t0 = time.perf_counter()
    base = baseline_scores(items, reference_col="reference", embedder=None)
    lexical_s = (time.perf_counter() - t0) / max(1, len(items))
    for col in ("token_f1", "exact_match", "rouge_l"):
        parts.append(_long(items, base[col], col, "baseline", lexical_s))
    if embedder is not None:  # the E5 cosine on the rows the lexical baselines scored, timed on its own
        scored = base["token_f1"].notna().to_numpy()
        sim = np.full(len(items), np.nan)
        t0 = time.perf_counter()
        if scored.any():
            sim[scored] = answer_similarity(items.loc[scored, "answer"].astype(str).tolist(),
                                            items.loc[scored, "reference"].astype(str).tolist(), embedder=embedder)
        parts.append(_long(items, sim, "answer_similarity", "baseline", (time.perf_counter() - t0) / max(1, len(items))))
    for name in variants:
        rows = judge_correctness(llm, items, variant=name, guard=guard, cutoffs=None, progress=progress)  # grade: the argmax
        parts.append(_long(items, rows["expected_score"], name, "llm", rows["latency_s"].to_numpy(),
                           grade=rows["score"], status=rows["status"], hit=rows["cache_hit"]))
    if relevance:  # the study's judge with its reasons, and in one digit: what do the reasons add?
        for metric in ("answer_relevance", "answer_relevance_direct"):
            rows = judge_items(llm, items, metric, language="en", guard=guard, progress=progress)
            score = rows["expected_score"].where(rows["expected_score"].notna(), rows["score"])
            parts.append(_long(items, score, metric, "llm", rows["latency_s"].to_numpy(),
                               grade=rows["score"], status=rows["status"], hit=rows["cache_hit"]))
    return pd.concat(parts, ignore_index=True)[LAB_COLUMNS]


def with_combined(scores: pd.DataFrame, *, llm_method: str, features=("token_f1", "answer_similarity"),
                  name: str = "combined") -> pd.DataFrame:
    """Add a combined score: ``llm_method`` with the baselines ``features``.

    A multinomial logistic regression on the features, fitted within each
    fold of a cross-validation grouped by question on *all* labelled sets
    together (:func:`helpers.calibration.cross_validated_combination`); its
    held-out expected grade is the combined score. Fitted on a contrast set
    alone it would learn that word overlap means wrong, an artifact of how
    that set was built.

    An empty ``llm_method`` (``""``) adds nothing: ``scores`` come back as
    they are, so a notebook's "no combined score" needs no branch.
    """
    from .calibration import cross_validated_combination

    if not llm_method:
        return scores
    wide = scores.pivot_table(index=["question_id", "answer_source"], columns="method", values="score")
    cols = [llm_method, *features]
    missing = [c for c in cols if c not in wide.columns]
    if missing:
        raise InputError(f"methods not scored: {missing}", field="features")
    keys = scores.drop_duplicates(["question_id", "answer_source"]).set_index(["question_id", "answer_source"])
    keys = keys.loc[wide.index]
    cv = cross_validated_combination(wide[cols].to_numpy(), keys["label"].to_numpy(), keys.index.get_level_values(0).to_numpy(),
                                     order=ORDER)
    secs = scores[scores["method"].isin(cols)].groupby(["question_id", "answer_source"])["seconds"].sum().loc[wide.index]
    items = keys.reset_index()
    extra = _long(items, cv["score_cv"].to_numpy(), name, "combined", secs.to_numpy())
    return pd.concat([scores, extra], ignore_index=True)


def cv_labels(scores: pd.DataFrame, *, fit_on: str = "all") -> pd.DataFrame:
    """Every method's score as a C/P/I label, cut-offs fitted leaving one question out.

    Adds ``label_cv`` (held-out label), ``c1``, ``c2`` (the cut-offs that
    labelled the row, fitted on the other questions only).

    Parameters
    ----------
    fit_on : {"all", "set"}
        ``"all"`` (the default, and the honest one for a metric meant for
        unseen answers): every labelled set fitted together, so the cut-offs
        must work for plain and contrast answers alike. ``"set"``: each set
        fitted on itself, which shows how well a metric *could* do on one
        kind of answer if you knew the kind in advance.
    """
    from .calibration import cross_validated_labels

    if fit_on not in ("all", "set"):
        raise InputError(f"fit_on must be 'all' or 'set', not {fit_on!r}", field="fit_on")
    out = []
    keys = ["method"] if fit_on == "all" else ["method", "set"]
    for _, g in scores.groupby(keys, sort=False):
        cv = cross_validated_labels(g["score"].to_numpy(), g["label"].to_numpy(), g["question_id"].to_numpy(), order=ORDER)
        out.append(g.assign(label_cv=cv["label_cv"].to_numpy(), c1=cv["c1"].to_numpy(), c2=cv["c2"].to_numpy()))
    return pd.concat(out, ignore_index=True)


def _average_ranks(x):
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata), in numpy only."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]


def _spearman(a, b):
    """Spearman's rho: Pearson's r of the average ranks (fast enough for 1,000 bootstrap resamples)."""
    if len(np.unique(a)) < 2 or len(np.unique(b)) < 2:
        return float("nan")
    return float(np.corrcoef(_average_ranks(a), _average_ranks(b))[0, 1])


def lab_agreement(labelled: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Agreement of every method with the labels, on each labelled set and on all.

    Parameters
    ----------
    labelled : DataFrame
        :func:`cv_labels` output.

    Returns
    -------
    DataFrame
        One row per method, set and statistic (``cohen_kappa_quadratic``,
        ``cohen_kappa``, ``gwet_ac1`` on the cross-validated labels,
        ``spearman`` on the continuous score), with ``value, ci_low,
        ci_high, n, n_missing, seconds_per_answer``.
    """
    from .agreement import agreement_summary, bootstrap_ci

    rank = dict(RANK)
    rows = []
    for (method, family), g in labelled.groupby(["method", "family"], sort=False):
        for set_name, s in [*g.groupby("set"), ("all", g)]:
            summ = agreement_summary(s["label"], s["label_cv"], labels=ORDER, groups=s["question_id"], n_boot=n_boot, seed=seed)
            summ = summ[summ["statistic"].isin(["cohen_kappa_quadratic", "cohen_kappa", "gwet_ac1"])]
            ok = s["score"].notna()
            y, x = s.loc[ok, "label"].map(rank).to_numpy(float), s.loc[ok, "score"].to_numpy(float)
            ci = (np.nan, np.nan)
            if len(np.unique(x)) > 1:  # a constant score (exact match, often) has no rank correlation
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    ci = bootstrap_ci(_spearman, y, x, groups=s.loc[ok, "question_id"], n_boot=n_boot, seed=seed)
            sp = pd.DataFrame([{"statistic": "spearman", "value": _spearman(y, x), "ci_low": ci[0], "ci_high": ci[1],
                                "n": int(ok.sum()), "n_missing": int((~ok).sum())}])
            block = pd.concat([summ, sp], ignore_index=True)
            rows.append(block.assign(method=method, family=family, set=set_name, seconds_per_answer=float(s["seconds"].mean())))
    cols = ["method", "family", "set", "statistic", "value", "ci_low", "ci_high", "n", "n_missing", "seconds_per_answer"]
    return pd.concat(rows, ignore_index=True)[cols]


def headline(result: pd.DataFrame, *, statistic: str = "cohen_kappa_quadratic") -> pd.DataFrame:
    """One row per method: ``statistic`` with its interval on each set, and seconds per answer, best first."""
    r = result[result["statistic"] == statistic]
    wide = r.pivot_table(index=["method", "family"], columns="set", values=["value", "ci_low", "ci_high"])
    wide.columns = [f"{s}_{v}".replace("_value", "") for v, s in wide.columns]
    secs = r.groupby("method")["seconds_per_answer"].max().rename("seconds_per_answer")
    out = wide.reset_index().merge(secs, on="method")
    first = [c for c in ("all", "contrast", "bank") if c in out.columns]
    cols = ["method", "family", *[c for s in first for c in (s, f"{s}_ci_low", f"{s}_ci_high")], "seconds_per_answer"]
    return out[cols].sort_values(first[0], ascending=False).reset_index(drop=True)


def best_method(result: pd.DataFrame, *, family: str = "llm", set_name: str = "all",
                statistic: str = "cohen_kappa_quadratic") -> str:
    """The method of ``family`` with the highest ``statistic`` on ``set_name``."""
    r = result[(result["statistic"] == statistic) & (result["family"] == family) & (result["set"] == set_name)]
    if r.empty:
        raise InputError(f"no {family} method in the lab results", field="family")
    return str(r.sort_values("value", ascending=False)["method"].iloc[0])


def worst_disagreements(rows: pd.DataFrame, items: pd.DataFrame, *, n: int = 8) -> pd.DataFrame:
    """The ``n`` answers whose score is furthest from their label (``human`` I=0, P=1, C=2 against the 0-2 score)."""
    r = rows.assign(gap=(rows["score"] - rows["human"].map(dict(RANK))).abs())
    r = r.merge(items[["question_id", "answer_source", "answer", "reference"]], on=["question_id", "answer_source"])
    cols = ["question_id", "kind", "human", "judge_label", "score", "answer", "reference"]
    return r.sort_values("gap", ascending=False).head(n)[cols].reset_index(drop=True)


def ppi_curve(labelled: pd.DataFrame, *, method: str, ns=(10, 20, 30, 50, 80, 120), n_repeats: int = 200,
              seed: int = 0) -> pd.DataFrame:
    """Share of correct answers: PPI against classical intervals as labels are hidden.

    ``y`` is 1 for a C label, ``yhat`` 1 for a cross-validated C from
    ``method``; see :func:`helpers.calibration.ppi_width_curve`.
    """
    from .calibration import ppi_width_curve

    rows = labelled[(labelled["method"] == method) & labelled["label_cv"].notna()]
    y = (rows["label"] == CORRECT).to_numpy(float)
    yhat = (rows["label_cv"] == CORRECT).to_numpy(float)
    ns = [k for k in ns if k < len(rows)]
    return ppi_width_curve(y, yhat, ns=ns, n_repeats=n_repeats, seed=seed)
