"""Figures for the notebooks, in the manner of seaborn's axes-level functions.

Each function takes a tidy table as the suite stores it, the names of the
columns it draws as keyword arguments (defaulting to the suite's own column
names), and ``ax=`` (a new figure when None), and returns the axes it drew
on (``ax.figure`` is the figure). :func:`savefig` takes a figure or an axes
and writes it atomically, so a notebook cell is one call and one save.
"""

from __future__ import annotations

import sys

import matplotlib

if "ipykernel" not in sys.modules:  # scripts and tests draw off-screen; a notebook keeps its inline figures
    matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .files import write_atomic  # noqa: E402
from .labels import LABELS  # noqa: E402

__all__ = [
    "segment_lengths", "retrieval_scores", "recall_at_k", "answers_overview", "judge_scores", "score_by_label", "confusion",
    "agreement_intervals", "per_question", "cutoff_heatmap", "judge_ranking", "per_group_heatmap", "stability_plot", "savefig",
    "forest", "words_vs_judge", "interval_widths",
]


def _ax(ax, figsize=(7, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _note(ax, text: str):
    """An empty panel that says why it is empty (a figure is drawn and saved all the same)."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.3", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def savefig(fig, path, *, dpi: int = 120, copy_to: str = "") -> str:
    """Save a figure (or the figure of an axes) to ``path`` atomically and return the path.

    Folders are created; a reader never sees half a file. The format is the
    suffix of ``path`` (``.png``, ``.svg``, ``.pdf``). ``copy_to`` names a
    folder that gets a copy under the same file name (e.g. the committed
    ``figures/``); ``""`` for none.
    """
    import shutil
    from pathlib import Path

    from matplotlib.axes import Axes

    fig = fig.figure if isinstance(fig, Axes) else fig
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt, bbox_inches="tight"))  # no label cut off
    if copy_to:  # the same bytes, not a second rendering
        write_atomic(Path(copy_to) / Path(path).name, lambda tmp: shutil.copyfile(path, tmp))
    return str(path)


def segment_lengths(segments: pd.DataFrame, *, start: str = "start_s", end: str = "end_s", hue: str = "lecture_id", ax=None):
    """Histogram of segment durations, one colour per lecture.

    Examples
    --------
    >>> ax = segment_lengths(pd.DataFrame({"lecture_id": ["a", "a"],
    ...                                    "start_s": [0, 120], "end_s": [162, 250]}))
    >>> ax.get_title()
    '2 segments from 1 lectures'
    """
    ax = _ax(ax)
    df = segments.assign(duration_min=(segments[end] - segments[start]) / 60)
    sns.histplot(data=df, x="duration_min", hue=hue, multiple="stack", binwidth=0.1, ax=ax)
    ax.set_xlabel("segment duration (minutes)")
    ax.set_ylabel("segments")
    ax.set_title(f"{len(df)} segments from {df[hue].nunique()} lectures")
    return ax


def retrieval_scores(retrievals: pd.DataFrame, *, reference: pd.DataFrame | None = None,
                     question: str = "question_id", score: str = "score", rank: str = "rank", ax=None):
    """Spread of the top-k cosine scores for each question, on a common axis.

    Parameters
    ----------
    retrievals : pandas.DataFrame
        ``question_id, rank, score``.
    reference : pandas.DataFrame, optional
        Another set of ``question_id, score`` rows (e.g. the study's records)
        drawn in grey beside ours for comparison.
    question, score, rank : str
        Column names (the same in both tables).

    Examples
    --------
    >>> r = pd.DataFrame({"question_id": ["q1"] * 3, "rank": [1, 2, 3], "score": [0.86, 0.84, 0.83]})
    >>> ax = retrieval_scores(r)
    >>> len(ax.get_yticklabels())
    1
    """
    frames = [retrievals.assign(source="this run")]
    if reference is not None and len(reference):
        frames.append(reference.assign(source="the study"))
    df = pd.concat(frames, ignore_index=True)
    order = df.groupby(question)[score].max().sort_values(ascending=False).index.tolist()
    ax = _ax(ax, figsize=(7, max(3, 0.32 * len(order) + 1)))
    palette = {"this run": "C0", "the study": "0.5"}
    sns.stripplot(data=df, y=question, x=score, hue="source", order=order, ax=ax, size=5, jitter=0.15, palette=palette)
    top1 = df[df[rank] == 1] if rank in df else df.iloc[0:0]
    ax.scatter(top1[score], [order.index(q) for q in top1[question]], marker="|", s=250, color="C3", label="rank 1")
    lo, hi = df[score].min(), df[score].max()
    ax.set_xlabel(f"cosine similarity of the top-k segments (all between {lo:.2f} and {hi:.2f})")
    ax.set_ylabel("question")
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return ax


def recall_at_k(metrics: pd.DataFrame, *, answerable: str = "answerable", rr: str = "rr", prefix: str = "recall@", ax=None):
    """Mean recall@k over answerable questions, with MRR in the title.

    Every column named ``<prefix><k>`` is one point; ``rr`` is the reciprocal
    rank whose mean is the MRR.

    Examples
    --------
    >>> m = pd.DataFrame({"answerable": [True, True], "rr": [1, 0.5],
    ...                   "recall@1": [1, 0], "recall@10": [1, 1]})
    >>> [round(y, 2) for y in recall_at_k(m).lines[0].get_ydata()]
    [0.5, 1.0]
    """
    ans = metrics[metrics[answerable]]
    cols = [c for c in metrics.columns if c.startswith(prefix)]
    ks = [int(c[len(prefix):]) for c in cols]
    means = [ans[c].mean() for c in cols]
    ax = _ax(ax, figsize=(5, 3.5))
    ax.plot(ks, means, marker="o")
    for k, m in zip(ks, means):
        ax.annotate(f"{m:.2f}", (k, m), textcoords="offset points", xytext=(0, 6), ha="center")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(ks)
    ax.set_xlabel("k (segments retrieved)")
    ax.set_ylabel("recall@k (share of gold spans found)")
    ax.set_title(f"{len(ans)} answerable questions, MRR = {ans[rr].mean():.2f}")
    ax.grid(alpha=0.3)
    return ax


def answers_overview(answers: pd.DataFrame, *, question: str = "question_id",
                     tokens: str = "completion_tokens", latency: str = "latency_s",
                     prompt_tokens: str = "prompt_tokens", ax=None):
    """Answer length (tokens generated) and latency per question, as paired bars.

    Examples
    --------
    >>> ax = answers_overview(pd.DataFrame({"question_id": ["q1", "q2"], "completion_tokens": [40, 90],
    ...                                     "prompt_tokens": [400, 420], "latency_s": [8.0, 15.0]}))
    >>> [int(p.get_height()) for p in ax.patches]
    [40, 90]
    """
    ax = _ax(ax, figsize=(9, 4))
    df = answers.sort_values(question)
    x = np.arange(len(df))
    ax.bar(x - 0.2, df[tokens], width=0.4, label="tokens generated", color="tab:blue")
    ax.set_ylabel("tokens generated")
    ax.set_xticks(x, df[question], rotation=90)
    ax2 = ax.twinx()
    ax2.bar(x + 0.2, df[latency], width=0.4, label="latency (s, first run)", color="tab:orange")
    ax2.set_ylabel("latency when generated (s)")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper center", bbox_to_anchor=(0.5, -0.18),
              ncols=2, fontsize="small")
    ax.set_title(f"{len(df)} answers: median {df[tokens].median():.0f} tokens, "
                 f"median {df[latency].median():.1f} s, prompts of {df[prompt_tokens].median():.0f} tokens")
    return ax


def judge_scores(
    judgments: pd.DataFrame, *, metric: str = "metric", score: str = "score", source: str = "answer_source", ax=None
):
    """Distribution of the 0-3 scores per metric (and per answer source), failures shown as "missing".

    Parameters
    ----------
    judgments : pandas.DataFrame
        ``metric, score`` (NaN for a reply that could not be parsed) and
        optionally ``answer_source``.
    metric, score, source : str
        Column names; answer relevance is split by ``source`` when it has
        more than one value.

    Examples
    --------
    >>> ax = judge_scores(pd.DataFrame({"metric": ["answer_relevance"] * 3, "score": [3, 1, np.nan]}))
    >>> ax.get_title()
    "3 judgments; 'missing' = reply without a readable score"
    """
    ax = _ax(ax, figsize=(8, 4))
    df = pd.DataFrame({"metric": judgments[metric], "score": judgments[score]})
    df["score"] = df["score"].map(lambda s: "missing" if pd.isna(s) else str(int(s)))
    if source in judgments and judgments[source].nunique() > 1:
        df["metric"] = np.where(df["metric"] == "answer_relevance", "AR · " + judgments[source].astype(str), df["metric"])
    order = ["0", "1", "2", "3", "missing"]
    counts = df.groupby("metric")["score"].value_counts(normalize=True).rename("share").reset_index()
    sns.barplot(data=counts, x="metric", y="share", hue="score", hue_order=order, palette="viridis", ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel("share of judgments")
    ax.tick_params(axis="x", rotation=20)
    ax.legend(title="score", fontsize="small", ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    ax.set_title(f"{len(df)} judgments; 'missing' = reply without a readable score")
    return ax


# ---------------------------------------------------------------- 05: agreement


def score_by_label(
    ev: pd.DataFrame, *, score: str = "score", human: str = "human", labels=LABELS, max_score: int = 3, ax=None
):
    """Answer Relevance (score / max) overall and split by the human label.

    Examples
    --------
    >>> ax = score_by_label(pd.DataFrame({"score": [3, 1, 0, 3], "human": ["C", "P", "I", None]}))
    >>> [t.get_text() for t in ax.get_xticklabels()][:2]
    ['all\\n(n=4)', 'human I\\n(n=1)']
    """
    ax = _ax(ax)
    df = ev.assign(ar=ev[score] / max_score)
    groups = [("all", df)] + [(f"human {lab}", df[df[human] == lab]) for lab in labels]
    values = sorted(df["ar"].dropna().unique())
    width = 0.8 / max(1, len(values))
    for i, v in enumerate(values):
        shares = [(g["ar"] == v).sum() / max(1, g["ar"].notna().sum()) for _, g in groups]
        ax.bar(np.arange(len(groups)) + (i - (len(values) - 1) / 2) * width, shares, width, label=f"AR {v:.2f}",
               color=plt.cm.viridis(v))
    ax.set_xticks(range(len(groups)), [f"{name}\n(n={g['ar'].notna().sum()})" for name, g in groups])
    ax.set_ylabel("share of judged answers")
    ax.legend(fontsize="small", ncols=min(4, len(values)))
    missing = int(df[score].isna().sum())
    ax.set_title("Answer Relevance by human label" + (f" ({missing} unreadable replies left out)" if missing else ""))
    return ax


def confusion(ev: pd.DataFrame, *, human: str = "human", judge: str = "judge_label", labels=LABELS, ax=None):
    """Human label (rows) vs automated label (columns), with raw agreement and two baselines.

    The majority-class base rate is the share of the most common human
    label: the raw agreement of a judge that always says it (a constant
    predictor), whose kappa is 0.

    Examples
    --------
    >>> ax = confusion(pd.DataFrame({"human": ["C", "P", "I", "C"], "judge_label": ["C", "C", "I", "P"]}))
    >>> ax.get_title()
    "n=4: agreement 0.50; always 'C' would get 0.50"
    """
    ax = _ax(ax, figsize=(5.5, 4.5))
    ok = ev[human].notna() & ev[judge].notna()
    df = ev[ok]
    table = pd.crosstab(pd.Categorical(df[human], categories=labels), pd.Categorical(df[judge], categories=labels),
                        dropna=False).reindex(index=labels, columns=labels, fill_value=0)
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_xlabel("automated label (judge)")
    ax.set_ylabel("human label")
    n = int(table.values.sum())
    raw = np.trace(table.values) / n if n else np.nan
    base = table.sum(axis=1).max() / n if n else np.nan
    majority = table.sum(axis=1).idxmax() if n else "-"
    ax.set_title(f"n={n}: agreement {raw:.2f}; always '{majority}' would get {base:.2f}"
                 + (f"\n({int((~ok).sum())} without a human or judge label)" if (~ok).any() else ""), fontsize="medium")
    return ax


def agreement_intervals(summary: pd.DataFrame, *, statistic: str = "statistic", value: str = "value",
                        low: str = "ci_low", high: str = "ci_high", hue: str = "comparison", ax=None):
    """Each agreement statistic with its bootstrap interval (a forest plot).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`helpers.agreement.agreement_summary` output; an optional
        ``comparison`` column (e.g. judge name or "human-human") adds colours.
    statistic, value, low, high, hue : str
        Column names; ``hue`` is used when the table has it.

    Examples
    --------
    >>> t = pd.DataFrame({"statistic": ["raw_agreement", "cohen_kappa"], "value": [0.7, 0.4],
    ...                   "ci_low": [0.6, 0.2], "ci_high": [0.8, 0.6], "n": [20, 20], "n_missing": [0, 0]})
    >>> [t.get_text() for t in agreement_intervals(t).get_yticklabels()]  # first row on top
    ['raw_agreement', 'cohen_kappa']
    """
    ax = _ax(ax, figsize=(7, 0.45 * len(summary) + 1.2))
    df = summary.reset_index(drop=True)
    has_hue = hue in df
    groups = df[hue] if has_hue else pd.Series(["judge"] * len(df))
    colors = dict(zip(groups.unique(), sns.color_palette(n_colors=groups.nunique())))
    y = np.arange(len(df))[::-1]
    for yi, lo, hi, v, h in zip(y, df[low], df[high], df[value], groups):
        ax.plot([lo, hi], [yi, yi], color=colors[h], lw=2)
        ax.plot(v, yi, "o", color=colors[h])
    ax.set_yticks(y, [f"{s}" + (f" · {h}" if has_hue else "") for s, h in zip(df[statistic], groups)])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("value (bootstrap 95% interval, resampling whole questions)" if df[low].notna().any()
                  else "value (no intervals: bootstrap off)")
    counts = f" (n={int(df['n'].max())} pairs, {int(df['n_missing'].max())} missing)" if {"n", "n_missing"} <= set(df) else ""
    ax.set_title("agreement with the human labels" + counts)
    return ax


def per_question(ev: pd.DataFrame, *, unit: str = "unit", score: str = "score", human: str = "human",
                 judge: str = "judge_label", top: str = "top_score", spread: str = "score_spread",
                 labels=LABELS, max_score: int = 3, ax=None):
    """Per unit: the judge's score, the human label, whether they agree, and the retrieval scores' spread.

    Units are sorted so disagreements come first (largest gap on top). With
    ``ax=None`` a second panel beside it shows each unit's retrieval cosines
    (``top`` minus ``spread`` to ``top``); with ``ax`` given, only the first.

    Examples
    --------
    >>> ev = pd.DataFrame({"unit": ["q1", "q2"], "human": ["C", "I"], "score": [3, 3], "judge_label": ["C", "C"],
    ...                    "top_score": [0.86, 0.85], "score_spread": [0.01, 0.02]})
    >>> per_question(ev).get_title()
    '1 of 2 labels differ'
    """
    df = ev[ev[human].notna()].copy()
    rank = {lab: i * max_score / (len(labels) - 1) for i, lab in enumerate(labels)}
    df["human_score"] = df[human].map(rank)
    df["agree"] = df[judge] == df[human]
    df["gap"] = (df[score] - df["human_score"]).abs()
    df = df.sort_values(["agree", "gap"], ascending=[True, False]).reset_index(drop=True)
    if ax is None:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 0.28 * len(df) + 2.2), sharey=True, layout="constrained",
                                      gridspec_kw={"width_ratios": [3, 1]})
    else:
        ax2 = None
    y = np.arange(len(df))[::-1]
    ax.scatter(df["human_score"], y, marker="s", s=60, facecolors="none", edgecolors="black", label="human label")
    ax.scatter(df[score], y, c=np.where(df["agree"], "tab:green", "tab:red"), s=30, label="judge score (red: labels differ)")
    ax.set_yticks(y, df[unit].astype(str), fontsize="small")
    ax.set_xticks(range(max_score + 1))
    ax.set_xlim(-0.3, max_score + 0.3)
    ax.set_xlabel(f"score 0-{max_score}; human label placed at " + ", ".join(f"{k}={v:g}" for k, v in rank.items()))
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.32 if len(df) < 6 else -0.08), ncols=2)
    ax.set_title(f"{int((~df['agree']).sum())} of {len(df)} labels differ")
    if ax2 is not None and spread in df and df[spread].notna().any():
        ax2.barh(y, df[spread], left=df[top] - df[spread], height=0.5, color="grey")
        ax2.set_xlabel("top-k retrieval cosines\n(lowest to highest)")
        ax2.xaxis.set_major_locator(plt.MaxNLocator(3))
    return ax


def cutoff_heatmap(
    sweep: pd.DataFrame, *, value: str = "cohen_kappa_quadratic", c1: str = "c1", c2: str = "c2", current=(1, 3), ax=None
):
    """Kappa for every monotone score-to-label map (cut-offs c1 <= c2), the current map outlined.

    Parameters
    ----------
    sweep : pandas.DataFrame
        :func:`helpers.agreement.cutoff_sweep` output (``c1, c2`` and the statistic).
    value, c1, c2 : str
        The statistic drawn and the two cut-off columns.
    current : (int, int)
        The map outlined, ``(c1, c2)``; the study's is ``(1, 3)``.

    Examples
    --------
    >>> sweep = pd.DataFrame({"c1": [0, 0, 1], "c2": [1, 3, 3], "cohen_kappa_quadratic": [0.1, 0.2, 0.8]})
    >>> len(cutoff_heatmap(sweep).patches)  # the outline of the current map
    1
    """
    ax = _ax(ax, figsize=(5, 4))
    grid = sweep.pivot_table(index=c1, columns=c2, values=value)
    sns.heatmap(grid, annot=True, fmt=".2f", cmap="RdBu_r", center=0, ax=ax, cbar_kws={"label": value})
    if current[0] in grid.index and current[1] in grid.columns:
        i, j = list(grid.index).index(current[0]), list(grid.columns).index(current[1])
        ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, edgecolor="black", lw=2.5))
    ax.set_xlabel("c2: score >= c2 is C")
    ax.set_ylabel("c1: score < c1 is I")
    ax.set_title("score-to-label cut-offs (outlined: the study's)")
    return ax


def judge_ranking(summary: pd.DataFrame, *, statistic: str = "cohen_kappa_quadratic", judge: str = "judge",
                  value: str = "value", low: str = "ci_low", high: str = "ci_high", ax=None):
    """Judges ranked by one agreement statistic, with intervals (LLMJudge).

    ``summary`` is long (a ``statistic`` column); the rows of ``statistic``
    are drawn, best judge on top.

    Examples
    --------
    >>> s = pd.DataFrame({"judge": ["a", "b"], "statistic": "cohen_kappa_quadratic", "value": [0.3, 0.6],
    ...                   "ci_low": [0.1, 0.4], "ci_high": [0.5, 0.8]})
    >>> [t.get_text() for t in judge_ranking(s).get_yticklabels()]
    ['a', 'b']
    """
    df = summary[summary["statistic"] == statistic].sort_values(value).reset_index(drop=True)
    ax = _ax(ax, figsize=(7, 0.25 * len(df) + 1.2))
    y = np.arange(len(df))
    ax.hlines(y, df[low], df[high], color="tab:blue")
    ax.plot(df[value], y, "o", color="tab:blue")
    ax.set_yticks(y, df[judge], fontsize="small")
    ax.set_xlabel(f"{statistic} with the human labels\n(95% interval, whole queries resampled)")
    ax.set_title(f"{len(df)} LLM judges ranked")
    return ax


def per_group_heatmap(table: pd.DataFrame, *, ax=None, value_label: str = "Cohen's kappa"):
    """A judges x queries (or questions) heatmap of per-group agreement.

    ``table`` is wide: one row per judge, one column per group, the values
    (e.g. :func:`helpers.agreement.per_group_agreement` pivoted).

    Examples
    --------
    >>> ax = per_group_heatmap(pd.DataFrame({"q1": [0.5, 1.0], "q2": [np.nan, -0.2]}, index=["a", "b"]))
    >>> ax.get_ylabel(), len(ax.get_xticklabels())
    ('', 2)
    """
    ax = _ax(ax, figsize=(0.32 * table.shape[1] + 3, 0.25 * table.shape[0] + 1.5))
    sns.heatmap(table, cmap="RdBu_r", center=0, vmin=-1, vmax=1, ax=ax, cbar_kws={"label": value_label},
                xticklabels=True, yticklabels=True)
    ax.tick_params(labelsize="x-small")
    ax.set_title("agreement per query (blank: undefined, a single label on both sides)")
    return ax


def stability_plot(stab: pd.DataFrame, *, x: str = "variance", y: str = "flip_rate", n: str = "n", ax=None):
    """Per item: the variance of the judge's score over repetitions and its label flip rate.

    ``stab`` is :func:`helpers.analysis.stability` output; an empty one (every
    item judged once) gives an axes with a note saying so.

    Examples
    --------
    >>> stability_plot(pd.DataFrame({"variance": [0, 1.5], "flip_rate": [0, 0.5], "n": [3, 3]})).get_title()
    'judge stability over 3 repetitions per item (1 of 2 items flip)'
    """
    ax = _ax(ax, figsize=(7, 4))
    if stab.empty:
        ax.set_title("judge stability")
        return _note(ax, "one judgment per item (judge.repetitions = 1): nothing to compare")
    ax.scatter(stab[x], stab[y], alpha=0.7)
    ax.set_xlabel("variance of the 0-3 score over repetitions")
    ax.set_ylabel("label flip rate")
    ax.set_title(f"judge stability over {int(stab[n].max())} repetitions per item "
                 f"({(stab[y] > 0).sum()} of {len(stab)} items flip)")
    return ax


def forest(frame: pd.DataFrame, *, x: str = "value", y: str = "method", low: str = "ci_low", high: str = "ci_high",
           hue: str | None = "set", xlabel: str = "quadratic kappa", ax=None):
    """A forest plot: one row per ``y``, the point ``x`` with its interval ``[low, high]``, one colour per ``hue``.

    Rows are ordered by the mean of ``x`` over the hue levels, best on top;
    a dashed line marks 0 (chance agreement).

    Examples
    --------
    >>> ax = forest(pd.DataFrame({"method": ["a", "b"], "set": ["all", "all"], "value": [0.5, 0.2],
    ...                           "ci_low": [0.3, 0.0], "ci_high": [0.7, 0.4]}))
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['b', 'a']

    An empty ``frame`` (no judge to show) gives an axes with a note saying so.
    """
    if frame.empty:
        ax = _ax(ax, figsize=(7.5, 2))
        ax.set_xlabel(xlabel)
        return _note(ax, "nothing to show: no statistic in the table")
    levels = list(dict.fromkeys(frame[hue])) if hue else [None]
    order = frame.groupby(y)[x].mean().sort_values().index.tolist()
    ax = _ax(ax, figsize=(7.5, 0.42 * len(order) * max(1, len(levels) / 1.5) + 1.4))
    palette = dict(zip(levels, sns.color_palette("colorblind", len(levels))))
    step = 0.8 / max(1, len(levels))
    for j, level in enumerate(levels):
        part = frame if level is None else frame[frame[hue] == level]
        pos = np.array([order.index(m) for m in part[y]]) - (j - (len(levels) - 1) / 2) * step  # first level on top
        # a percentile interval need not contain the point (few questions), and may be NaN: draw what exists
        below = np.clip(np.nan_to_num(part[x] - part[low]), 0, None)
        above = np.clip(np.nan_to_num(part[high] - part[x]), 0, None)
        ax.errorbar(part[x], pos, xerr=[below, above], fmt="o", ms=5, capsize=2, color=palette[level], label=level)
    ax.axvline(0, color="grey", ls="--", lw=1)
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel(xlabel)
    if hue:
        ax.legend(title=hue, loc="best", fontsize="small", framealpha=0.9)
    return ax


def words_vs_judge(scores: pd.DataFrame, *, x_method: str = "token_f1", y_method: str, method: str = "method",
                   score: str = "score", label: str = "label", kind: str = "kind",
                   keys=("question_id", "answer_source"), labels=LABELS, ax=None):
    """Each labelled answer placed by two methods' scores, coloured by its label, shaped by its kind.

    ``scores`` is long (one row per answer and method); the two methods are
    paired on the ``keys`` columns.

    Examples
    --------
    >>> s = pd.DataFrame({"question_id": ["q1", "q1", "q2", "q2"], "answer_source": "generated",
    ...                   "method": ["token_f1", "judge"] * 2, "score": [0.2, 1.0, 0.9, 0.0],
    ...                   "label": ["C", "C", "I", "I"], "kind": "bank"})
    >>> sorted(map(tuple, words_vs_judge(s, y_method="judge").collections[0].get_offsets().tolist()))
    [(0.2, 1.0), (0.9, 0.0)]
    """
    keys = list(keys)
    a = scores[scores[method] == x_method][[*keys, score, label, kind]].rename(columns={score: "x"})
    b = scores[scores[method] == y_method][[*keys, score]].rename(columns={score: "y"})
    df = a.merge(b, on=keys)
    ax = _ax(ax, figsize=(7, 5))
    colours = dict(zip(labels, ["#d62728", "#ff7f0e", "#2ca02c"]))
    sns.scatterplot(data=df, x="x", y="y", hue=label, hue_order=list(labels), palette=colours, style=kind, s=55,
                    alpha=0.8, ax=ax)
    ax.set_xlabel(f"{x_method} (answer vs reference)")
    ax.set_ylabel(f"{y_method} score")
    ax.legend(fontsize="small", bbox_to_anchor=(1.01, 1), loc="upper left", borderaxespad=0)
    return ax


def interval_widths(curve: pd.DataFrame, *, n: str = "n", width: str = "width", method: str = "method", ax=None):
    """Mean interval width against the number of labelled answers, one line per method (PPI, classical).

    Examples
    --------
    >>> c = pd.DataFrame({"n": [10, 20, 10, 20], "width": [0.4, 0.3, 0.5, 0.4], "method": ["ppi"] * 2 + ["classical"] * 2})
    >>> len(interval_widths(c).get_legend().get_texts())
    2
    """
    ax = _ax(ax, figsize=(6.5, 4))
    sns.lineplot(data=curve, x=n, y=width, hue=method, marker="o", errorbar=("pi", 50), ax=ax)
    ax.set_xlabel("answers labelled by people (n)")
    ax.set_ylabel("width of the 95% interval\n(share of correct answers)")
    ax.set_ylim(bottom=0)
    return ax


def evidence_and_abstentions(answers: pd.DataFrame, *, question="question_id", recall="evidence_recall", abstained="abstained",
                             answerable="answerable", ax=None):
    """Per question: was the gold evidence in the context, and did the generator abstain?

    One bar per question, its height the evidence recall (share of the gold
    spans whole in the context); blue when the generator answered, red when
    it said the segments do not hold the answer. Questions the lectures do
    not answer get a grey bar at full height: abstaining is right there.

    Examples
    --------
    >>> ax = evidence_and_abstentions(pd.DataFrame({"question_id": ["q1", "q2", "q3"], "evidence_recall": [1.0, 0.0, np.nan],
    ...                                             "abstained": [False, True, True], "answerable": [True, True, False]}))
    >>> [round(p.get_height(), 1) for p in ax.patches]
    [1.0, 0.0, 1.0]
    """
    ax = _ax(ax, figsize=(10, 3.6))
    df = answers.sort_values(question).reset_index(drop=True)
    x = np.arange(len(df))
    ok = df[answerable].astype(bool).to_numpy()
    abst = df[abstained].astype(bool).to_numpy()
    height = np.where(ok, df[recall].fillna(0.0).to_numpy(float), 1.0)
    colour = np.where(~ok, "0.75", np.where(abst, "tab:red", "tab:blue"))
    bars = ax.bar(x, np.maximum(height, 0.0), color=colour)
    for i in np.flatnonzero(~ok & ~abst):  # the lectures do not answer it, and the generator answered anyway
        bars[i].set_hatch("//")
        bars[i].set_edgecolor("tab:red")
    for i in np.flatnonzero(ok & (height == 0)):  # a zero bar is invisible: mark it
        ax.plot(i, 0.02, marker="v", color=colour[i], markersize=6)
    ax.set_xticks(x, df[question], rotation=90)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("evidence recall")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="tab:blue", label="answered"), Patch(color="tab:red", label="abstained"),
                       Patch(color="0.75", label="not answerable, abstained (right)"),
                       Patch(facecolor="0.75", edgecolor="tab:red", hatch="//", label="not answerable, answered (made up)")],
              loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=4, fontsize="small")
    n_ok = int(ok.sum())
    ax.set_title(f"evidence recall {np.nanmean(df.loc[ok, recall]) if n_ok else float('nan'):.2f} on {n_ok} answerable questions; "
                 f"abstained on {int((abst & ok).sum())} of them and on {int((abst & ~ok).sum())} of {int((~ok).sum())} unanswerable")
    return ax
