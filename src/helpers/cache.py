"""A content-addressed, on-disk cache (SQLite) for LLM calls and embeddings.

The key of an entry is the SHA-256 of everything that determines the result
(backend, model file hash or id, prompt version, decoding parameters, the
exact messages or text), so a re-run of an unchanged config finds every result
and a changed prompt misses only the entries it changed. Entries are written
one at a time and committed at once: a run killed mid-stage keeps everything
it had finished.

Several processes may share one cache file (two runs with different run
folders on the same ``cache_dir``): the database is in WAL mode (readers never
wait for the writer), every write is one short ``BEGIN IMMEDIATE`` transaction
of one entry, and a writer that finds the file locked waits (busy timeout)
instead of failing with "database is locked".

Each value is stored with the SHA-256 of its bytes. A value whose bytes no
longer match (a damaged file, a hand edit), or a JSON value that does not
parse, is reported with a :class:`CacheCorruptionWarning` naming the key,
deleted, and treated as a miss, so the caller computes it again. A cache file
from before the hash column is migrated when it is opened: the column is
added and the hash of every old value is computed from the value as it is
(old entries are trusted once, then guarded like new ones).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from pathlib import Path

from .files import bytes_sha256

__all__ = ["ContentCache", "CacheCorruptionWarning", "content_key"]

#: Seconds a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 120.0


class CacheCorruptionWarning(RuntimeWarning):
    """A cache entry failed its hash or did not parse; it is recomputed, not used."""


def content_key(*parts) -> str:
    """SHA-256 hex digest of a JSON rendering of ``parts``.

    Examples
    --------
    >>> content_key("a", {"b": 1}) == content_key("a", {"b": 1})
    True
    >>> content_key("a") == content_key("b")
    False
    """
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _sha256(value) -> str | None:
    return None if value is None else bytes_sha256(value)


class ContentCache:
    """Key-value store in one SQLite file, safe across processes and threads.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file (its folder is created).
    namespace : str
        A table-like prefix, e.g. ``"llm"`` or ``"embedding"``.

    Attributes
    ----------
    hits, misses : int
        Lookups that found / did not find a usable entry.
    corrupted : int
        Entries found damaged (counted among the misses too).

    Examples
    --------
    >>> import tempfile, os
    >>> cache = ContentCache(os.path.join(tempfile.mkdtemp(), "c.sqlite"), "demo")
    >>> key = content_key("hello")
    >>> cache.get_json(key) is None
    True
    >>> cache.put_json(key, {"text": "olá"})
    >>> cache.get_json(key)
    {'text': 'olá'}
    """

    def __init__(self, path, namespace: str = "default"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.namespace = namespace
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        self.corrupted = 0
        self._write(self._create_and_migrate)

    # ------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        # one connection per thread and per process (a connection must not
        # cross a fork: multiprocessing children open their own)
        con = getattr(self._local, "con", None)
        if con is None or self._local.pid != os.getpid():
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            self._retry(lambda: con.execute("PRAGMA journal_mode=WAL").fetchone())
            self._local.con, self._local.pid = con, os.getpid()
        return con

    @staticmethod
    def _retry(fn):
        """Run ``fn``, retrying "database is locked" for up to BUSY_TIMEOUT_S.

        SQLite's busy handler covers most waits, but not all (switching the
        journal mode, or a lock upgrade it refuses to wait for to avoid a
        deadlock); those return SQLITE_BUSY at once, so we wait here."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _write(self, fn):
        """Run ``fn(con)`` in one short write transaction (taken at once: BEGIN IMMEDIATE)."""
        con = self._conn()

        def attempt():
            con.execute("BEGIN IMMEDIATE")
            try:
                out = fn(con)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            return out

        return self._retry(attempt)

    @staticmethod
    def _create_and_migrate(con) -> None:
        con.execute(
            "CREATE TABLE IF NOT EXISTS entries (namespace TEXT, key TEXT, value BLOB, "
            "created REAL, sha256 TEXT, PRIMARY KEY (namespace, key))"
        )
        columns = {row[1] for row in con.execute("PRAGMA table_info(entries)")}
        if "sha256" not in columns:  # a cache file from before the hash: keep every entry, hash it as it is
            con.execute("ALTER TABLE entries ADD COLUMN sha256 TEXT")
            con.create_function("sha256_hex", 1, _sha256, deterministic=True)
            con.execute("UPDATE entries SET sha256 = sha256_hex(value) WHERE sha256 IS NULL")

    # ------------------------------------------------------------ entries

    def _corrupt(self, key: str, stored_hash, why: str) -> None:
        self.corrupted += 1
        warnings.warn(
            f"{self.path}: cache entry {self.namespace}/{key} is corrupted ({why}); it is recomputed, not used",
            CacheCorruptionWarning,
            stacklevel=3,
        )

        # delete only the damaged version (another process may have rewritten it meanwhile)
        def delete(con):
            con.execute(
                "DELETE FROM entries WHERE namespace=? AND key=? AND sha256 IS ?", (self.namespace, key, stored_hash)
            )

        try:
            self._write(delete)
        except sqlite3.Error:
            pass  # a read-only cache: the entry stays, and is recomputed each time

    def get(self, key: str) -> bytes | None:
        """The stored bytes for ``key``, or None (absent, or failed its hash)."""
        row = self._retry(
            lambda: self._conn()
            .execute("SELECT value, sha256 FROM entries WHERE namespace=? AND key=?", (self.namespace, key))
            .fetchone()
        )
        if row is None:
            self.misses += 1
            return None
        value, stored_hash = row
        if stored_hash is None and value is not None:  # written without a hash (not by this class): trusted, hashed now
            stored_hash = _sha256(value)
            self._write(lambda con: con.execute(
                "UPDATE entries SET sha256=? WHERE namespace=? AND key=? AND sha256 IS NULL", (stored_hash, self.namespace, key)))
        if value is None or _sha256(value) != stored_hash:
            self.misses += 1
            self._corrupt(key, stored_hash, "its bytes do not match their sha256")
            return None
        self.hits += 1
        return bytes(value)

    def put(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key`` (with its sha256) and commit."""
        value = bytes(value)
        row = (self.namespace, key, value, time.time(), _sha256(value))
        self._write(
            lambda con: con.execute(
                "INSERT OR REPLACE INTO entries (namespace, key, value, created, sha256) VALUES (?, ?, ?, ?, ?)", row
            )
        )

    def get_json(self, key: str):
        """The stored JSON value for ``key``, or None (absent, damaged, or not JSON)."""
        raw = self.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.hits -= 1
            self.misses += 1
            self._corrupt(key, _sha256(raw), f"not valid JSON: {exc}")
            return None

    def put_json(self, key: str, value) -> None:
        self.put(key, json.dumps(value, ensure_ascii=False).encode("utf-8"))

    def discard(self, key: str, why: str = "unusable value") -> None:
        """Report the entry :meth:`get` just returned for ``key`` as corrupted and
        delete it (for a caller that found the bytes intact but unusable, e.g.
        a vector of the wrong length); the lookup counts as a miss."""
        row = self._conn().execute(
            "SELECT sha256 FROM entries WHERE namespace=? AND key=?", (self.namespace, key)
        ).fetchone()
        if row is not None:
            self.hits -= 1
            self.misses += 1
            self._corrupt(key, row[0], why)

    def verify(self) -> list[str]:
        """Keys in this namespace whose value fails its hash (a full scan; nothing is changed)."""
        rows = self._conn().execute("SELECT key, value, sha256 FROM entries WHERE namespace=?", (self.namespace,))
        return [key for key, value, digest in rows if value is None or _sha256(value) != digest]

    def close(self) -> None:
        """Close this thread's connection (the next use opens a new one)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            self._local.con = None
            if self._local.pid == os.getpid():
                con.close()

    def __len__(self) -> int:
        return self._conn().execute(
            "SELECT COUNT(*) FROM entries WHERE namespace=?", (self.namespace,)
        ).fetchone()[0]
