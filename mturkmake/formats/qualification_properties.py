"""The CLT's qualification properties file (``key=value``), for create/updateQualificationType.

Keys (``CreateQualificationType.java``, ``UpdateQualificationType.java``): ``name`` and
``description`` (required to create: the API requires both), ``keywords``,
``retrydelayinseconds``, ``testdurationinseconds``, ``autogranted``, ``autograntedvalue`` and
``status`` (``Active``/``Inactive``; update only). Unknown keys are errors with a suggestion.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.javaprops import Property

#: The CLT's defaults on create: retry after 3 days; 3 hours for a test.
DEFAULT_RETRY_DELAY = 259_200
DEFAULT_TEST_DURATION = 10_800
KEYS = (
    "name",
    "description",
    "keywords",
    "retrydelayinseconds",
    "testdurationinseconds",
    "autogranted",
    "autograntedvalue",
    "status",
)


@dataclass(frozen=True)
class QualificationProperties:
    """A qualification properties file; ``None`` means the key was absent."""

    name: str | None = None
    description: str | None = None
    keywords: str | None = None
    retry_delay: int | None = None
    test_duration: int | None = None
    auto_granted: bool | None = None
    auto_granted_value: int | None = None
    status: str | None = None
    source: str = ""
    raw: Mapping[str, Property] = field(default_factory=dict)

    def create_params(self, *, has_test: bool, no_retry: bool = False) -> dict[str, Any]:
        """Keyword arguments for CreateQualificationType (without Test and AnswerKey).

        :param has_test: a question file is given, so the test duration default applies.
        :param no_retry: the CLT's ``-noretry``: send no RetryDelayInSeconds.
        """
        params: dict[str, Any] = {
            "Name": self.name,
            "Description": self.description,
            "QualificationTypeStatus": self.status or "Active",
        }
        if self.keywords:
            params["Keywords"] = self.keywords
        if not no_retry:
            params["RetryDelayInSeconds"] = (
                DEFAULT_RETRY_DELAY if self.retry_delay is None else self.retry_delay
            )
        if has_test:
            params["TestDurationInSeconds"] = (
                DEFAULT_TEST_DURATION if self.test_duration is None else self.test_duration
            )
        if self.auto_granted is not None:
            params["AutoGranted"] = self.auto_granted
        if self.auto_granted_value is not None:
            params["AutoGrantedValue"] = self.auto_granted_value
        return params


def _int(prop: Property, source: str) -> int:
    text = prop.value.strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise FormatError(
            f"{prop.key}: '{prop.value}' is not a whole number of seconds or points",
            file=source,
            line=prop.line,
            hint=f"write e.g. {prop.key}=3600",
        )
    return int(text)


def parse_qualification_properties(
    props: Iterable[Property], *, source: str, for_create: bool = True
) -> QualificationProperties:
    """Type the pairs of a qualification properties file.

    :param for_create: require ``name`` and ``description`` (createQualificationType).
    :raises FormatError: an unknown or missing key, a bad number, flag or status.
    """
    raw: dict[str, Property] = {}
    for prop in props:
        raw[prop.key] = prop
    for key, prop in raw.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            raise FormatError(
                f"unknown qualification property '{key}'",
                file=source,
                line=prop.line,
                hint=f"did you mean '{close[0]}'?" if close else f"known: {', '.join(KEYS)}",
            )
    if for_create:
        for key in ("name", "description"):
            if key not in raw or not raw[key].value.strip():
                raise FormatError(
                    f"the qualification needs a '{key}'",
                    file=source,
                    line=raw[key].line if key in raw else 1,
                    hint=f"add a line '{key}=…'",
                )
    auto_granted: bool | None = None
    if "autogranted" in raw:
        flag = raw["autogranted"].value.strip().lower()
        if flag not in ("true", "false"):
            raise FormatError(
                f"autogranted: '{flag}' is not true or false",
                file=source,
                line=raw["autogranted"].line,
                hint="write autogranted=true or autogranted=false",
            )
        auto_granted = flag == "true"
    status: str | None = None
    if "status" in raw:
        status = {"active": "Active", "inactive": "Inactive"}.get(
            raw["status"].value.strip().lower()
        )
        if status is None:
            raise FormatError(
                f"status: '{raw['status'].value.strip()}' is not Active or Inactive",
                file=source,
                line=raw["status"].line,
                hint="write status=Active or status=Inactive",
            )

    def text(key: str) -> str | None:
        return raw[key].value if key in raw else None

    def number(key: str) -> int | None:
        return _int(raw[key], source) if key in raw else None

    return QualificationProperties(
        name=text("name"),
        description=text("description"),
        keywords=text("keywords"),
        retry_delay=number("retrydelayinseconds"),
        test_duration=number("testdurationinseconds"),
        auto_granted=auto_granted,
        auto_granted_value=number("autograntedvalue"),
        status=status,
        source=source,
        raw=MappingProxyType(raw),
    )


def load_qualification_properties(
    path: str | Path, *, for_create: bool = True
) -> QualificationProperties:
    """Read and parse a qualification properties file."""
    return parse_qualification_properties(
        javaprops.load(path), source=str(path), for_create=for_create
    )


__all__ = [
    "DEFAULT_RETRY_DELAY",
    "DEFAULT_TEST_DURATION",
    "KEYS",
    "QualificationProperties",
    "load_qualification_properties",
    "parse_qualification_properties",
]
