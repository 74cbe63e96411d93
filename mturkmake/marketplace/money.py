"""The requester's balance (DESIGN §7), always through :mod:`mturkmake.fees`.

The model: AvailableBalance starts at 10000.00. A HIT *reserves* the most its open work can
cost (reward + fee per slot that may still be paid); approval pays from the reservation,
rejection, expiry of unfilled slots and deletion release what is left; a bonus is debited with
its fee. Callers compute a HIT's reservation before and after a change and :func:`settle` the
difference, so the balance can never drift from the state: ``available = initial − Σ
reservations − Σ payments`` (checked by :func:`audit`).
"""

from __future__ import annotations

from decimal import Decimal

from mturkmake import fees
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Tx, get_meta, set_meta

INITIAL_BALANCE = Decimal("10000.00")
INSUFFICIENT_FUNDS = "AWS.MechanicalTurk.InsufficientFunds"


def available(tx: Tx) -> Decimal:
    """The AvailableBalance now."""
    return Decimal(get_meta(tx.conn, "available"))


def initialise(tx: Tx) -> None:
    """Open the account with the sandbox's 10000.00."""
    set_meta(tx.conn, "available", str(INITIAL_BALANCE))


def slot_cost(reward: str, max_assignments: int, *, masters: bool) -> Decimal:
    """What paying one assignment of a HIT costs, fee included (``fees.assignment_cost``)."""
    return fees.assignment_cost(reward, max_assignments=max_assignments, masters=masters)


def settle(
    tx: Tx,
    before: Decimal,
    after: Decimal,
    *,
    paid: Decimal = Decimal("0.00"),
    kind: str = "",
    subject: str = "",
) -> None:
    """Move the balance by a reservation change (``after − before``) plus a payment.

    A debit larger than the available balance raises InsufficientFunds and changes nothing
    (the caller's transaction rolls back).
    """
    debit = (after - before) + paid
    balance = available(tx)
    if debit > 0 and debit > balance:
        raise RequestError(
            "This Requester has insufficient funds in their account to complete this transaction.",
            INSUFFICIENT_FUNDS,
        )
    set_meta(tx.conn, "available", str(fees.to_money(balance - debit)))
    if paid:
        tx.conn.execute(
            "INSERT INTO payments (kind, subject, amount, time) VALUES (?, ?, ?, ?)",
            (kind, subject, str(paid), tx.now),
        )


def spent(tx: Tx) -> Decimal:
    """Everything paid out so far (approved work with fees, bonuses with fees)."""
    total = Decimal("0.00")
    for row in tx.all("SELECT amount FROM payments"):
        total += Decimal(row["amount"])
    return total


def audit(tx: Tx, reserved: Decimal) -> bool:
    """Whether ``available == initial − reserved − spent`` to the cent."""
    return available(tx) == INITIAL_BALANCE - reserved - spent(tx)
