"""Deciding an assignment exactly once, through the ledger (DESIGN §3, §5).

Shared by the ``%.approved`` rule and the CLT commands approveWork, rejectWork, reviewResults
and ``unreject``. Every approval or rejection is one ledger intent (``ApproveAssignment`` or
``RejectAssignment``, subject = the assignment id) recorded before the call and resolved
after; a pending one is resolved by :meth:`~mturkmake.mturk.ledger.Ledger.recover` (lookup by
GetAssignment, never a second call). Before an intent is recorded, :class:`Decider` checks
that *no* decision of either kind exists for the assignment on this endpoint, in any batch,
and asks MTurk for the assignment's status: work that was auto-approved or decided on the
requester site is *adopted* into the ledger as such, never decided again. Work this project
fetched as Submitted (the results cache, :class:`Cached`) is decided without that
GetAssignment; if MTurk then refuses the call, it had no effect, and the assignment is asked
for and decided as without the cache (issue #17).

Intent parameters carry notes for the ``.approved`` projection (``_`` keys are never sent):
``_HITId``, ``_WorkerId``, ``_Evaluator`` and, for rejections of work whose HIT committed
exposure, ``_ShareCents`` — the reward and fee MTurk releases, which the ledger releases too
(:func:`release_rejections`, idempotent, so a crash between the call and the release heals on
the next run).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from mturkmake import fees
from mturkmake.errors import LedgerError, ServiceError
from mturkmake.mturk.batch import CREATE_OPERATION, ROW_NOTE
from mturkmake.mturk.decision_records import (
    APPROVE_OPERATION,
    REJECT_OPERATION,
    AssignmentDecision,
    outside_batch,
    read_decisions,
)
from mturkmake.mturk.endpoint import affects_every_call, ledger_call, service_call
from mturkmake.mturk.evaluation import DEFAULT_REJECT_FEEDBACK, MAX_FEEDBACK_CHARS
from mturkmake.mturk.exposure import to_cents
from mturkmake.mturk.ledger import Intent, Ledger
from mturkmake.mturk.ledger_model import OutcomeStatus
from mturkmake.mturk.times import as_utc

if TYPE_CHECKING:
    from mturkmake.hookspecs import Context

__all__ = [
    "APPROVE_OPERATION",
    "OVERRIDE_WINDOW",
    "REJECT_OPERATION",
    "AssignmentDecision",
    "Cached",
    "Decider",
    "Order",
    "Result",
    "assignment_price",
    "open_decider",
    "outside_batch",
    "read_decisions",
    "release_rejections",
]

#: MTurk lets a rejection be overridden only within 30 days of the submission.
OVERRIDE_WINDOW = timedelta(days=30)
#: Work whose AutoApprovalTime is nearer than this is asked for (GetAssignment) before it is
#: decided even when the results cache holds it as Submitted (clock skew, a long run).
CACHE_MARGIN = timedelta(minutes=10)
#: Seconds (monotonic) a reading of the endpoint's clock is reused for that check.
CLOCK_REUSE = 30.0
#: The evaluator recorded for work MTurk approved when its AutoApprovalTime passed.
AUTO_APPROVED = "auto-approved"
#: The evaluator recorded for work decided on the requester site or by another tool.
OUTSIDE = "outside mturkmake"
_MASTERS_IDS = frozenset({"2F1QJWKUDD8XADTFD2Q0G6UTO95ALH", "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6"})
_PAST = {"approve": "approved", "reject": "rejected"}


def assignment_price(hit: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    """The reward and MTurk's fee for one assignment of ``hit`` (a GetHIT/GetAssignment
    HIT record), with the large-batch and Masters rates as the HIT has them."""
    reward = fees.to_money(str(hit.get("Reward", "0")))
    masters = any(
        r.get("QualificationTypeId") in _MASTERS_IDS
        for r in hit.get("QualificationRequirements") or []
    )
    maximum = int(hit.get("MaxAssignments", 1) or 1)
    return reward, fees.assignment_fee(reward, max_assignments=maximum, masters=masters)


def release_rejections(ledger: Ledger) -> int:
    """Release the exposure of every done rejection not released yet; returns how many.

    Idempotent: each release names its intent, so a crash between a rejection and its
    release is healed by the next run, and nothing is released twice.
    """
    released = 0
    for record in ledger.unreleased(REJECT_OPERATION):
        cents = int(record.params.get("_ShareCents", 0))
        if cents > 0 and ledger.exposure.release_once(
            record.intent_id, record.batch, cents, "release rejected assignment"
        ):
            released += 1
    return released


@dataclass(frozen=True)
class Cached:
    """An assignment as this project last fetched it from MTurk, with its HIT record (the
    results cache, :meth:`~mturkmake.mturk.results_cache.ResultsCache.assignments_of`):
    what :meth:`Decider.decide` otherwise asks GetAssignment for."""

    assignment: Mapping[str, Any]
    hit: Mapping[str, Any]


@dataclass(frozen=True)
class Order:
    """One decision to make.

    :param decision: ``approve`` or ``reject``.
    :param feedback: what the worker sees; a rejection without one gets
        :data:`~mturkmake.mturk.evaluation.DEFAULT_REJECT_FEEDBACK`.
    :param evaluator: who decided (an evaluator name, or the CLT command).
    :param batch: the ledger batch; ``None`` finds it from the HIT (CLT mode).
    :param override: approve a rejected assignment (``unreject``).
    :param invent_feedback: give a rejection without feedback the default text; ``False``
        sends it empty, as the CLT's rejectWork did without a comment (seed 003).
    :param cached: the assignment and its HIT as this project fetched them (never a
        user-editable file): when it was Submitted, the decision is sent without asking
        GetAssignment first (issue #17); a refusal is then looked at as without it.
    """

    assignment_id: str
    decision: Literal["approve", "reject"]
    feedback: str = ""
    evaluator: str = ""
    batch: str | None = None
    override: bool = False
    invent_feedback: bool = True
    cached: Cached | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Result:
    """What became of an :class:`Order`.

    :param outcome: ``approved``/``rejected`` (this call did it), ``skipped`` (already so),
        ``failed`` (refused, or contrary to an earlier decision), ``pending`` (the call's
        outcome is unknown; the next run resolves it).
    :param message: why, for ``skipped``/``failed``/``pending``.
    :param feedback: the feedback sent.
    """

    assignment_id: str
    outcome: str
    hit_id: str = ""
    worker_id: str = ""
    message: str = ""
    feedback: str = ""

    @property
    def ok(self) -> bool:
        """Whether the assignment now has the decision asked for."""
        return self.outcome in ("approved", "rejected", "skipped")


class _Refused(Exception):
    """MTurk refused a decision sent on the results cache's record of the assignment."""


def _feedback(text: str, decision: str) -> str:
    text = text.strip()
    if decision == "reject" and not text:
        text = DEFAULT_REJECT_FEEDBACK
    return text[:MAX_FEEDBACK_CHARS]


def _utc(value: Any) -> datetime | None:
    return None if value is None else as_utc(value)


class Decider:
    """Decides assignments once each, with one run's ledger and client; :meth:`decide` may
    run on several threads at once (:func:`~mturkmake.mturk.decide_many.decide_all`).

    Call :meth:`~mturkmake.mturk.ledger.Ledger.recover` on the ledger first.
    """

    def __init__(self, ledger: Ledger, client: Any) -> None:
        self.ledger = ledger
        self.client = client
        # Guards the HIT → batch cache (filled once, by whichever thread asks first) and
        # ``changed``; the ledger and the client are safe to share between threads.
        self._lock = threading.Lock()
        self._hit_batches: dict[str, tuple[str, int]] | None = None
        self._success: dict[str, str] = {}
        self._clock_read: tuple[float, datetime] | None = None
        #: HITs whose assignments this run decided (their targets become incomplete).
        self.changed: set[str] = set()
        #: the budget an override approval's exposure is checked against (``unreject``).
        self.budget: Decimal | None = None

    # -- lookups --------------------------------------------------------------------------

    def existing(self, ids: Collection[str] | None = None) -> dict[str, AssignmentDecision]:
        """The ledger's decisions on this endpoint (:func:`read_decisions`)."""
        return read_decisions(self.ledger.db.connection(), self.ledger.endpoint, ids)

    def batch_of(self, hit_id: str) -> tuple[str, int]:
        """The batch whose ledger created ``hit_id`` and the exposure it committed in cents;
        :func:`outside_batch` and 0 for a HIT no mturkmake batch created."""
        with self._lock:
            if self._hit_batches is None:
                found: dict[str, tuple[str, int]] = {}
                for record in self.ledger.records([CREATE_OPERATION]):
                    remote = record.remote_id
                    if not remote:
                        continue
                    row = record.result.get("row") or record.params.get(ROW_NOTE) or {}
                    found[remote] = (record.batch, record.exposure_cents)
                    if row.get("success"):
                        self._success[remote] = str(row["success"])
                self._hit_batches = found
            return self._hit_batches.get(hit_id, (outside_batch(self.ledger.endpoint), 0))

    def mark_changed(self) -> None:
        """Mark the ``.results``/``.approved`` of every batch this run decided in incomplete:
        their statuses changed remotely (DESIGN §2)."""
        from mturkmake.mturk.results_cache import mark_batch_changed

        by_success: dict[str, set[str]] = {}
        with self._lock:
            changed = sorted(self.changed)
        for hit_id in changed:
            self.batch_of(hit_id)
            success = self._success.get(hit_id)
            if success:
                by_success.setdefault(success, set()).add(hit_id)
        for success, hits in sorted(by_success.items()):
            mark_batch_changed(self.ledger.db, self.ledger.endpoint, success, sorted(hits))

    def now(self) -> datetime:
        """The endpoint's clock."""
        return self.ledger.clock()

    def _recent_now(self) -> datetime:
        """The endpoint's clock as read at most :data:`CLOCK_REUSE` seconds ago: the local
        marketplace's is a database read, too dear once per decision, and
        :data:`CACHE_MARGIN` is far wider."""
        with self._lock:
            if self._clock_read is not None:
                read_at, now = self._clock_read
                if time.monotonic() - read_at < CLOCK_REUSE:
                    return now + timedelta(seconds=time.monotonic() - read_at)
        now = as_utc(self.now())
        with self._lock:
            self._clock_read = (time.monotonic(), now)
        return now

    # -- deciding -------------------------------------------------------------------------

    def decide(self, order: Order, *, release: bool = True) -> Result:
        """Approve or reject one assignment unless it is decided already.

        Never raises for one assignment's trouble (a CLT command goes on with the others);
        the :class:`Result` says what happened. An error every call would hit (no
        credentials, no connection, access denied:
        :func:`~mturkmake.mturk.endpoint.affects_every_call`) is no one assignment's
        trouble: it raises, so the loop stops at the first call with one line.

        :param release: release a rejection's exposure at once (:func:`release_rejections`);
            ``decide_all`` (:mod:`.decide_many`) releases them all after its calls instead.
        :raises ServiceError: an error every other decision would hit too.
        """
        aid = order.assignment_id
        wanted = _PAST[order.decision]
        known = self.existing([aid]).get(aid)
        if known is not None and not (order.override and known.decision == "rejected"):
            return self._against_known(order, known, wanted)
        cached = self._usable(order)
        if cached is not None:
            try:
                return self._send(
                    order, cached.assignment, cached.hit, release=release, shortcut=True
                )
            except _Refused:
                pass
            # MTurk refused the call, so it had no effect (its intent is archived as failed):
            # the assignment may have been decided meanwhile (auto-approval, the requester
            # site). Looked at as without the cache, the outcome is what it would have been;
            # the refusal's outcome is written first, so the ledger does not take it for a
            # call still in flight.
            self.ledger.flush()
        try:
            reply = service_call(self.client, "GetAssignment", AssignmentId=aid)
        except ServiceError as error:
            if affects_every_call(error):
                raise
            return Result(aid, "failed", message=error.message)
        return self._send(order, reply["Assignment"], reply.get("HIT", {}), release=release)

    def _usable(self, order: Order) -> Cached | None:
        """``order.cached`` when it spares the GetAssignment: a Submitted assignment (not an
        override, which needs a Rejected one) that MTurk does not approve within
        :data:`CACHE_MARGIN`, of a HIT of this project or no project."""
        cached = order.cached
        if cached is None or order.override:
            return None
        assignment = cached.assignment
        if str(assignment.get("AssignmentId", "")) != order.assignment_id:
            return None
        if str(assignment.get("AssignmentStatus", "")) != "Submitted":
            return None
        auto = _utc(assignment.get("AutoApprovalTime"))
        if auto is None or auto <= self._recent_now() + CACHE_MARGIN:
            # MTurk approves it then, if not already: ask, rather than send a call whose
            # refusal after a throttled retry would be ambiguous (it stays pending, and the
            # recovery would take MTurk's approval for ours).
            return None
        if self._foreign(str(assignment.get("HITId", "")), cached.hit):
            return None  # GetAssignment's record says so, as without the cache
        return cached

    def _send(
        self,
        order: Order,
        assignment: Mapping[str, Any],
        hit: Mapping[str, Any],
        *,
        release: bool,
        shortcut: bool = False,
    ) -> Result:
        """Decide ``order`` on what is known of its assignment and HIT (GetAssignment's
        reply, or with ``shortcut`` the results cache's).

        :raises _Refused: with ``shortcut``, MTurk refused the call (the caller asks
            GetAssignment and decides again).
        """
        aid, wanted = order.assignment_id, _PAST[order.decision]
        hit_id, worker = str(assignment.get("HITId", "")), str(assignment.get("WorkerId", ""))
        status = str(assignment.get("AssignmentStatus", ""))
        batch, committed = self.batch_of(hit_id)
        foreign = self._foreign(hit_id, hit)
        if foreign:
            return Result(aid, "failed", hit_id, worker, message=foreign)
        batch = order.batch or batch
        if order.override:
            refusal = self._override_refusal(status, assignment)
            if refusal:
                return Result(aid, "failed", hit_id, worker, message=refusal)
        elif status != "Submitted":
            return self._adopt(order, assignment, batch, wanted)
        share = self._share(hit) if committed else 0
        feedback = (
            _feedback(order.feedback, order.decision)
            if order.invent_feedback
            else order.feedback.strip()[:MAX_FEEDBACK_CHARS]
        )
        operation = APPROVE_OPERATION if order.decision == "approve" else REJECT_OPERATION
        send: dict[str, Any] = {"AssignmentId": aid}
        if feedback or order.decision == "reject":  # RejectAssignment requires the parameter
            send["RequesterFeedback"] = feedback
        if order.override:
            send["OverrideRejection"] = True
        notes: dict[str, Any] = {"_HITId": hit_id, "_WorkerId": worker}
        notes["_Evaluator"] = order.evaluator
        if order.decision == "reject" and share:
            notes["_ShareCents"] = share
        exposure = Decimal(share) / 100 if order.override and share else Decimal(0)
        intent: Intent | None = None
        try:
            with self.ledger.intent(
                operation, batch, aid, {**send, **notes}, exposure=exposure, budget=self.budget
            ) as intent:
                ledger_call(intent, self.client, **send)
                intent.done(aid, {"AssignmentStatus": wanted.capitalize()})
        except ServiceError as error:
            if affects_every_call(error):
                raise  # a pending intent stays pending: the next run resolves it
            if shortcut and intent is not None and intent.status is OutcomeStatus.FAILED:
                raise _Refused(error.message) from error
            if intent is not None and intent.status is None:
                return Result(
                    aid,
                    "pending",
                    hit_id,
                    worker,
                    message=f"{error.message}; the outcome is unknown and the next run resolves it",
                )
            return Result(aid, "failed", hit_id, worker, message=error.message)
        except LedgerError as error:
            return Result(aid, "failed", hit_id, worker, message=error.message)
        with self._lock:
            self.changed.add(hit_id)
        if order.decision == "reject" and release:
            release_rejections(self.ledger)
        return Result(aid, wanted, hit_id, worker, feedback=feedback)

    def _against_known(self, order: Order, known: AssignmentDecision, wanted: str) -> Result:
        aid = order.assignment_id
        by = f" by {known.evaluator}" if known.evaluator else ""
        if known.decision == "pending":
            return Result(
                aid,
                "failed",
                known.hit_id,
                known.worker_id,
                message="a decision on it is still pending; run again to resolve it",
            )
        if known.decision == wanted and not order.override:
            return Result(
                aid,
                "skipped",
                known.hit_id,
                known.worker_id,
                message=f"already {wanted}{by} at {known.decided_at}",
            )
        if order.override:
            return Result(
                aid,
                "failed",
                known.hit_id,
                known.worker_id,
                message=f"it is {known.decision}{by}, not rejected",
            )
        hint = (
            f"; to approve it, run 'mturkmake unreject {aid}'"
            if known.decision == "rejected"
            else "; an approval cannot be undone"
        )
        return Result(
            aid,
            "failed",
            known.hit_id,
            known.worker_id,
            message=f"it was already {known.decision}{by} at {known.decided_at}{hint}",
        )

    def _adopt(
        self, order: Order, assignment: Mapping[str, Any], batch: str, wanted: str
    ) -> Result:
        """Record a decision made outside mturkmake (auto-approval, the requester site)."""
        aid = order.assignment_id
        status = str(assignment.get("AssignmentStatus", ""))
        hit_id, worker = str(assignment.get("HITId", "")), str(assignment.get("WorkerId", ""))
        if status not in ("Approved", "Rejected"):
            return Result(
                aid,
                "failed",
                hit_id,
                worker,
                message=f"it is {status or 'not submitted'}, not Submitted",
            )
        self.adopt(assignment, batch)
        decided = status.lower()
        by = self.existing([aid])[aid].evaluator
        if decided == wanted:
            return Result(aid, "skipped", hit_id, worker, message=f"already {decided} ({by})")
        return Result(aid, "failed", hit_id, worker, message=f"it was already {decided} ({by})")

    def adopt(
        self,
        assignment: Mapping[str, Any],
        batch: str | None = None,
        *,
        evaluator: str | None = None,
        feedback: str | None = None,
    ) -> None:
        """Record an Approved or Rejected assignment the ledger does not know, as
        :data:`AUTO_APPROVED` (approved at its AutoApprovalTime), :data:`OUTSIDE`, or
        ``evaluator`` when the caller knows who decided (a review policy)."""
        aid = str(assignment["AssignmentId"])
        status = str(assignment.get("AssignmentStatus", ""))
        hit_id = str(assignment.get("HITId", ""))
        approved = status == "Approved"
        when, auto = _utc(assignment.get("ApprovalTime")), _utc(assignment.get("AutoApprovalTime"))
        if evaluator is None:
            evaluator = (
                AUTO_APPROVED
                if approved and when is not None and auto is not None and when >= auto
                else OUTSIDE
            )
        self.ledger.adopt(
            APPROVE_OPERATION if approved else REJECT_OPERATION,
            batch or self.batch_of(hit_id)[0],
            aid,
            aid,
            {
                "_HITId": hit_id,
                "_WorkerId": str(assignment.get("WorkerId", "")),
                "_Evaluator": evaluator,
                "RequesterFeedback": str(
                    feedback if feedback is not None else assignment.get("RequesterFeedback", "")
                ),
            },
        )

    def _foreign(self, hit_id: str, hit: Mapping[str, Any]) -> str:
        """Why this project must not decide work on ``hit`` (another mturkmake project's
        marker in its RequesterAnnotation), or ``""``; unmarked HITs (the CLT's) may be."""
        from mturkmake.mturk.project import MARKER_PREFIX, marker_of, ownership

        annotation = hit.get("RequesterAnnotation")
        if ownership(annotation, self.ledger.project) != "foreign":
            return ""
        return (
            f"HIT {hit_id} belongs to another mturkmake project "
            f"({MARKER_PREFIX}{marker_of(annotation)}); decide its work from that project"
        )

    def _override_refusal(self, status: str, assignment: Mapping[str, Any]) -> str:
        if status != "Rejected":
            return f"it is {status or 'unknown'}, not Rejected"
        submitted = _utc(assignment.get("SubmitTime"))
        if submitted is not None and self.now() > submitted + OVERRIDE_WINDOW:
            return (
                "it was submitted more than 30 days ago, and MTurk overrides a rejection only "
                "within 30 days of the submission"
            )
        return ""

    @staticmethod
    def _share(hit: Mapping[str, Any]) -> int:
        """The reward and fee of one assignment of ``hit``, in cents."""
        reward, fee = assignment_price(hit)
        return to_cents(reward + fee)


def make_client(ctx: Context) -> Any:
    """The run's MTurk client (:func:`mturkmake.mturk.endpoint.run_client`)."""
    from mturkmake.mturk.endpoint import run_client

    return run_client(ctx)


@contextmanager
def open_decider(ctx: Context) -> Iterator[Decider]:
    """A :class:`Decider` for one run: client, ledger, pending intents resolved first, and
    unreleased rejections released; the ledger is closed afterwards."""
    from mturkmake.mturk.endpoint import open_session

    with open_session(ctx) as session:
        release_rejections(session.ledger)
        decider = Decider(session.ledger, session.client)
        try:
            yield decider
        finally:
            decider.mark_changed()
