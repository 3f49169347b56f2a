"""FAISS at a million segments: flat (exact) vs HNSW vs IVF with build_index's presets.

The corpus is synthetic but shaped like sentence embeddings rather than iid
Gaussian noise (on which every approximate index looks worse and every
neighbour is equally far): 384-dimension unit vectors drawn around 4096
cluster centres (64 topics of 64 centres each, so neighbouring clusters
overlap), cluster sizes lognormal (a few large topics, many small ones), and
the within-cluster noise anisotropic (variance falling as 1/i along a random
basis, an effective dimension of about 26, as measured for text embeddings).
A query is a corpus vector plus isotropic noise of the same norm as the
vector, so it sits near the data but is no copy of any segment (cosine about
0.7 with the vector it came from, like a question with its passage).

For each index it measures build time (IVF: k-means training separately),
the bytes of the serialised index and the growth of the process's resident
memory, milliseconds per query for a batch of queries and one at a time (a
notebook asks one question at a time), the CPU milliseconds beside the wall
ones (on a busy machine the wall time includes waiting for a core), and
recall@10 against exact search; then sweeps ``hnsw_ef_search`` and
``ivf_nprobe`` on the built indexes. Speed is also given as a ratio against
flat search in the same process.

Run with ``python benchmarks/run.py search_scale`` (``--scale-n 100000`` for a
quick look); results go to ``benchmarks/results/faiss_scale.json``.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS, TARGET_RECALL = 10.0, 0.95


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def rss_bytes() -> int:
    """Resident memory of this process now (Linux; 0 elsewhere), after handing freed heap pages back."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed chunks glibc keeps would otherwise hide an index's growth
    except (OSError, AttributeError):
        pass
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def clustered_vectors(n: int, dim: int = 384, *, n_centres: int = 4096, centres_per_topic: int = 64, noise: float = 1.0,
                      seed: int = 0, chunk: int = 100_000) -> np.ndarray:
    """``n`` unit vectors around ``n_centres`` overlapping cluster centres (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    topics = _unit(rng.standard_normal((max(1, n_centres // centres_per_topic), dim)))
    centres = _unit(topics[rng.integers(len(topics), size=n_centres)] + 0.8 * _unit(rng.standard_normal((n_centres, dim))))
    weights = rng.lognormal(0.0, 1.0, n_centres)
    labels = rng.choice(n_centres, n, p=weights / weights.sum())
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    spectrum = np.arange(1, dim + 1) ** -0.5  # standard deviation along the i-th direction
    spectrum = (spectrum * noise / np.sqrt((spectrum**2).sum())).astype(np.float32)
    centres = centres.astype(np.float32)
    x = np.empty((n, dim), np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        x[s : s + m] = centres[labels[s : s + m]] + (rng.standard_normal((m, dim), dtype=np.float32) * spectrum) @ basis.T
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def perturbed_queries(x: np.ndarray, n_queries: int, *, noise: float = 1.0, seed: int = 1):
    """Corpus vectors plus isotropic noise of norm about ``noise``, normalised: ``(queries, source rows)``."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(x), n_queries, replace=False)
    q = x[rows] + (noise / np.sqrt(x.shape[1])) * rng.standard_normal((n_queries, x.shape[1]), dtype=np.float32)
    return np.ascontiguousarray(_unit(q), dtype=np.float32), rows


