"""The CLT's HIT properties file, typed and checked against the API limits (DESIGN §6).

The file is ``java.util.Properties`` (see :mod:`mturkmake.formats.javaprops`). loadHITs
templates the values per input row before they reach :func:`parse_hit_properties`, which
therefore takes already-merged :class:`~mturkmake.formats.javaprops.Property` items and keeps
each raw value and line for error messages.

Keys: ``title``, ``description``, ``keywords``, ``reward``, ``assignments``, ``annotation``,
``assignmentduration``, ``hitlifetime``, ``autoapprovaldelay``, the ``qualification.*`` keys
of :mod:`mturkmake.formats.qualification_requirements` (N is any positive number; at most 10
requirements), and the ``assignmentreviewpolicy.*`` / ``hitreviewpolicy.*`` keys of
:mod:`mturkmake.formats.review_policy_properties` (a mturkmake extension). Departures from the
CLT: unknown keys are errors (the CLT ignored them), ``$0.06`` and ``$0.06 USD`` rewards are
accepted (the CLT threw), and so are the API's comparators DoesNotExist, In and NotIn.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.javaprops import Property
from mturkmake.formats.qualification_requirements import (
    ALIASES,
    COMPARATORS,
    LOCALE_ID,
    MASTERS_IDS,
    EndpointKind,
    Locale,
    QualificationRequirement,
    check_requirement,
    parse_requirement,
)
from mturkmake.formats.review_policy_properties import (
    dump_review_policies,
    is_policy_key,
    parse_review_policies,
)

SIMPLE_KEYS = (
    "title",
    "description",
    "keywords",
    "reward",
    "assignments",
    "annotation",
    "assignmentduration",
    "hitlifetime",
    "autoapprovaldelay",
)
REQUIRED_KEYS = ("title", "description", "reward", "assignmentduration", "hitlifetime")
_QUAL_KEY = re.compile(r"qualification\.(?:(comparator|value|locale|private)\.)?([0-9]+)")
_REWARD = re.compile(r"\$?\s*(-?[0-9]*\.?[0-9]*)\s*(?:USD)?", re.IGNORECASE)

#: API limits (DESIGN §6; legacy API reference and the 2017 model).
MAX_TITLE, MAX_DESCRIPTION, MAX_KEYWORDS, MAX_ANNOTATION = 128, 2_000, 1_000, 255
MIN_SECONDS, MAX_SECONDS, MAX_AUTO_APPROVAL = 30, 31_536_000, 2_592_000
MAX_REQUIREMENTS = 10


@dataclass(frozen=True)
class HitProperties:
    """A HIT properties file after merging and parsing.

    :param reward: in USD, at most two decimals.
    :param auto_approval_delay: ``None`` when absent (the API then uses 30 days).
    :param raw: every property as written (after merging), by key, with its line.
    """

    title: str
    description: str
    reward: Decimal
    assignment_duration: int
    lifetime: int
    assignments: int = 1
    keywords: str | None = None
    annotation: str | None = None
    auto_approval_delay: int | None = None
    qualification_requirements: tuple[QualificationRequirement, ...] = ()
    #: ``AssignmentReviewPolicy`` / ``HITReviewPolicy`` structures, as CreateHIT takes them.
    review_policies: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    raw: Mapping[str, Property] = field(default_factory=dict)

    @property
    def reward_amount(self) -> str:
        """The reward as the API's CurrencyAmount string, e.g. ``"0.05"``."""
        return f"{self.reward:.2f}"

    def line(self, key: str) -> int | None:
        """The line of ``key`` in the file, if it was there."""
        prop = self.raw.get(key)
        return prop.line if prop else None

    def hit_type_params(self) -> dict[str, Any]:
        """Keyword arguments for CreateHITType; equal dicts mean one shared HIT type."""
        params: dict[str, Any] = {
            "Title": self.title,
            "Description": self.description,
            "Reward": self.reward_amount,
            "AssignmentDurationInSeconds": self.assignment_duration,
        }
        if self.auto_approval_delay is not None:
            params["AutoApprovalDelayInSeconds"] = self.auto_approval_delay
        if self.keywords:
            params["Keywords"] = self.keywords
        if self.qualification_requirements:
            params["QualificationRequirements"] = [
                q.to_api() for q in self.qualification_requirements
            ]
        return params

    def hit_params(self) -> dict[str, Any]:
        """Per-HIT keyword arguments for CreateHITWithHITType (without HITTypeId and Question)."""
        params: dict[str, Any] = {
            "LifetimeInSeconds": self.lifetime,
            "MaxAssignments": self.assignments,
        }
        if self.annotation:
            params["RequesterAnnotation"] = self.annotation
        for slot, policy in self.review_policies.items():
            params[slot] = copy.deepcopy(policy)
        return params


