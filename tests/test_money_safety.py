"""Production is used only when named, never without a yes, and secrets never show."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mturkmake.testing import Project

BATCH = {
    "s.input": "name\nann\nbo\n",
    "s.question": textwrap.dedent(
        """\
        <HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd">
          <HTMLContent><![CDATA[<!DOCTYPE html><html><body>
          <form name="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">
          <input type="hidden" name="assignmentId" value=""/>
          <p>Hello $name</p><input type="text" name="greeting"/><input type="submit"/>
          </form></body></html>]]></HTMLContent>
          <FrameHeight>400</FrameHeight>
        </HTMLQuestion>
        """
    ),
    "s.properties": textwrap.dedent(
        """\
        title:Say hello
        description:Write a greeting
        keywords:hello
        reward:0.05
        assignments:1
        assignmentduration:600
        hitlifetime:86400
        autoapprovaldelay:86400
        """
    ),
}


def test_production_without_yes_and_without_terminal_refuses(
    mturkmake_project: Project,
) -> None:
    # No credentials anywhere and instance metadata off: had anything been sent, the error
    # would be a credentials error, not the refusal.
    mturkmake_project.write({**BATCH, "mturkmake.toml": 'endpoint = "production"\n'})
    result = mturkmake_project.run("s.success")
    assert result.exit_code == 2
    assert "production" in result.stderr
    assert "--yes" in result.stderr
    assert "Cost:" in result.stdout  # the cost came first
    assert not mturkmake_project.path("s.success").exists()


@pytest.fixture
def served_marketplace(tmp_path: Path) -> Iterator[str]:
    from mturkmake.marketplace.server import MarketplaceServer
    from mturkmake.marketplace.service import Marketplace

    server = MarketplaceServer(Marketplace(tmp_path / "served.db"), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.close()


def test_secrets_from_mturk_properties_never_show_even_verbose(
    mturkmake_project: Project, served_marketplace: str, caplog: pytest.LogCaptureFixture
) -> None:
    access, secret = "AKIAMTURKMAKESECRET1", "s3cr3t/MTURKMAKE+never+printed+0123456789"
    mturkmake_project.write(
        {
            **BATCH,
            "mturk.properties": f"access_key={access}\nsecret_key={secret}\n"
            "service_url=https://mechanicalturk.sandbox.amazonaws.com/?Service=AWSMechanicalTurkRequester\n",
        }
    )
    caplog.set_level("DEBUG")
    result = mturkmake_project.run("-v", "-v", "--endpoint", served_marketplace, "s.success")
    assert result.exit_code == 0, result.stderr
    assert mturkmake_project.path("s.success").exists()  # the keys were used to sign
    assert "botocore" in caplog.text  # the debug logs were really captured
    for text in (result.stdout, result.stderr, caplog.text):
        assert access not in text
        assert secret not in text
