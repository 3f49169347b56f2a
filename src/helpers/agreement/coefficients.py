"""Agreement coefficients between two raters (or a raters x units matrix).

Cohen's kappa (unweighted and weighted), Krippendorff's alpha, Gwet's AC1,
raw agreement and the majority-class baseline, with their fast paths on
integer ranks (:data:`STATISTICS`, used by the tables and the bootstrap of
:mod:`helpers.agreement.tables`) and the label checking they share. The
conventions (missing values, labels, NaN) are in :mod:`helpers.agreement`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..errors import InputError
from ..labels import LABELS
from ..scoring import is_missing as _is_missing

__all__ = [
    "STATISTICS",
    "cohen_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
    "raw_agreement",
    "majority_baseline",
]


_WEIGHTS = (None, "linear", "quadratic")
_ALPHA_LEVELS = ("nominal", "ordinal", "interval")


# --------------------------------------------------------------------------
# input checking: labels -> integer ranks, missing values -> dropped pairs
# --------------------------------------------------------------------------


def _check_labels(labels, field: str = "labels") -> tuple:
    if isinstance(labels, (str, bytes)) or labels is None:
        raise InputError(f"must be a sequence of labels such as ('I', 'P', 'C'), got {labels!r}", field=field)
    labels = tuple(labels)
    if len(labels) < 2:
        raise InputError(f"needs at least two labels, got {labels!r}", field=field)
    if any(_is_missing(v) for v in labels):
        raise InputError(f"contains a missing value: {labels!r}", field=field)
    try:
        distinct = len(set(labels))
    except TypeError:
        raise InputError(f"labels must be hashable (strings or numbers), got {labels!r}", field=field) from None
    if distinct != len(labels):
        raise InputError(f"contains duplicates: {labels!r}", field=field)
    return labels


def _as_1d(values, field: str) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise InputError(f"must be a sequence of labels, got the string {values!r}", field=field)
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InputError(f"must be one-dimensional, got shape {arr.shape}", field=field)
    return arr


def _encode(values: np.ndarray, labels: tuple, field: str) -> np.ndarray:
    """Ranks (float, NaN for missing) of ``values``; raise on values outside ``labels``."""
    rank = {label: i for i, label in enumerate(labels)}
    out = np.full(len(values), np.nan)
    bad = []
    for i, v in enumerate(values):
        if _is_missing(v):
            continue
        try:
            out[i] = rank[v]
        except (KeyError, TypeError):
            bad.append((i, v))
    if bad:
        shown = ", ".join(f"{v!r} at position {i}" for i, v in bad[:5])
        more = f" ({len(bad)} in all)" if len(bad) > 5 else ""
        raise InputError(f"value(s) outside labels {labels!r}: {shown}{more}", field=field)
    return out


def _pair(a, b, labels, names=("a", "b")):
    """Ranks of the complete pairs, their mask, the number of pairs dropped, and the checked labels."""
    labels = _check_labels(labels)
    a = _as_1d(a, names[0])
    b = _as_1d(b, names[1])
    if len(a) != len(b):
        raise InputError(f"has {len(b)} values but {names[0]} has {len(a)}; they must pair up one to one", field=names[1])
    ra = _encode(a, labels, names[0])
    rb = _encode(b, labels, names[1])
    keep = ~(np.isnan(ra) | np.isnan(rb))
    return ra[keep].astype(np.intp), rb[keep].astype(np.intp), keep, int((~keep).sum()), labels


# --------------------------------------------------------------------------
# the statistics on integer ranks 0..k-1 (no checking: used in the bootstrap)
# --------------------------------------------------------------------------


def _kappa_ranks(x: np.ndarray, y: np.ndarray, k: int, weights=None) -> float:
    from sklearn.metrics import cohen_kappa_score

    if len(x) == 0:
        return float("nan")
    # Expected disagreement is 0 (kappa = 0/0) only when both raters give one
    # and the same label to every unit; weights do not change that.
    if x.min() == x.max() == y.min() == y.max():
        return float("nan")
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        value = float(cohen_kappa_score(x, y, labels=np.arange(k), weights=weights))
    return value if np.isfinite(value) else float("nan")


def _kappa_weights(k: int, weights=None) -> np.ndarray:
    """Disagreement weights ``w[i, j]``: ``i != j`` (None), ``|i - j|`` (linear) or ``(i - j)**2`` (quadratic)."""
    diff = np.subtract.outer(np.arange(k), np.arange(k))
    return (diff != 0) if weights is None else np.abs(diff) if weights == "linear" else diff**2


def _kappa_confusion(confusion: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cohen's kappa of a (true x predicted) confusion matrix, or of a stack of them, in one pass.

    ``kappa = 1 - sum(w * O) / sum(w * E)`` with ``O = C / n`` and ``E = outer(rows, cols) / n**2``,
    scikit-learn's formula; NaN where it is 0/0 (one label on both sides, or no pair).
    """
    confusion = np.asarray(confusion)
    n = confusion.sum(axis=(-2, -1))[..., None, None]
    if np.all(n > 0):
        observed = confusion / n
        expected = confusion.sum(-1)[..., :, None] * confusion.sum(-2)[..., None, :] / (n * n)
    else:
        n = np.where(n > 0, n, 1)  # no pair: observed and expected are 0, kappa NaN
        observed, expected = confusion / n, np.zeros(confusion.shape)
    den = (w * expected).sum(axis=(-2, -1))
    num = (w * observed).sum(axis=(-2, -1))
    return 1.0 - np.divide(num, den, out=np.full(np.shape(den), np.nan), where=den > 0)


