"""Fetching a batch's work, and the cache that makes a poll cost O(changed HITs) (DESIGN §2).

Every HIT fetched is kept in ``.mturkmake/state.db`` (table ``results_hit``) with its
assignments and whether it is *final*: Reviewable, Reviewing or Disposed with nothing pending,
i.e. every assignment submitted, or expired with no work still being done. A final HIT is
never fetched again until a command that changes it remotely (extend, update, approve,
reject, bonus, delete) calls :func:`mark_batch_changed`, which also marks the batch's
downstream targets incomplete.

A poll fetches only the HITs that are not final:

- per HIT type, ``ListReviewableHITs`` (``MaxResults`` 100, every page) tells which of them
  became reviewable, and hands over their HIT records, so no ``GetHIT`` is needed for those;
- the others get ``GetHIT``;
- each gets ``ListAssignmentsForHIT`` (``MaxResults`` 100, every page; statuses Submitted,
  Approved, Rejected), so answers arrive incrementally, before the HIT is final.

A local ``--wait`` polls with :meth:`Fetcher.refresh` instead, fetching only the HITs the
marketplace says changed, and checks with :meth:`Fetcher.first_open` (issue #17).

boto3 and botocore are not imported here: the client is handed in, and service errors are
translated by :func:`mturkmake.mturk.endpoint.service_call`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mturkmake.core.state import StateDB
from mturkmake.errors import ServiceError, UsageError
from mturkmake.formats.success import SuccessRow
from mturkmake.mturk.times import as_utc

if TYPE_CHECKING:
    from mturkmake.mturk.client import Client

__all__ = [
    "ASSIGNMENT_STATUSES",
    "FINAL_STATUSES",
    "PAGE_SIZE",
    "Fetched",
    "Fetcher",
    "ResultsCache",
    "Snapshot",
    "downstream_targets",
    "is_final",
    "mark_batch_changed",
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


def _normalise(record: Mapping[str, Any]) -> dict[str, Any]:
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


Progress = Callable[[int, int, str], None]


def _untaken(hit: Mapping[str, Any]) -> bool:
    """Every slot of the HIT is available: nothing accepted, submitted or decided."""
    slots = hit.get("MaxAssignments")
    available = hit.get("NumberOfAssignmentsAvailable")
    return slots is not None and available is not None and int(available) >= int(slots) > 0


def _every_call(error: ServiceError) -> bool:
    from mturkmake.mturk.endpoint import affects_every_call

    return affects_every_call(error)


class Fetcher:
    """Fetches HITs and their assignments through ``client``, caching them.

    :param client: a boto3 ``mturk`` client (or compatible).
    :param cache: where fetched HITs are kept; ``None`` keeps nothing.
    :param jobs: how many HITs are fetched at once (``-j``; the first alone, results in
        order: :func:`mturkmake.mturk.calls.ordered`).
    :param exact_counts: the service's HIT counts are exact (the in-process local
        marketplace): a HIT with every slot available has no work to list, so
        ``ListAssignmentsForHIT`` is skipped for it (a batch just loaded costs one call per
        HIT, not two). MTurk's counts are not promised to be, so never there.
    :param project: this project's id (``""``: it has none yet) to refuse a HIT carrying
        another mturkmake project's marker — a copied folder whose ``.success`` lists its
        origin's HITs must not fetch, and so review or pay, their work; ``None``: no check.
    :param source: the file that listed the HITs, named by that refusal.
    """

    def __init__(
        self,
        client: Client,
        cache: ResultsCache | None = None,
        *,
        policies: Mapping[str, frozenset[str]] | None = None,
        jobs: int = 1,
        exact_counts: bool = False,
        project: str | None = None,
        source: str | None = None,
    ) -> None:
        self.client = client
        self.project = project
        self.source = source
        self.cache = cache
        self.jobs = jobs
        self.exact_counts = exact_counts
        #: HIT id → the levels its review policies act at: such a HIT is final only once
        #: its policies have reported (they may still approve, reject or extend).
        self.policies = dict(policies or {})

    def _policies_done(self, hit_id: str, assignments: Sequence[Mapping[str, Any]]) -> bool:
        from mturkmake.mturk.review_policies import policies_reported

        levels = self.policies.get(hit_id)
        if not levels:
            return True
        pages: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = self._call(
                "ListReviewPolicyResultsForHIT",
                HITId=hit_id,
                PolicyLevels=sorted(levels),
                RetrieveResults=True,
                RetrieveActions=True,
                MaxResults=PAGE_SIZE,
                **extra,
            )
            pages.append(page)
            token = page.get("NextToken")
            if not token:
                return policies_reported(pages, levels, assignments)

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from mturkmake.mturk.endpoint import service_call

        return service_call(self.client, operation, **params)

    def _pages(self, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = self._call(operation, MaxResults=PAGE_SIZE, **params, **extra)
            items.extend(page.get(key) or [])
            token = page.get("NextToken")
            if not token:
                return items

    def reviewable(self, hit_type_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """HIT id → HIT record of every Reviewable HIT of these HIT types (every page)."""
        found: dict[str, dict[str, Any]] = {}
        for type_id in dict.fromkeys(t for t in hit_type_ids if t):
            for hit in self._pages("ListReviewableHITs", "HITs", HITTypeId=type_id):
                found[str(hit["HITId"])] = hit
        return found

    def fetch_hit(self, hit_id: str, hit: Mapping[str, Any] | None = None) -> Fetched:
        """One HIT (``GetHIT`` unless its record is given) and all its assignments."""
        if hit is None:
            hit = self._call("GetHIT", HITId=hit_id)["HIT"]
        record = _normalise(hit)
        if self.project is not None:
            self._refuse_foreign(hit_id, record)
        untaken = self.exact_counts and _untaken(record)
        assignments = [
            _normalise(a)
            for a in (
                []
                if untaken
                else self._pages(
                    "ListAssignmentsForHIT",
                    "Assignments",
                    HITId=hit_id,
                    AssignmentStatuses=list(ASSIGNMENT_STATUSES),
                )
            )
        ]
        # Oldest submission first, as the CLT wrote them; the id breaks ties stably.
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        assignments.sort(key=lambda a: (a.get("SubmitTime") or epoch, a["AssignmentId"]))
        final = is_final(record) and self._policies_done(hit_id, assignments)
        return Fetched(record, tuple(assignments), final)

    def _refuse_foreign(self, hit_id: str, hit: Mapping[str, Any]) -> None:
        from mturkmake.mturk.project import foreign_reason

        reason = foreign_reason(hit_id, hit, self.project or "")
        if reason:
            raise UsageError(
                f"{reason}; nothing was fetched",
                file=self.source,
                hint="this folder is a copy of that project: restore its project_id to "
                "continue it, or fetch from that project's folder",
            )

    def _types(self, rows: Sequence[SuccessRow], known: Mapping[str, Fetched]) -> list[str]:
        types: list[str] = []
        for row in rows:
            cached = known.get(row.hit_id)
            types.append(str(cached.hit.get("HITTypeId", "")) if cached else row.hit_type_id)
        return types

    def poll(
        self,
        rows: Sequence[SuccessRow],
        *,
        refresh: bool = False,
        keep_going: bool = False,
        progress: Progress | None = None,
    ) -> Snapshot:
        """Bring the batch's snapshot up to date, fetching only the HITs not final.

        :param rows: the batch's HITs (its ``.success`` rows), in order.
        :param refresh: fetch every HIT, final or not (CLT getResults: the CLT always did).
        :param keep_going: record a HIT that cannot be fetched in ``failures`` and go on;
            otherwise its :class:`ServiceError` propagates (what is fetched stays cached).
            An error every call would hit (no credentials, no connection, access denied)
            always propagates, at the first call: one line, not one per HIT.
        :param progress: called as ``progress(i, n, hit_id)`` after each HIT, ``n`` being
            the number of HITs this poll fetches.
        """
        hit_ids = tuple(dict.fromkeys(r.hit_id for r in rows))
        known = self.cache.load(hit_ids) if self.cache is not None else {}
        snapshot = Snapshot(hit_ids, dict(known))
        todo = [r for r in rows if refresh or r.hit_id not in known or not known[r.hit_id].final]
        todo = list({r.hit_id: r for r in todo}.values())
        if not todo:
            return snapshot
        try:
            listed = self.reviewable(self._types(todo, known))
        except ServiceError as error:
            if not keep_going or _every_call(error):
                raise
            listed = {}  # GetHIT for each instead; its errors are reported per HIT
        from mturkmake.mturk.calls import ordered

        def fetch(row: SuccessRow) -> Fetched:
            return self.fetch_hit(row.hit_id, listed.get(row.hit_id))

        pending: dict[str, Fetched] = {}
        try:
            for n, (row, done) in enumerate(ordered(todo, fetch, jobs=self.jobs), 1):
                try:
                    entry = done.get()
                except ServiceError as error:
                    if not keep_going or _every_call(error):
                        raise
                    snapshot.failures[row.hit_id] = error.one_line()
                    continue
                snapshot.entries[row.hit_id] = entry
                snapshot.fetched.append(row.hit_id)
                pending[row.hit_id] = entry
                if len(pending) >= STORE_EVERY:
                    self._store(pending)
                if progress is not None:
                    progress(n, len(todo), row.hit_id)
        finally:  # an interrupted poll keeps what it fetched
            self._store(pending)
        return snapshot

    def _store(self, pending: dict[str, Fetched]) -> None:
        """Cache the fetched entries (one transaction: a durable commit each) and forget them."""
        if self.cache is not None and pending:
            self.cache.store(pending)
        pending.clear()

    def all_final_now(self, snapshot: Snapshot) -> bool:
        """Whether every HIT not final in ``snapshot`` is final now: a cheap check that a
        full poll would find the batch final (:meth:`first_open` knowing of no change)."""
        return self.first_open(snapshot) is None

    def first_open(self, snapshot: Snapshot, changed: AbstractSet[str] | None = None) -> str | None:
        """The first HIT not final in ``snapshot`` that is still open now, or ``None`` when
        every one of them is final now: a cheap check that a full poll would find the batch
        final.

        ``GetHIT`` on the open HITs in order, stopping at the first still open; HITs found
        final are remembered in the snapshot, so repeated checks cost about one call each.

        :param changed: the HITs that changed since the last check (the local marketplace
            knows): a HIT found open then and not changed since is still open, without a
            call. ``None``: unknown, every HIT not yet found final is asked.
        """
        if changed is None:
            snapshot.seen_open.clear()
        else:
            snapshot.seen_open -= changed
        if snapshot.checking is None:
            snapshot.checking = snapshot.open_hit_ids
        open_ids = snapshot.checking
        while snapshot.checked < len(open_ids):
            hit_id = open_ids[snapshot.checked]
            if hit_id in snapshot.seen_open:
                return hit_id
            if hit_id not in snapshot.seen_final:
                if hit_id in self.policies:  # the cheap check cannot see the policies' reports
                    final = self.fetch_hit(hit_id).final
                else:
                    final = is_final(self._call("GetHIT", HITId=hit_id)["HIT"])
                if not final:
                    snapshot.seen_open.add(hit_id)
                    return hit_id
                snapshot.seen_final.add(hit_id)
            snapshot.checked += 1
        return None

    def refresh(
        self, snapshot: Snapshot, rows: Sequence[SuccessRow], changed: AbstractSet[str]
    ) -> Snapshot:
        """``snapshot`` brought up to date when only the HITs of ``changed`` may have
        changed since it was made (the local marketplace knows which): fetches those not
        final (and any never fetched), carries the others' entries over; the same snapshot
        as :meth:`poll` would make, for O(changed HITs) calls.

        ``GetHIT`` for each, not ``ListReviewableHITs``: its pages list every reviewable
        HIT of the type, changed or not. Errors propagate as :meth:`poll`'s do.
        """
        fresh = Snapshot(snapshot.hit_ids, dict(snapshot.entries))
        todo = list(
            {
                r.hit_id: r
                for r in rows
                if r.hit_id not in snapshot.entries
                or (r.hit_id in changed and not snapshot.entries[r.hit_id].final)
            }.values()
        )
        from mturkmake.mturk.calls import ordered

        pending: dict[str, Fetched] = {}
        try:
            for row, done in ordered(todo, lambda r: self.fetch_hit(r.hit_id), jobs=self.jobs):
                entry = done.get()
                fresh.entries[row.hit_id] = entry
                fresh.fetched.append(row.hit_id)
                pending[row.hit_id] = entry
                if len(pending) >= STORE_EVERY:
                    self._store(pending)
        finally:
            self._store(pending)
        return fresh
