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
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mturkmake.core.state import StateDB
from mturkmake.errors import EndpointError, LedgerError, MturkmakeError
from mturkmake.mturk.exposure import EXPOSURE_DDL, Exposure, from_cents, to_cents
from mturkmake.mturk.recovery import RETRY_WINDOW, Recovered, Recoveries, Resolution
from mturkmake.mturk.run_lock import RunLock
from mturkmake.mturk.times import as_utc, utc_now

log = logging.getLogger(__name__)

LEDGER_SCHEMA = "ledger"
LEDGER_VERSION = 2
LEDGER_DDL: tuple[str, ...] = (
    # The endpoint each batch lives on; changed only by switch-endpoint (DESIGN §4).
    """CREATE TABLE IF NOT EXISTS ledger_batch (
        batch TEXT PRIMARY KEY,
        endpoint TEXT NOT NULL,
        since TEXT NOT NULL
    )""",
    # uid, not the rowid, feeds the token: a deleted .mturkmake/ restarts rowids, and a
    # reused token within 24 h would make MTurk answer for an unrelated earlier call. The uid
    # is derived from what the intent is about (see intent_uid), never from call order.
    """CREATE TABLE IF NOT EXISTS ledger_intent (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        uid TEXT NOT NULL UNIQUE,
        endpoint TEXT NOT NULL,
        batch TEXT NOT NULL,
        operation TEXT NOT NULL,
        subject TEXT NOT NULL,
        params TEXT NOT NULL,
        token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        exposure_cents INTEGER NOT NULL DEFAULT 0,
        run TEXT NOT NULL,
        archived_at TEXT,
        archive_reason TEXT
    )""",
    # Archived rows (failed calls, switched or reset batches) leave the index, so the
    # subject can be intended again with a new uid and therefore a new token.
    """CREATE UNIQUE INDEX IF NOT EXISTS ledger_intent_subject
        ON ledger_intent (endpoint, batch, operation, subject) WHERE archived_at IS NULL""",
    # Version 2 (issue #17): every intent of a subject, archived or not, for its generation
    # (a count the partial index above cannot answer: without it each intent scanned them
    # all, and a load's cost grew with the square of its rows); and the active intents by
    # subject alone, for the decisions of one assignment (its batch is not known there).
    """CREATE INDEX IF NOT EXISTS ledger_intent_generation
        ON ledger_intent (endpoint, batch, operation, subject)""",
    """CREATE INDEX IF NOT EXISTS ledger_intent_by_subject
        ON ledger_intent (endpoint, operation, subject) WHERE archived_at IS NULL""",
    """CREATE TABLE IF NOT EXISTS ledger_outcome (
        intent_id INTEGER NOT NULL UNIQUE REFERENCES ledger_intent(id),
        status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
        remote_id TEXT,
        result TEXT NOT NULL,
        resolved_by TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
    *EXPOSURE_DDL,
)

_INTENT_COLUMNS = (
    "id, uid, endpoint, batch, operation, subject, params, token, created_at, exposure_cents, run"
)


def intent_uid(
    endpoint: str, batch: str, operation: str, subject: str, generation: int, *, project: str = ""
) -> str:
    """The id of the ``generation``-th intent (0 first) of ``operation`` on ``subject``.

    Derived, not random, for two reasons. Determinism: the same batch of one project gives
    the same tokens, so the local marketplace gives the same ids whatever the call order
    (DESIGN §7). Safety: a lost ledger (a deleted ``.mturkmake/``, a fresh clone) re-sends the
    first intent's token, and MTurk answers within 24 h with the HIT it already made instead
    of a second one. A failed or archived intent moves to the next generation, hence a new
    token. ``project`` (the config's ``project_id``, :mod:`mturkmake.mturk.project`) keeps two
    project folders with the same batch files on one account from sharing tokens — and so
    from being answered with each other's HITs.
    """
    text = f"{project}\n{endpoint}\n{batch}\n{operation}\n{subject}\n{generation}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def request_token(endpoint: str, operation: str, intent_uid: str) -> str:
    """``sha256(endpoint, operation, intent id)[:64]``, the call's ``UniqueRequestToken``."""
    text = f"{endpoint}\n{operation}\n{intent_uid}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:64]


def _stamp(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="microseconds")


def _json_default(value: object) -> str:
    # API responses carry datetimes (botocore parses timestamps) and Decimals.
    if isinstance(value, datetime):
        return _stamp(value)
    return str(value)


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default)


class OutcomeStatus(str, enum.Enum):
    """What an intent's outcome says: the side effect happened, or certainly did not."""

    DONE = "done"
    FAILED = "failed"


#: The status of an intent that has no outcome yet (a :class:`Record`'s ``status``).
PENDING = "pending"


@dataclass(frozen=True)
class Record:
    """One intent as the ledger's queries return it, with its outcome when it has one.

    :param status: ``done``, ``failed`` or :data:`PENDING` (no outcome yet).
    """

    intent_id: int
    batch: str
    operation: str
    subject: str
    params: dict[str, Any]
    token: str
    status: str
    remote_id: str | None
    result: dict[str, Any]
    resolved_by: str
    at: str
    exposure_cents: int

    @property
    def done(self) -> bool:
        """Whether the side effect happened."""
        return self.status == OutcomeStatus.DONE.value


def select_records(
    conn: sqlite3.Connection,
    endpoint: str,
    operations: Sequence[str],
    *,
    batch: str | None = None,
    subjects: Sequence[str] | None = None,
    done_only: bool = True,
    include_archived: bool = False,
    except_intent: int | None = None,
) -> list[Record]:
    """The intents of ``operations`` on ``endpoint`` (oldest first) with their outcomes: the
    one query every reader of the ledger goes through (the ledger's own connection, or a
    read-only one for ``-n``, ``status`` and the report). A database without a ledger yet
    has none.

    :param batch: only this batch. :param subjects: only these subjects.
    :param done_only: only intents whose side effect happened (else pending ones too).
    :param include_archived: archived intents too (switched or reset batches, failures).
    :param except_intent: leave this intent out (a lookup counting the others).
    """
    marks = ", ".join("?" for _ in operations)
    sql = [
        "SELECT i.id, i.batch, i.operation, i.subject, i.params, i.token, o.status, "
        "o.remote_id, o.result, o.resolved_by, o.at, i.exposure_cents FROM ledger_intent i "
        "LEFT JOIN ledger_outcome o ON o.intent_id = i.id "
        f"WHERE i.endpoint = ? AND i.operation IN ({marks})"
    ]
    args: list[Any] = [endpoint, *operations]
    if not include_archived:
        sql.append("AND i.archived_at IS NULL")
    if batch is not None:
        sql.append("AND i.batch = ?")
        args.append(batch)
    if subjects is not None:
        sql.append(f"AND i.subject IN ({', '.join('?' for _ in subjects)})")
        args.extend(subjects)
    if done_only:
        sql.append("AND o.status = 'done'")
    if except_intent is not None:
        sql.append("AND i.id != ?")
        args.append(except_intent)
    sql.append("ORDER BY i.id")
    try:
        rows = conn.execute(" ".join(sql), args).fetchall()
    except sqlite3.OperationalError:  # no ledger yet (a fresh project, -n)
        return []
    return [
        Record(
            intent_id=int(row[0]),
            batch=str(row[1]),
            operation=str(row[2]),
            subject=str(row[3]),
            params=json.loads(row[4]),
            token=str(row[5]),
            status=str(row[6]) if row[6] is not None else PENDING,
            remote_id=None if row[7] is None else str(row[7]),
            result=json.loads(row[8] or "{}"),
            resolved_by=str(row[9] or ""),
            at=str(row[10] or ""),
            exposure_cents=int(row[11] or 0),
        )
        for row in rows
    ]


@dataclass
class Intent:
    """One recorded intent. Inside :meth:`Ledger.intent`, call :meth:`done` or :meth:`failed`.

    :param token: send it as ``UniqueRequestToken`` on calls that take one.
    :param params: the call's parameters as recorded (what a retry or a lookup needs).
    :param created_at: when it was recorded, on the endpoint's clock.
    """

    id: int
    uid: str
    endpoint: str
    batch: str
    operation: str
    subject: str
    params: Mapping[str, Any]
    token: str
    created_at: datetime
    exposure: Decimal
    run: str
    ledger: Ledger | None = field(default=None, repr=False, compare=False)
    status: OutcomeStatus | None = None

    def done(self, remote_id: str | None = None, result: Mapping[str, Any] | None = None) -> None:
        """Record that the call succeeded (``remote_id``: the HITId or other id it made)."""
        self._owner().record_outcome(self, Resolution.found(remote_id, result), "call")

    def failed(self, message: str) -> None:
        """Record that the call certainly had no effect (MTurk refused it); releases exposure.

        Only for definite refusals: a timeout or exhausted retries may have reached MTurk,
        so those leave the intent pending for the next run's recovery.
        """
        self._owner().record_outcome(self, Resolution.absent(message), "call")

    def _owner(self) -> Ledger:
        if self.ledger is None:
            raise LedgerError(f"intent {self.uid} is not attached to a ledger")
        return self.ledger


@dataclass
class _Request:
    """An intent waiting for the group commit (:meth:`Ledger.grouped`)."""

    operation: str
    batch: str
    subject: str
    params: Mapping[str, Any]
    cents: int
    budget: Decimal | None
    result: Intent | None = None
    error: BaseException | None = None
    done: bool = False


class Ledger:
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
        # intent's transaction or at the group's end; intents that threads record at the
        # same moment share one transaction. See grouped().
        self._group_lock = threading.Lock()
        self._grouping = 0
        self._deferred: list[tuple[Intent, Resolution, str, str]] = []
        self._queue: list[_Request] = []
        self._committing = False
        self._queue_done = threading.Condition(self._group_lock)
        #: transactions committed by this ledger for intents and outcomes (benchmarks)
        self.commits = 0
        db.ensure_schema(LEDGER_SCHEMA, LEDGER_DDL, LEDGER_VERSION)
        #: committed exposure and the budget (reserve, release, check_budget, committed)
        self.exposure = Exposure(db, endpoint, lambda: _stamp(self._now()))
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

    def recorded_project(self) -> str | None:
        """The project id this ``state.db`` is bound to; ``None`` before a project used it."""
        try:
            row = self.db.connection().execute("SELECT project FROM ledger_project").fetchone()
        except sqlite3.OperationalError:  # no such table: never bound
            return None
        return None if row is None else str(row[0])

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

    def batch_endpoint(self, batch: str) -> str | None:
        """The endpoint ``batch`` lives on, or ``None`` before its first side effect."""
        row = (
            self.db.connection()
            .execute("SELECT endpoint FROM ledger_batch WHERE batch = ?", (batch,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def check_batch(self, batch: str) -> None:
        """Refuse (:class:`EndpointError`) when ``batch`` lives on another endpoint."""
        self._check_batch(self.db.connection(), batch)

    def _check_batch(self, conn: sqlite3.Connection, batch: str, *, bind: bool = False) -> None:
        row = conn.execute("SELECT endpoint FROM ledger_batch WHERE batch = ?", (batch,)).fetchone()
        if row is None:
            if bind:
                conn.execute(
                    "INSERT INTO ledger_batch (batch, endpoint, since) VALUES (?, ?, ?)",
                    (batch, self.endpoint, _stamp(self._now())),
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
                (batch, endpoint, _stamp(self._now())),
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
        kept in memory and written by the transaction of the next intent any thread records
        (or at the block's end, or before any read of outcomes); intents that several threads
        record at the same moment share one transaction (the first waiting thread commits
        them all, each under its own savepoint, so one refused intent refuses only itself).
        Hence:

        - no call is sent before its intent is durable (:meth:`intent` returns after the
          commit);
        - no outcome is written before its intent (it is deferred after it);
        - at most as many intents lack a durable outcome as there are calls in flight: each
          new intent's commit writes every outcome known so far, so with ``jobs`` threads,
          at most ``jobs``.

        A crash loses at most the deferred outcomes of the calls in flight or just ended:
        their intents stay pending, and the next run resolves them by their tokens, as it
        does for any call in flight at a crash.
        """
        with self._group_lock:
            self._grouping += 1
        try:
            yield self
        finally:
            with self._group_lock:
                self._grouping -= 1
            self.flush()

    def flush(self) -> None:
        """Write the deferred outcomes now (one transaction)."""
        with self._group_lock:
            deferred, self._deferred = self._deferred, []
        if not deferred:
            return
        try:
            with self.db.transaction() as conn:
                for item in deferred:
                    self._write_outcome(conn, *item)
        except BaseException:
            with self._group_lock:
                self._deferred[:0] = deferred
            raise
        self.commits += 1

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
        if not self._grouping:
            record = self._record(operation, batch, subject, params, cents=cents, budget=budget)
            self.commits += 1
            return record
        # Whatever _record resolves before its transaction (a project id that may be written
        # to the config file) is resolved here, before the group's shared transaction.
        getattr(self, "project", None)
        request = _Request(operation, batch, subject, params, cents, budget)
        with self._group_lock:
            self._queue.append(request)
            while not request.done:
                if self._committing:
                    self._queue_done.wait()
                    continue
                # This thread commits every intent queued so far (its own included).
                requests, self._queue = self._queue, []
                deferred, self._deferred = self._deferred, []
                self._committing = True
                self._group_lock.release()
                try:
                    self._commit_group(requests, deferred)
                finally:
                    self._group_lock.acquire()
                    self._committing = False
                    self._queue_done.notify_all()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _commit_group(
        self, requests: list[_Request], deferred: list[tuple[Intent, Resolution, str, str]]
    ) -> None:
        try:
            with self.db.transaction() as conn:
                for item in deferred:
                    self._write_outcome(conn, *item)
                for request in requests:
                    conn.execute("SAVEPOINT ledger_intent")
                    try:
                        request.result = self._record(
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
            self.commits += 1
        except BaseException as exc:
            # Nothing of the group was written: its outcomes wait for the next commit, and
            # each intent is refused with the error (none was sent).
            with self._group_lock:
                self._deferred[:0] = deferred
            for request in requests:
                if request.result is not None:
                    self._in_flight.discard(request.result.id)
                    request.result = None
                if request.error is None:
                    request.error = exc
        finally:
            for request in requests:
                request.done = True

    def _settle(self) -> None:
        # A read of outcomes sees the deferred ones too.
        if self._deferred:
            self.flush()

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
                    _dumps(params),
                    token,
                    _stamp(now),
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
            f"SELECT {_INTENT_COLUMNS} FROM ledger_intent WHERE endpoint = ? AND batch = ? "
            "AND operation = ? AND subject = ? AND archived_at IS NULL",
            (self.endpoint, batch, operation, subject),
        ).fetchone()
        return None if row is None else self._intent_from_row(row)

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

    def _intent_from_row(self, row: tuple[Any, ...]) -> Intent:
        return Intent(
            id=int(row[0]),
            uid=str(row[1]),
            endpoint=str(row[2]),
            batch=str(row[3]),
            operation=str(row[4]),
            subject=str(row[5]),
            params=json.loads(row[6]),
            token=str(row[7]),
            created_at=datetime.fromisoformat(row[8]),
            exposure=from_cents(int(row[9])),
            run=str(row[10]),
            ledger=self,
        )

    def record_outcome(self, intent: Intent, resolution: Resolution, resolved_by: str) -> None:
        """Record ``intent``'s outcome once; a failure also archives it and releases exposure."""
        status = OutcomeStatus.DONE if resolution.happened else OutcomeStatus.FAILED
        if intent.status is not None:
            raise LedgerError(
                f"{intent.operation} for {intent.batch} {intent.subject} already has an outcome"
            )
        at = _stamp(self._now())
        if self._grouping and resolved_by == "call":
            with self._group_lock:
                self._deferred.append((intent, resolution, resolved_by, at))
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
                    _dumps(resolution.result),
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

    def outcome(self, operation: str, batch: str, subject: str) -> Resolution | None:
        """The recorded outcome of the active intent for this subject, ``None`` if none.

        A re-run skips a subject whose outcome ``happened``.
        """
        self._settle()
        row = (
            self.db.connection()
            .execute(
                "SELECT o.remote_id, o.result FROM ledger_intent i JOIN ledger_outcome o "
                "ON o.intent_id = i.id WHERE i.endpoint = ? AND i.batch = ? AND i.operation = ? "
                "AND i.subject = ? AND i.archived_at IS NULL",
                (self.endpoint, batch, operation, subject),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Resolution.found(row[0], json.loads(row[1]))

    def is_done(self, operation: str, batch: str, subject: str) -> bool:
        """Whether this subject's side effect already happened (so a re-run skips it)."""
        return self.outcome(operation, batch, subject) is not None

    def done_subjects(self, operation: str, batch: str) -> dict[str, str | None]:
        """Every done subject of ``operation`` in ``batch`` with its remote id."""
        self._settle()
        rows = self.db.connection().execute(
            "SELECT i.subject, o.remote_id FROM ledger_intent i JOIN ledger_outcome o "
            "ON o.intent_id = i.id WHERE i.endpoint = ? AND i.batch = ? AND i.operation = ? "
            "AND i.archived_at IS NULL ORDER BY i.id",
            (self.endpoint, batch, operation),
        )
        return {str(subject): remote for subject, remote in rows}

    def remote_ids(self, operations: tuple[str, ...]) -> set[str]:
        """Every remote id any ``operations`` intent on this endpoint produced, in any batch,
        archived or not: a lookup must never claim one of them for another intent."""
        self._settle()
        marks = ", ".join("?" for _ in operations)
        rows = self.db.connection().execute(
            "SELECT o.remote_id FROM ledger_intent i JOIN ledger_outcome o "
            "ON o.intent_id = i.id WHERE i.endpoint = ? AND o.status = 'done' "
            f"AND o.remote_id IS NOT NULL AND i.operation IN ({marks})",
            (self.endpoint, *operations),
        )
        return {str(remote) for (remote,) in rows}

    def done_params(self, operation: str, batch: str) -> list[dict[str, Any]]:
        """The recorded parameters of every done ``operation`` in ``batch`` (for lookups)."""
        self._settle()
        rows = self.db.connection().execute(
            "SELECT i.params FROM ledger_intent i JOIN ledger_outcome o ON o.intent_id = i.id "
            "WHERE i.endpoint = ? AND i.batch = ? AND i.operation = ? AND o.status = 'done' "
            "AND i.archived_at IS NULL ORDER BY i.id",
            (self.endpoint, batch, operation),
        )
        return [json.loads(params) for (params,) in rows]

    def done_remote_params(self, operation: str, batch: str) -> dict[str, dict[str, Any]]:
        """Remote id → recorded parameters of every done ``operation`` in ``batch`` (which
        HIT was made with which CreateHIT parameters)."""
        rows = self.db.connection().execute(
            "SELECT o.remote_id, i.params FROM ledger_intent i JOIN ledger_outcome o "
            "ON o.intent_id = i.id WHERE i.endpoint = ? AND i.batch = ? AND i.operation = ? "
            "AND o.status = 'done' AND i.archived_at IS NULL AND o.remote_id IS NOT NULL "
            "ORDER BY i.id",
            (self.endpoint, batch, operation),
        )
        return {str(remote): json.loads(params) for remote, params in rows}

    def records(self, operations: Sequence[str], **filters: Any) -> list[Record]:
        """:func:`select_records` on this ledger's endpoint."""
        return select_records(self.db.connection(), self.endpoint, operations, **filters)

    def unreleased(self, operation: str) -> list[Record]:
        """Done intents of ``operation`` whose exposure no release names yet (rejections whose
        share of the HIT's reservation is still committed)."""
        try:
            rows = (
                self.db.connection()
                .execute(
                    "SELECT i.id FROM ledger_intent i JOIN ledger_outcome o ON o.intent_id = i.id "
                    "WHERE i.endpoint = ? AND i.operation = ? AND o.status = 'done' "
                    "AND i.archived_at IS NULL AND NOT EXISTS (SELECT 1 FROM ledger_exposure e "
                    "WHERE e.intent_id = i.id AND e.amount_cents < 0)",
                    (self.endpoint, operation),
                )
                .fetchall()
            )
        except sqlite3.OperationalError:
            return []
        wanted = {int(row[0]) for row in rows}
        return [r for r in self.records([operation]) if r.intent_id in wanted]

    def pending(self) -> list[Intent]:
        """Active intents on this endpoint that have no outcome, oldest first."""
        self._settle()
        rows = (
            self.db.connection()
            .execute(
                f"SELECT {_INTENT_COLUMNS} FROM ledger_intent WHERE endpoint = ? AND "
                "archived_at IS NULL AND id NOT IN (SELECT intent_id FROM ledger_outcome) "
                "ORDER BY id",
                (self.endpoint,),
            )
            .fetchall()
        )
        return [self._intent_from_row(row) for row in rows]

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
            recovery = recoveries.get(intent.operation)
            young = self._now() - intent.created_at < RETRY_WINDOW
            what = f"{intent.operation} for {intent.batch} {intent.subject}"
            if recovery is None:
                raise LedgerError(
                    f"{what} is pending and no recovery is registered for it",
                    hint="load the plugin that made it, then run again",
                )
            if young and recovery.retry is not None:
                how, resolver = "retry", recovery.retry
            elif recovery.lookup is not None:
                how, resolver = "lookup", recovery.lookup
            else:
                raise LedgerError(
                    f"{what} is pending since {_stamp(intent.created_at)}; its token has "
                    "expired and no lookup is registered, so it cannot be resolved safely",
                    hint="check the requester site, then archive the entry",
                )
            log.info("resolving pending %s by %s", what, how)
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
        stamp = _stamp(self._now())
        with self.db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE ledger_intent SET archived_at = ?, archive_reason = ? "
                f"WHERE archived_at IS NULL AND {where}",
                (stamp, reason, *args),
            )
            conn.execute(
                f"UPDATE ledger_exposure SET archived_at = ? WHERE archived_at IS NULL AND {where}",
                (stamp, *args),
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
    "RETRY_WINDOW",
    "Intent",
    "Ledger",
    "Recovered",
    "Recoveries",
    "Resolution",
    "open_ledger",
    "request_token",
    "utc_now",
]
