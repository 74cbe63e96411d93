"""``mturkmake review BATCH``: the loopback server, its token, and ``%.review`` written click
by click — driven over HTTP against the command run as a user runs it (a subprocess).

The helpers at the top (a 30-assignment labelling batch with a planted careless worker and
a worker's note holding ``<script>`` and ``AT&T``; the server as a context manager) are shared
with the report tests and the browser tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import approved_rows, calls, project_toml, properties

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
PLANTED = "ACARELESS00001"
#: What one honest worker writes in the note: markup and an ampersand, to be shown as text.
HOSTILE_NOTE = "<script>alert(1)</script> AT&T"
QUESTION = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
    "  <Question><QuestionIdentifier>label</QuestionIdentifier>\n"
    "    <QuestionContent><Text>What does ${text} show?</Text></QuestionContent>\n"
    "    <AnswerSpecification><SelectionAnswer><Selections>\n"
    "      <Selection><SelectionIdentifier>cat</SelectionIdentifier><Text>A cat</Text>"
    "</Selection>\n"
    "      <Selection><SelectionIdentifier>dog</SelectionIdentifier><Text>A dog</Text>"
    "</Selection>\n"
    "    </Selections></SelectionAnswer></AnswerSpecification></Question>\n"
    "  <Question><QuestionIdentifier>note</QuestionIdentifier>\n"
    "    <QuestionContent><Text>Anything to add?</Text></QuestionContent>\n"
    "    <AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>\n"
    "</QuestionForm>\n"
)
#: Honest workers give the known label; the planted worker always the other one; the first
#: honest answer's note is :data:`HOSTILE_NOTE`.
CROWD_PLUGIN = f'''
from mturkmake import hookimpl

STATE = {{"notes": 0}}


@hookimpl
def mturkmake_simulate_answer(question, worker, truth):
    if not truth:
        return None
    if worker.id == "{PLANTED}":
        answers = {{q: ("dog" if v == "cat" else "cat") for q, v in truth.items()}}
    else:
        answers = dict(truth)
        STATE["notes"] += 1
    answers["note"] = {HOSTILE_NOTE!r} if STATE["notes"] == 1 and worker.id != "{PLANTED}" else "ok"
    return answers
'''


def labelling_batch(
    project: Project, *, evaluators: str = '["reject-column", "answer-key"]', hits: int = 10
) -> None:
    """``pets``: ``hits`` pictures × 3 workers, one slot of each taken by :data:`PLANTED`
    (who is always wrong), fetched and final."""
    rows = ["text\tgold"] + [f"Picture {n}\t{'cat' if n % 2 else 'dog'}" for n in range(hits)]
    extra = (
        f"evaluators = {evaluators}\n"
        'gold_columns = { label = "gold" }\n'
        "max_reject_share = 0.5\n"
        f'[local]\nplanted = [{{ id = "{PLANTED}", share = 1.0 }}]\n'
    )
    project.write(
        {
            "mturkmake.toml": project_toml(extra),
            "pets.input": "\n".join(rows) + "\n",
            "pets.question": QUESTION,
            "pets.properties": properties(assignments=3),
            "mturkmake_plugins.py": CROWD_PLUGIN,
        }
    )
    result = project.run("pets.results", "--wait")
    assert result.exit_code == 0, result.output


@dataclass
class Server:
    """A running ``mturkmake review`` process."""

    process: subprocess.Popen[str]
    url: str
    lines: list[str]

    @property
    def token(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def post(self, route: str, data: Any, *, kind: str = "application/json") -> tuple[int, Any]:
        body = json.dumps(data).encode() if kind == "application/json" else str(data).encode()
        request = urllib.request.Request(
            self.url + route, data=body, method="POST", headers={"Content-Type": kind}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text.decode()


@contextmanager
def review_server(project: Project, *args: str) -> Iterator[Server]:
    """Start ``mturkmake review pets --no-browser ARGS`` in the project; stop it after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mturkmake", "review", "pets", "--no-browser", *args],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    url = ""
    deadline = time.monotonic() + 60
    while not url and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"http://127\.0\.0\.1:\d+/[^/\s]+/", line)
        url = found.group(0) if found else ""
    if not url:
        process.kill()
        raise AssertionError("the review server printed no URL:\n" + "".join(lines))
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        yield Server(process, url, lines)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=5)


def review_marks(project: Project) -> dict[str, tuple[str, str]]:
    """``pets.review``'s marks: assignment id → (reject cell, feedback cell)."""
    return {
        row["assignmentid"]: (row["reject"], row["feedback"])
        for row in project.table("pets.review")
        if row["assignmentid"]
    }


def get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# --------------------------------------------------------------------------------------------