def _kappa_numpy(x: np.ndarray, y: np.ndarray, k: int, weights=None) -> float:
    """Same formula as :func:`sklearn.metrics.cohen_kappa_score`, without its
    input checks (about 100 times faster); used only inside the bootstrap
    loop, and tested equal to scikit-learn."""
    confusion = np.bincount(x * k + y, minlength=k * k).reshape(k, k)
    return float(_kappa_confusion(confusion, _kappa_weights(k, weights)))


def _alpha_matrix(matrix: np.ndarray, k: int, level: str) -> float:
    """Krippendorff's alpha of a raters x units matrix of ranks (NaN = missing)."""
    import krippendorff

    counts = (~np.isnan(matrix)).sum(axis=0)
    pairable = matrix[:, counts >= 2]
    values = pairable[~np.isnan(pairable)]
    if values.size == 0 or values.min() == values.max():
        return float("nan")  # no pairable unit, or one value only: alpha is 0/0
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        value = float(
            krippendorff.alpha(
                reliability_data=pairable,
                value_domain=np.arange(k, dtype=float),
                level_of_measurement=level,
            )
        )
    return value if np.isfinite(value) else float("nan")


def _alpha_ranks(x: np.ndarray, y: np.ndarray, k: int, level: str = "ordinal") -> float:
    return _alpha_matrix(np.vstack([x, y]).astype(float), k, level)


