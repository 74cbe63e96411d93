"""The ledger stays flat as it grows, and groups its commits safely (issue #17).

- Every statement on the hot path (an intent, its outcome, the lookups a re-run and a decision
  make for one subject) is answered through an index: ``EXPLAIN QUERY PLAN`` never shows a
  ``SCAN`` of the intent or outcome tables.
- Inside :meth:`Ledger.grouped`, a call's outcome rides on the next intent's transaction, and
  intents recorded by several threads at once share one; yet no call is sent before its
  intent is durable, no outcome precedes its intent, and at most ``jobs`` intents lack a
  durable outcome at any moment.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from mturkmake.errors import LedgerError
from mturkmake.mturk.decisions import read_decisions
from mturkmake.mturk.ledger import Ledger, Recoveries, open_ledger

BATCH = "survey.input"
LEDGER_TABLES = {"ledger_intent", "ledger_outcome"}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with open_ledger(tmp_path / ".mturkmake", "local") as opened:
        opened.recover(None, Recoveries.of([]))
        yield opened


def _fill(ledger: Ledger, count: int) -> None:
    """``count`` created HITs, every fifth with a failed first attempt (archived)."""
    for n in range(count):
        if n % 5 == 0:
            with ledger.intent("CreateHIT", BATCH, f"row{n}", {"n": n}) as intent:
                intent.failed("refused")
        with ledger.intent("CreateHIT", BATCH, f"row{n}", {"n": n}, exposure="0.10") as intent:
            intent.done(f"HIT{n}", {"row": {"key": f"row{n}"}})
        with ledger.intent("ApproveAssignment", BATCH, f"A{n}", {"_HITId": f"HIT{n}"}) as intent:
            intent.done(f"A{n}")


def _aliases(sql: str) -> dict[str, str]:
    """Alias → table for the ledger tables a statement names (``ledger_intent i``)."""
    words = sql.replace(",", " ").split()
    found = {}
    for n, word in enumerate(words):
        if word in LEDGER_TABLES:
            found[word] = word
            if n + 1 < len(words) and words[n + 1].isidentifier():
                found[words[n + 1]] = word
    return found


def _scans(conn: sqlite3.Connection, statements: list[str]) -> list[tuple[str, str]]:
    scans = []
    for sql in statements:
        head = sql.lstrip().split(None, 1)[0].upper()
        if head not in ("SELECT", "UPDATE", "DELETE", "INSERT"):
            continue
        aliases = _aliases(sql)
        for *_ids, detail in conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
            parts = str(detail).split()
            if parts[:1] == ["SCAN"] and len(parts) > 1 and parts[1] in aliases:
                scans.append((sql, str(detail)))
    return scans


def test_hot_path_statements_never_scan_the_ledger(ledger: Ledger) -> None:
    _fill(ledger, 60)
    conn = ledger.db.connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        # a new HIT under a budget, a refused one and its second attempt (next generation)
        with ledger.intent(
            "CreateHIT", BATCH, "new", {"n": -1}, exposure="0.10", budget=Decimal("100")
        ) as intent:
            intent.done("HITnew")
        with ledger.intent("CreateHIT", BATCH, "again", {"n": -2}) as intent:
            intent.failed("refused")
        with ledger.intent("CreateHIT", BATCH, "again", {"n": -2}) as intent:
            intent.done("HITagain")
        # a duplicate is refused by the index, not by a scan
        with pytest.raises(LedgerError), ledger.intent("CreateHIT", BATCH, "row7", {}) as intent:
            intent.done("never")
        # what a re-run and a decision ask about one subject
        assert ledger.is_done("CreateHIT", BATCH, "row3")
        assert ledger.outcome("CreateHIT", BATCH, "missing") is None
        assert "A3" in read_decisions(conn, ledger.endpoint, ["A3"])
        with ledger.grouped():
            with ledger.intent("CreateHIT", BATCH, "grouped", {}) as intent:
                intent.done("HITgrouped")
            with ledger.intent("CreateHIT", BATCH, "grouped2", {}) as intent:
                intent.done("HITgrouped2")
    finally:
        conn.set_trace_callback(None)
    assert any("COUNT(*)" in sql for sql in statements)  # the generation was asked
    assert any("ledger_outcome" in sql and sql.startswith("INSERT") for sql in statements)
    assert _scans(conn, statements) == []


def test_the_plan_check_sees_a_scan(ledger: Ledger) -> None:
    # The check itself must be able to fail: the generation count without its index.
    _fill(ledger, 3)
    conn = ledger.db.connection()
    sql = (
        "SELECT COUNT(*) FROM ledger_intent NOT INDEXED WHERE endpoint = 'local' "
        "AND batch = 'b' AND operation = 'o' AND subject = 's'"
    )
    assert _scans(conn, [sql]) != []


def _committed_outcomes(path: Path) -> tuple[int, int]:
    """(intents, intents without an outcome), as another process would read them."""
    with sqlite3.connect(path) as other:
        intents = other.execute(
            "SELECT COUNT(*) FROM ledger_intent WHERE archived_at IS NULL"
        ).fetchone()[0]
        open_ones = other.execute(
            "SELECT COUNT(*) FROM ledger_intent WHERE archived_at IS NULL AND id NOT IN "
            "(SELECT intent_id FROM ledger_outcome)"
        ).fetchone()[0]
    return int(intents), int(open_ones)


def test_grouped_halves_the_transactions_and_keeps_one_open_intent(
    ledger: Ledger, tmp_path: Path
) -> None:
    path = tmp_path / ".mturkmake" / "state.db"
    before = ledger.commits
    for n in range(10):
        with ledger.intent("CreateHIT", BATCH, f"plain{n}", {}) as intent:
            intent.done(f"P{n}")
    assert ledger.commits - before == 20  # an intent and an outcome each

    before = ledger.commits
    seen: list[tuple[int, int]] = []
    with ledger.grouped():
        for n in range(10):
            with ledger.intent("CreateHIT", BATCH, f"grouped{n}", {}) as intent:
                # the intent is durable before the call; the previous outcome with it
                seen.append(_committed_outcomes(path))
                intent.done(f"G{n}")
    assert ledger.commits - before == 11  # one per intent, one for the last outcome
    assert [open_ones for _, open_ones in seen] == [1] * 10
    assert [intents for intents, _ in seen] == [11 + n for n in range(10)]
    assert _committed_outcomes(path) == (20, 0)
    assert ledger.done_subjects("CreateHIT", BATCH)["grouped9"] == "G9"


def test_grouped_threads_share_commits_within_jobs(ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / ".mturkmake" / "state.db"
    jobs, per_thread = 6, 15
    worst = [0]
    lock = threading.Lock()
    start = threading.Barrier(jobs)

    def work(thread: int) -> None:
        start.wait()
        for n in range(per_thread):
            with ledger.intent("CreateHIT", BATCH, f"t{thread}-{n}", {}) as intent:
                _, open_ones = _committed_outcomes(path)
                with lock:
                    worst[0] = max(worst[0], open_ones)
                intent.done(f"H{thread}-{n}")

    before = ledger.commits
    with ledger.grouped():
        threads = [threading.Thread(target=work, args=(t,)) for t in range(jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    total = jobs * per_thread
    assert _committed_outcomes(path) == (total, 0)
    assert 1 <= worst[0] <= jobs
    assert ledger.commits - before <= total + 1


def test_a_refused_intent_in_a_group_refuses_only_itself(ledger: Ledger) -> None:
    with ledger.intent("CreateHIT", BATCH, "taken", {}) as intent:
        intent.done("H0")
    results: dict[str, str] = {}
    start = threading.Barrier(4)

    def work(subject: str) -> None:
        start.wait()
        try:
            with ledger.intent("CreateHIT", BATCH, subject, {}) as intent:
                intent.done(f"H-{subject}")
            results[subject] = "done"
        except LedgerError:
            results[subject] = "refused"

    with ledger.grouped():
        threads = [threading.Thread(target=work, args=(s,)) for s in ("a", "taken", "b", "c")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == {"a": "done", "taken": "refused", "b": "done", "c": "done"}
    assert set(ledger.done_subjects("CreateHIT", BATCH)) == {"taken", "a", "b", "c"}


def test_outcome_twice_is_refused_even_when_deferred(ledger: Ledger) -> None:
    with ledger.grouped(), ledger.intent("CreateHIT", BATCH, "once", {}) as intent:
        intent.done("H1")
        with pytest.raises(LedgerError, match="already has an outcome"):
            intent.done("H2")
    assert ledger.done_subjects("CreateHIT", BATCH) == {"once": "H1"}


def test_the_loads_batch_readers_never_scan_the_ledger(ledger: Ledger) -> None:
    """What a load reads of a batch (its rows, the batches an input made, the ``.success``
    projection) searches an index too: a 100,000-HIT ledger must not be read whole."""
    from mturkmake.mturk.ledger_queries import projection_rows

    _fill(ledger, 60)
    conn = ledger.db.connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        calls = ledger.done_calls("CreateHIT", BATCH)
        firsts = ledger.first_done_calls("CreateHIT")
        listed = list(projection_rows(conn, ledger.endpoint, "CreateHIT", BATCH))
        params = ledger.intent_params(calls[0].intent_id)
    finally:
        conn.set_trace_callback(None)
    assert len(calls) == 60
    assert len(listed) == 60
    assert [(f.subject, f.remote_id) for f in firsts] == [(BATCH, "HIT0")]
    assert params == {"n": 0}
    assert len(statements) == 4
    assert _scans(conn, statements) == []
