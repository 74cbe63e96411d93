"""The marketplace's SQLite store: schema, per-thread connections, transactions, paging.

Rules (DESIGN §3, §7): WAL, ``busy_timeout`` 15 s, ``synchronous=NORMAL``, one connection per
thread, and every read-modify-write inside ``BEGIN IMMEDIATE`` so that several processes (an
HTTP server's threads, an ``advance`` loop elsewhere) never lose an update.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mturkmake.errors import MturkmakeError
from mturkmake.marketplace.errors import RequestError

T = TypeVar("T")
#: Bumped whenever the schema changes: an older file is refused with a clear message.
SCHEMA_VERSION = "1"
#: How long a transaction waits for the database lock before giving up (DESIGN: ≥ 5 s; 10 s+).
LOCK_WAIT = 15.0
#: A result row (columns by name).
Row = sqlite3.Row

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hit_types (
    id TEXT PRIMARY KEY, props TEXT NOT NULL, created REAL NOT NULL, deleted INTEGER DEFAULT 0,
    notification TEXT, active INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS hits (
    id TEXT PRIMARY KEY, hit_type_id TEXT NOT NULL, created REAL NOT NULL,
    expiration REAL NOT NULL, max_assignments INTEGER NOT NULL, question TEXT,
    annotation TEXT, layout_id TEXT, extra TEXT NOT NULL DEFAULT '{}',
    expired INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
    reviewing INTEGER NOT NULL DEFAULT 0, full INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS hits_live ON hits (deleted, expired, expiration, id);
CREATE INDEX IF NOT EXISTS hits_open ON hits (deleted, expired, full, created, id);
CREATE TABLE IF NOT EXISTS assignments (
    id TEXT PRIMARY KEY, hit_id TEXT NOT NULL, worker_id TEXT NOT NULL, state TEXT NOT NULL,
    accept_time REAL NOT NULL, deadline REAL NOT NULL, planned_submit REAL,
    submit_time REAL, auto_approval_time REAL, approval_time REAL, rejection_time REAL,
    answer TEXT, feedback TEXT, UNIQUE (hit_id, worker_id));
CREATE INDEX IF NOT EXISTS assignments_submit ON assignments (state, planned_submit, id);
CREATE INDEX IF NOT EXISTS assignments_deadline ON assignments (state, deadline, id);
CREATE INDEX IF NOT EXISTS assignments_approval ON assignments (state, auto_approval_time, id);
CREATE INDEX IF NOT EXISTS assignments_worker ON assignments (worker_id, state);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, idx INTEGER NOT NULL, free_at REAL NOT NULL, profile TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS qual_types (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, data TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS quals (
    type_id TEXT NOT NULL, worker_id TEXT NOT NULL, value INTEGER, locale TEXT,
    status TEXT NOT NULL, grant_time REAL NOT NULL, PRIMARY KEY (type_id, worker_id));
CREATE TABLE IF NOT EXISTS qual_requests (
    id TEXT PRIMARY KEY, type_id TEXT NOT NULL, worker_id TEXT NOT NULL, test TEXT,
    answer TEXT, submit_time REAL NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bonuses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, assignment_id TEXT NOT NULL, worker_id TEXT NOT NULL,
    hit_id TEXT NOT NULL, amount TEXT NOT NULL, reason TEXT NOT NULL, grant_time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, subject TEXT NOT NULL,
    amount TEXT NOT NULL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (worker_id TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    family TEXT NOT NULL, token TEXT NOT NULL, subject TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (family, token));
CREATE TABLE IF NOT EXISTS occurrences (key TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS replays (
    hint TEXT PRIMARY KEY, operation TEXT NOT NULL, response TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, operation TEXT NOT NULL, subject TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS truths (hit_id TEXT PRIMARY KEY, truth TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, worker_id TEXT NOT NULL, subject TEXT NOT NULL,
    message TEXT NOT NULL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS event_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, hit_type_id TEXT NOT NULL, event_type TEXT NOT NULL,
    destination TEXT NOT NULL, transport TEXT NOT NULL, message TEXT NOT NULL,
    time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS hit_states (hit_id TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS review_results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, hit_id TEXT NOT NULL, level TEXT NOT NULL,
    action_id TEXT, subject_id TEXT NOT NULL, subject_type TEXT NOT NULL, question_id TEXT,
    key TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS review_results_hit ON review_results (hit_id, level, seq);
CREATE TABLE IF NOT EXISTS review_actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, hit_id TEXT NOT NULL, level TEXT NOT NULL,
    action_id TEXT NOT NULL, name TEXT NOT NULL, target_id TEXT NOT NULL,
    target_type TEXT NOT NULL, status TEXT NOT NULL, complete_time REAL, result TEXT,
    error_code TEXT);
CREATE INDEX IF NOT EXISTS review_actions_hit ON review_actions (hit_id, level, seq);
CREATE TABLE IF NOT EXISTS layouts (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, content TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS hit_changes (hit_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS hit_changes_seq ON hit_changes (seq);
"""

