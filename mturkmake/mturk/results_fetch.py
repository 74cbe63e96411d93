"""Fetching a batch's work through the API into the results cache (DESIGN §2, issue #17).

A poll (:meth:`Fetcher.poll`) fetches only the HITs that are not final:

- per HIT type, ``ListReviewableHITs`` (``MaxResults`` 100, every page) tells which of them
  became reviewable, and hands over their HIT records, so no ``GetHIT`` is needed for those;
- the others get ``GetHIT``;
- each gets ``ListAssignmentsForHIT`` (``MaxResults`` 100, every page; statuses Submitted,
  Approved, Rejected), so answers arrive incrementally, before the HIT is final.

A local ``--wait`` polls with :meth:`Fetcher.refresh` instead, fetching only the HITs the
marketplace says changed, and checks with :meth:`Fetcher.first_open`. What is fetched is kept
in :class:`~mturkmake.mturk.results_cache.ResultsCache`; a poll's result is a
:class:`~mturkmake.mturk.results_cache.Snapshot`.

boto3 and botocore are not imported here: the client is handed in, and service errors are
translated by :func:`mturkmake.mturk.endpoint.service_call`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ServiceError, UsageError
from mturkmake.formats.success import SuccessRow
from mturkmake.mturk.results_cache import (
    ASSIGNMENT_STATUSES,
    PAGE_SIZE,
    STORE_EVERY,
    Fetched,
    ResultsCache,
    Snapshot,
    is_final,
    normalise,
)

if TYPE_CHECKING:
    from mturkmake.mturk.client import Client

__all__ = ["Fetcher", "Progress"]

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
        record = normalise(hit)
        if self.project is not None:
            self._refuse_foreign(hit_id, record)
        untaken = self.exact_counts and _untaken(record)
        assignments = [
            normalise(a)
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
