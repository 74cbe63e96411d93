"""What the ledger holds about assignment decisions (DESIGN §3, §5): read by the deciders
(:mod:`.decisions`), the ``.approved`` projection, ``status`` and the review page.

An approval or rejection is one ledger intent (``ApproveAssignment`` or ``RejectAssignment``,
subject = the assignment id); its parameters carry the notes ``_HITId``, ``_WorkerId`` and
``_Evaluator`` (``_`` keys are never sent).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass

from mturkmake.mturk.times import as_utc

__all__ = [
    "APPROVE_OPERATION",
    "REJECT_OPERATION",
    "AssignmentDecision",
    "outside_batch",
    "read_decisions",
]

APPROVE_OPERATION = "ApproveAssignment"
REJECT_OPERATION = "RejectAssignment"
OPERATIONS = (APPROVE_OPERATION, REJECT_OPERATION)
#: Up to this many ids are looked up with SQL ``IN``; more are filtered after one scan.
_IN_LIMIT = 500


def outside_batch(endpoint: str) -> str:
    """The ledger batch of assignments whose HIT no mturkmake batch created (one per
    endpoint, because a ledger batch lives on one endpoint)."""
    return f"(outside any batch)@{endpoint}"


def _iso(stamp: str) -> str:
    return as_utc(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AssignmentDecision:
    """What the ledger holds about one assignment.

    :param decision: ``approved``, ``rejected``, or ``pending`` (an intent without outcome).
    :param decided_at: when the outcome was recorded, ``YYYY-MM-DDTHH:MM:SSZ`` on the
        endpoint's clock; empty while pending.
    """

    assignment_id: str
    batch: str
    decision: str
    hit_id: str = ""
    worker_id: str = ""
    feedback: str = ""
    evaluator: str = ""
    decided_at: str = ""


def read_decisions(
    conn: sqlite3.Connection, endpoint: str, ids: Collection[str] | None = None
) -> dict[str, AssignmentDecision]:
    """Every assignment decision on ``endpoint`` (all batches), by assignment id.

    Later intents win (an ``unreject`` approval after a rejection); an intent without an
    outcome makes the assignment ``pending``. A database without a ledger has none.

    :param ids: only these assignments (``None``: all).
    """
    from mturkmake.mturk.ledger import PENDING, select_records

    # A few assignments: ask for them (the subject index); many: read all and filter.
    subjects = list(ids) if ids is not None and len(ids) <= _IN_LIMIT else None
    records = select_records(conn, endpoint, OPERATIONS, subjects=subjects, done_only=False)
    wanted = None if ids is None else set(ids)
    found: dict[str, AssignmentDecision] = {}
    for record in records:
        subject, batch = record.subject, record.batch
        if wanted is not None and subject not in wanted:
            continue
        notes = {**record.result, **record.params}
        earlier = found.get(subject)
        if record.status == PENDING:
            decision, decided_at = "pending", ""
        else:
            approve = record.operation == APPROVE_OPERATION
            decision, decided_at = ("approved" if approve else "rejected"), _iso(record.at)
        found[subject] = AssignmentDecision(
            assignment_id=subject,
            batch=batch,
            decision=decision,
            hit_id=str(notes.get("_HITId") or (earlier.hit_id if earlier else "")),
            worker_id=str(notes.get("_WorkerId") or (earlier.worker_id if earlier else "")),
            feedback=str(notes.get("RequesterFeedback") or ""),
            evaluator=str(notes.get("_Evaluator") or ""),
            decided_at=decided_at,
        )
    return found
