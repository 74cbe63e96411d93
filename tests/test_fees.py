"""DESIGN §4's fee rules, as a table of worked examples (one row per rule and edge)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mturkmake import fees

# (reward, max_assignments, masters, expected fee per assignment, why)
ASSIGNMENT_FEES = [
    ("0.00", 1, False, "0.00", "no fee on a $0.00 reward"),
    ("0.00", 10, True, "0.00", "no fee on a $0.00 reward, even large and Masters"),
    ("0.01", 1, False, "0.01", "20 % of 1 cent rounds to 0, the minimum is 1 cent"),
    ("0.04", 1, False, "0.01", "0.008 rounds to 0.01"),
    ("0.05", 1, False, "0.01", "20 %"),
    ("0.50", 1, False, "0.10", "20 %"),
    ("0.52", 1, False, "0.10", "0.104 rounds down (MTurk's own example)"),
    ("0.53", 1, False, "0.11", "0.106 rounds up"),
    ("1.00", 9, False, "0.20", "9 assignments: still 20 %"),
    ("1.00", 10, False, "0.40", "10 assignments: +20 %"),
    ("1.00", 100, False, "0.40", "more than 10: same 40 %"),
    ("0.01", 10, False, "0.01", "0.004 → minimum"),
    ("1.00", 1, True, "0.25", "Masters: +5 %"),
    ("1.00", 10, True, "0.45", "Masters and 10 assignments: 45 %"),
    ("0.10", 1, True, "0.03", "0.025 is a half: rounds up, not to even"),
    ("0.30", 1, True, "0.08", "0.075 is a half: rounds up"),
    ("0.05", 10, True, "0.02", "0.0225 rounds down"),
    ("12.34", 1, False, "2.47", "2.468 rounds up"),
]


@pytest.mark.parametrize(("reward", "max_assignments", "masters", "fee", "why"), ASSIGNMENT_FEES)
def test_assignment_fee(
    reward: str, max_assignments: int, masters: bool, fee: str, why: str
) -> None:
    got = fees.assignment_fee(reward, max_assignments=max_assignments, masters=masters)
    assert got == Decimal(fee), why
    cost = fees.assignment_cost(reward, max_assignments=max_assignments, masters=masters)
    assert cost == Decimal(reward) + Decimal(fee)


# (reward, assignments, max_assignments, masters, expected total)
HIT_COSTS = [
    ("0.50", 3, None, False, "1.80"),  # 3 × (0.50 + 0.10)
    ("1.00", 10, None, False, "14.00"),  # 10 × (1.00 + 0.40)
    ("1.00", 9, None, False, "10.80"),  # 9 × (1.00 + 0.20)
    ("0.00", 5, None, False, "0.00"),
    ("1.00", 3, 12, False, "4.20"),  # 3 extra on a HIT now at 12: large-batch rate
    ("1.00", 2, 4, False, "2.40"),  # 2 extra on a HIT now at 4: base rate
    ("0.10", 1, None, True, "0.13"),
]


@pytest.mark.parametrize(("reward", "assignments", "total", "masters", "cost"), HIT_COSTS)
def test_hit_cost(
    reward: str, assignments: int, total: int | None, masters: bool, cost: str
) -> None:
    got = fees.hit_cost(reward, assignments, max_assignments=total, masters=masters)
    assert got == Decimal(cost)


# (bonus, expected fee)
BONUS_FEES = [
    ("0.00", "0.00"),  # no fee on nothing
    ("0.01", "0.01"),  # minimum
    ("0.52", "0.10"),  # 0.104 rounds down
    ("0.53", "0.11"),  # 0.106 rounds up
    ("5.00", "1.00"),
    ("5", "1.00"),  # the API's CurrencyAmount may omit the cents
]


@pytest.mark.parametrize(("bonus", "fee"), BONUS_FEES)
def test_bonus_fee(bonus: str, fee: str) -> None:
    assert fees.bonus_fee(bonus) == Decimal(fee)
    assert fees.bonus_cost(bonus) == Decimal(bonus) + Decimal(fee)


def test_to_money_rounds_half_up_and_refuses_floats() -> None:
    assert fees.to_money("0.005") == Decimal("0.01")
    assert fees.to_money("0.015") == Decimal("0.02")  # banker's rounding would give 0.02 too
    assert fees.to_money("0.025") == Decimal("0.03")  # ... but 0.02 here
    assert str(fees.to_money(3)) == "3.00"
    with pytest.raises(TypeError):
        fees.to_money(0.1)  # type: ignore[arg-type]


def test_commission_rate_adds_up() -> None:
    assert fees.commission_rate(1) == Decimal("0.20")
    assert fees.commission_rate(10) == Decimal("0.40")
    assert fees.commission_rate(1, masters=True) == Decimal("0.25")
    assert fees.commission_rate(10, masters=True) == Decimal("0.45")
