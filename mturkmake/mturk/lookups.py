"""DESIGN §3's recovery table: how a pending intent of each side-effecting operation is resolved.

:func:`standard_recoveries` returns a :class:`~mturkmake.mturk.recovery.Recoveries` with every
operation registered; a command may register its own over an entry. Token operations
(CreateHIT, CreateHITWithHITType, CreateAdditionalAssignmentsForHIT, SendBonus) are retried
with their token while it is young; every operation has a lookup, which never causes a side
effect and is the only way once the token may have expired. Operations without a token are
resolved by lookup at any age: re-sending them proves nothing.

Conventions for intent parameters: they are the API parameters as sent, without the token;
keys starting with ``_`` are notes for the lookup and are never sent
(``_MaxAssignmentsBefore`` for CreateAdditionalAssignmentsForHIT).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from mturkmake.errors import LedgerError, ServiceError
from mturkmake.hookspecs import Recovery
from mturkmake.mturk.endpoint import refused_before_effect, service_call, token_retry
from mturkmake.mturk.ledger import Intent
from mturkmake.mturk.project import marker_of
from mturkmake.mturk.recovery import Recoveries, Resolution, Resolver
from mturkmake.mturk.times import as_utc

#: How far before its intent a matching remote record may be dated (clock differences).
CLOCK_MARGIN = timedelta(hours=1)


def _paginate(client: Any, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = service_call(
            client, operation, MaxResults=100, **params, **({"NextToken": token} if token else {})
        )
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return


def _recent(moment: Any, intent: Intent) -> bool:
    return moment is not None and as_utc(moment) >= intent.created_at - CLOCK_MARGIN


def _what(intent: Intent) -> str:
    return f"{intent.operation} for {intent.batch} {intent.subject}"


def _ambiguous(intent: Intent, ids: list[str]) -> LedgerError:
    return LedgerError(
        f"{_what(intent)}: {len(ids)} remote records match ({', '.join(ids[:5])}); "
        "cannot tell which one this intent made, so the run stops",
        hint="check them on the requester site and remove the extra ones, then run again",
    )


def _known_ids(intent: Intent) -> set[str]:
    if intent.ledger is None:
        return set()
    done = intent.ledger.done_subjects(intent.operation, intent.batch)
    return {remote for remote in done.values() if remote}


# -- HITs -------------------------------------------------------------------------------------

_HIT_FIELDS = ("Question", "RequesterAnnotation", "HITTypeId", "Title", "Description")


_CREATE_OPERATIONS = ("CreateHIT", "CreateHITWithHITType")


def create_hit_lookup(client: Any, intent: Intent) -> Resolution:
    """CreateHIT(WithHITType): live HITs with the intent's question, annotation and type,
    created since the intent, not already in the ledger; more than one is ambiguous.

    The annotation's project marker must be the one the intent sent (mturkmake's HITs always
    carry one, :func:`~mturkmake.mturk.hits.create_hit`): another project folder with the
    same batch files posts HITs with the same question and type on the same account, and
    the question hash alone would claim one of them."""
    params = intent.params
    # Known in ANY batch: two batches may post identical questions of one HIT type, and a
    # HIT of the other batch must never be claimed for this intent.
    known = _known_ids(intent)
    if intent.ledger is not None:
        known |= intent.ledger.remote_ids(_CREATE_OPERATIONS)
    wanted = marker_of(params.get("RequesterAnnotation"))  # None: the HIT had no marker
    matches = [
        hit
        for hit in _paginate(client, "ListHITs", "HITs")
        if hit["HITId"] not in known
        and marker_of(hit.get("RequesterAnnotation")) == wanted
        and all(
            str(hit.get(key, "")).strip() == str(params[key]).strip()
            for key in _HIT_FIELDS
            if key in params
        )
        and ("Reward" not in params or Decimal(hit["Reward"]) == Decimal(params["Reward"]))
        and _recent(hit.get("CreationTime"), intent)
    ]
    if len(matches) > 1:
        raise _ambiguous(intent, [hit["HITId"] for hit in matches])
    if not matches:
        return Resolution.absent("no matching HIT exists")
    return Resolution.found(matches[0]["HITId"], {"HITTypeId": matches[0].get("HITTypeId")})


def extra_assignments_lookup(client: Any, intent: Intent) -> Resolution:
    """CreateAdditionalAssignmentsForHIT: GetHIT's MaxAssignments against the one recorded
    before the call (``_MaxAssignmentsBefore``)."""
    params = intent.params
    before = params.get("_MaxAssignmentsBefore")
    if before is None:
        raise LedgerError(f"{_what(intent)}: no MaxAssignments was recorded before the call")
    hit = service_call(client, "GetHIT", HITId=params["HITId"])["HIT"]
    now, wanted = (
        int(hit["MaxAssignments"]),
        int(before) + int(params["NumberOfAdditionalAssignments"]),
    )
    if now == int(before):
        return Resolution.absent("MaxAssignments unchanged")
    if now >= wanted:
        return Resolution.found(params["HITId"], {"MaxAssignments": now})
    raise LedgerError(f"{_what(intent)}: MaxAssignments is {now}, neither {before} nor {wanted}")


def _hit_gone(client: Any, hit_id: str) -> tuple[bool, dict[str, Any]]:
    try:
        hit: dict[str, Any] = service_call(client, "GetHIT", HITId=hit_id)["HIT"]
    except ServiceError as error:
        if refused_before_effect(error):  # "does not exist": deleted
            return True, {}
        raise
    return hit.get("HITStatus") == "Disposed", hit


def delete_hit_lookup(client: Any, intent: Intent) -> Resolution:
    """DeleteHIT: the HIT no longer exists (or is Disposed)."""
    gone, _ = _hit_gone(client, intent.params["HITId"])
    return Resolution.found(intent.params["HITId"]) if gone else Resolution.absent("HIT exists")


def update_expiration_lookup(client: Any, intent: Intent) -> Resolution:
    """UpdateExpirationForHIT: GetHIT's Expiration is the one asked for (or earlier, for an
    expire-now)."""
    _, hit = _hit_gone(client, intent.params["HITId"])
    if not hit:
        return Resolution.absent("HIT is gone")
    wanted = as_utc(intent.params["ExpireAt"])
    expiration = as_utc(hit["Expiration"])
    if abs((expiration - wanted).total_seconds()) <= 1 or (
        wanted <= intent.created_at and expiration <= intent.created_at + CLOCK_MARGIN
    ):
        return Resolution.found(intent.params["HITId"])
    return Resolution.absent(f"Expiration is {expiration.isoformat()}")


def update_hit_type_lookup(client: Any, intent: Intent) -> Resolution:
    """UpdateHITTypeOfHIT: GetHIT's HITTypeId is the new one."""
    hit = service_call(client, "GetHIT", HITId=intent.params["HITId"])["HIT"]
    if hit.get("HITTypeId") == intent.params["HITTypeId"]:
        return Resolution.found(intent.params["HITId"])
    return Resolution.absent("HIT type unchanged")


