"""rejectWork: reject submitted assignments, each once (seed 003; CLT 1.3.1 ``RejectWork``).

``-assignment a,b`` and/or ``-rejectfile f`` (``assignmentIdToReject`` and optional
``assignmentIdToRejectComment``). The CLT asks once for confirmation and, when no comment
column gives one, once for a comment; ``-force`` skips both. Output as seed 003::

    You are about to reject 1 assignment(s).
    To confirm this operation, please press ENTER (or press Ctrl+C to abort):
    If you would like to supply a comment to the worker(s), please type it below then press ENTER.
    If not, just hit ENTER:
    [<assignment>] Assignment successfully rejected with comment (<comment>)

Without a comment the rejection is sent with empty feedback, as the CLT sent it (``with
comment ()``): nothing is invented for the worker to read. Departures: an assignment already
decided is reported and never sent again; without a terminal and without
``-force`` the command refuses; any failure exits 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import UsageError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import ask_comment, confirm, error, say
from mturkmake.plugins.reporter import Tracked

if TYPE_CHECKING:
    from mturkmake.mturk.decisions import Decider, Result

__all__ = ["handle_reject_work"]

EVALUATOR = "rejectWork"


def _from_file(path: str) -> list[tuple[str, str | None]]:
    from mturkmake.formats.workfiles import REJECT, read_work_items

    source = Path(path)
    if not source.is_file():
        raise UsageError(f"-rejectfile {path}: no such file")
    with source.open("rb") as stream:
        return [(item.id, item.value) for item in read_work_items(stream, path, REJECT)]


def _reject(ctx: Context, decider: Decider, work: list[tuple[str, str | None]]) -> int:
    """Reject ``work`` (id, comment); returns how many failed."""
    from mturkmake.mturk.decide_many import decide_all
    from mturkmake.mturk.decisions import Order

    failed = 0

    def handle(order: Order, result: Result) -> None:
        nonlocal failed
        assignment_id = order.assignment_id
        if result.outcome == "rejected":
            say(
                ctx,
                f"[{assignment_id}] Assignment successfully rejected with comment "
                f"({result.feedback})",
            )
        elif result.outcome == "skipped":
            say(ctx, f"[{assignment_id}] Assignment {result.message}; not sent again")
        else:
            failed += 1
            error(
                ctx,
                f"Error rejecting assignment {assignment_id} with comment "
                f"[{order.feedback}]: {result.message}",
            )

    orders = [
        Order(aid, "reject", comment or "", EVALUATOR, invent_feedback=False)
        for aid, comment in work
    ]
    # -j N: up to N rejections at once, printed in this order (issue #17)
    decide_all(
        ctx,
        decider,
        orders,
        handle,
        progress=lambda items: Tracked(ctx, items, "rejecting", "assignment", plain=False),
    )
    return failed


def _batch(
    ctx: Context, args: Mapping[str, Any], items: list[tuple[str, str | None]]
) -> list[tuple[str, str | None]]:
    """The CLT's per-source flow: confirm, then ask a comment when the source has none."""
    confirm(ctx, args, f"You are about to reject {len(items)} assignment(s).")
    if any(c is None for _, c in items):
        comment = ask_comment(ctx, args)
        return [(i, c if c is not None else comment) for i, c in items]
    return items


def handle_reject_work(args: Mapping[str, Any], ctx: Context) -> int:
    """``rejectWork (-assignment IDS | -rejectfile FILE) [-force]``."""
    # the decision machinery loads only when the command runs: a no-op run stays light
    from mturkmake.mturk.decisions import open_decider
    from mturkmake.plugins import clt_catalog

    clt_catalog.check_one_of("rejectWork", args)
    sources: list[list[tuple[str, str | None]]] = []
    if args.get("assignment"):
        ids = [p.strip() for p in str(args["assignment"]).split(",") if p.strip()]
        sources.append([(i, None) for i in ids])
    if args.get("rejectfile"):
        sources.append(_from_file(str(args["rejectfile"])))
    failed = 0
    with open_decider(ctx) as decider:
        for items in sources:
            failed += _reject(ctx, decider, _batch(ctx, args, items))
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``rejectWork`` (and ``reject_work``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("rejectWork").spec(handle_reject_work),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(operation) for operation in ("RejectAssignment",)]
