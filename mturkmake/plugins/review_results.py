"""reviewResults: approve or reject the assignments of a marked ``.results`` file, each once.

CLT semantics (CLT 1.3.1 ``ReviewResults``, clt-formats.md §3): the ``assignmentid`` and
``reject`` columns are read; a row without an assignment is skipped; a non-blank ``reject``
cell rejects, an empty one approves (``pending``, which ``mturkmake review`` writes for work
it has not reached, does neither: those rows are left undecided); a file without a
``reject`` column asks once ("You are about to approve ALL assignments.") and approves
everything. Output as seed 003::

    [<assignment>] Assignment successfully approved
    <blank line>
    Assignments approved: 5/5 (100%)
    Assignments rejected: 0/5 (0%)
    Assignments failed: 0/5 (0%)

Departures: the row's ``feedback`` cell is sent as the feedback (the CLT sent none; MTurk now
requires it on a rejection, and a blank one sends the default); a cell of spaces is no mark;
an assignment the ledger or MTurk already shows decided as marked is not sent again
(``[<id>] Assignment already approved …``, counted on an extra line ``Assignments skipped``),
and one marked against its earlier decision fails; the command confirms (DESIGN §8:
``-force`` skips, no terminal refuses); any failure exits 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mturkmake.errors import UsageError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import confirm, error, say
from mturkmake.plugins.reporter import Tracked

if TYPE_CHECKING:
    from mturkmake.mturk.decisions import Order, Result

__all__ = ["handle_review_results"]

EVALUATOR = "reviewResults"


def _orders(path: str) -> tuple[list[Order], bool, dict[str, str]]:
    """The file's orders, whether it has a ``reject`` column, and each assignment's status
    as the file shows it."""
    from mturkmake.formats.results import open_results
    from mturkmake.mturk.decisions import Order
    from mturkmake.mturk.evaluation import is_pending

    if not Path(path).is_file():
        raise UsageError(f"-resultsfile {path}: no such file")
    results = open_results(path)
    orders: list[Order] = []
    statuses: dict[str, str] = {}
    for entry in results.assignments():
        if is_pending(entry.values):
            continue  # `mturkmake review` has not reached it: no decision, not a rejection
        decision: Literal["approve", "reject"] = "reject" if entry.reject else "approve"
        orders.append(Order(entry.assignment_id, decision, entry.feedback, EVALUATOR))
        statuses[entry.assignment_id] = entry.status
    return orders, results.has_reject_column, statuses


def _pending(path: str) -> int:
    """How many rows are marked ``pending`` (left undecided)."""
    from mturkmake.formats.results import open_results
    from mturkmake.mturk.evaluation import is_pending

    return sum(1 for e in open_results(path).assignments() if is_pending(e.values))


def _share(count: int, total: int) -> str:
    return f"{count}/{total} ({count * 100 // total if total else 0}%)"


def handle_review_results(args: Mapping[str, Any], ctx: Context) -> int:
    """``reviewResults -resultsfile FILE [-force]``."""
    # the decision machinery loads only when the command runs: a no-op run stays light
    from mturkmake.mturk.decide_many import decide_all
    from mturkmake.mturk.decisions import open_decider

    orders, marked, statuses = _orders(str(args["resultsfile"]))
    counts = {"approved": 0, "rejected": 0, "skipped": 0, "failed": 0}
    with open_decider(ctx) as decider:
        # The confirmation counts only what will be sent: not what the file shows decided,
        # nor what the ledger already decided.
        known = decider.existing([o.assignment_id for o in orders])
        todo = [
            o
            for o in orders
            if o.assignment_id not in known
            and statuses.get(o.assignment_id, "") in ("", "Submitted")
        ]
        if not marked:
            confirm(ctx, args, "You are about to approve ALL assignments.")
        else:
            rejects = sum(1 for o in todo if o.decision == "reject")
            confirm(
                ctx,
                args,
                f"You are about to approve {len(todo) - rejects} and reject {rejects} "
                "assignment(s).",
            )

        def handle(order: Order, result: Result) -> None:
            aid = order.assignment_id
            if result.outcome in ("approved", "rejected"):
                counts[result.outcome] += 1
                say(ctx, f"[{aid}] Assignment successfully {result.outcome}")
            elif result.outcome == "skipped":
                counts["skipped"] += 1
                say(ctx, f"[{aid}] Assignment {result.message}; not sent again")
            else:
                counts["failed"] += 1
                error(ctx, f"Could not process assignment [{aid}], {result.message}")

        # -j N: up to N decisions at once, printed in this order (issue #17)
        decide_all(
            ctx,
            decider,
            orders,
            handle,
            progress=lambda items: Tracked(ctx, items, "deciding", "assignment", plain=False),
        )
    total = sum(counts.values())
    # The blank line rides on the next message: reporters drop empty messages.
    say(ctx, f"\nAssignments approved: {_share(counts['approved'], total)}")
    say(ctx, f"Assignments rejected: {_share(counts['rejected'], total)}")
    say(ctx, f"Assignments failed: {_share(counts['failed'], total)}")
    if counts["skipped"]:
        say(ctx, f"Assignments skipped (already decided): {_share(counts['skipped'], total)}")
    pending = _pending(str(args["resultsfile"]))
    if pending:
        say(ctx, f"Assignments marked pending, left undecided: {pending}")
    return 2 if counts["failed"] else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``reviewResults`` (and ``review_results``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("reviewResults").spec(handle_review_results),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(operation) for operation in ("ApproveAssignment", "RejectAssignment")]