def test_the_server_is_on_loopback_and_refuses_every_request_without_its_token(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project)
    with review_server(project) as server:
        assert server.url.startswith("http://127.0.0.1:")
        base = server.url[: -len(server.token) - 1]
        status, page = get(server.url)
        assert status == 200
        ids = [r["assignmentid"] for r in project.table("pets.results")]
        assert len(ids) == 30
        assert all(f'data-assignment="{a}"' in page for a in ids)
        assert get(base)[0] == 403
        status, again = get(server.url.rstrip("/"))  # redirected to the page
        assert status == 200
        assert again.count("data-assignment=") == 30
        assert get(base + "x" * len(server.token) + "/")[0] == 403
        assert get(server.url.replace(server.token, server.token[:-1]))[0] == 403
        # DNS rebinding: the right path through another host name is refused
        assert get(server.url, host="evil.example:80")[0] == 421
        wrong = Server(server.process, base + "nottoken/", server.lines)
        assert wrong.post("decide", {"assignment": ids[0], "decision": "approve"})[0] == 403
        # a plain form post (what another site could make a browser send) is refused
        status, _ = server.post(
            "decide", f"assignment={ids[0]}&decision=approve", kind="text/plain"
        )
        assert status == 415
        assert {m[0] for m in review_marks(project).values()} == {"pending"}
    assert calls(project) == Counter()
    # SIGTERM ends the session like Ctrl-C: it says what the file holds
    assert server.process.returncode == 0
    assert any("0 approved, 0 rejected, 30 pending" in line for line in server.lines)


def test_the_page_shows_answers_as_text_and_selections_by_their_text(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project)
    with review_server(project) as server:
        _, page = get(server.url)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; AT&amp;T" in page
    assert "<script>alert" not in page
    assert page.count("<script") == 1  # the page's own, with its nonce
    assert ">A cat<" in page
    assert ">A dog<" in page
    # the planted worker's work comes first: the evaluators propose to reject it
    first = re.findall(r'data-assignment="([^"]+)"', page)[:10]
    planted = {r["assignmentid"] for r in project.table("pets.results") if r["workerid"] == PLANTED}
    assert set(first) == planted
    assert "known answers" in page


def test_each_click_is_saved_before_the_reply_and_a_killed_server_loses_none(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project, evaluators='["reject-column"]')
    rows = project.table("pets.results")
    honest = [r["assignmentid"] for r in rows if r["workerid"] != PLANTED]
    rejected, approved = honest[0], honest[1]
    with review_server(project) as server:
        status, reply = server.post("decide", {"assignment": rejected, "decision": "reject"})
        assert status == 400
        assert "feedback" in reply["error"]
        assert review_marks(project)[rejected] == ("pending", "")
        status, reply = server.post(
            "decide", {"assignment": rejected, "decision": "reject", "feedback": "Wrong label"}
        )
        assert (status, reply["decision"]) == (200, "reject")
        assert server.post(
            "decide", {"assignment": approved, "decision": "approve", "feedback": "Thanks!"}
        ) == (
            200,
            {
                "decision": "approve",
                "feedback": "Thanks!",
                "counts": {"approve": 1, "reject": 1, "pending": 28},
                "file": "pets.review",
            },
        )
        server.process.kill()  # SIGKILL: no chance to flush anything
        server.process.wait(timeout=10)
    marks = review_marks(project)
    assert marks[rejected] == ("y", "Wrong label")
    assert marks[approved] == ("", "Thanks!")
    assert Counter(m[0] for a, m in marks.items() if a not in (rejected, approved)) == {
        "pending": 28
    }
    assert calls(project) == Counter(), "nothing is sent before .approved runs"

    result = project.run("pets.approved")
    assert result.exit_code == 0, result.output
    assert calls(project) == Counter(
        {("RejectAssignment", rejected): 1, ("ApproveAssignment", approved): 1}
    )
    assert "28 assignments undecided (28 pending in the review; MTurk auto-approves them" in (
        result.stdout
    )
    decided = {r["assignmentid"]: r for r in approved_rows(project.path("pets.approved"))}
    assert set(decided) == {rejected, approved}
    assert decided[rejected]["feedback"] == "Wrong label"
    again = project.run("pets.approved")
    assert again.exit_code == 0, again.output
    assert sum(calls(project).values()) == 2


def test_a_resumed_review_keeps_its_marks_and_lists_only_undecided_work(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project, evaluators='["reject-column"]')
    ids = [r["assignmentid"] for r in project.table("pets.results")]
    with review_server(project) as server:
        assert server.post("decide", {"assignment": ids[0], "decision": "approve"})[0] == 200
    with review_server(project) as server:
        _, page = get(server.url)
        assert f'data-assignment="{ids[0]}" data-state="approve"' in page
        assert server.post("finish", {})[0] == 200
        server.process.wait(timeout=10)
        assert server.process.returncode == 0
    assert any("1 approved, 0 rejected, 29 pending" in line for line in server.lines)
    assert project.run("pets.approved").exit_code == 0
    with review_server(project) as server:
        _, page = get(server.url)
    assert f'data-assignment="{ids[0]}"' not in page, "decided work is not reviewed again"
    assert page.count("data-assignment=") == 29


