"""The analysis figures: each takes ``ax=``, returns the axes it drew on and shows what it claims."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import agreement, plots  # noqa: E402

EV = pd.DataFrame({
    "unit": ["q1", "q2", "q3", "q4", "q5"], "question_id": ["q1", "q2", "q3", "q4", "q5"],
    "human": ["C", "P", "I", "C", None], "score": [3, 1, 3, np.nan, 2], "judge_label": ["C", "P", "C", None, "P"],
    "top_score": [0.86, 0.85, 0.84, 0.86, 0.85], "score_spread": [0.01, 0.02, 0.03, 0.01, 0.02],
})


@pytest.mark.parametrize("draw", [
    lambda ax: plots.score_by_label(EV, ax=ax),
    lambda ax: plots.confusion(EV, ax=ax),
    lambda ax: plots.agreement_intervals(agreement.agreement_summary(EV["human"], EV["judge_label"], n_boot=0), ax=ax),
    lambda ax: plots.per_question(EV, ax=ax),
    lambda ax: plots.cutoff_heatmap(agreement.cutoff_sweep(EV["score"], EV["human"]), ax=ax),
    lambda ax: plots.stability_plot(pd.DataFrame({"variance": [0, 1.5], "flip_rate": [0, 0.5], "n": [3, 3]}), ax=ax),
])
def test_draws_on_the_given_axes(draw):
    fig, ax = plt.subplots()
    assert draw(ax) is ax
    assert ax.has_data() or ax.collections or ax.patches
    plt.close(fig)


def test_confusion_counts_only_complete_pairs_and_says_so():
    ax = plots.confusion(EV)
    title = ax.get_title()
    # q1 C/C, q2 P/P agree, q3 I/C differs; q4 (no judge label) and q5 (no human label) are left out
    assert "n=3" in title and "agreement 0.67" in title and "2 without a human or judge label" in title
    plt.close(ax.figure)


def test_per_question_puts_disagreements_first():
    ax = plots.per_question(EV)
    assert ax is ax.figure.axes[0]  # the scores panel; the retrieval panel beside it
    rows = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert max(rows, key=rows.get) == "q3"  # the one disagreement is the top row
    assert set(rows) == {"q1", "q2", "q3", "q4"}  # q5 has no human label
    plt.close(ax.figure)


def test_forest_draws_intervals_that_miss_their_point_or_are_missing():
    # with few questions a percentile interval need not contain the point estimate, and may be NaN
    frame = pd.DataFrame({"method": ["a", "a", "b"], "set": ["bank", "all", "all"], "value": [0.5, 0.2, 0.1],
                          "ci_low": [0.6, float("nan"), -0.1], "ci_high": [0.9, float("nan"), 0.3]})
    ax = plots.forest(frame)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]  # best mean on top
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["bank", "all"]
    drawn = sorted(float(x) for c in ax.containers for x in c.lines[0].get_xdata())
    assert drawn == [0.1, 0.2, 0.5]


@pytest.mark.parametrize("draw, note", [
    (lambda ax: plots.forest(pd.DataFrame(columns=["method", "set", "value", "ci_low", "ci_high"]), ax=ax),
     "nothing to show"),
    (lambda ax: plots.stability_plot(pd.DataFrame(columns=["variance", "flip_rate", "n"]), ax=ax),
     "one judgment per item"),
])
def test_an_empty_table_gives_the_axes_with_a_note(draw, note):
    fig, ax = plt.subplots()
    assert draw(ax) is ax
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 1 and note in texts[0] and not ax.collections and not ax.lines
    plt.close(fig)


def test_savefig_copies_the_same_bytes_only_when_asked(tmp_path):
    from pathlib import Path

    ax = plots.stability_plot(pd.DataFrame({"variance": [0, 1.5], "flip_rate": [0, 0.5], "n": [3, 3]}))
    path = plots.savefig(ax, tmp_path / "run" / "figures" / "08_x.png", copy_to=str(tmp_path / "paper"))
    saved = Path(path).read_bytes()
    assert saved.startswith(b"\x89PNG") and (tmp_path / "paper" / "08_x.png").read_bytes() == saved
    plots.savefig(ax, tmp_path / "run" / "figures" / "08_y.png")  # copy_to "": no copy
    assert sorted(p.name for p in (tmp_path / "paper").iterdir()) == ["08_x.png"]
    plt.close(ax.figure)


def test_savefig_keeps_labels_that_overflow_the_figure(tmp_path):
    """A long tick label that sticks out of the figure (07's attack names did) is saved whole:
    the image grows to hold it instead of cutting it off at the edge."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.barh(["a label far too long for this small figure to hold", "b"], [1, 2])
    path = plots.savefig(fig, tmp_path / "long.png", dpi=100)
    height, width = mpimg.imread(path).shape[:2]
    assert width > 3 * 100  # wider than the 3-inch figure: the label's left part was kept
    plt.close(fig)
