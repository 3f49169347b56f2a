"""Cut-offs fitted without leakage, the combined score, and PPI intervals."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import cohen_kappa_score

from helpers import calibration
from helpers.calibration import (
    apply_cutoffs,
    classical_mean_ci,
    combination_weights,
    cross_validated_combination,
    cross_validated_labels,
    fit_combination,
    fit_cutoffs,
    ppi_mean_ci,
    ppi_width_curve,
)
from helpers.errors import InputError

ORDER = ("I", "P", "C")


def kappa(a, b, weights="quadratic"):
    return cohen_kappa_score(a, b, labels=list(ORDER), weights=weights)


def separable(seed=0, n=30):
    """Scores below 0.3 are I, 0.3-0.7 P, from 0.7 C."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, n)
    labels = np.where(scores < 0.3, "I", np.where(scores < 0.7, "P", "C"))
    return scores, labels


def noisy(seed=0, n_groups=6, per_group=10, noise=0.6):
    """A score that tracks the labels with noise, in groups."""
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    labels = rng.choice(ORDER, n)
    rank = pd.Series(labels).map({"I": 0, "P": 1, "C": 2}).to_numpy()
    scores = rank + rng.normal(0, noise, n)
    groups = np.repeat([f"aula{g}" for g in range(n_groups)], per_group)
    return scores, labels, groups


# -- fit_cutoffs ------------------------------------------------------------


def test_fit_cutoffs_separable_data_has_kappa_one():
    scores, labels = separable()
    c1, c2 = fit_cutoffs(scores, labels)
    assert scores[labels == "I"].max() < c1 < scores[labels == "P"].min()
    assert scores[labels == "P"].max() < c2 < scores[labels == "C"].min()
    assert kappa(labels, apply_cutoffs(scores, (c1, c2))) == 1.0


def test_fit_cutoffs_are_midpoints():
    assert fit_cutoffs([0.1, 0.2, 0.5, 0.6, 0.8, 0.9], list("IIPPCC")) == pytest.approx((0.35, 0.7))


def brute_force(scores, labels, weights):
    """Every candidate pair through sklearn; the first best in (c1, c2) order."""
    distinct = np.unique(scores)
    candidates = [-np.inf, *((distinct[1:] + distinct[:-1]) / 2), np.inf]
    best, best_cuts = -np.inf, None
    for cuts in itertools.combinations_with_replacement(candidates, 2):
        value = kappa(labels, apply_cutoffs(scores, cuts), weights)
        if np.isfinite(value) and value > best + 1e-12:
            best, best_cuts = value, cuts
    return best, best_cuts


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_cutoffs_equals_sklearn_brute_force(weights, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 12, 40) / 4  # ties on purpose
    labels = rng.choice(ORDER, 40)
    best, cuts = brute_force(scores, labels, weights)
    fitted = fit_cutoffs(scores, labels, weights=weights)
    assert fitted == cuts
    assert kappa(labels, apply_cutoffs(scores, fitted), weights) == pytest.approx(best)


def test_fit_cutoffs_lets_a_class_be_empty():
    c1, c2 = fit_cutoffs([0.1, 0.2, 0.8, 0.9], list("IICC"))
    assert c1 == c2 == pytest.approx(0.5)
    c1, c2 = fit_cutoffs([0.1, 0.2, 0.8, 0.9], list("PPCC"))
    assert c1 == -np.inf and c2 == pytest.approx(0.5)
    c1, c2 = fit_cutoffs([0.1, 0.2, 0.8, 0.9], list("IIPP"))
    assert c1 == pytest.approx(0.5) and c2 == np.inf


def test_fit_cutoffs_two_labels():
    assert fit_cutoffs([0.1, 0.4, 0.6, 0.9], [0, 0, 1, 1], order=(0, 1)) == pytest.approx((0.5,))


def test_fit_cutoffs_drops_missing_scores_and_labels():
    with_missing = fit_cutoffs([0.1, np.nan, 0.5, 0.9, 0.95], ["I", "C", "P", None, "C"])
    assert with_missing == fit_cutoffs([0.1, 0.5, 0.95], ["I", "P", "C"])


