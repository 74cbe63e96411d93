"""The cache of fetched work that makes a poll cost O(changed HITs) (DESIGN §2), and the
snapshot of a batch a poll makes (fetching: :mod:`mturkmake.mturk.results_fetch`).

Every HIT fetched is kept in ``.mturkmake/state.db`` (table ``results_hit``) with its
assignments and whether it is *final*: Reviewable, Reviewing or Disposed with nothing pending,
i.e. every assignment submitted, or expired with no work still being done. A final HIT is
never fetched again until a command that changes it remotely (extend, update, approve,
reject, bonus, delete) calls :func:`mark_batch_changed`, which also marks the batch's
downstream targets incomplete.

A poll (:class:`~mturkmake.mturk.results_fetch.Fetcher`) fetches only the HITs that are
not final, and a local ``--wait`` only those the marketplace says changed (issue #17).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mturkmake.core.state import StateDB
from mturkmake.mturk.times import as_utc

if TYPE_CHECKING:
    pass

__all__ = [
    "ASSIGNMENT_STATUSES",
    "FINAL_STATUSES",
    "PAGE_SIZE",
    "STORE_EVERY",
    "Fetched",
    "ResultsCache",
    "Snapshot",
    "downstream_targets",
    "is_final",
    "mark_batch_changed",
    "normalise",
]

#: HIT statuses after which no new work can arrive (unless the HIT is changed remotely).
FINAL_STATUSES = frozenset({"Reviewable", "Reviewing", "Disposed"})
#: The largest page the API gives (MaxResults 1..100).
PAGE_SIZE = 100
#: Fetched HITs cached per ``state.db`` transaction: each commit is durable (an fsync, a few
#: ms), so one per HIT would cost more than the calls; a poll interrupted keeps what it
#: fetched (the pending entries are stored on the way out), a crash loses at most these.
STORE_EVERY = 100
#: What getResults writes: submitted work, decided or not (the CLT's choice too).
ASSIGNMENT_STATUSES = ("Submitted", "Approved", "Rejected")
#: Keys of HIT and Assignment structures that hold times.
TIME_KEYS = frozenset(
    {
        "CreationTime", "Expiration", "AutoApprovalTime", "AcceptTime", "SubmitTime",
        "ApprovalTime", "RejectionTime", "Deadline",
    }
)  # fmt: skip

CACHE_SCHEMA = "results_cache"
CACHE_VERSION = 1
CACHE_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS results_hit (
        endpoint TEXT NOT NULL,
        hit_id TEXT NOT NULL,
        hit TEXT NOT NULL,
        assignments TEXT NOT NULL,
        final INTEGER NOT NULL,
        fetched_at TEXT NOT NULL,
        PRIMARY KEY (endpoint, hit_id)
    )""",
)


def is_final(hit: Mapping[str, Any]) -> bool:
    """Whether no new work can arrive for ``hit`` (the API's HIT structure)."""
    return (
        hit.get("HITStatus") in FINAL_STATUSES
        and int(hit.get("NumberOfAssignmentsPending") or 0) == 0
    )


def _utc(value: Any) -> Any:
    """A datetime in UTC (botocore hands out local-zone datetimes); other values unchanged."""
    return as_utc(value) if isinstance(value, datetime) else value


def normalise(record: Mapping[str, Any]) -> dict[str, Any]:
    """An API record as the cache keeps it: times in UTC, botocore's metadata left out."""
    return {key: _utc(value) for key, value in record.items() if key != "ResponseMetadata"}


def _to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}


def _from_json(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: datetime.fromisoformat(v) if k in TIME_KEYS and isinstance(v, str) else v
        for k, v in record.items()
    }


@dataclass(frozen=True)
class Fetched:
    """One HIT as last fetched.

    :param hit: the API's HIT structure, times as aware UTC datetimes.
    :param assignments: its submitted, approved and rejected assignments, as the API gave
        them (times in UTC), oldest submission first.
    :param final: :func:`is_final` of ``hit`` when it was fetched.
    """

    hit: Mapping[str, Any]
    assignments: tuple[Mapping[str, Any], ...] = ()
    final: bool = False