def _error(source: str, prop: Property, message: str, hint: str) -> FormatError:
    return FormatError(f"{prop.key}: {message}", file=source, line=prop.line, hint=hint)


def parse_reward(prop: Property, *, source: str) -> Decimal:
    """``0.06``, ``$0.06``, ``$0.06 USD`` or ``0.00`` → ``Decimal("0.06")``; cents at most."""
    match = _REWARD.fullmatch(prop.value.strip())
    text = match.group(1) if match else ""
    try:
        amount = Decimal(text) if text.strip("-.") else None
    except InvalidOperation:
        amount = None
    if amount is None:
        raise _error(source, prop, f"'{prop.value}' is not an amount", "write e.g. reward:0.05")
    amount = Decimal("0.00") if amount == 0 else amount  # "-0" is zero, not a negative reward
    if amount != amount.quantize(Decimal("0.01")):
        raise _error(
            source, prop, f"{amount} has more than two decimals", "round to whole cents, e.g. 0.05"
        )
    return amount.quantize(Decimal("0.01"))


def _int(prop: Property, *, source: str, what: str = "a whole number") -> int:
    text = prop.value.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        example = "3" if prop.key == "assignments" else "3600"
        raise _error(
            source, prop, f"'{prop.value}' is not {what}", f"write e.g. {prop.key}:{example}"
        )
    return int(text)


def parse_hit_properties(
    props: Iterable[Property],
    *,
    source: str,
    endpoint_kind: EndpointKind,
    check: bool = True,
) -> HitProperties:
    """Type the (merged) properties and, unless ``check=False``, apply :func:`check_limits`.

    :param props: the pairs, e.g. from :func:`javaprops.parse` then per-row templating; a
        repeated key keeps its last value.
    :param source: the file name for error messages.
    :param endpoint_kind: picks the ids behind aliases (``local`` uses the sandbox's).
    :raises FormatError: an unknown or missing key, a bad number, reward, comparator,
        locale or flag, or (with ``check``) an API limit exceeded; at the property's line.
    """
    raw: dict[str, Property] = {}
    for prop in props:
        raw[prop.key] = prop
    if not raw:
        raise FormatError(
            "the HIT properties file is empty",
            file=source,
            line=1,
            hint="write at least title, description, reward, assignmentduration and hitlifetime",
        )
    qualifications: dict[int, dict[str, Property]] = {}
    for key, prop in raw.items():
        match = _QUAL_KEY.fullmatch(key)
        if match and int(match.group(2)) >= 1:
            qualifications.setdefault(int(match.group(2)), {})[match.group(1) or ""] = prop
        elif is_policy_key(key):
            continue  # parse_review_policies reads them
        elif key not in SIMPLE_KEYS:
            close = difflib.get_close_matches(key, [*SIMPLE_KEYS, "qualification.1"], n=1)
            raise FormatError(
                f"unknown property '{key}'",
                file=source,
                line=prop.line,
                hint=f"did you mean '{close[0]}'?" if close else f"known: {', '.join(SIMPLE_KEYS)}",
            )
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise FormatError(
                f"the required property '{key}' is missing",
                file=source,
                line=1,
                hint=f"add a line '{key}:…'",
            )
    requirements: list[QualificationRequirement] = []
    for index in sorted(qualifications):
        parts = qualifications[index]
        if "" not in parts:
            orphan = min(parts.values(), key=lambda p: p.line)
            raise _error(
                source,
                orphan,
                f"there is no qualification.{index} for it",
                f"add qualification.{index}:<type id> or remove the line",
            )
        requirements.append(
            parse_requirement(index, parts, source=source, endpoint_kind=endpoint_kind)
        )

    def optional_int(key: str) -> int | None:
        return _int(raw[key], source=source) if key in raw else None

    assignments = optional_int("assignments")
    result = HitProperties(
        title=raw["title"].value,
        description=raw["description"].value,
        reward=parse_reward(raw["reward"], source=source),
        assignment_duration=_int(raw["assignmentduration"], source=source),
        lifetime=_int(raw["hitlifetime"], source=source),
        assignments=1 if assignments is None else assignments,
        keywords=raw["keywords"].value if "keywords" in raw else None,
        annotation=raw["annotation"].value if "annotation" in raw else None,
        auto_approval_delay=optional_int("autoapprovaldelay"),
        qualification_requirements=tuple(requirements),
        review_policies=parse_review_policies(raw, source=source),
        source=source,
        raw=MappingProxyType(raw),
    )
    if check:
        check_limits(result)
    return result


