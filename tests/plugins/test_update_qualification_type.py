"""updateQualificationType through the CLI: properties, test, status, -input, bad input."""

from __future__ import annotations

from mturkmake.testing import Project
from tests.plugins.qualification_helpers import TEST, created, log
from tests.plugins.test_approved_rule import marketplace


def _type(project: Project, type_id: str) -> dict[str, object]:
    with marketplace(project) as market:
        reply = market.call("GetQualificationType", {"QualificationTypeId": type_id})
    return dict(reply["QualificationType"])


def test_properties_test_and_status_from_the_id_file(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = created(project)
    project.write(
        {
            "new.properties": "description=Now with a test\nretrydelayinseconds=7\n",
            "skill.question": TEST,
        }
    )
    result = project.run(
        "updateQualificationType",
        "-input",
        "skill.properties.success",
        "-properties",
        "new.properties",
        "-question",
        "skill.question",
        "-status",
        "inactive",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"Updated qualification type {type_id}"]
    remote = _type(project, type_id)
    assert remote["Description"] == "Now with a test"
    assert remote["RetryDelayInSeconds"] == 7
    assert remote["QualificationTypeStatus"] == "Inactive"
    assert "<QuestionIdentifier>q1</QuestionIdentifier>" in str(remote["Test"])
    assert remote["Name"] == "Skill test"  # the name never changes


def test_bad_input_changes_nothing(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = created(project)
    cases = [
        (["-qualtypeid", type_id, "-status", "Paused"], "-status must be Active or Inactive"),
        (["-qualtypeid", "NOSUCHTYPE0000000000", "-status", "Inactive"], "does not exist"),
        (["-qualtypeid", type_id], "nothing to update"),
        ([], "give -qualtypeid or -input"),
    ]
    for args, expected in cases:
        result = project.run("updateQualificationType", *args)
        assert result.exit_code == 2, args
        assert expected in result.stderr, result.stderr
    project.write({"bad.properties": "description=x\nstatus=sleeping\n"})
    result = project.run(
        "updateQualificationType", "-qualtypeid", type_id, "-properties", "bad.properties"
    )
    assert result.exit_code == 2
    assert "bad.properties:2: status: 'sleeping' is not Active or Inactive" in result.stderr
    assert _type(project, type_id)["QualificationTypeStatus"] == "Active"
    with marketplace(project) as market:
        updates = [e for e in market.request_log() if e[0] == "UpdateQualificationType"]
    assert updates == []
    assert log(project, "CreateQualificationType")  # the type itself was created once
