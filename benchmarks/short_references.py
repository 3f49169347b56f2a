"""Does the correctness judge carry to answers it was not tuned on? Short references, long answers, from FaQuAD.

The judge's default variant and its shipped cut-offs were chosen on the
sample's 196 labelled answers, whose references are a sentence or two. Real
question sets often have a bare span as the reference ("1998", "a reitoria")
and answers that say more than it. This builds such a set from FaQuAD
(pt-BR questions about university documents, ``../shared/data/faquad/train.json``,
read in place): for ``n_questions`` paragraphs (seed 1, the first question of
each, answer spans up to 60 characters), the reference is the gold span and
two answers are sentences of the same paragraph (40-300 characters):

* **C**: the first sentence that holds the span;
* **I**: the longest sentence that does not, on topic but not the answer.

Both are graded as ``python -m helpers grade`` grades (default variant,
guarded, the shipped cut-offs: nothing is fitted here) beside token F1, whose
two cut-offs (the same C/P/I scale) are fitted leaving one question out. Reported: the judge's labels
against the truth, quadratic kappa with a 95% interval from resampling
questions, ROC AUC of the judge's expected grade and of token F1, and how
often the C answer outranks the I answer of its own question. There is no P
answer: this checks transfer, not the whole scale.

Then :func:`transfer`: do cut-offs fitted on one source label the other?
The sample's 196 labelled answers (bank and contrast set) and these, each
scored three ways: the default's anchored grade, the plain grade of its
twin ``fewshot-en`` (the same calls) and a logistic combination of the plain
grade with the reference's own; fitted on one source, quadratic kappa on
the other (and, for reference, within each source leaving one question
out).

About 20 minutes the first time on 2 cores (270 calls here, the sample's
196 answers if 06 has not graded them), seconds cached.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FAQUAD = ROOT.parent / "shared" / "data" / "faquad" / "train.json"


def items(n_questions: int = 90, *, path=FAQUAD, seed: int = 1) -> pd.DataFrame:
    """``question_id, question, reference, answer, answer_source, label``: a C and an I answer per question."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    paragraphs = [p for doc in data for p in doc["paragraphs"]]
    order = list(range(len(paragraphs)))
    random.Random(seed).shuffle(order)
    rows = []
    for i in order:
        p = paragraphs[i]
        qa = p["qas"][0]
        span = qa["answers"][0]["text"].strip()
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", p["context"]) if 40 <= len(s.strip()) <= 300]
        holds = [s for s in sentences if span in s]
        lacks = [s for s in sentences if span not in s]
        if not span or len(span) > 60 or not holds or not lacks:
            continue
        qid = f"f{len(rows) // 2:02d}"
        for label, answer in (("C", holds[0]), ("I", max(lacks, key=len))):
            rows.append({"question_id": qid, "question": qa["question"], "reference": span, "answer": answer,
                         "answer_source": f"faquad:{label}", "label": label})
        if len(rows) == 2 * n_questions:
            break
    return pd.DataFrame(rows)


