"""``.mturkmake/state.db``: build records of targets, and the home of the ledger's tables.

SQLite, following DESIGN §3: one connection per thread, WAL, ``busy_timeout`` 10 s,
``synchronous=FULL``, and every read-modify-write inside ``BEGIN IMMEDIATE``
(:meth:`StateDB.transaction`). Other modules (the ledger) add their tables through
:meth:`StateDB.ensure_schema`, which keeps one version row per module in ``schema``.

A *build record* says what a target was built from: the fingerprints of its prerequisites
and outputs at its last build, and whether that build was complete (DESIGN §2).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from mturkmake.core.fsio import Fingerprint
from mturkmake.errors import StateError

BUSY_TIMEOUT_MS = 10_000

#: SQLite messages that mean the machine is in the way (not a bug in our SQL).
_MACHINE_TROUBLE = (
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
    "attempt to write a readonly database",
    "readonly database",
)

_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"
)

BUILDS_SCHEMA = "builds"
BUILDS_VERSION = 1
BUILDS_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS build (
        target TEXT PRIMARY KEY,
        complete INTEGER NOT NULL,
        built_at_ns INTEGER NOT NULL
    )""",
    # role: 'prerequisite' or 'output'. One row per file the build saw.
    """CREATE TABLE IF NOT EXISTS build_file (
        target TEXT NOT NULL REFERENCES build(target) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('prerequisite', 'output')),
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (target, role, name)
    )""",
)

_PREREQ = "prerequisite"
_OUTPUT = "output"


class BuildRecord(NamedTuple):
    """What a target's last build saw.

    :param target: the target, relative to the project root.
    :param complete: ``False`` makes the target stale on the next run (DESIGN §2).
    :param prerequisites: fingerprint of each prerequisite (optional ones included) at the build.
    :param outputs: fingerprint of each output the build wrote (an output of a multi-target
        rule that was not written is absent).
    """

    target: str
    complete: bool
    prerequisites: Mapping[str, Fingerprint] = MappingProxyType({})
    outputs: Mapping[str, Fingerprint] = MappingProxyType({})


