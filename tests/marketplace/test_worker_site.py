"""The local worker site over real HTTP (``marketplace serve`` answers ``/worker/`` and
``/mturk/externalSubmit``): a person accepts, does and submits HITs, and the requester sees the
work through the API like any other (mturkmake.marketplace.worker_site)."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from mturkmake.formats.answers import ANSWERS_NS, parse_answer_records
from mturkmake.marketplace.server import MarketplaceServer
from mturkmake.marketplace.worker_forms import point_forms_here
from mturkmake.testing import Project
from tests.html_elements import read_page
from tests.marketplace.conftest import HTML_QUESTION

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
FORM = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">'
    "<Question><QuestionIdentifier>color</QuestionIdentifier><IsRequired>true</IsRequired>"
    "<QuestionContent><Text>Colour?</Text></QuestionContent><AnswerSpecification>"
    "<SelectionAnswer><StyleSuggestion>checkbox</StyleSuggestion><Selections>"
    "<Selection><SelectionIdentifier>red</SelectionIdentifier><Text>Red</Text></Selection>"
    "<Selection><SelectionIdentifier>blue</SelectionIdentifier><Text>Blue</Text></Selection>"
    "<OtherSelection/></Selections></SelectionAnswer></AnswerSpecification></Question>"
    "<Question><QuestionIdentifier>age</QuestionIdentifier><QuestionContent><Text>Age?</Text>"
    "</QuestionContent><AnswerSpecification><FreeTextAnswer><Constraints>"
    '<IsNumeric minValue="1" maxValue="120"/></Constraints></FreeTextAnswer>'
    "</AnswerSpecification></Question></QuestionForm>"
)
EXTERNAL = (
    f'<ExternalQuestion xmlns="{NS}/2006-07-14/ExternalQuestion.xsd"><ExternalURL>'
    "https://example.com/task?x=1</ExternalURL><FrameHeight>400</FrameHeight></ExternalQuestion>"
)


def fetch(
    url: str,
    method: str = "GET",
    data: dict[str, Any] | None = None,
    host: str | None = None,
) -> tuple[int, dict[str, str], str]:
    """One HTTP request (redirects are not followed): status, headers, body."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    body = urllib.parse.urlencode(data, doseq=True) if data is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    if host is not None:
        headers["Host"] = host
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8")
    finally:
        conn.close()


def create_hit(client: Any, question: str, title: str = "Label a thing", **extra: Any) -> str:
    hit = client.create_hit(
        MaxAssignments=2,
        LifetimeInSeconds=86400,
        AssignmentDurationInSeconds=600,
        Reward="0.10",
        Title=title,
        Description="Say what you see",
        Question=question,
        **extra,
    )
    return str(hit["HIT"]["HITId"])


def first_worker(marketplace: Any) -> str:
    with marketplace.store.read() as conn:
        return str(conn.execute("SELECT id FROM workers ORDER BY idx, id LIMIT 1").fetchone()[0])


def accept(base: str, hit_id: str, worker: str) -> str:
    status, headers, body = fetch(f"{base}/worker/hits/{hit_id}/accept", "POST", {"worker": worker})
    assert status == 303, body
    location = headers["Location"]
    assert location.startswith("/worker/assignments/")
    return location.rsplit("/", 1)[1]


def submitted(client: Any, hit_id: str) -> list[dict[str, Any]]:
    return list(client.list_assignments_for_hit(HITId=hit_id)["Assignments"])


