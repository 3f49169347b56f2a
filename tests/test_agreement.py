"""Agreement statistics against published reference values, and their edges.

Every reference value below is printed in a publication or in another
project's test suite (which cites its source); none is recomputed here with
the library our code calls.
"""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers.agreement import (
    STATISTICS,
    agreement_summary,
    bootstrap_ci,
    cohen_kappa,
    cutoff_sweep,
    gwet_ac1,
    krippendorff_alpha,
    majority_baseline,
    pairwise_agreement,
    per_group_agreement,
    raw_agreement,
)
from helpers.errors import InputError


def expand(table, labels):
    """Two raters' label sequences from a contingency table (rows: rater a, columns: rater b)."""
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [labels[i]] * count
            b += [labels[j]] * count
    return a, b


# ---------------------------------------------------------------- Cohen's kappa


def test_artstein_poesio_table_1():
    """Artstein & Poesio (2008), "Inter-coder agreement for computational
    linguistics", Computational Linguistics 34(4), Table 1 (dialogue acts
    Stat/IReq, 100 utterances): counts [[20, 20], [10, 50]], kappa = 0.348.
    The same table and value are in scikit-learn's test_cohen_kappa
    (sklearn/metrics/tests/test_classification.py)."""
    labels = ("Stat", "IReq")
    a, b = expand([[20, 20], [10, 50]], labels)
    assert cohen_kappa(a, b, labels=labels) == pytest.approx(0.348, abs=5e-4)
    assert raw_agreement(a, b) == pytest.approx(0.7)  # (20 + 50) / 100


def test_artstein_poesio_table_4_three_categories():
    """Artstein & Poesio (2008), Table 4 (Stat/IReq/Chck, 100 utterances):
    coder A x coder B [[46, 6, 0], [0, 32, 0], [0, 6, 10]], A_o = 0.88,
    kappa = 0.8013 (the value in scikit-learn's test_cohen_kappa, which
    builds the same table from marginals 46/44/10 and 52/32/16)."""
    labels = ("Stat", "IReq", "Chck")
    a, b = expand([[46, 6, 0], [0, 32, 0], [0, 6, 10]], labels)
    assert cohen_kappa(a, b, labels=labels) == pytest.approx(0.8013, abs=5e-5)
    assert raw_agreement(a, b) == pytest.approx(0.88)


def test_sklearn_weighted_kappa_example():
    """scikit-learn's test_cohen_kappa, "weighting example: none, linear,
    quadratic": y1 = 46x0, 44x1, 10x2; y2 = 50x0, 40x1, 10x2 ->
    0.9315, 0.9412, 0.9541."""
    y1 = [0] * 46 + [1] * 44 + [2] * 10
    y2 = [0] * 50 + [1] * 40 + [2] * 10
    labels = (0, 1, 2)
    assert cohen_kappa(y1, y2, labels=labels) == pytest.approx(0.9315, abs=5e-5)
    assert cohen_kappa(y1, y2, labels=labels, weights="linear") == pytest.approx(0.9412, abs=5e-5)
    assert cohen_kappa(y1, y2, labels=labels, weights="quadratic") == pytest.approx(0.9541, abs=5e-5)


def test_sas_kappa_printout():
    """statsmodels' test_inter_rater.py compares with a SAS PROC FREQ printout
    for the 3x3 table [[0, 4, 1], [0, 8, 0], [0, 1, 5]]: simple kappa 0.4842,
    weighted kappa 0.4701 (SAS's default Cicchetti-Allison weights, i.e.
    linear in the category rank)."""
    labels = ("low", "mid", "high")
    a, b = expand([[0, 4, 1], [0, 8, 0], [0, 1, 5]], labels)
    assert cohen_kappa(a, b, labels=labels) == pytest.approx(0.4842, abs=5e-5)
    assert cohen_kappa(a, b, labels=labels, weights="linear") == pytest.approx(0.4701, abs=5e-5)


# Anxiety ratings of 20 subjects by 3 raters (R package irr, data(anxiety)), as
# typed in statsmodels' test_inter_rater.py (column-major, 20 x 3).
ANXIETY = np.array(
    [3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3,
     3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4,
     2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]
).reshape(20, 3, order="F")  # fmt: skip


