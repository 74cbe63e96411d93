"""resetAccount on the local marketplace: this project's HITs, or the account's."""

from __future__ import annotations

from collections import Counter

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import (
    FREE_TEXT,
    assignments,
    batch_files,
    fetched,
    marketplace,
)
from tests.plugins.test_delete_hits import effects, remote_hits


def outside_hit(project: Project) -> str:
    """A HIT made on the requester site (not by this project)."""
    with marketplace(project) as market:
        reply = market.call(
            "CreateHIT",
            {
                "Title": "Made elsewhere",
                "Description": "not this project's",
                "Reward": "0.01",
                "AssignmentDurationInSeconds": 600,
                "LifetimeInSeconds": 86400,
                "MaxAssignments": 1,
                "Question": FREE_TEXT.replace("${question}", "Elsewhere?"),
            },
        )
    return str(reply["HIT"]["HITId"])


def test_only_this_projects_hits_unless_all_account(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    other = outside_hit(project)
    result = project.run("resetAccount", "-force")
    assert result.exit_code == 0, result.output
    assert "You are about to delete" not in result.stdout  # -force asks nothing
    assert "  2 HITs have been deleted or were deleted previously." in result.stdout
    assert set(remote_hits(project)) == {other}
    assert {a["AssignmentStatus"] for a in assignments(project).values()} <= {"Approved"}
    assert effects(project)["ApproveAssignment"] == 2
    everything = project.run("resetAccount", "-force", "--all-account")
    assert everything.exit_code == 0, everything.output
    assert "  1 HITs have been deleted or were deleted previously." in everything.stdout
    assert remote_hits(project) == {}
    assert effects(project) == Counter(
        {"ApproveAssignment": 2, "DeleteHIT": 3, "UpdateExpirationForHIT": 1}
    )


def test_without_a_terminal_and_without_force_it_refuses(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    assert project.run("survey.success").exit_code == 0
    result = project.run("resetAccount")
    assert result.exit_code == 2
    assert "no terminal" in result.stderr
    assert effects(project) == Counter()
    assert len(remote_hits(project)) == 1
