"""Deleting HITs as deleteHITs and resetAccount do: approve, expire, then delete (seed 003).

For each HIT, in order: with ``approve``, every Submitted assignment is approved through the
:class:`~mturkmake.mturk.decisions.Decider` (each once, in the ledger); with ``expire``, a HIT
still open to workers is expired (``UpdateExpirationForHIT`` to the epoch, an intent); then
``DeleteHIT`` (an intent) is sent. What MTurk cannot delete is reported with the reason and
what to do. A HIT already gone counts as "deleted previously", as in the CLT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mturkmake.errors import MturkmakeError, ServiceError
from mturkmake.mturk.decisions import Order
from mturkmake.mturk.endpoint import ledger_call, refused_before_effect, service_call
from mturkmake.mturk.project import foreign_reason
from mturkmake.mturk.prompts import error, say

if TYPE_CHECKING:
    from mturkmake.hookspecs import Context
    from mturkmake.mturk.client import Client
    from mturkmake.mturk.hit_commands import CommandSession

__all__ = ["DELETE", "EXPIRE", "Cleanup", "delete_hits"]

DELETE = "DeleteHIT"
EXPIRE = "UpdateExpirationForHIT"
#: ``ExpireAt`` in the past expires a HIT at once (the API's documented way).
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Cleanup:
    """What a cleanup did."""

    deleted: int = 0
    errors: list[str] = field(default_factory=list)
    #: HITs MTurk would not delete because workers are still working on them
    busy: list[str] = field(default_factory=list)
    approved: int = 0
    expired: int = 0


def _submitted(client: Client, hit_id: str) -> list[str]:
    found: list[str] = []
    token: str | None = None
    while True:
        page = service_call(
            client,
            "ListAssignmentsForHIT",
            HITId=hit_id,
            AssignmentStatuses=["Submitted"],
            MaxResults=100,
            **({"NextToken": token} if token else {}),
        )
        found += [str(a["AssignmentId"]) for a in page.get("Assignments", [])]
        token = page.get("NextToken")
        if not token:
            return found


def _get_hit(client: Client, hit_id: str) -> dict[str, Any] | None:
    try:
        hit: dict[str, Any] = service_call(client, "GetHIT", HITId=hit_id)["HIT"]
    except ServiceError as exc:
        if refused_before_effect(exc):
            return None
        raise
    return hit


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _busy(hit: dict[str, Any]) -> bool:
    """Whether workers are still working on ``hit`` (GetHIT)."""
    return hit.get("HITStatus") == "Unassignable" or bool(
        int(hit.get("NumberOfAssignmentsPending", 0) or 0)
    )


class _Busy(MturkmakeError):
    """DeleteHIT refused because workers are still working on the HIT."""


def _why(hit: dict[str, Any], approve: bool, expire: bool) -> str:
    """Why MTurk would not delete ``hit`` (GetHIT after our steps), and what to do."""
    status = hit.get("HITStatus")
    if status == "Assignable":
        return "it is still available to workers" + ("" if expire else "; add -expire")
    if status == "Unassignable":
        return "workers are still working on it; run again when they have submitted"
    if int(hit.get("NumberOfAssignmentsPending", 0) or 0):
        return "workers are still working on it; run again when they have submitted"
    return "it has submitted work not yet approved or rejected" + (
        "" if approve else "; add -approve, or decide it with approveWork/rejectWork"
    )


def _next_subject(run: CommandSession, operation: str, batch: str, hit_id: str) -> str:
    n = 1
    while run.ledger.outcome(operation, batch, f"{hit_id}#{n}") is not None:
        n += 1
    return f"{hit_id}#{n}"


def delete_hits(
    ctx: Context,
    run: CommandSession,
    hit_ids: Sequence[str],
    *,
    approve: bool,
    expire: bool,
    evaluator: str,
    quiet_busy: bool = False,
) -> Cleanup:
    """Approve, expire and delete each of ``hit_ids``; prints the CLT's lines.

    :param quiet_busy: count HITs that workers are still working on in ``busy`` without an
        error line (resetAccount reports them in its summary, as the CLT did).
    """
    assert run.decider is not None
    done = Cleanup()
    ledger, client = run.ledger, run.client
    total = len(hit_ids)
    for index, hit_id in enumerate(hit_ids, start=1):
        where = f"({index}/{total})"
        try:
            batch = run.batch_of(hit_id)
            hit = _get_hit(client, hit_id)
            if (
                hit is None
                or hit.get("HITStatus") == "Disposed"
                or ledger.is_done(DELETE, batch, hit_id)
            ):
                say(ctx, f"[{hit_id}] HIT already deleted. Skipping HIT")
                done.deleted += 1
                continue
            foreign = foreign_reason(hit_id, hit, ledger.project)
            if foreign:  # a copied folder must not approve, expire or delete its origin's HITs
                raise MturkmakeError(f"{foreign}; delete it from that project")
            if approve:
                for assignment_id in _submitted(client, hit_id):
                    result = run.decider.decide(Order(assignment_id, "approve", "", evaluator))
                    if result.outcome == "approved":
                        done.approved += 1
                    elif not result.ok:
                        raise MturkmakeError(
                            f"could not approve assignment {assignment_id}: {result.message}"
                        )
            run.decider.changed.add(hit_id)
            now = run.session.endpoint.clock()
            still_open = hit.get("HITStatus") in ("Assignable", "Unassignable")
            if expire and still_open and _utc(hit["Expiration"]) > _utc(now):
                params = {"HITId": hit_id, "ExpireAt": EPOCH}
                subject = _next_subject(run, EXPIRE, batch, hit_id)
                with ledger.intent(EXPIRE, batch, subject, params) as intent:
                    ledger_call(intent, client)
                    intent.done(hit_id)
                done.expired += 1
            try:
                with ledger.intent(DELETE, batch, hit_id, {"HITId": hit_id}) as intent:
                    ledger_call(intent, client)
                    intent.done(hit_id)
            except ServiceError as exc:
                after = _get_hit(client, hit_id) or {}
                kind = _Busy if _busy(after) else MturkmakeError
                raise kind(f"{exc.message} — {_why(after, approve, expire)}") from exc
        except MturkmakeError as exc:
            if isinstance(exc, _Busy) and quiet_busy:
                done.busy.append(hit_id)
                continue
            done.errors.append(hit_id)
            error(ctx, f"[{hit_id}] Error deleting HIT {where}: {exc.one_line()}")
            continue
        done.deleted += 1
        say(ctx, f"[{hit_id}] Successfully deleted HIT {where}")
    return done


def report(ctx: Context, done: Cleanup) -> int:
    """The CLT's closing lines; the exit code (2 when anything failed)."""
    say(ctx, "--- Finished to delete HITs ---")
    say(ctx, f"  {done.deleted} HITs have been deleted or were deleted previously.")
    say(ctx, f"  {len(done.errors)} errors occurred.")
    return 2 if done.errors else 0
