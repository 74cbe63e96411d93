"""Money steps: the cost line, the budget check and production confirmation (DESIGN §4).

Every step that can move money, before its first call: computes its :class:`Cost` with
:mod:`mturkmake.fees`, prints the cost line (:func:`report_cost`), checks the budget for the
whole step (:func:`check_step_budget`), on production asks (:func:`confirm_spending`), and
checks that the account's balance covers it (:func:`check_balance`: GetAccountBalance, for
steps that draw on the balance — creating HITs, bonuses, extensions; approvals pay from the
HIT's reservation) — :func:`begin_money_step` does them in that order.
Then each call reserves its own share as it records its intent
(``ledger.intent(..., exposure=share, budget=cap)``), so ``-j`` never overshoots the cap.
``--yes`` and ``-force`` skip the question; nothing lifts the cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from mturkmake import fees
from mturkmake.errors import BudgetExceeded, ConfigError, ConfirmationRefused
from mturkmake.hookspecs import Context, Event
from mturkmake.mturk.settings import settings

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config
    from mturkmake.mturk.client import Client
    from mturkmake.mturk.ledger import Ledger

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Cost:
    """What a step may spend at most.

    :param what: the quantities, e.g. ``12 HITs × 3 assignments × $0.50``.
    :param payments: rewards or bonuses, before fees.
    :param fees: MTurk's fees on them.
    """

    what: str
    payments: Decimal
    fees: Decimal

    @property
    def total(self) -> Decimal:
        """Payments plus fees."""
        return self.payments + self.fees


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def hits_cost(
    hits: int,
    reward: Decimal | str,
    assignments: int,
    *,
    masters: bool = False,
    premium: Decimal = ZERO,
) -> Cost:
    """The most ``hits`` new HITs of ``assignments`` assignments at ``reward`` can cost.

    :param premium: the premium qualification fee per assignment (:func:`fees.premium_fee`).
    """
    per_hit = fees.hit_cost(reward, assignments, masters=masters) + premium * assignments
    payments = fees.to_money(reward) * assignments * hits
    what = (
        f"{_plural(hits, 'HIT')} × {_plural(assignments, 'assignment')} × ${fees.to_money(reward)}"
    )
    if premium:
        what += f" (premium qualifications: ${premium} per assignment)"
    return Cost(what, payments, per_hit * hits - payments)


def extra_assignments_cost(
    hits: int,
    reward: Decimal | str,
    extra: int,
    *,
    total_assignments: int,
    masters: bool = False,
) -> Cost:
    """The most ``extra`` more assignments on each of ``hits`` HITs can cost.

    :param total_assignments: each HIT's MaxAssignments after the extension (it decides
        the large-batch rate).
    """
    per_hit = fees.hit_cost(reward, extra, max_assignments=total_assignments, masters=masters)
    payments = fees.to_money(reward) * extra * hits
    return Cost(
        f"{_plural(hits, 'HIT')} × {extra} more {'assignment' if extra == 1 else 'assignments'}"
        f" × ${fees.to_money(reward)}",
        payments,
        per_hit * hits - payments,
    )


def bonuses_cost(amounts: Iterable[Decimal | str]) -> Cost:
    """The cost of paying ``amounts`` as bonuses (each with its own fee)."""
    values = [fees.to_money(amount) for amount in amounts]
    return Cost(
        _plural(len(values), "bonus", "bonuses"),
        sum(values, ZERO),
        sum((fees.bonus_fee(value) for value in values), ZERO),
    )


def cost_line(cost: Cost, endpoint_kind: str) -> str:
    """The line every money step prints before its first call.

    ``Cost: 12 HITs × 3 assignments × $0.50 = $18.00 + $3.60 fees = $21.60 (sandbox: no real
    money)``.
    """
    where = {
        "production": "production: real money",
        "sandbox": "sandbox: no real money",
        "local": "local marketplace: no real money",
    }.get(endpoint_kind, endpoint_kind)
    return f"Cost: {cost.what} = ${cost.payments} + ${cost.fees} fees = ${cost.total} ({where})"


def report_cost(ctx: Context, cost: Cost) -> str:
    """Send the cost line as a ``cost`` event; returns it."""
    line = cost_line(cost, settings(ctx.config).kind)
    ctx.report(
        Event(
            "cost",
            line,
            data={
                "payments": str(cost.payments),
                "fees": str(cost.fees),
                "total": str(cost.total),
                "endpoint": settings(ctx.config).endpoint,
            },
        )
    )
    return line


def budget_of(config: Config) -> Decimal | None:
    """The configured ``budget`` in dollars, or ``None`` when there is no cap."""
    value = config.get("budget")
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        # str() first: a TOML float such as 10.1 must become 10.1, not its binary expansion.
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(
            f"budget must be a number of dollars, not {value!r}", hint="write e.g. budget = 50"
        ) from None
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"budget must not be negative ({value})", hint="write e.g. budget = 50")
    return fees.to_money(amount)


def check_step_budget(ledger: Ledger, cost: Cost, budget: Decimal | None) -> None:
    """Stop a step whose whole cost would pass the budget, before its first call.

    :raises BudgetExceeded: nothing was sent.
    """
    ledger.exposure.check_budget(cost.total, budget)


def check_balance(client: Client, cost: Cost, endpoint_kind: str) -> Decimal:
    """Stop a step the account's balance cannot pay for, before its first call that spends.

    Asks GetAccountBalance (the balance MTurk has not reserved for open HITs) and compares
    it with the whole step's cost, fees included. Returns the balance.

    :param client: the run's MTurk client.
    :param endpoint_kind: ``local``, ``sandbox`` or ``production`` (named in the message).
    :raises BudgetExceeded: the balance is short (the message names the shortfall);
        nothing was sent.
    :raises ServiceError: GetAccountBalance failed (credentials, connection): nothing was
        sent either.
    """
    from mturkmake.mturk.endpoint import service_call

    reply = service_call(client, "GetAccountBalance")
    available = fees.to_money(str(reply.get("AvailableBalance") or "0"))
    if cost.total > available:
        shortfall = fees.to_money(cost.total - available)
        raise BudgetExceeded(
            f"this step costs ${cost.total} but the {endpoint_kind} account's available "
            f"balance is ${available}: ${shortfall} short; nothing was sent",
            hint="add funds to the account (requester site: My Account), or post fewer rows "
            "(-maxhits)",
        )
    return available


def confirm_spending(
    cost: Cost,
    *,
    endpoint_kind: str,
    assume_yes: bool,
    interactive: bool,
    ask: Callable[[str], str] = input,
) -> None:
    """Ask before spending real money; refuse without a terminal (DESIGN §4, §8).

    Only production (or a non-loopback URL) asks, and only for a non-zero cost.

    :param assume_yes: ``--yes`` or ``-force`` was given.
    :param interactive: stdin and stdout are terminals.
    :param ask: shows the question and returns the answer (``input``).
    :raises ConfirmationRefused: declined, or no terminal to ask on.
    """
    if endpoint_kind != "production" or assume_yes or cost.total <= 0:
        return
    line = cost_line(cost, endpoint_kind)
    if not interactive:
        raise ConfirmationRefused(
            f"{line}; spending real money needs a confirmation and there is no terminal",
            hint="run again with --yes to confirm",
        )
    try:
        answer = ask(f"Spend ${cost.total} on production? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise ConfirmationRefused("not confirmed; nothing was sent")


def confirm_for(ctx: Context, cost: Cost, ask: Callable[[str], str] = input) -> None:
    """:func:`confirm_spending` with the run's endpoint, ``--yes``/``-force`` and terminal."""
    confirm_spending(
        cost,
        endpoint_kind=settings(ctx.config).kind,
        assume_yes=bool(ctx.options.get("yes") or ctx.options.get("force")),
        interactive=ctx.interactive,
        ask=ask,
    )


def begin_money_step(
    ctx: Context,
    ledger: Ledger,
    cost: Cost,
    ask: Callable[[str], str] = input,
    *,
    balance_client: Client | None = None,
) -> Decimal | None:
    """Everything a money step does before its first call that spends, in order: print the
    cost line, check the whole step against the budget, ask on production (before any call),
    check the account's balance (when ``balance_client`` is given: steps that draw on the
    balance).

    :returns: the budget, for the per-call reservations
        (``ledger.intent(..., exposure=share, budget=<this>)``).
    :raises BudgetExceeded: the step would pass the budget, or the balance is short;
        nothing was sent.
    :raises ConfirmationRefused: production spending was not confirmed.
    """
    report_cost(ctx, cost)
    budget = budget_of(ctx.config)
    check_step_budget(ledger, cost, budget)
    # Production asks before any call at all, GetAccountBalance included.
    confirm_for(ctx, cost, ask=ask)
    if balance_client is not None and cost.total > 0:
        check_balance(balance_client, cost, settings(ctx.config).kind)
    return budget
