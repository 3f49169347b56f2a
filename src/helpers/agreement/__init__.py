"""Agreement between an LLM judge and human labels, with bootstrap intervals.

Human labels are ordered categories, by default ``("I", "P", "C")``
(incorrect < partial < correct); the order of ``labels`` is the ordinal order
that weighted kappa and ordinal alpha use, and a label's rank (0, 1, 2, ...)
is its position in ``labels``.

Conventions shared by every function here:

* **Missing values are excluded pairwise, never filled.** ``None``, ``NaN`` and
  ``pandas.NA`` (e.g. a judge reply that could not be parsed) drop that pair;
  :func:`agreement_summary` reports how many pairs were dropped in
  ``n_missing``.
* **Anything else outside ``labels`` is an error** (:class:`InputError` naming
  the argument in ``field``), as is a length mismatch: a typo in a label file
  must not become a silent disagreement.
* **Undefined statistics are NaN.** Cohen's kappa and Krippendorff's alpha are
  0/0 when both raters give one and the same label to every unit (and every
  statistic is undefined with no pairs); they return ``nan`` rather than a
  made-up 0 or 1.

Statistic names used in the tidy tables (:data:`STATISTICS`):
``raw_agreement``, ``majority_baseline``, ``cohen_kappa``,
``cohen_kappa_linear``, ``cohen_kappa_quadratic``,
``krippendorff_alpha_ordinal``, ``gwet_ac1``. Each function's docstring gives
its formula and reference: Cohen (1960) and weighted kappa (Cohen 1968),
Krippendorff's alpha (Krippendorff 2011), Gwet's AC1 (Gwet 2008), the
percentile and cluster bootstrap (Efron & Tibshirani 1993; Field & Welsh 2007).

Layout: :mod:`helpers.agreement.coefficients` holds the statistics
(:func:`cohen_kappa`, :func:`krippendorff_alpha`, :func:`gwet_ac1`,
:func:`raw_agreement`, :func:`majority_baseline`, :data:`STATISTICS`) and
their label checking; :mod:`helpers.agreement.tables` the intervals and tidy
tables built on them (:class:`BootstrapCI`, :func:`bootstrap_ci`,
:func:`agreement_summary`, :func:`pairwise_agreement`,
:func:`per_group_agreement`, :func:`cutoff_sweep`). Every public name is
importable from ``helpers.agreement``.
"""

from ..labels import LABELS
from .coefficients import (
    STATISTICS,
    cohen_kappa,
    gwet_ac1,
    krippendorff_alpha,
    majority_baseline,
    raw_agreement,
)
from .tables import (
    BootstrapCI,
    agreement_summary,
    bootstrap_ci,
    cutoff_sweep,
    pairwise_agreement,
    per_group_agreement,
)

__all__ = [
    "LABELS",
    "STATISTICS",
    "BootstrapCI",
    "cohen_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
    "raw_agreement",
    "majority_baseline",
    "bootstrap_ci",
    "agreement_summary",
    "pairwise_agreement",
    "per_group_agreement",
    "cutoff_sweep",
]
