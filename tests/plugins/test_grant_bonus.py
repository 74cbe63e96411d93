"""grantBonus and getBalance on the local marketplace, through the CLI in CLT syntax."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mturkmake import fees
from mturkmake.testing import Project
from tests.plugins.test_approved_rule import assignments, balance, batch_files, fetched, marketplace


def bonus_payments(project: Project, assignment_id: str) -> list[dict[str, str]]:
    """ListBonusPayments for one assignment, straight from the marketplace."""
    with marketplace(project) as market:
        reply = market.call("ListBonusPayments", {"AssignmentId": assignment_id, "MaxResults": 100})
    return list(reply["BonusPayments"])


def sent_bonuses(project: Project) -> int:
    """How many SendBonus calls the marketplace accepted."""
    with marketplace(project) as market:
        return sum(1 for entry in market.request_log() if entry[0] == "SendBonus")


def one_assignment(project: Project) -> tuple[str, str]:
    project.write(batch_files(1))
    fetched(project)
    ((aid, a),) = assignments(project).items()
    return aid, str(a["WorkerId"])


def test_get_balance_prints_seed_003s_line(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run("getBalance")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Your account balance: $10000.00",
        "(local marketplace: no real money)",
    ]


def test_get_balance_follows_spending(mturkmake_project: Project) -> None:
    project = mturkmake_project
    aid, worker = one_assignment(project)
    before = balance(project)
    assert (
        project.run(
            "grantBonus",
            "-workerid",
            worker,
            "-assignment",
            aid,
            "-amount",
            "1.25",
            "-reason",
            "Nice",
        ).exit_code
        == 0
    )
    result = project.run("getBalance")
    assert result.stdout.splitlines()[0] == f"Your account balance: ${before - Decimal('1.50')}"


def test_grant_bonus_prints_the_cost_then_seed_003s_line(mturkmake_project: Project) -> None:
    project = mturkmake_project
    aid, worker = one_assignment(project)
    before = balance(project)
    result = project.run(
        "grantBonus",
        "-workerid",
        worker,
        "-assignment",
        aid,
        "-amount",
        "5.00",
        "-reason",
        "Your answers are very accurate.",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Cost: 1 bonus = $5.00 + $1.00 fees = $6.00 (local marketplace: no real money)",
        f"Granted bonus to {worker}",
    ]
    (payment,) = bonus_payments(project, aid)
    assert payment["WorkerId"] == worker
    assert Decimal(payment["BonusAmount"]) == Decimal("5.00")
    assert payment["Reason"] == "Your answers are very accurate."
    assert balance(project) == before - fees.bonus_cost("5.00")


def test_a_further_bonus_is_refused_unless_again(mturkmake_project: Project) -> None:
    project = mturkmake_project
    aid, worker = one_assignment(project)
    args = (
        "grantBonus",
        "-workerid",
        worker,
        "-assignment",
        aid,
        "-amount",
        "0.50",
        "-reason",
        "Thanks",
    )
    assert project.run(*args).exit_code == 0
    before = balance(project)
    refused = project.run(*args)
    assert refused.exit_code == 2
    assert f"assignment {aid} already has a bonus: $0.50 ('Thanks')" in refused.stderr
    assert "--again" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert sent_bonuses(project) == 1
    assert balance(project) == before
    again = project.run(*args, "--again")
    assert again.exit_code == 0, again.output
    third = project.run(*args, "--again")
    assert third.exit_code == 0, third.output
    assert len(bonus_payments(project, aid)) == 3
    assert balance(project) == before - 2 * fees.bonus_cost("0.50")


def test_a_bonus_paid_outside_mturkmake_is_found_in_list_bonus_payments(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    aid, worker = one_assignment(project)
    with marketplace(project) as market:
        market.call(
            "SendBonus",
            {"WorkerId": worker, "AssignmentId": aid, "BonusAmount": "2.00", "Reason": "site"},
        )
    refused = project.run(
        "grantBonus", "-workerid", worker, "-assignment", aid, "-amount", "1", "-reason", "x"
    )
    assert refused.exit_code == 2
    assert "already has a bonus: $2.00 ('site')" in refused.stderr
    assert len(bonus_payments(project, aid)) == 1


def test_a_bonus_over_the_budget_stops_before_the_call(mturkmake_project: Project) -> None:
    project = mturkmake_project
    aid, worker = one_assignment(project)
    project.write({"mturkmake.toml": project.read("mturkmake.toml") + "budget = 1\n"})
    before = balance(project)
    result = project.run(
        "grantBonus", "-workerid", worker, "-assignment", aid, "-amount", "3.00", "-reason", "x"
    )
    assert result.exit_code == 2
    assert result.stdout.startswith("Cost: 1 bonus = $3.00 + $0.60 fees = $3.60")
    assert "budget" in result.stderr
    assert sent_bonuses(project) == 0
    assert balance(project) == before


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("-amount", "-1", "-amount '-1' must be more than $0.00"),
        ("-amount", "0", "-amount '0' must be more than $0.00"),
        ("-amount", "ten", "-amount 'ten' is not an amount in dollars"),
        ("-amount", "1.005", "has fractions of a cent"),
        ("-reason", "  ", "-reason is empty"),
        ("-assignment", "NOSUCHASSIGNMENT", "-assignment NOSUCHASSIGNMENT: no such assignment"),
        ("-workerid", "AOTHERWORKER123", "was done by worker"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_pays_nothing(
    mturkmake_project: Project, flag: str, value: str, message: str
) -> None:
    project = mturkmake_project
    aid, worker = one_assignment(project)
    given = {"-workerid": worker, "-assignment": aid, "-amount": "1.00", "-reason": "Thanks"}
    given[flag] = value
    before = balance(project)
    result = project.run("grantBonus", *[x for pair in given.items() for x in pair])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert result.stdout == ""
    assert sent_bonuses(project) == 0
    assert balance(project) == before