def recall_at_k(ids: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k found by the approximate top-k."""
    k = exact.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, exact)]))


def time_search(index, q: np.ndarray, k: int = 10, *, one_at_a_time: bool = False, repeat: int = 2):
    """``((scores, ids), wall ms per query, CPU ms per query)``, the best of ``repeat`` passes.

    One query at a time runs on one thread, as FAISS runs a single query anyway (it
    parallelises across queries); pinning it keeps OpenMP's idle worker, spinning
    between calls, out of the CPU time, so that CPU ms is the query's own cost.
    """
    import faiss

    threads = faiss.omp_get_max_threads()
    if one_at_a_time:
        faiss.omp_set_num_threads(1)
    try:
        return _time_search(index, q, k, one_at_a_time, repeat)
    finally:
        faiss.omp_set_num_threads(threads)


def _time_search(index, q, k, one_at_a_time, repeat):
    best = (float("inf"), float("inf"))
    found = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        if one_at_a_time:
            found = tuple(map(np.vstack, zip(*(index.search(q[i : i + 1], k) for i in range(len(q))))))
        else:
            found = index.search(q, k)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        best = min(best, (wall, cpu))
    return found, 1e3 * best[0] / len(q), 1e3 * best[1] / len(q)


def _machine() -> dict:
    import faiss

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "faiss": faiss.__version__, "faiss_threads": faiss.omp_get_max_threads(),
            "numpy": np.__version__, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
            "load_average_1_5_15_at_start": [round(v, 2) for v in os.getloadavg()]}


def run(n: int = 1_000_000, n_queries: int = 1000, n_single: int = 200, n_single_flat: int = 50, k: int = 10,
        out: Path | None = None) -> dict:
    """Build flat, IVF and HNSW over ``n`` clustered vectors and measure them; write the results as JSON."""
    import faiss

    from helpers.index import build_index, describe_index, index_presets

    t_start = time.perf_counter()
    machine = _machine()
    rss_start = rss_bytes()
    t0 = time.perf_counter()
    x = clustered_vectors(n)
    q, rows = perturbed_queries(x, n_queries)
    gen_s = time.perf_counter() - t0
    log(f"search_scale: {n:,} vectors generated in {gen_s:.1f} s")
    single = q[:n_single]

    def build(kind):
        before, timings = rss_bytes(), {}
        t = time.perf_counter()
        index = build_index(x, kind, timings=timings)
        row = {"params": describe_index(index), "build_s": round(time.perf_counter() - t, 2)}
        if kind == "ivf":
            row["train_s"], row["add_s"] = round(timings["train_s"], 2), round(timings["add_s"], 2)
        row["rss_growth_bytes"] = rss_bytes() - before
        row["index_bytes"] = len(faiss.serialize_index(index))
        log(f"  {kind}: built in {row['build_s']} s, {row['index_bytes'] / 2**20:.0f} MiB")
        return index, row

    # flat: exact search, the ground truth and the baseline of every ratio
    rows_out = {}
    flat, row = build("flat")
    (top, exact), b_ms, b_cpu = time_search(flat, q, k, repeat=1)
    _, s_ms, s_cpu = time_search(flat, q[:n_single_flat], k, one_at_a_time=True, repeat=1)
    row.update({"batch_ms_per_query": b_ms, "batch_cpu_ms_per_query": b_cpu, "single_ms_per_query": s_ms,
                "single_cpu_ms_per_query": s_cpu, "recall@10": 1.0})
    rows_out["flat"] = row
    del flat
    log(f"  flat: batch {b_ms:.2f} ms/query, one at a time {s_ms:.1f} ms/query")

    sweeps = {}
    for kind, knob, values in (("ivf", "ivf_nprobe", (4, 8, 16, 32, 64)), ("hnsw", "hnsw_ef_search", (32, 64, 128, 256, 512))):
        index, row = build(kind)
        preset = row["params"][knob]

        def set_knob(v, index=index, kind=kind):
            if kind == "ivf":
                index.nprobe = v
            else:
                index.hnsw.efSearch = v

        sweep = []
        for v in sorted({*values, preset}):
            set_knob(v)
            (_, ids), b_ms, b_cpu = time_search(index, q, k)
            _, s_ms, s_cpu = time_search(index, single, k, one_at_a_time=True)
            point = {knob: v, "recall@10": round(recall_at_k(ids, exact), 4), "batch_ms_per_query": b_ms,
                     "batch_cpu_ms_per_query": b_cpu, "single_ms_per_query": s_ms, "single_cpu_ms_per_query": s_cpu}
            sweep.append(point)
            log(f"  {kind} {knob}={v}: recall@10 {point['recall@10']:.3f}, batch {b_ms:.3f} ms, one at a time {s_ms:.3f} ms")
            if v == preset:
                row.update({key: val for key, val in point.items() if key != knob})
        set_knob(preset)
        sweeps[knob] = sweep
        rows_out[kind] = row
        del index

    base = rows_out["flat"]
    for _name, row in rows_out.items():
        for mode in ("batch", "single"):
            row[f"{mode}_speedup_vs_flat"] = round(base[f"{mode}_ms_per_query"] / row[f"{mode}_ms_per_query"], 1)
            row[f"{mode}_cpu_speedup_vs_flat"] = round(base[f"{mode}_cpu_ms_per_query"] / row[f"{mode}_cpu_ms_per_query"], 1)
        row["meets_target"] = bool(row["single_ms_per_query"] < TARGET_MS and row["recall@10"] >= TARGET_RECALL)
        row["meets_target_in_cpu_ms"] = bool(row["single_cpu_ms_per_query"] < TARGET_MS and row["recall@10"] >= TARGET_RECALL)
        for key, val in row.items():
            if key.endswith("_ms_per_query"):
                row[key] = round(val, 4)
    for sweep in sweeps.values():
        for point in sweep:
            for key, val in point.items():
                if key.endswith("_ms_per_query"):
                    point[key] = round(val, 4)

    r = np.random.default_rng(5)
    pairs = np.einsum("ij,ij->i", x[r.integers(n, size=5000)], x[r.integers(n, size=5000)])
    machine["load_average_1_5_15_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result = {
        "corpus": {
            "n": n, "dim": int(x.shape[1]), "kind": "clustered synthetic unit vectors (benchmarks/faiss_scale.py)",
            "cluster_centres": 4096, "topics": 64, "within_cluster_noise_norm": 1.0, "query_noise_norm": 1.0,
            "mean_cosine_query_to_its_source": round(float(np.einsum("ij,ij->i", q, x[rows]).mean()), 3),
            "mean_cosine_query_top1_top10": [round(float(top[:, 0].mean()), 3), round(float(top[:, k - 1].mean()), 3)],
            "mean_cosine_random_pair": round(float(pairs.mean()), 3),
            "generate_s": round(gen_s, 1),
        },
        "queries": {"batch": n_queries, "one_at_a_time": n_single, "one_at_a_time_flat": n_single_flat, "k": k,
                    "timing": "best of 2 passes (flat: 1); a batch on all FAISS threads, one at a time on one thread "
                              "(FAISS runs a single query on one thread); *_cpu_ms: CPU time of the process, "
                              "the wall time on a busy machine includes waiting for a core"},
        "machine": machine,
        "presets": {key: val for key, val in index_presets(n).items()},
        "target": {"single_ms_per_query_below": TARGET_MS, "recall@10_at_least": TARGET_RECALL},
        "indexes": rows_out,
        "sweeps": sweeps,
        "rss_start_bytes": rss_start,
        "peak_rss_bytes": _peak_rss(),
        "total_s": round(time.perf_counter() - t_start, 1),
    }
    out = out or RESULTS / ("faiss_scale.json" if n == 1_000_000 else f"faiss_scale_n{n}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    import json

    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    return result


def _peak_rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def table(result: dict) -> str:
    """The README's table: one row per index."""
    lines = ["| index | parameters | ms/query one at a time: wall (CPU) | ms/query in a batch: wall (CPU) "
             "| speed-up vs flat one at a time: wall (CPU) | recall@10 vs exact | build s | index MiB | RSS growth MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in result["indexes"].items():
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items() if k not in ("index_type", "ntotal", "dim")) or "exact"
        build = f"{row['build_s']:.0f}" + (f" (train {row['train_s']:.0f})" if "train_s" in row else "")
        lines.append(f"| {name} | {params} | {row['single_ms_per_query']:.2f} ({row['single_cpu_ms_per_query']:.2f}) "
                     f"| {row['batch_ms_per_query']:.3f} ({row['batch_cpu_ms_per_query']:.3f}) "
                     f"| {row['single_speedup_vs_flat']:.0f}x ({row['single_cpu_speedup_vs_flat']:.0f}x) "
                     f"| {row['recall@10']:.3f} | {build} "
                     f"| {row['index_bytes'] / 2**20:.0f} | {row['rss_growth_bytes'] / 2**20:.0f} |")
    return "\n".join(lines)
