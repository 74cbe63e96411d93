"""Qualification requirements of a HIT: the ``qualification.*`` properties, typed for the API.

Per requirement N: ``qualification.N`` (a type id, or a name resolved per endpoint:
``masters``, ``locale``, ``approvalrate``, ``numberhitsapproved``, ``adult``; the local
marketplace uses the sandbox's ids), ``qualification.comparator.N`` (the CLT's words or the
API's, any case), ``qualification.value.N`` (``1`` or ``1,2,3``), ``qualification.locale.N``
(``US,US-NY,CA``) and ``qualification.private.N`` (``true`` → ``ActionsGuarded:
PreviewAndAccept``: workers without it may not even preview). :func:`check_requirement`
applies the API's value-count rules (In/NotIn: ≤ 15 integers or ≤ 30 locales).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mturkmake import fees
from mturkmake.errors import FormatError
from mturkmake.formats.javaprops import Property

EndpointKind = Literal["local", "sandbox", "production"]

#: Comparator spellings (lower case, as the CLT compared them) → the API's enum value.
COMPARATORS = {
    name.lower(): name
    for name in (
        "LessThan",
        "LessThanOrEqualTo",
        "GreaterThan",
        "GreaterThanOrEqualTo",
        "EqualTo",
        "NotEqualTo",
        "Exists",
        "DoesNotExist",
        "In",
        "NotIn",
    )
}
LOCALE_ID = "00000000000000000071"
MASTERS_IDS = fees.MASTERS_QUALIFICATION_IDS
#: Named system qualifications; ``masters`` differs per endpoint (local uses the sandbox's).
ALIASES: Mapping[str, str | Mapping[str, str]] = {
    "masters": MASTERS_IDS,
    "locale": LOCALE_ID,
    "approvalrate": "000000000000000000L0",
    "numberhitsapproved": "00000000000000000040",
    "adult": "00000000000000000060",
}
MAX_IN_INTEGERS, MAX_IN_LOCALES = 15, 30
_LOCALE = re.compile(r"([A-Za-z]{2})(?:-([A-Za-z0-9]{2}))?")


def _error(source: str, prop: Property, message: str, hint: str) -> FormatError:
    return FormatError(f"{prop.key}: {message}", file=source, line=prop.line, hint=hint)


@dataclass(frozen=True)
class Locale:
    """A ``LocaleValue``: ISO 3166 country and optional ISO 3166-2 subdivision."""

    country: str
    subdivision: str | None = None

    def to_api(self) -> dict[str, str]:
        """``{"Country": …, "Subdivision": …}`` as the API expects."""
        value = {"Country": self.country}
        if self.subdivision:
            value["Subdivision"] = self.subdivision
        return value


@dataclass(frozen=True)
class QualificationRequirement:
    """One ``QualificationRequirement``, shaped for the API, and where it came from.

    :param index: N of ``qualification.N``.
    :param line: the line of ``qualification.N``.
    """

    qualification_type_id: str
    comparator: str
    integer_values: tuple[int, ...] = ()
    locale_values: tuple[Locale, ...] = ()
    actions_guarded: str | None = None
    required_to_preview: bool | None = None
    index: int = 0
    line: int = 0

    def to_api(self) -> dict[str, Any]:
        """The ``QualificationRequirements`` item for CreateHITType."""
        item: dict[str, Any] = {
            "QualificationTypeId": self.qualification_type_id,
            "Comparator": self.comparator,
        }
        if self.integer_values:
            item["IntegerValues"] = list(self.integer_values)
        if self.locale_values:
            item["LocaleValues"] = [loc.to_api() for loc in self.locale_values]
        if self.actions_guarded is not None:
            item["ActionsGuarded"] = self.actions_guarded
        if self.required_to_preview is not None:
            item["RequiredToPreview"] = self.required_to_preview
        return item


def parse_requirement(
    index: int,
    parts: Mapping[str, Property],
    *,
    source: str,
    endpoint_kind: EndpointKind,
) -> QualificationRequirement:
    """Type requirement N from its properties.

    :param parts: ``""`` → ``qualification.N`` (required), and optionally ``comparator``,
        ``value``, ``locale``, ``private`` → the matching ``qualification.<part>.N``.
    :param endpoint_kind: picks the ids behind aliases (``local`` uses the sandbox's).
    :raises FormatError: an unknown type name, a Masters id of another endpoint, a missing
        or unknown comparator, a non-integer value, a bad locale, a non-boolean flag.
    """
    type_prop = parts[""]
    written = type_prop.value.strip()
    alias = ALIASES.get(written.lower())
    if isinstance(alias, Mapping):
        type_id = alias["production" if endpoint_kind == "production" else "sandbox"]
    else:
        type_id = alias or written
    if not re.fullmatch(r"[A-Z0-9]{1,64}", type_id):
        raise _error(
            source,
            type_prop,
            f"'{written}' is neither a qualification type id nor a known name",
            f"use an id like 000000000000000000L0 or one of: {', '.join(ALIASES)}",
        )
    wrong_masters = MASTERS_IDS["sandbox" if endpoint_kind == "production" else "production"]
    if type_id == wrong_masters:
        raise _error(
            source,
            type_prop,
            f"{type_id} is the Masters id of another endpoint than {endpoint_kind}",
            f"write qualification.{index}:masters and mturkmake picks the right id",
        )
    comparator_prop = parts.get("comparator")
    if comparator_prop is None or not comparator_prop.value.strip():
        if written.lower() != "masters":
            raise FormatError(
                f"qualification.{index} has no qualification.comparator.{index}",
                file=source,
                line=type_prop.line,
                hint=f"add e.g. qualification.comparator.{index}:greaterthan",
            )
        comparator = "Exists"
    else:
        comparator = COMPARATORS.get(comparator_prop.value.strip().lower(), "")
        if not comparator:
            raise _error(
                source,
                comparator_prop,
                f"unknown comparator '{comparator_prop.value.strip()}'",
                f"use one of: {', '.join(COMPARATORS)} (any case)",
            )
    integers: list[int] = []
    value_prop = parts.get("value")
    if value_prop is not None and value_prop.value.strip():
        for item in value_prop.value.split(","):
            if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", item):
                raise _error(
                    source,
                    value_prop,
                    f"'{item.strip()}' is not a whole number",
                    "write integers separated by commas, e.g. 1,2,3",
                )
            integers.append(int(item))
    locales: list[Locale] = []
    locale_prop = parts.get("locale")
    if locale_prop is not None and locale_prop.value.strip():
        for item in locale_prop.value.split(","):
            match = _LOCALE.fullmatch(item.strip())
            if not match:
                raise _error(
                    source,
                    locale_prop,
                    f"'{item.strip()}' is not a locale",
                    "write ISO codes separated by commas, e.g. US,US-NY,CA",
                )
            subdivision = match.group(2).upper() if match.group(2) else None
            locales.append(Locale(match.group(1).upper(), subdivision))
    private_prop = parts.get("private")
    private = False
    if private_prop is not None and private_prop.value.strip():
        flag = private_prop.value.strip().lower()
        if flag not in ("true", "false"):
            raise _error(
                source, private_prop, f"'{flag}' is not true or false", "write true or false"
            )
        private = flag == "true"
    return QualificationRequirement(
        qualification_type_id=type_id,
        comparator=comparator,
        integer_values=tuple(integers),
        locale_values=tuple(locales),
        # private = workers without it may not even preview: the API's PreviewAndAccept.
        actions_guarded="PreviewAndAccept" if private else None,
        index=index,
        line=type_prop.line,
    )


def check_requirement(
    req: QualificationRequirement, *, source: str, line_of: Callable[[str], int | None]
) -> None:
    """Apply the API's rules on values per comparator; errors at the offending line.

    :param line_of: the line of a property key, if the file has it.
    """
    n = req.index
    where = f"qualification.{n}"
    values = len(req.integer_values)
    locales = len(req.locale_values)

    def fail(key: str, message: str, hint: str) -> FormatError:
        line = line_of(key) or req.line
        return FormatError(f"{key}: {message}", file=source, line=line, hint=hint)

    if values and locales:
        raise fail(
            f"qualification.locale.{n}",
            "a requirement takes values or locales, not both",
            "keep one",
        )
    if locales and req.qualification_type_id != LOCALE_ID:
        raise fail(
            f"qualification.locale.{n}",
            "locales apply only to the Locale qualification",
            f"write qualification.{n}:locale, or use qualification.value.{n}",
        )
    if values and req.qualification_type_id == LOCALE_ID:
        raise fail(
            f"qualification.value.{n}",
            "the Locale qualification compares countries, not numbers",
            f"write qualification.locale.{n}:US (or US-NY, or a list for In/NotIn)",
        )
    comparator = req.comparator
    if comparator in ("Exists", "DoesNotExist"):
        if values or locales:
            raise fail(
                f"qualification.value.{n}" if values else f"qualification.locale.{n}",
                f"{comparator} takes no value",
                "remove the value line",
            )
    elif comparator in ("In", "NotIn"):
        if not values and not locales:
            raise fail(where, f"{comparator} needs values", f"add qualification.value.{n}:1,2,3")
        if values > MAX_IN_INTEGERS or locales > MAX_IN_LOCALES:
            count, limit = (values, MAX_IN_INTEGERS) if values else (locales, MAX_IN_LOCALES)
            key = f"qualification.value.{n}" if values else f"qualification.locale.{n}"
            raise fail(
                key, f"{comparator} takes at most {limit} values, not {count}", "split the list"
            )
    else:
        if locales and comparator not in ("EqualTo", "NotEqualTo"):
            raise fail(
                f"qualification.locale.{n}",
                f"{comparator} cannot compare locales",
                "use equalto, notequalto, In or NotIn",
            )
        if values + locales != 1:
            key = f"qualification.value.{n}" if values else f"qualification.locale.{n}"
            raise fail(
                key if values + locales else where,
                f"{comparator} needs exactly one value, not {values + locales}",
                "give one value, or use In/NotIn for a list",
            )


__all__ = [
    "ALIASES",
    "COMPARATORS",
    "LOCALE_ID",
    "MASTERS_IDS",
    "EndpointKind",
    "Locale",
    "QualificationRequirement",
    "check_requirement",
    "parse_requirement",
]
