"""createQualificationType and the ``%.properties.success`` rule on the local marketplace."""

from __future__ import annotations

from typing import Any

import pytest

from mturkmake.testing import Project
from tests.plugins.qualification_helpers import PROPERTIES, TEST, TOML, created, log, types_named
from tests.plugins.test_approved_rule import marketplace

ANSWER_KEY = (
    '<AnswerKey xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/AnswerKey.xsd">\n'
    "#foreach ($q in ['q1', 'q2'])\n"
    "  <Question><QuestionIdentifier>$q</QuestionIdentifier>\n"
    "    <AnswerOption><SelectionIdentifier>true</SelectionIdentifier>"
    "<AnswerScore>50</AnswerScore></AnswerOption></Question>\n"
    "#end\n"
    "</AnswerKey>\n"
)


def _type(project: Project, type_id: str) -> dict[str, object]:
    with marketplace(project) as market:
        return dict(
            market.call("GetQualificationType", {"QualificationTypeId": type_id})[
                "QualificationType"
            ]
        )


def test_creates_once_and_writes_the_id_file(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"skill.question": TEST, "skill.answer": ANSWER_KEY})
    type_id = created(project, PROPERTIES, "-question", "skill.question", "-answer", "skill.answer")
    assert project.read("skill.properties.success") == f"qualtypeid\n{type_id}\n"
    remote = _type(project, type_id)
    assert remote["Name"] == "Skill test"
    assert remote["RetryDelayInSeconds"] == 60
    assert remote["TestDurationInSeconds"] == 10800  # the CLT's default with a test
    # The answer key was Velocity-merged (#foreach) before it was sent.
    assert "#foreach" not in str(remote["AnswerKey"])
    assert str(remote["AnswerKey"]).count("<QuestionIdentifier>") == 2
    again = project.run(
        "createQualificationType", "-properties", "skill.properties", "-question", "skill.question"
    )
    assert again.exit_code == 0, again.output
    assert "not created again" in again.stdout
    assert log(project, "CreateQualificationType") == {("CreateQualificationType", type_id): 1}


def test_output_and_noretry(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": TOML, "skill.properties": PROPERTIES})
    result = project.run("createQualificationType", "-properties", "skill.properties", "-noretry")
    assert result.exit_code == 0, result.output
    type_id = project.read("skill.properties.success").splitlines()[1]
    assert result.stdout.splitlines()[0] == f"Created qualification type: {type_id}"
    assert "RetryDelayInSeconds" not in _type(project, type_id)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"skill.properties": "name=X\n"}, "skill.properties:1: the qualification needs a "),
        (
            {"skill.properties": "name=X\ndescription=Y\nretrydelay=5\n"},
            "skill.properties:3: unknown qualification property 'retrydelay'",
        ),
    ],
)
def test_bad_properties_exit_2_before_any_call(
    mturkmake_project: Project, files: dict[str, str], expected: str
) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": TOML, **files})
    result = project.run("createQualificationType", "-properties", "skill.properties")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not project.path("skill.properties.success").exists()


def test_an_answer_key_for_another_test_is_refused(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(
        {
            "mturkmake.toml": TOML,
            "skill.properties": PROPERTIES,
            "skill.question": TEST,
            "skill.answer": ANSWER_KEY.replace("'q2'", "'q9'"),
        }
    )
    result = project.run(
        "createQualificationType",
        "-properties",
        "skill.properties",
        "-question",
        "skill.question",
        "-answer",
        "skill.answer",
    )
    assert result.exit_code == 2
    assert "skill.answer:" in result.stderr
    assert "'q9'" in result.stderr
    assert not project.path("skill.properties.success").exists()


def _create_then_die(
    project: Project, ledger: Any, params: dict[str, Any], made: dict[str, Any]
) -> None:
    with (
        ledger.intent(
            "CreateQualificationType", "qualification:skill.properties", "Skill test", params
        ),
        marketplace(project) as market,
    ):
        made.update(market.call("CreateQualificationType", params))
        raise KeyboardInterrupt


def test_a_crash_between_the_call_and_the_file_is_resolved_by_name(
    mturkmake_project: Project,
) -> None:
    from mturkmake.mturk.ledger import open_ledger
    from mturkmake.mturk.recovery import Recoveries

    project = mturkmake_project
    project.write({"mturkmake.toml": TOML, "skill.properties": PROPERTIES})
    assert project.run("marketplace", "status").exit_code == 0
    params = {
        "Name": "Skill test",
        "Description": "A short test",
        "QualificationTypeStatus": "Active",
        "Keywords": "test",
        "RetryDelayInSeconds": 60,
    }
    made: dict[str, Any] = {}
    ledger = open_ledger(project.path(".mturkmake"), "local")
    ledger.recover(None, Recoveries())
    with pytest.raises(KeyboardInterrupt):  # the process dies after MTurk created the type
        _create_then_die(project, ledger, params, made)
    ledger.close()
    type_id = made["QualificationType"]["QualificationTypeId"]
    result = project.run("createQualificationType", "-properties", "skill.properties")
    assert result.exit_code == 0, result.output
    assert project.read("skill.properties.success").splitlines()[1] == type_id
    assert len(types_named(project, "Skill test")) == 1


def test_make_mode_prefers_the_qualification_rule(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": TOML, "skill.properties": PROPERTIES, "skill.question": TEST})
    result = project.run("skill.properties.success")
    assert result.exit_code == 0, result.output
    type_id = project.read("skill.properties.success").splitlines()[1]
    assert "Test" in _type(project, type_id)  # skill.question was picked up
    again = project.run("skill.properties.success")
    assert again.exit_code == 0
    assert log(project, "CreateQualificationType") == {("CreateQualificationType", type_id): 1}


def test_the_graph_picks_the_shortest_stem(mturkmake_project: Project) -> None:
    from mturkmake.core.graph import plan
    from mturkmake.plugins import create_qualification_type, load_hits

    project = mturkmake_project
    # Both rules apply: %.success (stem skill.properties) has all its prerequisites too.
    project.write(
        {
            "skill.properties": PROPERTIES,
            "skill.properties.input": "a\n1\n",
            "skill.properties.question": TEST,
            "skill.properties.properties": "title:x\n",
        }
    )
    rules = [*load_hits.mturkmake_rules(None), *create_qualification_type.mturkmake_rules(None)]  # type: ignore[arg-type]
    (step,) = plan(["skill.properties.success"], rules, project.root).steps
    assert step.rule.name == "createQualificationType"
    assert step.stem == "skill"
