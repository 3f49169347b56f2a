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
# # 02 · Retrieve: which segments does each question find?
#
# **Question:** for every question, which ten segments does the index return,
# and are the segments that hold the answer among them?

# %% tags=["parameters"]
run_dir: str = "data/runs/sample"  # run folder written by 01_build_index
cache_dir: str = "data/cache"  # content-addressed cache of embeddings
questions: str = "data/sample/questions.csv"  # question file: question_id, question, reference_answer, gold_spans
top_k: int = 10  # segments retrieved per question (the study: 10)
reference_records: list = ["data/paper/*.md"]  # study records whose scores are drawn beside ours ([] for none)

# %%
import json

from helpers import cache, embeddings, index, plots, retrieval, runs

segs = runs.read_table(run_dir, "segments")
emb = embeddings.get_embedder(**runs.embedding_spec(run_dir))  # the embedder 01 used, as it recorded it
idx = index.load_index(f"{run_dir}/index.faiss")

qs = retrieval.read_questions(questions)
store = cache.ContentCache(f"{cache_dir}/embeddings.sqlite", namespace="embedding")
qvecs = embeddings.embed_cached(emb, qs["question"].tolist(), kind="query", cache=store)
rets = retrieval.retrieve(idx, qvecs, qs["question_id"], segs, top_k=top_k)
runs.write_table(qs.assign(gold_spans=qs["gold_spans"].map(json.dumps), gold_segment_ids=qs["gold_segment_ids"].map(json.dumps)),
                 run_dir, "questions")
runs.write_table(rets, run_dir, "retrievals")
rets.merge(segs[["segment_id", "start_s", "end_s"]], on="segment_id").head(12)

# %% [markdown]
# ## How close are the scores?
#
# Each dot is one retrieved segment's cosine similarity to the question. In
# the study, all ten scores of a question sat between 0.83 and 0.86 (grey
# dots, from its records): E5 cosines are squeezed into a narrow band, because
# every pair of texts in the same language and domain already shares a lot.
# The *absolute* value therefore says little about whether a segment holds the
# answer; only the *order* of the segments matters, which is why the next
# stages use ranks, not scores.

# %%
# each study record holds one question and its ten retrieved segments with their scores ([]: none drawn)
ref = retrieval.study_retrievals(reference_records)
fig = plots.retrieval_scores(rets, reference=ref)
plots.savefig(fig, runs.figure_path(run_dir, "02_retrieval_scores"))

# %% [markdown]
# ## Did we find the answer?
#
# Where the question file says where the answer is spoken (`gold_spans`), a
# segment is relevant if it covers that moment. *Recall@k* is the share of
# gold spans found among the top k segments; *MRR* (mean reciprocal rank)
# averages 1/rank of the first relevant segment, so it rewards finding the
# answer at rank 1. Questions the lectures do not answer have no gold span and
# are left out of both.

# %%
metrics = retrieval.retrieval_metrics(rets, qs, segs)
runs.write_table(metrics, run_dir, "retrieval_metrics")
summary = retrieval.summarise_metrics(metrics)
print(summary.round(3).to_string())
fig = plots.recall_at_k(metrics)
plots.savefig(fig, runs.figure_path(run_dir, "02_recall_at_k"))
metrics  # noqa: B018 -- the cell's last expression: the notebook shows the table