# -- assignments and bonuses ------------------------------------------------------------------


def _assignment_status(wanted: str) -> Resolver:
    def lookup(client: Any, intent: Intent) -> Resolution:
        assignment_id = intent.params["AssignmentId"]
        reply = service_call(client, "GetAssignment", AssignmentId=assignment_id)
        status = reply["Assignment"]["AssignmentStatus"]
        if status == wanted:
            return Resolution.found(assignment_id, {"AssignmentStatus": status})
        return Resolution.absent(f"assignment is {status}")

    lookup.__doc__ = f"GetAssignment: the assignment is {wanted}."
    return lookup


def send_bonus_lookup(client: Any, intent: Intent) -> Resolution:
    """SendBonus: :func:`mturkmake.mturk.bonuses.send_bonus_lookup` (ListBonusPayments for the
    assignment holds more payments of exactly this bonus than the ledger records as done, in
    any batch)."""
    from mturkmake.mturk.bonuses import send_bonus_lookup as lookup

    return lookup(client, intent)


# -- qualifications and blocks ----------------------------------------------------------------


def create_qualification_type_lookup(client: Any, intent: Intent) -> Resolution:
    """CreateQualificationType: ListQualificationTypes by name (names are unique per
    requester)."""
    name = intent.params["Name"]
    for qualification in _paginate(
        client,
        "ListQualificationTypes",
        "QualificationTypes",
        Query=name,
        MustBeRequestable=False,
        MustBeOwnedByCaller=True,
    ):
        if qualification["Name"] == name:
            return Resolution.found(qualification["QualificationTypeId"])
    return Resolution.absent("no qualification type of that name")


def _score(client: Any, intent: Intent) -> Mapping[str, Any] | None:
    try:
        reply = service_call(
            client,
            "GetQualificationScore",
            QualificationTypeId=intent.params["QualificationTypeId"],
            WorkerId=intent.params["WorkerId"],
        )
    except ServiceError as error:
        if refused_before_effect(error):  # none, or revoked
            return None
        raise
    qualification: Mapping[str, Any] = reply["Qualification"]
    return qualification if qualification.get("Status", "Granted") == "Granted" else None