def run(n_questions: int = 90, cache_dir=ROOT / "data" / "cache") -> dict:
    import warnings

    from sklearn.metrics import roc_auc_score

    from helpers import calibration, correctness
    from helpers.agreement import agreement_summary
    from helpers.baselines import baseline_scores
    from helpers.llm import get_llm

    frame = items(n_questions)
    llm = get_llm({"backend": "llama_cpp", "model": "default"}, cache_dir=cache_dir)
    judged = correctness.judge_correctness(llm, frame, variant=correctness.DEFAULT_VARIANT, guard=True, progress=False)
    frame["judge_label"], frame["expected"] = judged["label"].to_numpy(), judged["expected_score"].to_numpy()
    frame["token_f1"] = baseline_scores(frame, reference_col="reference")["token_f1"].to_numpy()
    f1_cv = calibration.cross_validated_labels(frame["token_f1"], frame["label"], frame["question_id"])
    is_c = (frame["label"] == "C").astype(int)
    paired = frame.pivot(index="question_id", columns="label", values="expected")

    def qwk(labels) -> list:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s = agreement_summary(frame["label"], labels, groups=frame["question_id"]).set_index("statistic")
        return [round(float(s.loc["cohen_kappa_quadratic", c]), 2) for c in ("value", "ci_low", "ci_high")]

    return {
        "questions": int(frame["question_id"].nunique()), "answers": len(frame),
        "reference_words_median": float(frame["reference"].str.split().str.len().median()),
        "answer_words_median": float(frame["answer"].str.split().str.len().median()),
        "variant": correctness.DEFAULT_VARIANT,
        "judge_labels": {t: frame.loc[frame["label"] == t, "judge_label"].value_counts().to_dict() for t in ("C", "I")},
        "judge_qwk_shipped_cutoffs": qwk(frame["judge_label"]),
        "token_f1_qwk_cv_cutoff": qwk(f1_cv["label_cv"].to_numpy()),
        "judge_auc": round(float(roc_auc_score(is_c, frame["expected"])), 3),
        "token_f1_auc": round(float(roc_auc_score(is_c, frame["token_f1"])), 3),
        "c_above_i_within_question": round(float((paired["C"] > paired["I"]).mean()), 3),
        "transfer_qwk": transfer(frame, llm),
    }


def transfer(frame: pd.DataFrame, llm) -> dict:
    """Quadratic kappa [95% interval] of labels from cut-offs fitted on one source and applied to the other."""
    import warnings

    from helpers import calibration, correctness, lab, retrieval
    from helpers.agreement import agreement_summary

    qs = retrieval.read_questions(ROOT / "data/sample/questions.csv")
    sample = lab.labelled_answers(qs, {"bank": ROOT / "data/sample/answer_bank.csv",
                                       "contrast": ROOT / "data/sample/contrast_set.csv"})
    scored = {}
    for name, items in (("sample", sample), ("faquad", frame)):
        a, p = (correctness.judge_correctness(llm, items, variant=v, guard=True, cutoffs=None, progress=False)
                for v in (correctness.DEFAULT_VARIANT, "fewshot-en"))
        scored[name] = pd.DataFrame({"question_id": items["question_id"].to_numpy(), "label": items["label"].to_numpy(),
                                     "anchored": a["expected_score"].to_numpy(), "plain": p["expected_score"].to_numpy()})
        scored[name]["reference_own"] = scored[name]["plain"] - scored[name]["anchored"]

    def qwk(t, labels):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s = agreement_summary(t["label"], labels, groups=t["question_id"]).set_index("statistic")
        return [round(float(s.loc["cohen_kappa_quadratic", c]), 2) for c in ("value", "ci_low", "ci_high")]

    out = {}
    for fit_on, test_on in (("sample", "faquad"), ("faquad", "sample")):
        tr, te = scored[fit_on], scored[test_on]
        row = {c: qwk(te, calibration.apply_cutoffs(te[c], calibration.fit_cutoffs(tr[c], tr["label"])))
               for c in ("anchored", "plain")}
        model = calibration.fit_combination(tr[COMBINED], tr["label"])
        row["combined"] = qwk(te, calibration.apply_cutoffs(_grade(model, te), calibration.fit_cutoffs(_grade(model, tr), tr["label"])))
        out[f"{fit_on}_to_{test_on}"] = row
    for name, t in scored.items():  # within one source, cut-offs fitted leaving one question out
        out[f"{name}_leave_one_question_out"] = {
            c: qwk(t, calibration.cross_validated_labels(t[c], t["label"], t["question_id"])["label_cv"].to_numpy())
            for c in ("anchored", "plain")}
    return out


COMBINED = ["plain", "reference_own"]


def _grade(model, t: pd.DataFrame):
    """The combination's expected grade, sum_k k P(k | plain, reference's own)."""
    return model.predict_proba(t[COMBINED]) @ model.classes_.astype(float)


if __name__ == "__main__":
    out = run()
    print(json.dumps(out, indent=2, ensure_ascii=False))
    (ROOT / "benchmarks" / "results" / "short_references.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
