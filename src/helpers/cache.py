"""A content-addressed, on-disk cache (SQLite) for LLM calls and embeddings.

The key of an entry is the SHA-256 of everything that determines the result
(backend, model file hash or id, prompt version, decoding parameters, the
exact messages or text), so a re-run of an unchanged config finds every result
and a changed prompt misses only the entries it changed. Entries are written
one at a time and committed at once: a run killed mid-stage keeps everything
it had finished.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

__all__ = ["ContentCache", "content_key"]


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


class ContentCache:
    """Key-value store in one SQLite file, safe across processes and threads.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file (its folder is created).
    namespace : str
        A table-like prefix, e.g. ``"llm"`` or ``"embedding"``.

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
        with self._conn() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS entries (namespace TEXT, key TEXT, value BLOB, "
                "created REAL, PRIMARY KEY (namespace, key))"
            )

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=60)
            con.execute("PRAGMA journal_mode=WAL")
            self._local.con = con
        return con

    def get(self, key: str) -> bytes | None:
        """The stored bytes for ``key``, or None."""
        row = self._conn().execute(
            "SELECT value FROM entries WHERE namespace=? AND key=?", (self.namespace, key)
        ).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return row[0]

    def put(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key`` and commit."""
        with self._conn() as con:
            con.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)",
                (self.namespace, key, value, time.time()),
            )

    def get_json(self, key: str):
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    def put_json(self, key: str, value) -> None:
        self.put(key, json.dumps(value, ensure_ascii=False).encode("utf-8"))

    def __len__(self) -> int:
        return self._conn().execute(
            "SELECT COUNT(*) FROM entries WHERE namespace=?", (self.namespace,)
        ).fetchone()[0]
