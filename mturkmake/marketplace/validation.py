"""Input validation driven by botocore's MTurk model plus the documented limits.

botocore checks only part of the model on the client (types, required members, ``min``) and
sends ``MaxResults=101``, a 65-character token or ``BonusAmount='$1'`` unchanged
(reference/mturk-api.md §1.3); the AWS CLI, raw HTTP and ``parameter_validation=False`` clients
check nothing. So the marketplace checks every member of the input shape, recursively: type,
``required``, ``min``/``max`` (string and list length, number value), ``pattern``, ``enum``, and
:data:`~mturkmake.marketplace.model.DOCUMENTED_LIMITS`.

Messages follow the AWS validation wording MTurk itself returns for model violations
(``1 validation error detected: Value null at 'requesterFeedback' failed to satisfy
constraint: Member must not be null``, boto3 issues 1222/1223), with the member path in
lower camel case and list elements as ``name.N.member`` (1-based). Real MTurk answers those as
``ValidationException``; we answer ``RequestError`` with TurkErrorCode
``AWS.MechanicalTurk.InvalidParameterValue`` because the 2017 model declares only
``RequestError`` and ``ServiceFault``, so every client (boto3's modeled exceptions, the ledger's
retry rules) treats it as a non-retryable user error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.model import documented_limits, operation_model

INVALID_PARAMETER = "AWS.MechanicalTurk.InvalidParameterValue"

# Values are echoed in messages; a 64 KB question would drown the one line the user sees.
_ECHO_LIMIT = 80


def validate(operation: str, params: Mapping[str, Any]) -> None:
    """Check ``params`` against ``operation``'s input shape; raise :class:`RequestError`.

    All violations are reported in one message, as AWS does.
    """
    shape = operation_model(operation).input_shape
    problems: list[str] = []
    if shape is None:
        if params:
            problems.append(_problem(params, (), "Member must be empty"))
    else:
        checker = _Checker(operation, problems)
        checker.check(shape, params, (), ())
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise RequestError(
            f"{count} validation {noun} detected: " + "; ".join(problems), INVALID_PARAMETER
        )


class _Checker:
    """Walks one request beside its shape, collecting violation messages."""

    def __init__(self, operation: str, problems: list[str]) -> None:
        self.limits = documented_limits(operation)
        self.problems = problems

    def fail(self, value: Any, where: tuple[str, ...], what: str) -> None:
        self.problems.append(_problem(value, where, what))

    def check(
        self, shape: Shape, value: Any, where: tuple[str, ...], path: tuple[str, ...]
    ) -> None:
        """Check ``value`` of ``shape``; ``where`` is the wire path, ``path`` the model path."""
        kind = shape.type_name
        if kind == "structure":
            self.check_structure(shape, value, where, path)
        elif kind == "list":
            self.check_list(shape, value, where, path)
        elif kind == "string":
            self.check_string(shape, value, where, path)
        elif kind in ("integer", "long"):
            self.check_number(shape, value, where, path, integral=True)
        elif kind in ("float", "double"):  # pragma: no cover - MTurk's inputs have none
            self.check_number(shape, value, where, path, integral=False)
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.fail(value, where, "Member must be of type boolean")
        elif kind == "timestamp":
            # botocore sends request timestamps as epoch seconds (JSON 1.1, §1 of the reference).
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(value, where, "Member must be a timestamp in epoch seconds")
        else:  # pragma: no cover - a future model type; refuse rather than pass it through
            self.fail(value, where, f"Member has an unsupported type {kind}")

    def check_structure(
        self, shape: Shape, value: Any, where: tuple[str, ...], path: tuple[str, ...]
    ) -> None:
        if not isinstance(value, Mapping):
            self.fail(value, where, "Member must be a structure")
            return
        members: Mapping[str, Shape] = shape.members  # type: ignore[attr-defined]
        for name in shape.metadata.get("required", ()):
            if value.get(name) is None:
                self.fail(None, (*where, name), "Member must not be null")
        for name, item in value.items():
            member = members.get(name)
            if member is None:
                self.fail(item, (*where, name), "Member is not a parameter of this operation")
            elif item is not None:
                self.check(member, item, (*where, name), (*path, name))

    def check_list(
        self, shape: Shape, value: Any, where: tuple[str, ...], path: tuple[str, ...]
    ) -> None:
        if not isinstance(value, list):
            self.fail(value, where, "Member must be a list")
            return
        self.check_bounds(shape, value, len(value), "length", where, path)
        element: Shape = shape.member  # type: ignore[attr-defined]
        for index, item in enumerate(value, start=1):
            self.check(element, item, (*where, str(index), "member"), (*path, "[]"))

    def check_string(
        self, shape: Shape, value: Any, where: tuple[str, ...], path: tuple[str, ...]
    ) -> None:
        if not isinstance(value, str):
            self.fail(value, where, "Member must be of type string")
            return
        self.check_bounds(shape, value, len(value), "length", where, path)
        max_bytes = self.limits.get(path, {}).get("max_bytes")
        if max_bytes is not None and len(value.encode("utf-8")) > max_bytes:
            self.fail(value, where, f"Member must have bytes less than or equal to {max_bytes}")
        pattern = shape.metadata.get("pattern")
        if pattern is not None and _compiled(pattern).fullmatch(value) is None:
            self.fail(value, where, f"Member must satisfy regular expression pattern: {pattern}")
        enum = shape.metadata.get("enum")
        if enum is not None and value not in enum:
            self.fail(value, where, f"Member must satisfy enum value set: [{', '.join(enum)}]")

    def check_number(
        self,
        shape: Shape,
        value: Any,
        where: tuple[str, ...],
        path: tuple[str, ...],
        *,
        integral: bool,
    ) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(value, where, f"Member must be of type {shape.type_name}")
            return
        if integral and isinstance(value, float) and not value.is_integer():
            self.fail(value, where, f"Member must be of type {shape.type_name}")
            return
        self.check_bounds(shape, value, value, "value", where, path)

    def check_bounds(  # noqa: PLR0917 - one call site per kind, all positional for brevity
        self,
        shape: Shape,
        value: Any,
        measure: float,
        noun: str,
        where: tuple[str, ...],
        path: tuple[str, ...],
    ) -> None:
        """``min``/``max`` from the model, tightened by the documented limits of ``path``."""
        low: float | None = shape.metadata.get("min")
        high: float | None = shape.metadata.get("max")
        extra = self.limits.get(path, {})
        if "min" in extra:
            low = extra["min"] if low is None else max(low, extra["min"])
        if "max" in extra:
            high = extra["max"] if high is None else min(high, extra["max"])
        if low is not None and measure < low:
            self.fail(value, where, f"Member must have {noun} greater than or equal to {low}")
        if high is not None and measure > high:
            self.fail(value, where, f"Member must have {noun} less than or equal to {high}")


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def wire_path(where: tuple[str, ...]) -> str:
    """AWS's spelling of a member path: lower camel case names, ``name.N.member`` for lists."""
    return ".".join(part[:1].lower() + part[1:] for part in where)


def _problem(value: Any, where: tuple[str, ...], what: str) -> str:
    return f"Value {_echo(value)} at '{wire_path(where)}' failed to satisfy constraint: {what}"


def _echo(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = "[" + ", ".join(str(item) for item in value) + "]"
    else:
        text = str(value)
    if len(text) > _ECHO_LIMIT:
        text = text[: _ECHO_LIMIT - 3] + "..."
    return f"'{text}'"
