"""The shared file helpers: atomic writes for every artefact a run writes, hashes, times; one model fingerprint."""

import errno
import hashlib
import io
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import embeddings, index, llm, plots, records  # noqa: E402
from helpers.errors import InputError, WriteError  # noqa: E402
from helpers.files import bytes_sha256, clock, file_sha256, format_time, write_atomic, write_text  # noqa: E402


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _refuse_rename(monkeypatch):
    def refuse(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", refuse)


def _fig():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    return fig


# each writer of a run artefact: (file name, write the first version, write the second version)
WRITERS = {
    "embeddings.npy": lambda p, v: embeddings.save_vectors(np.full((3, 4), v, dtype=np.float32), p),
    "index.faiss": lambda p, v: index.save_index(index.build_index(np.eye(4, dtype=np.float32) * v, "flat"), p),
    "figure.png": lambda p, v: plots.savefig(plots.confusion(pd.DataFrame({"human": ["C"] * v, "judge_label": ["C"] * v})), p),
    "record.md": lambda p, v: records.write_records(pd.DataFrame({"question_number": [v], "question": ["Q?"]}), None, p),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch, name):
    path = tmp_path / name
    WRITERS[name](path, 1)
    before = _snapshot(tmp_path)
    assert list(before) == [name]
    _refuse_rename(monkeypatch)
    with pytest.raises(WriteError, match="no space left"):
        WRITERS[name](path, 2)
    monkeypatch.undo()
    plt.close("all")
    assert _snapshot(tmp_path) == before
    WRITERS[name](path, 2)  # and a later write succeeds
    assert _snapshot(tmp_path)[name] != before[name]
    plt.close("all")


def test_vectors_are_the_bytes_np_save_writes(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, vectors)
    path = embeddings.save_vectors(vectors, tmp_path / "embeddings.npy")
    assert path.read_bytes() == buf.getvalue()
    assert sorted(os.listdir(tmp_path)) == ["embeddings.npy"]


def test_savefig_takes_a_figure_or_its_axes_and_writes_the_suffix_format(tmp_path):
    fig = _fig()
    png = plots.savefig(fig.axes[0], tmp_path / "a.png")
    svg = plots.savefig(fig, tmp_path / "a.svg")
    plt.close(fig)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in open(svg, "rb").read(2000)
    assert sorted(os.listdir(tmp_path)) == ["a.png", "a.svg"]


def test_write_atomic_passes_other_errors_through_and_cleans_up(tmp_path):
    def broken(tmp):
        tmp.write_text("half")
        raise ValueError("bad value")

    with pytest.raises(ValueError, match="bad value"):
        write_atomic(tmp_path / "x.txt", broken)
    assert os.listdir(tmp_path) == []
    assert write_text(tmp_path / "sub" / "y.md", "olá\r\n").read_bytes() == "olá\r\n".encode()


def test_hashes_match_hashlib(tmp_path):
    data = os.urandom(3_000_000)  # more than one chunk
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest() == bytes_sha256(data)
    assert file_sha256(path, chunk=7) == file_sha256(path)
    assert embeddings.file_sha256 is file_sha256  # the old home still works


@pytest.mark.parametrize(
    "seconds, text, whole",
    [(0, "00:00:00", "00:00:00"), (480, "00:08:00", "00:08:00"), (7.8675, "00:00:07.868", "00:00:08"),
     (3725.4, "01:02:05.400", "01:02:05"), (360000, "100:00:00", "100:00:00"), (59.5, "00:00:59.500", "00:01:00")],
)
def test_time_formats(seconds, text, whole):
    assert format_time(seconds) == text
    assert clock(seconds) == format_time(seconds, whole=True) == whole


def test_a_negative_time_is_an_input_error():
    with pytest.raises(InputError, match="negative"):
        format_time(-1)


def test_one_fingerprint_for_a_model_whichever_way_it_is_built(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + bytes(100))
    cached = llm.get_llm({"backend": "llama_cpp", "model": str(gguf)})
    assert cached.fingerprint == llm.model_fingerprint("llama_cpp", str(gguf)) == f"gguf:{file_sha256(gguf)}"
    assert cached.describe()["sha256"] == file_sha256(gguf)
    assert llm.get_llm({}).fingerprint == f"gguf:{llm.DEFAULT_GGUF['sha256']}"
    # the transformers revision reaches the cache key (it used to be dropped on the way to the model)
    hf = llm.get_llm({"backend": "transformers", "model": "org/m", "revision": "abc123"})
    assert hf.fingerprint == "hf:org/m@abc123" and hf.describe()["revision"] == "abc123"
    assert llm.get_llm({"backend": "openai", "model": "m", "base_url": "http://h/v1"}).fingerprint == "openai:http://h/v1:m"
    with pytest.raises(InputError, match="not found"):
        llm.model_fingerprint("llama_cpp", str(tmp_path / "missing.gguf"))


@pytest.mark.parametrize(
    "text, stop, cut",
    [("Score: 2\nReason", ["\n"], "Score: 2"), ("a###b\nc", ["\n", "###"], "a"), ("plain", None, "plain"), ("plain", [], "plain")],
)
def test_cut_at_stop_keeps_the_text_before_the_first_stop(text, stop, cut):
    assert llm.cut_at_stop(text, stop) == cut


def test_stale_temporaries_of_a_dead_writer_are_removed_and_a_live_writers_kept(tmp_path):
    import subprocess
    import sys

    from helpers.files import remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / f".lab_scores.parquet.{int(dead.stdout)}.3a5497ac.tmp"
    live = tmp_path / f".answers.parquet.{os.getpid()}.0123abcd.tmp"
    other = tmp_path / ".notes.tmp"  # not write_atomic's name: not ours to remove
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    (tmp_path / "lab_scores.parquet").write_bytes(b"intact")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
    assert (tmp_path / "lab_scores.parquet").read_bytes() == b"intact"
