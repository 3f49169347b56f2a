"""One table for the analysis: each judged answer beside its human label and retrieval evidence.

:func:`from_run`, :func:`from_records` and :func:`from_llmjudge` turn the
three kinds of input into the same tidy frame, so notebook 05 does not care
where its numbers came from:

``unit``            what was labelled (question and answer source, or query and passage)
``question_id``     the group the bootstrap resamples whole
``answer_source``   ``generated``, ``bank:C`` ..., ``study``, or the judge's name
``human``           the human label (NaN where nobody labelled it)
``annotator``       who gave it
``score``           the judge's 0-3 score (NaN when its reply was unreadable)
``status``          the parse status of the judge's reply
``judge_label``     the automated label from the score-to-label map
``top_score``, ``score_spread``  the best retrieval cosine and max - min over the top k
``correctness``, ``correctness_label``  answer correctness (expected grade 0-2) and its label, where judged
``token_f1``, ``exact_match``, ``rouge_l``, ``answer_similarity``  the baselines against the reference, where scored
``context_relevance``, ``groundedness``  question-level judge scores where judged
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "from_run", "from_records", "from_llmjudge", "stability", "metric_association", "correctness_labels", "EVAL_COLUMNS",
]

#: The non-LLM baselines 04 scores beside the judges (:mod:`helpers.baselines`).
BASELINES = ("token_f1", "exact_match", "rouge_l", "answer_similarity")

EVAL_COLUMNS = [
    "unit", "question_id", "answer_source", "repetition", "human", "annotator", "score", "status", "judge_label",
    "correctness", "correctness_label", "top_score", "score_spread", "context_relevance", "groundedness",
    *BASELINES,
]


def _map_labels(scores: pd.Series, label_map: dict) -> pd.Series:
    mapping = {int(k): v for k, v in label_map.items()}
    return scores.map(lambda s: mapping.get(int(s)) if pd.notna(s) else None)


def _retrieval_evidence(rets: pd.DataFrame) -> pd.DataFrame:
    g = rets.groupby("question_id")["score"]
    return pd.DataFrame({"top_score": g.max(), "score_spread": g.max() - g.min()}).reset_index()


def from_run(run_dir, *, label_map: dict, annotations=None, answer_bank: str = "") -> pd.DataFrame:
    """The evaluation table of a run of this suite.

    Human labels come from the answer bank (answers whose label is known by
    construction) and from annotation files (labels people gave the
    generated answers); answers nobody labelled keep ``human`` NaN.

    Parameters
    ----------
    run_dir : path
        A run folder with ``judgments.parquet`` (and ``retrievals.parquet``).
    label_map : dict
        0-3 score to label.
    annotations : DataFrame, optional
        :func:`helpers.annotations.read_annotations` output.
    answer_bank : str
        The bank CSV the judge scored (its labels are the human labels).
    """
    from .retrieval import read_answer_bank
    from .runs import read_table

    j = read_table(run_dir, "judgments")
    ar = j[j["metric"] == "answer_relevance"].copy()
    if ar.empty:
        raise InputError("no answer_relevance judgments in this run", path=f"{run_dir}/judgments.parquet", field="metric")
    human = []
    if answer_bank:
        bank = read_answer_bank(answer_bank)
        human.append(bank[["question_id", "answer_source", "label"]].assign(annotator="answer bank"))
    if annotations is not None and len(annotations):
        human.append(annotations[["question_id", "answer_source", "label", "annotator"]])
    ev = ar[["question_id", "answer_source", "repetition", "score", "status"]]
    if human:
        h = pd.concat(human, ignore_index=True).rename(columns={"label": "human"})
        ev = ev.merge(h, on=["question_id", "answer_source"], how="left")
    else:
        ev = ev.assign(human=None, annotator=None)
    ev["judge_label"] = _map_labels(ev["score"], label_map)
    ev = ev.merge(_retrieval_evidence(read_table(run_dir, "retrievals")), on="question_id", how="left")
    # context relevance judges the retrieved segments: one value per question, shared by its answers
    cr = j[(j["metric"] == "context_relevance") & (j["repetition"] == 0)]
    value = cr["expected_score"].where(cr["expected_score"].notna(), cr["score"])
    ev = ev.merge(value.groupby(cr["question_id"]).mean().rename("context_relevance"), left_on="question_id", right_index=True, how="left")
    # groundedness judges one answer: joined to that answer only
    gr = j[(j["metric"] == "groundedness") & (j["repetition"] == 0)][["question_id", "answer_source", "score"]]
    ev = ev.merge(gr.rename(columns={"score": "groundedness"}), on=["question_id", "answer_source"], how="left")
    # answer correctness judges one answer against the reference: its expected grade and its own label
    ac = j[(j["metric"] == "answer_correctness") & (j["repetition"] == 0)]
    ac = ac.reindex(columns=["question_id", "answer_source", "expected_score", "label"]).rename(
        columns={"expected_score": "correctness", "label": "correctness_label"})
    ev = ev.merge(ac, on=["question_id", "answer_source"], how="left")
    base = j[j["metric"].isin(BASELINES) & (j["repetition"] == 0)]
    if len(base):
        wide = base.pivot_table(index=["question_id", "answer_source"], columns="metric", values="score", dropna=False)
        ev = ev.merge(wide.reset_index(), on=["question_id", "answer_source"], how="left")
    ev["unit"] = ev["question_id"] + " · " + ev["answer_source"]
    return ev.reindex(columns=EVAL_COLUMNS)


def from_records(paths, *, label_map: dict) -> pd.DataFrame:
    """The evaluation table of the study's records, numbers as they are written.

    The judge's 0-3 score is recovered from Answer Relevance (``AR * 3``,
    so 0.33 -> 1 and 1.00 -> 3); the automated label is the record's own,
    not re-derived, so a mismatch with ``label_map`` stays visible.
    """
    from .judge import denormalise
    from .records import read_records

    qs, rets = read_records(paths)
    ev = pd.DataFrame({
        "question_id": qs["question_id"],
        "answer_source": "study",
        "repetition": 0,
        "human": qs["manual_label"],
        "annotator": "study",
        "score": [float(denormalise(v)) if pd.notna(v) else np.nan for v in qs["answer_relevance"]],
        "status": "ok",
        "judge_label": qs["automated_label"],
    })
    derived = _map_labels(ev["score"], label_map)
    ev["label_map_agrees"] = derived.eq(ev["judge_label"])
    ev = ev.merge(_retrieval_evidence(rets), on="question_id", how="left")
    ev["unit"] = ev["question_id"]
    return ev.reindex(columns=EVAL_COLUMNS + ["label_map_agrees"])


def from_llmjudge(frame: pd.DataFrame) -> pd.DataFrame:
    """The evaluation table of LLMJudge (:func:`helpers.annotations.read_llmjudge`): 0-3 on both sides."""
    ev = pd.DataFrame({
        "unit": frame["query_id"] + "/" + frame["doc_id"],
        "question_id": frame["query_id"],
        "answer_source": frame["judge"],
        "repetition": 0,
        "human": frame["human"],
        "annotator": "TREC assessors",
        "score": frame["label"],
        "status": np.where(frame["label"].isna(), "invalid", "ok"),
        "judge_label": frame["label"],
    })
    return ev.reindex(columns=EVAL_COLUMNS)


def stability(judgments: pd.DataFrame, *, label_map: dict) -> pd.DataFrame:
    """Per item: how the judge's score varies over repetitions, and how often the label flips.

    Returns
    -------
    pandas.DataFrame
        ``question_id, answer_source, n, mean, variance, labels, flip_rate``
        where ``flip_rate`` is the share of repetitions whose label differs
        from the item's most common label.
    """
    ar = judgments[judgments["metric"] == "answer_relevance"].copy()
    ar["label"] = _map_labels(ar["score"], label_map)

    def summarise(g):
        labels = g["label"].dropna()
        mode = labels.mode().iloc[0] if len(labels) else None
        return pd.Series({
            "n": len(g), "mean": g["score"].mean(), "variance": g["score"].var(ddof=0),
            "labels": "".join(sorted(labels)), "flip_rate": float((labels != mode).mean()) if len(labels) else np.nan,
        })

    return ar.groupby(["question_id", "answer_source"]).apply(summarise, include_groups=False).reset_index()


def metric_association(ev: pd.DataFrame, *, labels=("I", "P", "C")) -> pd.DataFrame:
    """Which judge metric best predicts the human label: Spearman's rho with the label's rank.

    Each metric is compared on the units where it and a human label exist;
    ``n`` says how many, so a metric judged on few units is not over-read.
    """
    from scipy.stats import spearmanr

    rank = {label: i for i, label in enumerate(labels)}
    h = ev["human"].map(rank)
    rows = []
    for col, name in (("correctness", "answer_correctness"), ("score", "answer_relevance"),
                      ("context_relevance", "context_relevance"),
                      ("groundedness", "groundedness"), ("top_score", "top retrieval cosine"),
                      *((b, b) for b in BASELINES)):
        if col not in ev.columns:
            continue
        ok = h.notna() & ev[col].notna()
        n = int(ok.sum())
        rho = spearmanr(ev.loc[ok, col], h[ok]).statistic if n >= 3 and ev.loc[ok, col].nunique() > 1 and h[ok].nunique() > 1 else np.nan
        rows.append({"metric": name, "spearman_rho": float(rho), "n": n})
    return pd.DataFrame(rows)


def correctness_labels(ev: pd.DataFrame, *, labels=("I", "P", "C")) -> pd.Series:
    """C/P/I from the correctness judge's expected grade, with honest cut-offs.

    A labelled answer is labelled by cut-offs fitted on the *other* questions'
    labelled answers (leave one question out, :func:`helpers.calibration.cross_validated_labels`);
    an unlabelled one (a generated answer nobody labelled) by cut-offs fitted
    on every labelled answer. None where there is no grade or too few labels.
    """
    from .calibration import apply_cutoffs, cross_validated_labels, fit_cutoffs

    out = pd.Series(None, index=ev.index, dtype=object)
    if "correctness" not in ev.columns or "human" not in ev.columns:
        return out
    graded = ev["correctness"].notna()
    known = graded & ev["human"].notna()
    if known.sum() < 3 or ev.loc[known, "question_id"].nunique() < 2:
        return out
    cv = cross_validated_labels(ev.loc[known, "correctness"].to_numpy(float), ev.loc[known, "human"].to_numpy(),
                                ev.loc[known, "question_id"].to_numpy(), order=tuple(labels))
    out[known] = cv["label_cv"].to_numpy()
    rest = graded & ~known
    if rest.any():
        cut = fit_cutoffs(ev.loc[known, "correctness"].to_numpy(float), ev.loc[known, "human"].to_numpy(), order=tuple(labels))
        out[rest] = apply_cutoffs(ev.loc[rest, "correctness"].to_numpy(float), cut, order=tuple(labels))
    return out
