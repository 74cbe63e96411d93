"""state.db: connection settings, transactions, schemas and build records."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from mturkmake.core.fsio import Fingerprint
from mturkmake.core.state import StateDB
from mturkmake.errors import MturkmakeError

A = Fingerprint(3, 100, "a" * 64)
B = Fingerprint(4, 200, "b" * 64)


@pytest.fixture
def db(tmp_path: Path) -> StateDB:
    return StateDB(tmp_path / ".mturkmake" / "state.db")


def test_connection_settings(db: StateDB) -> None:
    conn = db.connection()
    assert db.path.exists()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


def test_one_connection_per_thread(db: StateDB) -> None:
    main = db.connection()
    assert db.connection() is main
    seen: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: seen.append(db.connection()))
    thread.start()
    thread.join()
    assert seen[0] is not main


def test_last_build_on_missing_db_creates_nothing(db: StateDB) -> None:
    assert db.last_build("x.b") is None
    assert not db.path.parent.exists()


def test_record_and_read_back(db: StateDB) -> None:
    db.record_build("x.b", {"x.a": A}, True, {"x.b": B})
    record = db.last_build("x.b")
    assert record is not None
    assert record.complete is True
    assert dict(record.prerequisites) == {"x.a": A}
    assert dict(record.outputs) == {"x.b": B}
    # Replacing drops files no longer seen.
    db.record_build("x.b", {}, False, {})
    record = db.last_build("x.b")
    assert record is not None
    assert record.complete is False
    assert dict(record.prerequisites) == {}


def test_mark_incomplete(db: StateDB) -> None:
    db.record_build("x.b", {"x.a": A}, True, {"x.b": B})
    db.mark_incomplete("x.b")
    record = db.last_build("x.b")
    assert record is not None
    assert not record.complete
    assert dict(record.prerequisites) == {"x.a": A}  # kept: only the flag changes
    db.mark_incomplete("never.built")
    other = db.last_build("never.built")
    assert other is not None
    assert not other.complete


def test_refresh_prerequisite_and_output(db: StateDB) -> None:
    db.record_build("x.b", {"x.a": A}, True, {"x.b": B})
    touched = Fingerprint(A.size, 999, A.sha256)
    db.refresh_prerequisite("x.b", "x.a", touched)
    db.refresh_output("x.b", "x.b", Fingerprint(B.size, 1000, B.sha256))
    record = db.last_build("x.b")
    assert record is not None
    assert record.prerequisites["x.a"] == touched
    assert record.outputs["x.b"].mtime_ns == 1000


def test_transaction_rolls_back_on_error(db: StateDB) -> None:
    db.ensure_schema("t", ["CREATE TABLE IF NOT EXISTS t (v INTEGER)"])

    def insert_then_fail() -> None:
        with db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        insert_then_fail()
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (2)")
        with db.transaction() as inner:  # nested: joins the outer transaction
            inner.execute("INSERT INTO t VALUES (3)")
    rows = db.connection().execute("SELECT v FROM t ORDER BY v").fetchall()
    assert rows == [(2,), (3,)]


def test_transaction_is_immediate(db: StateDB) -> None:
    db.ensure_schema("t", ["CREATE TABLE IF NOT EXISTS t (v INTEGER)"])
    other = sqlite3.connect(db.path, timeout=0.05, isolation_level=None)
    # BEGIN IMMEDIATE took the write lock at once: another writer is refused.
    with db.transaction(), pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    other.close()


def test_ensure_schema_versions(db: StateDB) -> None:
    ddl = ["CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY)"]
    db.ensure_schema("ledger", ddl, version=1)
    db.ensure_schema("ledger", ddl, version=1)  # idempotent
    conn = db.connection()
    assert conn.execute("SELECT version FROM schema WHERE name='ledger'").fetchone() == (1,)

    upgraded = StateDB(db.path)
    more = [*ddl, "CREATE INDEX IF NOT EXISTS ledger_id ON ledger (id)"]
    upgraded.ensure_schema("ledger", more, version=2)
    assert conn.execute("SELECT version FROM schema WHERE name='ledger'").fetchone() == (2,)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "ledger_id" in names

    older = StateDB(db.path)
    with pytest.raises(MturkmakeError, match="newer than this mturkmake"):
        older.ensure_schema("ledger", ddl, version=1)


def test_concurrent_writers_from_threads(db: StateDB) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(20):
                db.record_build(f"t{n}.{i}", {"p": A}, True, {})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    count = db.connection().execute("SELECT COUNT(*) FROM build").fetchone()[0]
    assert count == 80


def test_close_all_closes_other_threads_connections(db: StateDB) -> None:
    main = db.connection()
    worker: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: worker.append(db.connection()))
    thread.start()
    thread.join()
    db.close_all()
    for conn in (main, worker[0]):
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")
    # The database is still usable: a fresh connection is opened on demand.
    db.record_build("x", {}, True, {})
    assert db.connection() is not main
    assert db.last_build("x") is not None
