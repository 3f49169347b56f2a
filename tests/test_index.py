"""FAISS search against numpy brute force."""

import numpy as np
import pytest

from helpers.index import build_index, load_index, save_index, search


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