class ResultsCache:
    """The fetched HITs of one endpoint, in ``state.db``.

    :param db: the project's state database.
    :param endpoint: the endpoint's identity (``local``, ``sandbox``, …): a HIT id is only
        meaningful on its endpoint.
    """

    def __init__(self, db: StateDB, endpoint: str) -> None:
        self.db = db
        self.endpoint = endpoint

    def _conn(self) -> Any:
        self.db.ensure_schema(CACHE_SCHEMA, CACHE_DDL, CACHE_VERSION)
        return self.db.connection()

    def load(self, hit_ids: Iterable[str]) -> dict[str, Fetched]:
        """The cached entries of ``hit_ids`` (absent ids were never fetched)."""
        wanted = list(dict.fromkeys(hit_ids))
        if not wanted or not self.db.path.exists():
            return {}
        conn = self._conn()
        found: dict[str, Fetched] = {}
        # SQLite limits bound variables per statement; 500 per query is safe everywhere.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for hit_id, hit, assignments, final in conn.execute(
                f"SELECT hit_id, hit, assignments, final FROM results_hit "
                f"WHERE endpoint = ? AND hit_id IN ({marks})",
                (self.endpoint, *chunk),
            ):
                found[str(hit_id)] = Fetched(
                    _from_json(json.loads(hit)),
                    tuple(_from_json(a) for a in json.loads(assignments)),
                    bool(final),
                )
        return found

    def assignments_of(
        self, hit_ids: Iterable[str]
    ) -> dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """Each cached assignment of the *final* entries of ``hit_ids``, by assignment id,
        with its HIT record: what MTurk last said, as this project fetched it (never the
        user-editable ``.results``). An entry marked not final was changed remotely since
        (:func:`mark_batch_changed`) and is left out."""
        found: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        for hit_id, entry in self.load(hit_ids).items():
            if not entry.final:
                continue
            for assignment in entry.assignments:
                # The HIT id is the cache's key, not a cell someone could have edited.
                if str(assignment.get("HITId", "")) == hit_id:
                    found[str(assignment.get("AssignmentId", ""))] = (assignment, entry.hit)
        return found

    def store(self, entries: Mapping[str, Fetched]) -> None:
        """Replace the cached entries of these HITs (one transaction)."""
        if not entries:
            return
        self._conn()
        stamp = datetime.now(timezone.utc).isoformat()
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO results_hit (endpoint, hit_id, hit, assignments, final, fetched_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (endpoint, hit_id) DO UPDATE SET "
                "hit = excluded.hit, assignments = excluded.assignments, "
                "final = excluded.final, fetched_at = excluded.fetched_at",
                [
                    (
                        self.endpoint,
                        hit_id,
                        json.dumps(_to_json(entry.hit), sort_keys=True),
                        json.dumps([_to_json(a) for a in entry.assignments], sort_keys=True),
                        int(entry.final),
                        stamp,
                    )
                    for hit_id, entry in entries.items()
                ],
            )

    def invalidate(self, hit_ids: Iterable[str] | None = None) -> int:
        """Mark HITs not final, so the next poll fetches them again; ``None`` = all of this
        endpoint's. Returns how many cached entries changed."""
        self._conn()
        with self.db.transaction() as conn:
            if hit_ids is None:
                cursor = conn.execute(
                    "UPDATE results_hit SET final = 0 WHERE endpoint = ?", (self.endpoint,)
                )
                return int(cursor.rowcount)
            ids = list(hit_ids)
            cursor = conn.executemany(
                "UPDATE results_hit SET final = 0 WHERE endpoint = ? AND hit_id = ?",
                [(self.endpoint, hit_id) for hit_id in ids],
            )
            return int(cursor.rowcount)

    def forget(self) -> int:
        """Drop every cached HIT of this endpoint (``marketplace reset`` empties the local
        marketplace: its HIT ids may be handed out again). Returns how many were dropped."""
        if not self.db.path.exists():
            return 0
        self._conn()
        with self.db.transaction() as conn:
            cursor = conn.execute("DELETE FROM results_hit WHERE endpoint = ?", (self.endpoint,))
            return int(cursor.rowcount)