#: The keys whose values only :func:`check_limits`' first four checks read: two merges of
#: a properties file that differ only in these parse to the same HIT but for them.
TEXT_KEYS = ("title", "description", "keywords", "annotation")


def with_texts(hit: HitProperties, props: Iterable[Property]) -> HitProperties:
    """What ``parse_hit_properties(props, check=True)`` returns, given ``hit``: the checked
    parse of a merge of the same file whose values differ from ``props`` only in
    :data:`TEXT_KEYS` (issue #17: rows that differ only in their annotation parse once).

    :raises FormatError: the first text limit ``props`` exceeds (the checks that come first
        in :func:`check_limits`; the others passed for ``hit`` with the same values).
    """
    raw: dict[str, Property] = {}
    for prop in props:
        raw[prop.key] = prop
    # A copy of the frozen instance with five fields set: what dataclasses.replace makes,
    # without its per-field work (this runs for every row of a batch).
    result = object.__new__(HitProperties)
    fields = result.__dict__
    fields.update(hit.__dict__)
    fields["title"] = raw["title"].value
    fields["description"] = raw["description"].value
    fields["keywords"] = raw["keywords"].value if "keywords" in raw else None
    fields["annotation"] = raw["annotation"].value if "annotation" in raw else None
    fields["raw"] = MappingProxyType(raw)
    _check_text(result, "title", result.title, 1, MAX_TITLE)
    _check_text(result, "description", result.description, 1, MAX_DESCRIPTION)
    _check_text(result, "keywords", result.keywords, 0, MAX_KEYWORDS)
    _check_text(result, "annotation", result.annotation, 0, MAX_ANNOTATION)
    return result


def _limit(hit: HitProperties, key: str, message: str, hint: str) -> FormatError:
    return FormatError(f"{key}: {message}", file=hit.source, line=hit.line(key), hint=hint)


def _check_text(hit: HitProperties, key: str, value: str | None, low: int, high: int) -> None:
    if value is None:
        return
    if low and not value.strip():
        raise _limit(hit, key, "is empty", f"write a {key} (1 to {high:,} characters)")
    if len(value) > high:
        raise _limit(
            hit, key, f"has {len(value):,} characters; MTurk allows {high:,}", f"shorten the {key}"
        )


