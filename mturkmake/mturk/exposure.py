"""Committed exposure: the money a project's side effects may still cost (DESIGN §4).

Kept in ``ledger_exposure`` as signed integer cents per endpoint — a commit when an intent
that may spend money is recorded (CreateHIT, extra assignments, SendBonus: reward ×
assignments + fees, bonus + fee), a release when a rejection, an expired unfilled slot or a
failed call gives its share back. ``budget`` caps the sum. The cap is checked and the share
committed in one ``BEGIN IMMEDIATE`` transaction, so concurrent reservations (``-j``,
several processes) never overshoot it. Budgets are per endpoint: a rehearsal on sandbox does
not use up production's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal

from mturkmake.core.state import StateDB
from mturkmake.errors import BudgetExceeded

EXPOSURE_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS ledger_exposure (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        endpoint TEXT NOT NULL,
        batch TEXT NOT NULL,
        intent_id INTEGER,
        amount_cents INTEGER NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        archived_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS ledger_exposure_endpoint ON ledger_exposure (endpoint)",
)


def missing_table(error: sqlite3.OperationalError) -> bool:
    """Whether ``error`` says a ledger table does not exist yet (a fresh project, ``-n``).

    Only that reads as "nothing recorded": a locked or unreadable database must never look
    like an empty ledger, or a run would plan to create again what it already made.
    """
    return str(error).startswith("no such table")


def to_cents(amount: Decimal | str | int) -> int:
    """Dollars as integer cents (exact; refuses fractions of a cent)."""
    value = Decimal(amount) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of cents")
    return int(value)


def committed_cents(
    conn: sqlite3.Connection, endpoint: str, batches: Sequence[str] | None = None
) -> int:
    """The committed, unreleased exposure on ``endpoint`` (of ``batches`` only, if given), in
    cents; 0 where there is no ledger yet (a read-only connection for ``status``, ``-n``)."""
    sql = "SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_exposure "
    sql += "WHERE endpoint = ? AND archived_at IS NULL"
    args: list[str] = [endpoint]
    if batches is not None:
        sql += f" AND batch IN ({', '.join('?' for _ in batches)})" if batches else " AND 0"
        args.extend(batches)
    try:
        return int(conn.execute(sql, args).fetchone()[0])
    except sqlite3.OperationalError as error:
        if missing_table(error):
            return 0
        raise  # locked or unreadable: reading 0 committed would let a budget be overspent


def from_cents(cents: int) -> Decimal:
    """Integer cents as dollars with two decimals."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


class Exposure:
    """The exposure accounts of one endpoint (the ledger creates it and its table).

    :param db: the project's state database.
    :param endpoint: whose exposure this is.
    :param stamp: the current time on the endpoint's clock, as stored text.
    """

    def __init__(self, db: StateDB, endpoint: str, stamp: Callable[[], str]) -> None:
        self.db = db
        self.endpoint = endpoint
        self.stamp = stamp

    def committed(self) -> Decimal:
        """The committed, unreleased exposure on this endpoint, in dollars."""
        return from_cents(self.committed_cents(self.db.connection()))

    def committed_cents(self, conn: sqlite3.Connection) -> int:
        """:meth:`committed` in cents, inside the caller's transaction."""
        row = conn.execute(
            "SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_exposure "
            "WHERE endpoint = ? AND archived_at IS NULL",
            (self.endpoint,),
        ).fetchone()
        return int(row[0])

    def release_once(self, intent_id: int, batch: str, cents: int, reason: str) -> bool:
        """Release ``cents`` committed by ``intent_id`` unless a release names it already
        (idempotent: a crash between a side effect and its release heals on the next run)."""
        with self.db.transaction() as tx:
            again = tx.execute(
                "SELECT 1 FROM ledger_exposure WHERE intent_id = ? AND amount_cents < 0",
                (intent_id,),
            ).fetchone()
            if again is not None:
                return False
            self.add(tx, batch, -cents, reason, intent_id)
        return True

    def check_cap(self, conn: sqlite3.Connection, cents: int, budget: Decimal | None) -> None:
        """Raise :class:`BudgetExceeded` if ``cents`` more would pass ``budget``."""
        if budget is None:
            return
        committed = self.committed_cents(conn)
        if committed + cents > to_cents(budget):
            raise BudgetExceeded(
                f"this would commit ${from_cents(cents)} on {self.endpoint}, where "
                f"${from_cents(committed)} is already committed and the budget is "
                f"${from_cents(to_cents(budget))}; nothing was sent",
                hint="raise 'budget' in mturkmake.toml or do less in this step",
            )

    def check_budget(self, amount: Decimal | str | int, budget: Decimal | None) -> None:
        """Refuse a step whose whole exposure would pass ``budget``, before its first call."""
        self.check_cap(self.db.connection(), to_cents(amount), budget)

    def reserve(
        self, amount: Decimal | str | int, budget: Decimal | None, *, batch: str, reason: str
    ) -> int:
        """Check the cap and commit ``amount`` atomically; returns the entry id.

        :raises BudgetExceeded: the reservation would pass ``budget`` (nothing committed).
        """
        cents = to_cents(amount)
        with self.db.transaction() as conn:
            self.check_cap(conn, cents, budget)
            return self.add(conn, batch, cents, reason)

    def release(
        self,
        amount: Decimal | str | int,
        *,
        batch: str,
        reason: str,
        intent_id: int | None = None,
    ) -> None:
        """Give back committed exposure (a rejection, an expired unfilled slot)."""
        with self.db.transaction() as conn:
            self.add(conn, batch, -to_cents(amount), reason, intent_id)

    def add(
        self,
        conn: sqlite3.Connection,
        batch: str,
        cents: int,
        reason: str,
        intent_id: int | None = None,
    ) -> int:
        """Add a signed entry inside the caller's transaction; returns its id."""
        cursor = conn.execute(
            "INSERT INTO ledger_exposure (endpoint, batch, intent_id, amount_cents, reason, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self.endpoint, batch, intent_id, cents, reason, self.stamp()),
        )
        return int(cursor.lastrowid or 0)