def test_irr_kappa2_anxiety_weights_follow_label_rank():
    """R irr::kappa2(anxiety[, 2:3]) printouts quoted in statsmodels'
    test_inter_rater.py: unweighted -0.006289308, "equal" (linear)
    0.1459075, "squared" (quadratic) 0.2520325. irr weights by the rank of
    the levels present (1, 2, 3, 4, 6 -- no 5), which is what ``labels``
    expresses."""
    r2, r3 = ANXIETY[:, 1].tolist(), ANXIETY[:, 2].tolist()
    labels = (1, 2, 3, 4, 6)
    assert cohen_kappa(r2, r3, labels=labels) == pytest.approx(-0.006289308, abs=1e-8)
    assert cohen_kappa(r2, r3, labels=labels, weights="linear") == pytest.approx(0.1459075, abs=1e-7)
    assert cohen_kappa(r2, r3, labels=labels, weights="quadratic") == pytest.approx(0.2520325, abs=1e-7)


# ---------------------------------------------------------- Krippendorff's alpha

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C:
# 4 observers x 12 units, values 1-5, missing data. Same data: Gwet (2014),
# Handbook of Inter-Rater Reliability, p. 120 (irrCAC's raw_4raters).
KRIPPENDORFF_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]


@pytest.mark.parametrize("level, published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_example_c(level, published):
    """Krippendorff (2011): alpha nominal 0.743, ordinal 0.815, interval
    0.849 (also asserted by the krippendorff package's test_ordinal_metric,
    0.815, and irrCAC's raw_4raters tests, 0.743 and quadratic 0.849)."""
    labels = (1, 2, 3, 4, 5)
    assert krippendorff_alpha(KRIPPENDORFF_C, labels=labels, level=level) == pytest.approx(published, abs=5e-4)


def test_krippendorff_wikipedia_example():
    """Wikipedia, "Krippendorff's alpha", computational example (3 coders x
    15 units): nominal 0.691, interval 0.811; the krippendorff package's
    tests assert 0.691358 and 0.810845."""
    data = [
        [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
        [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
        [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
    ]
    labels = (1, 2, 3, 4)
    assert krippendorff_alpha(data, labels=labels, level="nominal") == pytest.approx(0.691358, abs=5e-7)
    assert krippendorff_alpha(data, labels=labels, level="interval") == pytest.approx(0.810845, abs=5e-7)


def test_krippendorff_labels_are_mapped_to_ranks():
    letters = {1: "v1", 2: "v2", 3: "v3", 4: "v4", 5: "v5"}
    as_text = [[None if v != v else letters[v] for v in row] for row in KRIPPENDORFF_C]
    assert krippendorff_alpha(as_text, labels=("v1", "v2", "v3", "v4", "v5")) == pytest.approx(0.815, abs=5e-4)


def test_krippendorff_two_sequences_match_the_matrix_form():
    a, b = KRIPPENDORFF_C[1], KRIPPENDORFF_C[3]
    labels = (1, 2, 3, 4, 5)
    for level in ("nominal", "ordinal", "interval"):
        two = krippendorff_alpha(a, b, labels=labels, level=level)
        assert two == pytest.approx(krippendorff_alpha([a, b], labels=labels, level=level))


def test_krippendorff_refuses_ratio_and_1d_without_b():
    with pytest.raises(InputError) as err:
        krippendorff_alpha(["C", "P"], ["C", "P"], level="ratio")
    assert err.value.field == "level"
    with pytest.raises(InputError) as err:
        krippendorff_alpha(["C", "P", "I"])
    assert err.value.field == "a"


# ------------------------------------------------------------------- Gwet's AC1


def test_gwet_ac1_handbook_abstractors_table():
    """Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed.: two
    abstractors classify 100 pregnancies (Ectopic/AIU/NIU), table
    [[13, 0, 0], [0, 20, 7], [0, 4, 56]]: AC1 = 0.849 (irrCAC's
    table_cont3x3abstractors test)."""
    labels = ("Ectopic", "AIU", "NIU")
    a, b = expand([[13, 0, 0], [0, 20, 7], [0, 4, 56]], labels)
    assert gwet_ac1(a, b, labels=labels) == pytest.approx(0.849, abs=5e-4)
    assert gwet_ac1(b, a, labels=labels) == gwet_ac1(a, b, labels=labels)


def test_gwet_ac1_ben_gerry_with_a_missing_rating():
    """irrCAC's raw_ben_gerry (Gwet's R package irrCAC, cac.ben.gerry): 12
    units, Gerry's unit 10 missing; published pa = 0.727, pe = 0.194,
    AC1 = 0.661.

    We drop unit 10 pairwise (11 pairs): pa and pe agree to the published 3
    decimals; AC1 is 0.66154 against Gwet's 0.66144, because Gwet's pe also
    counts the lone rating of unit 10 -- hence the 1e-3 tolerance.
    """
    ben = ["a", "a", "b", "b", "d", "c", "c", "c", "e", "d", "d", "a"]
    gerry = ["b", "a", "b", "b", "b", "c", "c", "c", "e", None, "d", "d"]
    labels = tuple("abcde")
    ac1 = gwet_ac1(ben, gerry, labels=labels)
    pa = raw_agreement(ben, gerry)
    pe = (pa - ac1) / (1 - ac1)
    assert pa == pytest.approx(0.727, abs=5e-4)
    assert pe == pytest.approx(0.194, abs=5e-4)
    assert ac1 == pytest.approx(0.661, abs=1e-3)


def test_gwet_ac1_diagnosis_table():
    """irrCAC's table_cont4x4diagnosis (223 psychiatric patients, clinical x
    research diagnosis, from Gwet's irrCAC package): AC1 = 0.456."""
    labels = ("Schizophrenia", "Bipolar", "Depression", "Other")
    a, b = expand([[40, 4, 4, 17], [6, 25, 2, 13], [4, 1, 21, 12], [15, 5, 9, 45]], labels)
    assert gwet_ac1(a, b, labels=labels) == pytest.approx(0.456, abs=5e-4)


def test_gwet_ac1_matches_irrcac():
    irr = pytest.importorskip("irrCAC.raw")
    rng = np.random.default_rng(7)
    for _ in range(5):
        a = rng.choice(list("IPC"), size=60, p=[0.2, 0.3, 0.5])
        b = np.where(rng.random(60) < 0.7, a, rng.choice(list("IPC"), size=60))
        ratings = pd.DataFrame({"a": a, "b": b})
        try:
            est = irr.CAC(ratings, categories=["I", "P", "C"]).gwet()["est"]
        except TypeError as exc:  # irrCAC vs newer scipy (t.interval's old keyword)
            pytest.skip(f"irrCAC does not run here: {exc}")
        assert gwet_ac1(a, b) == pytest.approx(est["coefficient_value"], abs=1e-5)


def test_gwet_ac1_uses_every_category_on_the_scale():
    # Q counts the labels of the scale, used or not: adding an unused label
    # lowers chance agreement and so raises AC1.
    a, b = ["C", "C", "P", "C"], ["C", "P", "P", "C"]
    assert gwet_ac1(a, b, labels=("P", "C")) < gwet_ac1(a, b, labels=("I", "P", "C"))


# ------------------------------------------------------------- shared properties

RNG = np.random.default_rng(0)
HUMAN = RNG.choice(list("IPC"), size=80, p=[0.25, 0.25, 0.5]).tolist()
JUDGE = [h if RNG.random() < 0.6 else str(RNG.choice(list("IPC"))) for h in HUMAN]


@pytest.mark.parametrize("name", sorted(STATISTICS))
def test_statistics_are_symmetric(name):
    fn = {
        "raw_agreement": raw_agreement,
        "cohen_kappa": cohen_kappa,
        "cohen_kappa_linear": lambda a, b: cohen_kappa(a, b, weights="linear"),
        "cohen_kappa_quadratic": lambda a, b: cohen_kappa(a, b, weights="quadratic"),
        "krippendorff_alpha_ordinal": krippendorff_alpha,
        "gwet_ac1": gwet_ac1,
    }[name]
    assert fn(HUMAN, JUDGE) == pytest.approx(fn(JUDGE, HUMAN), abs=1e-12)


def test_perfect_agreement_is_one():
    for value in (
        raw_agreement(HUMAN, HUMAN),
        cohen_kappa(HUMAN, HUMAN),
        cohen_kappa(HUMAN, HUMAN, weights="linear"),
        cohen_kappa(HUMAN, HUMAN, weights="quadratic"),
        krippendorff_alpha(HUMAN, HUMAN),
        krippendorff_alpha(HUMAN, HUMAN, level="nominal"),
        gwet_ac1(HUMAN, HUMAN),
    ):
        assert value == pytest.approx(1.0)


def test_constant_predictor_has_kappa_zero():
    always_c = ["C"] * len(HUMAN)
    assert cohen_kappa(HUMAN, always_c) == pytest.approx(0.0, abs=1e-12)
    assert cohen_kappa(HUMAN, always_c, weights="quadratic") == pytest.approx(0.0, abs=1e-12)
    # ... and its raw agreement is the majority baseline
    assert raw_agreement(HUMAN, always_c) == pytest.approx(majority_baseline(HUMAN))


def test_undefined_statistics_are_nan_not_invented():
    same = ["C"] * 5
    assert np.isnan(cohen_kappa(same, same))
    assert np.isnan(cohen_kappa(same, same, weights="quadratic"))
    assert np.isnan(krippendorff_alpha(same, same))
    assert np.isnan(cohen_kappa([None, "C"], ["P", None]))
    assert np.isnan(raw_agreement([None], ["C"]))


def test_weighted_kappa_follows_label_order():
    a, b = ["I", "P", "C", "C", "I"], ["P", "P", "C", "I", "I"]
    q = cohen_kappa(a, b, weights="quadratic")
    assert cohen_kappa(a, b, labels=("C", "P", "I"), weights="quadratic") == pytest.approx(q)  # reversed scale
    assert cohen_kappa(a, b, labels=("P", "I", "C"), weights="quadratic") != pytest.approx(q)
    assert cohen_kappa(a, b, labels=("P", "I", "C")) == pytest.approx(cohen_kappa(a, b))  # unweighted: order-free


def test_missing_values_are_excluded_pairwise():
    human = ["C", "P", "I", "C", "P", None]
    judge = ["C", None, "I", np.nan, "P", "C"]
    kept_h, kept_j = ["C", "I", "P"], ["C", "I", "P"]
    assert cohen_kappa(human, judge) == cohen_kappa(kept_h, kept_j) == 1.0
    assert raw_agreement(human, judge) == 1.0
    assert gwet_ac1(human, judge) == gwet_ac1(kept_h, kept_j)
    assert majority_baseline(human) == pytest.approx(2 / 5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: cohen_kappa(["C", "X"], ["C", "P"]),
        lambda: gwet_ac1(["C", "P"], ["C", "correct"]),
        lambda: krippendorff_alpha(["C", "P"], ["C", "c"]),
        lambda: majority_baseline(["C", 3]),
        lambda: raw_agreement(["C", "X"], ["C", "P"], labels=("I", "P", "C")),
    ],
)
def test_labels_outside_the_scale_are_errors(call):
    with pytest.raises(InputError, match="outside labels"):
        call()


def test_error_names_the_field():
    with pytest.raises(InputError) as err:
        agreement_summary(["C", "P"], ["C", "maybe"], n_boot=0)
    assert err.value.field == "judge" and "'maybe' at position 1" in str(err.value)
    with pytest.raises(InputError) as err:
        agreement_summary(["C", "P", "I"], ["C", "P"], n_boot=0)
    assert err.value.field == "judge"
    with pytest.raises(InputError) as err:
        cohen_kappa(["C"], ["C"], weights="cubic")
    assert err.value.field == "weights"
    with pytest.raises(InputError) as err:
        cohen_kappa(["C"], ["C"], labels="IPC")
    assert err.value.field == "labels"


# --------------------------------------------------------------------- bootstrap


def test_bootstrap_contains_the_estimate_and_is_reproducible():
    ci = bootstrap_ci(cohen_kappa, HUMAN, JUDGE, n_boot=300, seed=1)
    low, high = ci
    assert low <= cohen_kappa(HUMAN, JUDGE) <= high
    assert ci.n_boot == 300 and ci.n_degenerate == 0
    assert tuple(bootstrap_ci(cohen_kappa, HUMAN, JUDGE, n_boot=300, seed=1)) == (low, high)
    assert tuple(bootstrap_ci(cohen_kappa, HUMAN, JUDGE, n_boot=300, seed=2)) != (low, high)


def test_bootstrap_resamples_whole_groups():
    sizes = [1, 2, 3, 5, 8, 13]
    groups = np.repeat(np.arange(len(sizes)), sizes)
    rows = np.arange(len(groups))
    seen = []

    def record(a, b):
        seen.append((a.astype(int), b.astype(int)))
        return 0.0

    bootstrap_ci(record, rows, groups, groups=groups, n_boot=50, seed=3)
    for row_ids, group_ids in seen:
        for g, size in enumerate(sizes):
            members = row_ids[group_ids == g]
            copies, rest = divmod(len(members), size)
            assert rest == 0
            # every drawn copy of a group brings all of its rows
            assert np.array_equal(np.sort(members), np.sort(np.tile(rows[groups == g], copies)))


def test_group_bootstrap_is_wider_for_clustered_errors():
    # Each question is either all right or all wrong: 12 questions of unequal
    # size; a row bootstrap treats 78 rows as independent, the group bootstrap
    # sees 12 questions.
    sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    right = [True, False] * 6
    human, judge, groups = [], [], []
    for q, (size, ok) in enumerate(zip(sizes, right)):
        human += ["C"] * size
        judge += ["C" if ok else "I"] * size
        groups += [q] * size
    by_row = bootstrap_ci(raw_agreement, human, judge, n_boot=500, seed=0)
    by_group = bootstrap_ci(raw_agreement, human, judge, groups=groups, n_boot=500, seed=0)
    assert (by_group[1] - by_group[0]) > 1.3 * (by_row[1] - by_row[0])


def test_bootstrap_counts_and_warns_about_degenerate_resamples():
    human = ["C"] * 9 + ["I"]
    judge = ["C"] * 9 + ["I"]
    with pytest.warns(RuntimeWarning, match="undefined"):
        ci = bootstrap_ci(cohen_kappa, human, judge, n_boot=200, seed=0)
    # a resample without the one "I" has a single label: kappa 0/0
    assert 0 < ci.n_degenerate < 200
    assert ci == (1.0, 1.0)


def test_bootstrap_rejects_bad_arguments():
    with pytest.raises(InputError) as err:
        bootstrap_ci(raw_agreement, ["C"], ["C"], n_boot=0)
    assert err.value.field == "n_boot"
    with pytest.raises(InputError) as err:
        bootstrap_ci(raw_agreement, ["C"], ["C"], level=95)
    assert err.value.field == "level"
    with pytest.raises(InputError) as err:
        bootstrap_ci(raw_agreement, ["C", "P"], ["C", "P"], groups=[1])
    assert err.value.field == "groups"


# ------------------------------------------------------------------------ tables


def test_agreement_summary_table():
    judge = list(JUDGE)
    judge[3] = None
    judge[10] = float("nan")
    groups = [i // 4 for i in range(len(HUMAN))]
    t = agreement_summary(HUMAN, judge, groups=groups, n_boot=200, seed=0)
    assert list(t.columns) == ["statistic", "value", "ci_low", "ci_high", "n", "n_missing"]
    assert t["statistic"].tolist() == [
        "raw_agreement",
        "majority_baseline",
        "cohen_kappa",
        "cohen_kappa_linear",
        "cohen_kappa_quadratic",
        "krippendorff_alpha_ordinal",
        "gwet_ac1",
    ]
    assert (t["n"] == len(HUMAN) - 2).all() and (t["n_missing"] == 2).all()
    assert (t["ci_low"] <= t["value"]).all() and (t["value"] <= t["ci_high"]).all()
    keep = [i for i in range(len(HUMAN)) if i not in (3, 10)]
    h, j = [HUMAN[i] for i in keep], [judge[i] for i in keep]
    value = dict(zip(t["statistic"], t["value"]))
    assert value["cohen_kappa_quadratic"] == pytest.approx(cohen_kappa(h, j, weights="quadratic"))
    assert value["krippendorff_alpha_ordinal"] == pytest.approx(krippendorff_alpha(h, j))
    assert value["gwet_ac1"] == pytest.approx(gwet_ac1(h, j))
    assert value["majority_baseline"] == pytest.approx(majority_baseline(h))
    assert value["raw_agreement"] == pytest.approx(raw_agreement(h, j))
    assert t.attrs["n_degenerate"] == dict.fromkeys(t["statistic"], 0)


def test_summary_intervals_match_bootstrap_ci_of_the_public_functions():
    # agreement_summary bootstraps kappa without scikit-learn's input checks;
    # same seed and groups must give the same interval as bootstrap_ci of
    # the public, scikit-learn-backed function.
    groups = [i // 3 for i in range(len(HUMAN))]
    t = agreement_summary(HUMAN, JUDGE, groups=groups, n_boot=100, seed=5).set_index("statistic")
    for name, weights in (("cohen_kappa", None), ("cohen_kappa_linear", "linear"), ("cohen_kappa_quadratic", "quadratic")):
        low, high = bootstrap_ci(lambda a, b, weights=weights: cohen_kappa(a, b, weights=weights), HUMAN, JUDGE, groups=groups, n_boot=100, seed=5)
        assert t.loc[name, ["ci_low", "ci_high"]].tolist() == pytest.approx([low, high], abs=1e-12)


def test_fast_kappa_equals_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    from helpers.agreement.coefficients import _kappa_numpy

    rng = np.random.default_rng(11)
    for k in (2, 3, 5):
        for _ in range(20):
            n = int(rng.integers(2, 40))
            x, y = rng.integers(0, k, n), rng.integers(0, k - 1, n)  # y never uses the top label
            for weights in (None, "linear", "quadratic"):
                expected = cohen_kappa_score(x, y, labels=np.arange(k), weights=weights)
                got = _kappa_numpy(x, y, k, weights)
                assert got == pytest.approx(expected, abs=1e-12) or (np.isnan(got) and np.isnan(expected))


def test_agreement_summary_without_bootstrap_and_with_no_pairs():
    t = agreement_summary(["C", "P"], [None, None], n_boot=0)
    assert t["value"].isna().all() and t["ci_low"].isna().all()
    assert (t["n"] == 0).all() and (t["n_missing"] == 2).all()


def test_pairwise_agreement_humans_and_judges_side_by_side():
    rows = []
    h1 = ["C", "P", "I", "C", "C", "P"]
    h2 = ["C", "P", "P", "C", "I", "P"]
    judge = ["C", "P", "I", None, "C", "C"]
    for rater, labels in (("h1", h1), ("h2", h2), ("judge", judge)):
        rows += [{"annotator": rater, "q": q, "y": y} for q, y in enumerate(labels)]
    rows.append({"annotator": "h2", "q": 99, "y": "C"})  # a unit only h2 labelled
    frame = pd.DataFrame(rows)
    t = pairwise_agreement(
        frame, rater_col="annotator", unit_col="q", label_col="y", labels=("I", "P", "C"),
        statistic=["cohen_kappa", "raw_agreement"],
    )
    assert list(t.columns) == ["rater_a", "rater_b", "statistic", "value", "n", "n_missing"]
    assert t[["rater_a", "rater_b"]].drop_duplicates().values.tolist() == [["h1", "h2"], ["h1", "judge"], ["h2", "judge"]]
    kappa = t[t.statistic == "cohen_kappa"].set_index(["rater_a", "rater_b"])
    assert kappa.loc[("h1", "h2"), "value"] == pytest.approx(cohen_kappa(h1, h2))
    assert kappa.loc[("h1", "h2"), ["n", "n_missing"]].tolist() == [6, 0]
    assert kappa.loc[("h1", "judge"), ["n", "n_missing"]].tolist() == [5, 1]
    assert kappa.loc[("h1", "judge"), "value"] == pytest.approx(cohen_kappa(h1, judge))
    assert t.query("rater_a == 'h2' and rater_b == 'judge' and statistic == 'raw_agreement'")["value"].item() == pytest.approx(
        raw_agreement(h2, judge)
    )


def test_pairwise_agreement_refuses_repeated_rows_and_unknown_labels():
    frame = pd.DataFrame({"rater": ["a", "a", "b"], "unit": [1, 1, 1], "label": ["C", "P", "C"]})
    with pytest.raises(InputError) as err:
        pairwise_agreement(frame)
    assert err.value.field == "unit"
    frame = pd.DataFrame({"rater": ["a", "b"], "unit": [1, 1], "label": ["C", "Correct"]})
    with pytest.raises(InputError) as err:
        pairwise_agreement(frame)
    assert err.value.field == "label"


def test_per_group_agreement():
    frame = pd.DataFrame(
        {
            "query": ["q1"] * 4 + ["q2"] * 4 + ["q3"] * 3,
            "human": ["C", "P", "I", "C", "C", "C", "P", "I", "C", "C", "C"],
            "judge": ["C", "P", "I", "P", "C", "I", "P", "I", "C", "C", None],
        }
    )
    t = per_group_agreement(frame, group_col="query", a_col="human", b_col="judge")
    assert list(t.columns) == ["query", "statistic", "value", "n", "n_missing"]
    assert t["query"].tolist() == ["q1", "q2", "q3"]
    q1 = frame[frame["query"] == "q1"]
    assert t["value"][0] == pytest.approx(cohen_kappa(q1["human"], q1["judge"]))
    assert np.isnan(t["value"][2])  # q3: only "C" on both sides, kappa undefined
    assert t[["n", "n_missing"]].values.tolist() == [[4, 0], [4, 0], [2, 1]]
    with pytest.raises(InputError) as err:
        per_group_agreement(frame, group_col="query", a_col="human", b_col="judge", statistic="accuracy")
    assert err.value.field == "statistic"


def test_cutoff_sweep():
    scores = [3, 3, 2, 1, 0, 0, 2, 3, 1, 1, None]
    human = ["C", "C", "P", "P", "I", "I", "P", "C", "I", "I", "C"]
    t = cutoff_sweep(scores, human)
    assert len(t) == 15  # pairs c1 <= c2 in 0..4
    assert {"c1", "c2", "mapping", "cohen_kappa", "cohen_kappa_quadratic", "raw_agreement", "n", "n_missing"} <= set(t.columns)
    default = t[(t.c1 == 1) & (t.c2 == 3)]
    assert default["mapping"].item() == "0:I 1:P 2:P 3:C"
    assert default["raw_agreement"].item() == pytest.approx(8 / 10)
    assert (t["n"] == 10).all() and (t["n_missing"] == 1).all()
    assert t["cohen_kappa_quadratic"].is_monotonic_decreasing
    # score 1 is mostly "I" here, so the best map sends 1 to I
    best = t.iloc[0]
    assert (best["c1"], best["c2"], best["mapping"]) == (2, 3, "0:I 1:I 2:P 3:C")
    assert best["raw_agreement"] == pytest.approx(9 / 10)
    mapped = [{0: "I", 1: "I", 2: "P", 3: "C"}[s] for s in scores[:-1]]
    assert best["cohen_kappa"] == pytest.approx(cohen_kappa(mapped, human[:-1]))
    assert best["cohen_kappa_quadratic"] == pytest.approx(cohen_kappa(mapped, human[:-1], weights="quadratic"))
    everything_c = t[(t.c1 == 0) & (t.c2 == 0)]
    assert everything_c["mapping"].item() == "0:C 1:C 2:C 3:C"
    assert everything_c["cohen_kappa"].item() == pytest.approx(0.0)


def test_cutoff_sweep_refuses_scores_off_the_scale():
    with pytest.raises(InputError) as err:
        cutoff_sweep([0, 4], ["I", "C"])
    assert err.value.field == "scores"
    with pytest.raises(InputError):
        cutoff_sweep([0, 1.5], ["I", "C"])
    with pytest.raises(InputError) as err:
        cutoff_sweep([0, 1], ["I", "C", "P"])
    assert err.value.field == "human"


def test_import_has_no_side_effects():
    code = "import helpers.agreement"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "" and done.stderr == ""
