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
# # 08 · The study's records: what its judge said, beside what its annotators said
#
# **Question:** read back from the study's released records (`data/paper/`,
# the Markdown each answered question was stored as), how do the judge's
# *Answer Relevance* scores sit beside the human C/P/I labels? No model runs
# here: the numbers are the records' own (manual label, Answer Relevance
# 0.33 or 1.00, automated label), so these figures reproduce the study's.

# %% tags=["parameters"]
run_dir: str = "data/runs/paper"  # run folder where the figures and tables go
cache_dir: str = "data/cache"  # unused here; kept so every notebook takes the same two folders
records: list = ["data/paper/*.md"]  # the study's records: files or glob patterns
label_order: list = ["I", "P", "C"]  # human labels from worst to best (ordinal order for weighted statistics)
label_map: dict = {3: "C", 2: "P", 1: "P", 0: "I"}  # 0-3 score to automated label (the study’s; a record that disagrees is flagged)
bootstrap: int = 0  # bootstrap resamples for the intervals (0: none; two records give no meaningful interval)
seed: int = 0  # bootstrap seed
paper_figures_dir: str = ""  # also copy the figures here (configs/paper.yaml: figures/, committed)

# %%
from helpers import agreement, analysis, plots, runs, segments

label_map = {int(k): v for k, v in label_map.items()}
labels = tuple(label_order)
ev = analysis.from_records(segments.expand_paths(records), label_map=label_map)
ev["correctness_label"] = analysis.correctness_labels(ev, labels=labels)
runs.write_table(ev.astype({"human": str, "judge_label": str}).replace({"nan": None, "None": None}), run_dir, "evaluation")
# each figure into the run folder, and a copy into paper_figures_dir when one is given
save = lambda fig, name: plots.savefig(fig, runs.figure_path(run_dir, f"08_{name}"),
                                       copy_to=paper_figures_dir)

print(f"{len(ev)} records, {int(ev['human'].notna().sum())} with a human label")
ev[["question_id", "human", "score", "judge_label"]]

# %% [markdown]
# ## How are the scores spread, and do they follow the human label?
#
# Answer Relevance is the judge's 0-3 score divided by 3. If the judge agrees
# with people, answers they called correct (C) sit at 1.00 and wrong ones (I)
# at 0; a judge whose bars look the same for every human label is not telling
# the answers apart. Remember that Answer Relevance never sees the lecture:
# a fluent, on-topic but *wrong* answer can still earn a 3.

# %%
save(plots.score_by_label(ev, labels=labels), "score_by_label")
ev.groupby("human", dropna=False)["score"].describe()[["count", "mean"]].round(2)

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
save(plots.confusion(ev, labels=labels), "confusion")
labelled = ev[ev["human"].notna()]
summary = agreement.agreement_summary(labelled["human"], labelled["judge_label"], labels=labels,
                                      groups=labelled["question_id"], n_boot=bootstrap, seed=seed)
runs.write_table(summary, run_dir, "agreement")
save(plots.agreement_intervals(summary), "agreement")
summary.round(3)

# %% [markdown]
# ## Question by question
#
# Each row is one judged answer: the square is the human label (I at 0, P at
# 1.5, C at 3), the dot the judge's score, red where the labels differ.
# Disagreements come first. The grey bar is how far apart the top-k retrieval
# cosines lie: a narrow spread means the retriever could barely tell the
# segments apart, which often goes with weak answers.

# %%
save(plots.per_question(ev, labels=labels), "per_question")

# %% [markdown]
# ## What to learn from this
#
# Two records are far too few to measure agreement (that is why `bootstrap`
# is 0 here): they show the study's format and its judge's scale. Its judge
# scored *Answer Relevance* on 0-3 and mapped 3 to C and 1-2 to P, so an
# answer's label follows from how well it addresses the question, never
# from whether it is right. Notebooks 05 and 06 measure what that costs on
# answers whose labels we know; `helpers.records.read_records` reads any
# run's records (04 writes them in this format) the same way.
