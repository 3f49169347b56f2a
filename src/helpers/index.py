"""FAISS indexes over normalised embeddings (inner product = cosine).

``flat`` is exact search and the default; ``hnsw`` and ``ivf`` are the
approximate indexes to reach for when a corpus has hundreds of thousands of
segments.
"""

from __future__ import annotations

import numpy as np

__all__ = ["build_index", "search", "save_index", "load_index"]


def build_index(vectors: np.ndarray, index_type: str = "flat", *, hnsw_m: int = 32, ivf_nlist: int | None = None, ivf_nprobe: int = 8):
    """Build a FAISS inner-product index.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, dim)
        L2-normalised embeddings.
    index_type : {"flat", "hnsw", "ivf"}
        Exact search, graph search, or inverted lists.
    hnsw_m : int
        Neighbours per node for HNSW.
    ivf_nlist : int, optional
        Number of IVF lists (default about ``4 * sqrt(n)``, at most ``n``).
    ivf_nprobe : int
        Lists visited per IVF query.

    Returns
    -------
    faiss.Index

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(100, 8)).astype("float32")
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> idx = build_index(x)
    >>> scores, ids = search(idx, x[:2], k=1)
    >>> ids.ravel().tolist()
    [0, 1]
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"need a non-empty (n, dim) array, got shape {x.shape}")
    n, dim = x.shape
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    elif index_type == "ivf":
        nlist = ivf_nlist or max(1, min(n, int(4 * np.sqrt(n))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.nprobe = min(ivf_nprobe, nlist)
    else:
        raise ValueError(f"unknown index type {index_type!r}: use 'flat', 'hnsw' or 'ivf'")
    index.add(x)
    return index


def search(index, queries: np.ndarray, k: int = 10):
    """Top-``k`` neighbours of each query: ``(scores, ids)``, each (n_queries, k).

    Where the index holds fewer than ``k`` vectors, ``k`` is reduced.
    """
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    return index.search(q, min(k, index.ntotal))


def save_index(index, path) -> None:
    """Write an index to a file."""
    import faiss

    faiss.write_index(index, str(path))


def load_index(path):
    """Read an index written by :func:`save_index`."""
    import faiss

    return faiss.read_index(str(path))
