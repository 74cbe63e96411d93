"""The simulated crowd: seeded, deterministic workers who find, accept, work and submit HITs.

Workers are sequential agents: a free worker accepts the oldest open HIT it qualifies for (one
assignment per worker per HIT), works 10–15 virtual seconds (divided by ``local.speed`` and
its own pace, 0.75–1.25), submits a valid answer (:mod:`mturkmake.marketplace.answering`),
rests 1–2 seconds and looks again — about 5,000 assignments per virtual hour for the default
20 workers (DESIGN §7 asks ≥ 1,000; 1,000 HITs × 3 finish in about 35 virtual minutes).
Some assignments are returned early (``return_rate``, default 2 %: the slot is free at once)
or left to pass their deadline (``abandon_rate``, default 1 %: the slot is free at the deadline;
the worker moves on to other HITs meanwhile); planted workers always submit. A worker who
misses only a requestable qualification with a test or auto-grant requests it, answering the
test per its accuracy; the retry delay is honoured (the worker wakes when it has passed).

Planted workers (``local.planted``) may claim a ``share`` of the HITs: the rest of the crowd
leaves one slot of a claimed HIT to them. Every choice derives from (seed, HITId, WorkerId),
never from call order. The marketplace's clock calls :meth:`Crowd.next_event` and
:meth:`Crowd.play` in time order.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mturkmake.marketplace import assignments, hits, ids
from mturkmake.marketplace.answering import AnswerFn, CrowdWorker, answer_xml
from mturkmake.marketplace.crowd_settings import CrowdSettings, locale_value
from mturkmake.marketplace.eligibility import meets, qualifies, request_missing
from mturkmake.marketplace.pages import PageReader
from mturkmake.marketplace.qualifications import (
    ADULT,
    CLT_SAMPLE_TYPES,
    LOCALE,
    MASTERS_SANDBOX,
    NUMBER_HITS_APPROVED,
    PERCENT_APPROVED,
    grant,
)
from mturkmake.marketplace.store import Tx, dumps, loads

__all__ = [
    "KINDS",
    "AnswerFn",
    "Crowd",
    "CrowdWorker",
    "Event",
    "fingerprint",
    "initialise",
    "meets",
    "profile",
]

#: Event kinds, in the order they play when due at the same instant ("wake": a worker's
#: qualification retry delay has passed).
KINDS = ("submit", "abandon", "approve", "expire", "wake", "accept")
WORK_SECONDS = (10.0, 15.0)  # base work time, from-to, divided by the speeds
REST_SECONDS = (1.0, 2.0)  # the pause before looking for the next HIT


@dataclass(frozen=True)
class Event:
    """One due event: when, what, and on which subject (assignment, HIT or worker id)."""

    time: float
    kind: str
    subject: str
    detail: str = ""

    @property
    def order(self) -> tuple[float, int, str]:
        """Sort key: time, then kind priority, then subject (deterministic ties)."""
        return (self.time, KINDS.index(self.kind), self.subject)


# ----------------------------------------------------------------------------- the workers


def _span(low: float, high: float, fraction: float) -> float:
    return low + (high - low) * fraction


def profile(seed: int, index: int, settings: CrowdSettings | None = None) -> dict[str, Any]:
    """A generated worker's stored profile: accuracy, pace and system qualification values."""
    settings = settings or CrowdSettings()
    worker = ids.worker_id(seed, index)

    def pick(label: str) -> float:
        return ids.fraction(seed, worker, label)

    rate_low, rate_high = settings.approval_rate
    done_low, done_high = settings.hits_approved
    system: dict[str, Any] = {
        NUMBER_HITS_APPROVED: int(_span(done_low, done_high, pick("approved"))),
        # dealt round-robin: every listed locale has workers once there are enough of them
        LOCALE: locale_value(settings.locales[index % len(settings.locales)]),
        ADULT: 1,
        PERCENT_APPROVED: min(rate_high, rate_low + int((rate_high - rate_low + 1) * pick("rate"))),
    }
    if pick("masters") < settings.masters:
        system[MASTERS_SANDBOX] = 1
    return {
        "accuracy": round(_span(*settings.accuracy, pick("accuracy")), 3),
        "pace": round(0.75 + 0.5 * pick("pace"), 3),
        "share": None,
        "system": system,
    }


