"""``%.bonused`` in a clone without the ledger (``.mturkmake/state.db`` is not committed),
more than 24 hours later, when MTurk no longer remembers the request tokens: the bonuses the
project paid are found on MTurk (ListBonusPayments) and never paid again."""

from __future__ import annotations

import shutil
from decimal import Decimal

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import balance, marketplace
from tests.plugins.test_bonused_rule import bonus_file, bonused, three
from tests.plugins.test_grant_bonus import bonus_payments
from tests.plugins.test_load_hits import delete_ledger


def _clone_a_day_later(project: Project) -> Project:
    target = project.root.parent / "clone"
    shutil.copytree(project.root, target)
    delete_ledger(target)
    clone = Project(target, project._capsys, project._monkeypatch)
    with marketplace(clone) as market:
        market.advance(25 * 3600)  # the tokens are forgotten
    return clone


def test_a_clone_a_day_later_pays_only_the_new_row(mturkmake_project: Project) -> None:
    project = mturkmake_project
    (a, wa), (b, wb), (c, wc) = three(project)
    rows = [(a, wa, "1.00", "Great work"), (b, wb, "0.30", "Thanks")]
    project.write({"survey.bonus": bonus_file(*rows)})
    assert project.run("survey.bonused").exit_code == 0
    paid = bonused(project)
    clone = _clone_a_day_later(project)
    clone.write({"survey.bonus": bonus_file(*rows, (c, wc, "0.20", "Also thanks"))})
    before = balance(clone)
    result = clone.run("survey.bonused")
    assert result.exit_code == 0, result.output
    assert [len(bonus_payments(clone, x)) for x in (a, b, c)] == [1, 1, 1]
    assert balance(clone) == before - Decimal("0.24")  # $0.20 + 20 % fee, nothing else
    assert "2 found paid on MTurk" in result.stdout + result.stderr
    again = bonused(clone)
    assert [(r["assignmentid"], r["amount"], r["key"]) for r in again[:2]] == [
        (r["assignmentid"], r["amount"], r["key"]) for r in paid
    ]
    assert again[2]["assignmentid"] == c
    rerun = clone.run("-B", "survey.bonused")
    assert rerun.exit_code == 0, rerun.output
    assert [len(bonus_payments(clone, x)) for x in (a, b, c)] == [1, 1, 1]


def test_two_identical_rows_with_one_paid_outside_the_ledger_pay_one_more(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    (a, wa), _, _ = three(project)
    row = (a, wa, "0.50", "Bonus")
    project.write({"survey.bonus": bonus_file(row)})
    assert project.run("survey.bonused").exit_code == 0
    clone = _clone_a_day_later(project)
    clone.write({"survey.bonus": bonus_file(row, row)})  # a second, identical bonus
    result = clone.run("survey.bonused")
    assert result.exit_code == 0, result.output
    assert len(bonus_payments(clone, a)) == 2
    assert [r["key"] for r in bonused(clone)] == [f"{a}#1", f"{a}#2"]
