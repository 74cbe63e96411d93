"""grantBonus: pay a worker a bonus for an assignment, exactly once (seed 003; CLT 1.3.1).

``grantBonus -workerid W -assignment A -amount 5.00 -reason "…"``. Output: the cost line, then
seed 003's ``Granted bonus to W``.

Departures (DESIGN §3, §4): the payment is a ledger intent with a request token, so a crash
or a retry never pays twice; a further bonus to an assignment that already has one — paid by
grantBonus, by a ``.bonus`` file, or found in ListBonusPayments (the requester site, another
tool) — is refused unless ``--again``; a re-run that finds its own pending bonus completed by
the recovery reports it and pays nothing more. The bonus is checked against the budget before
the call; bad input (an unknown assignment, another worker's, a non-positive or non-numeric
amount, an empty reason) exits 2 before any payment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mturkmake.errors import LedgerError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import say

__all__ = ["handle_grant_bonus"]


def _described(payments: Sequence[Mapping[str, Any]]) -> str:
    first = payments[0]
    more = f" and {len(payments) - 1} more" if len(payments) > 1 else ""
    return f"${first.get('BonusAmount')} ({str(first.get('Reason', '')).strip()!r}){more}"


def handle_grant_bonus(args: Mapping[str, Any], ctx: Context) -> int:
    """``grantBonus -workerid W -assignment A -amount D -reason TEXT [--again]``."""
    from mturkmake.mturk import bonuses
    from mturkmake.mturk import money as spending
    from mturkmake.mturk.hit_commands import open_command_session

    amount = bonuses.parse_amount(str(args["amount"]), what="-amount")
    reason = bonuses.check_reason(str(args["reason"]), what="-reason")
    bonus = bonuses.Bonus(
        str(args["assignment"]).strip(), str(args["workerid"]).strip(), amount, reason
    )
    again = bool(args.get("again"))
    with open_command_session(ctx) as run:
        ledger, client = run.ledger, run.client
        bonuses.check_assignment(client, bonus, project=ledger.project)
        mine = [r for r in run.completed(bonuses.OPERATION) if bonus.same_as(r.intent.params)]
        if mine and not again:
            say(ctx, f"Granted bonus to {bonus.worker_id}")
            say(ctx, "  (the bonus a stopped run had sent was found paid; nothing more was sent)")
            return 0
        known = [
            p.params
            for p in bonuses.ledger_bonuses(
                ledger.db.connection(), ledger.endpoint, assignment_id=bonus.assignment_id
            )
        ]
        remote = bonuses.remote_bonuses(client, bonus.assignment_id)
        earlier = remote or known
        if earlier and not again:
            raise LedgerError(
                f"assignment {bonus.assignment_id} already has a bonus: {_described(earlier)}; "
                "nothing was sent",
                hint="run again with --again to pay a further bonus",
            )
        cost = spending.bonuses_cost([bonus.amount])
        budget = spending.begin_money_step(ctx, ledger, cost)
        batch = bonuses.grant_batch(ledger.endpoint)
        used = {
            p.subject
            for p in bonuses.ledger_bonuses(ledger.db.connection(), ledger.endpoint, batch=batch)
        }
        subject, n = bonus.assignment_id, 1
        while subject in used:
            n += 1
            subject = f"{bonus.assignment_id}#{n}"
        bonuses.pay(ledger, client, batch, subject, bonus, budget=budget)
    say(ctx, f"Granted bonus to {bonus.worker_id}")
    return 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``grantBonus`` (and ``grant_bonus``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("grantBonus").spec(handle_grant_bonus),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """SendBonus's recovery (:func:`mturkmake.mturk.bonuses.recovery`)."""
    from mturkmake.mturk.bonuses import recovery

    return [recovery()]
