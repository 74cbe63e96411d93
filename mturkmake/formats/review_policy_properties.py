"""Review policies in a HIT properties file: the ``assignmentreviewpolicy.*`` and
``hitreviewpolicy.*`` keys, read into CreateHIT's ``AssignmentReviewPolicy`` and
``HITReviewPolicy`` structures (a mturkmake extension: the CLT had no such keys).

Syntax (N, M, K: positive numbers; values taken whole, commas included)::

    assignmentreviewpolicy.name:ScoreMyKnownAnswers/2011-09-01
    assignmentreviewpolicy.parameter.1.key:AnswerKey
    assignmentreviewpolicy.parameter.1.mapentry.1.key:q1
    assignmentreviewpolicy.parameter.1.mapentry.1.value:cat
    assignmentreviewpolicy.parameter.2.key:ApproveIfKnownAnswerScoreIsAtLeast
    assignmentreviewpolicy.parameter.2.value:100
    hitreviewpolicy.name:SimplePlurality/2011-09-01
    hitreviewpolicy.parameter.1.key:QuestionIds
    hitreviewpolicy.parameter.1.value.1:q1
    hitreviewpolicy.parameter.1.value.2:q2

``….value`` gives one value, ``….value.K`` several (in K order; not both). Parameters and
map entries keep their number order. The policy names and parameter names are those MTurk
documents ("Review Policies"); the marketplace (or MTurk) checks the values.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from mturkmake.errors import FormatError
from mturkmake.formats.javaprops import Property

#: The two CreateHIT parameters, their key prefix, and the one policy each takes.
SLOTS = {
    "assignmentreviewpolicy": ("AssignmentReviewPolicy", "ScoreMyKnownAnswers/2011-09-01"),
    "hitreviewpolicy": ("HITReviewPolicy", "SimplePlurality/2011-09-01"),
}
PARAMETERS = {
    "ScoreMyKnownAnswers/2011-09-01": (
        "AnswerKey",
        "ApproveIfKnownAnswerScoreIsAtLeast",
        "ApproveReason",
        "RejectIfKnownAnswerScoreIsLessThan",
        "RejectReason",
        "ExtendIfKnownAnswerScoreIsLessThan",
        "ExtendMaximumAssignments",
        "ExtendMinimumTimeInSeconds",
    ),
    "SimplePlurality/2011-09-01": (
        "QuestionIds",
        "QuestionAgreementThreshold",
        "DisregardAssignmentIfRejected",
        "DisregardAssignmentIfKnownAnswerScoreIsLessThan",
        "ExtendIfHITAgreementScoreIsLessThan",
        "ExtendMaximumAssignments",
        "ExtendMinimumTimeInSeconds",
        "ApproveIfWorkerAgreementScoreIsAtLeast",
        "ApproveReason",
        "RejectIfWorkerAgreementScoreIsLessThan",
        "RejectReason",
    ),
}
_KEY = re.compile(
    r"(assignmentreviewpolicy|hitreviewpolicy)\."
    r"(?:(name)|parameter\.([0-9]+)\.(?:(key)|value(?:\.([0-9]+))?"
    r"|mapentry\.([0-9]+)\.(?:(key)|value(?:\.([0-9]+))?)))"
)


def is_policy_key(key: str) -> bool:
    """Whether ``key`` starts one of the two review-policy prefixes."""
    return key.split(".", 1)[0] in SLOTS


def _error(source: str, prop: Property, message: str, hint: str) -> FormatError:
    return FormatError(f"{prop.key}: {message}", file=source, line=prop.line, hint=hint)


class _Values:
    """Values of one parameter or map entry: ``value`` once, or ``value.K`` several."""

    def __init__(self) -> None:
        self.single: Property | None = None
        self.numbered: dict[int, Property] = {}

    def add(self, number: str | None, prop: Property, source: str) -> None:
        if number is None:
            self.single = prop
        else:
            self.numbered[int(number)] = prop
        if self.single is not None and self.numbered:
            raise _error(
                source,
                prop,
                "give either one '.value' or numbered '.value.K' lines, not both",
                "use .value.1, .value.2, … for several values",
            )

    def texts(self) -> list[str]:
        if self.single is not None:
            return [self.single.value]
        return [self.numbered[k].value for k in sorted(self.numbered)]

    def props(self) -> list[Property]:
        return [self.single] if self.single else list(self.numbered.values())


class _Parameter:
    def __init__(self) -> None:
        self.key: Property | None = None
        self.values = _Values()
        self.entries: dict[int, tuple[list[Property], _Values]] = {}


def parse_review_policies(raw: Mapping[str, Property], *, source: str) -> dict[str, Any]:
    """``{"AssignmentReviewPolicy": {...}, "HITReviewPolicy": {...}}`` (only those given)
    from the review-policy keys of ``raw``.

    :raises FormatError: a malformed key, a policy without a name, an unknown policy or
        parameter name, a policy in the wrong prefix, a value or map entry without its key.
    """
    names: dict[str, Property] = {}
    parameters: dict[str, dict[int, _Parameter]] = {}
    for key, prop in raw.items():
        if not is_policy_key(key):
            continue
        match = _KEY.fullmatch(key)
        if match is None:
            raise _error(
                source,
                prop,
                "is not a review-policy key",
                "write <prefix>.name, <prefix>.parameter.N.key, <prefix>.parameter.N.value, "
                "or <prefix>.parameter.N.mapentry.M.key/value",
            )
        prefix, name, number, key_part, value_n, entry, entry_key, entry_value_n = match.groups()
        if name:
            names[prefix] = prop
            continue
        parameter = parameters.setdefault(prefix, {}).setdefault(int(number), _Parameter())
        if key_part:
            parameter.key = prop
        elif entry is None:
            parameter.values.add(value_n, prop, source)
        else:
            keys, values = parameter.entries.setdefault(int(entry), ([], _Values()))
            if entry_key:
                keys.append(prop)
            else:
                values.add(entry_value_n, prop, source)
    policies: dict[str, Any] = {}
    for prefix, (slot, policy_name) in SLOTS.items():
        if prefix not in names and prefix not in parameters:
            continue
        if prefix not in names:
            first = min(
                (p for param in parameters[prefix].values() for p in _lines(param)),
                key=lambda p: p.line,
            )
            raise _error(
                source, first, "the policy has no name", f"add {prefix}.name:{policy_name}"
            )
        given = names[prefix]
        if given.value.strip() != policy_name:
            other = [n for n in PARAMETERS if n != policy_name]
            hint = (
                f"{given.value.strip()} goes in the other prefix; {prefix} takes {policy_name}"
                if given.value.strip() in other
                else f"write {prefix}.name:{policy_name}"
            )
            raise _error(source, given, f"unknown review policy '{given.value}'", hint)
        structure: dict[str, Any] = {"PolicyName": policy_name, "Parameters": []}
        for number in sorted(parameters.get(prefix, {})):
            structure["Parameters"].append(
                _parameter(parameters[prefix][number], prefix, number, policy_name, source)
            )
        policies[slot] = structure
    return policies


def _lines(parameter: _Parameter) -> list[Property]:
    found = [parameter.key] if parameter.key else []
    found += parameter.values.props()
    for keys, values in parameter.entries.values():
        found += keys + values.props()
    return found


def _parameter(
    parameter: _Parameter, prefix: str, number: int, policy_name: str, source: str
) -> dict[str, Any]:
    where = f"{prefix}.parameter.{number}"
    if parameter.key is None:
        first = min(_lines(parameter), key=lambda p: p.line)
        raise _error(source, first, f"{where} has no key", f"add {where}.key:<parameter name>")
    name = parameter.key.value.strip()
    known = PARAMETERS[policy_name]
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        raise _error(
            source,
            parameter.key,
            f"{policy_name} has no parameter '{name}'",
            f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}",
        )
    out: dict[str, Any] = {"Key": name}
    values = parameter.values.texts()
    if values:
        out["Values"] = values
    if parameter.entries:
        entries = []
        for entry_number in sorted(parameter.entries):
            keys, entry_values = parameter.entries[entry_number]
            if not keys:
                first = entry_values.props()[0]
                raise _error(
                    source,
                    first,
                    f"{where}.mapentry.{entry_number} has no key",
                    f"add {where}.mapentry.{entry_number}.key:<question id>",
                )
            entries.append({"Key": keys[-1].value.strip(), "Values": entry_values.texts()})
        out["MapEntries"] = entries
    return out


def dump_review_policies(policies: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``key:value`` pairs that parse back to ``policies`` (see the module's syntax)."""
    pairs: list[tuple[str, str]] = []
    for prefix, (slot, _name) in SLOTS.items():
        policy = policies.get(slot)
        if policy is None:
            continue
        pairs.append((f"{prefix}.name", str(policy["PolicyName"])))
        for n, parameter in enumerate(policy.get("Parameters") or [], start=1):
            where = f"{prefix}.parameter.{n}"
            pairs.append((f"{where}.key", str(parameter["Key"])))
            for k, value in enumerate(parameter.get("Values") or [], start=1):
                pairs.append((f"{where}.value.{k}", str(value)))
            for m, entry in enumerate(parameter.get("MapEntries") or [], start=1):
                pairs.append((f"{where}.mapentry.{m}.key", str(entry["Key"])))
                for k, value in enumerate(entry.get("Values") or [], start=1):
                    pairs.append((f"{where}.mapentry.{m}.value.{k}", str(value)))
    return pairs