def _check_range(hit: HitProperties, key: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise _limit(
            hit,
            key,
            f"{value:,} seconds is outside {low:,}..{high:,}",
            f"set {key} between {low:,} and {high:,} seconds",
        )


def check_limits(hit: HitProperties) -> None:
    """Apply the API limits of DESIGN §6, raising :class:`FormatError` at the property's line.

    Title 1–128 characters, description 1–2,000, keywords ≤ 1,000, annotation ≤ 255,
    assignments ≥ 1, assignmentduration and hitlifetime 30–31,536,000 s, autoapprovaldelay
    0–2,592,000 s, reward ≥ 0.00, at most 10 qualification requirements, each with a value
    count its comparator accepts (In/NotIn: ≤ 15 integers or ≤ 30 locales).
    """
    _check_text(hit, "title", hit.title, 1, MAX_TITLE)
    _check_text(hit, "description", hit.description, 1, MAX_DESCRIPTION)
    _check_text(hit, "keywords", hit.keywords, 0, MAX_KEYWORDS)
    _check_text(hit, "annotation", hit.annotation, 0, MAX_ANNOTATION)
    if hit.assignments < 1:
        raise _limit(
            hit, "assignments", f"{hit.assignments} is below 1", "set assignments to 1 or more"
        )
    _check_range(hit, "assignmentduration", hit.assignment_duration, MIN_SECONDS, MAX_SECONDS)
    _check_range(hit, "hitlifetime", hit.lifetime, MIN_SECONDS, MAX_SECONDS)
    _check_range(hit, "autoapprovaldelay", hit.auto_approval_delay, 0, MAX_AUTO_APPROVAL)
    if hit.reward < 0:
        raise _limit(hit, "reward", f"{hit.reward} is negative", "set reward to 0.00 or more")
    requirements = hit.qualification_requirements
    if len(requirements) > MAX_REQUIREMENTS:
        extra = requirements[MAX_REQUIREMENTS]
        raise FormatError(
            f"{len(requirements)} qualification requirements; MTurk allows {MAX_REQUIREMENTS}",
            file=hit.source,
            line=extra.line,
            hint=f"remove requirements, e.g. from qualification.{extra.index} on",
        )
    for requirement in requirements:
        check_requirement(requirement, source=hit.source, line_of=hit.line)


def dump_hit_properties(hit: HitProperties) -> str:
    """Write ``hit`` as a CLT-style properties file (``key:value``) that parses back equal."""
    pairs: list[tuple[str, str]] = [
        ("title", hit.title),
        ("description", hit.description),
        ("reward", hit.reward_amount),
        ("assignments", str(hit.assignments)),
        ("assignmentduration", str(hit.assignment_duration)),
        ("hitlifetime", str(hit.lifetime)),
    ]
    optional = {
        "keywords": hit.keywords,
        "annotation": hit.annotation,
        "autoapprovaldelay": None
        if hit.auto_approval_delay is None
        else str(hit.auto_approval_delay),
    }
    pairs += [(key, value) for key, value in optional.items() if value is not None]
    for req in hit.qualification_requirements:
        n = req.index
        pairs.append((f"qualification.{n}", req.qualification_type_id))
        pairs.append((f"qualification.comparator.{n}", req.comparator.lower()))
        if req.integer_values:
            pairs.append((f"qualification.value.{n}", ",".join(map(str, req.integer_values))))
        if req.locale_values:
            locales = [
                loc.country + (f"-{loc.subdivision}" if loc.subdivision else "")
                for loc in req.locale_values
            ]
            pairs.append((f"qualification.locale.{n}", ",".join(locales)))
        if req.actions_guarded == "PreviewAndAccept":
            pairs.append((f"qualification.private.{n}", "true"))
    pairs += dump_review_policies(hit.review_policies)
    return javaprops.dump(pairs, separator=":")


def load_hit_properties(path: str | Path, *, endpoint_kind: EndpointKind) -> HitProperties:
    """Read, parse and check an untemplated HIT properties file."""
    return parse_hit_properties(javaprops.load(path), source=str(path), endpoint_kind=endpoint_kind)


__all__ = [
    "ALIASES",
    "COMPARATORS",
    "LOCALE_ID",
    "MASTERS_IDS",
    "TEXT_KEYS",
    "EndpointKind",
    "HitProperties",
    "Locale",
    "QualificationRequirement",
    "check_limits",
    "dump_hit_properties",
    "load_hit_properties",
    "parse_hit_properties",
    "parse_reward",
    "with_texts",
]