def test_question_form_accept_do_submit(
    marketplace: Any, server: MarketplaceServer, http_client: Any
) -> None:
    base = server.url
    hit_id = create_hit(http_client, FORM)
    worker = first_worker(marketplace)
    status, headers, listing = fetch(f"{base}/worker/")
    assert status == 200
    assert "script-src 'none'" in headers["Content-Security-Policy"]
    assert f"/worker/hits/{hit_id}?worker={worker}" in listing
    status, _, preview = fetch(f"{base}/worker/hits/{hit_id}?worker={worker}")
    assert status == 200
    assert read_page(preview).find("button", id="accept")
    aid = accept(base, hit_id, worker)
    status, _, work = fetch(f"{base}/worker/assignments/{aid}")
    assert status == 200
    doc = read_page(work)
    (form,) = [f for f in doc.find("form") if f.attrs["action"].endswith("/submit")]
    assert [e.attrs["value"] for e in doc.find("input", type="checkbox")] == [
        "red",
        "blue",
        "::other",
    ]
    # a refused answer comes back with the problem and the values kept; nothing is submitted
    status, _, again = fetch(
        f"{base}{form.attrs['action']}", "POST", {"color": ["red"], "age": ["500"]}
    )
    assert status == 400
    assert "The answer must be at most 120." in read_page(again).text
    assert read_page(again).find("input", type="checkbox", value="red", checked="")
    assert submitted(http_client, hit_id) == []
    status, _, done = fetch(
        f"{base}{form.attrs['action']}",
        "POST",
        {"color": ["red", "::other"], "color::other": ["teal & <b>"], "age": ["42"]},
    )
    assert status == 200, done
    (assignment,) = submitted(http_client, hit_id)
    assert (assignment["AssignmentId"], assignment["WorkerId"]) == (aid, worker)
    assert assignment["AssignmentStatus"] == "Submitted"
    assert assignment["Answer"] == (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">'
        "<Answer><QuestionIdentifier>color</QuestionIdentifier>"
        "<SelectionIdentifier>red</SelectionIdentifier>"
        "<OtherSelectionText>teal &amp; &lt;b&gt;</OtherSelectionText></Answer>"
        "<Answer><QuestionIdentifier>age</QuestionIdentifier><FreeText>42</FreeText></Answer>"
        "</QuestionFormAnswers>"
    )
    # submitted once: a second post is refused and changes nothing
    status, _, _ = fetch(f"{base}{form.attrs['action']}", "POST", {"color": ["blue"]})
    assert status == 409
    assert submitted(http_client, hit_id)[0]["Answer"] == assignment["Answer"]
    # the HIT is no longer offered to this worker
    assert f"/worker/hits/{hit_id}?" not in fetch(f"{base}/worker/?worker={worker}")[2]


def test_html_question_posts_to_the_local_external_submit(
    marketplace: Any, server: MarketplaceServer, http_client: Any
) -> None:
    base = server.url
    hit_id = create_hit(http_client, HTML_QUESTION)
    worker = first_worker(marketplace)
    aid = accept(base, hit_id, worker)
    _, _, work = fetch(f"{base}/worker/assignments/{aid}")
    (frame,) = read_page(work).find("iframe")
    assert "allow-same-origin" not in frame.attrs["sandbox"]
    src = frame.attrs["src"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(src).query)
    assert query == {
        "assignmentId": [aid],
        "hitId": [hit_id],
        "turkSubmitTo": [base],
        "workerId": [worker],
    }
    status, headers, content = fetch(f"{base}{src}")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'unsafe-inline'" in csp
    assert "sandbox" in csp
    doc = read_page(content)
    (form,) = doc.find("form")
    assert form.attrs["action"] == f"{base}/mturk/externalSubmit"
    assert doc.find("input", name="assignmentId")[0].attrs["value"] == aid
    status, _, _ = fetch(
        form.attrs["action"], "POST", {"assignmentId": aid, "label": ["AT&T <b>", "x"]}
    )
    assert status == 200
    (assignment,) = submitted(http_client, hit_id)
    (answer,) = parse_answer_records(assignment["Answer"], source="answer")
    assert (answer.question_id, answer.free_text) == ("label", "AT&T <b>|x")


