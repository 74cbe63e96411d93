"""MTurk's fee rules as pure functions (DESIGN §4), shared by cost lines, the budget and the
local marketplace so that all three always agree to the cent.

- 20 % of the reward and of a bonus;
- +20 % on the reward for HITs with 10 or more assignments;
- +5 % on the reward when the HIT requires the Masters qualification;
- at least $0.01 per assignment and per non-zero bonus; none on a $0.00 reward;
- rounded half-up to the cent, per transaction (one assignment, one bonus);
- a fee per assignment for each premium qualification a HIT requires
  (:data:`PREMIUM_QUALIFICATION_FEES`).

All amounts are :class:`~decimal.Decimal` dollars; strings such as ``"0.05"`` are accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
BASE_RATE = Decimal("0.20")
LARGE_BATCH_RATE = Decimal("0.20")
LARGE_BATCH_ASSIGNMENTS = 10
MASTERS_RATE = Decimal("0.05")
#: The Masters qualification's type id on each endpoint (the one place that spells them; the
#: formats, the preflight and the local marketplace read them here). Requiring either one adds
#: :data:`MASTERS_RATE`.
MASTERS_QUALIFICATION_IDS: dict[str, str] = {
    "production": "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH",
    "sandbox": "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6",
}
MINIMUM_FEE = CENT
#: Premium qualifications and their fee per assignment. Source for the fee: mturk.com/pricing
#: ("The additional fee per assignment starts at $0.05 and varies depending on the
#: qualification"); for the ids: the requester site's qualification list as published in
#: gist.github.com/deargle/b6ff743e3d6b699c9dcfa67736a77911 (production ids). MTurk never
#: published the fee of each one, so each is entered at the published floor of $0.05: a cost
#: line or budget check for a HIT requiring one is a lower bound, and says so.
PREMIUM_QUALIFICATION_FEES: dict[str, Decimal] = {
    "3DWHSFAI6V6LLE6N73LD41NC328HA9": Decimal("0.05"),  # Age 18-25
    "3KAU8F4DS29KIEY0ZKYNZG93O0HPN6": Decimal("0.05"),  # Age 25-30
    "362T88CWSBZ89UNF27OEYG2KXGMSD7": Decimal("0.05"),  # Age 30-35
    "3LLOUF5SOO5RS1LW45IHW772RRZMUZ": Decimal("0.05"),  # Age 35-45
    "3YVJFZ3OL3WO7MYJTQ5K0WEIOULEIU": Decimal("0.05"),  # Age 45-55
    "3A52214HXRPE0WD0NJJNM1K3JA7PM6": Decimal("0.05"),  # Age 55 or older
    "35NJOM7A2AHJ8CEAOZJYOG2F0DRZXE": Decimal("0.05"),  # Blogger
    "3TZRB59MJX9EZ3CJ289HU3GCYFFPZF": Decimal("0.05"),  # Borrower - Auto Loans
}


def to_money(amount: Decimal | str | int) -> Decimal:
    """``amount`` as a Decimal rounded half-up to the cent; refuses floats (binary fractions)."""
    if isinstance(amount, float):  # pragma: no cover - a programming error, not user input
        raise TypeError("money must be Decimal, str or int, not float")
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def commission_rate(max_assignments: int, *, masters: bool = False) -> Decimal:
    """The fee rate on the reward of a HIT with ``max_assignments`` assignments."""
    rate = BASE_RATE
    if max_assignments >= LARGE_BATCH_ASSIGNMENTS:
        rate += LARGE_BATCH_RATE
    if masters:
        rate += MASTERS_RATE
    return rate


def assignment_fee(
    reward: Decimal | str, *, max_assignments: int, masters: bool = False
) -> Decimal:
    """The fee MTurk charges for paying one assignment of ``reward``."""
    amount = to_money(reward)
    if amount <= 0:
        return Decimal("0.00")
    fee = to_money(amount * commission_rate(max_assignments, masters=masters))
    return max(fee, MINIMUM_FEE)


def assignment_cost(
    reward: Decimal | str, *, max_assignments: int, masters: bool = False
) -> Decimal:
    """Reward plus fee for one assignment."""
    return to_money(reward) + assignment_fee(
        reward, max_assignments=max_assignments, masters=masters
    )


def hit_cost(
    reward: Decimal | str,
    assignments: int,
    *,
    max_assignments: int | None = None,
    masters: bool = False,
) -> Decimal:
    """The most ``assignments`` assignments of a HIT can cost, fees included.

    :param max_assignments: the HIT's total MaxAssignments when it differs from
        ``assignments`` (extra assignments on a HIT are charged at the HIT's total: a HIT
        extended to 10 or more pays the large-batch rate on the new ones).
    """
    total = assignments if max_assignments is None else max_assignments
    return assignments * assignment_cost(reward, max_assignments=total, masters=masters)


def bonus_fee(amount: Decimal | str) -> Decimal:
    """The fee on a bonus of ``amount`` (none on zero)."""
    value = to_money(amount)
    if value <= 0:
        return Decimal("0.00")
    return max(to_money(value * BASE_RATE), MINIMUM_FEE)


def bonus_cost(amount: Decimal | str) -> Decimal:
    """A bonus plus its fee."""
    return to_money(amount) + bonus_fee(amount)


def premium_fee(qualification_type_ids: Iterable[str]) -> Decimal:
    """The premium qualification fee per assignment of a HIT requiring these qualification
    types (each premium one counted once)."""
    return sum(
        (
            PREMIUM_QUALIFICATION_FEES[q]
            for q in set(qualification_type_ids)
            if q in PREMIUM_QUALIFICATION_FEES
        ),
        Decimal("0.00"),
    )