def grant_lookup(client: Any, intent: Intent) -> Resolution:
    """AssociateQualificationWithWorker: GetQualificationScore shows the value granted."""
    score = _score(client, intent)
    wanted = int(intent.params.get("IntegerValue", 1))
    if score is not None and int(score.get("IntegerValue", 1)) == wanted:
        return Resolution.found(intent.params["WorkerId"], {"IntegerValue": wanted})
    return Resolution.absent("the worker does not hold that value")


def revoke_lookup(client: Any, intent: Intent) -> Resolution:
    """DisassociateQualificationFromWorker: the worker no longer holds the qualification."""
    if _score(client, intent) is None:
        return Resolution.found(intent.params["WorkerId"])
    return Resolution.absent("the worker still holds it")


def _blocked(client: Any, worker_id: str) -> bool:
    return any(
        block["WorkerId"] == worker_id
        for block in _paginate(client, "ListWorkerBlocks", "WorkerBlocks")
    )


def block_lookup(client: Any, intent: Intent) -> Resolution:
    """CreateWorkerBlock: ListWorkerBlocks lists the worker."""
    worker = intent.params["WorkerId"]
    return (
        Resolution.found(worker) if _blocked(client, worker) else Resolution.absent("not blocked")
    )


def unblock_lookup(client: Any, intent: Intent) -> Resolution:
    """DeleteWorkerBlock: ListWorkerBlocks no longer lists the worker."""
    worker = intent.params["WorkerId"]
    return (
        Resolution.absent("still blocked") if _blocked(client, worker) else Resolution.found(worker)
    )


def _request_decided(client: Any, intent: Intent) -> Resolution:
    """Accept/RejectQualificationRequest: the request is no longer pending."""
    request_id = intent.params["QualificationRequestId"]
    pending = any(
        request["QualificationRequestId"] == request_id
        for request in _paginate(client, "ListQualificationRequests", "QualificationRequests")
    )
    return Resolution.absent("still pending") if pending else Resolution.found(request_id)


def recovery_for(operation: str) -> Recovery:
    """DESIGN §3's recovery of a built-in ``operation``: what a command module declares
    through ``mturkmake_recoveries`` for each operation it records."""
    create_retry = token_retry(lambda reply: str(reply["HIT"]["HITId"]))
    no_id = token_retry(lambda _reply: None)
    retries: dict[str, tuple[Resolver, Resolver]] = {
        "CreateHIT": (create_retry, create_hit_lookup),
        "CreateHITWithHITType": (create_retry, create_hit_lookup),
        "CreateAdditionalAssignmentsForHIT": (no_id, extra_assignments_lookup),
        "SendBonus": (no_id, send_bonus_lookup),
    }
    if operation in retries:
        retry, lookup = retries[operation]
        return Recovery(operation, retry=retry, lookup=lookup)
    if operation not in LOOKUPS:
        raise KeyError(f"no built-in recovery for {operation}")
    return Recovery(operation, lookup=LOOKUPS[operation])


def standard_recoveries() -> Recoveries:
    """A registry holding the whole recovery table of DESIGN §3 (tests and scripts; a run
    uses what the loaded plugins declare)."""
    return Recoveries.of(recovery_for(operation) for operation in BUILTIN_OPERATIONS)


LOOKUPS: dict[str, Resolver] = {
    "ApproveAssignment": _assignment_status("Approved"),
    "RejectAssignment": _assignment_status("Rejected"),
    "DeleteHIT": delete_hit_lookup,
    "UpdateExpirationForHIT": update_expiration_lookup,
    "UpdateHITTypeOfHIT": update_hit_type_lookup,
    "CreateQualificationType": create_qualification_type_lookup,
    "AssociateQualificationWithWorker": grant_lookup,
    "DisassociateQualificationFromWorker": revoke_lookup,
    "CreateWorkerBlock": block_lookup,
    "DeleteWorkerBlock": unblock_lookup,
    "AcceptQualificationRequest": _request_decided,
    "RejectQualificationRequest": _request_decided,
}
#: Every operation DESIGN §3 lists.
BUILTIN_OPERATIONS: tuple[str, ...] = (
    "CreateHIT",
    "CreateHITWithHITType",
    "CreateAdditionalAssignmentsForHIT",
    "SendBonus",
    *LOOKUPS,
)
