"""getBalance: print the account's available balance (seed 003; CLT 1.3.1 ``GetBalance``).

Output as seed 003: ``Your account balance: $819.45``. The sandbox's balance is always
$10000.00 (seed 003), and so is a fresh local marketplace's; both say where it comes from on a
second line, so a rehearsal is never mistaken for real money.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from mturkmake.hookspecs import CommandSpec, Context, hookimpl
from mturkmake.mturk.prompts import say

__all__ = ["handle_get_balance"]

NOTES = {
    "sandbox": "(sandbox: a fixed balance of $10000.00, no real money)",
    "local": "(local marketplace: no real money)",
}


def handle_get_balance(args: Mapping[str, Any], ctx: Context) -> int:
    """``getBalance [-sandbox]``."""
    from mturkmake.mturk.endpoint import run_client, service_call
    from mturkmake.mturk.settings import settings

    reply = service_call(run_client(ctx), "GetAccountBalance")
    amount = Decimal(str(reply.get("AvailableBalance", "0"))).quantize(Decimal("0.01"))
    say(ctx, f"Your account balance: ${amount}")
    note = NOTES.get(settings(ctx.config).kind)
    if note:
        say(ctx, note)
    return 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``getBalance`` (and ``get_balance``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("getBalance").spec(handle_get_balance),)
