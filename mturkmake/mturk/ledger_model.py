"""What the ledger stores (DESIGN §3): its tables, the ids and tokens of intents, and the
records read back — :class:`Record` rows and :class:`Intent` objects.

Everything here is data and pure functions; :mod:`mturkmake.mturk.ledger` writes the rows
and :func:`select_records` is the one query every reader of them goes through (the run's
ledger, or a read-only connection for ``-n``, ``status`` and the report).
"""

from __future__ import annotations

import enum
import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mturkmake.errors import LedgerError
from mturkmake.mturk.exposure import EXPOSURE_DDL, from_cents, missing_table
from mturkmake.mturk.recovery import Resolution
from mturkmake.mturk.times import as_utc

if TYPE_CHECKING:
    from mturkmake.mturk.ledger import Ledger

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

INTENT_COLUMNS = (
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


def stamp(moment: datetime) -> str:
    """``moment`` as the ledger stores times: ISO 8601 in UTC, to the microsecond."""
    return as_utc(moment).isoformat(timespec="microseconds")


def _json_default(value: object) -> str:
    # API responses carry datetimes (botocore parses timestamps) and Decimals.
    if isinstance(value, datetime):
        return stamp(value)
    return str(value)


def dumps(value: Mapping[str, Any]) -> str:
    """JSON for a parameters or result column (sorted keys; datetimes and Decimals as text)."""
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
    except sqlite3.OperationalError as error:
        if missing_table(error):  # no ledger yet (a fresh project, -n)
            return []
        raise
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


def intent_from_row(row: Sequence[Any], ledger: Ledger | None = None) -> Intent:
    """The :class:`Intent` of a ``SELECT INTENT_COLUMNS`` row, attached to ``ledger``."""
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
        ledger=ledger,
    )
