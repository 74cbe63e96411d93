"""Assignments: what the requester sees and decides, and the transitions the crowd drives.

Internal states: ``Accepted`` (being worked on — "pending"), ``Submitted``, ``Approved``,
``Rejected``, and ``Returned``/``Abandoned`` (the slot went back). The API shows only the
last three of the first four: work in progress is not the requester's to see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from mturkmake.marketplace import hits, ids, money, notifications
from mturkmake.marketplace.clock import wire_time
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Row, Tx, page

VISIBLE = ("Submitted", "Approved", "Rejected")
ASSIGNMENT_MISSING = "AWS.MechanicalTurk.AssignmentDoesNotExist"
BAD_STATE = "AWS.MechanicalTurk.InvalidAssignmentState"
OVERRIDE_WINDOW = 30 * 86400  # a rejection can be overridden within 30 days of submission


def render(row: Row) -> dict[str, Any]:
    """The Assignment output structure (times omitted until they happen)."""
    out: dict[str, Any] = {
        "AssignmentId": row["id"],
        "WorkerId": row["worker_id"],
        "HITId": row["hit_id"],
        "AssignmentStatus": row["state"],
        "AcceptTime": wire_time(row["accept_time"]),
        "Deadline": wire_time(row["deadline"]),
    }
    for key, column in (
        ("SubmitTime", "submit_time"),
        ("AutoApprovalTime", "auto_approval_time"),
        ("ApprovalTime", "approval_time"),
        ("RejectionTime", "rejection_time"),
    ):
        if row[column] is not None:
            out[key] = wire_time(row[column])
    if row["answer"] is not None:
        out["Answer"] = row["answer"]
    if row["feedback"] is not None:
        out["RequesterFeedback"] = row["feedback"]
    return out


def load(tx: Tx, assignment_id: str) -> Row:
    """A submitted (or decided) assignment; RequestError when unknown or still in progress."""
    row = tx.one("SELECT * FROM assignments WHERE id = ?", (assignment_id,))
    if row is None or row["state"] not in VISIBLE:
        raise RequestError(f"Assignment {assignment_id} does not exist.", ASSIGNMENT_MISSING)
    return row


def get(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetAssignment: the assignment and its HIT."""
    row = load(tx, str(params["AssignmentId"]))
    hit = hits.load_hit(tx, row["hit_id"])
    return {"Assignment": render(row), "HIT": hits.render(hit, hits.count_of(tx, hit.id), tx.now)}


