# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Analyze: can the LLM judge stand in for the human annotators, and where not?
#
# **Question:** how do the judge's scores spread, how often does its label
# match the human one (beyond chance), and for which questions does it not?

# %% tags=["parameters"]
run_dir: str = "data/runs/sample"  # run folder: inputs of source run, and where figures and tables go
cache_dir: str = "data/cache"  # unused here; kept so every notebook takes the same two folders
source: str = "run"  # run (this suite’s judgments), records (the study’s Markdown records) or llmjudge (public benchmark)
records: list = []  # source records: record files or glob patterns
llmjudge_dir: str = "../shared/data/llmjudge"  # source llmjudge: folder of the LLMJudge benchmark
answer_bank: str = "data/sample/answer_bank.csv"  # source run: answers with known labels that 04 judged (empty for none)
annotations: list = []  # human labels of generated answers: CSV or XLSX files (question_id, label, annotator)
label_order: list = ["I", "P", "C"]  # human labels from worst to best (ordinal order for weighted statistics)
label_map: dict = {3: "C", 2: "P", 1: "P", 0: "I"}  # 0-3 score to automated label (the study’s)
bootstrap: int = 1000  # bootstrap resamples for the intervals (whole questions are resampled)
seed: int = 0  # bootstrap seed
paper_figures_dir: str = ""  # also save the figures here (configs/paper.yaml: figures/)

# %%
import shutil
from pathlib import Path

import pandas as pd

from helpers import agreement, analysis, annotations as ann, plots, runs, segments

label_map = {int(k): v for k, v in label_map.items()}
labels = tuple(label_order)


def save(fig, name):
    path = plots.savefig(fig, runs.figure_path(run_dir, f"05_{name}"))
    if paper_figures_dir:
        Path(paper_figures_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(paper_figures_dir) / Path(path).name)
    return path


if source == "run":
    human = ann.read_annotations(annotations, labels=labels) if annotations else None
    ev = analysis.from_run(run_dir, label_map=label_map, annotations=human, answer_bank=answer_bank)
elif source == "records":
    ev = analysis.from_records(segments.expand_paths(records), label_map=label_map)
elif source == "llmjudge":
    raw = ann.read_llmjudge(llmjudge_dir)
    ev = analysis.from_llmjudge(raw)
    labels = (0, 1, 2, 3)
else:
    raise ValueError(f"source must be run, records or llmjudge, not {source!r}")
ev["correctness_label"] = analysis.correctness_labels(ev, labels=labels)  # cut-offs fitted on other questions
Path(run_dir).mkdir(parents=True, exist_ok=True)
runs.write_table(ev.astype({"human": str, "judge_label": str}).replace({"nan": None, "None": None}), run_dir, "evaluation")
print(f"{len(ev)} judged units, {int(ev['human'].notna().sum())} with a human label, "
      f"{int(ev['score'].isna().sum())} judge scores missing (unreadable replies or invalid labels)")
ev.head()

# %% [markdown]
# ## Headline: relevance against correctness
#
# Two judges, the same labelled answers. *Answer Relevance* (the study's)
# sees the question and the answer; *answer correctness* also reads the
# reference answer and gives an expected grade from 0 (wrong) to 2
# (correct). Its C/P/I cut-offs are fitted on the *other* questions' answers
# (leave one question out), never on the answer being labelled. Agreement
# with its 95% interval (whole questions resampled); 0 is chance.

# %%
if source == "run" and ev["correctness"].notna().any():
    labelled = ev[ev["human"].notna()]
    heads = pd.concat([
        agreement.agreement_summary(labelled["human"], labelled[col], labels=labels, groups=labelled["question_id"],
                                    n_boot=bootstrap, seed=seed).assign(judge=name)
        for name, col in (("answer relevance (study)", "judge_label"), ("answer correctness", "correctness_label"))
    ])
    heads = heads[heads["statistic"].isin(["cohen_kappa_quadratic", "cohen_kappa", "gwet_ac1"])]
    save(plots.forest(heads, y="statistic", hue="judge", xlabel="agreement with the human label"), "headline")
    print(heads.pivot(index="statistic", columns="judge", values="value").round(3).to_string())

# %% [markdown]
# ## How are the scores spread, and do they follow the human label?
#
# Answer Relevance is the judge's 0-3 score divided by 3. If the judge agrees
# with people, answers they called correct (C) sit at 1.00 and wrong ones (I)
# at 0; a judge whose bars look the same for every human label is not telling
# the answers apart. Remember that Answer Relevance never sees the lecture:
# a fluent, on-topic but *wrong* answer can still earn a 3.

# %%
if source != "llmjudge":
    save(plots.score_by_label(ev, labels=labels), "score_by_label")
    print(ev.groupby("human", dropna=False)["score"].describe()[["count", "mean"]].round(2))

# %% [markdown]
# ## Confusion matrix and agreement beyond chance
#
# Raw agreement flatters a judge when one label dominates: if most answers are
# correct, always saying C agrees often. The title shows that *majority
# baseline*. Chance-corrected statistics subtract what chance would give:
# Cohen's kappa (unweighted counts every disagreement alike; linear and
# quadratic weights count I-vs-C as worse than P-vs-C), Krippendorff's alpha
# (ordinal) and Gwet's AC1 (more stable when one label dominates). The
# intervals come from resampling whole questions, so several answers to one
# question do not count as independent evidence.