def _ac1_ranks(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Gwet's AC1 (Gwet 2008) for two raters with complete pairs.

    ``pe = sum_q pi_q (1 - pi_q) / (k - 1)`` where ``pi_q`` is the share of
    all ``2 n`` ratings in category ``q`` and ``k`` is the number of
    categories on the scale (``len(labels)``, used or not).
    """
    n = len(x)
    if n == 0:
        return float("nan")
    pa = float(np.mean(x == y))
    pi = (np.bincount(x, minlength=k) + np.bincount(y, minlength=k)) / (2.0 * n)
    pe = float(np.sum(pi * (1.0 - pi)) / (k - 1))
    return (pa - pe) / (1.0 - pe)


def _raw_ranks(x: np.ndarray, y: np.ndarray, k: int | None = None) -> float:
    return float(np.mean(x == y)) if len(x) else float("nan")


def _majority_ranks(x: np.ndarray, k: int) -> float:
    return float(np.bincount(x, minlength=k).max() / len(x)) if len(x) else float("nan")


#: Two-rater statistics by name: ``name -> f(ranks_a, ranks_b, k)``.
STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray, int], float]] = {
    "raw_agreement": _raw_ranks,
    "cohen_kappa": lambda x, y, k: _kappa_ranks(x, y, k, None),
    "cohen_kappa_linear": lambda x, y, k: _kappa_ranks(x, y, k, "linear"),
    "cohen_kappa_quadratic": lambda x, y, k: _kappa_ranks(x, y, k, "quadratic"),
    "krippendorff_alpha_ordinal": lambda x, y, k: _alpha_ranks(x, y, k, "ordinal"),
    "gwet_ac1": _ac1_ranks,
}

# The same statistics for the bootstrap loop (kappa without scikit-learn's checks).
_FAST = dict(
    STATISTICS,
    cohen_kappa=lambda x, y, k: _kappa_numpy(x, y, k, None),
    cohen_kappa_linear=lambda x, y, k: _kappa_numpy(x, y, k, "linear"),
    cohen_kappa_quadratic=lambda x, y, k: _kappa_numpy(x, y, k, "quadratic"),
)


def _statistic_names(statistic, field: str = "statistic") -> list[str]:
    names = [statistic] if isinstance(statistic, str) else list(statistic)
    unknown = [s for s in names if s not in STATISTICS]
    if unknown or not names:
        raise InputError(f"unknown statistic(s) {unknown or names!r}; choose from {sorted(STATISTICS)}", field=field)
    return names


# --------------------------------------------------------------------------
# public two-rater statistics
# --------------------------------------------------------------------------


def cohen_kappa(a, b, *, labels=LABELS, weights=None) -> float:
    """Cohen's kappa between two raters, unweighted or weighted by label rank.

    Parameters
    ----------
    a, b : sequence
        The two raters' labels, paired by position. Missing values (``None``,
        ``NaN``) drop their pair.
    labels : sequence, default ``("I", "P", "C")``
        All possible labels, in ordinal order; weights use the rank (position)
        of a label, so ``("I", "P", "C")`` puts I and C two steps apart.
    weights : {None, "linear", "quadratic"}
        Disagreement weights ``|i - j|`` or ``(i - j)**2`` on the ranks
        (:func:`sklearn.metrics.cohen_kappa_score`).

    Returns
    -------
    float
        Kappa, or ``nan`` when it is undefined (no pairs, or both raters give
        one and the same label to every unit). A rater that always gives the
        same label scores 0 against a rater that varies.

    Raises
    ------
    InputError
        A value outside ``labels``, sequences of different lengths, or an
        unknown ``weights``.

    Notes
    -----
    With ``p_o`` the share of pairs on which the raters agree and ``p_e`` the
    agreement expected by chance from each rater's own label shares
    (``p_e = sum_q p_a(q) p_b(q)``), Cohen's (1960) kappa is::

        kappa = (p_o - p_e) / (1 - p_e)

    The weighted kappa (Cohen 1968) counts partial disagreement: with
    observed pair shares ``O[i, j]``, chance shares ``E[i, j] = p_a(i) p_b(j)``
    and weights ``w[i, j]`` (``|i - j|`` linear, ``(i - j)**2`` quadratic, on
    the ranks), ``kappa_w = 1 - sum w O / sum w E``. Unweighted kappa is the
    case ``w[i, j] = 1`` for ``i != j``.

    References
    ----------
    .. [1] Cohen, J. (1960). A coefficient of agreement for nominal scales.
       *Educational and Psychological Measurement*, 20(1), 37-46.
    .. [2] Cohen, J. (1968). Weighted kappa: Nominal scale agreement with
       provision for scaled disagreement or partial credit. *Psychological
       Bulletin*, 70(4), 213-220.

    Examples
    --------
    >>> round(cohen_kappa(["C", "C", "P", "I"], ["C", "P", "P", "I"]), 3)
    0.636
    >>> round(cohen_kappa(["C", "C", "P", "I"], ["C", "P", "P", "I"], weights="quadratic"), 3)
    0.8
    """
    if weights not in _WEIGHTS:
        raise InputError(f"must be None, 'linear' or 'quadratic', got {weights!r}", field="weights")
    x, y, _, _, labels = _pair(a, b, labels)
    return _kappa_ranks(x, y, len(labels), weights)


def krippendorff_alpha(a, b=None, *, labels=LABELS, level="ordinal") -> float:
    """Krippendorff's alpha for two raters or a raters x units matrix.

    Labels are mapped to their ranks (0, 1, ... in the order of ``labels``)
    and passed to :func:`krippendorff.alpha`.

    Parameters
    ----------
    a : sequence or 2-D array-like
        With ``b``: the first rater's labels. Without ``b``: a reliability
        matrix, one row per rater and one column per unit, missing values
        (``NaN``/``None``) where a rater did not label a unit.
    b : sequence, optional
        The second rater's labels, paired with ``a`` by position.
    labels : sequence, default ``("I", "P", "C")``
        All possible labels, in ordinal order.
    level : {"ordinal", "nominal", "interval"}
        Level of measurement. ``"interval"`` treats the ranks as equally
        spaced numbers; ``"ratio"`` is refused because ranks have no natural
        zero.

    Returns
    -------
    float
        Alpha, or ``nan`` when no unit has two values or all values are equal.

    Raises
    ------
    InputError
        A value outside ``labels``, a length mismatch, a matrix that is not
        2-D with at least two raters, or an unknown ``level``.

    Notes
    -----
    ::

        alpha = 1 - D_o / D_e

    where ``D_o`` is the observed disagreement, the mean of ``delta(c, k)``
    over every pair of values given to the same unit, and ``D_e`` the
    disagreement expected by chance, the same mean over all pairs of values
    pooled across units. ``delta`` is ``[c != k]`` (nominal), ``(c - k)**2``
    (interval) or, for ordinal data, the squared count of values between
    ``c`` and ``k`` (Krippendorff 2011). Units with a single value are left
    out; any number of raters and missing values are allowed.

    References
    ----------
    .. [1] Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.
       Annenberg School for Communication, University of Pennsylvania.
       https://repository.upenn.edu/asc_papers/43
    .. [2] Hayes, A. F., & Krippendorff, K. (2007). Answering the call for a
       standard reliability measure for coding data. *Communication Methods
       and Measures*, 1(1), 77-89.

    Examples
    --------
    >>> round(krippendorff_alpha(["C", "C", "P", "I"], ["C", "P", "P", "I"]), 3)
    0.79
    >>> m = [["C", "C", None], ["C", "P", "I"], ["C", "P", "I"]]
    >>> round(krippendorff_alpha(m, level="nominal"), 3)
    0.65
    """
    if level not in _ALPHA_LEVELS:
        raise InputError(f"must be one of {_ALPHA_LEVELS}, got {level!r}", field="level")
    if b is not None:
        x, y, _, _, labels = _pair(a, b, labels)
        return _alpha_ranks(x, y, len(labels), level)
    labels = _check_labels(labels)
    matrix = np.asarray(a, dtype=object)
    if matrix.ndim != 2:
        raise InputError(
            f"without b, a must be a 2-D raters x units matrix; got shape {matrix.shape} (pass b for two raters' sequences)",
            field="a",
        )
    if matrix.shape[0] < 2:
        raise InputError(f"needs at least two raters (rows), got {matrix.shape[0]}", field="a")
    ranks = np.vstack([_encode(row, labels, f"a[{i}]") for i, row in enumerate(matrix)])
    return _alpha_matrix(ranks, len(labels), level)


def gwet_ac1(a, b, *, labels=LABELS) -> float:
    """Gwet's AC1 agreement coefficient between two raters.

    ::

        AC1 = (p_a - p_e) / (1 - p_e),    p_e = sum_q pi_q (1 - pi_q) / (Q - 1)

    where ``p_a`` is the share of pairs on which the raters agree, ``pi_q`` the
    share of both raters' labels falling in category ``q`` and
    ``Q = len(labels)`` counts every category on the scale, used or not
    (Gwet 2008). Unlike kappa, AC1 stays high when both raters agree on a
    dominant label, and it is defined whenever there is one pair.

    Parameters
    ----------
    a, b : sequence
        The two raters' labels, paired by position; missing values drop
        their pair.
    labels : sequence, default ``("I", "P", "C")``
        All possible labels.

    Returns
    -------
    float
        AC1, or ``nan`` with no complete pair.

    Raises
    ------
    InputError
        A value outside ``labels`` or a length mismatch.

    References
    ----------
    .. [1] Gwet, K. L. (2008). Computing inter-rater reliability and its
       variance in the presence of high agreement. *British Journal of
       Mathematical and Statistical Psychology*, 61(1), 29-48.

    Examples
    --------
    >>> round(gwet_ac1(["C", "C", "P", "I"], ["C", "P", "P", "I"]), 3)
    0.628
    """
    x, y, _, _, labels = _pair(a, b, labels)
    return _ac1_ranks(x, y, len(labels))


def raw_agreement(a, b, *, labels=None) -> float:
    """Share of pairs with identical labels (observed agreement).

    ``p_o = (1/n) sum_i [a_i == b_i]`` over the ``n`` complete pairs: the
    ``p_o`` of :func:`cohen_kappa` and :func:`gwet_ac1`, with no correction
    for chance (read it beside :func:`majority_baseline`).

    Parameters
    ----------
    a, b : sequence
        Paired labels; missing values drop their pair.
    labels : sequence, optional
        When given, values outside it raise :class:`InputError`.

    Returns
    -------
    float
        Agreement in [0, 1], or ``nan`` with no complete pair.

    Examples
    --------
    >>> raw_agreement(["C", "C", "P", None], ["C", "P", "P", "I"])
    0.6666666666666666
    """
    a = _as_1d(a, "a")
    b = _as_1d(b, "b")
    if len(a) != len(b):
        raise InputError(f"has {len(b)} values but a has {len(a)}; they must pair up one to one", field="b")
    if labels is not None:
        x, y, _, _, _ = _pair(a, b, labels)
        return _raw_ranks(x, y)
    keep = np.array([not (_is_missing(u) or _is_missing(v)) for u, v in zip(a, b)], dtype=bool)
    if not keep.any():
        return float("nan")
    return float(np.mean([u == v for u, v in zip(a[keep], b[keep])]))


def majority_baseline(a, labels=LABELS) -> float:
    """Accuracy of always predicting the most common label of ``a``.

    The share of the most frequent label among the non-missing values of
    ``a`` (the human labels), ``max_q n_q / n``: the raw agreement a constant
    "judge" would get, the floor a judge's :func:`raw_agreement` must clear.

    Parameters
    ----------
    a : sequence
        Labels; missing values are left out.
    labels : sequence, default ``("I", "P", "C")``
        All possible labels; other values raise :class:`InputError`.

    Returns
    -------
    float
        The majority share, or ``nan`` when ``a`` has no values.

    Examples
    --------
    >>> majority_baseline(["C", "C", "P", "I", None])
    0.5
    """
    labels = _check_labels(labels)
    ranks = _encode(_as_1d(a, "a"), labels, "a")
    ranks = ranks[~np.isnan(ranks)].astype(np.intp)
    return _majority_ranks(ranks, len(labels))
