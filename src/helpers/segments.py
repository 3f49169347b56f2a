"""Cut a lecture's cues into overlapping, timed windows ("segments").

The study cut each lecture into windows of about 2.5 minutes that overlap by
about 40 seconds, never splitting a subtitle cue: its segments run, e.g.,
00:08:00-00:10:41 and then 00:10:01-00:12:47. :func:`window` reproduces that
rule exactly:

1. a window opens at the start of a cue;
2. it takes every cue that *starts* before ``open + window_s``, so it ends at
   the end of its last cue (a little after ``open + window_s``);
3. the next window opens at the first cue starting at or after
   ``open + window_s - overlap_s``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["window", "segment_files", "expand_paths", "SEGMENT_COLUMNS"]

SEGMENT_COLUMNS = ["segment_id", "lecture_id", "start_s", "end_s", "text", "n_words", "n_cues", "source",
                   "cue_start_s", "cue_end_s", "cue_text"]


def window(cues: pd.DataFrame, window_s: float = 160.0, overlap_s: float = 40.0, *, lecture_id: str = "lecture") -> pd.DataFrame:
    """Cut one lecture's cues into overlapping time windows.

    Parameters
    ----------
    cues : pandas.DataFrame
        Columns ``start_s``, ``end_s``, ``text`` (as returned by
        :func:`helpers.transcripts.read_transcript`).
    window_s : float, default 160
        Window length in seconds.
    overlap_s : float, default 40
        How much consecutive windows overlap, in seconds; ``0 <= overlap_s < window_s``.
    lecture_id : str
        Identifier of the lecture; segment ids are ``f"{lecture_id}-{n:03d}"``,
        numbered from 0 in time order, so they are stable across runs with the
        same inputs and parameters.

    Returns
    -------
    pandas.DataFrame
        One row per segment: ``segment_id, lecture_id, start_s, end_s, text,
        n_words, n_cues, source``. A cue longer than the window becomes a
        segment of its own; a lecture shorter than the window is one segment.

    Examples
    --------
    >>> cues = pd.DataFrame({"start_s": [0, 50, 100, 150, 200],
    ...                      "end_s": [50, 100, 150, 200, 250],
    ...                      "text": list("abcde")})
    >>> window(cues, 120, 40, lecture_id="L")[["segment_id", "start_s", "end_s", "text"]]
      segment_id  start_s  end_s   text
    0      L-000      0.0  150.0  a b c
    1      L-001    100.0  250.0  c d e
    """
    if not window_s > 0:
        raise InputError(f"must be > 0, got {window_s}", field="window_s")
    if not 0 <= overlap_s < window_s:
        raise InputError(
            f"must satisfy 0 <= overlap_s < window_s, got overlap_s={overlap_s}, window_s={window_s}",
            field="overlap_s",
        )
    missing = {"start_s", "end_s", "text"} - set(cues.columns)
    if missing:
        raise InputError(f"cues lack column(s) {sorted(missing)}", path=cues.attrs.get("path"))
    cues = cues.sort_values("start_s", kind="stable").reset_index(drop=True)
    starts = cues["start_s"].to_numpy(float)
    ends = cues["end_s"].to_numpy(float)
    texts = cues["text"].astype(str).tolist()
    rows = []
    i, n = 0, len(cues)
    while i < n:
        open_s = starts[i]
        j = int(np.searchsorted(starts, open_s + window_s, side="left"))
        j = max(j, i + 1)  # a cue longer than the window still makes progress
        text = " ".join(t for t in texts[i:j] if t)
        rows.append(
            {
                "segment_id": f"{lecture_id}-{len(rows):03d}",
                "lecture_id": lecture_id,
                "start_s": float(open_s),
                "end_s": float(ends[i:j].max()),
                "text": text,
                "n_words": len(text.split()),
                "n_cues": j - i,
                "source": cues.attrs.get("path", ""),
                # the cues themselves, so 03 can pick evidence inside the window (helpers.context)
                "cue_start_s": [float(x) for x in starts[i:j]],
                "cue_end_s": [float(x) for x in ends[i:j]],
                "cue_text": list(texts[i:j]),
            }
        )
        if j >= n:
            break
        nxt = int(np.searchsorted(starts, open_s + window_s - overlap_s, side="left"))
        i = max(nxt, i + 1)
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


def expand_paths(patterns, *, root=".") -> list[Path]:
    """Expand glob patterns (relative to ``root``) to a sorted list of files.

    A pattern that matches nothing is an error, so a typo never yields an
    empty corpus silently.
    """
    root = Path(root)
    out: list[Path] = []
    for pattern in [patterns] if isinstance(patterns, (str, Path)) else patterns:
        pattern = str(pattern)
        p = Path(pattern)
        if p.is_absolute():
            hits = sorted(Path(p.anchor).glob(str(p.relative_to(p.anchor)))) if any(c in pattern for c in "*?[") else [p]
        else:
            hits = sorted(root.glob(pattern)) if any(c in pattern for c in "*?[") else [root / p]
        hits = [h for h in hits if h.is_file()]
        if not hits:
            raise InputError("no transcript file matches this pattern", path=pattern)
        out.extend(h for h in hits if h not in out)
    return out


def segment_files(paths, window_s: float = 160.0, overlap_s: float = 40.0, *, tier: str | None = None) -> pd.DataFrame:
    """Read transcript files and window each one; the lecture id is the file stem.

    Study records (``.md``) already hold segments: those are kept as they are,
    with the record's corpus id as ``segment_id``, and a segment retrieved for
    both records is kept once.

    Parameters
    ----------
    paths : iterable of str or Path
        Transcript files in any format :func:`helpers.transcripts.read_transcript` reads.
    window_s, overlap_s : float
        See :func:`window`.
    tier : str, optional
        TextGrid tier to read (default: the first interval tier with text).

    Examples
    --------
    >>> segs = segment_files(["data/sample/lectures/aula01_cnn_unet.vtt"])  # doctest: +SKIP
    """
    from .transcripts import read_transcript

    frames, seen = [], {}
    for path in map(Path, paths):
        lecture_id = path.stem
        if lecture_id in seen:
            raise InputError(f"two transcripts share the lecture id {lecture_id!r} (also {seen[lecture_id]})", path=path)
        seen[lecture_id] = path
        cues = read_transcript(path, tier=tier or None)
        if cues.attrs.get("format") == "record":
            frames.append(_record_segments(cues, path))
        else:
            frames.append(window(cues, window_s, overlap_s, lecture_id=lecture_id))
    if not frames:
        raise InputError("no transcript files given")
    segs = pd.concat(frames, ignore_index=True)
    return segs.drop_duplicates("segment_id", keep="first").reset_index(drop=True)


def _record_segments(cues: pd.DataFrame, path: Path) -> pd.DataFrame:
    segs = pd.DataFrame(
        {
            "segment_id": cues["corpus_id"].astype(str),
            "lecture_id": "unknown",
            "start_s": cues["start_s"].astype(float),
            "end_s": cues["end_s"].astype(float),
            "text": cues["text"].astype(str),
        }
    )
    segs["n_words"] = segs["text"].str.split().str.len()
    segs["n_cues"] = 1
    segs["source"] = str(path)
    segs["cue_start_s"] = [[s] for s in segs["start_s"]]
    segs["cue_end_s"] = [[e] for e in segs["end_s"]]
    segs["cue_text"] = [[t] for t in segs["text"]]
    return segs[SEGMENT_COLUMNS]
