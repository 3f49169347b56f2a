"""Errors raised for bad input.

Every error about a user's file names the file and, where it can, the line or
field, so the user can fix the input without reading our code.
"""

from __future__ import annotations

__all__ = ["InputError"]


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