def test_review_refuses_evaluators_that_would_ignore_it(mturkmake_project: Project) -> None:
    project = mturkmake_project
    labelling_batch(project, evaluators='["answer-key"]', hits=2)
    result = project.run("review", "pets", "--no-browser")
    assert result.exit_code == 2
    assert 'add "reject-column" to evaluators' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not project.path("pets.review").exists()


def test_review_without_results_says_what_to_run(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": project_toml()})
    result = project.run("review", "pets.results", "--no-browser")
    assert result.exit_code == 2
    assert "pets.results does not exist yet" in result.stderr
    assert "mturkmake pets.results" in result.stderr


@pytest.mark.parametrize("port", ["-1", "70000", "x"])
def test_a_bad_port_is_one_line(mturkmake_project: Project, port: str) -> None:
    project = mturkmake_project
    labelling_batch(project, evaluators='["reject-column"]', hits=1)
    result = project.run("review", "pets", "--no-browser", "--port", port)
    assert result.exit_code == 2
    assert "not a port number" in result.stderr


def test_nothing_to_review_once_everything_is_decided(mturkmake_project: Project) -> None:
    project = mturkmake_project
    labelling_batch(project, evaluators='["reject-column"]', hits=2)
    assert project.run("pets.approved").exit_code == 0
    result = project.run("review", "pets", "--no-browser")
    assert result.exit_code == 0
    assert "nothing to review" in result.stdout


def test_answers_read_as_the_worker_chose_them() -> None:
    from mturkmake.formats.question import parse_question
    from mturkmake.mturk.review_html import render_answer

    form = parse_question(
        f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">'
        "<Question><QuestionIdentifier>pets</QuestionIdentifier><QuestionContent><Text>Pets"
        "</Text></QuestionContent><AnswerSpecification><SelectionAnswer><MaxSelectionCount>2"
        "</MaxSelectionCount><Selections><Selection><SelectionIdentifier>c</SelectionIdentifier>"
        "<Text>Cats &amp; kittens</Text></Selection><Selection><SelectionIdentifier>d"
        "</SelectionIdentifier><Text>Dogs</Text></Selection><OtherSelection/></Selections>"
        "</SelectionAnswer></AnswerSpecification></Question>"
        "<Question><QuestionIdentifier>photo</QuestionIdentifier><QuestionContent><Text>Photo"
        "</Text></QuestionContent><AnswerSpecification><FileUploadAnswer><MaxFileSizeInBytes>"
        "100000</MaxFileSizeInBytes><MinFileSizeInBytes>1</MinFileSizeInBytes>"
        "</FileUploadAnswer></AnswerSpecification></Question></QuestionForm>",
        source="test",
    )
    pets, photo = form.questions  # type: ignore[union-attr]
    assert ">Cats &amp; kittens; Dogs<" in render_answer(pets, "c|d")
    assert "other: a <b>ferret</b>" not in render_answer(pets, "a <b>ferret</b>")
    assert "other: a &lt;b&gt;ferret&lt;/b&gt;" in render_answer(pets, "a <b>ferret</b>")
    assert "uploaded file: cat.jpg<" in render_answer(photo, "uploads/A1/photo/cat.jpg")
    assert "(no answer)" in render_answer(None, "")
    assert ">AT&amp;T &lt;script&gt;<" in render_answer(None, "AT&T <script>")


def test_the_clt_review_command_leaves_pending_work_undecided_too(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project, evaluators='["reject-column"]', hits=2)
    ids = [r["assignmentid"] for r in project.table("pets.results")]
    with review_server(project) as server:
        assert server.post("decide", {"assignment": ids[0], "decision": "approve"})[0] == 200
    result = project.run("reviewResults", "-resultsfile", "pets.review", "-force")
    assert result.exit_code == 0, result.output
    assert calls(project) == Counter({("ApproveAssignment", ids[0]): 1})
    assert "Assignments marked pending, left undecided: 5" in result.stdout


def test_work_can_be_reviewed_before_the_batch_is_final_without_proposals(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    labelling_batch(project, hits=2)
    project.write({"pets.input": project.read("pets.input") + "Picture 9\tcat\n"})
    assert project.run("pets.results").exit_code == 0  # loads the row; its work is not in yet
    with review_server(project) as server:
        _, page = get(server.url)
    assert page.count("data-assignment=") == 6
    assert "the results are not final" in page
    assert "known answers" not in page
