"""Table-driven: for every operation, one value just over each constraint of its input shape
(botocore's model: required, min, max, pattern, enum; plus the documented limits) is answered
``RequestError`` naming the member, through a real boto3 client with client-side validation off
(the AWS CLI and raw HTTP callers validate nothing either)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape

from mturkmake.marketplace.model import DOCUMENTED_LIMITS
from mturkmake.marketplace.validation import validate, wire_path

from .conftest import inprocess_client

MODEL = botocore.session.get_session().get_service_model("mturk")

# A value of each constrained string shape that satisfies its pattern.
GOOD_STRINGS = {
    "EntityId": "ABCDEFGHIJ0123456789",
    "CustomerId": "AWORKER0000001",
    "CurrencyAmount": "0.50",
    "CountryParameters": "US",
}
# A value of the right length that breaks each pattern.
BAD_PATTERN = {"EntityId": "lowercase", "CustomerId": "BWORKER0000001", "CurrencyAmount": "$1"}


@dataclass(frozen=True)
class Case:
    operation: str
    path: tuple[str, ...]  # model path, "[]" = the first list element
    constraint: str
    value: Any  # the violating value; Ellipsis = leave the member out
    errors: int = 1  # an empty id breaks its length and its pattern: AWS reports both

    @property
    def id(self) -> str:
        return f"{self.operation}.{'.'.join(self.path)}.{self.constraint}"


def input_shape(operation: str) -> Shape:
    shape = MODEL.operation_model(operation).input_shape
    assert shape is not None  # every MTurk operation has an input shape, if empty
    return shape


def documented(operation: str, path: tuple[str, ...]) -> dict[str, int]:
    return {
        lim.kind: lim.value
        for lim in DOCUMENTED_LIMITS
        if lim.operation == operation and lim.path == path
    }


def baseline(operation: str, shape: Shape, path: tuple[str, ...] = ()) -> Any:
    """A valid value of ``shape`` with every optional member filled in, recursively."""
    kind = shape.type_name
    limits = documented(operation, path)
    if kind == "structure":
        return {
            name: baseline(operation, member, (*path, name))
            for name, member in shape.members.items()  # type: ignore[attr-defined]
        }
    if kind == "list":
        return [baseline(operation, shape.member, (*path, "[]"))]  # type: ignore[attr-defined]
    if kind == "string":
        enum = shape.metadata.get("enum")
        return enum[0] if enum else GOOD_STRINGS.get(shape.name, "x")
    if kind in ("integer", "long"):
        return limits.get("min", shape.metadata.get("min", 1))
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return 1767225600
    raise AssertionError(f"unexpected shape type {kind}")


def over(shape: Shape, constraint: str, bound: int, good: Any) -> Any:
    """A value just past ``bound`` for ``constraint`` on ``shape``."""
    kind = shape.type_name
    if kind == "list":
        return [] if constraint == "min" else [good[0]] * (bound + 1)
    if kind == "string":
        char = good[0] if good else "x"
        if constraint == "min":
            return char * (bound - 1)
        return char * (bound + 1)  # max and max_bytes: one character (byte) too many
    return bound - 1 if constraint == "min" else bound + 1


def cases_of(operation: str) -> Iterator[Case]:
    shape = input_shape(operation)
    good = baseline(operation, shape)
    yield from _cases(operation, shape, (), good)


def _cases(operation: str, shape: Shape, path: tuple[str, ...], good: Any) -> Iterator[Case]:
    if shape.type_name == "structure":
        required = set(shape.metadata.get("required", ()))
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            sub = (*path, name)
            if name in required:
                yield Case(operation, sub, "required", ...)
            yield from _cases(operation, member, sub, good[name])
        return
    meta = shape.metadata
    limits = {k: v for k, v in meta.items() if k in ("min", "max")}
    for kind, bound in documented(operation, path).items():
        if kind == "min":
            limits["min"] = max(bound, limits.get("min", bound))
        elif kind == "max":
            limits["max"] = min(bound, limits.get("max", bound))
        else:
            limits[kind] = bound
    for kind, bound in sorted(limits.items()):
        if kind == "min" and shape.type_name == "string" and bound == 0:
            continue
        value = over(shape, kind, bound, good)
        errors = 2 if value == "" and "pattern" in meta else 1
        yield Case(operation, path, kind, value, errors)
    if "pattern" in meta:
        yield Case(operation, path, "pattern", BAD_PATTERN[shape.name])
    if "enum" in meta:
        yield Case(operation, path, "enum", "NotAValue")
    if shape.type_name == "list":
        yield from _cases(operation, shape.member, (*path, "[]"), good[0])  # type: ignore[attr-defined]


PHRASES = {
    "required": "Member must not be null",
    "min": "Member must have ",  # "length" or "value", then the bound
    "max": "Member must have ",
    "max_bytes": "Member must have bytes less than or equal to",
    "pattern": "Member must satisfy regular expression pattern: ^",
    "enum": "Member must satisfy enum value set: [",
}

ALL_CASES = [case for op in sorted(MODEL.operation_names) for case in cases_of(op)]


def request_for(case: Case) -> dict[str, Any]:
    params: dict[str, Any] = copy.deepcopy(baseline(case.operation, input_shape(case.operation)))
    node: Any = params
    for step in case.path[:-1]:
        node = node[0] if step == "[]" else node[step]
    last = case.path[-1]
    if case.value is ...:
        del node[last]
    elif last == "[]":
        node[0] = case.value
    else:
        node[last] = case.value
    return params


def wire_where(path: tuple[str, ...]) -> str:
    steps: list[str] = []
    for step in path:
        steps += ["1", "member"] if step == "[]" else [step]
    return wire_path(tuple(steps))


def test_the_table_covers_every_operation_with_constraints() -> None:
    covered = {case.operation for case in ALL_CASES}
    without_input = {
        op
        for op in MODEL.operation_names
        if not input_shape(op).members  # type: ignore[attr-defined]
    }
    assert covered | without_input == set(MODEL.operation_names)
    assert len(MODEL.operation_names) == 39
    assert len(ALL_CASES) > 150


@pytest.fixture(scope="module")
def unchecked_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mturkmake.marketplace.service import Marketplace

    market = Marketplace(tmp_path_factory.mktemp("validation") / "local-marketplace.db")
    return inprocess_client(market, parameter_validation=False)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.id)
def test_one_value_over_each_constraint_is_a_request_error(
    case: Case, unchecked_client: Any
) -> None:
    method = getattr(unchecked_client, botocore.xform_name(case.operation))
    with pytest.raises(unchecked_client.exceptions.RequestError) as caught:
        method(**request_for(case))
    message = caught.value.response["Error"]["Message"]
    assert message.startswith(f"{case.errors} validation error")
    where = wire_where(case.path)
    assert f" at '{where}' failed to satisfy constraint: {PHRASES[case.constraint]}" in message
    if case.constraint in ("min", "max"):
        bound = "greater than" if case.constraint == "min" else "less than"
        assert f"at '{where}' failed to satisfy constraint: Member must have" in message
        assert bound in message
    assert caught.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"


@pytest.mark.parametrize("operation", sorted(MODEL.operation_names))
def test_the_fullest_valid_request_passes_validation(operation: str) -> None:
    validate(operation, baseline(operation, input_shape(operation)))


def test_values_exactly_at_the_limits_pass() -> None:
    validate("ListHITs", {"MaxResults": 100, "NextToken": "t" * 255})
    validate(
        "CreateHITType",
        {
            "AssignmentDurationInSeconds": 31_536_000,
            "AutoApprovalDelayInSeconds": 2_592_000,
            "Reward": "123.45",
            "Title": "t" * 128,
            "Description": "d" * 2000,
            "Keywords": "k" * 1000,
        },
    )


def test_types_are_checked_and_all_errors_reported_at_once() -> None:
    from mturkmake.marketplace.errors import RequestError

    with pytest.raises(RequestError) as caught:
        validate(
            "CreateHIT",
            {
                "LifetimeInSeconds": "3600",
                "AssignmentDurationInSeconds": True,
                "Reward": 1,
                "Title": "t",
                "QualificationRequirements": [
                    {"QualificationTypeId": "X", "Comparator": "Exists", "IntegerValues": ["1"]}
                ],
            },
        )
    message = caught.value.message
    assert message.startswith("5 validation errors detected: ")
    assert (
        "Value '3600' at 'lifetimeInSeconds' failed to satisfy constraint: "
        "Member must be of type long" in message
    )
    assert (
        "at 'assignmentDurationInSeconds' failed to satisfy constraint: "
        "Member must be of type long" in message
    )
    assert "at 'reward' failed to satisfy constraint: Member must be of type string" in message
    assert (
        "Value null at 'description' failed to satisfy constraint: "
        "Member must not be null" in message
    )
    assert "at 'qualificationRequirements.1.member.integerValues.1.member'" in message


def test_long_values_are_shortened_in_messages() -> None:
    from mturkmake.marketplace.errors import RequestError

    with pytest.raises(RequestError) as caught:
        validate("GetHIT", {"HITId": "A" * 5000})
    assert len(caught.value.message) < 300
    assert "..." in caught.value.message


def test_every_constrained_member_the_model_walk_finds_has_a_case() -> None:
    from mturkmake.marketplace.model import operation_names, walk_input

    cased = {(case.operation, case.path) for case in ALL_CASES}
    constrained = {
        (operation, member.path)
        for operation in operation_names()
        for member in walk_input(operation)
        if {"min", "max", "pattern", "enum"} & set(member.shape.metadata)
    }
    assert len(constrained) > 60
    assert constrained <= cased
