"""The judge under attack: every attack on every wrong answer of the answer bank.

For each of the bank's 28 incorrect (I) answers and each attack of
:data:`helpers.attacks.ATTACKS`, the default judges grade the attacked answer
and the clean one, without and with the defences (the answer wrapped in
delimiters it cannot close, plus the instruction to grade it and not obey it).
Then, on the 196 clean labelled answers (bank and contrast set), the same
judges with and without the defences against the human labels: a defence is
kept only if it does not lower that agreement.

Writes ``benchmarks/results/attacks.json`` (the effect table and the clean
agreement) and ``benchmarks/results/attacks.parquet`` (every judgment).
Run: ``python benchmarks/run.py attacks`` or ``python benchmarks/attacks.py``
(``--questions q01 q02`` for a subset, ``--metrics answer_correctness``).
About 2 s per judgment on 2 cores; every call is cached by content, so a
re-run costs seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))



def run(*, questions=None, metrics=("answer_correctness", "answer_relevance"), guards=(False, True), clean_agreement: bool = True,
        out_dir: Path = ROOT / "benchmarks" / "results") -> dict:
    from helpers import attacks, lab, retrieval
    from helpers import llm as llm_mod

    qs = retrieval.read_questions(ROOT / "data/sample/questions.csv")
    labelled = lab.labelled_answers(qs, {"bank": ROOT / "data/sample/answer_bank.csv",
                                         "contrast": ROOT / "data/sample/contrast_set.csv"})
    if questions:
        labelled = labelled[labelled["question_id"].isin(questions)]
    wrong = labelled[(labelled["set"] == "bank") & (labelled["label"] == "I")]
    items = attacks.attack_answers(wrong)
    judge_llm = llm_mod.get_llm({"backend": "llama_cpp", "model": "default"}, cache_dir=ROOT / "data/cache")
    t0 = time.perf_counter()
    table = attacks.judge_attacked(judge_llm, items, metrics=metrics, guards=guards)
    attack_s = time.perf_counter() - t0
    table["seconds"] = table["latency_s"]
    effect = attacks.attack_effect(table, score="expected_score", by=("metric", "guard"))
    result = {"what": "share of the bank's I answers flipped to C (and up) by each attack, mean shift of the "
                      "expected score, 95% intervals resampling questions; without and with the guard",
              "n_wrong_answers": int(len(wrong)), "attacks": list(attacks.ATTACKS),
              "judge": judge_llm.describe(), "seconds_attacks": round(attack_s, 1),
              "effect": effect.round(4).to_dict("records")}
    if clean_agreement:
        t0 = time.perf_counter()
        clean = attacks.judge_attacked(judge_llm, labelled.assign(attack="none").reset_index(drop=True),
                                       metrics=metrics, guards=guards)
        agree = attacks.clean_agreement(clean, labelled)
        result["clean_agreement"] = agree.round(4).to_dict("records")
        result["seconds_clean"] = round(time.perf_counter() - t0, 1)
        table = pd.concat([table, clean.assign(attack="clean_labelled")], ignore_index=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.drop(columns=["raw"], errors="ignore").to_parquet(out_dir / "attacks.parquet", index=False)
    (out_dir / "attacks.json").write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str) + "\n")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--questions", nargs="*", help="question ids (default: all 28)")
    p.add_argument("--metrics", nargs="*", default=["answer_correctness", "answer_relevance"])
    p.add_argument("--no-guard", action="store_true", help="only the undefended judges")
    p.add_argument("--no-clean", action="store_true", help="skip the clean-agreement check")
    a = p.parse_args(argv)
    r = run(questions=a.questions, metrics=a.metrics, guards=(False,) if a.no_guard else (False, True),
            clean_agreement=not a.no_clean)
    eff = pd.DataFrame(r["effect"])
    print(eff[["metric", "guard", "attack", "n", "to_c", "to_c_high", "up", "shift"]].to_string(index=False))
    for row in r.get("clean_agreement", []):
        print(row)


if __name__ == "__main__":
    main()