def test_fit_cutoffs_errors():
    with pytest.raises(InputError) as err:
        fit_cutoffs([0.1, 0.2], ["I", "X"])
    assert err.value.field == "labels"
    with pytest.raises(InputError) as err:
        fit_cutoffs([0.1, 0.2], ["I", "P", "C"])
    assert err.value.field == "labels"
    with pytest.raises(InputError) as err:
        fit_cutoffs([0.1, 0.2], ["I", "C"], weights="cubic")
    assert err.value.field == "weights"
    with pytest.raises(InputError) as err:
        fit_cutoffs([np.nan], ["I"])
    assert err.value.field == "scores"
    with pytest.raises(InputError) as err:
        fit_cutoffs(["alto", 0.2], ["I", "C"])
    assert err.value.field == "scores"


# -- apply_cutoffs ----------------------------------------------------------


def test_apply_cutoffs_boundaries_and_missing():
    out = apply_cutoffs([0.1, 0.35, 0.5, 0.7, 2.0, np.nan, None], (0.35, 0.7))
    assert out.tolist() == ["I", "P", "P", "C", "C", None, None]


def test_apply_cutoffs_infinite_cutoffs_empty_classes():
    assert apply_cutoffs([0.0, 1.0], (-np.inf, np.inf)).tolist() == ["P", "P"]


@pytest.mark.parametrize("cutoffs", [(0.7, 0.3), (0.5,), (0.1, np.nan), (0.1, 0.2, 0.3)])
def test_apply_cutoffs_rejects_bad_cutoffs(cutoffs):
    with pytest.raises(InputError) as err:
        apply_cutoffs([0.5], cutoffs)
    assert err.value.field == "cutoffs"


# -- cross_validated_labels: no leakage -------------------------------------


def test_cross_validated_labels_columns_index_and_folds():
    scores, labels, groups = noisy()
    idx = pd.Index([f"r{i}" for i in range(len(scores))])
    cv = cross_validated_labels(pd.Series(scores, index=idx), labels, groups)
    assert list(cv.columns) == ["label_cv", "c1", "c2", "fold"]
    assert cv.index.equals(idx)
    # leave-one-group-out: one fold per group, a group never split
    assert cv.groupby(groups)["fold"].nunique().eq(1).all()
    assert cv["fold"].nunique() == len(set(groups))
    assert kappa(labels, cv["label_cv"]) > 0.5


def test_cross_validated_labels_never_uses_the_held_out_label():
    scores, labels, groups = noisy(per_group=5)
    base = cross_validated_labels(scores, labels, groups)
    for i in range(len(labels)):
        flipped = labels.copy()
        flipped[i] = {"I": "C", "P": "I", "C": "I"}[labels[i]]
        cv = cross_validated_labels(scores, flipped, groups)
        same_group = groups == groups[i]
        pd.testing.assert_frame_equal(cv[same_group], base[same_group])


def test_cross_validated_labels_fits_on_training_rows_only(monkeypatch):
    scores, labels, groups = noisy()
    scores[3] = np.nan  # a training row without a score is not fitted on
    row_of = {s: i for i, s in enumerate(scores)}
    fitted_on = []
    real = calibration.fit_cutoffs

    def spy(s, lab, **kw):
        fitted_on.append(sorted(row_of[v] for v in s))
        return real(s, lab, **kw)

    monkeypatch.setattr(calibration, "fit_cutoffs", spy)
    cv = cross_validated_labels(scores, labels, groups)
    assert len(fitted_on) == len(set(groups))
    for rows in fitted_on:
        assert 3 not in rows
        held_out = [i for i in range(len(scores)) if i not in rows and i != 3]
        fold = cv["fold"].iloc[held_out].unique()
        assert len(fold) == 1  # exactly the rows of one fold are left out
        assert set(held_out) == set(np.flatnonzero(cv["fold"].to_numpy() == fold[0])) - {3}
        assert len(set(groups[rows]) & set(groups[held_out])) == 0


