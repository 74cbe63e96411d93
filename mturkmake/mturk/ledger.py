"""The ledger of remote side effects, in ``.mturkmake/state.db`` (DESIGN §3, §4).

Money must never move twice. Every side-effecting call is recorded as an *intent* before it
is sent and as an *outcome* after; an intent without an outcome is resolved before anything
new is sent — by retrying with the same ``UniqueRequestToken`` while MTurk still remembers
the token (younger than 23 h on the endpoint's clock), by a lookup afterwards, never by a
blind re-send. The operation-specific retries and lookups are plugged in by the commands
through a :class:`Recoveries` registry; the ledger itself knows nothing about MTurk.

Concurrency: every read-modify-write runs in ``BEGIN IMMEDIATE`` (:meth:`StateDB.transaction`),
and a unique index on the active (endpoint, batch, operation, subject) makes a second intent
for one subject impossible, across threads and processes. Each :class:`Ledger` is a *run*
holding a :class:`~mturkmake.mturk.run_lock.RunLock` for its lifetime, so recovery can tell an
intent still in flight in a live run (left alone) from one orphaned by a crash (claimed with
a compare-and-set, then resolved exactly once).

Exposure (the budget, :mod:`mturkmake.mturk.exposure`) is committed in the same transaction
that records an intent, and released when a failed call proves it was never spent.

The ledger's other modules: :mod:`~mturkmake.mturk.ledger_model` (its tables, intent ids and
tokens, :class:`Record` and :class:`Intent`), :mod:`~mturkmake.mturk.ledger_queries` (the
read side, :class:`Ledger`'s base) and :mod:`~mturkmake.mturk.ledger_group` (the group
commit). Their public names are importable from here too.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mturkmake.core.state import StateDB
from mturkmake.errors import EndpointError, LedgerError
from mturkmake.mturk.exposure import Exposure, from_cents, missing_table, to_cents
from mturkmake.mturk.ledger_group import GroupCommit
from mturkmake.mturk.ledger_model import (
    INTENT_COLUMNS,
    LEDGER_DDL,
    LEDGER_SCHEMA,
    LEDGER_VERSION,
    PENDING,
    Intent,
    OutcomeStatus,
    Record,
    dumps,
    intent_from_row,
    intent_uid,
    request_token,
    select_records,
    stamp,
)
from mturkmake.mturk.ledger_queries import LedgerQueries
from mturkmake.mturk.recovery import RETRY_WINDOW, Recovered, Recoveries, Resolution
from mturkmake.mturk.run_lock import RunLock
from mturkmake.mturk.times import as_utc, utc_now

log = logging.getLogger(__name__)


class Ledger(LedgerQueries):
    """The ledger of one run against one endpoint; safe to share between threads.

    :param db: the project's state database.
    :param endpoint: the endpoint's identity (``local``, ``sandbox``, ``production`` or the
        URL); part of every token and of the batch check.
    :param clock: the endpoint's clock (the local marketplace passes its virtual clock).
    :param guard: called before every side effect is recorded; the client factory passes
        the endpoint check so that a wrong client is refused before anything happens.
    :param project: the project's id (part of every intent id), or a function that reads or
        creates it, called once, before the first intent — so a new id is written to the
        config file only by a run that records one. ``""``: no project (tests).
    """

    def __init__(
        self,
        db: StateDB,
        endpoint: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        guard: Callable[[], None] | None = None,
        project: str | Callable[[], str] = "",
    ) -> None:
        self.db = db
        self.endpoint = endpoint
        self.clock = clock
        self.guard = guard
        self._project = project
        self._resolved: str | None = None
        self._project_lock = threading.Lock()
        self.run = uuid.uuid4().hex
        self._recovered = False
        self._in_flight: set[int] = set()
        # Group commit (issue #17): outcomes deferred inside grouped(), written by the next
        # intent's transaction or at the group's end (mturk/ledger_group.py).
        self._group = GroupCommit(self)
        #: transactions committed by this ledger for intents and outcomes (benchmarks)
        self.commits = 0
        db.ensure_schema(LEDGER_SCHEMA, LEDGER_DDL, LEDGER_VERSION)
        #: committed exposure and the budget (reserve, release, check_budget, committed)
        self.exposure = Exposure(db, endpoint, lambda: stamp(self._now()))
        self._run_lock = RunLock(db.path.parent / "runs", self.run)

    @property
    def project(self) -> str:
        """The project's id (resolved, and created if need be, on first use).

        :raises LedgerError: this ``state.db`` records another project's side effects (a
            copied folder whose ``project_id`` was deleted but not its ``.mturkmake/``).
        """
        with self._project_lock:
            if self._resolved is None:
                project = self._project() if callable(self._project) else self._project
                self._bind_project(project)
                self._resolved = project
            return self._resolved

    def _bind_project(self, project: str) -> None:
        """Tie the ledger to the first project that uses it; refuse any other.

        The ledger's records say which HITs are the project's; under another id they would
        be fetched and decided as its own. The table is created here rather than in the DDL:
        a ledger from before project ids gets bound by its next run, with no version bump.
        """
        if not project:
            return
        with self.db.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS ledger_project (project TEXT NOT NULL)")
            row = conn.execute("SELECT project FROM ledger_project").fetchone()
            if row is None:
                conn.execute("INSERT INTO ledger_project (project) VALUES (?)", (project,))
                return
        if row[0] != project:
            raise LedgerError(
                f"{self.db.path} records the side effects of another project (project_id "
                f"{str(row[0])[:12]}…, this configuration says {project[:12]}…); nothing was sent",
                hint=f'write project_id = "{row[0]}" back to continue that project, or delete '
                ".mturkmake/ to make this folder a project of its own",
            )

    def _now(self) -> datetime:
        return as_utc(self.clock())  # a naive clock is taken as UTC, as botocore does

    def close(self) -> None:
        """End the run: release the run lock (intents still pending become recoverable)."""
        self._run_lock.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- batches and endpoints ----------------------------------------------------------

    def check_batch(self, batch: str) -> None:
        """Refuse (:class:`EndpointError`) when ``batch`` lives on another endpoint."""
        self._check_batch(self.db.connection(), batch)

    def _check_batch(self, conn: sqlite3.Connection, batch: str, *, bind: bool = False) -> None:
        row = conn.execute("SELECT endpoint FROM ledger_batch WHERE batch = ?", (batch,)).fetchone()
        if row is None:
            if bind:
                conn.execute(
                    "INSERT INTO ledger_batch (batch, endpoint, since) VALUES (?, ?, ?)",
                    (batch, self.endpoint, stamp(self._now())),
                )
            return
        if row[0] != self.endpoint:
            raise EndpointError(
                f"batch '{batch}' lives on {row[0]}, but this run uses {self.endpoint}; "
                "nothing was sent",
                hint=f"run with --endpoint {row[0]}, or move the batch with "
                f"'mturkmake switch-endpoint {batch} {self.endpoint}'",
            )

    def set_batch_endpoint(self, batch: str, endpoint: str) -> None:
        """Move ``batch`` to ``endpoint`` (switch-endpoint; archive its entries first)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO ledger_batch (batch, endpoint, since) VALUES (?, ?, ?) "
                "ON CONFLICT(batch) DO UPDATE SET endpoint = excluded.endpoint, "
                "since = excluded.since",
                (batch, endpoint, stamp(self._now())),
            )

    # -- intents ------------------------------------------------------------------------

    @contextlib.contextmanager
    def intent(
        self,
        operation: str,
        batch: str,
        subject: str,
        params: Mapping[str, Any],
        *,
        exposure: Decimal | str | int = 0,
        budget: Decimal | None = None,
    ) -> Iterator[Intent]:
        """Record an intent, yield it for the call, and require an outcome.

        ``with ledger.intent("CreateHIT", batch, row_key, params, exposure=cost, budget=cap)
        as intent: … intent.done(hit_id)``. The batch check, the budget reservation and the
        insert are one transaction. If the block raises before :meth:`Intent.done` or
        :meth:`Intent.failed`, the intent stays pending: the call may have reached MTurk,
        and the next run's :meth:`recover` finds out.

        :raises LedgerError: the subject already has an intent (done, or in flight), or
            pending intents from an earlier run were not recovered first.
        :raises BudgetExceeded: ``exposure`` would take the committed exposure past ``budget``.
        :raises EndpointError: the batch lives on another endpoint, or ``guard`` refused.
        """
        if not self._recovered:
            raise LedgerError(
                "the ledger must resolve pending intents (recover) before recording new ones"
            )
        if self.guard is not None:
            self.guard()
        record = self._record_grouped(
            operation, batch, subject, params, cents=to_cents(exposure), budget=budget
        )
        yield record
        if record.status is None:
            raise LedgerError(
                f"{operation} for {batch} {subject}: no outcome was recorded; the intent "
                "stays pending and the next run resolves it"
            )

    # -- group commit (issue #17) -------------------------------------------------------

    @contextlib.contextmanager
    def grouped(self) -> Iterator[Ledger]:
        """Commit fewer transactions per side effect, without weakening the guarantees.

        Inside the block, a call's outcome (:meth:`Intent.done`, :meth:`Intent.failed`) is
        written by the transaction of the next intent any thread records (or at the block's
        end, or before any read of outcomes), and intents that threads record at the same
        moment share one transaction (:class:`~mturkmake.mturk.ledger_group.GroupCommit`).
        No call is sent before its intent is durable, no outcome is written before its
        intent, and at most as many intents lack a durable outcome as there are calls in
        flight (``jobs``): a crash loses only those, and the next run resolves them by their
        tokens.
        """
        with self._group.grouped():
            yield self

    def flush(self) -> None:
        """Write the deferred outcomes now (one transaction)."""
        self._group.flush()

    def _settle(self) -> None:
        # A read of outcomes sees the deferred ones too.
        self._group.settle()

    def _record_grouped(
        self,
        operation: str,
        batch: str,
        subject: str,
        params: Mapping[str, Any],
        *,
        cents: int,
        budget: Decimal | None,
    ) -> Intent:
        if not self._group.active:
            record = self._record(operation, batch, subject, params, cents=cents, budget=budget)
            self.commits += 1
            return record
        return self._group.record(operation, batch, subject, params, cents=cents, budget=budget)

    # -- recording ----------------------------------------------------------------------

    def _generation(
        self, conn: sqlite3.Connection, operation: str, batch: str, subject: str
    ) -> int:
        row = conn.execute(
            "SELECT COUNT(*) FROM ledger_intent "
            "WHERE endpoint = ? AND batch = ? AND operation = ? AND subject = ?",
            (self.endpoint, batch, operation, subject),
        ).fetchone()
        return int(row[0])

    def _record(
        self,
        operation: str,
        batch: str,
        subject: str,
        params: Mapping[str, Any],
        *,
        cents: int,
        budget: Decimal | None,
    ) -> Intent:
        now = self._now()
        project = self.project  # may write the config file: before the transaction
        with self.db.transaction() as conn:
            self._check_batch(conn, batch, bind=True)
            existing = self._active(conn, operation, batch, subject)
            if existing is not None:
                raise LedgerError(self._describe_existing(conn, existing))
            uid = intent_uid(
                self.endpoint,
                batch,
                operation,
                subject,
                self._generation(conn, operation, batch, subject),
                project=project,
            )
            token = request_token(self.endpoint, operation, uid)
            if cents:
                self.exposure.check_cap(conn, cents, budget)
            cursor = conn.execute(
                "INSERT INTO ledger_intent (uid, endpoint, batch, operation, subject, params, "
                "token, created_at, exposure_cents, run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uid,
                    self.endpoint,
                    batch,
                    operation,
                    subject,
                    dumps(params),
                    token,
                    stamp(now),
                    cents,
                    self.run,
                ),
            )
            intent_id = int(cursor.lastrowid or 0)
            if cents:
                self.exposure.add(conn, batch, cents, f"commit {operation} {subject}", intent_id)
        self._in_flight.add(intent_id)
        return Intent(
            intent_id,
            uid,
            self.endpoint,
            batch,
            operation,
            subject,
            dict(params),
            token,
            now,
            from_cents(cents),
            self.run,
            self,
        )

    def _active(
        self, conn: sqlite3.Connection, operation: str, batch: str, subject: str
    ) -> Intent | None:
        row = conn.execute(
            f"SELECT {INTENT_COLUMNS} FROM ledger_intent WHERE endpoint = ? AND batch = ? "
            "AND operation = ? AND subject = ? AND archived_at IS NULL",
            (self.endpoint, batch, operation, subject),
        ).fetchone()
        return None if row is None else intent_from_row(row, self)

    def _describe_existing(self, conn: sqlite3.Connection, existing: Intent) -> str:
        what = f"{existing.operation} for {existing.batch} {existing.subject}"
        outcome = conn.execute(
            "SELECT remote_id FROM ledger_outcome WHERE intent_id = ?", (existing.id,)
        ).fetchone()
        if outcome is not None:
            return f"{what} was already done ({outcome[0] or 'no id'}); not sending it again"
        if self._run_lock.is_live(existing.run):
            return f"{what} is in flight in another run; not sending it twice"
        return f"{what} is pending from an earlier run; resolve it first (recover)"

    def record_outcome(self, intent: Intent, resolution: Resolution, resolved_by: str) -> None:
        """Record ``intent``'s outcome once; a failure also archives it and releases exposure."""
        status = OutcomeStatus.DONE if resolution.happened else OutcomeStatus.FAILED
        if intent.status is not None:
            raise LedgerError(
                f"{intent.operation} for {intent.batch} {intent.subject} already has an outcome"
            )
        at = stamp(self._now())
        if self._group.active and resolved_by == "call":
            self._group.defer((intent, resolution, resolved_by, at))
        else:
            with self.db.transaction() as conn:
                self._write_outcome(conn, intent, resolution, resolved_by, at)
            self.commits += 1
        intent.status = status
        self._in_flight.discard(intent.id)

    def _write_outcome(
        self,
        conn: sqlite3.Connection,
        intent: Intent,
        resolution: Resolution,
        resolved_by: str,
        at: str,
    ) -> None:
        try:
            conn.execute(
                "INSERT INTO ledger_outcome (intent_id, status, remote_id, result, "
                "resolved_by, at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    intent.id,
                    (OutcomeStatus.DONE if resolution.happened else OutcomeStatus.FAILED).value,
                    resolution.remote_id,
                    dumps(resolution.result),
                    resolved_by,
                    at,
                ),
            )
        except sqlite3.IntegrityError:
            raise LedgerError(
                f"{intent.operation} for {intent.batch} {intent.subject} already has an outcome"
            ) from None
        if not resolution.happened:
            conn.execute(
                "UPDATE ledger_intent SET archived_at = ?, archive_reason = ? WHERE id = ?",
                (at, OutcomeStatus.FAILED.value, intent.id),
            )
            cents = to_cents(intent.exposure)
            if cents:
                self.exposure.add(
                    conn, intent.batch, -cents, f"release failed {intent.operation}", intent.id
                )

    def adopt(
        self,
        operation: str,
        batch: str,
        subject: str,
        remote_id: str,
        result: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a side effect found remotely but unknown to the ledger (a fresh clone).

        :param params: what the side effect did, when readers match on it (a bonus's
            worker, amount and reason); none by default."""
        _ = self.project  # may write the config file: not inside the transaction
        with self.db.transaction():
            record = self._record(operation, batch, subject, params or {}, cents=0, budget=None)
            self.record_outcome(record, Resolution.found(remote_id, result), "adopted")

    def pending(self) -> list[Intent]:
        """Active intents on this endpoint that have no outcome, oldest first."""
        self._settle()
        rows = (
            self.db.connection()
            .execute(
                f"SELECT {INTENT_COLUMNS} FROM ledger_intent WHERE endpoint = ? AND "
                "archived_at IS NULL AND id NOT IN (SELECT intent_id FROM ledger_outcome) "
                "ORDER BY id",
                (self.endpoint,),
            )
            .fetchall()
        )
        return [intent_from_row(row, self) for row in rows]

    # -- recovery -----------------------------------------------------------------------

    def recover(self, client: Any, recoveries: Recoveries) -> list[Recovered]:
        """Resolve every pending intent orphaned by an earlier run, before anything new.

        Younger than :data:`RETRY_WINDOW` on the endpoint's clock: the operation's ``retry``
        (or its ``lookup`` when it has no retry). Older: only its ``lookup`` — a token MTurk
        no longer remembers would make a retry a second call. Intents in flight in a live
        run are left to it.

        :raises LedgerError: an operation has no usable recovery, or a resolver found the
            answer ambiguous; the run stops with nothing new sent.
        """
        resolved: list[Recovered] = []
        for intent in self.pending():
            # Our own pending intents are in flight in another thread of this run.
            if intent.id in self._in_flight:
                continue
            if intent.run != self.run and not self._claim(intent):
                continue
            how, resolver = recoveries.resolver_for(intent, self._now())
            log.info(
                "resolving pending %s for %s %s by %s",
                intent.operation,
                intent.batch,
                intent.subject,
                how,
            )
            resolution = resolver(client, intent)
            self.record_outcome(intent, resolution, how)
            resolved.append(Recovered(intent, how, resolution))
        self._recovered = True
        return resolved

    def _claim(self, intent: Intent) -> bool:
        """Take over an orphaned intent; ``False`` if its run lives or another run claimed it."""
        if self._run_lock.is_live(intent.run):
            return False
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE ledger_intent SET run = ? WHERE id = ? AND run = ?",
                (self.run, intent.id, intent.run),
            )
        if cursor.rowcount != 1:
            return False
        intent.run = self.run
        return True

    # -- archiving ----------------------------------------------------------------------

    def archive_batch(self, batch: str, reason: str) -> int:
        """Archive (never delete) every entry of ``batch``; returns how many intents."""
        return self._archive("batch = ?", (batch,), reason, forget_batch=batch)

    def archive_endpoint(self, endpoint: str, reason: str) -> int:
        """Archive every entry on ``endpoint`` (``marketplace reset``); returns how many intents."""
        return self._archive("endpoint = ?", (endpoint,), reason, forget_endpoint=endpoint)

    def _archive(
        self,
        where: str,
        args: tuple[str, ...],
        reason: str,
        *,
        forget_batch: str | None = None,
        forget_endpoint: str | None = None,
    ) -> int:
        at = stamp(self._now())
        with self.db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE ledger_intent SET archived_at = ?, archive_reason = ? "
                f"WHERE archived_at IS NULL AND {where}",
                (at, reason, *args),
            )
            conn.execute(
                f"UPDATE ledger_exposure SET archived_at = ? WHERE archived_at IS NULL AND {where}",
                (at, *args),
            )
            if forget_batch is not None:
                conn.execute("DELETE FROM ledger_batch WHERE batch = ?", (forget_batch,))
            if forget_endpoint is not None:
                conn.execute("DELETE FROM ledger_batch WHERE endpoint = ?", (forget_endpoint,))
        return int(cursor.rowcount)


def open_ledger(
    state_dir: Path,
    endpoint: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    guard: Callable[[], None] | None = None,
    project: str | Callable[[], str] = "",
) -> Ledger:
    """The ledger in ``<state_dir>/state.db`` for a run against ``endpoint``."""
    return Ledger(
        StateDB(state_dir / "state.db"), endpoint, clock=clock, guard=guard, project=project
    )


__all__ = [
    "PENDING",
    "RETRY_WINDOW",
    "Intent",
    "Ledger",
    "OutcomeStatus",
    "Record",
    "Recovered",
    "Recoveries",
    "Resolution",
    "intent_uid",
    "missing_table",
    "open_ledger",
    "request_token",
    "select_records",
    "utc_now",
]
