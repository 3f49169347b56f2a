"""Bootstrap intervals and tidy agreement tables.

The percentile and cluster bootstrap (:class:`BootstrapCI`, :func:`bootstrap_ci`)
and the tables built on :mod:`helpers.agreement.coefficients`: every statistic
with its interval (:func:`agreement_summary`), every pair of raters
(:func:`pairwise_agreement`), per group (:func:`per_group_agreement`) and every
score-to-label map (:func:`cutoff_sweep`). Conventions: :mod:`helpers.agreement`.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from ..errors import InputError
from ..labels import LABELS
from ..scoring import is_missing as _is_missing
from .coefficients import (
    _FAST,
    STATISTICS,
    _as_1d,
    _check_labels,
    _encode,
    _kappa_ranks,
    _majority_ranks,
    _pair,
    _raw_ranks,
    _statistic_names,
)

__all__ = [
    "BootstrapCI",
    "bootstrap_ci",
    "agreement_summary",
    "pairwise_agreement",
    "per_group_agreement",
    "cutoff_sweep",
]


# --------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------


class BootstrapCI(tuple):
    """``(low, high)`` percentile interval that also says how it was made.

    Unpacks like a pair (``low, high = bootstrap_ci(...)``) and carries
    ``n_boot`` (resamples drawn) and ``n_degenerate`` (resamples whose
    statistic was NaN, left out of the percentiles).

    Examples
    --------
    >>> ci = BootstrapCI(0.1, 0.3, n_degenerate=2, n_boot=100)
    >>> low, high = ci
    >>> (low, high, ci.n_degenerate)
    (0.1, 0.3, 2)
    """

    def __new__(cls, low, high, *, n_degenerate=0, n_boot=0):
        self = super().__new__(cls, (float(low), float(high)))
        self.n_degenerate = int(n_degenerate)
        self.n_boot = int(n_boot)
        return self

    def __getnewargs_ex__(self):  # so that copy and pickle keep the extras
        return (self[0], self[1]), {"n_degenerate": self.n_degenerate, "n_boot": self.n_boot}

    @property
    def low(self) -> float:
        return self[0]

    @property
    def high(self) -> float:
        return self[1]

    def __repr__(self):
        return f"BootstrapCI(low={self[0]!r}, high={self[1]!r}, n_degenerate={self.n_degenerate}, n_boot={self.n_boot})"


def _check_boot(n_boot, level):
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise InputError(f"must be a positive integer, got {n_boot!r}", field="n_boot")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InputError(f"must be between 0 and 1 (e.g. 0.95), got {level!r}", field="level")


def _blocks(groups, n: int):
    """Row indices of each group (None: every row is its own group)."""
    if groups is None:
        return None
    g = _as_1d(groups, "groups")
    if len(g) != n:
        raise InputError(f"has {len(g)} values but there are {n} rows", field="groups")
    missing = [i for i, v in enumerate(g) if _is_missing(v)]
    if missing:
        raise InputError(f"missing group at position(s) {missing[:5]}", field="groups")
    codes, _ = pd.factorize(pd.Series(g, dtype=object))
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes))[:-1]
    return np.split(order, bounds)


def _bootstrap(stat_fn, a, b, blocks, n_boot, seed, level):
    """(low, high, n_degenerate) of the percentile bootstrap of ``stat_fn(a, b)``."""
    n = len(a)
    if n == 0:
        return float("nan"), float("nan"), n_boot
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        if blocks is None:
            idx = rng.integers(0, n, size=n)
        else:
            pick = rng.integers(0, len(blocks), size=len(blocks))
            idx = np.concatenate([blocks[j] for j in pick])
        stats[i] = float(stat_fn(a[idx], b[idx]))
    ok = np.isfinite(stats)
    n_degenerate = int(n_boot - ok.sum())
    if not ok.any():
        return float("nan"), float("nan"), n_degenerate
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(stats[ok], [tail, 1.0 - tail])
    return float(low), float(high), n_degenerate


def bootstrap_ci(stat_fn, a, b, *, groups=None, n_boot=1000, seed=0, level=0.95) -> BootstrapCI:
    """Percentile bootstrap interval of ``stat_fn(a, b)``, optionally by group.

    Parameters
    ----------
    stat_fn : callable
        ``stat_fn(a_resampled, b_resampled) -> float``; gets numpy arrays.
    a, b : sequence
        Paired values (rows), passed to ``stat_fn`` as they are.
    groups : sequence, optional
        One group id per row (e.g. the question). When given, whole groups are
        drawn with replacement and keep all their rows (several annotators or
        repetitions of one question stay together), so the interval reflects
        the number of questions rather than of rows.
    n_boot : int, default 1000
        Number of resamples.
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same
        resamples for any ``stat_fn``.
    level : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    BootstrapCI
        ``(low, high)``; ``.n_degenerate`` counts resamples whose statistic
        was NaN (e.g. kappa of a resample with a single label), which are left
        out of the percentiles, with a :class:`RuntimeWarning` when there are
        any. ``(nan, nan)`` if every resample was degenerate.

    Raises
    ------
    InputError
        Lengths differ, a missing group id, ``n_boot < 1`` or ``level``
        outside (0, 1).

    Notes
    -----
    The percentile interval (Efron & Tibshirani 1993, ch. 13): draw ``n_boot``
    resamples of the rows (or of whole groups, the cluster bootstrap of
    Field & Welsh 2007), compute the statistic on each, and take the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the values.

    References
    ----------
    .. [1] Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the
       Bootstrap*. Chapman & Hall.
    .. [2] Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data.
       *Journal of the Royal Statistical Society B*, 69(3), 369-390.

    Examples
    --------
    >>> from helpers.agreement import raw_agreement
    >>> a = ["C", "C", "P", "I"] * 5
    >>> b = ["C", "P", "P", "I"] * 5
    >>> low, high = bootstrap_ci(raw_agreement, a, b, n_boot=200)
    >>> low <= raw_agreement(a, b) <= high
    True
    """
    _check_boot(n_boot, level)
    a = _as_1d(a, "a")
    b = _as_1d(b, "b")
    if len(a) != len(b):
        raise InputError(f"has {len(b)} values but a has {len(a)}; they must pair up one to one", field="b")
    low, high, n_degenerate = _bootstrap(stat_fn, a, b, _blocks(groups, len(a)), n_boot, seed, level)
    if n_degenerate:
        warnings.warn(
            f"{n_degenerate} of {n_boot} bootstrap resamples gave an undefined (NaN) statistic "
            "and were left out of the interval",
            RuntimeWarning,
            stacklevel=2,
        )
    return BootstrapCI(low, high, n_degenerate=n_degenerate, n_boot=n_boot)


# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------


_SUMMARY_ORDER = (
    "raw_agreement",
    "majority_baseline",
    "cohen_kappa",
    "cohen_kappa_linear",
    "cohen_kappa_quadratic",
    "krippendorff_alpha_ordinal",
    "gwet_ac1",
)


def agreement_summary(human, judge, *, labels=LABELS, groups=None, n_boot=1000, seed=0, level=0.95) -> pd.DataFrame:
    """Every agreement statistic of a judge against human labels, with intervals.

    Parameters
    ----------
    human, judge : sequence
        Paired labels. Missing values (e.g. a judge reply that could not be
        parsed) drop their pair and are counted in ``n_missing``.
    labels : sequence, default ``("I", "P", "C")``
        All possible labels, in ordinal order.
    groups : sequence, optional
        Group (question) of each pair, for the cluster bootstrap of
        :func:`bootstrap_ci`.
    n_boot : int, default 1000
        Bootstrap resamples; 0 skips the intervals (``ci_low``/``ci_high``
        are NaN).
    seed : int, default 0
        Seed; every statistic is bootstrapped on the same resamples.
    level : float, default 0.95
        Coverage of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per statistic (``raw_agreement``, ``majority_baseline``,
        ``cohen_kappa``, ``cohen_kappa_linear``, ``cohen_kappa_quadratic``,
        ``krippendorff_alpha_ordinal``, ``gwet_ac1``), columns ``statistic,
        value, ci_low, ci_high, n, n_missing``: ``n`` complete pairs used,
        ``n_missing`` pairs dropped. ``.attrs["n_degenerate"]`` maps each
        statistic to its number of NaN resamples (warned about when any).

    Raises
    ------
    InputError
        A value outside ``labels`` (``field`` ``"human"`` or ``"judge"``) or
        lengths that differ.

    Notes
    -----
    Formulas and references are in each statistic's own docstring:
    :func:`raw_agreement`, :func:`majority_baseline`, :func:`cohen_kappa`
    (Cohen 1960, 1968), :func:`krippendorff_alpha` (Krippendorff 2011),
    :func:`gwet_ac1` (Gwet 2008); intervals from :func:`bootstrap_ci`.

    Examples
    --------
    >>> t = agreement_summary(["C", "C", "P", "I"], ["C", "P", "P", None], n_boot=0)
    >>> row = t.set_index("statistic").loc["raw_agreement"]
    >>> round(row["value"], 3), int(row["n"]), int(row["n_missing"])
    (0.667, 3, 1)
    """
    x, y, keep, n_missing, labels = _pair(human, judge, labels, names=("human", "judge"))
    k = len(labels)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise InputError(f"must be a non-negative integer, got {n_boot!r}", field="n_boot")
    if n_boot:
        _check_boot(n_boot, level)
    blocks = None
    if groups is not None:
        g = _as_1d(groups, "groups")
        if len(g) != len(keep):
            raise InputError(f"has {len(g)} values but there are {len(keep)} pairs", field="groups")
        blocks = _blocks(g[keep], int(keep.sum()))
    def bind(fn):
        return lambda u, v: fn(u, v, k)

    point = {name: bind(fn) for name, fn in STATISTICS.items()}
    boot = {name: bind(fn) for name, fn in _FAST.items()}
    point["majority_baseline"] = boot["majority_baseline"] = lambda u, v: _majority_ranks(u, k)
    rows, degenerate = [], {}
    for name in _SUMMARY_ORDER:
        value = point[name](x, y)
        low = high = float("nan")
        if n_boot:
            low, high, degenerate[name] = _bootstrap(boot[name], x, y, blocks, n_boot, seed, level)
        rows.append({"statistic": name, "value": value, "ci_low": low, "ci_high": high, "n": len(x), "n_missing": n_missing})
    bad = {s: c for s, c in degenerate.items() if c}
    if bad and len(x):
        warnings.warn(
            f"bootstrap resamples with an undefined (NaN) statistic were left out of the intervals: {bad} of {n_boot}",
            RuntimeWarning,
            stacklevel=2,
        )
    table = pd.DataFrame(rows, columns=["statistic", "value", "ci_low", "ci_high", "n", "n_missing"])
    table.attrs["n_degenerate"] = degenerate
    return table


def _require_columns(frame: pd.DataFrame, columns) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"must be a pandas DataFrame, got {type(frame).__name__}", field="frame")
    for col in columns:
        if col not in frame.columns:
            raise InputError(f"column {col!r} not found; columns are {list(frame.columns)}", field=col)


def pairwise_agreement(
    frame: pd.DataFrame,
    *,
    rater_col: str = "rater",
    unit_col: str = "unit",
    label_col: str = "label",
    labels=LABELS,
    statistic=("cohen_kappa",),
    raters=None,
) -> pd.DataFrame:
    """Agreement for every pair of raters (humans and judges alike).

    Parameters
    ----------
    frame : pandas.DataFrame
        Long format, one row per rater and unit.
    rater_col, unit_col, label_col : str
        Columns with the rater id, the unit (item) id and the label.
    labels : sequence, default ``("I", "P", "C")``
        All possible labels, in ordinal order.
    statistic : str or sequence of str, default ``("cohen_kappa",)``
        Names from :data:`STATISTICS`.
    raters : sequence, optional
        Raters to compare, in this order; default all, in order of first
        appearance.

    Returns
    -------
    pandas.DataFrame
        Columns ``rater_a, rater_b, statistic, value, n, n_missing``: one row
        per pair (``rater_a`` before ``rater_b`` in rater order) and statistic;
        ``n`` units both labelled, ``n_missing`` units both have a row for but
        where a label is missing. Human-human and human-judge pairs sit in the
        same table.

    Raises
    ------
    InputError
        A missing column, a rater with two rows for one unit, an unknown rater
        or statistic, or a label outside ``labels``.

    Notes
    -----
    Each pair's statistic is computed on the units both raters labelled, as
    in :func:`cohen_kappa` and the other functions of :data:`STATISTICS` (see
    their docstrings for formulas and references).

    Examples
    --------
    >>> f = pd.DataFrame({"rater": ["h1"] * 3 + ["h2"] * 3 + ["judge"] * 3,
    ...                   "unit": [1, 2, 3] * 3,
    ...                   "label": list("CPI") + list("CPP") + list("CPI")})
    >>> pairwise_agreement(f)[["rater_a", "rater_b", "value", "n"]].round(3)
      rater_a rater_b  value  n
    0      h1      h2    0.5  3
    1      h1   judge    1.0  3
    2      h2   judge    0.5  3
    """
    _require_columns(frame, [rater_col, unit_col, label_col])
    labels = _check_labels(labels)
    names = _statistic_names(statistic)
    k = len(labels)
    dup = frame.duplicated([rater_col, unit_col], keep=False)
    if dup.any():
        first = frame.loc[dup, [rater_col, unit_col]].iloc[0].tolist()
        raise InputError(
            f"{int(dup.sum())} rows repeat a (rater, unit) pair, e.g. {first}; keep one label per rater and unit",
            field=unit_col,
        )
    ranks = pd.Series(_encode(frame[label_col].to_numpy(dtype=object), labels, label_col), index=frame.index)
    all_raters = list(pd.unique(frame[rater_col]))
    if raters is None:
        raters = all_raters
    else:
        raters = list(raters)
        unknown = [r for r in raters if r not in all_raters]
        if unknown:
            raise InputError(f"rater(s) {unknown} not in column {rater_col!r}", field="raters")
    by_rater = {
        r: pd.Series(ranks[frame[rater_col] == r].to_numpy(), index=frame.loc[frame[rater_col] == r, unit_col].to_numpy())
        for r in raters
    }
    rows = []
    for ra, rb in itertools.combinations(raters, 2):
        sa, sb = by_rater[ra], by_rater[rb]
        common = sa.index.intersection(sb.index, sort=False)
        xa, xb = sa.loc[common].to_numpy(), sb.loc[common].to_numpy()
        keep = ~(np.isnan(xa) | np.isnan(xb))
        x, y = xa[keep].astype(np.intp), xb[keep].astype(np.intp)
        for name in names:
            rows.append(
                {
                    "rater_a": ra,
                    "rater_b": rb,
                    "statistic": name,
                    "value": STATISTICS[name](x, y, k),
                    "n": int(keep.sum()),
                    "n_missing": int((~keep).sum()),
                }
            )
    return pd.DataFrame(rows, columns=["rater_a", "rater_b", "statistic", "value", "n", "n_missing"])


def per_group_agreement(
    frame: pd.DataFrame,
    *,
    group_col: str,
    a_col: str,
    b_col: str,
    labels=LABELS,
    statistic="cohen_kappa",
) -> pd.DataFrame:
    """Agreement of two label columns within each group (e.g. per query).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per item, with a group id and two raters' labels.
    group_col : str
        Column with the group (query/question) id.
    a_col, b_col : str
        Columns with the two raters' labels (e.g. human and judge).
    labels : sequence, default ``("I", "P", "C")``
        All possible labels, in ordinal order.
    statistic : str or sequence of str, default ``"cohen_kappa"``
        Names from :data:`STATISTICS`.

    Returns
    -------
    pandas.DataFrame
        Columns ``<group_col>, statistic, value, n, n_missing``, groups in
        order of first appearance. Within a small group kappa is often
        undefined (a single label on both sides): ``value`` is then NaN.

    Raises
    ------
    InputError
        A missing column, unknown statistic or a label outside ``labels``
        (``field`` is the column).

    Notes
    -----
    The statistic of each group is that of the whole table restricted to the
    group's rows (formulas in :func:`cohen_kappa`, :func:`gwet_ac1`, ...). It
    shows where a judge agrees and where it does not; for one number with an
    interval use :func:`agreement_summary` with ``groups=``.

    Examples
    --------
    >>> f = pd.DataFrame({"q": [1, 1, 1, 2, 2, 2],
    ...                   "human": list("CPI") + list("CCI"),
    ...                   "judge": list("CPI") + list("CII")})
    >>> per_group_agreement(f, group_col="q", a_col="human", b_col="judge",
    ...                     statistic="raw_agreement")[["q", "value", "n"]].round(3)
       q  value  n
    0  1  1.000  3
    1  2  0.667  3
    """
    _require_columns(frame, [group_col, a_col, b_col])
    labels = _check_labels(labels)
    names = _statistic_names(statistic)
    k = len(labels)
    ra = _encode(frame[a_col].to_numpy(dtype=object), labels, a_col)
    rb = _encode(frame[b_col].to_numpy(dtype=object), labels, b_col)
    groups = frame[group_col].to_numpy(dtype=object)
    if any(_is_missing(g) for g in groups):
        raise InputError("has missing group ids", field=group_col)
    codes, uniques = pd.factorize(pd.Series(groups, dtype=object))
    rows = []
    for code, group in enumerate(uniques):
        sel = codes == code
        xa, xb = ra[sel], rb[sel]
        keep = ~(np.isnan(xa) | np.isnan(xb))
        x, y = xa[keep].astype(np.intp), xb[keep].astype(np.intp)
        for name in names:
            rows.append(
                {
                    group_col: group,
                    "statistic": name,
                    "value": STATISTICS[name](x, y, k),
                    "n": int(keep.sum()),
                    "n_missing": int((~keep).sum()),
                }
            )
    return pd.DataFrame(rows, columns=[group_col, "statistic", "value", "n", "n_missing"])


def _scores(scores, max_score: int) -> np.ndarray:
    arr = _as_1d(scores, "scores")
    out = np.full(len(arr), np.nan)
    bad = []
    for i, v in enumerate(arr):
        if _is_missing(v):
            continue
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        if ok and float(v).is_integer() and 0 <= v <= max_score:
            out[i] = float(v)
        else:
            bad.append((i, v))
    if bad:
        shown = ", ".join(f"{v!r} at position {i}" for i, v in bad[:5])
        raise InputError(f"scores must be integers 0..{max_score}; got {shown}", field="scores")
    return out


def cutoff_sweep(scores, human, *, labels=LABELS, max_score: int = 3) -> pd.DataFrame:
    """Agreement of every monotone map from judge scores to labels.

    For ``k`` labels, cut-offs ``c1 <= c2 <= ... <= c(k-1)`` in
    ``0..max_score + 1`` map a score ``s`` to the label whose rank is the
    number of cut-offs ``<= s``. With three labels: ``s < c1`` -> I,
    ``c1 <= s < c2`` -> P, ``s >= c2`` -> C; each label gets a contiguous,
    possibly empty, range of scores. The study's map (0 -> I, 1-2 -> P,
    3 -> C) is ``c1=1, c2=3``.

    Parameters
    ----------
    scores : sequence of int
        Judge scores ``0..max_score``; missing values drop their pair.
    human : sequence
        Human labels paired with ``scores``; missing values drop their pair.
    labels : sequence, default ``("I", "P", "C")``
        Labels in ordinal order.
    max_score : int, default 3
        Highest score.

    Returns
    -------
    pandas.DataFrame
        One row per map: ``c1 .. c(k-1)``, ``mapping`` (e.g. ``"0:I 1:P 2:P
        3:C"``), ``cohen_kappa``, ``cohen_kappa_quadratic``,
        ``raw_agreement``, ``n``, ``n_missing``; sorted by quadratic kappa,
        best first (NaN last, ties by cut-offs).

    Raises
    ------
    InputError
        A score that is not an integer in ``0..max_score``, a label outside
        ``labels``, or a length mismatch.

    Notes
    -----
    There are ``C(max_score + k, k - 1)`` monotone maps (20 for 0-3 scores
    and three labels). Choosing the best map on the same labels it is scored
    on overstates agreement; fit cut-offs on held-out questions instead
    (:func:`helpers.calibration.cross_validated_labels`).

    Examples
    --------
    >>> t = cutoff_sweep([3, 2, 1, 0], ["C", "P", "P", "I"])
    >>> t.iloc[0][["c1", "c2", "mapping", "cohen_kappa_quadratic"]].tolist()
    [1, 3, '0:I 1:P 2:P 3:C', 1.0]
    """
    if isinstance(max_score, bool) or not isinstance(max_score, (int, np.integer)) or max_score < 1:
        raise InputError(f"must be a positive integer, got {max_score!r}", field="max_score")
    labels = _check_labels(labels)
    k = len(labels)
    s = _scores(scores, int(max_score))
    h = _as_1d(human, "human")
    if len(h) != len(s):
        raise InputError(f"has {len(h)} values but scores has {len(s)}; they must pair up one to one", field="human")
    rh = _encode(h, labels, "human")
    keep = ~(np.isnan(s) | np.isnan(rh))
    s_kept, y = s[keep].astype(np.intp), rh[keep].astype(np.intp)
    score_values = np.arange(max_score + 1)
    rows = []
    for cuts in itertools.combinations_with_replacement(range(max_score + 2), k - 1):
        cut_arr = np.asarray(cuts)
        to_rank = np.searchsorted(cut_arr, score_values, side="right")
        x = to_rank[s_kept]
        row = {f"c{i + 1}": int(c) for i, c in enumerate(cuts)}
        row["mapping"] = " ".join(f"{v}:{labels[r]}" for v, r in zip(score_values, to_rank))
        row["cohen_kappa"] = _kappa_ranks(x, y, k, None)
        row["cohen_kappa_quadratic"] = _kappa_ranks(x, y, k, "quadratic")
        row["raw_agreement"] = _raw_ranks(x, y)
        row["n"] = int(keep.sum())
        row["n_missing"] = int((~keep).sum())
        rows.append(row)
    table = pd.DataFrame(rows)
    table = table.sort_values("cohen_kappa_quadratic", ascending=False, na_position="last", kind="stable")
    return table.reset_index(drop=True)
