"""approveWork: approve submitted assignments, each once (seed 003; CLT 1.3.1 ``ApproveWork``).

``-assignment a,b`` (one comment asked on stdin unless ``-force``), ``-approvefile f``
(``assignmentIdToApprove`` and optional ``assignmentIdToApproveComment``), or ``-successfile f``
(every Submitted assignment of each ``hitid``). Output as seed 003::

    --- Starting approval ---
    [<assignment>] Assignment successfully approved[ for HIT <hit>][ with comment '<c>']
    --- Finished approval ---
      1 assignments approved.
      0 assignments failed to be approved.

Departures (DESIGN §3, §8): every approval goes through the ledger, so an assignment already
approved is reported as such and not sent again (``  N assignments were already approved.``);
the confirmation is asked for ``-successfile`` too (the CLT skipped it there), ``-force`` skips
it, and without a terminal the command refuses; any failure exits 2 (the CLT: -1).
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

__all__ = ["handle_approve_work"]

EVALUATOR = "approveWork"


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _from_file(path: str) -> list[tuple[str, str | None]]:
    from mturkmake.formats.workfiles import APPROVE, read_work_items

    source = Path(path)
    if not source.is_file():
        raise UsageError(f"-approvefile {path}: no such file")
    with source.open("rb") as stream:
        return [(item.id, item.value) for item in read_work_items(stream, path, APPROVE)]


def _submitted_of_hits(ctx: Context, decider: Decider, path: str) -> list[tuple[str, str]]:
    """(assignment, HIT) for every Submitted assignment of the ``.success`` file's HITs, the
    HITs asked within ``-j`` (issue #17), the answers kept in the file's order."""
    from mturkmake.formats.success import read_success
    from mturkmake.mturk import calls
    from mturkmake.mturk.endpoint import service_call

    source = Path(path)
    if not source.is_file():
        raise UsageError(f"-successfile {path}: no such file")
    with source.open("rb") as stream:
        hits = [row.hit_id for row in read_success(stream, source=path)]

    def submitted(hit_id: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        token: str | None = None
        while True:
            page = service_call(
                decider.client,
                "ListAssignmentsForHIT",
                HITId=hit_id,
                AssignmentStatuses=["Submitted"],
                MaxResults=100,
                **({"NextToken": token} if token else {}),
            )
            found += [(str(a["AssignmentId"]), hit_id) for a in page.get("Assignments", [])]
            token = page.get("NextToken")
            if not token:
                return found

    results = calls.each(ctx, decider.client, hits, submitted)
    try:
        return [pair for _, done in results for pair in done.get()]
    finally:
        getattr(results, "close")()  # noqa: B009 - a generator: waits for the calls in flight


def handle_approve_work(args: Mapping[str, Any], ctx: Context) -> int:
    """``approveWork (-assignment IDS | -approvefile FILE | -successfile FILE) [-force]``."""
    # the decision machinery loads only when the command runs: a no-op run stays light
    from mturkmake.mturk.decide_many import decide_all
    from mturkmake.mturk.decisions import Order, open_decider
    from mturkmake.plugins import clt_catalog

    clt_catalog.check_one_of("approveWork", args)
    say(ctx, "--- Starting approval ---")
    work: list[tuple[str, str | None]] = []
    suffixes: dict[str, str] = {}
    from_file = bool(args.get("approvefile")) and not args.get("assignment")
    with open_decider(ctx) as decider:
        if args.get("assignment"):
            ids = _ids(str(args["assignment"]))
            confirm(ctx, args, f"You are about to approve {len(ids)} assignment(s).")
            comment = ask_comment(ctx, args)
            work = [(i, comment) for i in ids]
        elif args.get("approvefile"):
            items = _from_file(str(args["approvefile"]))
            confirm(ctx, args, f"You are about to approve {len(items)} assignment(s).")
            comment = ask_comment(ctx, args) if any(c is None for _, c in items) else None
            work = [(i, c if c is not None else comment) for i, c in items]
        else:
            pairs = _submitted_of_hits(ctx, decider, str(args["successfile"]))
            confirm(ctx, args, f"You are about to approve {len(pairs)} assignment(s).")
            work = [(i, None) for i, _ in pairs]
            suffixes = {i: f" for HIT {h}" for i, h in pairs}
        counts = {"approved": 0, "failed": 0, "skipped": 0}

        def handle(order: Order, result: Result) -> None:
            assignment_id, text = order.assignment_id, order.feedback
            suffix = suffixes.get(assignment_id) or (f" with comment '{text}'" if text else "")
            if from_file and result.hit_id:  # seed 003's -approvefile line names the HIT
                suffix = f" for HIT {result.hit_id}" + (f" with comment '{text}'" if text else "")
            if result.outcome == "approved":
                counts["approved"] += 1
                say(ctx, f"[{assignment_id}] Assignment successfully approved{suffix}")
            elif result.outcome == "skipped":
                counts["skipped"] += 1
                say(ctx, f"[{assignment_id}] Assignment {result.message}; not sent again")
            else:
                counts["failed"] += 1
                error(ctx, f"Error approving assignment {assignment_id}{suffix}: {result.message}")

        orders = [Order(i, "approve", (c or "").strip(), EVALUATOR) for i, c in work]
        # -j N: up to N approvals at once, printed in this order (issue #17)
        decide_all(
            ctx,
            decider,
            orders,
            handle,
            progress=lambda items: Tracked(ctx, items, "approving", "assignment", plain=False),
        )
    approved, failed, already = counts["approved"], counts["failed"], counts["skipped"]
    say(ctx, "--- Finished approval ---")
    say(ctx, f"  {approved} assignments approved.")
    say(ctx, f"  {failed} assignments failed to be approved.")
    if already:
        say(ctx, f"  {already} assignments were already approved.")
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``approveWork`` (and ``approve_work``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("approveWork").spec(handle_approve_work),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(operation) for operation in ("ApproveAssignment",)]
