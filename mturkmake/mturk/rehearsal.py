"""Read the ledger without writing it: ``-n`` rehearsals and ``mturkmake status``.

A dry run must change nothing, not even create ``.mturkmake/state.db`` or a table in it, so
these readers open the database read-only (``mode=ro``) and treat a missing file or table as
an empty ledger. :class:`ReadOnlyLedger` offers the attributes the ledger's query helpers use
(``db.connection()``, ``endpoint``, ``exposure``), so :func:`~mturkmake.mturk.batch.batch_rows`
and :class:`~mturkmake.mturk.exposure.Exposure` work on it unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mturkmake.mturk.exposure import Exposure
from mturkmake.mturk.ledger_queries import LedgerQueries
from mturkmake.mturk.settings import settings

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config, Context
    from mturkmake.mturk.money import Cost
    from mturkmake.mturk.preflight_stream import Checked, StreamedBatch

STATE_FILE = "state.db"


class _Database:
    """A read-only connection with the one method the ledger's readers call."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def connection(self) -> sqlite3.Connection:
        return self._conn


class ReadOnlyLedger(LedgerQueries):
    """The ledger of one endpoint, for reading only (every query of the ledger's read side).

    :param conn: a read-only connection to ``state.db``.
    :param endpoint: the endpoint's identity.
    """

    def __init__(self, conn: sqlite3.Connection, endpoint: str) -> None:
        database: Any = _Database(conn)  # duck-typed: the readers only call connection()
        self.db = database
        self.endpoint = endpoint
        self.exposure = Exposure(database, endpoint, lambda: "")

    def committed(self) -> Decimal:
        """The committed exposure on this endpoint (zero without a ledger; a locked one
        raises, never reads as nothing committed)."""
        return self.exposure.committed()


@contextmanager
def read_only_ledger(config: Config) -> Iterator[ReadOnlyLedger | None]:
    """The project's ledger for the configured endpoint, read-only; ``None`` when the
    project has no state yet."""
    path = config.state_dir / STATE_FILE
    if not path.exists():
        yield None
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield ReadOnlyLedger(conn, settings(config).identity)
    finally:
        conn.close()


@dataclass(frozen=True)
class LoadRehearsal:
    """What a load would do: HITs it would create, HITs that exist, and the cost."""

    create: int
    existing: int
    replace: int
    cost: Cost


def rehearse_load(
    ctx: Context,
    stream: StreamedBatch,
    checked: Checked,
    *,
    input_rel: str,
    success_rel: str,
    replace_edited: bool,
    new_batch: bool,
) -> LoadRehearsal:
    """Reconcile the checked ``stream`` with the ledger as a load would, print the cost
    line and check the budget — calling nothing, writing nothing, and reading the input
    again as a stream (issue #17).

    :raises BudgetExceeded: the load would pass the budget (what the real run would say).
    :raises UsageError: the real run would refuse (an edited row without
        ``--replace-edited``, a repeat under a new label).
    """
    from mturkmake.mturk import money
    from mturkmake.mturk.batch import (
        batch_key_columns,
        batch_rows,
        edited_error,
        known_batches,
        pick_batch,
    )
    from mturkmake.mturk.load_plan import LoadPlan

    config = ctx.config
    with read_only_ledger(config) as ledger:
        records = []
        if ledger is not None:  # a ledger without tables yet reads as no batch
            known = known_batches(ledger, input_rel)  # type: ignore[arg-type]
            batch = pick_batch(input_rel, success_rel, known, new_batch=new_batch)
            records = batch_rows(ledger, batch, values=False)  # type: ignore[arg-type]
        key_columns = batch_key_columns(
            config, records, referenced=checked.referenced, header=checked.header
        )
        survey = LoadPlan(stream, records, key_columns).survey(count_older=False)
        if survey.edited and not replace_edited:
            raise edited_error(input_rel, survey.edited, key_columns)
        cost = survey.cost()
        if survey.todo:
            money.report_cost(ctx, cost)
            _check_budget(ledger, settings(config).identity, cost, money.budget_of(config))
    return LoadRehearsal(survey.create, survey.skip, len(survey.edited), cost)


def _check_budget(
    ledger: ReadOnlyLedger | None, endpoint: str, cost: Cost, budget: Decimal | None
) -> None:
    """The budget check of the real run, on the read-only ledger (or an empty one)."""
    if ledger is not None:
        try:
            ledger.exposure.check_budget(cost.total, budget)
            return
        except sqlite3.OperationalError:  # no exposure table yet: nothing is committed
            pass
    Exposure(_Empty(), endpoint, lambda: "").check_budget(cost.total, budget)  # type: ignore[arg-type]


class _Empty:
    """An in-memory database with an empty exposure table: the budget check of a project
    that has no ledger yet."""

    def __init__(self) -> None:
        from mturkmake.mturk.exposure import EXPOSURE_DDL

        self._conn = sqlite3.connect(":memory:")
        for statement in EXPOSURE_DDL:
            self._conn.execute(statement)

    def connection(self) -> sqlite3.Connection:
        return self._conn