def test_external_submit_checks_the_assignment(
    marketplace: Any, server: MarketplaceServer, http_client: Any
) -> None:
    base = server.url
    submit = f"{base}/mturk/externalSubmit"
    assert fetch(submit, "POST", {"label": "x"})[0] == 400
    assert fetch(submit, "POST", {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"})[0] == 400
    status, _, body = fetch(submit, "POST", {"assignmentId": "NOSUCHASSIGNMENT", "a": "1"})
    assert status == 404
    assert "does not exist" in body
    hit_id = create_hit(http_client, EXTERNAL)
    aid = accept(base, hit_id, first_worker(marketplace))
    _, _, work = fetch(f"{base}/worker/assignments/{aid}")
    (frame,) = read_page(work).find("iframe")
    assert frame.attrs["src"].startswith(
        f"https://example.com/task?x=1&assignmentId={aid}&hitId={hit_id}&turkSubmitTo="
    )
    assert fetch(submit, "POST", {"assignmentId": aid, "rating": "5"})[0] == 200
    assert fetch(submit, "POST", {"assignmentId": aid, "rating": "1"})[0] == 409
    (assignment,) = submitted(http_client, hit_id)
    assert parse_answer_records(assignment["Answer"], source="a")[0].free_text == "5"


def test_turk_submit_to_is_where_the_browser_came_from(
    marketplace: Any, server: MarketplaceServer, http_client: Any
) -> None:
    hit_id = create_hit(http_client, EXTERNAL)
    aid = accept(server.url, hit_id, first_worker(marketplace))

    def submit_to(host: str) -> list[str]:
        (frame,) = read_page(fetch(f"{server.url}/worker/assignments/{aid}", host=host)[2]).find(
            "iframe"
        )
        return urllib.parse.parse_qs(urllib.parse.urlsplit(frame.attrs["src"]).query)[
            "turkSubmitTo"
        ]

    assert submit_to("localhost:8765") == ["http://localhost:8765"]
    assert submit_to('evil.example/"><x') == ["http://127.0.0.1"]


def test_only_hits_the_worker_qualifies_for(
    marketplace: Any, server: MarketplaceServer, http_client: Any
) -> None:
    base = server.url
    worker = first_worker(marketplace)
    qual = http_client.create_qualification_type(
        Name="Trusted", Description="trusted", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    hit_id = create_hit(
        http_client,
        FORM,
        title="AT&T <b> only",
        QualificationRequirements=[{"QualificationTypeId": qual, "Comparator": "Exists"}],
    )
    assert hit_id not in fetch(f"{base}/worker/?worker={worker}")[2]
    status, _, body = fetch(f"{base}/worker/hits/{hit_id}/accept", "POST", {"worker": worker})
    assert status == 409
    assert "qualification" in body
    http_client.associate_qualification_with_worker(
        QualificationTypeId=qual, WorkerId=worker, IntegerValue=1, SendNotification=False
    )
    listing = fetch(f"{base}/worker/?worker={worker}")[2]
    assert hit_id in listing
    doc = read_page(listing)
    assert not doc.find("b")  # the title is text
    assert "AT&T <b> only" in doc.text
    assert fetch(f"{base}/worker/?worker=ANOSUCHWORKER1")[0] == 409


def test_the_crowd_never_answers_for_the_person_and_the_deadline_holds(
    marketplace: Any, server: MarketplaceServer, http_client: Any
) -> None:
    base = server.url
    hit_id = create_hit(http_client, HTML_QUESTION)
    aid = accept(base, hit_id, first_worker(marketplace))
    marketplace.advance(300)  # the crowd works meanwhile; the person's assignment waits
    with marketplace.store.read() as conn:
        state = conn.execute("SELECT state FROM assignments WHERE id = ?", (aid,)).fetchone()[0]
    assert state == "Accepted"
    marketplace.advance(400)  # past the 600 s deadline
    status = fetch(f"{base}/mturk/externalSubmit", "POST", {"assignmentId": aid})[0]
    assert status == 409
    assert aid not in {a["AssignmentId"] for a in submitted(http_client, hit_id)}


def test_return_gives_the_slot_back(
    marketplace: Any, server: MarketplaceServer, http_client: Any
) -> None:
    base = server.url
    hit_id = create_hit(http_client, FORM)
    aid = accept(base, hit_id, first_worker(marketplace))
    assert http_client.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsAvailable"] == 1
    status = fetch(f"{base}/worker/assignments/{aid}/return", "POST", {})[0]
    assert status == 303
    assert http_client.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsAvailable"] == 2


def test_unknown_paths_and_the_api_still_answer(server: MarketplaceServer) -> None:
    assert fetch(f"{server.url}/worker/nothing/here")[0] == 404
    assert fetch(f"{server.url}/")[0] == 200  # the API's GET answer is unchanged


UPLOAD = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd"><Question><QuestionIdentifier>'
    "photo</QuestionIdentifier><IsRequired>true</IsRequired><QuestionContent><Text>A photo"
    "</Text></QuestionContent><AnswerSpecification><FileUploadAnswer><MaxFileSizeInBytes>100"
    "</MaxFileSizeInBytes><MinFileSizeInBytes>5</MinFileSizeInBytes></FileUploadAnswer>"
    "</AnswerSpecification></Question></QuestionForm>"
)


def _multipart(base: str, path: str, name: str, data: bytes) -> int:
    boundary = "mturkmake-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(
            "POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_file_upload_records_key_and_size(
    marketplace: Any, server: MarketplaceServer, http_client: Any
) -> None:
    base = server.url
    hit_id = create_hit(http_client, UPLOAD)
    aid = accept(base, hit_id, first_worker(marketplace))
    forms = read_page(fetch(f"{base}/worker/assignments/{aid}")[2]).find("form")
    (form,) = [f for f in forms if f.attrs["action"].endswith("/submit")]
    assert form.attrs["enctype"] == "multipart/form-data"
    assert _multipart(base, form.attrs["action"], "photo", b"x" * 500) == 400  # too big
    assert submitted(http_client, hit_id) == []
    assert _multipart(base, form.attrs["action"], "photo", b"\xff\xd8jpeg-bytes") == 200
    (assignment,) = submitted(http_client, hit_id)
    (answer,) = parse_answer_records(assignment["Answer"], source="a")
    assert answer.uploaded_file_size == 12
    assert (answer.uploaded_file_key or "").endswith("/photo")


def test_point_forms_here_keeps_the_rest_of_the_page() -> None:
    page = (
        "<html>\n<body>\n<form id='f'\n method=post action=\"https://www.mturk.com/mturk/"
        'externalSubmit"><input type=hidden name=assignmentId value="">\n'
        "<input name=x value='&amp;'><form action='/elsewhere'></form></body></html>"
    )
    out = point_forms_here(page, "http://127.0.0.1:9/mturk/externalSubmit", "A1")
    assert out.count("http://127.0.0.1:9/mturk/externalSubmit") == 1
    assert 'name="assignmentId" value="A1"' in out
    assert "<input name=x value='&amp;'><form action='/elsewhere'>" in out
    assert out.startswith('<html>\n<body>\n<form id="f"')


def test_serve_open_prints_the_worker_site(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-m", "mturkmake", "marketplace", "serve", "--port", "0", "--open"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        url = None
        for _ in range(20):
            line = process.stdout.readline()
            if line.startswith("Worker site: "):
                url = line.split(": ", 1)[1].strip()
                break
        assert url is not None
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/worker/")
        status, _, body = fetch(url)
        assert status == 200
        assert "Local worker site" in body
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("path", ["/worker/hits/NOSUCHHIT", "/worker/assignments/NOSUCH"])
def test_unknown_hits_and_assignments(server: MarketplaceServer, path: str) -> None:
    status, _, body = fetch(f"{server.url}{path}")
    assert status == 404
    assert "does not exist" in body


def test_a_persons_work_is_the_crowds_like_any_other(mturkmake_project: Project) -> None:
    """loadHITs, a person's answer on the worker site, getResults, then the evaluators."""
    project = mturkmake_project
    project.write(
        {
            "mturkmake.toml": 'endpoint = "local"\n',
            "s.input": "word\ncat\n",
            "s.question": FORM.replace("Colour?", "Colour of ${word}?"),
            "s.properties": (
                "title:Colours\ndescription:Pick colours\nreward:0.10\nassignments:1\n"
                "assignmentduration:600\nhitlifetime:86400\n"
            ),
        }
    )
    assert project.run("s.success").exit_code == 0
    from mturkmake.marketplace.service import Marketplace

    marketplace = Marketplace(project.root / ".mturkmake" / "local-marketplace.db")
    with MarketplaceServer(marketplace, "127.0.0.1", 0) as server:
        base = server.url
        listing = read_page(fetch(f"{base}/worker/")[2])
        (link,) = [a for a in listing.find("a") if "/worker/hits/" in a.attrs.get("href", "")]
        hit_id = urllib.parse.urlsplit(link.attrs["href"]).path.rsplit("/", 1)[1]
        aid = accept(base, hit_id, first_worker(marketplace))
        status = fetch(
            f"{base}/worker/assignments/{aid}/submit", "POST", {"color": ["blue"], "age": ["7"]}
        )[0]
        assert status == 200
    result = project.run("s.results")
    assert result.exit_code == 0, result.output
    header, row = project.read("s.results").splitlines()[:2]
    cells = dict(zip(header.split("\t"), row.split("\t"), strict=False))
    assert cells['"Answer.color"'] == '"blue"'
    assert cells['"Answer.age"'] == '"7"'
    assert cells['"assignmentid"'] == f'"{aid}"'
    approved = project.run("s.approved")
    assert approved.exit_code == 0, approved.output
    with marketplace.store.read() as conn:
        state = conn.execute("SELECT state FROM assignments WHERE id = ?", (aid,)).fetchone()[0]
    assert state == "Approved"
