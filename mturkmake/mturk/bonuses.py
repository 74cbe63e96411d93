"""Bonuses, each paid exactly once (DESIGN §3, §4): shared by grantBonus and ``%.bonused``.

Every payment is one ledger intent (``SendBonus``) recorded before the call, with its
``UniqueRequestToken``, and resolved after; a pending one is resolved before anything new is
sent — by re-sending it with the same token while MTurk remembers the token, and after that
by :func:`send_bonus_lookup` (ListBonusPayments), never by a blind second payment.

MTurk's SendBonus returns no id, and ListBonusPayments lists none: a payment is identified by
its assignment, worker, amount, reason and GrantTime, and — for 24 hours — by the request
token it was sent with. ``.bonused`` records the token and the ledger's key.

Intent parameters are the API's (``WorkerId``, ``BonusAmount``, ``AssignmentId``,
``Reason``); the subject is the assignment id (grantBonus; ``#2``, ``#3`` … for further
bonuses with ``--again``) or the ``.bonus`` row's key (``<assignment>#<n>``).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from mturkmake import fees
from mturkmake.errors import FormatError, ServiceError
from mturkmake.hookspecs import Recovery
from mturkmake.mturk.endpoint import (
    ledger_call,
    refused_before_effect,
    service_call,
    token_retry,
)
from mturkmake.mturk.recovery import Resolution

if TYPE_CHECKING:
    from mturkmake.mturk.client import Client
    from mturkmake.mturk.ledger import Intent, Ledger

__all__ = [
    "OPERATION",
    "Bonus",
    "PaidBonus",
    "adopt_payment",
    "bonus_params",
    "check_assignment",
    "check_reason",
    "grant_batch",
    "ledger_bonuses",
    "paid_outside_ledger",
    "parse_amount",
    "pay",
    "recovery",
    "remote_bonuses",
    "send_bonus_lookup",
]

OPERATION = "SendBonus"
#: A cap on a bonus's reason. The API documents no limit; the legacy API capped the worker
#: notification at 4096 characters, and a longer reason is almost certainly a wrong column.
MAX_REASON_CHARS = 4096


def grant_batch(endpoint: str) -> str:
    """The ledger batch of grantBonus payments on ``endpoint`` (one per endpoint, because a
    ledger batch lives on one endpoint)."""
    return f"(grantBonus)@{endpoint}"


def parse_amount(
    text: str, *, what: str, file: str | None = None, line: int | None = None
) -> Decimal:
    """A bonus amount in dollars: a positive number with at most two decimals.

    :param what: the flag or column, for the message (``-amount``, ``column 'amount'``).
    :raises FormatError: not a number, not positive, or fractions of a cent.
    """
    value = text.strip().removeprefix("$")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise FormatError(
            f"{what} {text!r} is not an amount in dollars",
            file=file,
            line=line,
            hint="write e.g. 1.50",
        )
    if amount <= 0:
        raise FormatError(
            f"{what} {text!r} must be more than $0.00", file=file, line=line, hint="write e.g. 1.50"
        )
    if amount != fees.to_money(amount):
        raise FormatError(
            f"{what} {text!r} has fractions of a cent",
            file=file,
            line=line,
            hint="round it to the cent, e.g. 1.25",
        )
    return fees.to_money(amount)


def check_reason(text: str, *, what: str, file: str | None = None, line: int | None = None) -> str:
    """A bonus reason: the worker reads it, so it may not be empty.

    :raises FormatError: empty, or longer than MTurk accepts.
    """
    reason = text.strip()
    if not reason:
        raise FormatError(
            f"{what} is empty; the worker sees the reason for a bonus",
            file=file,
            line=line,
            hint='give one, e.g. "Thank you for the careful work"',
        )
    if len(reason) > MAX_REASON_CHARS:
        raise FormatError(
            f"{what} has {len(reason)} characters; at most {MAX_REASON_CHARS} are accepted",
            file=file,
            line=line,
            hint="shorten it",
        )
    return reason


@dataclass(frozen=True)
class Bonus:
    """One bonus to pay.

    :param line: the ``.bonus`` file's line (0 on the command line).
    """

    assignment_id: str
    worker_id: str
    amount: Decimal
    reason: str
    line: int = 0

    @property
    def total(self) -> Decimal:
        """The amount plus MTurk's fee."""
        return fees.bonus_cost(self.amount)

    def same_as(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` (a SendBonus intent's) pay exactly this bonus."""
        return (
            params.get("AssignmentId") == self.assignment_id
            and params.get("WorkerId") == self.worker_id
            and _money(params.get("BonusAmount")) == self.amount
            and str(params.get("Reason", "")).strip() == self.reason
        )


def _money(value: Any) -> Decimal | None:
    try:
        return fees.to_money(str(value))
    except (InvalidOperation, ValueError):
        return None


def bonus_params(bonus: Bonus) -> dict[str, str]:
    """The SendBonus parameters of ``bonus`` (without the token)."""
    return {
        "WorkerId": bonus.worker_id,
        "BonusAmount": str(bonus.amount),
        "AssignmentId": bonus.assignment_id,
        "Reason": bonus.reason,
    }


def check_assignment(
    client: Client,
    bonus: Bonus,
    *,
    file: str | None = None,
    what: str = "-assignment",
    project: str | None = None,
) -> Mapping[str, Any]:
    """GetAssignment: the assignment exists, ``bonus.worker_id`` did it, and (given
    ``project``) its HIT is not another mturkmake project's (no side effect).

    :raises FormatError: unknown assignment, another worker's, or another project's (naming
        ``file`` and the line).
    """
    line = bonus.line or None
    try:
        reply = service_call(client, "GetAssignment", AssignmentId=bonus.assignment_id)
    except ServiceError as error:
        if refused_before_effect(error):
            raise FormatError(
                f"{what} {bonus.assignment_id}: no such assignment ({error.message})",
                file=file,
                line=line,
                hint="copy the assignment id from the .results file",
            ) from None
        raise
    assignment: Mapping[str, Any] = reply["Assignment"]
    if assignment.get("WorkerId") != bonus.worker_id:
        raise FormatError(
            f"assignment {bonus.assignment_id} was done by worker {assignment.get('WorkerId')}, "
            f"not {bonus.worker_id}",
            file=file,
            line=line,
            hint="a bonus goes to the worker who did the assignment",
        )
    if project is not None:
        from mturkmake.mturk.project import foreign_reason

        foreign = foreign_reason(str(assignment.get("HITId", "")), reply.get("HIT", {}), project)
        if foreign:
            raise FormatError(
                f"assignment {bonus.assignment_id}: {foreign}; nothing was paid",
                file=file,
                line=line,
                hint="pay bonuses for that project's work from that project's folder",
            )
    return assignment


@dataclass(frozen=True)
class PaidBonus:
    """A SendBonus intent of the ledger (done, or pending in a live run).

    :param at: when its outcome was recorded (endpoint clock); empty while pending.
    """

    batch: str
    subject: str
    params: Mapping[str, Any]
    token: str
    status: str
    at: str

    def bonus(self, line: int = 0) -> Bonus:
        """The bonus it paid."""
        return Bonus(
            str(self.params.get("AssignmentId", "")),
            str(self.params.get("WorkerId", "")),
            _money(self.params.get("BonusAmount")) or Decimal("0.00"),
            str(self.params.get("Reason", "")).strip(),
            line,
        )


def ledger_bonuses(
    conn: sqlite3.Connection,
    endpoint: str,
    *,
    batch: str | None = None,
    assignment_id: str | None = None,
) -> list[PaidBonus]:
    """The active SendBonus intents on ``endpoint`` that did not fail, oldest first (a
    database without a ledger has none).

    :param conn: the state database (the ledger's connection, or a read-only one for ``-n``).
    :param batch: only this batch; ``None``: every batch (grantBonus and ``.bonused``).
    :param assignment_id: only bonuses for this assignment.
    """
    from mturkmake.mturk.ledger import select_records

    found = []
    for record in select_records(conn, endpoint, [OPERATION], batch=batch, done_only=False):
        params = record.params
        if assignment_id is not None and params.get("AssignmentId") != assignment_id:
            continue
        found.append(
            PaidBonus(record.batch, record.subject, params, record.token, record.status, record.at)
        )
    return found


def _paginate(client: Client, **params: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page = service_call(
            client,
            "ListBonusPayments",
            MaxResults=100,
            **params,
            **({"NextToken": token} if token else {}),
        )
        yield from page.get("BonusPayments", [])
        token = page.get("NextToken")
        if not token:
            return


def remote_bonuses(client: Client, assignment_id: str) -> list[dict[str, Any]]:
    """ListBonusPayments for ``assignment_id``."""
    return list(_paginate(client, AssignmentId=assignment_id))


def _identity(params: Mapping[str, Any]) -> tuple[str, str, Decimal | None, str]:
    """What makes two payments the same bonus: assignment, worker, amount and reason."""
    return (
        str(params.get("AssignmentId", "")),
        str(params.get("WorkerId", "")),
        _money(params.get("BonusAmount")),
        str(params.get("Reason", "")).strip(),
    )


def paid_outside_ledger(
    ledger: Ledger,
    todo: Sequence[tuple[Bonus, str]],
    remote: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[tuple[Bonus, str, Mapping[str, Any]]]:
    """The rows of ``todo`` that MTurk shows paid although no intent of this ledger did it.

    A clone without ``.mturkmake/`` (or a ledger deleted) knows none of the project's
    payments, and after 24 hours MTurk no longer recognises their request tokens: paying
    such a row again would pay the worker twice. So before paying, each assignment's
    payments (``remote``: ListBonusPayments by assignment id) are counted by bonus (worker,
    amount, reason) against the ledger's done payments of that bonus, in every batch; each
    payment in excess is one row, in file order, found paid. A payment someone made by hand
    with exactly a row's worker, amount and reason counts so too: the one error this allows
    is paying a row once too few — never once too many.

    :returns: the rows found paid, each with its subject and the matching payment.
    """
    excess: Counter[tuple[str, str, Decimal | None, str]] = Counter()
    for assignment_id, payments in remote.items():
        for payment in payments:
            excess[_identity({"AssignmentId": assignment_id, **payment})] += 1
    for record in ledger.records([OPERATION], include_archived=True):
        excess[_identity(record.params)] -= 1
    found: list[tuple[Bonus, str, Mapping[str, Any]]] = []
    for bonus, subject in todo:
        key = _identity(bonus_params(bonus))
        if excess[key] > 0:
            excess[key] -= 1
            payment = next(
                p
                for p in remote[bonus.assignment_id]
                if _identity({"AssignmentId": bonus.assignment_id, **p}) == key
            )
            found.append((bonus, subject, payment))
    return found


def adopt_payment(
    ledger: Ledger, batch: str, subject: str, bonus: Bonus, payment: Mapping[str, Any]
) -> None:
    """Record ``payment`` (found on MTurk, see :func:`paid_outside_ledger`) as the row's."""
    ledger.adopt(
        OPERATION,
        batch,
        subject,
        "",
        {"GrantTime": str(payment.get("GrantTime", ""))},
        params=bonus_params(bonus),
    )


def _done_identical(ledger: Ledger, intent: Intent) -> int:
    """How many *other* SendBonus intents on this endpoint, in any batch, archived or not,
    are recorded as done with exactly ``intent``'s payment."""
    wanted = Bonus(
        str(intent.params["AssignmentId"]),
        str(intent.params["WorkerId"]),
        _money(intent.params["BonusAmount"]) or Decimal("0.00"),
        str(intent.params["Reason"]).strip(),
    )
    others = ledger.records([OPERATION], include_archived=True, except_intent=intent.id)
    return sum(1 for record in others if wanted.same_as(record.params))


def send_bonus_lookup(client: Client, intent: Intent) -> Resolution:
    """SendBonus, once the token may be forgotten: ListBonusPayments for the assignment holds
    more payments of exactly this bonus (worker, amount, reason) than the ledger records as
    done in any batch — then this intent's call happened.

    Counting across batches matters: grantBonus and a ``.bonus`` file may pay one assignment
    identical bonuses, and a payment of one must never be claimed for the other.
    """
    params = intent.params
    wanted = Bonus(
        str(params["AssignmentId"]),
        str(params["WorkerId"]),
        _money(params["BonusAmount"]) or Decimal("0.00"),
        str(params["Reason"]).strip(),
    )
    remote = [
        p
        for p in remote_bonuses(client, wanted.assignment_id)
        if wanted.same_as({**p, "AssignmentId": p.get("AssignmentId", wanted.assignment_id)})
    ]
    known = 0 if intent.ledger is None else _done_identical(intent.ledger, intent)
    if len(remote) > known:
        return Resolution.found(None, {"GrantTime": str(remote[-1].get("GrantTime"))})
    return Resolution.absent("no such bonus payment")


def recovery() -> Recovery:
    """SendBonus's recovery: re-send with the token while young, :func:`send_bonus_lookup`
    after (declared by grantBonus and the ``%.bonused`` rule)."""
    return Recovery(OPERATION, retry=token_retry(lambda _reply: None), lookup=send_bonus_lookup)


def pay(
    ledger: Ledger,
    client: Client,
    batch: str,
    subject: str,
    bonus: Bonus,
    *,
    budget: Decimal | None,
) -> str:
    """Pay ``bonus`` once, as the intent ``(batch, subject)``; returns the request token.

    :raises BudgetExceeded: the bonus would pass the budget; nothing was sent.
    :raises ServiceError: MTurk refused (recorded as failed) or the call is uncertain (left
        pending for the next run's recovery).
    """
    with ledger.intent(
        OPERATION, batch, subject, bonus_params(bonus), exposure=bonus.total, budget=budget
    ) as intent:
        ledger_call(intent, client)
        intent.done(None, {"token": intent.token})
    return intent.token
