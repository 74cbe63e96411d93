"""Run liveness: which runs are still alive, so recovery never races a live caller.

Each ledger run holds an exclusive ``flock`` on ``.mturkmake/runs/<run>.lock`` for its
lifetime. The kernel drops the lock when the process dies, however it dies (SIGKILL
included), so another run can tell an intent still in flight in a live run — leave it alone
— from one orphaned by a crash — claim it and resolve it. A different open file description
conflicts even within one process, so two ledgers in one process see each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import IO


class RunLock:
    """This run's liveness lock, held from construction until :meth:`release`.

    :param runs_dir: ``.mturkmake/runs`` (created if needed).
    :param run: this run's id.
    """

    def __init__(self, runs_dir: Path, run: str) -> None:
        self.runs_dir = runs_dir
        self.run = run
        runs_dir.mkdir(parents=True, exist_ok=True)
        stream = self._path(run).open("wb")
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
        self._stream: IO[bytes] | None = stream

    def _path(self, run: str) -> Path:
        return self.runs_dir / f"{run}.lock"

    def is_live(self, run: str) -> bool:
        """Whether run ``run`` (this one included) is still alive."""
        if run == self.run:
            return self._stream is not None
        path = self._path(run)
        try:
            stream = path.open("rb")
        except FileNotFoundError:
            return False
        with stream:
            try:
                fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            # Its holder is gone (the kernel dropped the lock when it died): tidy up.
            with contextlib.suppress(OSError):
                path.unlink()
            return False

    def release(self) -> None:
        """End the run (idempotent): its pending intents become recoverable."""
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(OSError):
                self._path(self.run).unlink()
            stream.close()
