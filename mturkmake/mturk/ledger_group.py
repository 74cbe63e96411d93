"""The ledger's group commit (issue #17): fewer transactions per side effect, same guarantees.

A :class:`GroupCommit` belongs to one :class:`~mturkmake.mturk.ledger.Ledger`. Inside
:meth:`GroupCommit.grouped`, a call's outcome (:meth:`Intent.done`, :meth:`Intent.failed`) is
kept in memory and written by the transaction of the next intent any thread records (or at
the block's end, or before any read of outcomes); intents that several threads record at
the same moment share one transaction (the first waiting thread commits them all, each under
its own savepoint, so one refused intent refuses only itself). Hence:

- no call is sent before its intent is durable (:meth:`GroupCommit.record` returns after the
  commit);
- no outcome is written before its intent (it is deferred after it);
- at most as many intents lack a durable outcome as there are calls in flight: each new
  intent's commit writes every outcome known so far, so with ``jobs`` threads, at most
  ``jobs``.

A crash loses at most the deferred outcomes of the calls in flight or just ended: their
intents stay pending, and the next run resolves them by their tokens, as it does for any
call in flight at a crash.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mturkmake.errors import MturkmakeError

if TYPE_CHECKING:
    from mturkmake.mturk.ledger import Ledger
    from mturkmake.mturk.ledger_model import Intent
    from mturkmake.mturk.recovery import Resolution

#: An outcome waiting for the next commit: (intent, resolution, resolved_by, at).
Deferred = tuple["Intent", "Resolution", str, str]


@dataclass
class _Request:
    """An intent waiting for the group commit."""

    operation: str
    batch: str
    subject: str
    params: Mapping[str, Any]
    cents: int
    budget: Decimal | None
    result: Intent | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    """The group commit of one ledger; safe to share between threads.

    :param ledger: whose ``_record`` and ``_write_outcome`` write the rows, in this object's
        transactions.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._lock = threading.Lock()
        self._grouping = 0
        self._deferred: list[Deferred] = []
        self._queue: list[_Request] = []
        self._committing = False
        self._queue_done = threading.Condition(self._lock)

    @property
    def active(self) -> bool:
        """Whether a :meth:`grouped` block is open (outcomes of calls are deferred)."""
        return self._grouping > 0

    @contextlib.contextmanager
    def grouped(self) -> Iterator[None]:
        """Group the commits of the block (see the module's docstring); flush at its end."""
        with self._lock:
            self._grouping += 1
        try:
            yield
        finally:
            with self._lock:
                self._grouping -= 1
            self.flush()

    def defer(self, item: Deferred) -> None:
        """Keep an outcome for the next commit."""
        with self._lock:
            self._deferred.append(item)

    def flush(self) -> None:
        """Write the deferred outcomes now (one transaction)."""
        with self._lock:
            deferred, self._deferred = self._deferred, []
        if not deferred:
            return
        ledger = self.ledger
        try:
            with ledger.db.transaction() as conn:
                for item in deferred:
                    ledger._write_outcome(conn, *item)
        except BaseException:
            with self._lock:
                self._deferred[:0] = deferred
            raise
        ledger.commits += 1

    def settle(self) -> None:
        """Make the deferred outcomes visible to a read of outcomes."""
        if self._deferred:
            self.flush()

    def record(
        self,
        operation: str,
        batch: str,
        subject: str,
        params: Mapping[str, Any],
        *,
        cents: int,
        budget: Decimal | None,
    ) -> Intent:
        """Record an intent in a shared transaction with the intents other threads record
        at the same moment, and with every deferred outcome; returns once it is durable.

        :raises MturkmakeError: this intent was refused (the others are not).
        """
        ledger = self.ledger
        # Whatever _record resolves before its transaction (a project id that may be written
        # to the config file) is resolved here, before the group's shared transaction.
        getattr(ledger, "project", None)
        request = _Request(operation, batch, subject, params, cents, budget)
        with self._lock:
            self._queue.append(request)
            while not request.done:
                if self._committing:
                    self._queue_done.wait()
                    continue
                # This thread commits every intent queued so far (its own included).
                requests, self._queue = self._queue, []
                deferred, self._deferred = self._deferred, []
                self._committing = True
                self._lock.release()
                try:
                    self._commit(requests, deferred)
                finally:
                    self._lock.acquire()
                    self._committing = False
                    self._queue_done.notify_all()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _commit(self, requests: list[_Request], deferred: list[Deferred]) -> None:
        ledger = self.ledger
        try:
            with ledger.db.transaction() as conn:
                for item in deferred:
                    ledger._write_outcome(conn, *item)
                for request in requests:
                    conn.execute("SAVEPOINT ledger_intent")
                    try:
                        request.result = ledger._record(
                            request.operation,
                            request.batch,
                            request.subject,
                            request.params,
                            cents=request.cents,
                            budget=request.budget,
                        )
                    except MturkmakeError as exc:  # refused: this intent only
                        conn.execute("ROLLBACK TO ledger_intent")
                        request.error = exc
                    conn.execute("RELEASE ledger_intent")
            ledger.commits += 1
        except BaseException as exc:
            # Nothing of the group was written: its outcomes wait for the next commit, and
            # each intent is refused with the error (none was sent).
            with self._lock:
                self._deferred[:0] = deferred
            for request in requests:
                if request.result is not None:
                    ledger._in_flight.discard(request.result.id)
                    request.result = None
                if request.error is None:
                    request.error = exc
        finally:
            for request in requests:
                request.done = True
