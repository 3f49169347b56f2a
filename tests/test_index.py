"""FAISS search against numpy brute force."""

import numpy as np
import pytest

from helpers.index import build_index, describe_index, index_presets, load_index, save_index, search


@pytest.fixture
def vectors():
    rng = np.random.default_rng(42)
    x = rng.normal(size=(500, 64)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(x, q, k):
    scores = q @ x.T
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, axis=1), ids


def test_flat_search_equals_brute_force(vectors):
    q = vectors[:20] + 0.1
    scores, ids = search(build_index(vectors, "flat"), q, k=10)
    want_scores, want_ids = brute_force(vectors, q.astype(np.float32), 10)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_find_most_true_neighbours(vectors, kind):
    q = vectors[:50]
    _, ids = search(build_index(vectors, kind), q, k=10)
    _, want = brute_force(vectors, q, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, want)])
    assert overlap > 0.5
    assert (ids[:, 0] == np.arange(50)).mean() > 0.9  # each vector finds itself


def test_k_larger_than_corpus(vectors):
    scores, ids = search(build_index(vectors[:3]), vectors[:1], k=10)
    assert ids.shape == (1, 3)


def test_save_and_load(vectors, tmp_path):
    idx = build_index(vectors)
    save_index(idx, tmp_path / "i.faiss")
    np.testing.assert_array_equal(search(load_index(tmp_path / "i.faiss"), vectors[:5], 3)[1], search(idx, vectors[:5], 3)[1])


def test_unknown_index_type(vectors):
    with pytest.raises(ValueError, match="unknown index type"):
        build_index(vectors, "lsh")


def clustered(n, dim=64, centres=50, noise=1.0, seed=0):
    """Unit vectors around overlapping cluster centres, and queries that are perturbed corpus vectors."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    spread = np.arange(1, dim + 1) ** -0.5  # most of the noise in a few directions, as in text embeddings
    x = c[rng.integers(centres, size=n)] + rng.normal(size=(n, dim)) * spread * noise / np.linalg.norm(spread)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.choice(n, 100, replace=False)] + noise / np.sqrt(dim) * rng.normal(size=(100, dim))
    return x.astype(np.float32), (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def test_presets_scale_search_effort_with_the_corpus():
    tiny, large = index_presets(1_000), index_presets(1_000_000)
    assert (tiny["ivf_nlist"], tiny["ivf_nprobe"]) == (25, 25)  # a small corpus probes every list
    assert (large["ivf_nlist"], large["ivf_nprobe"]) == (4000, 32)
    assert (index_presets(150)["hnsw_ef_search"], large["hnsw_ef_search"]) == (64, 256)
    sizes = [10, 100, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 10_000_000]
    presets = [index_presets(n) for n in sizes]
    for key in ("hnsw_ef_search", "ivf_nlist"):
        assert [p[key] for p in presets] == sorted(p[key] for p in presets), key
    scanned = [p["ivf_nprobe"] * n / p["ivf_nlist"] for n, p in zip(sizes, presets)]  # vectors an IVF query reads
    assert scanned == sorted(scanned) and scanned[-1] < 0.01 * sizes[-1]
    assert all(1 <= p["ivf_nprobe"] <= p["ivf_nlist"] <= n for n, p in zip(sizes, presets))


@pytest.mark.parametrize("kind, knob", [("hnsw", "hnsw_ef_search"), ("ivf", "ivf_nprobe")])
def test_presets_are_applied_unless_given_and_survive_saving(vectors, kind, knob, tmp_path):
    built = describe_index(build_index(vectors, kind))
    assert built[knob] == index_presets(len(vectors))[knob]
    assert describe_index(build_index(vectors, kind, **{knob: 0}))[knob] == built[knob]  # 0 = the preset (a config's default)
    idx = build_index(vectors, kind, **{knob: 3})
    save_index(idx, tmp_path / "i.faiss")
    assert describe_index(load_index(tmp_path / "i.faiss"))[knob] == 3
    with pytest.raises(ValueError, match=knob):
        build_index(vectors, kind, **{knob: -1})


@pytest.mark.parametrize("kind, knob", [("hnsw", "hnsw_ef_search"), ("ivf", "ivf_nprobe")])
def test_presets_reach_high_recall_on_clustered_vectors(kind, knob):
    x, q = clustered(5000)
    _, want = brute_force(x, q, 10)
    recall = lambda ids: np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, want)])  # noqa: E731
    assert recall(search(build_index(x, kind), q, 10)[1]) >= 0.95
    assert recall(search(build_index(x, kind, **{knob: 1}), q, 10)[1]) < 0.8  # the set is not trivially easy
