"""The qualification-gate example end to end, and ``exclude_workers_of`` (issue 15)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mturkmake.testing import Project
from tests.plugins.qualification_helpers import log, score
from tests.plugins.test_approved_rule import marketplace
from tests.test_examples import _copy


def _workers_by_batch(project: Project) -> dict[str, set[str]]:
    """Workers of each batch, read from the marketplace's assignments (title tells the batch)."""
    found: dict[str, set[str]] = {"pilot": set(), "survey": set()}
    with marketplace(project) as market:
        for hit in market.call("ListHITs", {"MaxResults": 100})["HITs"]:
            batch = "pilot" if "(pilot)" in hit["Title"] else "survey"
            page = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"], "MaxResults": 100})
            found[batch] |= {a["WorkerId"] for a in page["Assignments"]}
    return found


def _hit_requirements(project: Project) -> dict[str, list[dict[str, Any]]]:
    with marketplace(project) as market:
        hits = market.call("ListHITs", {"MaxResults": 100})["HITs"]
    return {h["Title"]: h.get("QualificationRequirements", []) for h in hits}


def test_the_gated_example_keeps_pilot_workers_out_of_the_survey(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    _copy("qualification-gate", project)
    pilot = project.run("pilot.approved", "--wait")
    assert pilot.exit_code == 0, pilot.output
    # The qualification was made first, from skill.properties (+ test and key), once.
    assert "Made qualification file skill.properties.success first." in pilot.stdout
    skill = project.read("skill.properties.success").splitlines()[1]
    survey = project.run("survey.approved", "--wait")
    assert survey.exit_code == 0, survey.output
    workers = _workers_by_batch(project)
    assert workers["pilot"]
    assert workers["survey"]
    assert not workers["pilot"] & workers["survey"]
    # Only workers who passed the test (all three right: 100) did any HIT.
    for worker in workers["pilot"] | workers["survey"]:
        assert score(project, skill, worker) == 100
    requirements = _hit_requirements(project)
    survey_reqs = next(r for title, r in requirements.items() if "(survey)" in title)
    comparators = Counter(r["Comparator"] for r in survey_reqs)
    assert comparators == Counter({"EqualTo": 1, "DoesNotExist": 1})
    exclusion = next(r for r in survey_reqs if r["Comparator"] == "DoesNotExist")
    pilot_reqs = next(r for title, r in requirements.items() if "(pilot)" in title)
    assert [r["Comparator"] for r in pilot_reqs] == ["EqualTo"]
    # Each pilot worker was granted the exclusion once, without a notification.
    granted = log(project, "AssociateQualificationWithWorker")
    assert granted == Counter(
        {
            ("AssociateQualificationWithWorker", f"{exclusion['QualificationTypeId']}/{w}"): 1
            for w in workers["pilot"]
        }
    )
    assert log(project, "CreateQualificationType") == Counter(
        {
            ("CreateQualificationType", skill): 1,
            ("CreateQualificationType", exclusion["QualificationTypeId"]): 1,
        }
    )
    # A rebuild grants and creates nothing more.
    again = project.run("survey.approved", "--wait", "-B")
    assert again.exit_code == 0, again.output
    assert log(project, "AssociateQualificationWithWorker") == granted


def test_an_unknown_batch_name_stops_the_load(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _copy("qualification-gate", project)
    result = project.run("survey.success")
    assert result.exit_code == 2
    assert "exclude_workers_of: no batch named 'pilot'" in result.stderr
    assert project.hits() == []
    # Nothing at all was sent: not even the qualification the batch needs first.
    assert not project.path("skill.properties.success").exists()


def test_without_an_answer_key_the_requester_grades_the_tests(mturkmake_project: Project) -> None:
    """The README's variant: no skill.answer, so the simulated workers' tests wait as
    requests; getQualificationRequests lists them, evaluateQualificationRequests grades
    them with the CLT key file, and only the workers it granted do the pilot's HITs."""
    from tests.plugins.qualification_helpers import requests_state

    project = mturkmake_project
    _copy("qualification-gate", project)
    project.path("skill.answer").unlink()
    assert project.run("pilot.success").exit_code == 0
    assert project.run("marketplace", "advance", "10m").exit_code == 0
    pending = requests_state(project)
    assert pending
    assert set(pending.values()) == {"Pending"}
    listed = project.run("getQualificationRequests", "-outputfile", "requests.txt")
    assert listed.exit_code == 0, listed.output
    assert len(project.read("requests.txt").splitlines()) == len(pending) + 1
    graded = project.run(
        "evaluateQualificationRequests",
        "-answers",
        "skill.answerkey",
        "-input",
        "skill.properties.success",
    )
    assert graded.exit_code == 0, graded.output
    decided = requests_state(project)
    assert set(decided.values()) <= {"Granted", "Rejected"}
    assert "Granted" in decided.values()
    result = project.run("pilot.approved", "--wait")
    assert result.exit_code == 0, result.output
    skill = project.read("skill.properties.success").splitlines()[1]
    for worker in _workers_by_batch(project)["pilot"]:
        assert score(project, skill, worker) == 100


def test_dry_run_shows_the_plan_and_sends_nothing(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _copy("qualification-gate", project)
    result = project.run("-n", "pilot.results")
    assert result.exit_code == 0, result.output
    assert "would reconcile 'pilot.success' with 3 input rows" in result.stdout
    assert not project.path("skill.properties.success").exists()
    assert not project.path(".mturkmake/local-marketplace.db").exists() or project.hits() == []


def test_a_later_load_excludes_the_pilots_newcomers(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _copy("qualification-gate", project)
    assert project.run("pilot.results", "--wait").exit_code == 0
    assert project.run("survey.success").exit_code == 0
    exclusion = next(
        r["QualificationTypeId"]
        for title, reqs in _hit_requirements(project).items()
        if "(survey)" in title
        for r in reqs
        if r["Comparator"] == "DoesNotExist"
    )
    # The pilot grows after the survey was posted: its new workers are granted the exclusion
    # when the survey is loaded again (its appended row), and the HITs already posted use the
    # same type, so they are covered too.
    before = _workers_by_batch(project)["pilot"]
    project.write(
        {
            "pilot.input": project.read("pilot.input") + "peach\nlemon\n",
            # four workers per new HIT: at least two the pilot did not have yet
            "pilot.properties": project.read("pilot.properties").replace(
                "assignments:2", "assignments:4"
            ),
        }
    )
    assert project.run("--yes", "pilot.results", "--wait").exit_code == 0
    newcomers = _workers_by_batch(project)["pilot"] - before
    assert newcomers  # the seeded crowd sends new workers to the new pilot HITs
    project.write({"survey.input": project.read("survey.input") + "lychee\n"})
    assert project.run("survey.success").exit_code == 0
    for worker in _workers_by_batch(project)["pilot"]:
        assert score(project, exclusion, worker) == 1
