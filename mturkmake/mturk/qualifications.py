"""The requester side of the qualification commands (issue 15): checks, grants, requests.

Every side effect is a ledger intent (DESIGN §3). How subjects are chosen decides what a re-run
does (types: :mod:`.qualification_types`):

- Accept/RejectQualificationRequest: subject the request id — a request is decided once.
- Grants, revokes, score updates and type updates in command mode are one intent per
  invocation and worker (DESIGN §3 "command mode per invocation and subject"): running
  ``assignQualification`` again assigns again, as the CLT did (the call is idempotent and
  moves no money), while a crash mid-run is resolved by GetQualificationScore.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import FormatError, ServiceError, UsageError
from mturkmake.hookspecs import Context, QualificationRequest
from mturkmake.mturk.endpoint import Session, ledger_call, refused_before_effect, service_call

if TYPE_CHECKING:
    from mturkmake.mturk.client import Client

__all__ = [
    "REQUESTS_BATCH",
    "check_score",
    "check_type_id",
    "check_worker_id",
    "chunks",
    "current_score",
    "decide_request",
    "grant",
    "invocation",
    "list_requests",
    "read_type_id_file",
    "require_type",
    "revoke",
    "test_site",
    "type_batch",
    "type_id_of",
]

#: MTurk's patterns (botocore's model): worker ids (CustomerId) and entity ids.
WORKER_ID = re.compile(r"A[A-Z0-9]{1,63}")
ENTITY_ID = re.compile(r"[A-Z0-9]{1,64}")
#: The ledger batch of qualification request decisions.
REQUESTS_BATCH = "qualification-requests"
#: Where a worker takes a qualification's test (the CLT's line), per endpoint kind.
TEST_SITES = {
    "production": "https://worker.mturk.com",
    "sandbox": "https://workersandbox.mturk.com",
}


def invocation() -> str:
    """A fresh id for one command invocation (part of its intents' subjects)."""
    return uuid.uuid4().hex[:12]


def type_batch(qualification_type_id: str) -> str:
    """The ledger batch of grants, revokes and updates on one qualification type."""
    return f"qualification:{qualification_type_id}"


# --------------------------------------------------------------------------------------------
# Checks that run before any call
# --------------------------------------------------------------------------------------------


def check_worker_id(
    worker: str, *, file: str | None = None, line: int | None = None, flag: str = "workerid"
) -> str:
    """``worker`` stripped, or a one-line error (MTurk's ids are ``A`` + capitals/digits)."""
    text = worker.strip()
    if not WORKER_ID.fullmatch(text):
        where = f"-{flag} " if file is None else ""
        raise (FormatError if file else UsageError)(
            f"{where}'{text}' is not a worker id",
            file=file,
            line=line,
            hint="worker ids look like A3C4G8DMXFG5PQ (an A, then capitals and digits)",
        )
    return text


def check_type_id(value: str, *, file: str | None = None, line: int | None = None) -> str:
    """A qualification type id stripped, or a one-line error."""
    text = value.strip()
    if not ENTITY_ID.fullmatch(text):
        where = "-qualtypeid " if file is None else ""
        raise (FormatError if file else UsageError)(
            f"{where}'{text}' is not a qualification type id",
            file=file,
            line=line,
            hint="ids look like RWFZTKZ55ZPZXN1C8TDZ (capitals and digits); "
            "createQualificationType writes it to <properties>.success",
        )
    return text


def check_score(value: Any, *, flag: str = "score") -> int:
    """``-score``'s integer, or a usage error."""
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise UsageError(f"-{flag} needs a whole number, not '{value}'", hint="e.g. -score 100")
    return int(text)


def read_type_id_file(path: str) -> str:
    """The ``qualtypeid`` of a qualification id file (``-input``)."""
    from mturkmake.formats.workfiles import read_qualification_id

    source = Path(path)
    if not source.is_file():
        raise UsageError(
            f"-input {path}: no such file",
            hint="give createQualificationType's <properties>.success, or -qualtypeid",
        )
    with source.open("rb") as stream:
        qual = read_qualification_id(stream, path)
    return check_type_id(qual, file=path, line=2)


def type_id_of(args: Mapping[str, Any]) -> tuple[str, str | None]:
    """The type id from ``-qualtypeid`` or ``-input``; and the file it came from, if any."""
    if args.get("qualtypeid"):
        return check_type_id(str(args["qualtypeid"])), None
    path = str(args["input"])
    return read_type_id_file(path), path


def require_type(client: Client, type_id: str, *, source: str | None = None) -> dict[str, Any]:
    """GetQualificationType, before any change: an unknown id is the user's mistake."""
    try:
        reply = service_call(client, "GetQualificationType", QualificationTypeId=type_id)
    except ServiceError as error:
        if refused_before_effect(error):
            raise UsageError(
                f"qualification type {type_id} does not exist on this endpoint; nothing was sent",
                file=source,
                line=2 if source else None,
                hint="check the id (createQualificationType writes it to <properties>.success) "
                "and the endpoint",
            ) from None
        raise
    found: dict[str, Any] = reply["QualificationType"]
    return found


# --------------------------------------------------------------------------------------------
# Grants and revokes
# --------------------------------------------------------------------------------------------


def grant(
    session: Session,
    type_id: str,
    worker: str,
    value: int,
    *,
    notify: bool,
    run: str,
    batch: str | None = None,
    subject: str | None = None,
) -> bool:
    """AssociateQualificationWithWorker through the ledger.

    :param run: the invocation id (subjects are per invocation in command mode).
    :param batch: the ledger batch (default: the type's); ``subject`` likewise (default
        ``<worker>@<run>``). With a fixed ``subject`` a grant already done is not sent again.
    :returns: whether it was sent (``False``: the ledger already records it).
    """
    batch = batch or type_batch(type_id)
    subject = subject or f"{worker}@{run}"
    operation = "AssociateQualificationWithWorker"
    if session.ledger.is_done(operation, batch, subject):
        return False
    params = {
        "QualificationTypeId": type_id,
        "WorkerId": worker,
        "IntegerValue": value,
        "SendNotification": notify,
    }
    with session.ledger.intent(operation, batch, subject, params) as intent:
        ledger_call(intent, session.client)
        intent.done(worker, {"IntegerValue": value})
    return True


def current_score(client: Client, type_id: str, worker: str) -> int | None:
    """The worker's granted value of the type, or ``None`` when the worker holds none."""
    try:
        reply = service_call(
            client, "GetQualificationScore", QualificationTypeId=type_id, WorkerId=worker
        )
    except ServiceError as error:
        if refused_before_effect(error):
            return None
        raise
    qualification = reply["Qualification"]
    if qualification.get("Status", "Granted") != "Granted":
        return None
    return int(qualification.get("IntegerValue", 1))


def revoke(session: Session, type_id: str, worker: str, reason: str | None, *, run: str) -> None:
    """DisassociateQualificationFromWorker through the ledger."""
    params: dict[str, Any] = {"QualificationTypeId": type_id, "WorkerId": worker}
    if reason:
        params["Reason"] = reason
    with session.ledger.intent(
        "DisassociateQualificationFromWorker", type_batch(type_id), f"{worker}@{run}", params
    ) as intent:
        ledger_call(intent, session.client)
        intent.done(worker)


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


def _request(raw: Mapping[str, Any]) -> QualificationRequest:
    from mturkmake.formats.answers import parse_answer_records

    answers: dict[str, str] = {}
    text = raw.get("Answer")
    if text:
        for record in parse_answer_records(str(text), source=str(raw["QualificationRequestId"])):
            answers[record.question_id] = record.clt_value
    return QualificationRequest(
        request_id=str(raw["QualificationRequestId"]),
        qualification_type_id=str(raw["QualificationTypeId"]),
        worker_id=str(raw["WorkerId"]),
        answers=answers,
        submit_time=raw.get("SubmitTime"),
    )


def list_requests(client: Client, type_id: str | None) -> list[QualificationRequest]:
    """Every pending request (of ``type_id``, or of all the requester's types), all pages."""
    found: list[QualificationRequest] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"MaxResults": 100}
        if type_id:
            params["QualificationTypeId"] = type_id
        if token:
            params["NextToken"] = token
        page = service_call(client, "ListQualificationRequests", **params)
        found += [_request(raw) for raw in page.get("QualificationRequests", [])]
        token = page.get("NextToken")
        if not token or not page.get("QualificationRequests"):
            return found


def decide_request(
    session: Session,
    request_id: str,
    *,
    approve: bool,
    value: int | None = None,
    reason: str | None = None,
) -> bool:
    """Accept (with ``value``) or reject (with ``reason``) a request, once ever.

    :returns: whether it was sent (``False``: the ledger already records a decision).
    """
    operations = ("AcceptQualificationRequest", "RejectQualificationRequest")
    if any(session.ledger.is_done(op, REQUESTS_BATCH, request_id) for op in operations):
        return False
    params: dict[str, Any] = {"QualificationRequestId": request_id}
    if approve and value is not None:
        params["IntegerValue"] = value
    if not approve and reason:
        params["Reason"] = reason
    operation = operations[0] if approve else operations[1]
    with session.ledger.intent(operation, REQUESTS_BATCH, request_id, params) as intent:
        ledger_call(intent, session.client)
        intent.done(request_id)
    return True


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def test_site(ctx: Context, type_id: str) -> str | None:
    """Where a worker requests the qualification (``None`` on the local marketplace)."""
    from mturkmake.mturk.settings import settings

    site = TEST_SITES.get(settings(ctx.config).kind)
    return None if site is None else f"{site}/mturk/requestqualification?qualificationId={type_id}"
