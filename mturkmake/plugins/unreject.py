"""``mturkmake unreject ASSIGNMENT [--reason TEXT]``: undo a rejection (DESIGN §5).

ApproveAssignment with ``OverrideRejection``, through the ledger like every approval: the
worker is paid the reward (and MTurk its fee), which is committed as exposure and counted
against ``budget``. MTurk allows it only within 30 days of the submission, so an older one is
refused before any call; so is an assignment that is not Rejected. The ``.approved`` file
then shows it approved by ``unreject`` with the reason as its feedback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mturkmake.errors import UsageError
from mturkmake.hookspecs import CommandSpec, Flag, Recovery, hookimpl
from mturkmake.mturk.prompts import say

if TYPE_CHECKING:
    from mturkmake.hookspecs import Context
    from mturkmake.mturk.decisions import Decider

__all__ = ["handle_unreject"]

EVALUATOR = "unreject"


def _begin(ctx: Context, decider: Decider, assignment_id: str) -> None:
    """The money step's preamble for a Rejected assignment: cost line, budget, and the
    production confirmation; the other cases are refused by the decision itself."""
    from mturkmake.mturk import money as spending
    from mturkmake.mturk.decisions import assignment_price
    from mturkmake.mturk.endpoint import service_call

    reply = service_call(decider.client, "GetAssignment", AssignmentId=assignment_id)
    if reply["Assignment"].get("AssignmentStatus") != "Rejected":
        return
    reward, fee = assignment_price(reply.get("HIT", {}))
    cost = spending.Cost("1 overridden rejection", reward, fee)
    decider.budget = spending.begin_money_step(ctx, decider.ledger, cost)


def handle_unreject(args: Mapping[str, Any], ctx: Context) -> int:
    """Approve one rejected assignment (OverrideRejection)."""
    # the decision machinery loads only when the command runs: a no-op run stays light
    from mturkmake.mturk.decisions import Order, open_decider

    assignment_id = str(args["assignment"]).strip()
    reason = str(args.get("reason") or "").strip()
    with open_decider(ctx) as decider:
        _begin(ctx, decider, assignment_id)
        result = decider.decide(Order(assignment_id, "approve", reason, EVALUATOR, override=True))
    if result.outcome != "approved":
        raise UsageError(
            f"cannot unreject {assignment_id}: {result.message}",
            hint="check the assignment id and its status (mturkmake NAME.results)",
        )
    detail = f" with comment '{reason}'" if reason else ""
    say(ctx, f"[{assignment_id}] Rejection overridden: assignment approved{detail}")
    return 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``unreject ASSIGNMENT [--reason TEXT]``."""
    return (
        CommandSpec(
            name="unreject",
            flags=(Flag("reason", "TEXT", "why (the worker sees it)"),),
            handler=handle_unreject,
            help="approve a rejected assignment (within 30 days of its submission)",
            spends_money=True,
            positionals=(
                Flag("assignment", "ASSIGNMENT", "the rejected assignment's id", required=True),
            ),
        ),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(operation) for operation in ("ApproveAssignment",)]
