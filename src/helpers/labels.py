"""The study's answer labels and the maps between scores and labels.

One home for the C/P/I vocabulary that the readers, the judges, the
statistics and the plots share:

========================  ==================================================
``LABELS``                the labels in ordinal order, worst first: I < P < C
``LABEL_NAMES``           each label's name (incorrect, partial, correct)
``FORM_ORDER``            the order a labelling form offers them (best first)
``RANK``                  each label's ordinal value (I 0, P 1, C 2)
``SCORE_LABELS``          the study's 0-3 judge score -> label map
``GRADE_LABELS``          a 0-2 correctness grade -> label map
``LABEL_GRADES``          a label -> its 0-2 grade (the inverse of the above)
``LABEL_WORDS``           words a record may write for a label -> the label
========================  ==================================================

The maps are read-only (:class:`types.MappingProxyType`); pass ``dict(...)``
of one where a caller needs its own copy to change.

Examples
--------
>>> from helpers.labels import LABELS, RANK, SCORE_LABELS
>>> LABELS
('I', 'P', 'C')
>>> RANK["C"] - RANK["I"]
2
>>> [SCORE_LABELS[s] for s in (0, 1, 2, 3)]
['I', 'P', 'P', 'C']
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "CORRECT",
    "FORM_ORDER",
    "GRADE_LABELS",
    "INCORRECT",
    "LABELS",
    "LABEL_GRADES",
    "LABEL_NAMES",
    "LABEL_WORDS",
    "PARTIAL",
    "RANK",
    "SCORE_LABELS",
]

#: An answer that is correct, partially correct, or incorrect.
CORRECT, PARTIAL, INCORRECT = "C", "P", "I"

#: The study's human labels in ordinal order: incorrect < partial < correct.
LABELS: tuple = (INCORRECT, PARTIAL, CORRECT)

#: The order a labelling form and a record list the labels in: best first.
FORM_ORDER: tuple = (CORRECT, PARTIAL, INCORRECT)

#: Each label's English name.
LABEL_NAMES = MappingProxyType({CORRECT: "correct", PARTIAL: "partial", INCORRECT: "incorrect"})

#: Each label's ordinal value, from 0 (incorrect) to 2 (correct).
RANK = MappingProxyType({label: i for i, label in enumerate(LABELS)})

#: The study's mapping from a judge's 0-3 score to a label (0.33 -> P, 1.00 -> C).
SCORE_LABELS = MappingProxyType({3: CORRECT, 2: PARTIAL, 1: PARTIAL, 0: INCORRECT})

#: A 0-2 correctness grade -> its label (the labels' own scale).
GRADE_LABELS = MappingProxyType({2: CORRECT, 1: PARTIAL, 0: INCORRECT})

#: A label -> its 0-2 grade.
LABEL_GRADES = MappingProxyType({label: grade for grade, label in GRADE_LABELS.items()})

#: Words (lower case, English and Portuguese) a record may write for a label.
LABEL_WORDS = MappingProxyType(
    {
        "c": CORRECT, "correct": CORRECT, "correto": CORRECT, "correta": CORRECT,
        "p": PARTIAL, "partial": PARTIAL, "partially correct": PARTIAL, "parcial": PARTIAL,
        "parcialmente correto": PARTIAL, "parcialmente correta": PARTIAL,
        "i": INCORRECT, "incorrect": INCORRECT, "incorreto": INCORRECT, "incorreta": INCORRECT,
        "wrong": INCORRECT,
    }
)  # fmt: skip

