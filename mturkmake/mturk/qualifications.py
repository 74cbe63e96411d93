"""The requester side of the qualification commands (issue 15): types, grants, requests.

Every side effect is a ledger intent (DESIGN §3). How subjects are chosen decides what a re-run
does:

- CreateQualificationType: batch ``qualification:<properties file>``, subject the type's name
  (names are unique per requester). A re-run, or the ``%.properties.success`` rule after a
  lost ``.success``, finds the type in the ledger (or by name on MTurk, then adopts it) and
  never creates a second one; a crash between the call and the file is resolved by
  ListQualificationTypes by name (:mod:`.lookups`).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mturkmake.errors import FormatError, ServiceError, UsageError
from mturkmake.hookspecs import Context, QualificationRequest, Recovery, TemplateEngine
from mturkmake.mturk.endpoint import Session, ledger_call, refused_before_effect, service_call
from mturkmake.mturk.recovery import Resolution

__all__ = [
    "REQUESTS_BATCH",
    "CreatedType",
    "TypeFiles",
    "build_type",
    "check_score",
    "check_type_id",
    "check_worker_id",
    "create_type",
    "current_score",
    "decide_request",
    "engine_of",
    "grant",
    "invocation",
    "list_requests",
    "merged_file",
    "properties_batch",
    "read_type_id_file",
    "require_type",
    "revoke",
    "type_files_params",
    "update_type_recovery",
    "write_type_id",
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


def require_type(client: Any, type_id: str, *, source: str | None = None) -> dict[str, Any]:
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
# Types
# --------------------------------------------------------------------------------------------


def merged_file(engine: TemplateEngine, path: Path, name: str) -> str:
    """A question or answer file, Velocity-merged without an input row, as the CLT did
    (``site_filter_qual``'s answer key uses ``#foreach``)."""
    from mturkmake.formats.javaprops import read_text

    if not path.is_file():
        raise UsageError(f"{name}: no such file")
    text = read_text(path)
    if not engine.is_template(text):
        return text
    template = engine.compile(text, source=name, escape=True)
    template.check([], strict="off")
    return template.render({})


@dataclass(frozen=True)
class TypeFiles:
    """The files of one qualification type: properties, optional test and answer key
    (each a path and its name as the user wrote it)."""

    properties: tuple[Path, str] | None = None
    question: tuple[Path, str] | None = None
    answer: tuple[Path, str] | None = None


def _properties(files: TypeFiles, *, for_create: bool) -> Any:
    from mturkmake.formats.qualification_properties import load_qualification_properties

    if files.properties is None:
        return None
    path, name = files.properties
    if not path.is_file():
        raise UsageError(f"{name}: no such file")
    try:
        return load_qualification_properties(path, for_create=for_create)
    except FormatError as exc:
        if exc.file == str(path):
            exc.file = name
        raise


def _update_params(props: Any, has_test: bool) -> dict[str, Any]:
    """UpdateQualificationType's parameters: only what the file sets (the name cannot
    change; a new test needs a duration, the CLT's default when the file has none)."""
    from mturkmake.formats.qualification_properties import DEFAULT_TEST_DURATION

    params: dict[str, Any] = {}
    if props is not None:
        pairs = (
            ("Description", props.description),
            ("QualificationTypeStatus", props.status),
            ("RetryDelayInSeconds", props.retry_delay),
            ("TestDurationInSeconds", props.test_duration),
            ("AutoGranted", props.auto_granted),
            ("AutoGrantedValue", props.auto_granted_value),
        )
        params = {key: value for key, value in pairs if value is not None}
    if has_test:
        params.setdefault("TestDurationInSeconds", DEFAULT_TEST_DURATION)
    return params


def type_files_params(
    files: TypeFiles, engine: TemplateEngine, *, for_create: bool, no_retry: bool = False
) -> dict[str, Any]:
    """Read and check the files (properties, merged test and key) into API parameters.

    :raises FormatError: a bad properties file, test or answer key (file and line).
    """
    from mturkmake.formats.answerkey import check_answer_key, parse_answer_key
    from mturkmake.formats.question import QuestionForm, parse_question

    props = _properties(files, for_create=for_create)
    has_test = files.question is not None
    params: dict[str, Any]
    if for_create:
        params = props.create_params(has_test=has_test, no_retry=no_retry)
    else:
        params = _update_params(props, has_test)
    test = None
    if files.question is not None:
        path, name = files.question
        text = merged_file(engine, path, name)
        test = parse_question(text, source=name)
        if not isinstance(test, QuestionForm):
            raise FormatError(
                "a qualification test must be a QuestionForm",
                file=name,
                line=1,
                hint="write the test as <QuestionForm> (2005-10-01)",
            )
        params["Test"] = text
    if files.answer is not None:
        path, name = files.answer
        if test is None:
            raise UsageError(f"-answer {name} needs -question (an answer key scores a test)")
        text = merged_file(engine, path, name)
        check_answer_key(parse_answer_key(text, source=name), test, source=name)
        params["AnswerKey"] = text
    return params


@dataclass(frozen=True)
class CreatedType:
    """A qualification type the ledger knows: its id, and whether this run created it."""

    type_id: str
    created: bool
    how: str = "created"


def _find_by_name(client: Any, name: str) -> str | None:
    from mturkmake.mturk.lookups import _paginate

    for qualification in _paginate(
        client,
        "ListQualificationTypes",
        "QualificationTypes",
        Query=name,
        MustBeRequestable=False,
        MustBeOwnedByCaller=True,
    ):
        if qualification["Name"] == name:
            return str(qualification["QualificationTypeId"])
    return None


def create_type(session: Session, batch: str, params: Mapping[str, Any]) -> CreatedType:
    """CreateQualificationType once per name: the ledger's record, else a type of that name
    already on MTurk (adopted), else one intent and the call."""
    operation = "CreateQualificationType"
    name = str(params["Name"])
    known = session.ledger.outcome(operation, batch, name)
    if known is not None and known.remote_id:
        return CreatedType(known.remote_id, False, "already created")
    existing = _find_by_name(session.client, name)
    if existing is not None:
        session.ledger.adopt(operation, batch, name, existing)
        return CreatedType(existing, False, "found on MTurk")
    with session.ledger.intent(operation, batch, name, params) as intent:
        reply = ledger_call(intent, session.client)
        type_id = str(reply["QualificationType"]["QualificationTypeId"])
        intent.done(type_id)
    return CreatedType(type_id, True)


def engine_of(ctx: Context) -> TemplateEngine:
    """The configured template engine (``template_engine``, default velocity)."""
    from mturkmake.errors import ConfigError

    name = str(ctx.config.get("template_engine", "velocity") or "velocity")
    engines = ctx.host.template_engines()
    if name not in engines:
        raise ConfigError(
            f"template_engine '{name}' is not provided by any plugin",
            hint=f"known engines: {', '.join(sorted(engines)) or 'none'}",
        )
    return engines[name]


def properties_batch(root: Path, properties: Path) -> str:
    """The ledger batch of a type: its properties file, relative to the root when inside."""
    try:
        rel = properties.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = properties.resolve().as_posix()
    return f"qualification:{rel}"


def build_type(ctx: Context, files: TypeFiles, *, no_retry: bool = False) -> CreatedType:
    """Check the files (before any call), then create the type once (the ledger)."""
    from mturkmake.mturk.endpoint import open_session

    if files.properties is None:
        raise UsageError("createQualificationType needs -properties")
    params = type_files_params(files, engine_of(ctx), for_create=True, no_retry=no_retry)
    batch = properties_batch(ctx.root, files.properties[0])
    with open_session(ctx) as session:
        return create_type(session, batch, params)


def write_type_id(path: Path, type_id: str) -> None:
    """Write a qualification id file (``qualtypeid``, the id) atomically."""
    import io

    from mturkmake.core.fsio import atomic_write
    from mturkmake.formats.workfiles import write_qualification_id

    text = io.StringIO()
    write_qualification_id(text, type_id)
    atomic_write(path, text.getvalue().encode("utf-8"))


def update_type(session: Session, type_id: str, params: Mapping[str, Any]) -> None:
    """UpdateQualificationType, one intent per invocation."""
    subject = f"update@{invocation()}"
    full = {"QualificationTypeId": type_id, **params}
    with session.ledger.intent(
        "UpdateQualificationType", type_batch(type_id), subject, full
    ) as intent:
        ledger_call(intent, session.client)
        intent.done(type_id)


def _update_lookup(client: Any, intent: Any) -> Resolution:
    """UpdateQualificationType: GetQualificationType shows every value sent."""
    params = intent.params
    current = service_call(
        client, "GetQualificationType", QualificationTypeId=params["QualificationTypeId"]
    )["QualificationType"]
    for key, value in params.items():
        if key in ("QualificationTypeId", "Test", "AnswerKey") or key.startswith("_"):
            continue
        if str(current.get(key)) != str(value):
            return Resolution.absent(f"{key} is {current.get(key)!r}")
    return Resolution.found(params["QualificationTypeId"])


def update_type_recovery() -> Recovery:
    """The recovery of UpdateQualificationType (a lookup: the call takes no token)."""
    return Recovery("UpdateQualificationType", lookup=_update_lookup)


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


def current_score(client: Any, type_id: str, worker: str) -> int | None:
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


def list_requests(client: Any, type_id: str | None) -> list[QualificationRequest]:
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
