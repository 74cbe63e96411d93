"""Qualification properties: keys, defaults on create, samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.qualification_properties import (
    DEFAULT_RETRY_DELAY,
    DEFAULT_TEST_DURATION,
    QualificationProperties,
    load_qualification_properties,
    parse_qualification_properties,
)
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples"


def parse(text: str, *, for_create: bool = True) -> QualificationProperties:
    return parse_qualification_properties(
        javaprops.parse(text, source="q.properties"), source="q.properties", for_create=for_create
    )


def test_all_keys_typed() -> None:
    qual = parse(
        "name=Skill\ndescription=Tests a skill\nkeywords=a,b\nretrydelayinseconds=60\n"
        "testdurationinseconds=900\nautogranted=TRUE\nautograntedvalue=5\nstatus=inactive\n"
    )
    assert qual.name == "Skill"
    assert (qual.retry_delay, qual.test_duration) == (60, 900)
    assert (qual.auto_granted, qual.auto_granted_value, qual.status) == (True, 5, "Inactive")
    assert qual.raw["keywords"].line == 3
    assert qual.create_params(has_test=True) == {
        "Name": "Skill",
        "Description": "Tests a skill",
        "QualificationTypeStatus": "Inactive",
        "Keywords": "a,b",
        "RetryDelayInSeconds": 60,
        "TestDurationInSeconds": 900,
        "AutoGranted": True,
        "AutoGrantedValue": 5,
    }


def test_create_defaults_follow_the_clt() -> None:
    qual = parse("name=N\ndescription=D\n")
    assert qual.create_params(has_test=True) == {
        "Name": "N",
        "Description": "D",
        "QualificationTypeStatus": "Active",
        "RetryDelayInSeconds": DEFAULT_RETRY_DELAY,
        "TestDurationInSeconds": DEFAULT_TEST_DURATION,
    }
    assert "RetryDelayInSeconds" not in qual.create_params(has_test=False, no_retry=True)
    assert "TestDurationInSeconds" not in qual.create_params(has_test=False)


def test_update_needs_no_name() -> None:
    assert parse("status=Active\n", for_create=False).status == "Active"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("description=D\n", 1, "needs a 'name'"),
        ("name=N\ndescription=   \n", 2, "needs a 'description'"),
        ("name=N\ndescription=D\nretrydelay=5\n", 3, "did you mean 'retrydelayinseconds'"),
        ("name=N\ndescription=D\nautogranted=yes\n", 3, "true or false"),
        ("name=N\ndescription=D\nstatus=Paused\n", 3, "Active or Inactive"),
        ("name=N\ndescription=D\ntestdurationinseconds=15m\n", 3, "whole number"),
    ],
)
def test_bad_qualification_properties(text: str, line: int, fragment: str) -> None:
    with pytest.raises(FormatError) as info:
        parse(text)
    assert info.value.line == line
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "path",
    [
        *sorted(SAMPLES.rglob("qualification.properties")),
        SAMPLES / "samples/site_filter_qual/site_filter_qual.properties",
    ],
    ids=lambda p: p.parent.name,
)
def test_every_clt_sample_qualification_file_parses(path: Path) -> None:
    qual = load_qualification_properties(path)
    assert qual.name
    assert qual.retry_delay is not None


def test_round_trip_through_dump(tmp_path: Path) -> None:
    pairs = [("name", "A=B: c"), ("description", " leading"), ("retrydelayinseconds", "10")]
    path = tmp_path / "q.properties"
    path.write_text(javaprops.dump(pairs), encoding="utf-8")
    qual = load_qualification_properties(path)
    assert (qual.name, qual.description, qual.retry_delay) == ("A=B: c", " leading", 10)
