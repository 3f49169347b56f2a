"""Errors raised for bad input, and the two steps every user's file goes through.

Every error about a user's file names the file and, where it can, the line or
field, so the user can fix the input without reading our code.
:func:`decode_text` turns a file's bytes into text and :func:`read_csv_rows`
splits a CSV file into cells; both raise :class:`InputError` naming the line,
never a ``UnicodeDecodeError`` or ``csv.Error``.
"""

from __future__ import annotations

import csv
import io
import re

__all__ = ["InputError", "PromptTooLong", "WriteError", "RunInUseError", "decode_text", "read_csv_rows"]


class InputError(ValueError):
    """A problem with an input file or configuration value.

    Parameters
    ----------
    message : str
        What is wrong, in plain words.
    path : str or os.PathLike, optional
        The file the problem is in.
    line : int, optional
        The 1-based line number of the problem.
    field : str, optional
        The column, key or parameter name of the problem.

    Examples
    --------
    >>> err = InputError("end time precedes start time", path="aula.vtt", line=12)
    >>> str(err)
    'aula.vtt, line 12: end time precedes start time'
    """

    def __init__(self, message, *, path=None, line=None, field=None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class PromptTooLong(InputError):
    """A prompt (plus the tokens to generate) longer than the model's context window (field ``n_ctx``).

    The judges catch it per item: that item gets NaN with status
    ``too_long`` and the others are judged.
    """

    def __init__(self, message):
        super().__init__(message, field="n_ctx")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _line_of(text_before: str) -> int:
    return len(_LINE_BREAK.findall(text_before)) + 1


def decode_text(raw: bytes, path, *, allow_utf16: bool = False) -> str:
    """A user's file as text: UTF-8 (a byte-order mark is dropped), line ends made ``\\n``.

    Parameters
    ----------
    raw : bytes
        The file's bytes.
    path : str or os.PathLike
        The file, named in the error.
    allow_utf16 : bool
        Also read UTF-16 that starts with a byte-order mark (Praat writes it).

    Raises
    ------
    InputError
        Bytes that are not UTF-8 (or not UTF-16, where allowed), naming the
        line of the first bad byte.

    Examples
    --------
    >>> decode_text(b"\\xef\\xbb\\xbfum\\r\\ndois\\r", "a.txt")
    'um\\ndois\\n'
    >>> try:
    ...     decode_text(b"ok\\nol\\xe1\\n", "a.txt")
    ... except InputError as err:
    ...     print(err)
    a.txt, line 2: byte 0xe1 is not UTF-8; save the file as UTF-8
    """
    codec = "utf-16" if allow_utf16 and raw[:2] in _UTF16_BOMS else "utf-8-sig"
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as err:
        line = _line_of(raw[: err.start].decode(codec, errors="replace"))
        if codec == "utf-16":
            message = "this UTF-16 file is cut short or damaged; save it as UTF-8"
        elif raw[:2] in _UTF16_BOMS:
            message = "the file is UTF-16; save it as UTF-8"
        else:
            message = f"byte 0x{raw[err.start]:02x} is not UTF-8; save the file as UTF-8"
        raise InputError(message, path=path, line=line) from None
    return _LINE_BREAK.sub("\n", text)


def read_csv_rows(text: str, path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Split CSV text into its header and ``(line, cells)`` rows, the way pandas reads it.

    As ``pandas.read_csv(dtype=str, keep_default_na=False)`` does: the first
    row is the header (an empty name becomes ``Unnamed: i``, a repeated one
    ``name.1``), blank lines are skipped and a short row's missing cells are
    ``""``. Unlike it, a row with more non-empty cells than the header is an
    error (pandas would quietly shift the columns), a NUL byte is kept, and
    every row keeps the line it starts on (a quoted cell may span lines).

    Raises
    ------
    InputError
        No header, a row with too many cells, a quoted cell never closed.

    Examples
    --------
    >>> read_csv_rows('id,text\\n\\nq1,"two\\nlines"\\nq2\\n', "q.csv")
    (['id', 'text'], [(3, ['q1', 'two\\nlines']), (5, ['q2', ''])])
    """
    rows = _csv_records(text, path)
    while rows and _blank_row(rows[0][1]):
        rows.pop(0)
    if not rows:
        raise InputError("the file is empty: expected a header row", path=path, line=1)
    header = _header(rows[0][1])
    out = []
    for line, cells in rows[1:]:
        if _blank_row(cells):
            continue
        if len(cells) > len(header):
            if any(c.strip() for c in cells[len(header) :]):
                raise InputError(
                    f"row has {len(cells)} cells but the header has {len(header)} (a comma too many, or a quote missing?)",
                    path=path,
                    line=line,
                )
            cells = cells[: len(header)]
        out.append((line, cells + [""] * (len(header) - len(cells))))
    return header, out


def _csv_records(text, path):
    # Strict first, so a quote never closed is an error rather than the rest of the file
    # in one cell; then lenient (as pandas is) about a stray quote inside a cell.
    for strict in (True, False):
        reader = csv.reader(io.StringIO(text, newline=""), strict=strict)
        rows, first = [], 1
        try:
            for cells in reader:
                rows.append((first, cells))
                first = reader.line_num + 1
        except csv.Error as err:
            if strict and "unexpected end of data" in str(err):
                raise InputError("a quoted cell that starts on this line is never closed", path=path, line=first) from None
            if strict:
                continue
            raise InputError(f"not valid CSV: {err}", path=path, line=first) from None
        return rows
    raise AssertionError("unreachable")  # pragma: no cover


def _blank_row(cells) -> bool:
    return not cells or (len(cells) == 1 and not cells[0].strip())


def _header(cells):
    names, seen = [], set()
    for i, name in enumerate(cells):
        name = name or f"Unnamed: {i}"
        base, k = name, 0
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen.add(name)
        names.append(name)
    return names


# ---------------------------------------------------------------- the machine, not the input
# A full disk, a read-only folder, a run folder another run holds: RuntimeErrors
# (the command line prints their message, exit status 1) that name the path.

_REASONS = {
    "ENOSPC": "no space left on the device",
    "EDQUOT": "disk quota exceeded",
    "EROFS": "the file system is read-only",
    "EACCES": "permission denied",
    "EPERM": "operation not permitted",
    "EIO": "input/output error",
}


class WriteError(RuntimeError):
    """A file could not be written: full disk, read-only folder, no permission.

    The writers in :mod:`helpers.runs` write to a temporary file beside the
    target and rename it over the target only when complete, so the previous
    version of the file, if any, is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file that could not be written.
    cause : OSError
        The operating system's error.

    Examples
    --------
    >>> import errno
    >>> str(WriteError("runs/x/answers.parquet", OSError(errno.ENOSPC, "No space left on device")))
    'runs/x/answers.parquet: cannot write: no space left on the device [ENOSPC]; any previous version of the file is unchanged'
    """

    def __init__(self, path, cause: OSError):
        import errno

        self.path = str(path)
        self.errno = getattr(cause, "errno", None)
        code = errno.errorcode.get(self.errno, "") if self.errno else ""
        reason = _REASONS.get(code) or getattr(cause, "strerror", None) or str(cause)
        super().__init__(f"{self.path}: cannot write: {reason}{f' [{code}]' if code else ''}; "
                         "any previous version of the file is unchanged")


class RunInUseError(RuntimeError):
    """Another run holds the run folder (two ``python -m helpers run`` on one run id).

    Examples
    --------
    >>> str(RunInUseError("data/runs/sample", 4242))
    'data/runs/sample: in use by another run (pid 4242); wait for it to finish, or give this run another run_id'
    """

    def __init__(self, run_dir, pid=None):
        self.path = str(run_dir)
        self.pid = pid
        holder = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"{self.path}: in use by another run ({holder}); wait for it to finish, or give this run another run_id")