def initialise(tx: Tx, workers: int, start: float, settings: CrowdSettings | None = None) -> None:
    """Create the crowd: ``workers`` generated workers (three in four hold the CLT samples'
    qualifications at 100), then the planted ones (who all do).

    On an existing crowd (the settings changed since), new workers join, known ones get their
    new profile (keeping their work and clock), and nobody leaves: their work stays on record.
    """
    settings = settings or CrowdSettings()
    known = {r["id"] for r in tx.all("SELECT id FROM workers")}
    for index in range(workers):
        worker = ids.worker_id(tx.seed, index)
        _put(tx, worker, index, start, profile(tx.seed, index, settings), known=known)
        if worker not in known and ids.fraction(tx.seed, worker, "clt-sample") < 0.75:
            for type_id in CLT_SAMPLE_TYPES:
                grant(tx, type_id, worker, 100)
    for offset, planted in enumerate(settings.planted):
        system: dict[str, Any] = {
            NUMBER_HITS_APPROVED: planted.hits_approved,
            LOCALE: locale_value(planted.locale),
            ADULT: 1,
            PERCENT_APPROVED: planted.approval_rate,
        }
        if planted.masters:
            system[MASTERS_SANDBOX] = 1
        prof = {
            "accuracy": planted.accuracy,
            "pace": planted.speed,
            "share": planted.share,
            "system": system,
            "planted": True,
        }
        _put(tx, planted.id, workers + offset, start, prof, known=known)
        held = {
            r["type_id"]
            for r in tx.all("SELECT type_id FROM quals WHERE worker_id = ?", (planted.id,))
        }
        for type_id, value in {
            **dict.fromkeys(CLT_SAMPLE_TYPES, 100),
            **planted.qualifications,
        }.items():
            if type_id not in held:  # never overwrite what the requester granted since
                grant(tx, type_id, planted.id, value)


def _put(
    tx: Tx, worker: str, index: int, start: float, prof: Mapping[str, Any], *, known: set[str]
) -> None:
    if worker in known:
        tx.conn.execute(
            "UPDATE workers SET idx = ?, profile = ? WHERE id = ?", (index, dumps(prof), worker)
        )
    else:
        tx.conn.execute(
            "INSERT INTO workers (id, idx, free_at, profile) VALUES (?, ?, ?, ?)",
            (worker, index, start, dumps(prof)),
        )


def fingerprint(workers: int, settings: CrowdSettings) -> str:
    """What the stored crowd was made from: a changed one makes the marketplace update it."""
    return dumps({"workers": workers, "crowd": dataclasses.asdict(settings)})


# ----------------------------------------------------------------------------- the crowd


@functools.lru_cache(maxsize=65536)
def _claims(seed: int, hit_id: str, worker: str, share: float) -> bool:
    """Whether a planted worker with ``share`` claims a slot of ``hit_id`` (cached: the crowd
    asks on every look for work)."""
    return ids.fraction(seed, hit_id, worker, "claim") < share


