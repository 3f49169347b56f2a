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
# # 04 · Judge: how relevant, how well supported, as an LLM judge sees it
#
# **Question:** what does an LLM judge say about each answer (the study's
# *Answer Relevance*, with its chain of thought), about each retrieved segment
# (*context relevance*) and about how well the answer rests on the segments
# (*groundedness*)?

# %% tags=["parameters"]
run_dir: str = "data/runs/sample"  # run folder written by 01-03
cache_dir: str = "data/cache"  # content-addressed cache: a judgment already made costs nothing
backend: str = "llama_cpp"  # llama_cpp, transformers or openai (see 03_generate)
model: str = "default"  # default: Qwen2.5-Coder-1.5B-Instruct Q4_K_M; else a path, an id or a server’s model name
base_url: str = ""  # openai backend only
api_key_env: str = ""  # openai backend only: NAME of the environment variable holding the key
n_ctx: int = 4096  # llama_cpp context window in tokens
metrics: list = ["answer_correctness", "answer_relevance", "context_relevance", "groundedness"]  # correctness + the RAG triad
correctness_variant: str = "fewshot-en+ref"  # how answer_correctness asks (helpers.correctness.VARIANTS; 06_judge_lab compares them)
correctness_cutoffs: list = []  # [c1, c2] turning its expected grade into I/P/C (06 prints them); []: the variant's own for the default model
guard: bool = True  # defend every judge against the answer it grades (helpers.attacks; 07 measures what it stops)
language: str = "en"  # judge prompt language: en (the study’s TruLens prompts) or pt
repetitions: int = 1  # judge each item this many times (stability; use temperature > 0 for sampled variation)
temperature: float = 0.0  # 0: greedy
seed: int = 0  # first seed; repetition r uses seed + r
max_tokens: int = 150  # longest chain of thought, in tokens
max_retries: int = 1  # re-ask this many times when a reply has no readable score, then store it as missing
context_relevance_top: int = 3  # score context relevance of the top-n segments (0: all retrieved)
context_relevance_reasons: bool = False  # False: one digit in one forward pass (G-Eval expected score); True: with reasons
answer_relevance_reasons: bool = False  # True: the study's Criteria / Supporting Evidence / Score; False: one digit, expected score
groundedness_reasons: bool = False  # True: evidence per claim, then the score; False: one digit, expected score
groundedness_answer_bank: bool = True  # also judge the answer bank against the segments the generator saw
answer_bank: str = "data/sample/answer_bank.csv"  # extra answers with known labels to judge (empty for none)
label_map: dict = {3: "C", 2: "P", 1: "P", 0: "I"}  # 0-3 score to automated label (the study’s: 0.33 -> P, 1.00 -> C)

# %%
from helpers import analysis, embeddings, judge, llm, plots, retrieval, runs

questions = runs.read_table(run_dir, "questions")
run = dict(  # the tables the judges read: what 01-03 wrote
    answers=runs.read_table(run_dir, "answers"), questions=questions, path=f"{run_dir}/questions.parquet",
    retrievals=runs.read_table(run_dir, "retrievals"), segments=runs.read_table(run_dir, "segments"),
)
bank = retrieval.read_answer_bank(answer_bank, questions=questions) if answer_bank else None  # labelled answers
judge_llm = llm.get_llm(
    {"backend": backend, "model": model, "base_url": base_url, "api_key_env": api_key_env, "n_ctx": n_ctx},
    cache_dir=cache_dir,
)
options = dict(language=language, repetitions=repetitions, temperature=temperature, seed=seed,
               max_tokens=max_tokens, max_retries=max_retries, label_map={int(k): v for k, v in label_map.items()},
               guard=guard, correctness_variant=correctness_variant, correctness_cutoffs=correctness_cutoffs,
               context_relevance_top=context_relevance_top,
               groundedness_answer_bank=groundedness_answer_bank)
reasons = {"answer_relevance": answer_relevance_reasons, "context_relevance": context_relevance_reasons,
           "groundedness": groundedness_reasons}  # False: one digit, read as an expected score

# %% [markdown]
# ## Every judge, once
#
# Each judge in `metrics` scores the items it applies to (the sections below
# say what each one sees), and the cheap non-LLM baselines score the answers
# against the reference. Everything goes through the cache: a judgment
# already made costs nothing, and a stopped run resumes where it stopped. A
# reply whose score cannot be read is kept with its status, never filled in.

# %%
judgments = judge.judge_metrics(judge_llm, metrics, answer_bank=bank, reasons=reasons, **run, **options,
                                embedder=embeddings.get_embedder(**runs.embedding_spec(run_dir)))
runs.write_table(judgments, run_dir, "judgments")
runs.record_model(run_dir, "judge", judge_llm.describe())  # file and sha256, even when nothing was loaded
failed = judgments["status"] != "ok"
print(f"{len(judgments)} judgments, {int(judgments['cache_hit'].sum())} from the cache, {judge_llm.calls} LLM calls now; "
      f"{int(failed.sum())} without a readable score ({failed.mean():.1%})")
judgments.groupby(["metric", "status"]).size().rename("judgments").reset_index()

