"""Rehearsing a real external page: with ``local.fetch_external_pages = true`` the crowd reads
the requester's own remote ``https://`` task page (``responses`` stands in for that server,
so nothing leaves the machine); without it, no remote page is ever requested (#21)."""

from __future__ import annotations

import textwrap

import pytest

responses = pytest.importorskip("responses", reason="responses is a test dependency")

from mturkmake.marketplace.pages import PageReader  # noqa: E402
from mturkmake.testing import Project  # noqa: E402
from tests.plugins.test_approved_rule import project_toml, properties  # noqa: E402

URL = "https://tasks.example.test/label"
PAGE = textwrap.dedent(
    """\
    <html><body><form method="post" action="https://www.mturk.com/mturk/externalSubmit">
    <input type="hidden" name="assignmentId">
    <select name="colour"><option value="red">Red</option>
    <option value="blue">Blue</option></select>
    <textarea name="remark"></textarea><input type="submit"></form></body></html>
    """
)
QUESTION = (
    '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
    'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
    f"<ExternalURL>{URL}?item=${{item}}</ExternalURL><FrameHeight>400</FrameHeight>"
    "</ExternalQuestion>\n"
)


@responses.activate
def test_the_reader_fetches_a_remote_page_only_when_allowed() -> None:
    responses.add(responses.GET, URL, body=PAGE, status=200, content_type="text/html")
    assert PageReader().read(URL) is None
    assert len(responses.calls) == 0  # not even asked
    fields = PageReader(fetch_remote=True)(URL)
    assert fields is not None
    assert {f.name for f in fields} >= {"colour", "remark"}
    assert len(responses.calls) == 1


@responses.activate
def test_a_redirect_or_an_error_is_no_page() -> None:
    responses.add(responses.GET, URL, status=302, headers={"Location": "https://elsewhere.test/"})
    assert PageReader(fetch_remote=True).read(URL) is None
    assert [c.request.url for c in responses.calls] == [URL]  # the redirect was not followed


@responses.activate
def test_the_crowd_answers_the_fields_of_the_remote_page(mturkmake_project: Project) -> None:
    responses.add(responses.GET, URL, body=PAGE, status=200, content_type="text/html")
    project = mturkmake_project
    project.write(
        {
            "mturkmake.toml": project_toml("[local]\nfetch_external_pages = true\n"),
            "items.input": "item\n1\n2\n",
            "items.question": QUESTION,
            "items.properties": properties(assignments=1),
        }
    )
    built = project.run("--wait", "items.results")
    assert built.exit_code == 0, built.output
    header = project.read("items.results").splitlines()[0].split("\t")
    assert '"Answer.colour"' in header or "Answer.colour" in header
    assert any(call.request.url.startswith(URL) for call in responses.calls)