#: A HIT's last change, for ``Marketplace.hits_changed_since`` (``--wait`` polls only the HITs
#: that changed). Triggers, not calls in the handlers: every write to what the API shows of
#: a HIT (its row, its assignments, its review policies' reports) bumps the HIT's sequence
#: number, whichever code path or process made it. Sequence numbers only grow: a HIT's new
#: one is the largest + 1 (an index seek). Each is one statement (no ``;`` splitting).
_CHANGED = (
    "INSERT INTO hit_changes (hit_id, seq) VALUES ({hit}, "
    "(SELECT COALESCE(MAX(seq), 0) + 1 FROM hit_changes)) "
    "ON CONFLICT (hit_id) DO UPDATE SET seq = excluded.seq"
)
#: The columns of ``hits`` an update of which the API shows: all but ``full``, a cache of the
#: assignments' counts (their own changes mark the HIT), rewritten on every accept.
_HIT_COLUMNS = (
    "id, hit_type_id, created, expiration, max_assignments, question, annotation, layout_id, "
    "extra, expired, deleted, reviewing"
)
TRIGGERS: tuple[str, ...] = tuple(
    f"CREATE TRIGGER IF NOT EXISTS hit_changed_{table}_{when.split()[0].lower()} AFTER {when} "
    f"ON {table} BEGIN {_CHANGED.format(hit=hit)}; END"
    for table, hit in (
        ("hits", "NEW.id"),
        ("assignments", "NEW.hit_id"),
        ("review_results", "NEW.hit_id"),
        ("review_actions", "NEW.hit_id"),
    )
    for when in ("INSERT", f"UPDATE OF {_HIT_COLUMNS}" if table == "hits" else "UPDATE")
)

TABLES = (
    "meta",
    "hit_types",
    "hits",
    "assignments",
    "workers",
    "qual_types",
    "quals",
    "qual_requests",
    "bonuses",
    "payments",
    "blocks",
    "tokens",
    "occurrences",
    "replays",
    "request_log",
    "truths",
    "notifications",
    "event_log",
    "hit_states",
    "review_results",
    "review_actions",
    "layouts",
    "hit_changes",
)


