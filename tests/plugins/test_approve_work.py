"""approveWork on the local marketplace: seed 003's output, each assignment approved once."""

from __future__ import annotations

from collections import Counter

import pytest

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import assignments, batch_files, calls, fetched, on_terminal


def test_one_assignment_prints_seed_003s_output(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    first, second = sorted(assignments(project))
    result = project.run("approveWork", "-assignment", first, "-force")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "--- Starting approval ---",
        f"[{first}] Assignment successfully approved",
        "--- Finished approval ---",
        "  1 assignments approved.",
        "  0 assignments failed to be approved.",
    ]
    remote = assignments(project)
    assert remote[first]["AssignmentStatus"] == "Approved"
    assert remote[second]["AssignmentStatus"] == "Submitted"


def test_approve_file_comments_reach_the_worker(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    first, second = sorted(assignments(project))
    project.write(
        {
            "approval.txt": "assignmentIdToApprove\tassignmentIdToApproveComment\n"
            f"{first}\tThank you!\n{second}\t\n"
        }
    )
    result = project.run("approveWork", "-approvefile", "approval.txt", "-force")
    assert result.exit_code == 0, result.output
    remote = assignments(project)
    # seed 003's -approvefile line: "[<assignment>] Assignment successfully approved for HIT <hit>"
    assert (
        f"[{first}] Assignment successfully approved for HIT {remote[first]['HITId']} "
        "with comment 'Thank you!'"
    ) in result.stdout.splitlines()
    assert (
        f"[{second}] Assignment successfully approved for HIT {remote[second]['HITId']}"
        in result.stdout.splitlines()
    )
    assert assignments(project)[first]["RequesterFeedback"] == "Thank you!"


def test_successfile_approves_each_submitted_assignment_once(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3, assignments=2))
    fetched(project)
    remote = assignments(project)
    result = project.run("approveWork", "-successfile", "survey.success", "-force")
    assert result.exit_code == 0, result.output
    for aid, a in remote.items():
        assert f"[{aid}] Assignment successfully approved for HIT {a['HITId']}" in result.stdout
    assert "  6 assignments approved." in result.stdout
    log = calls(project)
    again = project.run("approveWork", "-successfile", "survey.success", "-force")
    assert again.exit_code == 0, again.output
    assert "  0 assignments approved." in again.stdout
    assert calls(project) == log
    assert set(log.values()) == {1}
    assert len(log) == 6


def test_a_repeated_assignment_is_reported_not_sent_again(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    assert project.run("approveWork", "-assignment", only, "-force").exit_code == 0
    again = project.run("approveWork", "-assignment", only, "-force")
    assert again.exit_code == 0, again.output
    assert f"[{only}] Assignment already approved by approveWork" in again.stdout
    assert "  1 assignments were already approved." in again.stdout
    assert calls(project) == Counter({("ApproveAssignment", only): 1})


def test_without_a_terminal_it_refuses_before_any_call(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    result = project.run("approveWork", "-assignment", only)
    assert result.exit_code == 2
    assert "no terminal" in result.stderr
    assert "-force" in result.stderr
    assert calls(project) == Counter()


def test_on_a_terminal_it_confirms_then_asks_for_a_comment(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    on_terminal(monkeypatch, "\nWell done\n")
    result = project.run("approveWork", "-assignment", only)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:6] == [
        "--- Starting approval ---",
        "You are about to approve 1 assignment(s).",
        "To confirm this operation, please press ENTER (or press Ctrl+C to abort): ",
        "If you would like to supply a comment to the worker(s), please type it below then "
        "press ENTER.",
        "If not, just hit ENTER:",
        f"[{only}] Assignment successfully approved with comment 'Well done'",
    ]
    assert assignments(project)[only]["RequesterFeedback"] == "Well done"


def test_a_failed_assignment_does_not_stop_the_others(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    result = project.run(
        "approveWork", "-assignment", f"NOSUCHASSIGNMENT0000000000000,{only}", "-force"
    )
    assert result.exit_code == 2
    assert "Error approving assignment NOSUCHASSIGNMENT0000000000000: GetAssignment" in (
        result.stderr
    )
    assert "  1 assignments approved." in result.stdout
    assert "  1 assignments failed to be approved." in result.stdout
