"""``mturkmake unreject``: ApproveAssignment with OverrideRejection, within 30 days, once."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import (
    approved_rows,
    assignments,
    balance,
    batch_files,
    calls,
    exposure,
    fetched,
)


def test_unreject_pays_and_the_projection_shows_it(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    assert project.run("rejectWork", "-assignment", only, "-force").exit_code == 0
    released = exposure(project)
    result = project.run("unreject", only, "--reason", "Sorry, my mistake")
    assert result.exit_code == 0, result.output
    assert f"[{only}] Rejection overridden: assignment approved" in result.stdout
    assert "Cost: 1 overridden rejection = $0.05 + $0.01 fees = $0.06" in result.stdout
    remote = assignments(project)[only]
    assert remote["AssignmentStatus"] == "Approved"
    assert remote["RequesterFeedback"] == "Sorry, my mistake"
    assert calls(project) == Counter(
        {("RejectAssignment", only): 1, ("ApproveAssignment", only): 1}
    )
    # The reward and fee are committed again, and paid: ledger and balance agree.
    assert exposure(project) == released + Decimal("0.06")
    assert balance(project) == Decimal("10000") - exposure(project)
    built = project.run("survey.approved")
    assert built.exit_code == 0, built.output
    (row,) = approved_rows(project.path("survey.approved"))
    assert (row["decision"], row["evaluator"], row["feedback"]) == (
        "approved",
        "unreject",
        "Sorry, my mistake",
    )
    again = project.run("unreject", only)
    assert again.exit_code == 2
    assert "not rejected" in again.stderr
    assert calls(project)[("ApproveAssignment", only)] == 1


def test_the_budget_caps_an_override(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    assert project.run("rejectWork", "-assignment", only, "-force").exit_code == 0
    project.write({"mturkmake.toml": project.read("mturkmake.toml") + "budget = 0.05\n"})
    result = project.run("unreject", only)
    assert result.exit_code == 2
    assert "budget" in result.stderr
    assert calls(project) == Counter({("RejectAssignment", only): 1})


def test_after_thirty_days_it_is_refused_before_any_call(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    assert project.run("rejectWork", "-assignment", only, "-force").exit_code == 0
    assert project.run("marketplace", "advance", "31d").exit_code == 0
    result = project.run("unreject", only)
    assert result.exit_code == 2
    assert "30 days" in result.stderr
    assert calls(project) == Counter({("RejectAssignment", only): 1})


def test_an_approved_assignment_is_refused(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(1))
    fetched(project)
    (only,) = assignments(project)
    assert project.run("approveWork", "-assignment", only, "-force").exit_code == 0
    result = project.run("unreject", only)
    assert result.exit_code == 2
    assert f"cannot unreject {only}" in result.stderr
    assert calls(project) == Counter({("ApproveAssignment", only): 1})
