"""resetAccount on the local marketplace: this project's HITs, or the account's."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import (
    FREE_TEXT,
    assignments,
    batch_files,
    fetched,
    marketplace,
)
from tests.plugins.test_delete_hits import effects, remote_hits, run_on_pty


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
    hits = [line.split("\t")[0] for line in project.read("survey.success").splitlines()[1:]]
    result = project.run("resetAccount", "-force")
    assert result.exit_code == 0, result.output
    # -force asks nothing; otherwise seed 003's lines
    assert result.stdout.splitlines() == [
        "--- Starting to reset account (2 HITs) ---",
        *[f"[{h}] Successfully deleted HIT ({n}/2)" for n, h in enumerate(hits, start=1)],
        "--- Finished to reset account ---",
        "  2 HITs have been deleted or were deleted previously.",
        "  0 HITs failed to delete.",
        "  0 HITs could not be deleted because they are currently being worked on.",
        "  1 HITs are left in your account",
    ]
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


def test_hits_being_worked_on_are_left_and_counted(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    assert project.run("survey.success").exit_code == 0
    # five virtual seconds: every HIT has a worker on it, nobody has submitted yet
    assert project.run("marketplace", "advance", "5").exit_code == 0
    assert set(remote_hits(project).values()) == {"Unassignable"}
    result = project.run("resetAccount", "-force")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-4:] == [
        "  0 HITs have been deleted or were deleted previously.",
        "  0 HITs failed to delete.",
        "  3 HITs could not be deleted because they are currently being worked on.",
        "  3 HITs are left in your account",
    ]
    assert len(remote_hits(project)) == 3
    # deleteHITs says why for each
    deleted = project.run("deleteHITs", "-successfile", "survey.success", "-expire", "-force")
    assert deleted.exit_code == 2
    assert deleted.stderr.count("workers are still working on it") == 3
    # once they have submitted, everything goes
    assert project.run("marketplace", "advance", "2h").exit_code == 0
    again = project.run("resetAccount", "-force")
    assert again.exit_code == 0, again.output
    assert "  3 HITs have been deleted or were deleted previously." in again.stdout
    assert remote_hits(project) == {}


def test_on_a_terminal_it_warns_then_confirms(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    for name, text in batch_files(1).items():
        (root / name).write_text(text, encoding="utf-8")
    assert run_on_pty(root, ["survey.success"])[0] == 0
    code, output = run_on_pty(root, ["resetAccount", "--all-account"])
    assert code == 0, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[:4] == [
        "PLEASE READ THIS CAREFULLY",
        "You are about to delete ALL your HITs from Amazon Mechanical Turk.",
        "To confirm this operation, please press ENTER (or press Ctrl+C to abort): ",
        "--- Starting to reset account (1 HITs) ---",
    ]
