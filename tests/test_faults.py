"""Faults: a full disk or a read-only run folder while a file is written, and damaged cache entries.

Writers write a temporary file beside the target and rename it over the target,
so a failed write leaves the previous file byte for byte and no temporary file,
and says which file it could not write. The tests run as root, where chmod does
not stop a write, so the faults are made two ways: the write is made to fail
(OSError with ENOSPC/EROFS/EACCES) halfway, and, where the test may mount file
systems, a real 1 MiB tmpfs is filled up and then remounted read-only.

A cache entry whose bytes no longer match their stored sha256, or whose JSON
does not parse, is reported (a warning naming its key) and recomputed.
"""

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

from helpers import runs
from helpers.cache import CacheCorruptionWarning, ContentCache, content_key
from helpers.embeddings import embed_cached
from helpers.errors import WriteError
from helpers.llm import CachedLLM

MESSAGES = [{"role": "user", "content": "Qual é a capital do Brasil?"}]


def _table(n=5):
    return pd.DataFrame({"question_id": [f"q{i:02d}" for i in range(n)], "answer": [f"resposta {i} " * 20 for i in range(n)]})


def _snapshot(folder):
    """Every file under ``folder`` (temporary files included) with its bytes."""
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(folder) for f in files}


def _half_then(code):
    """A writer that writes half of what it should to its path, then fails with OSError(code)."""
    def write(path, payload: bytes):
        with open(path, "wb") as fh:
            fh.write(payload[: len(payload) // 2])
        raise OSError(code, os.strerror(code), str(path))
    return write


# --------------------------------------------------------------------------- simulated faults


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"), (errno.EACCES, "permission denied")])
def test_write_table_fails_midway_old_table_intact(tmp_path, monkeypatch, code, words):
    old_path = runs.write_table(_table(3), tmp_path, "answers")
    before = _snapshot(tmp_path)
    fail = _half_then(code)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", lambda self, path, **kw: fail(path, b"PAR1" * 1000))
    with pytest.raises(WriteError) as info:
        runs.write_table(_table(50), tmp_path, "answers")
    assert str(old_path) in str(info.value) and words in str(info.value)
    assert info.value.path == str(old_path) and info.value.errno == code
    assert _snapshot(tmp_path) == before  # the old table byte for byte, and no temporary file left
    monkeypatch.undo()
    pd.testing.assert_frame_equal(runs.read_table(tmp_path, "answers"), _table(3))


def test_write_table_fails_at_the_rename(tmp_path, monkeypatch):
    runs.write_table(_table(3), tmp_path, "answers")
    before = _snapshot(tmp_path)

    def refuse(src, dst):
        raise OSError(errno.EROFS, "Read-only file system", str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WriteError, match="answers.parquet: cannot write: the file system is read-only"):
        runs.write_table(_table(50), tmp_path, "answers")
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before


def test_write_table_other_failure_leaves_no_temp_file(tmp_path, monkeypatch):
    runs.write_table(_table(3), tmp_path, "answers")
    before = _snapshot(tmp_path)

    def broken(self, path, **kw):
        open(path, "wb").write(b"PAR1")
        raise ValueError("cannot convert column")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(ValueError, match="cannot convert"):  # not a disk fault: the error itself, unchanged
        runs.write_table(_table(50), tmp_path, "answers")
    assert _snapshot(tmp_path) == before


def test_record_model_and_manifest_fail_midway_old_files_intact(tmp_path, monkeypatch):
    runs.record_model(tmp_path, "judge", {"model": "old", "sha256": "a" * 64})
    runs._write_manifest(tmp_path, {"stages": {"01_build_index": {"seconds": 1.0}}})
    before = _snapshot(tmp_path)
    fail = _half_then(errno.ENOSPC)
    monkeypatch.setattr("pathlib.Path.write_text", lambda self, text, **kw: fail(self, text.encode()))
    with pytest.raises(WriteError, match=r"models/judge\.json: cannot write: no space left"):
        runs.record_model(tmp_path, "judge", {"model": "new", "notes": "x" * 10_000})
    with pytest.raises(WriteError, match=r"manifest\.json: cannot write: no space left"):
        runs._write_manifest(tmp_path, {"stages": {"01_build_index": {"seconds": 2.0}}})
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before
    assert json.loads((tmp_path / "models/judge.json").read_text())["model"] == "old"
    assert runs.load_manifest(tmp_path)["timings_s"] == {"01_build_index": 1.0}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the tmpfs test covers a read-only folder")
def test_read_only_folder_by_chmod(tmp_path):
    runs.write_table(_table(3), tmp_path, "answers")
    before = _snapshot(tmp_path)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(WriteError, match="answers.parquet: cannot write: permission denied"):
            runs.write_table(_table(50), tmp_path, "answers")
    finally:
        tmp_path.chmod(0o755)
    assert _snapshot(tmp_path) == before


# --------------------------------------------------------------------------- a real full / read-only file system


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs (root with CAP_SYS_ADMIN only; skipped elsewhere)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder):
    """Fill the file system of ``folder`` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_full_then_read_only_tmpfs(tmpfs):
    run_dir = tmpfs / "run"
    runs.write_table(_table(3), run_dir, "answers")
    runs.record_model(run_dir, "generator", {"model": "old"})
    runs._write_manifest(run_dir, {"stages": {}})
    _fill(tmpfs)
    before = _snapshot(run_dir)
    big = pd.DataFrame({"x": np.random.default_rng(0).random(50_000)})  # ~400 kB, cannot fit
    with pytest.raises(WriteError, match=r"run/answers\.parquet: cannot write: no space left on the device \[ENOSPC\]"):
        runs.write_table(big, run_dir, "answers")
    with pytest.raises(WriteError, match=r"generator\.json: cannot write: no space left"):
        runs.record_model(run_dir, "generator", {"model": "new", "notes": "x" * 200_000})
    assert _snapshot(run_dir) == before
    pd.testing.assert_frame_equal(runs.read_table(run_dir, "answers"), _table(3))

    os.remove(tmpfs / "filler")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(WriteError, match=r"run/answers\.parquet: cannot write: the file system is read-only \[EROFS\]"):
        runs.write_table(_table(1), run_dir, "answers")
    with pytest.raises(WriteError, match=r"manifest\.json: cannot write: the file system is read-only"):
        runs._write_manifest(run_dir, {"stages": {}})
    with pytest.raises(WriteError, match=r"run/\.run\.lock: cannot write: the file system is read-only"):
        runs.RunLock(run_dir).acquire()  # a run on a read-only folder stops before its first stage
    assert _snapshot(run_dir) == before
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)


# --------------------------------------------------------------------------- damaged cache entries


def _resposta(messages, calls):
    """The stand-in LLM's reply (tests/conftest.py's CountingLLM): it names the prompt, so a byte can be found."""
    return f"resposta {messages[-1]['content']}"


def _key(cached, content="Qual é a capital do Brasil?"):
    decoding = dict(max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=[])
    return cached.key([{"role": "user", "content": content}], prompt_version="v1", **decoding)


def _set(db, key, value: bytes, sha=None):
    con = sqlite3.connect(db)
    with con:
        if sha is None:
            con.execute("UPDATE entries SET value=? WHERE key=?", (value, key))
        else:
            con.execute("UPDATE entries SET value=?, sha256=? WHERE key=?", (value, sha, key))
    con.close()


@pytest.mark.parametrize("damage", ["bytes changed", "not JSON", "value gone"])
def test_damaged_llm_entry_is_reported_and_recomputed(tmp_path, damage, counting_llm):
    db = tmp_path / "llm.sqlite"
    fake = counting_llm(reply=_resposta)
    cached = CachedLLM(llm=fake, cache=ContentCache(db, "llm"))
    first = cached.chat(MESSAGES, prompt_version="v1")
    key = _key(cached)
    (stored,) = sqlite3.connect(db).execute("SELECT value FROM entries").fetchone()
    if damage == "bytes changed":  # one byte of the value flipped, its hash left as it was
        _set(db, key, stored.replace(b"resposta", b"resposts"))
    elif damage == "not JSON":  # even a value whose stored hash matches is checked for JSON
        bad = stored[: len(stored) // 2]
        _set(db, key, bad, hashlib.sha256(bad).hexdigest())
    else:
        _set(db, key, None)
    again = CachedLLM(llm=fake, cache=ContentCache(db, "llm"))
    with pytest.warns(CacheCorruptionWarning, match=f"cache entry llm/{key} is corrupted"):
        out = again.chat(MESSAGES, prompt_version="v1")
    assert not out.cached and fake.calls == 2 and out.text == first.text  # recomputed, not used
    assert again.cache.corrupted == 1 and again.cache.verify() == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert again.chat(MESSAGES, prompt_version="v1").cached  # the new value is stored and sound
    assert fake.calls == 2


def test_a_byte_flipped_in_the_database_file_is_caught(tmp_path, counting_llm):
    db = tmp_path / "llm.sqlite"
    fake = counting_llm(reply=_resposta)
    cache = ContentCache(db, "llm")
    cached = CachedLLM(llm=fake, cache=cache)
    for word in ["Brasil", "Peru", "Chile"]:
        cached.chat([{"role": "user", "content": f"capital do {word}"}], prompt_version="v1")
    cache.close()
    assert not (tmp_path / "llm.sqlite-wal").exists() or (tmp_path / "llm.sqlite-wal").stat().st_size == 0
    raw = bytearray(db.read_bytes())
    at = raw.find(b"resposta capital do Peru")
    assert at > 0
    raw[at + len("resposta capital do ")] ^= 0x20  # "Peru" -> "peru", inside the page, SQLite does not notice
    db.write_bytes(bytes(raw))
    cache = ContentCache(db, "llm")
    assert cache.verify() == [_key(cached, "capital do Peru")]
    with pytest.warns(CacheCorruptionWarning, match=_key(cached, "capital do Peru")):
        out = CachedLLM(llm=fake, cache=cache).chat([{"role": "user", "content": "capital do Peru"}], prompt_version="v1")
    assert out.text == "resposta capital do Peru" and not out.cached and fake.calls == 4


def test_old_cache_file_is_migrated_without_losing_entries(tmp_path, counting_llm):
    db = tmp_path / "llm.sqlite"
    fake = counting_llm(reply=_resposta)
    keys = {}
    con = sqlite3.connect(db)  # the schema before the hash column
    con.execute("CREATE TABLE entries (namespace TEXT, key TEXT, value BLOB, created REAL, PRIMARY KEY (namespace, key))")
    probe = CachedLLM(llm=fake, cache=None)
    for word in ["Brasil", "Peru", "Chile"]:
        messages = [{"role": "user", "content": f"capital do {word}"}]
        keys[word] = probe.key(messages, prompt_version="v1", max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=[])
        value = json.dumps(fake.chat(messages).to_json()).encode() if word != "Chile" else b'{"text": "cut sho'
        con.execute("INSERT INTO entries VALUES ('llm', ?, ?, 0)", (keys[word], value))
    con.commit()
    con.close()
    fake.calls = 0

    cache = ContentCache(db, "llm")  # migrates: adds the column, hashes every old value as it is
    assert len(cache) == 3
    rows = sqlite3.connect(db).execute("SELECT value, sha256 FROM entries").fetchall()
    assert all(sha == hashlib.sha256(value).hexdigest() for value, sha in rows)
    cached = CachedLLM(llm=fake, cache=cache)
    assert cached.chat([{"role": "user", "content": "capital do Brasil"}], prompt_version="v1").cached
    assert cached.chat([{"role": "user", "content": "capital do Peru"}], prompt_version="v1").cached
    with pytest.warns(CacheCorruptionWarning, match=keys["Chile"]):  # an old entry that was already bad is still caught
        assert not cached.chat([{"role": "user", "content": "capital do Chile"}], prompt_version="v1").cached
    assert fake.calls == 1 and len(cache) == 3
    assert ContentCache(db, "llm").verify() == []  # a second open changes nothing


class FakeEmbedder:
    fingerprint = "fake-embedder:1"
    dim = 4

    def __init__(self):
        self.calls = 0

    def embed_passages(self, texts):
        self.calls += len(texts)
        return np.array([[len(t), 1.0, 2.0, 3.0] for t in texts], dtype=np.float32)

    embed_queries = embed_passages


@pytest.mark.parametrize("damage", ["bytes changed", "wrong length", "NaN"])
def test_damaged_embedding_is_reported_and_recomputed(tmp_path, damage):
    db = tmp_path / "embeddings.sqlite"
    emb = FakeEmbedder()
    texts = ["um", "dois", "três"]
    first = embed_cached(emb, texts, cache=ContentCache(db, "embedding"), progress=False)
    key = content_key("embedding", emb.fingerprint, "passage", "dois")
    if damage == "bytes changed":
        _set(db, key, np.array([9, 9, 9, 9], dtype=np.float32).tobytes())
    else:
        bad = first[1][:3].tobytes() if damage == "wrong length" else np.array([np.nan, 1, 2, 3], dtype=np.float32).tobytes()
        _set(db, key, bad, hashlib.sha256(bad).hexdigest())
    cache = ContentCache(db, "embedding")
    with pytest.warns(CacheCorruptionWarning, match=f"embedding/{key}"):
        again = embed_cached(emb, texts, cache=cache, progress=False)
    np.testing.assert_array_equal(again, first)
    assert emb.calls == 4 and (cache.hits, cache.misses, cache.corrupted) == (2, 1, 1)
    embed_cached(emb, texts, cache=cache, progress=False)
    assert emb.calls == 4 and cache.verify() == []


def test_a_stage_failing_on_a_full_disk_reports_its_own_error_not_the_manifests(tmp_path, root, monkeypatch):
    """When the disk fills during a stage, recording the failure in the manifest fails too; the
    stage's own error (what the user must act on) is the one raised, and the log says the manifest
    could not record it."""
    import papermill

    from helpers.config import load_config

    cfg = load_config(root / "configs/sample.yaml")
    cfg.update(runs_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"))
    writes = []

    def manifest_then_full(run_dir, manifest):
        writes.append(manifest["stages"].get("01_build_index", {}).get("status"))
        if len(writes) > 1:
            raise WriteError(run_dir / "manifest.json", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), kwargs.get("output_path", args[1]))

    monkeypatch.setattr(runs, "_write_manifest", manifest_then_full)
    monkeypatch.setattr(papermill, "execute_notebook", full_disk)
    log = []
    with pytest.raises(OSError, match="No space left") as raised:
        runs.run_config(cfg, stages=["01_build_index"], progress=False, log=log.append)
    assert not isinstance(raised.value, WriteError)
    assert writes == ["running", "failed"]
    assert any("manifest could not record the failure" in line and "manifest.json" in line for line in log)
