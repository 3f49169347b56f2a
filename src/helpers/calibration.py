"""Honest cut-offs for continuous scores, and prediction-powered inference.

A continuous score (an embedding similarity, a judge's mean grade, a combined
model) becomes a label I/P/C through two cut-offs ``c1 <= c2``: ``s < c1`` ->
I, ``c1 <= s < c2`` -> P, ``s >= c2`` -> C. Cut-offs fitted on the very labels
they are then scored against flatter the score, so agreement is reported
**cross-validated by group** (e.g. by lecture): :func:`cross_validated_labels`
fits the cut-offs on the other groups only. Report the cut-offs of
:func:`fit_cutoffs` on all rows for display, and the agreement of the
cross-validated labels as the score's quality.

:func:`ppi_mean_ci` estimates a mean (share correct, mean grade) from a few
human labels plus a judge's predictions on every item (prediction-powered
inference, via ``ppi_py``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .agreement.coefficients import _check_labels, _encode, _kappa_confusion, _kappa_weights
from .errors import InputError
from .labels import LABELS

__all__ = [
    "fit_cutoffs", "apply_cutoffs", "cross_validated_labels", "fit_combination", "combination_weights",
    "cross_validated_combination", "ppi_mean_ci", "classical_mean_ci", "ppi_width_curve",
]  # fmt: skip

_WEIGHTS = (None, "linear", "quadratic")


def _floats(values, field: str) -> np.ndarray:
    """A 1-d float array, missing values (None, NaN, pd.NA) as NaN."""
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "fiub":
        return values.astype(float)  # fast path, used in loops
    arr = np.asarray(values, dtype=object)
    if isinstance(values, (str, bytes)) or arr.ndim != 1:
        raise InputError(f"must be a one-dimensional sequence of numbers, got {values!r:.80}", field=field)
    try:
        return pd.to_numeric(pd.Series(arr, dtype=object)).to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise InputError(f"must be numbers (missing values allowed): {err}", field=field) from None


def _ranks(labels, order, n: int) -> np.ndarray:
    ranks = _encode(np.asarray(labels, dtype=object).ravel(), order, "labels")
    if len(ranks) != n:
        raise InputError(f"has {len(ranks)} values but scores has {n}; they must pair up one to one", field="labels")
    return ranks


def _weight_matrix(k: int, weights) -> np.ndarray:
    if weights not in _WEIGHTS:
        raise InputError(f"must be one of {_WEIGHTS}, got {weights!r}", field="weights")
    return _kappa_weights(k, weights)


def fit_cutoffs(scores, labels, *, order=LABELS, weights="quadratic") -> tuple:
    """Cut-offs on a continuous score that maximise Cohen's kappa with the labels.

    With ``order = (I, P, C)``, the cut-offs ``c1 <= c2`` label a score ``s``

    .. math:: \\hat y(s) = I \\text{ if } s < c_1, \\quad P \\text{ if } c_1 \\le s < c_2,
              \\quad C \\text{ if } s \\ge c_2

    and are ``argmax kappa_w(y, yhat)`` over every pair of candidates: the
    midpoints between consecutive distinct scores, plus ``-inf`` and ``+inf``
    (so a class may be empty). More labels mean more cut-offs, same rule.
    Kappa is :func:`sklearn.metrics.cohen_kappa_score` (``labels`` = all of
    ``order``) computed from cumulative confusion matrices for all pairs at
    once (tested equal). **Ties:** the lexicographically smallest cut-offs
    win (smallest ``c1``, then smallest ``c2``). Rows with a missing score or
    label are dropped.

    Parameters
    ----------
    scores : sequence of float
    labels : sequence
        Labels in ``order``, paired with ``scores``.
    order : sequence, default ``("I", "P", "C")``
        Labels from the lowest score to the highest.
    weights : {None, "linear", "quadratic"}, default "quadratic"

    Returns
    -------
    tuple of float
        ``(c1, c2)`` (``len(order) - 1`` cut-offs, non-decreasing).

    References
    ----------
    .. [1] Cohen, "Weighted kappa", Psychological Bulletin 70(4), 1968.

    Examples
    --------
    >>> fit_cutoffs([0.1, 0.2, 0.5, 0.6, 0.8, 0.9], ["I", "I", "P", "P", "C", "C"])
    (0.35, 0.7)
    """
    order = _check_labels(order, "order")
    w = _weight_matrix(len(order), weights)
    s = _floats(scores, "scores")
    y = _ranks(labels, order, len(s))
    keep = ~(np.isnan(s) | np.isnan(y))
    if not keep.any():
        raise InputError("no row has both a score and a label to fit cut-offs on", field="scores")
    return _fit(s[keep], y[keep].astype(np.intp), w)


def _fit(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple:
    k, sort = len(w), np.argsort(s, kind="stable")
    s, y = s[sort], y[sort]
    change = np.flatnonzero(s[1:] > s[:-1]) + 1  # first row of each new distinct score
    positions = np.concatenate([[0], change, [len(s)]])
    thresholds = np.concatenate([[-np.inf], (s[change - 1] + s[change]) / 2, [np.inf]])
    cum = np.zeros((len(positions), k))  # cum[j, c]: rows of class c below candidate j
    cum[1:] = np.cumsum(np.eye(k)[y], axis=0)[positions[1:] - 1]
    m, best, best_cuts = len(positions), -np.inf, None
    for prefix in itertools.combinations_with_replacement(range(m), k - 2):
        last = np.arange(prefix[-1] if prefix else 0, m)
        bounds = [np.zeros_like(last), *(np.full_like(last, p) for p in prefix), last, np.full_like(last, m - 1)]
        confusion = np.stack([cum[hi] - cum[lo] for lo, hi in zip(bounds[:-1], bounds[1:])], axis=-1)
        kappa = _kappa_confusion(confusion, w)
        if np.all(np.isnan(kappa)):
            continue
        top = int(np.flatnonzero(kappa >= np.nanmax(kappa) - 1e-12)[0])
        if kappa[top] > best + 1e-12:
            best, best_cuts = kappa[top], (*prefix, last[top])
    if best_cuts is None:
        raise InputError("kappa is undefined for every cut-off (one label, one score)", field="labels")
    return tuple(float(thresholds[j]) for j in best_cuts)


def apply_cutoffs(scores, cutoffs, *, order=LABELS) -> np.ndarray:
    """Labels of scores under cut-offs: rank = number of cut-offs ``<= s``.

    Returns an object array of labels from ``order``; a missing score gives
    ``None``.

    Examples
    --------
    >>> apply_cutoffs([0.1, 0.5, 0.7, float("nan")], (0.35, 0.7)).tolist()
    ['I', 'P', 'C', None]
    """
    order = _check_labels(order, "order")
    cuts = _floats(cutoffs, "cutoffs")
    if len(cuts) != len(order) - 1 or np.isnan(cuts).any() or np.any(cuts[1:] < cuts[:-1]):
        raise InputError(f"needs {len(order) - 1} non-decreasing numbers for labels {order!r}, got {cutoffs!r}", field="cutoffs")
    s = _floats(scores, "scores")
    out = np.array(order, dtype=object)[np.searchsorted(cuts, s, side="right")]
    out[np.isnan(s)] = None
    return out


def _splits(groups, n: int, n_splits):
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    g = np.asarray(groups, dtype=object)
    if g.ndim != 1 or len(g) != n:
        raise InputError(f"needs one group per row ({n}), got {len(g)}", field="groups")
    if pd.isna(pd.Series(g)).any():
        raise InputError("contains missing values; every row needs a group", field="groups")
    codes = pd.factorize(g)[0]
    splitter = LeaveOneGroupOut() if n_splits is None else GroupKFold(n_splits=n_splits)
    try:
        return list(splitter.split(np.zeros((n, 1)), groups=codes))
    except ValueError as err:
        raise InputError(f"cannot split {len(set(codes))} groups: {err}", field="groups") from None


def _cross_validate(groups, y, n_splits, order, weights, scorer):
    """The grouped-CV loop. ``scorer(fit_rows, test_rows)`` fits whatever it
    fits on ``fit_rows`` only and returns the scores of both sets (NaN allowed);
    cut-offs are fitted on the scored fit rows and applied to the test rows."""
    n = len(y)
    score, label = np.full(n, np.nan), np.full(n, None, dtype=object)
    cuts, fold = np.full((n, len(order) - 1), np.nan), np.full(n, -1)
    for f, (train, test) in enumerate(_splits(groups, n, n_splits)):
        fit = train[~np.isnan(y[train])]
        fit_scores, score[test] = scorer(fit, test)
        ok = ~np.isnan(fit_scores)
        cut = fit_cutoffs(fit_scores[ok], [order[int(r)] for r in y[fit[ok]]], order=order, weights=weights)
        label[test], cuts[test], fold[test] = apply_cutoffs(score[test], cut, order=order), cut, f
    return {"score_cv": score, "label_cv": label, **{f"c{i + 1}": c for i, c in enumerate(cuts.T)}, "fold": fold}


def _index(values):
    return values.index if isinstance(values, (pd.Series, pd.DataFrame)) else None


def cross_validated_labels(scores, labels, groups, *, n_splits=None, order=LABELS, weights="quadratic") -> pd.DataFrame:
    """Labels from cut-offs fitted on the other groups only (grouped cross-validation).

    Folds are :class:`sklearn.model_selection.LeaveOneGroupOut` (``n_splits``
    None) or ``GroupKFold(n_splits)``. In each fold :func:`fit_cutoffs` sees
    only the training rows with a score and a label; the held-out rows are
    labelled by :func:`apply_cutoffs`. No row's label ever reaches the
    cut-offs applied to it.

    Parameters
    ----------
    scores, labels : sequences paired one to one (see :func:`fit_cutoffs`)
    groups : sequence
        One group per row (e.g. the lecture); a group is never split.
    n_splits : int, optional
    order, weights : as in :func:`fit_cutoffs`

    Returns
    -------
    pandas.DataFrame
        Index of ``scores`` if it is a Series, else 0..n-1; columns
        ``label_cv`` (None for a missing score), ``c1``, ``c2`` (cut-offs
        applied to the row) and ``fold``.

    Examples
    --------
    >>> cv = cross_validated_labels([.1, .5, .9, .2, .6, .8], list("IPCIPC"), [1, 1, 1, 2, 2, 2])
    >>> cv["label_cv"].tolist()
    ['I', 'P', 'C', 'I', 'P', 'C']
    """
    order = _check_labels(order, "order")
    s = _floats(scores, "scores")
    y = _ranks(labels, order, len(s))
    cols = _cross_validate(groups, y, n_splits, order, weights, lambda fit, test: (s[fit], s[test]))
    del cols["score_cv"]
    return pd.DataFrame(cols, index=_index(scores))


def _features(features) -> np.ndarray:
    x = np.asarray(features, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2:
        raise InputError(f"must be a 2-d table (rows x features), got shape {x.shape}", field="features")
    return x


def _model(x, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y)) < 2:
        raise InputError(f"needs at least two labels among the {len(y)} complete rows to fit on", field="labels")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


def _expected_grade(model, x) -> np.ndarray:
    return model.predict_proba(x) @ model.classes_.astype(float)


def fit_combination(features, labels, *, order=LABELS):
    """Multinomial logistic regression of the labels on standardised features.

    A pipeline of ``StandardScaler`` and ``LogisticRegression(max_iter=1000)``
    (lbfgs, L2 penalty with ``C=1``; multinomial for three or more labels),
    fitted on the rows with every feature and a label, the labels encoded as
    ranks ``k`` (I=0, P=1, C=2). The combined score is the expected grade

    .. math:: g(x) = \\sum_k k \\, P(\\text{label } k \\mid x)

    Pass a DataFrame to keep the feature names. For display: agreement is
    reported by :func:`cross_validated_combination`.

    Examples
    --------
    >>> x = pd.DataFrame({"sim": [.1, .2, .5, .6, .8, .9]})
    >>> pipe = fit_combination(x, list("IIPPCC"))
    >>> combination_weights(pipe)["feature"].tolist()[:2]
    ['sim', '(intercept)']
    """
    order = _check_labels(order, "order")
    x = _features(features)
    y = _ranks(labels, order, len(x))
    keep = ~(np.isnan(x).any(axis=1) | np.isnan(y))
    return _model(features[keep] if isinstance(features, pd.DataFrame) else x[keep], y[keep].astype(int))


def combination_weights(pipeline, feature_names=None, *, order=LABELS) -> pd.DataFrame:
    """Tidy coefficients of :func:`fit_combination`: ``label, feature, coefficient``.

    Coefficients are log-odds per standard deviation of the feature;
    ``feature == "(intercept)"`` holds the intercepts. scikit-learn's
    multinomial fit is symmetric (coefficients sum to 0 over the labels); a
    two-label fit has one row of coefficients, for the higher label.
    """
    order = _check_labels(order, "order")
    model = pipeline[-1]
    names = feature_names if feature_names is not None else getattr(pipeline, "feature_names_in_", range(model.coef_.shape[1]))
    classes = model.classes_[1:] if model.coef_.shape[0] == 1 else model.classes_
    rows = [
        {"label": order[int(c)], "feature": str(name), "coefficient": float(v)}
        for c, coef, icpt in zip(classes, model.coef_, model.intercept_)
        for name, v in [*zip(names, coef), ("(intercept)", icpt)]
    ]
    return pd.DataFrame(rows, columns=["label", "feature", "coefficient"])


def cross_validated_combination(features, labels, groups, *, order=LABELS, n_splits=None, weights="quadratic") -> pd.DataFrame:
    """Held-out combined score and label; model and cut-offs fitted per grouped fold.

    In each fold (as in :func:`cross_validated_labels`) the model of
    :func:`fit_combination` is fitted on the training rows only; cut-offs are
    fitted (:func:`fit_cutoffs`) on the training rows' in-sample expected
    grades and applied to the held-out rows' expected grades.

    Returns
    -------
    pandas.DataFrame
        ``score_cv`` (held-out expected grade; NaN where a feature is
        missing), ``label_cv`` (None there), ``c1``, ``c2``, ``fold``; index
        of ``features`` if it is a DataFrame.

    Examples
    --------
    >>> x = [[.1], [.5], [.9], [.2], [.6], [.8], [.15], [.55], [.85]]
    >>> cv = cross_validated_combination(x, list("IPCIPCIPC"), [1, 1, 1, 2, 2, 2, 3, 3, 3])
    >>> cv["label_cv"].tolist()
    ['I', 'P', 'C', 'I', 'P', 'C', 'I', 'P', 'C']
    """
    order = _check_labels(order, "order")
    x = _features(features)
    y = _ranks(labels, order, len(x))
    complete = ~np.isnan(x).any(axis=1)

    def scorer(fit, test):
        model = _model(x[fit[complete[fit]]], y[fit[complete[fit]]].astype(int))
        out = [np.full(len(rows), np.nan) for rows in (fit, test)]
        for o, rows in zip(out, (fit, test)):
            o[complete[rows]] = _expected_grade(model, x[rows[complete[rows]]])
        return out

    return pd.DataFrame(_cross_validate(groups, y, n_splits, order, weights, scorer), index=_index(features))


def _complete(values, field: str) -> np.ndarray:
    arr = _floats(values, field)
    if np.isnan(arr).any():
        raise InputError(f"has {int(np.isnan(arr).sum())} missing value(s); drop those rows first", field=field)
    return arr


def ppi_mean_ci(y_labelled, yhat_labelled, yhat_unlabelled, *, alpha=0.05, lam=None) -> tuple:
    """Prediction-powered estimate and (1 - alpha) CI of the mean of ``y``.

    .. math:: \\hat\\theta = \\frac{\\lambda}{N}\\sum_{j} \\hat y^u_j
              + \\frac{1}{n}\\sum_i (y_i - \\lambda \\hat y_i)

    with a normal interval from the variances of both terms
    (``ppi_py.ppi_mean_pointestimate`` and ``ppi_py.ppi_mean_ci``).
    ``lam=None`` estimates the power-tuning ``lambda`` (PPI++, clipped to
    [0, 1]), so the interval is asymptotically never wider than the classical
    one; ``lam=1`` is the original PPI, ``lam=0`` the classical interval.

    Returns ``(estimate, low, high)``. Missing values are an error.

    References
    ----------
    .. [1] Angelopoulos et al., "Prediction-powered inference", Science 382, 2023.
    .. [2] Angelopoulos, Duchi, Zrnic, "PPI++: Efficient prediction-powered
       inference", arXiv:2311.01453, 2023.

    Examples
    --------
    >>> y, yhat = [1, 0, 1, 1], [1, 0, 1, 0]
    >>> [round(v, 3) for v in ppi_mean_ci(y, yhat, [1, 1, 0, 1, 0, 1], lam=1)]
    [0.917, 0.349, 1.484]
    """
    import ppi_py

    y, yh = _complete(y_labelled, "y_labelled"), _complete(yhat_labelled, "yhat_labelled")
    yu = _complete(yhat_unlabelled, "yhat_unlabelled")
    if len(y) != len(yh):
        raise InputError(f"has {len(yh)} values but y_labelled has {len(y)}", field="yhat_labelled")
    low, high = ppi_py.ppi_mean_ci(y, yh, yu, alpha=alpha, lam=lam)
    estimate = ppi_py.ppi_mean_pointestimate(y, yh, yu, lam=lam)
    return tuple(float(np.ravel(v)[0]) for v in (estimate, low, high))


def classical_mean_ci(y_labelled, *, alpha=0.05) -> tuple:
    """Mean and normal (CLT) interval from the labels alone: ``ppi_py.classical_mean_ci``.

    .. math:: \\bar y \\pm z_{1-\\alpha/2}\\, s / \\sqrt{n}, \\quad s = \\text{std with ddof 0}

    Returns ``(estimate, low, high)``.

    Examples
    --------
    >>> [round(v, 3) for v in classical_mean_ci([1, 0, 1, 1])]
    [0.75, 0.326, 1.174]
    """
    import ppi_py

    y = _complete(y_labelled, "y_labelled")
    low, high = ppi_py.classical_mean_ci(y, alpha=alpha)
    return tuple(float(np.ravel(v)[0]) for v in (y.mean(), low, high))


def ppi_width_curve(y, yhat, *, ns=(10, 20, 30, 50, 75, 100, 150, 200), n_repeats=50, seed=0, alpha=0.05, lam=None) -> pd.DataFrame:
    """Simulated PPI and classical intervals when only ``n`` labels are kept.

    For each ``n`` (those with ``2 <= n < len(y)``) and each repeat, ``n``
    random rows keep their label ``y``; the others keep only ``yhat``.

    Returns
    -------
    pandas.DataFrame
        ``n, method ("PPI" / "classical"), repeat, estimate, low, high,
        width, covers`` (the interval contains the mean of all of ``y``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.binomial(1, 0.6, 300).astype(float)
    >>> curve = ppi_width_curve(y, y + rng.normal(0, 0.3, 300), ns=(20, 50), n_repeats=10)
    >>> w = curve.groupby(["n", "method"])["width"].mean().unstack()
    >>> bool((w["PPI"] < w["classical"]).all())
    True
    """
    y, yhat = _complete(y, "y"), _complete(yhat, "yhat")
    if len(y) != len(yhat):
        raise InputError(f"has {len(yhat)} values but y has {len(y)}", field="yhat")
    rng, truth, rows = np.random.default_rng(seed), y.mean(), []
    for n in (n for n in ns if 2 <= n < len(y)):
        for repeat in range(n_repeats):
            perm = rng.permutation(len(y))
            lab, unl = perm[:n], perm[n:]
            results = {
                "PPI": ppi_mean_ci(y[lab], yhat[lab], yhat[unl], alpha=alpha, lam=lam),
                "classical": classical_mean_ci(y[lab], alpha=alpha),
            }
            for method, (est, low, high) in results.items():
                rows.append({"n": n, "method": method, "repeat": repeat, "estimate": est, "low": low, "high": high,
                             "width": high - low, "covers": bool(low <= truth <= high)})  # fmt: skip
    return pd.DataFrame(rows, columns=["n", "method", "repeat", "estimate", "low", "high", "width", "covers"])