class StateDB:
    """The project's state database; safe to share between threads.

    The file and its directory are created on the first write; reading a database that
    does not exist yet finds nothing and creates nothing (so ``-n`` and ``-q`` leave no trace).

    :param path: usually ``<root>/.mturkmake/state.db``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._schemas_ready: set[str] = set()
        # Every open connection, so close_all() can close worker threads' ones too; the
        # generation tells a thread that its cached connection was closed under it.
        self._conns_lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._generation = 0

    # -- connections and transactions ---------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the file created) on first use.

        :raises StateError: the database cannot be created or opened (permissions, a
            read-only or full disk), as one line.
        """
        try:
            return self._connection()
        except sqlite3.OperationalError as exc:
            raise self.trouble(exc) from exc
        except OSError as exc:
            raise StateError(
                f"cannot create {exc.filename or self.path.parent}: {exc.strerror or exc}",
                hint="the project directory must be writable (and the disk not full)",
            ) from None

    def trouble(self, exc: sqlite3.Error) -> StateError:
        """The one-line error for SQLite failing on the machine's account (a full disk, no
        permission, a read-only directory); other errors are bugs and keep their traceback.
        """
        text = str(exc)
        if not any(marker in text.lower() for marker in _MACHINE_TROUBLE):
            raise exc
        return StateError(
            text,
            file=str(self.path),
            hint="check that the project directory is writable and the disk has space, then "
            "run again (nothing half-written is kept: SQLite rolled the change back)",
        )

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.generation != self._generation:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (DESIGN §3).
            # check_same_thread=False only so close_all() may close it; one thread uses it.
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(_SCHEMA_TABLE)
            with self._conns_lock:
                self._conns.append(conn)
                self._local.generation = self._generation
            self._local.conn = conn
            self._local.depth = 0
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on an exception.

        Nested use on one thread joins the outer transaction, so helpers can be composed.
        """
        conn = self.connection()
        if self._local.depth > 0:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self.trouble(exc) from exc
        self._local.depth = 1
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise self.trouble(exc) from exc
        except BaseException:
            with suppress(sqlite3.Error):  # a failed COMMIT may have rolled back already
                conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise self.trouble(exc) from exc
        finally:
            self._local.depth = 0

    def close(self) -> None:
        """Close this thread's connection; the next use opens a new one."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            with self._conns_lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            conn.close()
            self._local.conn = None

    def close_all(self) -> None:
        """Close every thread's connection (call when no other thread is using the database).

        Used after a thread pool finishes, whose threads cannot close their own connections.
        Any thread that uses the database afterwards opens a new connection.
        """
        with self._conns_lock:
            conns, self._conns = self._conns, []
            self._generation += 1
        for conn in conns:
            conn.close()
        self._local.conn = None

    def ensure_schema(self, name: str, ddl_statements: Sequence[str], version: int = 1) -> None:
        """Create module ``name``'s tables once, and record ``version`` in ``schema``.

        The statements must be idempotent (``CREATE … IF NOT EXISTS``): when a database
        holds an older version they run again and the version row is raised. A database
        from a newer mturkmake is refused rather than misread.

        :param name: the owning module, e.g. ``builds`` or ``ledger``.
        :param ddl_statements: ``CREATE TABLE``/``CREATE INDEX`` statements.
        :param version: the schema version this code expects.
        """
        with self._schema_lock:
            if name in self._schemas_ready:
                return
            # Read first: a database already at this version needs no write transaction
            # (a run that finds everything up to date takes no write lock, #17).
            if self._stored_version(name) == version:
                self._schemas_ready.add(name)
                return
            with self.transaction() as conn:
                row = conn.execute("SELECT version FROM schema WHERE name = ?", (name,)).fetchone()
                stored = None if row is None else int(row[0])
                if stored is not None and stored > version:
                    raise StateError(
                        f"schema '{name}' is version {stored}, newer than this mturkmake "
                        f"understands ({version})",
                        file=str(self.path),
                        hint="upgrade mturkmake",
                    )
                if stored != version:
                    for statement in ddl_statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema (name, version) VALUES (?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET version = excluded.version",
                        (name, version),
                    )
            self._schemas_ready.add(name)

    def _stored_version(self, name: str) -> int | None:
        conn = self.connection()
        try:
            row = conn.execute("SELECT version FROM schema WHERE name = ?", (name,)).fetchone()
        except sqlite3.OperationalError as exc:
            raise self.trouble(exc) from exc
        return None if row is None else int(row[0])

    # -- build records ------------------------------------------------------------------

    def _builds(self) -> sqlite3.Connection:
        self.ensure_schema(BUILDS_SCHEMA, BUILDS_DDL, BUILDS_VERSION)
        return self.connection()

    def record_build(
        self,
        target: str,
        prerequisites: Mapping[str, Fingerprint],
        complete: bool,
        outputs: Mapping[str, Fingerprint],
    ) -> None:
        """Replace ``target``'s build record.

        :param prerequisites: every prerequisite's fingerprint as the build saw it.
        :param complete: whether the build finished its work (``False``: stale next run).
        :param outputs: the fingerprints of the outputs written.
        """
        self._builds()
        with self.transaction() as conn:
            conn.execute("DELETE FROM build_file WHERE target = ?", (target,))
            conn.execute(
                "INSERT INTO build (target, complete, built_at_ns) VALUES (?, ?, ?) "
                "ON CONFLICT(target) DO UPDATE SET complete = excluded.complete, "
                "built_at_ns = excluded.built_at_ns",
                (target, int(complete), time.time_ns()),
            )
            rows = [
                (target, role, name, fp.size, fp.mtime_ns, fp.sha256)
                for role, files in ((_PREREQ, prerequisites), (_OUTPUT, outputs))
                for name, fp in files.items()
            ]
            conn.executemany(
                "INSERT INTO build_file (target, role, name, size, mtime_ns, sha256) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def last_build(self, target: str) -> BuildRecord | None:
        """``target``'s build record, or ``None`` when mturkmake never built it."""
        if not self.path.exists():
            return None
        conn = self._builds()
        row = conn.execute("SELECT complete FROM build WHERE target = ?", (target,)).fetchone()
        if row is None:
            return None
        prerequisites: dict[str, Fingerprint] = {}
        outputs: dict[str, Fingerprint] = {}
        for role, name, size, mtime_ns, sha256 in conn.execute(
            "SELECT role, name, size, mtime_ns, sha256 FROM build_file WHERE target = ? "
            "ORDER BY name",
            (target,),
        ):
            files = prerequisites if role == _PREREQ else outputs
            files[name] = Fingerprint(int(size), int(mtime_ns), str(sha256))
        return BuildRecord(
            target,
            bool(row[0]),
            MappingProxyType(prerequisites),
            MappingProxyType(outputs),
        )

    def mark_incomplete(self, target: str) -> None:
        """Make ``target`` stale on the next run (a command changed its batch remotely).

        A target without a record gets an empty, incomplete one, which is just as stale.
        """
        self._builds()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO build (target, complete, built_at_ns) VALUES (?, 0, ?) "
                "ON CONFLICT(target) DO UPDATE SET complete = 0",
                (target, time.time_ns()),
            )

    def refresh_prerequisite(self, target: str, name: str, fp: Fingerprint) -> None:
        """Update one prerequisite's fingerprint in ``target``'s record.

        Used when a prerequisite was touched without a content change: the new mtime is
        recorded so the next run takes the cheap path, and nothing is rebuilt.
        """
        self._builds()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE build_file SET size = ?, mtime_ns = ?, sha256 = ? "
                "WHERE target = ? AND role = ? AND name = ?",
                (fp.size, fp.mtime_ns, fp.sha256, target, _PREREQ, name),
            )

    def refresh_output(self, target: str, name: str, fp: Fingerprint) -> None:
        """Update one output's fingerprint in ``target``'s record (after an mtime fix)."""
        self._builds()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE build_file SET size = ?, mtime_ns = ?, sha256 = ? "
                "WHERE target = ? AND role = ? AND name = ?",
                (fp.size, fp.mtime_ns, fp.sha256, target, _OUTPUT, name),
            )


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting for another process that is doing the same to a new file.

    Two runs opening a fresh ``state.db`` at once both switch it to WAL; the switch needs an
    exclusive lock and SQLite answers "database is locked" at once instead of calling the
    busy handler, so it is retried here for up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