def test_cross_validated_labels_group_kfold_and_missing_scores():
    scores, labels, groups = noisy()
    scores[0] = np.nan
    cv = cross_validated_labels(scores, labels, groups, n_splits=3)
    assert sorted(cv["fold"].unique()) == [0, 1, 2]
    assert cv.groupby(groups)["fold"].nunique().eq(1).all()
    assert cv["label_cv"].iloc[0] is None
    assert not np.isnan(cv["c1"].iloc[0])  # the fold's cut-offs are still reported
    assert cv["label_cv"].iloc[1:].notna().all()


def test_cross_validated_labels_needs_two_groups():
    with pytest.raises(InputError) as err:
        cross_validated_labels([0.1, 0.9], ["I", "C"], ["a", "a"])
    assert err.value.field == "groups"
    with pytest.raises(InputError) as err:
        cross_validated_labels([0.1, 0.9], ["I", "C"], ["a", None])
    assert err.value.field == "groups"


# -- the combined score -----------------------------------------------------


def features_frame(seed=0):
    scores, labels, groups = noisy(seed, n_groups=6, per_group=30, noise=0.3)
    rng = np.random.default_rng(seed + 1)
    x = pd.DataFrame({"informative": scores, "noise": rng.normal(0, 1, len(scores))})
    return x, labels, groups


def test_cross_validated_combination_learns_the_informative_feature():
    x, labels, groups = features_frame()
    x.iloc[5, 1] = np.nan
    cv = cross_validated_combination(x, labels, groups)
    assert list(cv.columns) == ["score_cv", "label_cv", "c1", "c2", "fold"]
    assert cv.index.equals(x.index)
    assert np.isnan(cv["score_cv"].iloc[5]) and cv["label_cv"].iloc[5] is None
    ok = cv["label_cv"].notna()
    assert kappa(labels[ok], cv["label_cv"][ok]) > 0.8
    assert cv["score_cv"][ok].between(0, 2).all()


def test_cross_validated_combination_never_uses_the_held_out_label():
    x, labels, groups = features_frame()
    base = cross_validated_combination(x, labels, groups)
    for i in (0, 40, 100):
        flipped = labels.copy()
        flipped[i] = "I" if labels[i] != "I" else "C"
        cv = cross_validated_combination(x, flipped, groups)
        same_group = groups == groups[i]
        pd.testing.assert_frame_equal(cv[same_group], base[same_group])


def test_fit_combination_weights():
    x, labels, groups = features_frame()
    pipe = fit_combination(x, labels)
    w = combination_weights(pipe)
    assert list(w.columns) == ["label", "feature", "coefficient"]
    assert set(w["feature"]) == {"informative", "noise", "(intercept)"}
    coef = w.set_index(["label", "feature"])["coefficient"]
    assert coef["C", "informative"] > 1 > abs(coef["C", "noise"])
    assert coef["I", "informative"] < -1
    renamed = combination_weights(fit_combination(x.to_numpy(), labels), ["f1", "f2"])
    assert set(renamed["feature"]) == {"f1", "f2", "(intercept)"}


def test_combination_needs_two_classes():
    with pytest.raises(InputError) as err:
        fit_combination([[0.1], [0.2]], ["C", "C"])
    assert err.value.field == "labels"


# -- prediction-powered inference -------------------------------------------


def ppi_data(seed=0, n=60, N=2000, noise=0.3):
    rng = np.random.default_rng(seed)
    y_all = rng.binomial(1, 0.6, n + N).astype(float)
    yhat_all = y_all + rng.normal(0, noise, n + N)
    return y_all[:n], yhat_all[:n], yhat_all[n:]


def test_ppi_documented_example():
    # ppi_py's tests/test_mean.py: Yhat = Y + 2 and Yhat_unlabeled = 2 give 0
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 100)
    est, low, high = ppi_mean_ci(y, y + 2, np.full(10000, 2.0), lam=1)
    assert est == pytest.approx(0, abs=1e-12)
    assert low < 0 < high


