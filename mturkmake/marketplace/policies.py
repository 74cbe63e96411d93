"""Review policies as CreateHIT receives them: names, parameters and their documented limits.

MTurk has two (API reference, "Review Policies"): the assignment-level
``ScoreMyKnownAnswers/2011-09-01`` and the HIT-level ``SimplePlurality/2011-09-01``. This module
reads and checks a ``ReviewPolicy`` structure into a :class:`Policy`; :mod:`.review` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mturkmake.marketplace.errors import RequestError

BAD_VALUE = "AWS.MechanicalTurk.InvalidParameterValue"
KNOWN_ANSWERS = "ScoreMyKnownAnswers/2011-09-01"
PLURALITY = "SimplePlurality/2011-09-01"
#: Which policy goes in which CreateHIT parameter.
LEVELS = {"AssignmentReviewPolicy": KNOWN_ANSWERS, "HITReviewPolicy": PLURALITY}

# name: (kind, low, high) — kind "int" (with bounds), "str", "bool", "list" or "map"
_INT = "int"
_SPECS: dict[str, dict[str, tuple[str, int, int]]] = {
    KNOWN_ANSWERS: {
        "AnswerKey": ("map", 0, 0),
        "ApproveIfKnownAnswerScoreIsAtLeast": (_INT, 0, 101),
        "ApproveReason": ("str", 0, 0),
        "RejectIfKnownAnswerScoreIsLessThan": (_INT, 0, 101),
        "RejectReason": ("str", 0, 0),
        "ExtendIfKnownAnswerScoreIsLessThan": (_INT, 0, 101),
        "ExtendMaximumAssignments": (_INT, 2, 25),
        "ExtendMinimumTimeInSeconds": (_INT, 60, 31_536_000),
    },
    PLURALITY: {
        "QuestionIds": ("list", 0, 0),
        "QuestionAgreementThreshold": (_INT, 0, 100),
        "DisregardAssignmentIfRejected": ("bool", 0, 0),
        "DisregardAssignmentIfKnownAnswerScoreIsLessThan": (_INT, 0, 101),
        "ExtendIfHITAgreementScoreIsLessThan": (_INT, 1, 100),
        "ExtendMaximumAssignments": (_INT, 1, 1_000_000_000),
        "ExtendMinimumTimeInSeconds": (_INT, 3600, 31_536_000),
        "ApproveIfWorkerAgreementScoreIsAtLeast": (_INT, 0, 101),
        "ApproveReason": ("str", 0, 0),
        "RejectIfWorkerAgreementScoreIsLessThan": (_INT, 0, 101),
        "RejectReason": ("str", 0, 0),
    },
}
_REQUIRED = {
    KNOWN_ANSWERS: ("AnswerKey",),
    PLURALITY: ("QuestionIds", "QuestionAgreementThreshold"),
}
#: The most QuestionIds a SimplePlurality policy compares (MTurk's documented limit).
MAX_QUESTION_IDS = 15


@dataclass
class Policy:
    """A checked review policy: its name and typed parameters.

    :param values: scalar parameters (ints, strings, booleans) by key.
    :param answer_key: ScoreMyKnownAnswers' AnswerKey, ``{question id: set of values}``.
    :param question_ids: SimplePlurality's QuestionIds.
    """

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    answer_key: dict[str, frozenset[str]] = field(default_factory=dict)
    question_ids: tuple[str, ...] = ()

    def int(self, key: str, default: int | None = None) -> int | None:
        """An integer parameter, or ``default`` when absent."""
        value = self.values.get(key)
        return default if value is None else int(value)

    def text(self, key: str) -> str | None:
        """A string parameter (a reason), or None."""
        value = self.values.get(key)
        return None if value is None else str(value)


def _refuse(name: str, message: str) -> RequestError:
    return RequestError(f"{name}: {message}", BAD_VALUE)


def parse(slot: str, spec: Mapping[str, Any]) -> Policy:
    """``spec`` (a ReviewPolicy structure given as ``slot``) checked into a :class:`Policy`.

    :raises RequestError: an unknown policy, a policy in the wrong slot, an unknown or
        repeated parameter, a value of the wrong type or out of its documented range, a
        missing required parameter.
    """
    name = str(spec.get("PolicyName") or "")
    if name not in _SPECS:
        raise RequestError(
            f"{slot}: unknown PolicyName '{name}' (MTurk has {KNOWN_ANSWERS} and {PLURALITY}).",
            BAD_VALUE,
        )
    if LEVELS[slot] != name:
        raise _refuse(slot, f"{name} is not a policy of this level; {slot} takes {LEVELS[slot]}.")
    specs = _SPECS[name]
    policy = Policy(name)
    seen: set[str] = set()
    for parameter in spec.get("Parameters") or []:
        key = str(parameter.get("Key") or "")
        if key not in specs:
            raise _refuse(name, f"unknown parameter '{key}' (known: {', '.join(specs)}).")
        if key in seen:
            raise _refuse(name, f"parameter '{key}' is given twice.")
        seen.add(key)
        kind, low, high = specs[key]
        values = [str(v) for v in parameter.get("Values") or []]
        entries = list(parameter.get("MapEntries") or [])
        if kind == "map":
            if not entries or values:
                raise _refuse(name, f"{key} takes MapEntries (question id → answer values).")
            for entry in entries:
                question = str(entry.get("Key") or "")
                if not question:
                    raise _refuse(name, f"every {key} entry needs a Key (a question id).")
                policy.answer_key[question] = frozenset(
                    str(v).strip() for v in entry.get("Values") or []
                )
            continue
        if entries:
            raise _refuse(name, f"{key} takes Values, not MapEntries.")
        if kind == "list":
            # "A comma-separated list of questionIds": one value with commas, or several.
            ids = tuple(q.strip() for v in values for q in v.split(",") if q.strip())
            if not ids:
                raise _refuse(name, f"{key} needs at least one question id.")
            if len(ids) > MAX_QUESTION_IDS:
                raise _refuse(name, f"{key} takes at most {MAX_QUESTION_IDS} question ids.")
            policy.question_ids = ids
            continue
        if len(values) != 1:
            raise _refuse(name, f"{key} takes exactly one value.")
        value = values[0].strip()
        if kind == "bool":
            if value.lower() not in ("true", "false", "t", "f"):
                raise _refuse(name, f"{key} must be true or false, not '{value}'.")
            policy.values[key] = value.lower() in ("true", "t")
        elif kind == _INT:
            try:
                number = int(value)
            except ValueError:
                raise _refuse(name, f"{key} must be a whole number, not '{value}'.") from None
            if not low <= number <= high:
                raise _refuse(name, f"{key} must be between {low} and {high}, not {number}.")
            policy.values[key] = number
        else:
            policy.values[key] = value
    for key in _REQUIRED[name]:
        if key not in seen:
            raise _refuse(name, f"the parameter {key} is required.")
    if name == PLURALITY and "ExtendIfHITAgreementScoreIsLessThan" in seen:
        for key in ("ExtendMaximumAssignments", "ExtendMinimumTimeInSeconds"):
            if key not in seen:
                raise _refuse(
                    name, f"{key} is required when ExtendIfHITAgreementScoreIsLessThan is given."
                )
    return policy


def check_request(params: Mapping[str, Any]) -> None:
    """Refuse a CreateHIT whose review policies MTurk would refuse."""
    for slot in LEVELS:
        if slot in params:
            parse(slot, params[slot])


def answer_values(value: object) -> frozenset[str]:
    """An answer (free text, or a tuple of selections) as the set MTurk compares: each value
    with whitespace removed from both ends; empty values dropped."""
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (tuple, list)):
        items = [str(v) for v in value]
    else:
        items = []
    return frozenset(s for s in (str(i).strip() for i in items) if s)
