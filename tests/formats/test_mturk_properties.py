"""mturk.properties: placeholders, retry keys, hidden secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.mturk_properties import (
    DEFAULT_RETRY_ATTEMPTS,
    is_placeholder,
    load_mturk_properties,
)

SHIPPED = """\
# You need to set your AWS access keys
access_key=[insert your access key here]
secret_key=[insert your secret key here]

service_url=https://mechanicalturk.sandbox.amazonaws.com/?Service=AWSMechanicalTurkRequester
retriable_errors=Server.ServiceUnavailable,503
retry_attempts=6
retry_delay_millis=500
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mturk.properties"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_file_has_placeholders_as_unset(tmp_path: Path) -> None:
    props = load_mturk_properties(write(tmp_path, SHIPPED))
    assert props.access_key is None
    assert props.secret_key is None
    assert not props.has_credentials
    assert props.is_sandbox_url is True
    assert props.retriable_errors == ("Server.ServiceUnavailable", "503")
    assert props.retry_attempts == 6
    assert props.retry_delay_millis == 500
    assert props.lines["retry_attempts"] == 7
    assert props.source.endswith("mturk.properties")


def test_real_keys_are_read_and_never_shown(tmp_path: Path) -> None:
    text = "access_key = AKIAEXAMPLEKEY123\nsecret_key:s3cr3t/Value+xyz\nlog_level=INFO\n"
    props = load_mturk_properties(write(tmp_path, text))
    assert props.access_key == "AKIAEXAMPLEKEY123"
    assert props.secret_key == "s3cr3t/Value+xyz"
    assert props.has_credentials
    shown = repr(props) + str(props)
    assert "AKIAEXAMPLEKEY123" not in shown
    assert "s3cr3t" not in shown
    assert "<hidden>" in shown
    assert props.service_url is None
    assert props.is_sandbox_url is None
    assert props.retry_attempts is None  # absent: the caller applies the CLT default
    assert DEFAULT_RETRY_ATTEMPTS == 3
    assert props.log_level == "INFO"
    assert dict(props.extra) == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "retry_attempts=6\nacces_key=AKIA\n",
            "x/mturk.properties:2: unknown key 'acces_key' — did you mean 'access_key'?",
        ),
        ("foo=bar\n", "x/mturk.properties:1: unknown key 'foo' — remove the line"),
        (
            "retry_attempts=6\nlog_level=INFO\nretry_attempts=0\n",
            "x/mturk.properties:3: 'retry_attempts' repeats line 1",
        ),
    ],
)
def test_unknown_and_repeated_keys_are_errors(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "x").mkdir()
    path = tmp_path / "x" / "mturk.properties"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError) as info:
        load_mturk_properties(path)
    assert info.value.one_line().startswith(f"{tmp_path}/{says}")


def test_production_url_is_not_sandbox(tmp_path: Path) -> None:
    url = "https://mechanicalturk.amazonaws.com/?Service=AWSMechanicalTurkRequester"
    props = load_mturk_properties(write(tmp_path, f"service_url={url}\n"))
    assert props.is_sandbox_url is False
    assert props.service_url == url


@pytest.mark.parametrize(
    ("value", "expected"),
    [("[insert your access key here]", True), ("  [insert]  ", True), ("", True), ("AKIA1", False)],
)
def test_placeholder_detection(value: str, expected: bool) -> None:
    assert is_placeholder(value) is expected


def test_bad_retry_attempts_names_line_and_key_without_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "secret_key=topsecret\nretry_attempts=six\n")
    with pytest.raises(FormatError) as info:
        load_mturk_properties(path)
    assert info.value.line == 2
    assert "retry_attempts" in str(info.value)
    assert "topsecret" not in str(info.value)
    assert info.value.hint


def test_negative_delay_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="retry_delay_millis must be at least 0"):
        load_mturk_properties(write(tmp_path, "retry_delay_millis=-5\n"))


def test_round_trip_through_dump(tmp_path: Path) -> None:
    pairs = [
        ("access_key", "AKIA"),
        ("secret_key", "abc=def:ghi"),
        ("service_url", "https://mechanicalturk.sandbox.amazonaws.com/"),
        ("retry_attempts", "4"),
        ("retry_delay_millis", "250"),
        ("retriable_errors", "Server.ServiceUnavailable, 503"),
    ]
    props = load_mturk_properties(write(tmp_path, javaprops.dump(pairs)))
    assert (props.access_key, props.secret_key) == ("AKIA", "abc=def:ghi")
    assert (props.retry_attempts, props.retry_delay_millis) == (4, 250)
    assert props.retriable_errors == ("Server.ServiceUnavailable", "503")


def test_empty_file_means_everything_unset(tmp_path: Path) -> None:
    props = load_mturk_properties(write(tmp_path, ""))
    assert not props.has_credentials
    assert props.retriable_errors == ()
