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
# **Question:** on this run's answers with known labels, how do the judge's
# scores spread, how often does its label match the human one (beyond
# chance), and for which questions does it not? The study's own records are
# analysed in 08, the public LLMJudge benchmark in 09.

# %% tags=["parameters"]
run_dir: str = "data/runs/sample"  # run folder written by 01-04; the figures and tables go here too
cache_dir: str = "data/cache"  # unused here; kept so every notebook takes the same two folders
answer_bank: str = "data/sample/answer_bank.csv"  # answers with known labels that 04 judged (empty for none)
annotations: list = []  # human labels of generated answers: CSV or XLSX files (question_id, label, annotator)
label_order: list = ["I", "P", "C"]  # human labels from worst to best (ordinal order for weighted statistics)
label_map: dict = {3: "C", 2: "P", 1: "P", 0: "I"}  # 0-3 score to automated label (the study’s)
bootstrap: int = 1000  # bootstrap resamples for the intervals (whole questions are resampled)
seed: int = 0  # bootstrap seed

# %%
from helpers import agreement, analysis, plots, runs
from helpers import annotations as ann

label_map = {int(k): v for k, v in label_map.items()}
labels = tuple(label_order)
human = ann.read_annotations(annotations, labels=labels) if annotations else None
ev = analysis.from_run(run_dir, label_map=label_map, annotations=human, answer_bank=answer_bank)
ev["correctness_label"] = analysis.correctness_labels(ev, labels=labels)  # cut-offs fitted on other questions
runs.write_table(ev.astype({"human": str, "judge_label": str}).replace({"nan": None, "None": None}), run_dir, "evaluation")
print(f"{len(ev)} judged units, {int(ev['human'].notna().sum())} with a human label, "
      f"{int(ev['score'].isna().sum())} judge scores missing (unreadable replies or invalid labels), "
      f"{int((ev['injection_flag'].fillna('') != '').sum())} answers flagged as talking to the grader (see 07)")
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
# a judge 04 did not run (no correctness grades) is left out of the table
heads = analysis.judge_agreement(
    ev, judges={"answer relevance (study)": "judge_label", "answer correctness": "correctness_label"},
    labels=labels, statistics=["cohen_kappa_quadratic", "cohen_kappa", "gwet_ac1"], n_boot=bootstrap, seed=seed)
fig = plots.forest(heads, y="statistic", hue="judge", xlabel="agreement with the human label")
plots.savefig(fig, runs.figure_path(run_dir, "05_headline"))
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
plots.savefig(plots.score_by_label(ev, labels=labels), runs.figure_path(run_dir, "05_score_by_label"))
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
plots.savefig(plots.confusion(ev, labels=labels), runs.figure_path(run_dir, "05_confusion"))
labelled = ev[ev["human"].notna()]  # n_missing then counts the judge's unreadable replies only
summary = agreement.agreement_summary(labelled["human"], labelled["judge_label"], labels=labels,
                                      groups=labelled["question_id"], n_boot=bootstrap, seed=seed)
runs.write_table(summary, run_dir, "agreement")
plots.savefig(plots.agreement_intervals(summary), runs.figure_path(run_dir, "05_agreement"))
print(summary.round(3).to_string())
# several annotators: each against the others and the judge (no rows with one annotator)
analysis.rater_agreement(ev, labels=labels).round(3)

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
plots.savefig(plots.per_question(ev, labels=labels), runs.figure_path(run_dir, "05_per_question"))
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
sweep = agreement.cutoff_sweep(ev["score"], ev["human"], labels=labels)
plots.savefig(plots.cutoff_heatmap(sweep), runs.figure_path(run_dir, "05_cutoffs"))
print(sweep.head(5).round(3).to_string())

# %% [markdown]
# ## Judge stability
#
# With `judge.repetitions > 1` (and temperature > 0) each answer is judged
# several times; an item whose label flips between repetitions cannot be
# trusted to a single judgment.

# %%
j = runs.read_table(run_dir, "judgments")
stab = analysis.stability(j, label_map=label_map)  # no rows when every answer was judged once
plots.savefig(plots.stability_plot(stab), runs.figure_path(run_dir, "05_stability"))
stab.sort_values("flip_rate", ascending=False).head(10).round(2)

# %% [markdown]
# ## What to learn from this
#
# Read the headline before the rest: a judge that sees only the question and
# the answer can agree with people only as far as relevance and correctness
# go together, and on the answer bank they part ways (every wrong answer in
# it is on topic). The confusion matrix shows where: the I row is the one
# Answer Relevance gets wrong. Chance-corrected statistics with intervals
# from whole questions say how much of the agreement is more than luck, and
# the cut-off sweep warns that a map chosen on the same answers flatters
# itself. Notebook 06 asks which judge does better, and at what cost.