def downstream_targets(success: str) -> tuple[str, ...]:
    """The targets made from a batch's ``.success`` file (``survey.success`` →
    ``survey.results``, ``survey.approved``); a name without ``.success`` gets the suffixes
    appended (the CLT's ``-successfile`` may be named anything)."""
    base = success[: -len(".success")] if success.endswith(".success") else success
    return (f"{base}.results", f"{base}.approved")


def mark_batch_changed(
    db: StateDB, endpoint: str, success: str, hit_ids: Iterable[str] | None = None
) -> None:
    """Record that a command changed a batch remotely (extend, update, approve, reject,
    bonus, delete): its downstream targets become incomplete (stale on the next run), and
    the changed HITs are fetched again by the next poll.

    :param db: the project's state database.
    :param endpoint: the batch's endpoint.
    :param success: the batch's ``.success`` file, relative to the project root.
    :param hit_ids: the HITs changed; ``None`` when unknown (every cached HIT of the
        endpoint is fetched again: correct, only slower).
    """
    for target in downstream_targets(success):
        db.mark_incomplete(target)
    ResultsCache(db, endpoint).invalidate(hit_ids)
    # And out of date for GNU make too: older than what they are made from.
    from mturkmake.core.run import age_incomplete

    results, approved = downstream_targets(success)
    age_incomplete(db.path.parent.parent, db, {results: (success,), approved: (results,)})


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """A batch's work as far as it is known: one entry per HIT that could be fetched.

    :param hit_ids: the batch's HITs, in ``.success`` order.
    :param entries: HIT id → what is known of it (cached or just fetched).
    :param fetched: the HITs fetched from the service by the poll that made this snapshot.
    :param failures: HIT id → the one-line error of a HIT that could not be fetched.
    """

    hit_ids: tuple[str, ...]
    entries: dict[str, Fetched] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    #: open HITs a cheap check (:meth:`Fetcher.first_open`) already found final
    seen_final: set[str] = field(default_factory=set)
    #: open HITs a cheap check found still open, and not known to have changed since
    seen_open: set[str] = field(default_factory=set)
    #: how far the cheap checks got in :attr:`open_hit_ids`: every HIT before is final now
    checked: int = 0
    #: :attr:`open_hit_ids` when the cheap checks began (the entries are complete by then)
    checking: list[str] | None = field(default=None, repr=False, compare=False)

    @property
    def final(self) -> bool:
        """Every HIT fetched and final: no more work can arrive."""
        return all(h in self.entries and self.entries[h].final for h in self.hit_ids)

    @property
    def final_hits(self) -> int:
        """How many HITs are final."""
        return sum(1 for h in self.hit_ids if h in self.entries and self.entries[h].final)

    @property
    def open_hit_ids(self) -> list[str]:
        """The HITs that are not (known to be) final, in ``.success`` order."""
        return [h for h in self.hit_ids if h not in self.entries or not self.entries[h].final]

    @property
    def done(self) -> int:
        """Assignments submitted (decided or not)."""
        return sum(len(self.entries[h].assignments) for h in self.hit_ids if h in self.entries)

    @property
    def total(self) -> int:
        """Assignments asked for (MaxAssignments summed over the known HITs)."""
        return sum(
            int(self.entries[h].hit.get("MaxAssignments") or 0)
            for h in self.hit_ids
            if h in self.entries
        )

    def unreviewed(self) -> list[Mapping[str, Any]]:
        """The batch's assignments still Submitted (they auto-approve at AutoApprovalTime)."""
        return [
            a
            for h in self.hit_ids
            if h in self.entries
            for a in self.entries[h].assignments
            if a.get("AssignmentStatus") == "Submitted"
        ]

    @property
    def earliest_auto_approval(self) -> datetime | None:
        """The earliest AutoApprovalTime of an unreviewed assignment of the batch."""
        times = [a["AutoApprovalTime"] for a in self.unreviewed() if a.get("AutoApprovalTime")]
        return min(times, default=None)

    @property
    def min_auto_approval_delay(self) -> float | None:
        """The shortest AutoApprovalDelayInSeconds among HITs that can still get work: a
        submission made later auto-approves no sooner than this after it."""
        delays = [
            float(self.entries[h].hit.get("AutoApprovalDelayInSeconds") or 0)
            for h in self.open_hit_ids
            if h in self.entries
        ]
        return min(delays, default=None)