def list_for_hit(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListAssignmentsForHIT, optionally by AssignmentStatuses; oldest submission first."""
    hit = hits.load_hit(tx, str(params["HITId"]))
    wanted = set(params.get("AssignmentStatuses") or VISIBLE)
    rows = tx.all("SELECT * FROM assignments WHERE hit_id = ? ORDER BY submit_time, id", (hit.id,))
    chosen = [r for r in rows if r["state"] in VISIBLE and r["state"] in wanted]
    return page(chosen, params, "Assignments", render)


def transition(tx: Tx, row: Row, apply: Callable[[], object], *, pay: bool = False) -> None:
    """Run ``apply`` (an UPDATE) and settle the HIT's reservation change, paying one slot."""
    hit = hits.load_hit(tx, row["hit_id"])
    counts = hits.count_of(tx, hit.id)
    before = hits.reservation(hit, counts)
    apply()
    counts_after = hits.count_of(tx, hit.id)
    if counts_after.taken != counts.taken:  # `full` depends on nothing else that changed here
        hits.refresh_full(tx, hit.id)
    after = hits.reservation(hit, counts_after)
    paid = hit.slot_cost if pay else Decimal("0.00")
    money.settle(tx, before, after, paid=paid, kind="assignment", subject=row["id"])
    tx.touch(hit.id)


def _feedback(params: Mapping[str, Any]) -> str | None:
    text = params.get("RequesterFeedback")
    if text is not None and len(str(text)) > 1024:
        raise RequestError(
            "RequesterFeedback must be at most 1024 characters.",
            "AWS.MechanicalTurk.InvalidParameterValue",
        )
    return None if text is None else str(text)


def _wrong_state(row: Row) -> RequestError:
    return RequestError(
        f"This operation can be called with a status of: Submitted "
        f"(assignment {row['id']} is {row['state']}).",
        BAD_STATE,
    )


def approve(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ApproveAssignment: pays reward + fee from the reservation; OverrideRejection re-pays."""
    row = load(tx, str(params["AssignmentId"]))
    feedback = _feedback(params)
    if row["state"] == "Rejected" and params.get("OverrideRejection"):
        hit = hits.load_hit(tx, row["hit_id"])
        if hit.deleted:
            raise RequestError(
                "The HIT of this assignment was deleted; its rejected work can no "
                "longer be approved.",
                BAD_STATE,
            )
        if row["submit_time"] + OVERRIDE_WINDOW < tx.now:
            raise RequestError(
                "A rejection can only be overridden within 30 days of the submission.", BAD_STATE
            )
    elif row["state"] != "Submitted":
        raise _wrong_state(row)
    transition(
        tx,
        row,
        lambda: tx.conn.execute(
            "UPDATE assignments SET state = 'Approved', approval_time = ?, rejection_time = NULL, "
            "feedback = COALESCE(?, feedback) WHERE id = ?",
            (tx.now, feedback, row["id"]),
        ),
        pay=True,
    )
    notifications.emit(tx, "AssignmentApproved", row["hit_id"], row["id"])
    tx.log("ApproveAssignment", row["id"])
    return {}


def reject(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """RejectAssignment: releases the slot's reservation; the worker is not paid."""
    row = load(tx, str(params["AssignmentId"]))
    feedback = _feedback(params)
    if row["state"] != "Submitted":
        raise _wrong_state(row)
    transition(
        tx,
        row,
        lambda: tx.conn.execute(
            "UPDATE assignments SET state = 'Rejected', rejection_time = ?, feedback = ? "
            "WHERE id = ?",
            (tx.now, feedback, row["id"]),
        ),
    )
    notifications.emit(tx, "AssignmentRejected", row["hit_id"], row["id"])
    tx.log("RejectAssignment", row["id"])
    return {}


def file_upload_url(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetFileUploadURL: only for a question answered with a file upload."""
    row = load(tx, str(params["AssignmentId"]))
    question = str(params["QuestionIdentifier"])
    if "UploadedFileKey" not in (row["answer"] or "") or question not in (row["answer"] or ""):
        raise RequestError(
            f"Question {question} of assignment {row['id']} has no uploaded file.",
            "AWS.MechanicalTurk.InvalidParameterValue",
        )
    # A URL on the fail-closed local host: nothing is ever downloaded from the network.
    return {
        "FileUploadURL": f"https://local.mturkmake.invalid/uploads/{row['id']}/{question}"
        f"?expires={int(tx.now) + 60}"
    }


# ----------------------------------------------------------------------------- crowd moves


def accept(tx: Tx, hit: hits.Hit, worker: str, work_seconds: float) -> str:
    """A worker accepts one slot of ``hit``; the submission is planned ``work_seconds`` later."""
    assignment_id = ids.derive(tx.seed, "assignment", hit.id, worker)
    duration = float(hit.props["AssignmentDurationInSeconds"])
    # Work that would miss the deadline is submitted just before it (the minimal crowd never
    # abandons; the next issue's crowd decides that).
    planned = tx.now + min(work_seconds, duration - 1)
    tx.conn.execute(
        "INSERT INTO assignments (id, hit_id, worker_id, state, accept_time, deadline, "
        "planned_submit) VALUES (?, ?, ?, 'Accepted', ?, ?, ?)",
        (assignment_id, hit.id, worker, tx.now, tx.now + duration, planned),
    )
    hits.refresh_full(tx, hit.id)
    notifications.emit(tx, "AssignmentAccepted", hit.id, assignment_id)
    return assignment_id


def submit(tx: Tx, row: Row, answer: str, *, hit: hits.Hit | None = None) -> None:
    """A worker submits; auto-approval is due AutoApprovalDelayInSeconds later.

    :param hit: the assignment's HIT when the caller has it loaded already.
    """
    if hit is None:
        hit = hits.load_hit(tx, row["hit_id"])
    delay = float(hit.props["AutoApprovalDelayInSeconds"])
    tx.conn.execute(
        "UPDATE assignments SET state = 'Submitted', submit_time = ?, auto_approval_time = ?, "
        "answer = ?, planned_submit = NULL WHERE id = ?",
        (tx.now, tx.now + delay, answer, row["id"]),
    )
    tx.touch(hit.id)
    tx.submitted.append(row["id"])
    notifications.emit(tx, "AssignmentSubmitted", hit.id, row["id"])


def abandon(tx: Tx, row: Row, state: str = "Abandoned") -> None:
    """The worker gave up (or returned the work): the slot goes back, or its money after expiry."""
    transition(
        tx,
        row,
        lambda: tx.conn.execute(
            "UPDATE assignments SET state = ?, planned_submit = NULL WHERE id = ?",
            (state, row["id"]),
        ),
    )
    notifications.emit(tx, f"Assignment{state}", row["hit_id"], row["id"])


def auto_approve(tx: Tx, row: Row) -> None:
    """The auto-approval event: a still-Submitted assignment is approved and paid."""
    transition(
        tx,
        row,
        lambda: tx.conn.execute(
            "UPDATE assignments SET state = 'Approved', approval_time = ? WHERE id = ?",
            (tx.now, row["id"]),
        ),
        pay=True,
    )
    notifications.emit(tx, "AssignmentApproved", row["hit_id"], row["id"])
