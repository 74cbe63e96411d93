"""MTurk's configuration: endpoint classification and canonical identity, mturk.properties."""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.errors import ConfigError
from mturkmake.mturk.settings import (
    canonical_endpoint,
    classify_endpoint,
    load_config,
    settings,
)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("local", "local"),
        ("sandbox", "sandbox"),
        ("production", "production"),
        ("http://localhost:9000", "local"),
        ("http://127.0.0.5:9000/", "local"),
        ("http://[::1]:9000/", "local"),
        ("https://mturk-requester.us-east-1.amazonaws.com", "production"),
        ("http://10.0.0.1:9000", "production"),
    ],
)
def test_classify_endpoint(value: str, kind: str) -> None:
    assert classify_endpoint(value, source="test")[0] == kind


def test_unknown_endpoint_word() -> None:
    with pytest.raises(ConfigError, match="unknown endpoint 'prod'"):
        classify_endpoint("prod", source="test")


@pytest.mark.parametrize(
    ("spellings", "identity"),
    [
        (
            [
                "http://localhost:9000",
                "http://127.1:9000/",
                "HTTP://127.0.0.1:9000",
                "http://[::1]:9000",
            ],
            "http://127.0.0.1:9000",
        ),
        (
            [
                "production",
                "https://mturk-requester.us-east-1.amazonaws.com",
                "https://MTURK-REQUESTER.us-east-1.amazonaws.com:443/",
            ],
            "production",
        ),
        (["sandbox", "https://mturk-requester-sandbox.us-east-1.amazonaws.com/"], "sandbox"),
        (["https://example.test", "https://example.test:443"], "https://example.test:443"),
    ],
)
def test_every_spelling_of_an_endpoint_has_one_identity(
    spellings: list[str], identity: str
) -> None:
    assert {canonical_endpoint(s) for s in spellings} == {identity}


def test_loopback_ports_stay_distinct() -> None:
    assert canonical_endpoint("http://localhost:9000") != canonical_endpoint(
        "http://localhost:9001"
    )


def test_a_negative_budget_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mturkmake.toml").write_text("budget = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="budget must be a non-negative"):
        load_config(tmp_path, environ={})


def test_a_sandbox_service_url_sets_the_endpoint(tmp_path: Path) -> None:
    (tmp_path / "mturk.properties").write_text(
        "service_url=https://mechanicalturk.sandbox.amazonaws.com/?Service=AWSMechanicalTurkRequester\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path, environ={"MTURKMAKE_ENDPOINT": "local"})
    assert settings(config).endpoint == "local"  # the environment outranks the CLT file
    config = load_config(tmp_path, environ={})
    assert settings(config).endpoint == "sandbox"
    assert config.sources["endpoint"] == "mturk.properties"
