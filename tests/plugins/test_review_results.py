"""reviewResults on a hand-marked CLT ``.results``: CLT semantics, seed 003's output, once."""

from __future__ import annotations

from collections import Counter

import pytest

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import (
    assignments,
    batch_files,
    calls,
    fetched,
    on_terminal,
    results_with_marks,
)


def clt_results(project: Project) -> str:
    """Fetch a ``.results`` with the CLT's getResults (no make-mode columns)."""
    result = project.run(
        "getResults", "-successfile", "survey.success", "-outputfile", "hand.results"
    )
    assert result.exit_code == 0, result.output
    return project.read("hand.results")


def test_one_mark_rejects_exactly_that_assignment(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(5))
    fetched(project)
    ids = sorted(assignments(project))
    victim = ids[3]
    project.write({"hand.results": results_with_marks(clt_results(project), {victim: "Off topic"})})
    result = project.run("reviewResults", "-resultsfile", "hand.results", "-force")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sorted(lines[:5]) == sorted(
        f"[{a}] Assignment successfully {'rejected' if a == victim else 'approved'}" for a in ids
    )
    assert lines[5:] == [
        "",
        "Assignments approved: 4/5 (80%)",
        "Assignments rejected: 1/5 (20%)",
        "Assignments failed: 0/5 (0%)",
    ]
    remote = assignments(project)
    assert remote[victim]["AssignmentStatus"] == "Rejected"
    assert remote[victim]["RequesterFeedback"] == "Off topic"
    assert [remote[a]["AssignmentStatus"] for a in ids if a != victim] == ["Approved"] * 4


def test_a_rerun_sends_nothing_again(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    victim = sorted(assignments(project))[0]
    project.write({"hand.results": results_with_marks(clt_results(project), {victim: "No"})})
    assert project.run("reviewResults", "-resultsfile", "hand.results", "-force").exit_code == 0
    log = calls(project)
    again = project.run("reviewResults", "-resultsfile", "hand.results", "-force")
    assert again.exit_code == 0, again.output
    assert "Assignments skipped (already decided): 2/2 (100%)" in again.stdout
    assert calls(project) == log
    assert sum(log.values()) == 2


def test_without_a_reject_column_it_confirms_once_then_approves_all(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    ids = sorted(assignments(project))
    project.write({"plain.results": "assignmentid\n" + "\n".join(ids) + "\n"})
    refused = project.run("reviewResults", "-resultsfile", "plain.results")
    assert refused.exit_code == 2
    assert "approve ALL assignments" in refused.stderr
    assert calls(project) == Counter()
    on_terminal(monkeypatch, "\n")
    result = project.run("reviewResults", "-resultsfile", "plain.results")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "You are about to approve ALL assignments.",
        "To confirm this operation, please press ENTER (or press Ctrl+C to abort): ",
    ]
    assert "Assignments approved: 2/2 (100%)" in result.stdout
    assert calls(project) == Counter({("ApproveAssignment", a): 1 for a in ids})


def test_the_confirmation_counts_only_what_will_be_sent(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    fetched(project)
    first, second, third = sorted(assignments(project))
    assert project.run("approveWork", "-assignment", first, "-force").exit_code == 0
    project.write({"hand.results": results_with_marks(clt_results(project), {second: "Off topic"})})
    on_terminal(monkeypatch, "\n")
    result = project.run("reviewResults", "-resultsfile", "hand.results")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "You are about to approve 1 and reject 1 assignment(s)."
    assert calls(project)[("ApproveAssignment", third)] == 1
    assert calls(project)[("ApproveAssignment", first)] == 1
