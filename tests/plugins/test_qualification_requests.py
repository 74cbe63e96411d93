"""get/approve/reject/evaluateQualificationRequests on the local marketplace (seed 003)."""

from __future__ import annotations

import pytest

from mturkmake.testing import Project
from tests.plugins.qualification_helpers import (
    TEST,
    WORKERS,
    created,
    log,
    request,
    requests_state,
    score,
)
from tests.plugins.test_approved_rule import on_terminal

W1, W2, W3 = WORKERS
KEY = "q1=true\nq2=FALSE\n"


def _with_test(project: Project) -> str:
    project.write({"skill.question": TEST})
    return created(project, "name=Skill\ndescription=Test\n", "-question", "skill.question")


def test_get_appends_the_clt_file(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = _with_test(project)
    empty = project.run("getQualificationRequests", "-outputfile", "req.txt")
    assert empty.exit_code == 0
    assert "Retrieved 0 Qualification Requests" in empty.stdout
    assert not project.path("req.txt").exists()  # nothing written for no requests (CLT)
    first = request(project, type_id, W1, {"q1": "true", "q2": "false"})
    result = project.run(
        "getQualificationRequests", "-outputfile", "req.txt", "-qualtypeid", type_id
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Retrieved 1 Qualification Requests",
        "Answers successfully saved to file: req.txt",
    ]
    header = "QualificationTypeId\tQualificationRequestId\tSubjectId\tAnswer"
    row = f"{type_id}\t{first}\t{W1}\tq1\ttrue\tq2\tfalse"
    assert project.read("req.txt").splitlines() == [header, row]
    assert project.run("getQualificationRequests", "-outputfile", "req.txt").exit_code == 0
    assert project.read("req.txt").splitlines() == [header, row, header, row]


def test_approve_file_and_score(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = _with_test(project)
    r1 = request(project, type_id, W1, {"q1": "true", "q2": "true"})
    r2 = request(project, type_id, W2, {"q1": "true", "q2": "true"})
    project.write(
        {
            "ok.txt": "qualificationRequestToApprove\tqualificationRequestToApproveValue\n"
            f"{r1}\t80\n{r2}\t\n"
        }
    )
    result = project.run(
        "approveQualificationRequests", "-approvefile", "ok.txt", "-score", "100", "-force"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"[{r1}] QualRequest successfully approved with value (80)",
        f"[{r2}] QualRequest successfully approved with value (100)",
    ]
    assert (score(project, type_id, W1), score(project, type_id, W2)) == (80, 100)
    again = project.run("approveQualificationRequests", "-qualRequest", r1, "-force")
    assert again.exit_code == 0
    assert "already decided; not sent again" in again.stdout
    assert log(project, "AcceptQualificationRequest") == {
        ("AcceptQualificationRequest", r1): 1,
        ("AcceptQualificationRequest", r2): 1,
    }


def test_approve_confirms_on_a_terminal_and_refuses_without(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = mturkmake_project
    type_id = _with_test(project)
    r1 = request(project, type_id, W1, {"q1": "true", "q2": "true"})
    refused = project.run("approveQualificationRequests", "-qualRequest", r1)
    assert refused.exit_code == 2
    assert requests_state(project)[r1] == "Pending"
    on_terminal(monkeypatch, "\n")
    result = project.run("approveQualificationRequests", "-qualRequest", r1)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "You are about to grant 1 qual request(s).",
        "To confirm this operation, please press ENTER (or press Ctrl+C to abort): ",
    ]
    assert requests_state(project)[r1] == "Granted"


def test_reject_with_the_seed_003_prompts(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = mturkmake_project
    type_id = _with_test(project)
    r1 = request(project, type_id, W1, {"q1": "false", "q2": "true"})
    project.write({"no.txt": f"qualificationRequestToReject\n{r1}\n"})
    on_terminal(monkeypatch, "\nToo many wrong answers\n")
    result = project.run("rejectQualificationRequests", "-rejectfile", "no.txt")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "You are about to reject 1 qualification request(s). Are you sure?",
        "To confirm this operation, please press ENTER (or press Ctrl+C to abort): ",
        "If you would like to supply a comment to the worker(s), please type it below then "
        "press ENTER.",
        "If not, just hit ENTER:",
        f"[{r1}] Qualification request successfully rejected",
    ]
    assert requests_state(project)[r1] == "Rejected"
    assert score(project, type_id, W1) is None


def test_evaluate_preview_then_decide(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = _with_test(project)
    project.write({"skill.answerkey": KEY})
    good = request(project, type_id, W1, {"q1": "TRUE", "q2": "false"})
    bad = request(project, type_id, W2, {"q1": "false", "q2": "false"})
    preview = project.run(
        "evaluateQualificationRequests",
        "-answers",
        "skill.answerkey",
        "-qualtypeid",
        type_id,
        "-preview",
    )
    assert preview.exit_code == 0, preview.output
    lines = preview.stdout.splitlines()
    assert lines[0] == (
        "Preview flag is set. Qualification requests will not be approved or rejected."
    )
    # One block per request (the order is MTurk's listing order).
    passed = [
        f"---[Worker {W1}]" + "-" * 62,
        "Question q1:CORRECT [The answer key 'true' matches the given answer 'TRUE']",
        "Question q2:CORRECT [The answer key 'FALSE' matches the given answer 'false']",
        f"Worker {W1} has PASSED your test and scored 100",
        "-" * 87,
    ]
    failed = [
        f"---[Worker {W2}]" + "-" * 62,
        "Question q1:WRONG [The correct answer 'true' did not match the given answer 'false']",
        f"Worker {W2} has FAILED your test. They will not be granted the qualification.",
        "-" * 87,
    ]
    assert lines[1:] in (passed + failed, failed + passed)
    assert set(requests_state(project).values()) == {"Pending"}
    result = project.run(
        "evaluateQualificationRequests",
        "-answers",
        "skill.answerkey",
        "-input",
        "skill.properties.success",
    )
    assert result.exit_code == 0, result.output
    assert "Qualification request granted." in result.stdout
    assert "Qualification request rejected." in result.stdout
    assert requests_state(project) == {good: "Granted", bad: "Rejected"}
    assert score(project, type_id, W1) == 100
    assert score(project, type_id, W2) is None


def test_empty_answers_compare_as_emptyanswer(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = _with_test(project)
    project.write({"skill.answerkey": "q1=emptyanswer\nq2=true|false\n"})
    request(project, type_id, W1, {"q1": [], "q2": ["true", "false"]})  # type: ignore[dict-item]
    result = project.run(
        "evaluateQualificationRequests", "-answers", "skill.answerkey", "-qualtypeid", type_id
    )
    assert result.exit_code == 0, result.output
    assert f"Worker {W1} has PASSED your test and scored 100" in result.stdout
    assert score(project, type_id, W1) == 100


def test_a_key_missing_a_question_aborts_before_any_decision(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = _with_test(project)
    project.write({"skill.answerkey": "q1=true\n"})
    request(project, type_id, W1, {"q1": "false"})  # would be rejected first …
    request(project, type_id, W2, {"q1": "true", "q2": "true"})  # … but q2 is not in the key
    result = project.run(
        "evaluateQualificationRequests", "-answers", "skill.answerkey", "-qualtypeid", type_id
    )
    assert result.exit_code == 2
    assert "skill.answerkey:2: question 'q2'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert set(requests_state(project).values()) == {"Pending"}
    assert log(project, "AcceptQualificationRequest", "RejectQualificationRequest") == {}


def test_a_malformed_request_id_is_refused(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _with_test(project)
    result = project.run("rejectQualificationRequests", "-qualRequest", "a b", "-force")
    assert result.exit_code == 2
    assert "'a b' is not a qualification request id" in result.stderr


PLUGIN = """
from mturkmake import hookimpl
from mturkmake.hookspecs import Verdict


class LongAnswers:
    name = "long-answers"

    def evaluate(self, requests, ctx):
        return {
            r.request_id: Verdict(
                "approve" if len(r.answers) == 2 else "reject", "short", self.name
            )
            for r in requests
        }


@hookimpl
def mturkmake_qualification_evaluators():
    return [LongAnswers()]
"""


def test_a_plugin_evaluator_grades_through_the_hook(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = _with_test(project)
    project.write({"mturkmake_plugins.py": PLUGIN, "skill.answerkey": KEY})
    project.configure(qualification_evaluator="long-answers")
    both = request(project, type_id, W1, {"q1": "false", "q2": "false"})
    one = request(project, type_id, W2, {"q1": "true"})
    result = project.run(
        "evaluateQualificationRequests", "-answers", "skill.answerkey", "-qualtypeid", type_id
    )
    assert result.exit_code == 0, result.output
    assert requests_state(project) == {both: "Granted", one: "Rejected"}
    project.configure(qualification_evaluator="nobody")
    result = project.run(
        "evaluateQualificationRequests", "-answers", "skill.answerkey", "-qualtypeid", type_id
    )
    assert result.exit_code == 2
    assert "no plugin provides the qualification evaluator 'nobody'" in result.stderr


def test_a_request_decided_elsewhere_is_an_error_line(mturkmake_project: Project) -> None:
    from tests.plugins.test_approved_rule import marketplace

    project = mturkmake_project
    type_id = _with_test(project)
    r1 = request(project, type_id, W1, {"q1": "true", "q2": "true"})
    r2 = request(project, type_id, W2, {"q1": "true", "q2": "true"})
    with marketplace(project) as market:  # another tool rejected r1 meanwhile
        market.call("RejectQualificationRequest", {"QualificationRequestId": r1})
    result = project.run("approveQualificationRequests", "-qualRequest", f"{r1},{r2}", "-force")
    assert result.exit_code == 2
    assert f"Error approving qualification request {r1}:" in result.stderr
    assert f"[{r2}] QualRequest successfully approved with value (1)" in result.stdout
    assert requests_state(project) == {r1: "Rejected", r2: "Granted"}


FREE_TEST = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/QuestionForm.xsd">\n'
    "  <Question><QuestionIdentifier>why</QuestionIdentifier>\n"
    "    <QuestionContent><Text>Why?</Text></QuestionContent>\n"
    "    <AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>\n"
    "</QuestionForm>\n"
)


def test_the_request_file_reads_back_with_tabs_and_newlines(mturkmake_project: Project) -> None:
    from mturkmake.formats.workfiles import read_qualification_requests

    project = mturkmake_project
    project.write({"free.question": FREE_TEST})
    type_id = created(project, "name=Free\ndescription=Free text\n", "-question", "free.question")
    answer = 'Because\tof "this"\nand that'
    req = request(project, type_id, W1, {"why": answer})
    assert project.run("getQualificationRequests", "-outputfile", "r.txt").exit_code == 0
    with project.path("r.txt").open("rb") as stream:
        (row,) = read_qualification_requests(stream, "r.txt")
    assert (row.request_id, row.worker_id, row.answers) == (req, W1, (("why", answer),))
