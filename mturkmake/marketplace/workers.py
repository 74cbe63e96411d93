"""What the requester does to workers: blocks, notifications, bonuses; and the balance."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import InvalidOperation
from typing import Any

from mturkmake import fees
from mturkmake.marketplace import assignments, hits, money
from mturkmake.marketplace.clock import wire_time
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Tx, page

BAD_VALUE = "AWS.MechanicalTurk.InvalidParameterValue"


def create_block(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """CreateWorkerBlock: the worker no longer sees or accepts the requester's HITs."""
    worker, reason = str(params["WorkerId"]), str(params["Reason"])
    tx.conn.execute(
        "INSERT OR REPLACE INTO blocks (worker_id, reason) VALUES (?, ?)", (worker, reason)
    )
    tx.log("CreateWorkerBlock", worker)
    return {}


def delete_block(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """DeleteWorkerBlock: unblocking a worker who is not blocked succeeds too."""
    worker = str(params["WorkerId"])
    tx.conn.execute("DELETE FROM blocks WHERE worker_id = ?", (worker,))
    tx.log("DeleteWorkerBlock", worker)
    return {}


def list_blocks(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListWorkerBlocks."""
    rows = tx.all("SELECT worker_id, reason FROM blocks ORDER BY worker_id")
    return page(
        rows, params, "WorkerBlocks", lambda r: {"WorkerId": r["worker_id"], "Reason": r["reason"]}
    )


def is_blocked(tx: Tx, worker: str) -> bool:
    """Whether the requester blocked ``worker``."""
    return tx.one("SELECT 1 FROM blocks WHERE worker_id = ?", (worker,)) is not None


def notify(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """NotifyWorkers: only workers who did work for the requester can be written to."""
    subject, text = str(params["Subject"]), str(params["MessageText"])
    workers = [str(w) for w in params["WorkerIds"]]
    if len(workers) > 100:
        raise RequestError("NotifyWorkers takes at most 100 WorkerIds.", BAD_VALUE)
    if len(subject) > 200 or len(text) > 4096:
        raise RequestError(
            "Subject must be at most 200 characters and MessageText at most 4096.", BAD_VALUE
        )
    failures = []
    for worker in workers:
        if (
            tx.one(
                "SELECT 1 FROM assignments WHERE worker_id = ? AND state IN "
                "('Submitted', 'Approved', 'Rejected') LIMIT 1",
                (worker,),
            )
            is None
        ):
            failures.append(
                {
                    "NotifyWorkersFailureCode": "HardFailure",
                    "NotifyWorkersFailureMessage": (
                        f"Worker {worker} has not done work for this Requester."
                    ),
                    "WorkerId": worker,
                }
            )
            continue
        tx.conn.execute(
            "INSERT INTO notifications (worker_id, subject, message, time) VALUES (?, ?, ?, ?)",
            (worker, subject, text, tx.now),
        )
        tx.log("NotifyWorkers", worker)
    return {"NotifyWorkersFailureStatuses": failures}


def send_bonus(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """SendBonus: debits the amount plus its fee (``fees.bonus_cost``)."""
    worker, assignment_id = str(params["WorkerId"]), str(params["AssignmentId"])
    row = assignments.load(tx, assignment_id)
    if row["worker_id"] != worker:
        raise RequestError(
            f"Assignment {assignment_id} was not done by worker {worker}.", BAD_VALUE
        )
    try:
        amount = fees.to_money(str(params["BonusAmount"]))
    except (InvalidOperation, ValueError) as exc:
        raise RequestError(
            f"BonusAmount '{params['BonusAmount']}' is not an amount in dollars.", BAD_VALUE
        ) from exc
    if amount <= 0:
        raise RequestError("BonusAmount must be greater than 0.", BAD_VALUE)
    money.settle(
        tx,
        amount * 0,
        amount * 0,
        paid=fees.bonus_cost(amount),
        kind="bonus",
        subject=assignment_id,
    )
    tx.conn.execute(
        "INSERT INTO bonuses (assignment_id, worker_id, hit_id, amount, reason, grant_time) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (assignment_id, worker, row["hit_id"], str(amount), str(params["Reason"]), tx.now),
    )
    tx.log("SendBonus", assignment_id)
    return {}


def list_bonuses(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListBonusPayments by HITId or AssignmentId (exactly one of them)."""
    hit_id, assignment_id = params.get("HITId"), params.get("AssignmentId")
    if (hit_id is None) == (assignment_id is None):
        raise RequestError(
            "Either the HITId parameter or the AssignmentId parameter must be specified.", BAD_VALUE
        )
    if hit_id is not None:
        hits.load_hit(tx, str(hit_id))
        rows = tx.all("SELECT * FROM bonuses WHERE hit_id = ? ORDER BY seq", (hit_id,))
    else:
        assignments.load(tx, str(assignment_id))
        rows = tx.all(
            "SELECT * FROM bonuses WHERE assignment_id = ? ORDER BY seq", (assignment_id,)
        )
    return page(
        rows,
        params,
        "BonusPayments",
        lambda r: {
            "WorkerId": r["worker_id"],
            "BonusAmount": r["amount"],
            "AssignmentId": r["assignment_id"],
            "Reason": r["reason"],
            "GrantTime": wire_time(r["grant_time"]),
        },
    )


def balance(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetAccountBalance: the available balance; nothing is ever on hold locally."""
    return {"AvailableBalance": str(money.available(tx)), "OnHoldBalance": "0.00"}