class Crowd:
    """The crowd's behaviour under ``settings``; workers' profiles live in the store.

    :param base: where relative ``local.external_pages`` paths start (the project root).
    """

    def __init__(self, settings: CrowdSettings | None = None, base: Path | None = None) -> None:
        self.settings = settings or CrowdSettings()
        self.pages = PageReader(
            self.settings.external_pages, base, fetch_remote=self.settings.fetch_external_pages
        )
        self._profiles: dict[str, dict[str, Any]] = {}
        #: The profiles the last next_event read (worker id → stored text), for play.
        self._seen_profiles: dict[str, str] = {}

    def _parsed(self, text: str) -> dict[str, Any]:
        """A stored profile, parsed once per text (every event reads the whole crowd's)."""
        found = self._profiles.get(text)
        if found is None:
            found = self._profiles[text] = loads(text)
        return found

    # -- finding work

    def find_hit(
        self,
        tx: Tx,
        worker: str,
        prof: Mapping[str, Any],
        when: float,
        sharers: Sequence[tuple[str, Mapping[str, Any]]],
    ) -> tuple[str | None, float | None]:
        """The oldest open HIT ``worker`` qualifies for and has not worked on, at ``when``;
        else (None, when a qualification retry delay ends, if that is all that stops it)."""
        rows = tx.conn.execute(
            "SELECT h.id, h.hit_type_id, h.max_assignments FROM hits h WHERE h.deleted = 0 "
            # '+' keeps SQLite on the (deleted, expired, full, created, id) index: only HITs
            # with open slots, oldest first, no sort
            "AND h.expired = 0 AND h.full = 0 AND +h.expiration > ? "
            "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.hit_id = h.id AND "
            "a.worker_id = ?) AND h.max_assignments > (SELECT COUNT(*) FROM assignments a "
            "WHERE a.hit_id = h.id AND a.state IN ('Accepted', 'Submitted', 'Approved', "
            "'Rejected')) ORDER BY h.created, h.id",
            (when, worker),
        )
        verdicts: dict[tuple[str, str], bool] = {}
        share = prof.get("share")
        wake: float | None = None

        def requirements(type_id: str) -> list[Mapping[str, Any]]:
            text = hits.props_text(tx, type_id)
            return list(
                (hits.parsed_props(text) if text else {}).get("QualificationRequirements") or []
            )

        for row in rows:
            hit_id, type_id = row["id"], row["hit_type_id"]
            if share is not None and not _claims(tx.seed, hit_id, worker, float(share)):
                continue  # a worker with a share works only on the HITs it claims
            if (worker, type_id) not in verdicts:
                reqs = requirements(type_id)
                ok = qualifies(tx, worker, prof, reqs)
                if not ok:
                    asked, retry = request_missing(tx, worker, prof, reqs)
                    # a test takes time: the worker comes back when it is submitted (retry)
                    taking_test = asked and retry is not None
                    ok = asked and not taking_test and qualifies(tx, worker, prof, reqs)
                    if asked and not ok and not taking_test:  # failed: when to retake?
                        retry = request_missing(tx, worker, prof, reqs)[1]
                    if retry is not None:
                        wake = retry if wake is None else min(wake, retry)
                verdicts[(worker, type_id)] = ok
            if not verdicts[(worker, type_id)]:
                continue
            # a slot is open; planted sharers who claim this HIT may be owed some of them
            if (
                share is None
                and sharers
                and self._reserved_all(
                    tx,
                    hit_id,
                    type_id,
                    worker,
                    int(row["max_assignments"]),
                    sharers=sharers,
                    verdicts=verdicts,
                    requirements=requirements,
                )
            ):
                continue  # the last slots wait for the planted workers who claim them
            rows.close()
            return str(hit_id), None
        return None, wake

    def _reserved_all(
        self,
        tx: Tx,
        hit_id: str,
        type_id: str,
        worker: str,
        slots: int,
        *,
        sharers: Sequence[tuple[str, Mapping[str, Any]]],
        verdicts: dict[tuple[str, str], bool],
        requirements: Callable[[str], list[Mapping[str, Any]]],
    ) -> bool:
        """Whether every open slot of ``hit_id`` is owed to planted workers who claim it,
        qualify, and have not taken it yet."""
        claimants = [
            (s, p)
            for s, p in sharers
            if s != worker and _claims(tx.seed, hit_id, s, float(p["share"]))
        ]
        if not claimants:
            return False
        rows = tx.all("SELECT worker_id, state FROM assignments WHERE hit_id = ?", (hit_id,))
        taken = sum(r["state"] in ("Accepted", "Submitted", "Approved", "Rejected") for r in rows)
        tried = {r["worker_id"] for r in rows}
        owed = 0
        for sharer, prof in claimants:
            if (sharer, type_id) not in verdicts:
                verdicts[(sharer, type_id)] = qualifies(tx, sharer, prof, requirements(type_id))
            if verdicts[(sharer, type_id)] and sharer not in tried:
                owed += 1
        return slots - taken <= owed

    def next_event(self, tx: Tx, idle: set[str]) -> Event | None:
        """The earliest due event (at or after the clock ``tx.now``); workers in ``idle`` found
        nothing to do since the last change that could give them work."""
        # One statement for the four lifecycle events: each part is an index seek.
        found = [
            Event(r["time"], r["kind"], r["id"])
            for r in tx.all(
                "SELECT * FROM (SELECT 'submit' AS kind, id, planned_submit AS time "
                "FROM assignments "
                "WHERE state = 'Accepted' AND planned_submit IS NOT NULL "
                "ORDER BY planned_submit, id LIMIT 1) UNION ALL "
                "SELECT * FROM (SELECT 'abandon', id, deadline FROM assignments WHERE state = "
                "'Accepted' AND planned_submit IS NULL ORDER BY deadline, id LIMIT 1) UNION ALL "
                "SELECT * FROM (SELECT 'approve', id, auto_approval_time FROM assignments WHERE "
                "state = 'Submitted' ORDER BY auto_approval_time, id LIMIT 1) UNION ALL "
                "SELECT * FROM (SELECT 'expire', id, expiration FROM hits WHERE deleted = 0 AND "
                "expired = 0 ORDER BY expiration, id LIMIT 1)"
            )
        ]
        horizon = min((e.time for e in found), default=float("inf"))
        crowd = tx.all(
            "SELECT w.id, w.free_at, w.profile, "
            "EXISTS (SELECT 1 FROM blocks b WHERE b.worker_id = w.id) AS blocked, "
            # still working (free_at is normally past the submission already)
            "EXISTS (SELECT 1 FROM assignments a WHERE a.worker_id = w.id AND a.state = "
            "'Accepted' AND a.planned_submit IS NOT NULL) AS busy "
            "FROM workers w ORDER BY MAX(w.free_at, ?), w.id",
            (tx.now,),
        )
        self._seen_profiles = {w["id"]: w["profile"] for w in crowd}
        # Workers with a share (planted): the rest leave their claimed slots to them. Parsing
        # only the profiles that can hold a share keeps this cheap on every event.
        sharers = [
            (w["id"], prof)
            for w in crowd
            if not w["blocked"]
            and '"share":null' not in w["profile"]
            and (prof := self._parsed(w["profile"])).get("share") is not None
        ]
        for worker in crowd:
            when = max(float(worker["free_at"]), tx.now)
            if when > horizon:
                break  # every later worker acts after an earlier event, which may change things
            if worker["id"] in idle or worker["blocked"] or worker["busy"]:
                continue
            hit, wake = self.find_hit(
                tx, worker["id"], self._parsed(worker["profile"]), when, sharers
            )
            if hit is not None:
                found.append(Event(when, "accept", worker["id"], hit))
                break
            if wake is None:
                idle.add(worker["id"])
            else:  # not idle: the worker looks again when its retry delay ends
                found.append(Event(wake, "wake", worker["id"]))
                horizon = min(horizon, wake)
        return min(found, key=lambda e: e.order) if found else None

    # -- playing events

    def _pace(self, prof: Mapping[str, Any]) -> float:
        return self.settings.speed * float(prof.get("pace", 1.0))

    def _fate(self, seed: int, hit_id: str, worker: str, prof: Mapping[str, Any]) -> str:
        """``submit``, ``return`` or ``abandon``: what becomes of this worker's assignment.

        Planted workers always submit: tests and rehearsals plant them to do given work.
        """
        if prof.get("planted"):
            return "submit"
        draw = ids.fraction(seed, hit_id, worker, "fate")
        if draw < self.settings.return_rate:
            return "return"
        if draw < self.settings.return_rate + self.settings.abandon_rate:
            return "abandon"
        return "submit"

    def play(self, tx: Tx, event: Event, idle: set[str], answer_fn: AnswerFn | None) -> None:
        """Apply ``event`` (``tx.now`` is already its time)."""
        seed = tx.seed
        if event.kind == "expire":
            hits.expire(tx, hits.load_hit(tx, event.subject))
            return
        if event.kind == "wake":
            idle.discard(event.subject)
            return
        if event.kind == "accept":
            self._accept(tx, event.detail, event.subject)
            return
        row = tx.one("SELECT * FROM assignments WHERE id = ?", (event.subject,))
        assert row is not None  # next_event just found it in this transaction
        if event.kind == "approve":
            assignments.auto_approve(tx, row)
            return
        prof = self._profile(tx, row["worker_id"])
        if event.kind == "abandon":  # the worker already moved on; only the slot comes back
            assignments.abandon(tx, row)
            idle.clear()
            return
        rest = _span(*REST_SECONDS, ids.fraction(seed, row["hit_id"], row["worker_id"], "rest"))
        tx.conn.execute(
            "UPDATE workers SET free_at = ? WHERE id = ?",
            (tx.now + rest / self._pace(prof), row["worker_id"]),
        )
        if self._fate(seed, row["hit_id"], row["worker_id"], prof) == "return":
            assignments.abandon(tx, row, "Returned")
            idle.clear()  # a slot opened again
            return
        hit = hits.load_hit(tx, str(row["hit_id"]))
        hit_id, question = hit.id, hit.question or ""
        found = tx.one("SELECT truth FROM truths WHERE hit_id = ?", (hit_id,))
        truth = loads(found["truth"]) if found and found["truth"] else None
        # Only answer functions see a worker's qualifications: read them only for one.
        worker = (
            self._worker(tx, row["worker_id"], prof)
            if answer_fn is not None
            else CrowdWorker(row["worker_id"], float(prof.get("accuracy", 0.9)))
        )
        assignments.submit(
            tx,
            row,
            answer_xml(
                seed,
                hit_id,
                question,
                worker,
                truth=truth,
                answer_fn=answer_fn,
                fields_of=self.pages,
                fallback_fields=self.settings.external_fields,
            ),
            hit=hit,
        )

    def _accept(self, tx: Tx, hit_id: str, worker: str) -> None:
        hit = hits.load_hit(tx, hit_id)
        prof = self._profile(tx, worker)
        work = _span(*WORK_SECONDS, ids.fraction(tx.seed, hit.id, worker, "work"))
        work /= self._pace(prof)
        fate = self._fate(tx.seed, hit.id, worker, prof)
        if fate == "return":  # gives up part-way through
            work *= 0.2 + 0.6 * ids.fraction(tx.seed, hit.id, worker, "return")
        assignment_id = assignments.accept(tx, hit, worker, work)
        if fate == "abandon":
            # Never submitted: the deadline event frees the slot; the worker, who forgot the
            # tab, is free for other HITs after the time it would have worked.
            tx.conn.execute(
                "UPDATE assignments SET planned_submit = NULL WHERE id = ?", (assignment_id,)
            )
            tx.conn.execute("UPDATE workers SET free_at = ? WHERE id = ?", (tx.now + work, worker))
            return
        # Busy until the planned submission; the submit event then sets the rest period.
        tx.conn.execute(
            "UPDATE workers SET free_at = (SELECT planned_submit FROM assignments "
            "WHERE id = ?) WHERE id = ?",
            (assignment_id, worker),
        )

    def _profile(self, tx: Tx, worker: str) -> dict[str, Any]:
        # next_event has just read every profile in this transaction (play follows it)
        text = self._seen_profiles.get(worker)
        if text is None:
            row = tx.one("SELECT profile FROM workers WHERE id = ?", (worker,))
            if row is None:
                return {"accuracy": 0.9, "system": {}}
            text = row["profile"]
        return self._parsed(text)

    @staticmethod
    def _worker(tx: Tx, worker: str, prof: Mapping[str, Any]) -> CrowdWorker:
        quals: dict[str, object] = dict(prof.get("system", {}))
        for qual in tx.all(
            "SELECT type_id, value FROM quals WHERE worker_id = ? AND status = 'Granted'", (worker,)
        ):
            quals[qual["type_id"]] = qual["value"]
        return CrowdWorker(worker, float(prof.get("accuracy", 0.9)), quals)
