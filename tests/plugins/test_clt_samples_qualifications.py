"""The CLT 1.3.1 qualification samples run unchanged through their scripts (issue 15).

Each test copies a sample directory, adds only ``mturkmake.toml`` (``endpoint = "local"``),
and runs what the sample's scripts ran (clt-samples/README.md, clt-formats.md §7):
``createQualificationType -properties … -question … [-answer …]``, then java_qual_test's
``evaluateQualificationRequests -answers qualification.answerkey -input
qualification.properties.success``, site_filter_qual's update and deactivate scripts, and
assign_qualification's ``assignQualification``.
"""

from __future__ import annotations

import shutil

from mturkmake.testing import Project
from tests.plugins.qualification_helpers import TOML, request, requests_state, score
from tests.plugins.test_approved_rule import marketplace
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples" / "samples"
WORKER = "A3C4G8DMXFG5PQ"


def _copy(project: Project, name: str) -> None:
    shutil.copytree(SAMPLES / name, project.root, dirs_exist_ok=True)
    project.write({"mturkmake.toml": TOML})


def _type(project: Project, type_id: str) -> dict[str, object]:
    with marketplace(project) as market:
        reply = market.call("GetQualificationType", {"QualificationTypeId": type_id})
    return dict(reply["QualificationType"])


def _created(project: Project, *args: str) -> str:
    result = project.run("createQualificationType", *args)
    assert result.exit_code == 0, result.output
    type_id = project.read(f"{args[1]}.success").splitlines()[1]
    assert result.stdout.splitlines()[0] == f"Created qualification type: {type_id}"
    return type_id


def test_quiz_qual(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _copy(project, "quiz_qual")
    type_id = _created(
        project,
        "-properties",
        "qualification.properties",
        "-question",
        "qualification.question",
        "-answer",
        "qualification.answer",
    )
    remote = _type(project, type_id)
    assert remote["Name"] == "(Test) General Knowledge Quiz"
    assert remote["TestDurationInSeconds"] == 900
    # The marketplace grades a test with an AnswerKey at once: 2 of 3 correct.
    request(project, type_id, WORKER, {"question1": "1b", "question2": "2c", "question3": "3b"})
    assert score(project, type_id, WORKER) == 20


def test_java_qual_test_with_its_evaluate_script(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _copy(project, "java_qual_test")
    type_id = _created(
        project, "-properties", "qualification.properties", "-question", "qualification.question"
    )
    right = {
        "question1": "false",
        "question2": "true",
        "question3": "1",
        "question4": "true",
        "question5": "0",
    }
    passed = request(project, type_id, WORKER, right)
    failed = request(project, type_id, "A1OTHERWORKER00", {**right, "question5": "/0"})
    result = project.run(
        "evaluateQualificationRequests",
        "-answers",
        "qualification.answerkey",
        "-input",
        "qualification.properties.success",
    )
    assert result.exit_code == 0, result.output
    assert f"Worker {WORKER} has PASSED your test and scored 100" in result.stdout
    assert (
        "Question question5:WRONG [The correct answer '0' did not match the given answer '/0']"
        in result.stdout
    )
    assert requests_state(project) == {passed: "Granted", failed: "Rejected"}
    assert score(project, type_id, WORKER) == 100


def test_site_filter_qual_create_update_deactivate(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _copy(project, "site_filter_qual")
    files = ("site_filter_qual.properties", "site_filter_qual.question", "site_filter_qual.answer")
    type_id = _created(project, "-properties", files[0], "-question", files[1], "-answer", files[2])
    remote = _type(project, type_id)
    # The answer key's #foreach over ten sites was merged before it was sent.
    assert str(remote["AnswerKey"]).count("<QuestionIdentifier>") == 10
    update = project.run(
        "updateQualificationType",
        "-qualtypeid",
        type_id,
        "-properties",
        files[0],
        "-question",
        files[1],
        "-answer",
        files[2],
    )
    assert update.exit_code == 0, update.output
    assert update.stdout.splitlines() == [f"Updated qualification type {type_id}"]
    deactivate = project.run(
        "updateQualificationType", "-qualtypeid", type_id, "-status", "Inactive"
    )
    assert deactivate.exit_code == 0, deactivate.output
    assert _type(project, type_id)["QualificationTypeStatus"] == "Inactive"


def test_assign_qualification(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _copy(project, "assign_qualification")
    type_id = _created(project, "-properties", "qualification.properties")
    result = project.run(
        "assignQualification",
        "-input",
        "qualification.properties.success",
        "-workerid",
        WORKER,
        "-score",
        "100",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Assigned qualification {type_id} to {WORKER} with value 100"
    ]
    assert score(project, type_id, WORKER) == 100
