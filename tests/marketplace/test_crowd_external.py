"""ExternalQuestion answers: fields read from loopback or ``file:`` pages or ``external_pages``,
else ``external_fields`` — and never the network."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mturkmake.formats.answers import parse_answers
from mturkmake.marketplace.pages import PageReader, is_loopback
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

PAGE = """<!DOCTYPE html><html><body><form method="post" action="/mturk/externalSubmit">
<input type="hidden" name="assignmentId" value=""/>
<input type="radio" name="rating" value="1"/><input type="radio" name="rating" value="5"/>
<textarea name="comment"></textarea><input type="submit"/></form></body></html>"""
EXTERNAL = (
    '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
    'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"><ExternalURL>{url}'
    "</ExternalURL><FrameHeight>400</FrameHeight></ExternalQuestion>"
)


class _Pages(BaseHTTPRequestHandler):
    """Serves PAGE at /task, redirects /away off the machine, 404 elsewhere; counts hits."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path.startswith("/task"):
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/away":
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/task")
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def page_server() -> Iterator[str]:
    """A page server on 127.0.0.1 (a free port); yields its base URL."""
    _Pages.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def answers_for(market: Marketplace, url: str, assignments: int = 3) -> list[dict[str, Any]]:
    hit_id = market.call(
        "CreateHIT",
        {
            "Title": "External",
            "Description": "A page",
            "Reward": "0.01",
            "LifetimeInSeconds": 3600,
            "AssignmentDurationInSeconds": 300,
            "MaxAssignments": assignments,
            "Question": EXTERNAL.replace("{url}", url),
        },
    )["HIT"]["HITId"]
    market.advance(600)
    listed = market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]
    assert len(listed) == assignments
    return [dict(parse_answers(a["Answer"], source="a")) for a in listed]


def test_fields_come_from_a_loopback_page(tmp_path: Path, page_server: str) -> None:
    market = Marketplace(tmp_path / "m.db")
    for answer in answers_for(market, f"{page_server}/task?batch=1", assignments=5):
        assert set(answer) == {"rating", "comment"}
        assert answer["rating"] in {"1", "5"}
        assert answer["comment"]
    assert _Pages.hits == ["/task?batch=1"]  # read once, shared by the crowd


def test_fields_come_from_a_file_url_and_from_external_pages(tmp_path: Path) -> None:
    page = tmp_path / "task.html"
    page.write_text(PAGE, encoding="utf-8")
    market = Marketplace(tmp_path / "file.db")
    assert all(set(a) == {"rating", "comment"} for a in answers_for(market, page.as_uri()))
    project = tmp_path / "project"
    (project / "pages").mkdir(parents=True)
    (project / "pages" / "survey.html").write_text(
        '<form><select name="mood"><option value="glad">Glad</option>'
        '<option value="sad">Sad</option></select></form>',
        encoding="utf-8",
    )
    mapped = Marketplace(
        project / ".mturkmake" / "local-marketplace.db",
        MarketplaceSettings(
            external_pages={"https://survey.example.com/start": "pages/survey.html"}
        ),
    )
    for answer in answers_for(mapped, "https://survey.example.com/start?id=7"):
        assert set(answer) == {"mood"}
        assert answer["mood"] in {"glad", "sad"}


def test_other_hosts_are_never_contacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page_server: str
) -> None:
    market = Marketplace(
        tmp_path / "m.db",
        MarketplaceSettings(external_fields={"verdict": ["keep", "drop"], "reason": []}),
    )
    # a redirect from a loopback page to another host is refused, not followed
    for answer in answers_for(market, f"{page_server}/away"):
        assert set(answer) == {"verdict", "reason"}
    assert _Pages.hits == ["/away"]
    connects: list[Any] = []
    real_connect = socket.socket.connect

    def recording_connect(self: socket.socket, address: Any) -> Any:
        connects.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    for answer in answers_for(market, "https://example.com/task"):
        assert set(answer) == {"verdict", "reason"}
        assert answer["verdict"] in {"keep", "drop"}
        assert answer["reason"]
    assert connects == []


def test_default_fallback_is_one_answer_field(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db")
    answers = answers_for(market, "https://example.invalid/task")
    assert all(set(a) == {"answer"} for a in answers)


def test_loopback_names() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.8.9.10")
    assert is_loopback("[::1]")
    assert is_loopback("LOCALHOST")
    assert not is_loopback("localhost.example.com")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("example.com")
    assert not is_loopback(None)
    reader = PageReader()
    assert reader.read("ftp://127.0.0.1/page") is None
    assert reader.read("file:///no/such/page.html") is None
