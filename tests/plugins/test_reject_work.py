"""rejectWork on the local marketplace: seed 003's output, feedback, exposure, decided once."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import (
    assignments,
    balance,
    batch_files,
    calls,
    exposure,
    fetched,
    on_terminal,
)


def test_seed_003s_prompts_and_line(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    on_terminal(monkeypatch, "\nThe answer is empty\n")
    result = project.run("rejectWork", "-assignment", only)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "You are about to reject 1 assignment(s).",
        "To confirm this operation, please press ENTER (or press Ctrl+C to abort): ",
        "If you would like to supply a comment to the worker(s), please type it below then "
        "press ENTER.",
        "If not, just hit ENTER:",
        f"[{only}] Assignment successfully rejected with comment (The answer is empty)",
    ]
    remote = assignments(project)[only]
    assert remote["AssignmentStatus"] == "Rejected"
    assert remote["RequesterFeedback"] == "The answer is empty"


def test_reject_file_comments_and_released_exposure(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    fetched(project)
    ids = sorted(assignments(project))
    committed = exposure(project)
    project.write(
        {
            "reject.txt": "assignmentIdToReject\tassignmentIdToRejectComment\n"
            f"{ids[0]}\tCopied text\n{ids[1]}\t\n"
        }
    )
    result = project.run("rejectWork", "-rejectfile", "reject.txt", "-force")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"[{ids[0]}] Assignment successfully rejected with comment (Copied text)" in lines
    # An empty comment is sent empty, as the CLT did (seed 003: "with comment ()").
    assert f"[{ids[1]}] Assignment successfully rejected with comment ()" in lines
    remote = assignments(project)
    assert remote[ids[1]]["RequesterFeedback"] == ""
    assert remote[ids[2]]["AssignmentStatus"] == "Submitted"
    # $0.05 reward + $0.01 fee per rejected slot is released, as the marketplace releases it.
    assert exposure(project) == committed - Decimal("0.12")
    assert balance(project) == Decimal("10000") - exposure(project)


def test_an_approved_assignment_cannot_be_rejected(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    assert project.run("approveWork", "-assignment", only, "-force").exit_code == 0
    result = project.run("rejectWork", "-assignment", only, "-force")
    assert result.exit_code == 2
    assert f"Error rejecting assignment {only}" in result.stderr
    assert "already approved" in result.stderr
    assert "cannot be undone" in result.stderr
    assert calls(project) == Counter({("ApproveAssignment", only): 1})


def test_rejecting_twice_sends_once(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    for _ in range(2):
        result = project.run("rejectWork", "-assignment", only, "-force")
        assert result.exit_code == 0, result.output
    assert "already rejected by rejectWork" in result.stdout
    assert calls(project) == Counter({("RejectAssignment", only): 1})


def test_without_a_terminal_it_refuses_before_any_call(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    result = project.run("rejectWork", "-assignment", only)
    assert result.exit_code == 2
    assert "You are about to reject 1 assignment(s)" in result.stderr
    assert calls(project) == Counter()


def test_without_a_comment_nothing_is_invented(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    result = project.run("rejectWork", "-assignment", only, "-force")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"[{only}] Assignment successfully rejected with comment ()"
    ]
    remote = assignments(project)[only]
    assert remote["AssignmentStatus"] == "Rejected"
    assert remote["RequesterFeedback"] == ""
