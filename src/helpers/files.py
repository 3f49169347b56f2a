"""Small file helpers every stage shares: atomic writes, content hashes, times as text.

Standard library only, so :mod:`helpers.llama_build` can use it before the
project's dependencies are installed.

====================  ======================================================
:func:`write_atomic`  write through a temporary file, then rename it over the target
:func:`write_text`    the same for a text (UTF-8)
:func:`file_sha256`   SHA-256 of a file's bytes, read in chunks
:func:`bytes_sha256`  SHA-256 of bytes in memory
:func:`format_time`   seconds as ``HH:MM:SS`` (``.mmm`` when not whole)
:func:`clock`         seconds as ``HH:MM:SS``, rounded to whole seconds
:func:`timestamp`     the local time now, ISO 8601 (``2026-11-27T08:00:00+0000``)
====================  ======================================================
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

from .errors import InputError, WriteError

__all__ = ["write_atomic", "remove_stale_temporaries", "write_text", "file_sha256", "bytes_sha256", "format_time", "clock", "timestamp"]


def _remove_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_atomic(path, write) -> Path:
    """Write a file through ``write(tmp)`` to a temporary file beside ``path``, then rename it over ``path``.

    Readers, a crash or a full disk see the old file or the new one, never a
    part of one. Any OSError (no space, read-only file system, permission
    denied) becomes a :class:`~helpers.errors.WriteError` naming ``path``;
    the temporary file is removed and the previous ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder is created if needed.
    write : callable
        ``write(tmp)`` writes the whole content to the :class:`pathlib.Path`
        ``tmp`` (e.g. ``lambda tmp: df.to_parquet(tmp)``). The temporary name
        is hidden and unique (``.<name>.<pid>.<random>.tmp``), so two writers
        never share one and no output glob matches it; a writer that needs a
        suffix (``np.save``, ``fig.savefig``) should write to the open file or
        pass the format explicitly.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> p = write_atomic(os.path.join(tempfile.mkdtemp(), "a.txt"), lambda tmp: tmp.write_text("hi"))
    >>> p.read_text(), os.listdir(p.parent)
    ('hi', ['a.txt'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the bytes are on disk before the name points at them
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise WriteError(path, exc) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def remove_stale_temporaries(folder) -> list:
    """Remove the temporary files of :func:`write_atomic` under ``folder`` whose writer is no longer running.

    A process killed between writing its temporary file and renaming it
    (SIGKILL, a power cut) leaves ``.<name>.<pid>.<random>.tmp`` behind; the
    target file is untouched. A file whose pid is alive (another writer at
    work) is kept. Returns the paths removed.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp(); mine = os.path.join(d, f".a.txt.{os.getpid()}.0123abcd.tmp"); _ = open(mine, "w").close()
    >>> remove_stale_temporaries(d), os.listdir(d) == [os.path.basename(mine)]
    ([], True)
    """
    removed = []
    for tmp in Path(folder).rglob(".*.tmp"):
        match = _TEMPORARY.match(tmp.name)
        if not match or not tmp.is_file():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            _remove_quietly(tmp)
            removed.append(tmp)
        except (PermissionError, OverflowError):  # alive under another user, or not a pid: keep it
            pass
    return removed


def write_text(path, text: str) -> Path:
    """Write ``text`` as UTF-8 (line ends as given) atomically, see :func:`write_atomic`.

    Examples
    --------
    >>> import os, tempfile
    >>> write_text(os.path.join(tempfile.mkdtemp(), "a.md"), "olá\\n").read_bytes()
    b'ol\\xc3\\xa1\\n'
    """
    data = text.encode("utf-8")
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's bytes, read ``chunk`` bytes at a time.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> _ = open(p, "wb").write(b"abc")
    >>> file_sha256(p) == bytes_sha256(b"abc")
    True
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def bytes_sha256(data) -> str:
    """SHA-256 (hex) of bytes (or anything ``bytes()`` accepts; a str is encoded as UTF-8).

    Examples
    --------
    >>> bytes_sha256(b"abc")[:16]
    'ba7816bf8f01cfea'
    >>> bytes_sha256("abc") == bytes_sha256(b"abc")
    True
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(bytes(data)).hexdigest()


def format_time(seconds, *, whole: bool = False) -> str:
    """Seconds as ``HH:MM:SS``, with ``.mmm`` only when not whole (the study's records' format).

    Parameters
    ----------
    seconds : float
        A non-negative time.
    whole : bool, default False
        Round to whole seconds and never write milliseconds (the context
        headers the generator reads, :func:`clock`).

    Raises
    ------
    InputError
        A negative time.

    Examples
    --------
    >>> format_time(480), format_time(5136.0), format_time(7.8675)
    ('00:08:00', '01:25:36', '00:00:07.868')
    >>> format_time(3725.4, whole=True), format_time(360000)
    ('01:02:05', '100:00:00')
    """
    ms = int(round(float(seconds))) * 1000 if whole else int(round(float(seconds) * 1000))
    if ms < 0:
        raise InputError(f"time must not be negative, got {seconds!r}", field="start_s")
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}" + (f".{ms:03d}" if ms else "")


def clock(seconds: float) -> str:
    """``HH:MM:SS`` of a time in seconds rounded to whole seconds, e.g. ``clock(3725) == '01:02:05'``."""
    return format_time(seconds, whole=True)


def timestamp(*, utc_offset: bool = True) -> str:
    """The local time now as ISO 8601, ``2026-11-27T08:00:00+0000`` (without ``+0000`` if not ``utc_offset``).

    Examples
    --------
    >>> len(timestamp()), len(timestamp(utc_offset=False))
    (24, 19)
    """
    return time.strftime("%Y-%m-%dT%H:%M:%S%z" if utc_offset else "%Y-%m-%dT%H:%M:%S")
