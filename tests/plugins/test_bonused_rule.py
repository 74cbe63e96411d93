"""``%.bonused`` from ``%.bonus``: two phases, each row paid exactly once (through the CLI)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mturkmake import fees
from mturkmake.testing import Project
from tests.plugins.test_approved_rule import assignments, balance, batch_files, fetched
from tests.plugins.test_grant_bonus import bonus_payments, sent_bonuses

HEADER = "assignmentid\tworkerid\tamount\treason\n"


def three(project: Project) -> list[tuple[str, str]]:
    """A fetched batch of three assignments: (assignment, worker), sorted."""
    project.write(batch_files(3))
    fetched(project)
    return sorted((aid, str(a["WorkerId"])) for aid, a in assignments(project).items())


def bonus_file(*rows: tuple[str, str, str, str]) -> str:
    return HEADER + "".join("\t".join(row) + "\n" for row in rows)


def bonused(project: Project, name: str = "survey.bonused") -> list[dict[str, str]]:
    lines = project.read(name).splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def test_dry_run_prints_every_payment_and_the_total_then_the_run_pays_each_once(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    (a, wa), (b, wb), _ = three(project)
    project.write(
        {"survey.bonus": bonus_file((a, wa, "1.00", "Great work"), (b, wb, "0.30", "Thanks"))}
    )
    before = balance(project)
    dry = project.run("-n", "survey.bonused")
    assert dry.exit_code == 0, dry.output
    assert f"would pay $1.00 (+ fee) to {wa} for assignment {a} [{a}#1]: Great work" in dry.stdout
    assert f"would pay $0.30 (+ fee) to {wb} for assignment {b} [{b}#1]: Thanks" in dry.stdout
    assert (
        "Cost: 2 bonuses = $1.30 + $0.26 fees = $1.56 (local marketplace: no real money)"
        in dry.stdout
    )
    assert sent_bonuses(project) == 0
    assert not project.path("survey.bonused").exists()
    real = project.run("survey.bonused")
    assert real.exit_code == 0, real.output
    assert "Cost: 2 bonuses = $1.30 + $0.26 fees = $1.56" in real.stdout
    assert balance(project) == before - Decimal("1.56")
    rows = bonused(project)
    assert [
        (r["assignmentid"], r["workerid"], r["amount"], r["fee"], r["reason"]) for r in rows
    ] == [
        (a, wa, "1.00", "0.20", "Great work"),
        (b, wb, "0.30", "0.06", "Thanks"),
    ]
    assert [r["key"] for r in rows] == [f"{a}#1", f"{b}#1"]
    assert all(len(r["requesttoken"]) == 64 and r["paidat"].endswith("Z") for r in rows)
    again = project.run("survey.bonused", "-B")
    assert again.exit_code == 0, again.output
    assert sent_bonuses(project) == 2
    assert balance(project) == before - Decimal("1.56")


def test_appended_rows_pay_only_themselves_and_a_repeated_assignment_pays_twice(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    (a, wa), (b, wb), (c, wc) = three(project)
    first = bonus_file((a, wa, "1.00", "Great"), (b, wb, "0.50", "Good"))
    project.write({"survey.bonus": first})
    assert project.run("survey.bonused").exit_code == 0
    before = balance(project)
    project.write({"survey.bonus": first + f"{c}\t{wc}\t0.25\tOK\n" + f"{a}\t{wa}\t1.00\tGreat\n"})
    result = project.run("survey.bonused")
    assert result.exit_code == 0, result.output
    assert "Cost: 2 bonuses = $1.25 + $0.25 fees = $1.50" in result.stdout
    assert balance(project) == before - Decimal("1.50")
    assert len(bonus_payments(project, a)) == 2
    assert len(bonus_payments(project, c)) == 1
    assert [r["key"] for r in bonused(project)] == [f"{a}#1", f"{b}#1", f"{c}#1", f"{a}#2"]


def test_deleting_a_row_never_shifts_another_rows_key(mturkmake_project: Project) -> None:
    project = mturkmake_project
    (a, wa), _, _ = three(project)
    project.write({"survey.bonus": bonus_file((a, wa, "1.00", "First"), (a, wa, "2.00", "Second"))})
    assert project.run("survey.bonused").exit_code == 0
    project.write({"survey.bonus": bonus_file((a, wa, "2.00", "Second"))})
    result = project.run("survey.bonused")
    assert result.exit_code == 0, result.output
    assert sent_bonuses(project) == 2
    # the projection still lists both payments: deleting a row takes no bonus back
    assert [r["key"] for r in bonused(project)] == [f"{a}#2", f"{a}#1"]


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (("2.00", "Great"), "amount $1.00 → $2.00"),
        (("1.00", "Brilliant"), "reason"),
    ],
)
def test_an_edited_paid_row_stops_the_run_naming_it(
    mturkmake_project: Project, edit: tuple[str, str], what: str
) -> None:
    project = mturkmake_project
    (a, wa), (b, wb), (c, wc) = three(project)
    project.write({"survey.bonus": bonus_file((b, wb, "0.10", "x"), (a, wa, "1.00", "Great"))})
    assert project.run("survey.bonused").exit_code == 0
    before = balance(project)
    project.write(
        {"survey.bonus": bonus_file((b, wb, "0.10", "x"), (a, wa, *edit), (c, wc, "0.20", "new"))}
    )
    result = project.run("survey.bonused")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "survey.bonus:3: assignment" in line
    assert what in line
    assert sent_bonuses(project) == 2
    assert balance(project) == before


def _rows_with_bad(kind: str, pairs: list[tuple[str, str]]) -> tuple[str, str]:
    (a, wa), (b, wb), _ = pairs
    # One worker may have done several of the HITs (the local crowd's choices follow the
    # project's random id): the other worker must really be another one.
    other = next((w for _, w in pairs if w != wb), "AOTHERWORKER000")
    bad = {
        "unknown assignment": (("NOSUCHASSIGNMENT", wb, "1.00", "x"), "no such assignment"),
        "other worker": ((b, other, "1.00", "x"), f"was done by worker {wb}, not {other}"),
        "negative": ((b, wb, "-1", "x"), "must be more than $0.00"),
        "not a number": ((b, wb, "lots", "x"), "is not an amount in dollars"),
        "empty reason": ((b, wb, "1.00", " "), "the reason is empty"),
    }[kind]
    return bonus_file((a, wa, "1.00", "fine"), bad[0]), bad[1]


@pytest.mark.parametrize(
    "kind", ["unknown assignment", "other worker", "negative", "not a number", "empty reason"]
)
def test_bad_rows_exit_2_naming_file_and_line_before_any_payment(
    mturkmake_project: Project, kind: str
) -> None:
    project = mturkmake_project
    pairs = three(project)
    text, message = _rows_with_bad(kind, pairs)
    project.write({"survey.bonus": text})
    before = balance(project)
    result = project.run("survey.bonused")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "survey.bonus:3: " in line, line
    assert message in line
    assert sent_bonuses(project) == 0
    assert balance(project) == before
    assert not project.path("survey.bonused").exists()


def test_a_bonus_over_the_budget_stops_before_the_first_payment(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    (a, wa), (b, wb), _ = three(project)
    project.write({"mturkmake.toml": project.read("mturkmake.toml") + "budget = 1\n"})
    project.write({"survey.bonus": bonus_file((a, wa, "0.50", "x"), (b, wb, "0.50", "y"))})
    result = project.run("survey.bonused")
    assert result.exit_code == 2
    assert "budget" in result.stderr
    assert sent_bonuses(project) == 0
    assert fees.bonus_cost("0.50") * 2 == Decimal("1.20")


def test_the_bonuses_example_pays_each_right_answer_once(mturkmake_project: Project) -> None:
    from tests.test_examples import _copy

    project = mturkmake_project
    _copy("bonuses", project)
    made = project.run("quiz.bonus", "--wait")
    assert made.exit_code == 0, made.output
    rows = project.read("quiz.bonus").splitlines()[1:]
    assert rows  # most simulated workers know the answers
    dry = project.run("-n", "quiz.bonused")
    assert dry.exit_code == 0, dry.output
    total = fees.bonus_cost("0.05") * len(rows)
    assert f"Cost: {len(rows)} bonuses = ${Decimal('0.05') * len(rows)}" in dry.stdout
    assert f"= ${total} (local marketplace" in dry.stdout
    before = balance(project)
    built = project.run("quiz.approved", "quiz.bonused")
    assert built.exit_code == 0, built.output
    assert len(bonused(project, "quiz.bonused")) == len(rows)
    assert sent_bonuses(project) == len(rows)
    # approvals pay from the reservation made when the HITs were created: only the bonuses move
    assert before - balance(project) == total
    again = project.run("quiz.bonused", "-B")
    assert again.exit_code == 0, again.output
    assert sent_bonuses(project) == len(rows)


def test_grant_bonus_refuses_an_assignment_a_bonus_file_paid(mturkmake_project: Project) -> None:
    project = mturkmake_project
    (a, wa), _, _ = three(project)
    project.write({"survey.bonus": bonus_file((a, wa, "1.00", "From the file"))})
    assert project.run("survey.bonused").exit_code == 0
    refused = project.run(
        "grantBonus", "-workerid", wa, "-assignment", a, "-amount", "1.00", "-reason", "Again"
    )
    assert refused.exit_code == 2
    assert "already has a bonus: $1.00 ('From the file')" in refused.stderr
    assert sent_bonuses(project) == 1
