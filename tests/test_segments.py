"""Windowing: the study's rule, its edges, and real lectures."""

import subprocess
import sys

import pandas as pd
import pytest

from helpers.errors import InputError
from helpers.segments import segment_files, window
from helpers.transcripts import read_transcript


def cues(*spans):
    return pd.DataFrame({"start_s": [s for s, _ in spans], "end_s": [e for _, e in spans], "text": [f"c{i}" for i in range(len(spans))]})


def test_reproduces_the_studys_boundaries():
    # The study's segments ran 00:08:00-00:10:41 and then 00:10:01-00:12:47.
    c = cues((480, 530), (530, 600), (601, 641), (641, 700), (700, 767), (767, 800))
    segs = window(c, 160, 40, lecture_id="L")
    assert segs.loc[0, ["start_s", "end_s"]].tolist() == [480.0, 641.0]
    assert segs.loc[1, ["start_s", "end_s"]].tolist() == [601.0, 767.0]
    assert segs["segment_id"].tolist()[:2] == ["L-000", "L-001"]


def test_never_splits_or_drops_a_cue():
    c = pd.DataFrame({"start_s": [i * 7.0 for i in range(200)], "end_s": [i * 7.0 + 6 for i in range(200)], "text": [f"w{i}" for i in range(200)]})
    segs = window(c, 160, 40)
    words = set(" ".join(segs["text"]).split())
    assert words == set(c["text"])
    # consecutive windows overlap by about overlap_s, never less than overlap - one cue
    for a, b in zip(segs.itertuples(), segs.iloc[1:].itertuples()):
        assert a.end_s - b.start_s >= 40 - 7
        assert b.start_s > a.start_s


def test_cue_longer_than_window_is_its_own_segment():
    segs = window(cues((0, 400), (400, 410), (410, 420)), 160, 40)
    assert segs.loc[0, ["start_s", "end_s", "text"]].tolist() == [0.0, 400.0, "c0"]
    assert segs.loc[1, ["start_s", "end_s", "text"]].tolist() == [400.0, 420.0, "c1 c2"]
    assert len(segs) == 2


def test_lecture_shorter_than_window_is_one_segment():
    segs = window(cues((0, 10), (10, 30), (31, 59)), 160, 40)
    assert len(segs) == 1 and segs.loc[0, "text"] == "c0 c1 c2" and segs.loc[0, "end_s"] == 59


@pytest.mark.parametrize("window_s, overlap_s", [(160, 160), (160, 200), (160, -1), (0, 0)])
def test_bad_window_parameters_are_rejected(window_s, overlap_s):
    with pytest.raises(InputError, match="overlap_s|window_s"):
        window(cues((0, 10)), window_s, overlap_s)


def test_unsorted_cues_are_windowed_in_time_order():
    segs = window(cues((200, 210), (0, 10)), 160, 40)
    assert segs["start_s"].tolist() == [0.0, 200.0]


def test_real_nurc_lecture(nurc_dir):
    path = nurc_dir / "SP_EF_124.TextGrid"
    c = read_transcript(path, tier="TB-l1")
    segs = window(c, 160, 40, lecture_id="SP_EF_124")
    # 2790 s of lecture, a new window about every 120 s
    assert 2790 / 120 - 2 <= len(segs) <= 2790 / 120 + 2
    assert segs["start_s"].iloc[0] == c["start_s"].min()
    assert segs["end_s"].iloc[-1] == c["end_s"].max()
    assert segs["segment_id"].is_unique
    # every cue's text is in some segment
    joined = " ".join(segs["text"])
    assert all(t in joined for t in c["text"])
    # windows are as long as asked, except where the lecture ends
    assert ((segs["end_s"] - segs["start_s"]).iloc[:-2] >= 150).all()


def test_segment_ids_are_stable(nurc_dir):
    files = sorted(nurc_dir.glob("*.TextGrid"))[:2]
    a = segment_files(files, tier="TB-l1")
    b = segment_files(files, tier="TB-l1")
    pd.testing.assert_frame_equal(a, b)
    assert set(a["lecture_id"]) == {f.stem for f in files}


def test_records_keep_their_segments(seeds_dir):
    segs = segment_files(sorted(seeds_dir.glob("*.md")))
    # 10 segments per record; 7959 and 7960 were retrieved for both questions
    assert len(segs) == 18 and segs["segment_id"].is_unique
    assert {"7959", "7960", "7961"} <= set(segs["segment_id"])
    row = segs.set_index("segment_id").loc["7959"]
    assert (row.start_s, row.end_s) == (480.0, 641.0)


def test_cli(tmp_path, nurc_dir):
    out = tmp_path / "segs.parquet"
    res = subprocess.run(
        [sys.executable, "-m", "helpers", "segment", str(nurc_dir / "SP_EF_153.TextGrid"), "--tier", "TB-l1", "--out", str(out)],
        capture_output=True, text=True, check=True,
    )
    segs = pd.read_parquet(out)
    assert f"{len(segs)} segments from 1 lecture" in res.stdout
    assert segs["lecture_id"].unique().tolist() == ["SP_EF_153"]


def test_cli_reports_bad_input(tmp_path):
    bad = tmp_path / "aula.xyz"
    bad.write_text("hello", encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "helpers", "segment", str(bad), "--out", str(tmp_path / "x.parquet")], capture_output=True, text=True)
    assert res.returncode == 2
    assert "aula.xyz" in res.stderr
