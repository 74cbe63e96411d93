"""One endpoint spelled two ways is one endpoint: one budget, one home for its batches (#12)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mturkmake.marketplace.server import MarketplaceServer
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings
from mturkmake.testing import Project

QUESTION = textwrap.dedent(
    """\
    <HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd">
    <HTMLContent><![CDATA[<!DOCTYPE html><html><body>
    <form name="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">
    <input type="hidden" name="assignmentId" value="">
    <p>${word}</p><input type="text" name="answer"><input type="submit"></form>
    </body></html>]]></HTMLContent><FrameHeight>400</FrameHeight></HTMLQuestion>
    """
)
#: One assignment at $0.12: $0.14 committed with its fee. Two of them pass a $0.20 budget.
PROPERTIES = (
    "title:Say a word\ndescription:One word\nkeywords:word\nreward:0.12\nassignments:1\n"
    "annotation:\nassignmentduration:3600\nhitlifetime:86400\nautoapprovaldelay:86400\n"
)


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    market = Marketplace(tmp_path / "served.db", MarketplaceSettings(seed=7))
    server = MarketplaceServer(market, "127.0.0.1", 0)
    server.start()
    try:
        yield int(server.url.rsplit(":", 1)[1].rstrip("/"))
    finally:
        server.close()


def _batch(project: Project, name: str) -> None:
    project.write(
        {
            f"{name}.input": "word\napple\n",
            f"{name}.question": QUESTION,
            f"{name}.properties": PROPERTIES,
        }
    )


def test_two_spellings_of_one_server_share_one_budget(
    mturkmake_project: Project, port: int
) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": "budget = 0.20\n"})
    _batch(project, "first")
    _batch(project, "second")
    made = project.run("--endpoint", f"http://localhost:{port}", "first.success")
    assert made.exit_code == 0, made.output
    refused = project.run("--endpoint", f"http://127.1:{port}/", "second.success")
    assert refused.exit_code == 2, refused.output
    assert "budget" in refused.stderr
    assert not project.path("second.success").exists()


def test_a_batch_is_at_home_under_every_spelling_of_its_endpoint(
    mturkmake_project: Project, port: int
) -> None:
    project = mturkmake_project
    _batch(project, "words")
    made = project.run("--endpoint", f"http://localhost:{port}", "words.success")
    assert made.exit_code == 0, made.output
    again = project.run("--endpoint", f"http://127.0.0.1:{port}", "-B", "words.success")
    assert again.exit_code == 0, again.output
    assert "lives on" not in again.stderr
    other = project.run("--endpoint", "local", "-B", "words.success")
    assert other.exit_code == 2
    assert "lives on" in other.stderr