@pytest.mark.parametrize("lam", [None, 1, 0.5])
def test_ppi_wrapper_returns_exactly_what_ppi_py_returns(lam):
    import ppi_py

    y, yhat, yhat_u = ppi_data()
    est, low, high = ppi_mean_ci(y, yhat, yhat_u, alpha=0.1, lam=lam)
    want_low, want_high = ppi_py.ppi_mean_ci(y, yhat, yhat_u, alpha=0.1, lam=lam)
    assert (low, high) == (float(want_low[0]), float(want_high[0]))
    assert est == float(np.ravel(ppi_py.ppi_mean_pointestimate(y, yhat, yhat_u, lam=lam))[0])
    assert est == pytest.approx((low + high) / 2)


def test_ppi_is_narrower_than_classical_with_a_good_predictor():
    y, yhat, yhat_u = ppi_data()
    _, low, high = ppi_mean_ci(y, yhat, yhat_u)
    _, c_low, c_high = classical_mean_ci(y)
    assert high - low < 0.7 * (c_high - c_low)


def test_ppi_with_perfect_predictions_is_no_wider_than_classical():
    y, _, _ = ppi_data()
    rng = np.random.default_rng(1)
    y_u = rng.binomial(1, 0.6, 2000).astype(float)
    _, low, high = ppi_mean_ci(y, y, y_u)
    _, c_low, c_high = classical_mean_ci(y)
    assert high - low <= c_high - c_low + 1e-12


def test_ppi_lam_zero_is_classical():
    y, yhat, yhat_u = ppi_data()
    assert ppi_mean_ci(y, yhat, yhat_u, lam=0) == pytest.approx(classical_mean_ci(y))


def test_classical_mean_ci_by_hand():
    y = np.array([1, 0, 1, 1, 0, 1, 1, 1], dtype=float)
    half = norm.ppf(0.975) * y.std(ddof=0) / np.sqrt(len(y))
    assert classical_mean_ci(y) == pytest.approx((0.75, 0.75 - half, 0.75 + half))
    half90 = norm.ppf(0.95) * y.std(ddof=0) / np.sqrt(len(y))
    assert classical_mean_ci(y, alpha=0.1)[2] == pytest.approx(0.75 + half90)


def test_ppi_rejects_missing_values_and_mismatch():
    with pytest.raises(InputError) as err:
        ppi_mean_ci([1, 0], [1, np.nan], [1, 1, 0])
    assert err.value.field == "yhat_labelled"
    with pytest.raises(InputError) as err:
        ppi_mean_ci([1, 0], [1], [1, 1, 0])
    assert err.value.field == "yhat_labelled"
    with pytest.raises(InputError) as err:
        classical_mean_ci([1, None])
    assert err.value.field == "y_labelled"


def test_ppi_width_curve():
    y_l, yhat_l, yhat_u = ppi_data(n=0, N=300)
    y = np.concatenate([y_l, (yhat_u > 0.5).astype(float)])
    yhat = np.concatenate([yhat_l, yhat_u])
    curve = ppi_width_curve(y, yhat, ns=(1, 10, 50, 300, 400), n_repeats=20, seed=3)
    assert list(curve.columns) == ["n", "method", "repeat", "estimate", "low", "high", "width", "covers"]
    assert sorted(curve["n"].unique()) == [10, 50]  # n < 2 and n >= len(y) are skipped
    assert len(curve) == 2 * 2 * 20
    assert curve["covers"].dtype == bool
    widths = curve.groupby(["n", "method"])["width"].mean().unstack()
    assert (widths["PPI"] < widths["classical"]).all()
    assert widths.loc[50, "classical"] < widths.loc[10, "classical"]
    pd.testing.assert_frame_equal(curve, ppi_width_curve(y, yhat, ns=(1, 10, 50, 300, 400), n_repeats=20, seed=3))
