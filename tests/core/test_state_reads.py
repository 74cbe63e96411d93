"""Reading build records takes no write lock: a run that finds everything up to date writes
nothing to state.db (issue #17)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from mturkmake.core.fsio import Fingerprint
from mturkmake.core.state import StateDB

A = Fingerprint(3, 100, "a" * 64)


def test_reading_a_record_needs_no_write_lock(tmp_path: Path) -> None:
    path = tmp_path / ".mturkmake" / "state.db"
    writer = StateDB(path)
    writer.record_build("t", {"p": A}, True, {"t": A})
    writer.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        reader = StateDB(path)  # a fresh run: its schema check is a plain read
        start = time.monotonic()
        record = reader.last_build("t")
        assert time.monotonic() - start < 2  # it never waited for the lock (10 s timeout)
        assert record is not None
        assert record.prerequisites == {"p": A}
        reader.close()
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_an_older_schema_is_still_upgraded_in_a_transaction(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    db.ensure_schema("extra", ["CREATE TABLE IF NOT EXISTS extra (x INTEGER)"], version=1)
    fresh = StateDB(tmp_path / "state.db")
    fresh.ensure_schema(
        "extra",
        [
            "CREATE TABLE IF NOT EXISTS extra (x INTEGER)",
            "CREATE TABLE IF NOT EXISTS extra2 (y INTEGER)",
        ],
        version=2,
    )
    conn = fresh.connection()
    assert conn.execute("SELECT version FROM schema WHERE name = 'extra'").fetchone()[0] == 2
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra2'").fetchone()
