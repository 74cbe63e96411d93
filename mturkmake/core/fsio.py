"""Files on disk: atomic writes, fingerprints, mtimes and the project lock.

Targets are never written in place (house style §11): an action writes a temporary file in
the target's directory and :func:`commit_output` moves it over the target with
:func:`os.replace`, so a crash leaves the old target or the new one, never half of one —
GNU make's ``.DELETE_ON_ERROR`` by construction. Identical bytes are not committed at all,
so the target's mtime does not move and Makefiles downstream do not rebuild (DESIGN §2).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple

from mturkmake.errors import FileError, LockTimeout

_CHUNK = 1 << 20
#: How often a waiting run retries the lock; short, since the wait is bounded by the timeout.
_LOCK_POLL_SECONDS = 0.05


class Fingerprint(NamedTuple):
    """What a file looked like: its size, its mtime in nanoseconds and its content hash.

    Staleness compares fingerprints, not mtime order (DESIGN §2): a file touched without a
    content change keeps its ``sha256`` and so changes nothing downstream.
    """

    size: int
    mtime_ns: int
    sha256: str


def _hash_file(path: Path) -> str:
    import hashlib  # ~2 ms (OpenSSL) that a run whose files kept their mtimes never needs

    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise file_error(exc, path, "read") from None
    return digest.hexdigest()


def file_error(exc: OSError, path: Path, action: str) -> FileError:
    """One line for an OS error on ``path``: what failed and what to do."""
    needed = "it readable" if action == "read" else "it and its directory writable"
    hints = {
        errno.EACCES: f"make {needed}, or run as the owner",
        errno.EPERM: "check its permissions, or run as its owner",
        errno.EROFS: "the file system is read-only; run in a writable directory",
        errno.ENOSPC: "free some disk space and run again",
        errno.EFBIG: "a file-size limit was reached (ulimit -f); raise it and run again",
    }
    return FileError(
        f"cannot {action}: {exc.strerror or exc}",
        file=str(path),
        hint=hints.get(exc.errno or 0, "check the path and its permissions"),
    )


def fingerprint(path: Path, previous: Fingerprint | None = None) -> Fingerprint | None:
    """Fingerprint ``path``; ``None`` when it does not exist (or is a directory).

    :raises FormatError: a pipe, a device or a socket.
    :raises FileError: a file that cannot be read.

    :param previous: a fingerprint taken earlier; when size and mtime are unchanged its hash
        is reused instead of reading the file again (the cheap path, as black's cache does).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return None  # a directory counts as absent, as it always did
    if not stat.S_ISREG(st.st_mode):
        # A pipe, a device or a socket is never opened (a FIFO would block, /dev/zero never
        # ends) and never taken for an up-to-date target.
        from mturkmake.formats.diskfile import check_regular

        check_regular(path)  # raises, naming what it is
    if previous is not None and previous.size == st.st_size and previous.mtime_ns == st.st_mtime_ns:
        return Fingerprint(st.st_size, st.st_mtime_ns, previous.sha256)
    return Fingerprint(st.st_size, st.st_mtime_ns, _hash_file(path))


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
    except FileNotFoundError:
        return False
    with a.open("rb") as sa, b.open("rb") as sb:
        while True:
            ca, cb = sa.read(_CHUNK), sb.read(_CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def _fsync_dir(directory: Path) -> None:
    # The rename itself must reach the disk, not only the file's bytes.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some filesystems cannot open directories; the data is already synced
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def temp_path_for(final: Path) -> Path:
    """The temporary path next to ``final`` that an action writes: ``.<name>.mturkmake-tmp``.

    Same directory, so :func:`os.replace` is a rename on one filesystem.
    """
    return final.with_name(f".{final.name}.mturkmake-tmp")


def commit_output(temp: Path, final: Path) -> bool:
    """Move ``temp`` (written by an action) over ``final`` atomically.

    :returns: ``True`` when ``final`` changed; ``False`` when its bytes were already
        identical, in which case ``temp`` is removed and ``final`` (and its mtime) untouched.
    """
    if final.exists() and _same_bytes(temp, final):
        temp.unlink()
        return False
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, final)
    _fsync_dir(final.parent)
    return True


def atomic_write(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, :func:`os.replace`).

    :returns: ``True`` when the file changed; ``False`` when it already held exactly
        ``data`` (the file and its mtime are left alone).
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(path)
    try:
        with temp.open("wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return True


def set_mtime_now(path: Path, at_least_ns: int = 0) -> None:
    """Set ``path``'s mtime (and atime) to now, or to ``at_least_ns`` if that is later.

    ``at_least_ns`` keeps a target no older than a prerequisite whose mtime lies in the
    future (clock skew, a copied file), so GNU make still sees the target as up to date.
    """
    stamp = max(time.time_ns(), at_least_ns)
    os.utime(path, ns=(stamp, stamp))


class ProjectLock:
    """The project lock (``.mturkmake/lock``): one side-effecting run at a time (DESIGN §3).

    A context manager around :func:`fcntl.flock`; the holder writes its pid and command line
    into the file so that a run that gives up can say who holds it. The kernel drops the lock
    when the holder dies, so a stale file never blocks anyone.

    :param lock_path: the lock file; its directory is created if needed.
    :param timeout: seconds to wait before raising :class:`~mturkmake.errors.LockTimeout`.
    :param holder_description: what this run is, e.g. ``mturkmake survey.results``.
    """

    def __init__(self, lock_path: Path, timeout: float, holder_description: str) -> None:
        self.lock_path = lock_path
        self.timeout = timeout
        self.holder_description = holder_description
        self._stream: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout`` seconds."""
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            # "a+" creates the file without truncating what the current holder wrote.
            stream = self.lock_path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise file_error(exc, self.lock_path, "create the project lock") from None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._read_holder()
                    stream.close()
                    raise LockTimeout(
                        f"another run holds the project lock ({holder})",
                        file=str(self.lock_path),
                        hint=f"waited {self.timeout:g} s; let it finish or raise --lock-timeout",
                    ) from None
                time.sleep(_LOCK_POLL_SECONDS)
        try:
            stream.seek(0)
            stream.truncate()
            stream.write(f"{os.getpid()}\n{self.holder_description}\n")
            stream.flush()
        except OSError as exc:  # a full disk: the lock is still ours, only the note failed
            fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                stream.close()
            raise file_error(exc, self.lock_path, "write the project lock") from None
        self._stream = stream

    def _read_holder(self) -> str:
        try:
            lines = self.lock_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        if not lines:
            return "holder unknown"
        command = lines[1] if len(lines) > 1 else "command unknown"
        return f"pid {lines[0]}: {command}"

    def release(self) -> None:
        """Release the lock (a no-op when not held)."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        with contextlib.suppress(OSError):
            # Clear the holder line first, so nobody is named after we are gone.
            stream.seek(0)
            stream.truncate()
            stream.flush()
        fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
        stream.close()

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
