"""Human labels: read them, export a sheet to label, and a labelling form for JupyterLab.

Human annotations are a table of ``question_id, label`` (C correct, P
partial, I incorrect), optionally ``annotator`` and ``answer_source`` (which
answer was labelled: ``generated`` by default, or an answer-bank entry such
as ``bank:C``). CSV or XLSX; several files and several annotators may be
combined.

For teaching, :func:`export_sheet` writes the questions, their retrieved
segments and the answers for people to label, :func:`read_annotations` reads
the filled sheet back, and :func:`labelling_form` shows one answer at a time
in JupyterLab and appends each label to a CSV the moment it is given (flushed
and fsynced), so nothing is lost if the kernel dies.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from .errors import InputError, decode_text, read_csv_rows
from .files import timestamp
from .labels import FORM_ORDER, LABELS

__all__ = ["read_annotations", "export_sheet", "labelling_form", "read_llmjudge", "ANNOTATION_COLUMNS"]

ANNOTATION_COLUMNS = ["question_id", "answer_source", "annotator", "label"]


def _read_table(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """The table as strings, and the line (CSV) or row (XLSX) each record is on."""
    if not path.is_file():
        raise InputError("annotation file not found", path=path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            df = pd.read_excel(path, dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001 - a damaged workbook fails in zipfile, XML or openpyxl in many ways
            raise InputError(f"cannot read this workbook ({type(exc).__name__}: {exc})", path=path) from None
        return df, list(range(2, len(df) + 2))
    header, rows = read_csv_rows(decode_text(path.read_bytes(), path), path)
    return pd.DataFrame([cells for _, cells in rows], columns=header, dtype=object), [line for line, _ in rows]


def read_annotations(paths, *, labels=LABELS, allow_empty: bool = True) -> pd.DataFrame:
    """Read human labels from one or more CSV/XLSX files.

    Parameters
    ----------
    paths : str, os.PathLike or list of them
        Files with ``question_id`` and ``label`` columns; optional
        ``annotator`` (default: the file's stem) and ``answer_source``
        (default ``"generated"``).
    labels : tuple of str
        The allowed labels (case-insensitive; stored upper-case).
    allow_empty : bool
        Keep rows whose label is empty (a sheet not labelled yet) as missing
        rather than rejecting them; they are dropped from the result.

    Returns
    -------
    pandas.DataFrame
        ``question_id, answer_source, annotator, label`` plus ``source``
        (file) and ``line``.

    Raises
    ------
    InputError
        Missing column, unknown label, a repeated ``(question_id,
        answer_source, annotator)``; the message names file, line and field.

    Examples
    --------
    >>> ann = read_annotations("data/sample/annotations.csv")  # doctest: +SKIP
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    frames, seen = [], {}
    allowed = {str(x).upper() for x in labels}
    for path in map(Path, paths):
        df, lines = _read_table(path)
        df.columns = [str(c).strip() for c in df.columns]
        for col in ("question_id", "label"):
            if col not in df.columns:
                raise InputError(f"missing column (found: {', '.join(df.columns)})", path=path, field=col)
        if "annotator" not in df.columns:
            df["annotator"] = path.stem
        if "answer_source" not in df.columns:
            df["answer_source"] = "generated"
        rows = []
        for line, row in zip(lines, df.to_dict("records")):
            label = str(row["label"]).strip().upper()
            qid = str(row["question_id"]).strip()
            if not qid:
                raise InputError("empty question_id", path=path, line=line, field="question_id")
            if not label:
                if allow_empty:
                    continue
                raise InputError("empty label", path=path, line=line, field="label")
            if label not in allowed:
                raise InputError(f"label {row['label']!r} is not one of {', '.join(labels)}", path=path, line=line, field="label")
            key = (qid, str(row["answer_source"]).strip() or "generated", str(row["annotator"]).strip() or path.stem)
            if key in seen:
                raise InputError(f"{key} was already labelled at {seen[key]}", path=path, line=line, field="label")
            seen[key] = f"{path}, line {line}"
            rows.append({"question_id": key[0], "answer_source": key[1], "annotator": key[2], "label": label,
                         "source": str(path), "line": line})
        frames.append(pd.DataFrame(rows, columns=ANNOTATION_COLUMNS + ["source", "line"]))
    if not frames:
        raise InputError("no annotation files given", field="annotations")
    return pd.concat(frames, ignore_index=True)


def export_sheet(run_dir, path, *, answer_sources=("generated",), top_segments: int = 3) -> Path:
    """Write a sheet (CSV or XLSX) of questions, retrieved segments and answers to label.

    The ``label`` column is left empty for people to fill with C, P or I;
    :func:`read_annotations` reads the sheet back.

    Examples
    --------
    >>> export_sheet("data/runs/sample", "para_rotular.xlsx")  # doctest: +SKIP
    """
    from .runs import read_table

    run_dir, path = Path(run_dir), Path(path)
    qs = read_table(run_dir, "questions")
    answers = read_table(run_dir, "answers").assign(answer_source="generated")
    rets = read_table(run_dir, "retrievals").merge(read_table(run_dir, "segments"), on="segment_id")
    top = (rets[rets["rank"] <= top_segments].sort_values(["question_id", "rank"])
           .groupby("question_id")["text"].apply(lambda t: "\n\n".join(f"[{i}] {x}" for i, x in enumerate(t, 1))).rename("segments"))
    sheet = (answers[["question_id", "answer_source", "answer"]]
             .merge(qs[["question_id", "question"]], on="question_id").merge(top, on="question_id", how="left"))
    sheet = sheet[sheet["answer_source"].isin(answer_sources)]
    sheet = sheet[["question_id", "answer_source", "question", "segments", "answer"]].assign(annotator="", label="")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        sheet.to_excel(path, index=False)
    else:
        sheet.to_csv(path, index=False)
    return path


def labelling_form(items: pd.DataFrame, out_csv, *, annotator: str, labels=FORM_ORDER):
    """A JupyterLab form: one answer at a time, each label appended to ``out_csv`` at once.

    Parameters
    ----------
    items : pandas.DataFrame
        ``question_id, answer_source, question, answer`` (e.g. an exported sheet).
    out_csv : path
        Labels are appended here (``question_id, answer_source, annotator,
        label, time``), one flushed and fsynced line per click; items already
        labelled by ``annotator`` in this file are skipped, so reopening the
        form resumes where it stopped.
    annotator : str
        Who is labelling.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook cell.
    """
    import ipywidgets as w

    out_csv = Path(out_csv)
    done = set()
    if out_csv.exists():
        prev = read_annotations(out_csv)
        done = set(zip(prev.loc[prev["annotator"] == annotator, "question_id"], prev.loc[prev["annotator"] == annotator, "answer_source"]))
    todo = [r for r in items.to_dict("records") if (r["question_id"], r.get("answer_source", "generated")) not in done]
    state = {"i": 0}
    title, body, status = w.HTML(), w.HTML(), w.HTML()
    buttons = [w.Button(description=label, layout=w.Layout(width="80px")) for label in labels]

    def show():
        if state["i"] >= len(todo):
            title.value, body.value = "<b>All answers labelled.</b>", ""
            for b in buttons:
                b.disabled = True
            return
        r = todo[state["i"]]
        title.value = f"<b>{r['question_id']}</b> ({state['i'] + 1} of {len(todo)}): {r['question']}"
        body.value = f"<p style='white-space:pre-wrap'>{r['answer']}</p>"

    def save(button):
        r = todo[state["i"]]
        new = not out_csv.exists()
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        with open(out_csv, "a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(["question_id", "answer_source", "annotator", "label", "time"])
            writer.writerow([r["question_id"], r.get("answer_source", "generated"), annotator, button.description,
                             timestamp(utc_offset=False)])
            fh.flush()
            os.fsync(fh.fileno())
        status.value = f"saved {r['question_id']} = {button.description} to {out_csv}"
        state["i"] += 1
        show()

    for b in buttons:
        b.on_click(save)
    show()
    return w.VBox([title, body, w.HBox(buttons), status])


def read_llmjudge(directory, *, scale=(0, 1, 2, 3)) -> pd.DataFrame:
    """Read the LLMJudge benchmark: human 0-3 labels beside every LLM judge's labels.

    Parameters
    ----------
    directory : path
        Folder with ``llmjudge_test_qrel_idx.txt`` (human labels, TREC qrel
        format ``qid 0 docid label``), ``scores/*.txt`` (one file per judge,
        same format) and ``llm4eval_query_2024.txt`` (query texts).
    scale : tuple of int
        Valid labels. A judge label outside the scale (the files hold a few
        5s and 10s) is kept as missing (NaN) and counted, never clipped.

    Returns
    -------
    pandas.DataFrame
        Tidy: ``query_id, query, doc_id, human, judge, label`` (``label`` NaN
        where invalid), one row per pair and judge; ``attrs["invalid"]``
        counts invalid labels per judge.

    Examples
    --------
    >>> df = read_llmjudge("../shared/data/llmjudge")  # doctest: +SKIP
    >>> df["judge"].nunique(), df.groupby("judge").size().iloc[0]  # doctest: +SKIP
    (33, 4423)
    """
    directory = Path(directory)

    def qrels(path):
        if not path.exists():
            raise InputError("file not found", path=path)
        rows = []
        for number, line in enumerate(decode_text(path.read_bytes(), path).split("\n"), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise InputError(f"expected 'qid 0 docid label', got {line!r}", path=path, line=number)
            try:
                label = int(parts[3])
            except ValueError:
                raise InputError(f"label {parts[3]!r} is not an integer", path=path, line=number, field="label") from None
            rows.append((parts[0], parts[2], label, number))
        frame = pd.DataFrame(rows, columns=["query_id", "doc_id", "label", "line"])
        twice = frame[frame.duplicated(["query_id", "doc_id"])]
        if len(twice):
            raise InputError("this (query, passage) pair is labelled twice", path=path, line=int(twice["line"].iloc[0]))
        return frame.drop(columns="line")

    human = qrels(directory / "llmjudge_test_qrel_idx.txt").rename(columns={"label": "human"})
    queries = {}
    qfile = directory / "llm4eval_query_2024.txt"
    if qfile.exists():
        for line in decode_text(qfile.read_bytes(), qfile).split("\n"):
            if "\t" in line:
                qid, text = line.split("\t", 1)
                queries[qid.strip()] = text.strip()
    files = sorted((directory / "scores").glob("*.txt"))
    if not files:
        raise InputError("no judge files in scores/", path=directory / "scores")
    frames, invalid = [], {}
    for path in files:
        j = qrels(path)
        merged = human.merge(j, on=["query_id", "doc_id"], how="left", validate="one_to_one")
        bad = ~merged["label"].isin(scale) & merged["label"].notna()
        invalid[path.stem] = int(bad.sum()) + int(merged["label"].isna().sum())
        merged["label"] = merged["label"].where(~bad).astype(float)
        frames.append(merged.assign(judge=path.stem))
    out = pd.concat(frames, ignore_index=True)
    out["query"] = out["query_id"].map(queries).fillna("")
    out = out[["query_id", "query", "doc_id", "human", "judge", "label"]]
    out.attrs["invalid"] = invalid
    return out
