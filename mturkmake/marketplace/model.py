"""MTurk's service model (API 2017-01-17) as botocore ships it, and the limits it leaves out.

The wire layer validates every request against the *input shape* of its operation, so the
constraints live in one place: botocore's ``service-2.json`` (``min``, ``max``, ``pattern``,
``enum``, ``required``, member types) plus :data:`DOCUMENTED_LIMITS`, the limits MTurk states in
its documentation but not in the model (reference/mturk-api.md §1.5, §2.7). Tests walk the same
constraints to send one value just over each.

botocore is imported here, so only the marketplace (never a no-op run) loads this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

API_VERSION = "2017-01-17"
TARGET_PREFIX = "MTurkRequesterServiceV20170117"
SERVICE_NAME = "mturk"

ConstraintKind = Literal["min", "max", "pattern", "enum", "max_bytes"]


@dataclass(frozen=True)
class Limit:
    """A documented limit on one member of an input shape, not encoded in botocore's model.

    :param operation: the operation, e.g. ``CreateHIT``.
    :param path: member names from the input shape down, ``[]`` stepping into a list element,
        e.g. ``("QualificationRequirements", "[]", "IntegerValues")``.
    :param kind: ``min``/``max`` (string and list length, number value) or ``max_bytes``
        (UTF-8 size of a string, for XML payloads).
    :param value: the bound, inclusive.
    """

    operation: str
    path: tuple[str, ...]
    kind: ConstraintKind
    value: int


def _limits() -> tuple[Limit, ...]:
    """Build :data:`DOCUMENTED_LIMITS` (a function so the table reads as data)."""
    # Source: reference/mturk-api.md §2.7 (the legacy reference, which the 2017 one omits) and
    # §1.5 (rules in the model's documentation strings).
    out: list[Limit] = []
    seconds_365_days = 31_536_000
    seconds_30_days = 2_592_000
    xml_bytes = 65_535
    for op in ("CreateHIT", "CreateHITType"):
        out += [
            Limit(op, ("Title",), "min", 1),
            Limit(op, ("Title",), "max", 128),
            Limit(op, ("Description",), "min", 1),
            Limit(op, ("Description",), "max", 2000),
            Limit(op, ("Keywords",), "max", 1000),
            Limit(op, ("AssignmentDurationInSeconds",), "min", 30),
            Limit(op, ("AssignmentDurationInSeconds",), "max", seconds_365_days),
            Limit(op, ("AutoApprovalDelayInSeconds",), "min", 0),
            Limit(op, ("AutoApprovalDelayInSeconds",), "max", seconds_30_days),
            Limit(op, ("QualificationRequirements",), "max", 10),
            # In/NotIn take at most 15 integers or 30 locales; no comparator takes more.
            Limit(op, ("QualificationRequirements", "[]", "IntegerValues"), "max", 15),
            Limit(op, ("QualificationRequirements", "[]", "LocaleValues"), "max", 30),
        ]
    for op in ("CreateHIT", "CreateHITWithHITType"):
        out += [
            Limit(op, ("LifetimeInSeconds",), "min", 30),
            Limit(op, ("LifetimeInSeconds",), "max", seconds_365_days),
            Limit(op, ("MaxAssignments",), "min", 1),
            Limit(op, ("MaxAssignments",), "max", 1_000_000_000),
            Limit(op, ("RequesterAnnotation",), "max", 255),
            Limit(op, ("Question",), "max_bytes", xml_bytes),
        ]
    for op in ("CreateQualificationType", "UpdateQualificationType"):
        out += [
            Limit(op, ("Test",), "max_bytes", xml_bytes),
            Limit(op, ("AnswerKey",), "max_bytes", xml_bytes),
            Limit(op, ("RetryDelayInSeconds",), "min", 0),
        ]
    out += [
        Limit("CreateAdditionalAssignmentsForHIT", ("NumberOfAdditionalAssignments",), "min", 1),
        Limit("NotifyWorkers", ("WorkerIds",), "min", 1),
        Limit("NotifyWorkers", ("WorkerIds",), "max", 100),
        Limit("NotifyWorkers", ("Subject",), "min", 1),
        Limit("NotifyWorkers", ("Subject",), "max", 200),
        Limit("NotifyWorkers", ("MessageText",), "min", 1),
        Limit("NotifyWorkers", ("MessageText",), "max", 4096),
    ]
    return tuple(out)


#: Limits MTurk documents but botocore's model does not encode; enforced like model limits.
DOCUMENTED_LIMITS: tuple[Limit, ...] = _limits()


@dataclass(frozen=True)
class Member:
    """One member reachable from an operation's input shape (see :func:`walk_input`).

    :param path: member names from the input shape down; ``[]`` steps into a list element.
    :param shape: botocore's shape of the member (or list element).
    :param required: whether the enclosing structure requires it.
    """

    path: tuple[str, ...]
    shape: Shape
    required: bool


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    """botocore's MTurk service model (loaded once per process)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME, API_VERSION)


def operation_names() -> tuple[str, ...]:
    """The 39 operation names, sorted."""
    return tuple(sorted(service_model().operation_names))


@lru_cache(maxsize=64)
def operation_model(name: str) -> OperationModel:
    """The model of ``name``; raises :class:`botocore.exceptions.OperationNotFoundError`."""
    return service_model().operation_model(name)


def documented_limits(operation: str) -> dict[tuple[str, ...], dict[str, int]]:
    """The documented limits of ``operation``: path → {kind: bound}."""
    out: dict[tuple[str, ...], dict[str, int]] = {}
    for limit in DOCUMENTED_LIMITS:
        if limit.operation == operation:
            out.setdefault(limit.path, {})[limit.kind] = limit.value
    return out


def walk_input(operation: str) -> Iterator[Member]:
    """Every member of ``operation``'s input shape, depth first, lists stepped into once."""
    shape = operation_model(operation).input_shape
    if shape is not None:
        yield from _walk(shape, ())


def _walk(shape: Shape, path: tuple[str, ...]) -> Iterator[Member]:
    # The MTurk model has no recursive shapes; the depth guard keeps a future one finite.
    if len(path) > 12:
        return
    if shape.type_name == "structure":
        required = set(shape.metadata.get("required", ()))
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            sub = (*path, name)
            yield Member(sub, member, name in required)
            yield from _walk(member, sub)
    elif shape.type_name == "list":
        element = shape.member  # type: ignore[attr-defined]
        sub = (*path, "[]")
        yield Member(sub, element, True)
        yield from _walk(element, sub)
    elif shape.type_name == "map":  # pragma: no cover - MTurk's model has no maps
        yield from _walk(shape.value, (*path, "{}"))  # type: ignore[attr-defined]
