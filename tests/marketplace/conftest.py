"""Fixtures for the whole-marketplace tests: a marketplace in ``tmp_path`` and real boto3
clients into it, in-process (the ``before-send`` handler) and over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from mturkmake.marketplace.inprocess import LOCAL_ENDPOINT_URL, attach
from mturkmake.marketplace.server import MarketplaceServer

START_EPOCH = 1767225600  # 2026-01-01T00:00:00Z, the default local.start

HTML_QUESTION = (
    '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA[<!DOCTYPE html><html><body>'
    '<form name="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">'
    '<input type="hidden" name="assignmentId" value=""/>'
    '<input type="text" name="label"/><input type="submit"/></form></body></html>]]>'
    "</HTMLContent><FrameHeight>0</FrameHeight></HTMLQuestion>"
)


def boto_client(endpoint_url: str, **config: Any) -> Any:
    """A real boto3 mturk client with dummy credentials; ``config`` goes to botocore's Config.

    One attempt by default: tests assert on single answers, and botocore's legacy retries
    would sleep seconds on every injected fault.
    """
    config.setdefault("retries", {"mode": "legacy", "total_max_attempts": 1})
    session = boto3.session.Session(
        aws_access_key_id="TESTKEY", aws_secret_access_key="testsecret", region_name="us-east-1"
    )
    return session.client("mturk", endpoint_url=endpoint_url, config=BotoConfig(**config))


def inprocess_client(marketplace: Any, **config: Any) -> Any:
    """A boto3 client answered by ``marketplace`` through the before-send handler."""
    client = boto_client(LOCAL_ENDPOINT_URL, **config)
    attach(client, marketplace)
    return client


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may read the developer's AWS files or reach the metadata service."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MTURK", "AWS_PROFILE", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def marketplace(tmp_path: Path) -> Any:
    """A fresh marketplace (default settings) in ``tmp_path``."""
    from mturkmake.marketplace.service import Marketplace

    return Marketplace(tmp_path / "local-marketplace.db")


@pytest.fixture
def client(marketplace: Any) -> Any:
    """An in-process boto3 client on :func:`marketplace`."""
    return inprocess_client(marketplace)


@pytest.fixture
def server(marketplace: Any) -> Iterator[MarketplaceServer]:
    """:func:`marketplace` served over HTTP on 127.0.0.1, a free port."""
    with MarketplaceServer(marketplace, "127.0.0.1", 0) as served:
        yield served


@pytest.fixture
def http_client(server: MarketplaceServer) -> Any:
    """A boto3 client talking HTTP to :func:`server`."""
    return boto_client(server.url)


@pytest.fixture(params=["inprocess", "http"])
def any_client(request: pytest.FixtureRequest, marketplace: Any) -> Iterator[Any]:
    """Both ways in, one test run each."""
    if request.param == "inprocess":
        yield inprocess_client(marketplace)
        return
    with MarketplaceServer(marketplace, "127.0.0.1", 0) as served:
        yield boto_client(served.url)
