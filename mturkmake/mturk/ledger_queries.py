"""The ledger's read side (DESIGN §3): what was done, by whom, and where each batch lives.

:class:`LedgerQueries` is the base of :class:`~mturkmake.mturk.ledger.Ledger`: every method
here only reads. A read of outcomes first settles what the ledger keeps in memory
(:meth:`LedgerQueries._settle`: the group commit's deferred outcomes), so a caller always sees
the outcomes of its own calls.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from mturkmake.core.state import StateDB
from mturkmake.mturk.exposure import missing_table
from mturkmake.mturk.ledger_model import Record, select_records
from mturkmake.mturk.recovery import Resolution


class DoneCall(NamedTuple):
    """One done intent, read without its parameters unless asked (they hold a CreateHIT's
    merged question: 3 KB a HIT; issue #17)."""

    intent_id: int
    subject: str
    remote_id: str | None
    result: str | None
    resolved_by: str | None


#: ``(HITId, HITTypeId)`` of a batch's done creations in row order: what ``.success`` lists.
PROJECTION_SQL = (
    "SELECT o.remote_id, COALESCE(NULLIF(json_extract(o.result, '$.HITTypeId'), ''), "
    "json_extract(i.params, '$.HITTypeId'), '') AS type_id, "
    "COALESCE(json_extract(o.result, '$.row.index'), "
    "json_extract(i.params, '$._row.index'), -1) AS row_index "
    "FROM ledger_intent i JOIN ledger_outcome o ON o.intent_id = i.id "
    "WHERE i.endpoint = ? AND i.operation = ? AND i.archived_at IS NULL "
    "AND i.batch = ? AND o.status = 'done' "
    "ORDER BY row_index < 0, row_index, i.id"
)


def projection_rows(
    conn: sqlite3.Connection, endpoint: str, operation: str, batch: str
) -> Iterator[tuple[str, str]]:
    """:data:`PROJECTION_SQL` as it is read (never the whole batch in memory); nothing where
    the ledger has no table yet. A locked or unreadable ledger raises."""
    try:
        cursor = conn.execute(PROJECTION_SQL, (endpoint, operation, batch))
    except sqlite3.OperationalError as error:
        if missing_table(error):
            return
        raise
    for remote_id, type_id, _ in cursor:
        yield str(remote_id or ""), str(type_id or "")


class LedgerQueries:
    """Queries on the ledger of one endpoint (``endpoint``) in ``db``."""

    db: StateDB
    endpoint: str

    def _settle(self) -> None:
        """Make outcomes kept in memory visible before a read (none here)."""

    def recorded_project(self) -> str | None:
        """The project id this ``state.db`` is bound to; ``None`` before a project used it."""
        try:
            row = self.db.connection().execute("SELECT project FROM ledger_project").fetchone()
        except sqlite3.OperationalError as error:
            if missing_table(error):  # never bound
                return None
            raise
        return None if row is None else str(row[0])

    def batch_endpoint(self, batch: str) -> str | None:
        """The endpoint ``batch`` lives on, or ``None`` before its first side effect."""
        row = (
            self.db.connection()
            .execute("SELECT endpoint FROM ledger_batch WHERE batch = ?", (batch,))
            .fetchone()
        )
        return None if row is None else str(row[0])

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

    def _all(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """Every row of ``sql``; none where the ledger has no table yet. A locked or
        unreadable ledger raises: it must never read as one that recorded nothing."""
        try:
            return self.db.connection().execute(sql, args).fetchall()
        except sqlite3.OperationalError as error:
            if missing_table(error):
                return []
            raise

    def done_calls(self, operation: str, batch: str) -> list[DoneCall]:
        """The active done intents of ``operation`` in ``batch``, oldest first, without
        their parameters (:meth:`intent_params` reads one); none before the ledger exists."""
        self._settle()
        rows = self._all(
            "SELECT i.id, i.subject, o.remote_id, o.result, o.resolved_by "
            "FROM ledger_intent i JOIN ledger_outcome o ON o.intent_id = i.id "
            "WHERE i.endpoint = ? AND i.operation = ? AND i.archived_at IS NULL "
            "AND i.batch = ? AND o.status = 'done' ORDER BY i.id",
            (self.endpoint, operation, batch),
        )
        return [DoneCall(int(r[0]), str(r[1]), r[2], r[3], r[4]) for r in rows]

    def first_done_calls(self, operation: str) -> list[DoneCall]:
        """Each batch's first active done intent of ``operation``, in the order of those
        firsts (``subject`` holds the batch's name here); none before the ledger exists."""
        self._settle()
        rows = self._all(
            "SELECT first.id, first.batch, o.remote_id, o.result, o.resolved_by FROM "
            "(SELECT i.batch, MIN(i.id) AS id FROM ledger_intent i "
            "JOIN ledger_outcome o ON o.intent_id = i.id "
            "WHERE i.endpoint = ? AND i.operation = ? AND i.archived_at IS NULL "
            "AND o.status = 'done' GROUP BY i.batch) first "
            "JOIN ledger_outcome o ON o.intent_id = first.id ORDER BY first.id",
            (self.endpoint, operation),
        )
        return [DoneCall(int(r[0]), str(r[1]), r[2], r[3], r[4]) for r in rows]

    def intent_params(self, intent_id: int) -> dict[str, Any]:
        """The parameters of one intent (``{}`` if there is no such intent)."""
        row = (
            self.db.connection()
            .execute("SELECT params FROM ledger_intent WHERE id = ?", (intent_id,))
            .fetchone()
        )
        return {} if row is None else dict(json.loads(row[0] or "{}"))

    def records(self, operations: Sequence[str], **filters: Any) -> list[Record]:
        """:func:`select_records` on this ledger's endpoint."""
        return select_records(self.db.connection(), self.endpoint, operations, **filters)

    def unreleased(self, operation: str) -> list[Record]:
        """Done intents of ``operation`` whose exposure no release names yet (rejections whose
        share of the HIT's reservation is still committed)."""
        rows = self._all(
            "SELECT i.id FROM ledger_intent i JOIN ledger_outcome o ON o.intent_id = i.id "
            "WHERE i.endpoint = ? AND i.operation = ? AND o.status = 'done' "
            "AND i.archived_at IS NULL AND NOT EXISTS (SELECT 1 FROM ledger_exposure e "
            "WHERE e.intent_id = i.id AND e.amount_cents < 0)",
            (self.endpoint, operation),
        )
        wanted = {int(row[0]) for row in rows}
        return [r for r in self.records([operation]) if r.intent_id in wanted]
