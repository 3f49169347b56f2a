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
# # 09 · LLMJudge: which of 33 LLM judges agree with the TREC assessors?
#
# **Question:** on the public LLMJudge benchmark (LLM4Eval 2024: 4,423
# query-passage pairs across 25 queries, each with a human 0-3 relevance
# label and 33 LLM judges' labels), how well does each judge agree with the
# people beyond chance, and does a judge that agrees on average agree on
# every query? The same statistics as 05, on a scale of four labels.

# %% tags=["parameters"]
run_dir: str = "data/runs/llmjudge"  # run folder where the figures and tables go
cache_dir: str = "data/cache"  # unused here; kept so every notebook takes the same two folders
llmjudge_dir: str = "../shared/data/llmjudge"  # folder of the LLMJudge benchmark (read in place, never copied)
bootstrap: int = 500  # bootstrap resamples for the intervals (whole queries are resampled)
seed: int = 0  # bootstrap seed

# %%
import pandas as pd

from helpers import agreement, analysis, plots, runs
from helpers import annotations as ann

labels = (0, 1, 2, 3)  # both sides use the 0-3 relevance scale
raw = ann.read_llmjudge(llmjudge_dir)
ev = analysis.from_llmjudge(raw)
ev["correctness_label"] = analysis.correctness_labels(ev, labels=labels)
runs.write_table(ev.astype({"human": str, "judge_label": str}).replace({"nan": None, "None": None}), run_dir, "evaluation")
invalid = pd.Series(raw.attrs["invalid"], name="invalid labels")
print(f"{len(ev)} judged pairs, {ev['answer_source'].nunique()} judges; labels a judge wrote outside 0-3:")
invalid[invalid > 0]

# %% [markdown]
# ## The judges ranked by agreement
#
# Quadratic weights suit a 0-3 relevance scale, where calling a 3 a 2 is a
# smaller error than calling it a 0. The bars are 95% intervals from
# resampling whole queries.

# %%
rows = []
for judge, g in ev.groupby("answer_source"):
    s = agreement.agreement_summary(g["human"], g["score"], labels=labels, groups=g["question_id"], n_boot=bootstrap, seed=seed)
    rows.append(s.assign(judge=judge))
summary = pd.concat(rows, ignore_index=True)
runs.write_table(summary, run_dir, "agreement")
plots.savefig(plots.judge_ranking(summary, statistic="cohen_kappa_quadratic"), runs.figure_path(run_dir, "09_judge_ranking"))
best = summary[summary["statistic"] == "cohen_kappa_quadratic"].sort_values("value")
best[["judge", "value", "ci_low", "ci_high", "n", "n_missing"]].round(3)

# %% [markdown]
# ## Query by query
#
# Each judge's quadratic kappa within each query (judges ordered best
# first): a judge can agree well on average and still fail on particular
# queries.

# %%
per_query = pd.concat(
    agreement.per_group_agreement(g, group_col="question_id", a_col="human", b_col="score", labels=labels,
                                  statistic="cohen_kappa_quadratic").assign(judge=judge)
    for judge, g in ev.groupby("answer_source")
)
runs.write_table(per_query, run_dir, "agreement_per_query")
table = per_query.pivot(index="judge", columns="question_id", values="value")
order = best.sort_values("value", ascending=False)["judge"]
plots.savefig(plots.per_group_heatmap(table.loc[order], value_label="quadratic kappa"), runs.figure_path(run_dir, "09_per_query"))

# %% [markdown]
# ## What to learn from this
#
# Raw agreement and chance-corrected agreement rank judges differently when
# one label dominates, which is why the ranking uses quadratic kappa with
# intervals from whole queries: judges whose intervals overlap are not
# shown apart by these 25 queries. The heatmap's dark cells are the queries
# where a well-ranked judge still fails; a judge's average is not a promise
# about the next query.
