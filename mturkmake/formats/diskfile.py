"""Opening a file the user named: regular files only, every failure one line.

A reader must never block or exhaust memory on what the user pointed it at: a named pipe
(FIFO) would wait forever for a writer, ``/dev/zero`` or ``/dev/urandom`` never ends. So the
path is checked with :func:`os.stat` *before* it is opened and anything but a regular file
is refused, naming what it is. The open itself uses ``O_NONBLOCK`` and checks again with
:func:`os.fstat`, so a pipe swapped in between the two calls cannot block us either.
Permission problems, a directory, a missing file or a dangling link are a
:class:`~mturkmake.errors.FormatError` naming the file and what to do — never a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from mturkmake.errors import FormatError

#: The largest whole file (question, properties, mturkmake.toml…) read into memory. Such a
#: file bigger than this is certainly a mistake, and reading it could exhaust memory.
MAX_WHOLE_FILE_BYTES = 16 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "is a directory", "name a file, not a directory"),
    (
        stat.S_ISFIFO,
        "is a named pipe (FIFO)",
        "mturkmake reads only regular files: save the data to a file",
    ),
    (
        stat.S_ISCHR,
        "is a character device",
        "mturkmake reads only regular files: save the data to a file",
    ),
    (stat.S_ISBLK, "is a block device", "mturkmake reads only regular files"),
    (stat.S_ISSOCK, "is a socket", "mturkmake reads only regular files"),
)


def os_error(exc: OSError, source: str) -> FormatError:
    """The one-line error for ``exc`` raised while reading ``source``."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FormatError(
            "cannot read the file: permission denied",
            file=source,
            hint="make it readable (chmod u+r), or run mturkmake as its owner",
        )
    if exc.errno == errno.ENOENT:
        return FormatError(
            "no such file (or a symbolic link to nowhere)",
            file=source,
            hint="check the path",
        )
    if exc.errno == errno.EISDIR:
        return FormatError("is a directory", file=source, hint="name a file, not a directory")
    return FormatError(
        f"cannot read the file: {exc.strerror or exc}",
        file=source,
        hint="check the path and its permissions",
    )


def _refuse_kind(mode: int, source: str) -> None:
    if stat.S_ISREG(mode):
        return
    for test, what, hint in _KINDS:
        if test(mode):
            raise FormatError(what, file=source, hint=hint)
    raise FormatError("is not a regular file", file=source, hint="name a regular file")


def check_regular(path: str | Path, *, source: str | None = None) -> os.stat_result:
    """``os.stat`` of ``path`` (links followed), refusing anything but a regular file.

    :raises FormatError: missing, unreadable directory entry, or not a regular file.
    """
    name = str(path) if source is None else source
    try:
        st = os.stat(path)
    except OSError as exc:
        raise os_error(exc, name) from None
    _refuse_kind(st.st_mode, name)
    return st


def open_regular(path: str | Path, *, source: str | None = None) -> IO[bytes]:
    """Open a regular file for binary reading; see the module docstring for what is refused.

    :raises FormatError: as :func:`check_regular`, or when the file cannot be opened.
    """
    name = str(path) if source is None else source
    check_regular(path, source=name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise os_error(exc, name) from None
    try:
        _refuse_kind(os.fstat(fd).st_mode, name)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_regular(
    path: str | Path, *, source: str | None = None, limit: int = MAX_WHOLE_FILE_BYTES
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    :raises FormatError: as :func:`open_regular`, or a file larger than ``limit``.
    """
    name = str(path) if source is None else source
    with open_regular(path, source=name) as stream:
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise os_error(exc, name) from None
    if len(data) > limit:
        raise FormatError(
            f"the file is larger than {limit // (1024 * 1024)} MiB",
            file=name,
            hint="this file kind is small; check that you named the right file",
        )
    return data


__all__ = ["MAX_WHOLE_FILE_BYTES", "check_regular", "open_regular", "os_error", "read_regular"]