# %%
if source != "llmjudge":
    save(plots.confusion(ev, labels=labels), "confusion")
    labelled = ev[ev["human"].notna()]  # n_missing then counts the judge's unreadable replies only
    summary = agreement.agreement_summary(labelled["human"], labelled["judge_label"], labels=labels,
                                          groups=labelled["question_id"], n_boot=bootstrap, seed=seed)
    if ev["annotator"].nunique() > 1 and annotations:
        pairs = agreement.pairwise_agreement(
            pd.concat([ev[["unit", "annotator", "human"]].rename(columns={"annotator": "rater", "human": "label"}),
                       ev[["unit", "judge_label"]].assign(rater="judge").rename(columns={"judge_label": "label"})]),
            rater_col="rater", unit_col="unit", label_col="label", labels=labels)
        print(pairs.round(3).to_string())
    runs.write_table(summary, run_dir, "agreement")
    save(plots.agreement_intervals(summary), "agreement")
    print(summary.round(3).to_string())

# %% [markdown]
# ## Question by question
#
# Each row is one judged answer: the square is the human label (I at 0, P at
# 1.5, C at 3), the dot the judge's score, red where the labels differ.
# Disagreements come first. The grey bar is how far apart the top-k retrieval
# cosines lie: a narrow spread means the retriever could barely tell the
# segments apart, which often goes with weak answers. The table then asks which
# judge metric follows the human label best (Spearman's rho; `n` says on how
# many answers each metric could be compared).

# %%
if source != "llmjudge":
    save(plots.per_question(ev, labels=labels), "per_question")
    print(analysis.metric_association(ev, labels=labels).round(3).to_string())

# %% [markdown]
# ## Which cut-offs?
#
# The study maps 3 to C, 1-2 to P and 0 to I but does not say why. Every
# monotone map is a pair of cut-offs: below c1 is I, from c2 up is C. The
# heatmap shows quadratic kappa for each pair, the study's map outlined. Pick
# a map on one set of questions and check it on another, or the best cell is
# an optimistic estimate.

# %%
if source != "llmjudge" and ev["human"].notna().sum() >= 3:
    sweep = agreement.cutoff_sweep(ev["score"], ev["human"], labels=labels)
    save(plots.cutoff_heatmap(sweep), "cutoffs")
    print(sweep.head(5).round(3).to_string())

# %% [markdown]
# ## Judge stability
#
# With `judge.repetitions > 1` (and temperature > 0) each answer is judged
# several times; an item whose label flips between repetitions cannot be
# trusted to a single judgment.

# %%
if source == "run":
    j = runs.read_table(run_dir, "judgments")
    if j["repetition"].max() > 0:
        stab = analysis.stability(j, label_map=label_map)
        save(plots.stability_plot(stab), "stability")
        print(stab.sort_values("flip_rate", ascending=False).head(10).round(2).to_string())
    else:
        print("one judgment per answer (judge.repetitions = 1): nothing to compare")

# %% [markdown]
# ## LLMJudge: 33 judges against TREC assessors
#
# With `source = "llmjudge"` the same statistics rank 33 LLM judges on 4,423
# query-passage pairs with human 0-3 labels. The heatmap shows each judge's
# quadratic kappa within each query (judges ordered best first): a judge can
# agree well on average and still fail on particular queries. Quadratic
# weights suit a 0-3 relevance scale, where calling a 3 a 2 is a smaller
# error than calling it a 0.

# %%
if source == "llmjudge":
    invalid = pd.Series(raw.attrs["invalid"], name="invalid labels")
    print(invalid[invalid > 0].to_string())
    rows = []
    for judge, g in ev.groupby("answer_source"):
        s = agreement.agreement_summary(g["human"], g["score"], labels=labels, groups=g["question_id"], n_boot=bootstrap, seed=seed)
        rows.append(s.assign(judge=judge))
    summary = pd.concat(rows, ignore_index=True)
    runs.write_table(summary, run_dir, "agreement")
    save(plots.judge_ranking(summary, statistic="cohen_kappa_quadratic"), "judge_ranking")
    per_query = pd.concat(
        agreement.per_group_agreement(g, group_col="question_id", a_col="human", b_col="score", labels=labels,
                                      statistic="cohen_kappa_quadratic").assign(judge=judge)
        for judge, g in ev.groupby("answer_source")
    )
    runs.write_table(per_query, run_dir, "agreement_per_query")
    table = per_query.pivot(index="judge", columns="question_id", values="value")
    order = summary[summary["statistic"] == "cohen_kappa_quadratic"].sort_values("value", ascending=False)["judge"]
    save(plots.per_group_heatmap(table.loc[order], value_label="quadratic kappa"), "per_query")
    best = summary[summary["statistic"] == "cohen_kappa_quadratic"].sort_values("value")
    print(best[["judge", "value", "ci_low", "ci_high", "n", "n_missing"]].round(3).to_string(index=False))
