"""HIT properties: typing, qualification requirements, aliases, and every API limit."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.hit_properties import (
    MASTERS_IDS,
    HitProperties,
    Locale,
    QualificationRequirement,
    check_limits,
    dump_hit_properties,
    load_hit_properties,
    parse_hit_properties,
)
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples"
BASE = """\
title:Answer a question
description:Please answer.
reward:0.05
assignmentduration:3600
hitlifetime:259200
"""


def parse(extra: str = "", *, base: str = BASE, endpoint: str = "sandbox") -> HitProperties:
    text = base + extra
    return parse_hit_properties(
        javaprops.parse(text, source="b.properties"),
        source="b.properties",
        endpoint_kind=endpoint,  # type: ignore[arg-type]
    )


def test_minimal_file_and_api_params() -> None:
    hit = parse("keywords:a, b\nannotation:row 1\nautoapprovaldelay:0\nassignments:9\n")
    assert hit.reward == Decimal("0.05")
    assert hit.hit_type_params() == {
        "Title": "Answer a question",
        "Description": "Please answer.",
        "Reward": "0.05",
        "AssignmentDurationInSeconds": 3600,
        "AutoApprovalDelayInSeconds": 0,
        "Keywords": "a, b",
    }
    assert hit.hit_params() == {
        "LifetimeInSeconds": 259200,
        "MaxAssignments": 9,
        "RequesterAnnotation": "row 1",
    }
    assert hit.line("reward") == 3
    assert hit.raw["title"].value == "Answer a question"
    assert parse().assignments == 1  # the CLT default
    assert parse().auto_approval_delay is None


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("0.06", "0.06"),
        ("$0.06", "0.06"),
        ("$0.06 USD", "0.06"),
        ("0.06 usd", "0.06"),
        ("0.00", "0.00"),
        ("0.0", "0.00"),
        ("1", "1.00"),
        (".5", "0.50"),
        ("12.30 ", "12.30"),
        ("-0", "0.00"),
    ],
)
def test_reward_spellings(written: str, expected: str) -> None:
    base = BASE.replace("reward:0.05", f"reward:{written}")
    assert parse(base=base).reward_amount == expected


def test_qualifications_with_clt_and_api_comparators() -> None:
    hit = parse(
        "qualification.1:000000000000000000L0\n"
        "qualification.comparator.1: GreaterThanOrEqualTo \n"
        "qualification.value.1:95\n"
        "qualification.3:locale\n"
        "qualification.comparator.3:In\n"
        "qualification.locale.3:US, us-ny,CA\n"
        "qualification.private.3:TRUE\n"
        "qualification.7:ABCDEFGHIJ0123456789\n"
        "qualification.comparator.7:notin\n"
        "qualification.value.7:1,2,3\n"
        "qualification.9:adult\n"
        "qualification.comparator.9:doesnotexist\n"
    )
    assert [q.to_api() for q in hit.qualification_requirements] == [
        {
            "QualificationTypeId": "000000000000000000L0",
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [95],
        },
        {
            "QualificationTypeId": "00000000000000000071",
            "Comparator": "In",
            "LocaleValues": [
                {"Country": "US"},
                {"Country": "US", "Subdivision": "NY"},
                {"Country": "CA"},
            ],
            "ActionsGuarded": "PreviewAndAccept",
        },
        {
            "QualificationTypeId": "ABCDEFGHIJ0123456789",
            "Comparator": "NotIn",
            "IntegerValues": [1, 2, 3],
        },
        {"QualificationTypeId": "00000000000000000060", "Comparator": "DoesNotExist"},
    ]
    first = hit.qualification_requirements[0]
    assert (first.index, first.line) == (1, 6)
    assert hit.qualification_requirements[1].locale_values[1] == Locale("US", "NY")


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("production", MASTERS_IDS["production"]),
        ("sandbox", MASTERS_IDS["sandbox"]),
        ("local", MASTERS_IDS["sandbox"]),
    ],
)
def test_masters_alias_per_endpoint_defaults_to_exists(endpoint: str, expected: str) -> None:
    hit = parse("qualification.1:Masters\n", endpoint=endpoint)
    assert hit.qualification_requirements == (
        QualificationRequirement(expected, "Exists", index=1, line=6),
    )


def test_masters_id_of_the_other_endpoint_is_refused() -> None:
    with pytest.raises(FormatError, match="another endpoint") as info:
        parse(f"qualification.2:{MASTERS_IDS['production']}\n", endpoint="local")
    assert info.value.line == 6
    assert "masters" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("key", "at_limit", "over_limit"),
    [
        ("title", "x" * 128, "x" * 129),
        ("title", "x", ""),
        ("description", "d" * 2000, "d" * 2001),
        ("description", "d", "   "),
        ("keywords", "k" * 1000, "k" * 1001),
        ("annotation", "a" * 255, "a" * 256),
        ("assignments", "1", "0"),
        ("assignmentduration", "30", "29"),
        ("assignmentduration", "31536000", "31536001"),
        ("hitlifetime", "30", "29"),
        ("hitlifetime", "31536000", "31536001"),
        ("autoapprovaldelay", "0", "-1"),
        ("autoapprovaldelay", "2592000", "2592001"),
        ("reward", "0.00", "-0.01"),
    ],
    ids=lambda v: v if len(v) < 12 else f"{v[0]}*{len(v)}",
)
def test_each_api_limit(key: str, at_limit: str, over_limit: str) -> None:
    lines = [line for line in BASE.splitlines() if not line.startswith(f"{key}:")]

    def text(value: str) -> str:
        return "\n".join([*lines, f"{key}:{value}"]) + "\n"

    parse(base=text(at_limit))  # exactly at the limit is accepted
    with pytest.raises(FormatError) as info:
        parse(base=text(over_limit))
    assert info.value.line == len(lines) + 1
    assert info.value.file == "b.properties"
    assert key in info.value.message
    assert info.value.hint


def _requirements(count: int) -> str:
    return "".join(
        f"qualification.{n}:000000000000000000L0\nqualification.comparator.{n}:exists\n"
        for n in range(1, count + 1)
    )


def test_ten_requirements_pass_eleven_fail() -> None:
    assert len(parse(_requirements(10)).qualification_requirements) == 10
    with pytest.raises(FormatError, match="11 qualification requirements") as info:
        parse(_requirements(11))
    assert info.value.line == 6 + 20


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (
            "qualification.comparator.1:in\nqualification.value.1:" + ",".join(["1"] * 16),
            "at most 15",
        ),
        (
            "qualification.comparator.1:in\nqualification.locale.1:" + ",".join(["US"] * 31),
            "at most 30",
        ),
        ("qualification.comparator.1:exists\nqualification.value.1:1", "takes no value"),
        ("qualification.comparator.1:greaterthan\nqualification.value.1:1,2", "exactly one"),
        ("qualification.comparator.1:greaterthan", "exactly one"),
        ("qualification.comparator.1:in", "needs values"),
        ("qualification.comparator.1:lessthan\nqualification.locale.1:US", "cannot compare"),
        ("qualification.comparator.1:equalto\nqualification.locale.1:US,CA", "exactly one"),
        (
            "qualification.comparator.1:equalto\nqualification.value.1:1\nqualification.locale.1:US",
            "not both",
        ),
    ],
)
def test_value_counts_per_comparator(extra: str, fragment: str) -> None:
    type_line = (
        "qualification.1:locale\n"
        if "locale." in extra
        else "qualification.1:000000000000000000L0\n"
    )
    with pytest.raises(FormatError) as info:
        parse(type_line + extra + "\n")
    assert fragment in info.value.message
    assert info.value.line is not None
    assert info.value.line >= 6


def test_locale_qualification_needs_locales_not_numbers() -> None:
    with pytest.raises(FormatError, match="countries, not numbers") as info:
        parse(
            "qualification.1:locale\nqualification.comparator.1:equalto\nqualification.value.1:1\n"
        )
    assert info.value.line == 8


def test_locale_values_need_the_locale_qualification() -> None:
    with pytest.raises(FormatError, match="only to the Locale"):
        parse(
            "qualification.1:000000000000000000L0\nqualification.comparator.1:equalto\n"
            "qualification.locale.1:US\n"
        )


def test_check_limits_can_run_separately() -> None:
    hit = parse_hit_properties(
        javaprops.parse(BASE.replace("hitlifetime:259200", "hitlifetime:5"), source="x"),
        source="x",
        endpoint_kind="local",
        check=False,
    )
    assert hit.lifetime == 5
    with pytest.raises(FormatError, match="hitlifetime"):
        check_limits(hit)


def test_templated_values_are_parsed_after_merging() -> None:
    raw = javaprops.parse(BASE + "annotation:${id}\nassignments:${n}\n", source="t")
    row = {"${id}": "row-7", "${n}": "4"}
    merged = [javaprops.Property(p.key, row.get(p.value, p.value), p.line) for p in raw]
    hit = parse_hit_properties(merged, source="t", endpoint_kind="local")
    assert (hit.annotation, hit.assignments, hit.line("assignments")) == ("row-7", 4, 7)


HIT_SAMPLES = [
    *(SAMPLES / "samples").glob("*/*.properties"),
    *(SAMPLES / "etc/test").glob("testProperties*.txt"),
]


@pytest.mark.parametrize(
    "path",
    [p for p in HIT_SAMPLES if "qual" not in p.name and "qual" not in p.parent.name],
    ids=lambda p: p.name,
)
@pytest.mark.parametrize("endpoint", ["local", "sandbox", "production"])
def test_every_clt_sample_hit_properties_file_parses(path: Path, endpoint: str) -> None:
    hit = load_hit_properties(path, endpoint_kind=endpoint)  # type: ignore[arg-type]
    assert hit.reward >= 0
    assert hit.title


def test_sample_details() -> None:
    survey = load_hit_properties(
        SAMPLES / "samples/simple_survey/simple_survey.properties", endpoint_kind="local"
    )
    assert survey.qualification_requirements[0].to_api() == {
        "QualificationTypeId": "00000000000000000071",
        "Comparator": "EqualTo",
        "LocaleValues": [{"Country": "US"}],
    }
    site = load_hit_properties(
        SAMPLES / "samples/site_filter/site_filter.properties", endpoint_kind="local"
    )
    req = site.qualification_requirements[0]
    assert (req.qualification_type_id, req.actions_guarded) == (
        "HZKZ76XYF0SZ0GHSMYYZ",
        "PreviewAndAccept",
    )
    test_props = load_hit_properties(SAMPLES / "etc/test/testProperties.txt", endpoint_kind="local")
    assert test_props.reward_amount == "0.00"
    assert test_props.annotation == "test#cmd"


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "keywords:a: b = c\nannotation: spaced \nautoapprovaldelay:0\nassignments:12\n",
        "qualification.2:locale\nqualification.comparator.2:NotIn\n"
        "qualification.locale.2:US-NY,CA\nqualification.private.2:true\n"
        "qualification.5:00000000000000000040\nqualification.comparator.5:greaterthan\n"
        "qualification.value.5:1000\nqualification.6:masters\n",
    ],
)
def test_dump_round_trips(extra: str) -> None:
    hit = parse(extra, base=BASE.replace("reward:0.05", "reward:$1.5 USD"))
    text = dump_hit_properties(hit)
    again = parse(base=text)
    assert again.hit_type_params() == hit.hit_type_params()
    assert again.hit_params() == hit.hit_params()
    assert (again.keywords, again.annotation) == (hit.keywords, hit.annotation)
    assert [(q.index, q.to_api()) for q in again.qualification_requirements] == [
        (q.index, q.to_api()) for q in hit.qualification_requirements
    ]