# %% [markdown]
# ## Answer Relevance, as the study scored it
#
# The judge sees only the question (PROMPT) and the answer (RESPONSE), never
# the transcripts: it grades whether the answer *addresses the whole
# question*, not whether it is true. The study's judge writes its criteria
# and evidence before the score, `Criteria: ... Supporting Evidence: ...
# Score: N` (`answer_relevance_reasons=True`); by default it answers with the
# digit alone, and the probabilities of 0-3 give an expected score in one
# forward pass, about four times cheaper on a CPU. On the labelled answers
# the two agree on the digit for 27 of 29 answers, and neither tells right
# from wrong. N/3 is the study's Answer Relevance (1 -> 0.33, 3 -> 1.00). Besides the
# generated answers it grades the sample's *answer bank*: for every question a
# correct, a partial and a wrong answer written and labelled by people, so 05
# can measure the judge against known labels.

# %%
ar = judgments[judgments["metric"] == "answer_relevance"]  # no rows when metrics leaves it out
print(ar.groupby("answer_source")["score"].agg(["count", "mean"]).round(2))
example = ar.dropna(subset=["score"]).head(1)  # one reply in full
print(example[["question_id", "answer_source", "score", "label"]].to_string(index=False))
print("\n".join(example["raw"]))

# %% [markdown]
# ## Answer correctness: is the answer right?
#
# Relevance is not correctness. This judge also reads the question's
# *reference answer* and grades on the labels' own scale: 2 correct, 1
# partial, 0 wrong. The default variant shows the small model three worked
# examples from another subject (a near miss, a paraphrase, a partial
# answer) and reads its one-digit reply's probabilities: the expected grade
# sum g x p(g) goes from 0 to 2. A small judge is more generous with some
# questions than others whatever the answer, so the default (`+ref`) also
# grades the reference itself and reports the difference, E[g | answer] -
# E[g | reference], from -2 to 2: one call more per question, and cut-offs
# fitted on it carry from question to question. Its label comes from such
# cut-offs, fitted once on the sample's 196 labelled answers and shipped with
# the variant: the small model's most probable digit alone is "1" for nearly
# every answer. Beside it, the cheap baselines that
# compare words or embeddings with the reference; notebook 06 compares them
# all, and other ways of asking, on every labelled answer.

# %%
ac = judgments[judgments["metric"] == "answer_correctness"]
print(ac.groupby("answer_source")["expected_score"].agg(["count", "mean"]).round(2))
print(ac.groupby(["answer_source", "label"]).size().unstack(fill_value=0))  # the labels the shipped cut-offs give
# the cheap baselines against the same reference: token F1, exact match, ROUGE-L, the E5 cosine
base = judgments[judgments["metric"].isin(analysis.BASELINES)]
base.pivot_table(index="answer_source", columns="metric", values="score").round(2)

# %% [markdown]
# ## The other two legs of the RAG triad
#
# *Context relevance* asks whether each retrieved segment helps answer the
# question: it judges the retriever. By default the judge answers with one
# digit and we read its probabilities for 0, 1, 2 and 3, which gives an
# *expected score* (G-Eval) in a single forward pass, ten times cheaper than a
# chain of thought. *Groundedness* asks whether each claim of the generated
# answer is supported by the segments the generator saw: it catches answers
# that are relevant but made up. On the sample it also grades the answer
# bank against the same segments, so 05 can ask which metric tells a wrong
# answer from a right one.

# %%
# context relevance per retrieved segment, groundedness per answer (the bank's too: is a wrong answer unsupported?)
triad = judgments[judgments["metric"].isin(["context_relevance", "groundedness"])]
triad.groupby(["metric", "answer_source"])[["score", "expected_score"]].agg(["count", "mean"]).round(2)

# %% [markdown]
# ## Score distributions
#
# Bars show the share of each score per metric (answer relevance split into
# generated answers and the bank's C/P/I answers). A useful judge gives the
# bank's correct answers 3s and its wrong answers 0s; if every bar looks the
# same, the judge is not telling the answers apart. "missing" counts replies
# whose score could not be read: they are reported, never filled in.

# %%
fig = plots.judge_scores(judgments[~judgments["metric"].isin(analysis.BASELINES)])  # the judges' digits, not F1 or cosines
plots.savefig(fig, runs.figure_path(run_dir, "04_judge_scores"))
judgments.pivot_table(index="metric", values=["score", "expected_score"], aggfunc="mean").round(2)

# %% [markdown]
# ## The run in the study's own format
#
# Each answered question is also written as a Markdown record shaped exactly
# like the study's (`data/paper/`): the question, the ten retrieved segments
# with their scores and times, the answer, the Answer Relevance, the automated
# label and the judge's reasoning. `helpers.records.read_records` reads them
# back, so the analysis (05) treats this run and the paper alike.

# %%
from pathlib import Path

from helpers import records

rec_q, rec_r = records.records_from_run(run_dir)
rec_q = rec_q[rec_q["run_question_id"].isin(run["answers"]["question_id"])]
paths = records.write_records(rec_q, rec_r[rec_r["question_id"].isin(rec_q["question_id"])], f"{run_dir}/records")
print(f"{len(rec_q)} records in {run_dir}/records/, e.g.\n")
print(Path(sorted(paths)[0]).read_text(encoding="utf-8")[:1500])