@dataclass
class Tx:
    """One transaction's view: the connection, the clock and the id inputs of the request.

    :param now: the virtual clock (epoch seconds) when the transaction started.
    :param key: the request's identity for deterministic ids (token or canonical JSON).
    :param occurrence: how many identical requests were accepted before this one.
    :param operation: the API operation being served ("" for clock events).
    """

    conn: sqlite3.Connection
    now: float
    seed: int
    key: str = ""
    occurrence: int = 0
    operation: str = ""
    #: Whether an ExternalQuestion may name an http:// page (a marketplace setting).
    allow_http: bool = True
    logged: list[tuple[str, str]] = field(default_factory=list)
    #: HITs whose state may have changed (the lifecycle looks at them before committing).
    touched: set[str] = field(default_factory=set)
    #: Assignments submitted in this transaction (their assignment-level policies run).
    submitted: list[str] = field(default_factory=list)

    def log(self, operation: str, subject: str) -> None:
        """Record an accepted side effect (tests assert "no second call" with it)."""
        self.conn.execute(
            "INSERT INTO request_log (operation, subject) VALUES (?, ?)", (operation, subject)
        )
        self.logged.append((operation, subject))

    def touch(self, hit_id: str) -> None:
        """Note that ``hit_id``'s status may have changed (see ``lifecycle.settle``)."""
        self.touched.add(hit_id)

    def one(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Row | None:
        """The first row of ``sql``, or None."""
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Every row of ``sql``."""
        return list(self.conn.execute(sql, args).fetchall())


class Store:
    """The database file and one connection per thread.

    :param path: the SQLite file (created with its parent directory).
    :param initialise: called inside the first write transaction on an empty database.
    """

    def __init__(self, path: Path | str, initialise: Callable[[Tx], None]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Writers of this process queue here rather than on SQLite's lock, which they could
        # only poll (see _begin_immediate): in process, -j N threads then take turns at once.
        self._writing = threading.RLock()
        self._initialise = initialise
        self._ready = False

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened, and the schema created, on first use), with
        ``busy_timeout`` guarding its statements."""
        conn = self._connect()
        self._set_patience(conn, patient=True)
        return conn

    def _set_patience(self, conn: sqlite3.Connection, *, patient: bool) -> None:
        """``busy_timeout`` LOCK_WAIT (patient) or 0 (for :meth:`_begin_immediate`'s polling).

        Write transactions leave the connection impatient: inside ``BEGIN IMMEDIATE`` the
        write lock is held, so in WAL mode no statement (COMMIT included) waits for another
        connection, and back-to-back writes (a batch of CreateHIT calls, an ``advance``)
        then skip two PRAGMAs each. Reads and :meth:`connection` make it patient again
        first, since a WAL reader may briefly meet a lock.
        """
        if getattr(self._local, "patient", True) != patient:
            conn.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT * 1000) if patient else 0}")
            self._local.patient = patient

    def _connect(self) -> sqlite3.Connection:
        conn = self._open()
        if not self._ready:
            self._create()
        return conn

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = sqlite3.connect(
            self.path, timeout=15.0, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT * 1000)}")
        self._local.patient = True  # busy_timeout is LOCK_WAIT (see _set_patience)
        # Switching to WAL needs a moment of exclusive access; another process opening the
        # file at the same instant can make it fail once, so try again for a while.
        for attempt in range(100):
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:
                if attempt == 99:
                    raise
                time.sleep(0.05)
        # NORMAL, not the ledger's FULL: in WAL mode a commit still survives the death of any
        # process and the file stays consistent; only a power cut may lose the last commits of
        # this simulator. FULL's fsync per commit (~1.4 ms here) would dominate every call.
        conn.execute("PRAGMA synchronous = NORMAL")
        self._local.conn = conn
        return conn

    def _create(self) -> None:
        conn = self._local.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            _create_schema(conn)
            if conn.execute("SELECT 1 FROM meta WHERE key = 'clock'").fetchone() is None:
                self._initialise(Tx(conn, 0.0, 0))
                set_meta(conn, "schema", SCHEMA_VERSION)
            elif self._schema(conn) != SCHEMA_VERSION:
                raise MturkmakeError(
                    f"{self.path} was made by another version of mturkmake",
                    hint="run `mturkmake marketplace reset` (or delete the file)",
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._ready = True

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        conn = self._connect()
        self._set_patience(conn, patient=False)
        with self._writing:
            self._begin_immediate(conn)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _schema(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _begin_immediate(conn: sqlite3.Connection) -> None:
        """Take the write lock, waiting up to :data:`LOCK_WAIT` seconds (the connection's
        ``busy_timeout`` is 0 here: see :meth:`_set_patience`).

        SQLite's own busy handler sleeps up to 100 ms between tries, so a process that writes
        in a tight loop (an ``advance`` loop) can starve the others; polling every few
        milliseconds here keeps the wait fair.
        """
        deadline = time.monotonic() + LOCK_WAIT
        delay = 0.0005
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" not in text and "busy" not in text) or (time.monotonic() > deadline):
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.004)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot, no write lock."""
        conn = self._connect()
        self._set_patience(conn, patient=True)
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def wipe(self) -> None:
        """Drop every table and start again (``marketplace reset``); also repairs a file
        made by another schema version, which :meth:`connection` refuses."""
        conn = self._open()
        self._set_patience(conn, patient=True)  # wait for the lock as any statement does
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            _create_schema(conn)
            self._initialise(Tx(conn, 0.0, 0))
            set_meta(conn, "schema", SCHEMA_VERSION)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._ready = True

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    for trigger in TRIGGERS:
        conn.execute(trigger)


def get_meta(conn: sqlite3.Connection, key: str) -> str:
    """A value of the ``meta`` table (the clock, the seed, the balance)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is None:
        raise KeyError(key)
    return str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set a value of the ``meta`` table."""
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def dumps(value: object) -> str:
    """Compact JSON for a column."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> Any:
    """A JSON column's value (None for NULL)."""
    return None if text is None else json.loads(text)


DEFAULT_PAGE = 10  # the legacy default page size that MTurk's samples still show


def page(
    items: Sequence[T],
    params: Mapping[str, Any],
    member: str,
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """One page of ``items`` as a List* output: ``NumResults``, ``member`` and ``NextToken``.

    The token is an opaque, versioned offset; a token that is not ours is a RequestError.
    """
    size = int(params.get("MaxResults") or DEFAULT_PAGE)
    if not 1 <= size <= 100:
        raise RequestError(
            "MaxResults must be between 1 and 100.", "AWS.MechanicalTurk.InvalidParameterValue"
        )
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            decoded = base64.urlsafe_b64decode(str(token).encode("ascii")).decode("ascii")
            prefix, offset = decoded.split(":", 1)
            start = int(offset)
            if prefix != "p1" or start < 0:
                raise ValueError(decoded)
        except (ValueError, UnicodeError) as exc:
            raise RequestError(
                f"The NextToken '{token}' is invalid.", "AWS.MechanicalTurk.InvalidParameterValue"
            ) from exc
    chosen = items[start : start + size]
    out: dict[str, Any] = {"NumResults": len(chosen), member: [render(i) for i in chosen]}
    if start + size < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(f"p1:{start + size}".encode()).decode()
    return out
