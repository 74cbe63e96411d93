"""Qualification types: their files (properties, test, answer key) and their creation.

A type is created once per name (CreateQualificationType, batch ``qualification:<properties
file>``, subject the name): a re-run, or the ``%.properties.success`` rule after a lost
``.success``, finds it in the ledger — or, on a fresh clone, by its unique name on MTurk, and
adopts it — and never creates a second one. A crash between the call and the file is resolved
by ListQualificationTypes by name (:mod:`.lookups`). The test and the answer key are
Velocity-merged without an input row, as the CLT did, and checked before any call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import FormatError, UsageError
from mturkmake.hookspecs import Context, Recovery, TemplateEngine
from mturkmake.mturk.endpoint import Session, ledger_call, service_call
from mturkmake.mturk.qualifications import invocation, type_batch
from mturkmake.mturk.recovery import Resolution

if TYPE_CHECKING:
    from mturkmake.mturk.client import Client

__all__ = [
    "CreatedType",
    "TypeFiles",
    "build_type",
    "create_type",
    "engine_of",
    "merged_file",
    "properties_batch",
    "type_files_params",
    "update_type",
    "update_type_recovery",
    "write_type_id",
]


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


def _find_by_name(client: Client, name: str) -> str | None:
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
    """The configured template engine (:func:`mturkmake.mturk.preflight.template_engine`)."""
    from mturkmake.mturk.preflight import template_engine

    return template_engine(ctx)


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


def _update_lookup(client: Client, intent: Any) -> Resolution:
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
