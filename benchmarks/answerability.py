"""Does the generator abstain when the context does not hold the answer? A dev set built from FaQuAD.

The sample has two unanswerable questions, too few to choose a rule on. So
the rule is chosen on FaQuAD (pt-BR questions about university documents,
``../shared/data/faquad/train.json``, read in place) and then checked on the
sample. Each of ``n_questions`` questions (at most two per document, seed 0)
is asked twice, as 03 asks it (check, draft, 240-token lexical context from
three "segments"):

* **answerable**: its own paragraph first, then the two paragraphs of the
  same document nearest to the question by E5;
* **unanswerable**: the three paragraphs of the same document nearest to the
  question that do not contain its answer. On-topic text without the
  answer is the hard case: q27 and q28 of the sample are on-topic too.

Every draft then gets the judge's one-digit groundedness score (what 03's
``min_groundedness`` reads). The report: how well P(yes) of the first check
and the draft's groundedness separate the two kinds (ROC AUC), and, for a
few thresholds, how many drafts of each kind would be withheld. The default
threshold is the lowest groundedness of an answerable FaQuAD draft, rounded
down to a tenth: no answerable dev question loses its answer.
``--run DIR`` adds the same numbers for a run's answers (03 with
``min_groundedness`` > 0 stores ``draft_groundedness``).

About 30 minutes the first time on 2 cores (156 calls), seconds cached.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FAQUAD = ROOT.parent / "shared" / "data" / "faquad" / "train.json"
THRESHOLDS = (1.5, 1.6, 1.75, 2.0)


def pairs(n_questions: int = 40, *, path=FAQUAD, embed=None, seed: int = 0):
    """FaQuAD questions, each with a context that holds its answer and one that does not.

    Returns ``(questions, retrieved)``: ``question_id, question, kind, reference``
    and 03-style retrievals (``question_id, rank, segment_id, lecture_id,
    start_s, end_s, text``), three paragraphs per question id.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    docs = [a for a in data if len(a["paragraphs"]) >= 4]  # enough paragraphs for three without the answer
    items = [(di, pi, qa) for di, a in enumerate(docs) for pi, p in enumerate(a["paragraphs"]) for qa in p["qas"]]
    random.Random(seed).shuffle(items)
    per_doc, chosen = {}, []
    for di, pi, qa in items:
        if per_doc.get(di, 0) < 2:
            per_doc[di] = per_doc.get(di, 0) + 1
            chosen.append((di, pi, qa))
        if len(chosen) == n_questions:
            break
    qrows, rets = [], []
    for k, (di, pi, qa) in enumerate(chosen):
        paras = [p["context"] for p in docs[di]["paragraphs"]]
        answers = {x["text"].strip().lower() for x in qa["answers"]}
        near = np.argsort(-(embed(paras, "passage") @ embed([qa["question"]], "query")[0]))
        others = [int(i) for i in near if i != pi]
        without = [i for i in others if not any(a in paras[i].lower() for a in answers)][:3]
        if len(without) < 3:
            continue
        for kind, ids in (("answerable", [pi] + others[:2]), ("unanswerable", without)):
            qid = f"f{k:02d}{kind[0]}"
            qrows.append({"question_id": qid, "question": qa["question"], "kind": kind, "reference": sorted(answers)[0]})
            rets += [{"question_id": qid, "rank": r, "segment_id": f"d{di}-{i}", "lecture_id": f"doc{k:02d}", "start_s": 0.0,
                      "end_s": 0.0, "text": paras[i]} for r, i in enumerate(ids, start=1)]
    return pd.DataFrame(qrows), pd.DataFrame(rets)


def _table(frame: pd.DataFrame, unanswerable) -> dict:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(unanswerable, dtype=bool)
    g = frame["draft_groundedness"].to_numpy(float)
    p = frame["p_answerable"].to_numpy(float)
    out = {"answerable": int((~y).sum()), "unanswerable": int(y.sum()),
           "check_abstained": {"answerable": int(((p < 0.5) & ~y).sum()), "unanswerable": int(((p < 0.5) & y).sum())}}
    if y.any() and (~y).any():
        out["auc_p_yes"] = round(float(roc_auc_score(y, -p)), 3)
        ok = ~np.isnan(g)
        out["auc_groundedness"] = round(float(roc_auc_score(y[ok], -g[ok])), 3) if len(set(y[ok])) == 2 else None
    out["withheld"] = {f"{t:g}": {"answerable": int(((g < t) & ~y).sum()), "unanswerable": int(((g < t) & y).sum())}
                       for t in THRESHOLDS}
    return out


def run(n_questions: int = 40, run_dir: str | None = None) -> dict:
    from helpers import embeddings, generation
    from helpers import llm as llms

    cache = ROOT / "data" / "cache"
    embed = embeddings.embed_function(cache_dir=str(cache))
    questions, retrieved = pairs(n_questions, embed=embed)
    model = llms.get_llm({"backend": "llama_cpp", "model": "default"}, cache_dir=str(cache))
    # any threshold > 0 scores every draft (draft_groundedness); which ones it withholds here is not used: _table
    # applies each of THRESHOLDS to the scores
    answers = generation.generate_answers(model, questions, retrieved, language="pt", n_segments=3, budget_tokens=240,
                                          selection="lexical", embed=embed, max_tokens=100, min_groundedness=min(THRESHOLDS),
                                          progress=False)
    kind = answers["question_id"].map(questions.set_index("question_id")["kind"])
    out = {"faquad": _table(answers, kind == "unanswerable")}
    lowest = float(answers.loc[kind == "answerable", "draft_groundedness"].min())
    out["faquad"]["lowest_answerable_groundedness"] = round(lowest, 3)
    out["chosen_threshold"] = math.floor(lowest * 10) / 10
    if run_dir:
        from helpers import runs

        mine = runs.read_table(run_dir, "answers")
        out["run"] = {"dir": str(run_dir), **_table(mine, ~mine["answerable"].astype(bool))}
    (ROOT / "benchmarks" / "results" / "answerability.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--run", default=None, help="a run folder whose answers.parquet to report beside FaQuAD")
    args = parser.parse_args()
    print(json.dumps(run(args.questions, args.run), indent=2))
