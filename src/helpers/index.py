"""FAISS indexes over normalised embeddings (inner product = cosine).

``flat`` is exact search and the default; ``hnsw`` and ``ivf`` are the
approximate indexes to reach for when a corpus has hundreds of thousands of
segments. Their parameters default to :func:`index_presets`, which scale the
search effort with the corpus so that recall@10 against exact search stays
at or above 0.95 (measured up to a million clustered 384-dimension vectors by
``make bench`` / ``benchmarks/run.py search_scale``).
"""

from __future__ import annotations

import math
import time

import numpy as np

from .files import write_atomic

__all__ = ["INDEX_TYPES", "index_presets", "build_index", "describe_index", "search", "save_index", "load_index"]

#: The index types :func:`build_index` knows.
INDEX_TYPES = ("flat", "hnsw", "ivf")

#: IVF k-means trains on at most this many vectors per list.
IVF_TRAIN_POINTS_PER_LIST = 64
#: ... and needs at least this many (FAISS warns below it), which caps nlist for small corpora.
IVF_MIN_POINTS_PER_LIST = 39
#: An IVF query scans at least this many vectors (a fraction of a millisecond): small corpora probe most lists.
IVF_MIN_SCANNED = 2000


def index_presets(n: int) -> dict:
    """Default :func:`build_index` parameters for a corpus of ``n`` vectors.

    - ``hnsw_m`` 32 neighbours per node, ``hnsw_ef_construction`` 80 (with
      FAISS's default of 40, 100k clustered vectors needed about twice the
      ``hnsw_ef_search`` for the same recall);
    - ``hnsw_ef_search`` is the power of two at or above ``sqrt(n) / 4``, at
      least 64: 64 up to 65k vectors, 128 at 100k, 256 at a million
      (measured on a million clustered vectors, ``make bench search_scale``:
      recall@10 0.922 at 160, 0.950 at 256);
    - ``ivf_nlist`` about ``4 * sqrt(n)`` lists, at most ``n / 39`` (k-means
      wants 39 training vectors a list);
    - ``ivf_nprobe`` grows with ``sqrt(nlist)`` (at least 8 lists, and enough
      lists to scan 2000 vectors): every list below about 2.5k vectors, 51
      of 256 at 10k, 25 at 100k, 32 at a million.

    Examples
    --------
    >>> p = index_presets(1_000_000)
    >>> p["hnsw_ef_search"], p["ivf_nlist"], p["ivf_nprobe"]
    (256, 4000, 32)
    >>> index_presets(150)["ivf_nlist"], index_presets(150)["ivf_nprobe"]  # a tiny corpus: every list is searched
    (3, 3)
    """
    if n < 1:
        raise ValueError(f"need at least one vector, got n={n}")
    nlist = max(1, min(n // IVF_MIN_POINTS_PER_LIST, int(4 * math.sqrt(n))))
    return {
        "hnsw_m": 32,
        "hnsw_ef_construction": 80,
        "hnsw_ef_search": max(64, 2 ** math.ceil(math.log2(max(1.0, math.sqrt(n) / 4)))),
        "ivf_nlist": nlist,
        "ivf_nprobe": min(nlist, max(8, math.ceil(math.sqrt(nlist) / 2), math.ceil(IVF_MIN_SCANNED * nlist / n))),
    }


def build_index(vectors: np.ndarray, index_type: str = "flat", *, hnsw_m: int | None = None, ivf_nlist: int | None = None,
                ivf_nprobe: int | None = None, hnsw_ef_construction: int | None = None, hnsw_ef_search: int | None = None,
                timings: dict | None = None):
    """Build a FAISS inner-product index.

    Parameters
    ----------
    vectors : numpy.ndarray, shape (n, dim)
        L2-normalised embeddings.
    index_type : {"flat", "hnsw", "ivf"}
        Exact search, graph search, or inverted lists.
    hnsw_m : int, optional
        Neighbours per node for HNSW.
    ivf_nlist : int, optional
        Number of IVF lists. k-means trains on at most
        :data:`IVF_TRAIN_POINTS_PER_LIST` vectors per list.
    ivf_nprobe : int, optional
        Lists visited per IVF query (at most ``nlist``).
    hnsw_ef_construction : int, optional
        Candidates kept while inserting into the HNSW graph.
    hnsw_ef_search : int, optional
        Candidates kept while searching the HNSW graph.
    timings : dict, optional
        Filled with ``train_s`` and ``add_s``, the seconds spent training
        (IVF k-means; 0 for the others) and adding the vectors.

    Every parameter left out (``None`` or 0) takes :func:`index_presets` for
    this corpus size; the search parameters travel with the saved index.

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
    >>> describe_index(build_index(x, "hnsw", hnsw_ef_search=40))["hnsw_ef_search"]
    40
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"need a non-empty (n, dim) array, got shape {x.shape}")
    if index_type not in INDEX_TYPES:
        raise ValueError(f"unknown index type {index_type!r}: use 'flat', 'hnsw' or 'ivf'")
    n, dim = x.shape
    given = {"hnsw_m": hnsw_m, "hnsw_ef_construction": hnsw_ef_construction, "hnsw_ef_search": hnsw_ef_search,
             "ivf_nlist": ivf_nlist, "ivf_nprobe": ivf_nprobe}
    for name, value in given.items():
        if value is not None and value < 0:
            raise ValueError(f"{name} must be positive (or 0/None for the preset), got {value}")
    p = {**index_presets(n), **{k: int(v) for k, v in given.items() if v}}
    t0 = time.perf_counter()
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, p["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = p["hnsw_ef_construction"]
        index.hnsw.efSearch = p["hnsw_ef_search"]
    else:
        nlist = min(n, p["ivf_nlist"])
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST  # FAISS samples the training set
        index.train(x)
        index.nprobe = min(p["ivf_nprobe"], nlist)
    t1 = time.perf_counter()
    index.add(x)
    if timings is not None:
        timings.update(train_s=t1 - t0, add_s=time.perf_counter() - t1)
    return index


def describe_index(index) -> dict:
    """The type and parameters of a built (or loaded) index, for a run's records.

    Examples
    --------
    >>> describe_index(build_index(np.eye(4, dtype="float32"), "hnsw"))
    {'index_type': 'hnsw', 'ntotal': 4, 'dim': 4, 'hnsw_m': 32, 'hnsw_ef_construction': 80, 'hnsw_ef_search': 64}
    """
    import faiss

    out = {"index_type": "flat", "ntotal": int(index.ntotal), "dim": int(index.d)}
    if isinstance(index, faiss.IndexHNSW):
        out.update(index_type="hnsw", hnsw_m=int(index.hnsw.nb_neighbors(1)),
                   hnsw_ef_construction=int(index.hnsw.efConstruction), hnsw_ef_search=int(index.hnsw.efSearch))
    elif isinstance(index, faiss.IndexIVF):
        out.update(index_type="ivf", ivf_nlist=int(index.nlist), ivf_nprobe=int(index.nprobe))
    return out


def search(index, queries: np.ndarray, k: int = 10):
    """Top-``k`` neighbours of each query: ``(scores, ids)``, each (n_queries, k).

    Where the index holds fewer than ``k`` vectors, ``k`` is reduced.
    """
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    return index.search(q, min(k, index.ntotal))


def save_index(index, path) -> None:
    """Write an index to a file."""
    import faiss

    write_atomic(path, lambda tmp: faiss.write_index(index, str(tmp)))


def load_index(path):
    """Read an index written by :func:`save_index`."""
    import faiss

    return faiss.read_index(str(path))
