"""deleteHITs: delete the HITs of a ``.success`` file (seed 003; CLT 1.3.1 ``DeleteHITs``).

``deleteHITs -successfile F [-approve] [-expire] [-force]``. Output as seed 003::

    --- Starting to delete HITs ---
    You are about to delete 5 HITs.
    To confirm this operation, please press ENTER (or press Ctrl+C to abort):
    [<hit>] Successfully deleted HIT (1/5)
    --- Finished to delete HITs ---
      5 HITs have been deleted or were deleted previously.
      0 errors occurred.

``-approve`` approves submitted work through the ledger (each assignment once), ``-expire``
expires HITs still open; a HIT MTurk will not delete is reported with the reason. Departures
(DESIGN §8): without a terminal and without ``-force`` the command refuses (exit 2) instead of
waiting; any failure exits 2 (the CLT: -1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import confirm, say

__all__ = ["handle_delete_hits"]


def handle_delete_hits(args: Mapping[str, Any], ctx: Context) -> int:
    """``deleteHITs -successfile F [-approve] [-expire] [-force]``."""
    from mturkmake.mturk.hit_cleanup import delete_hits, report
    from mturkmake.mturk.hit_commands import open_command_session, success_hits

    hit_ids = success_hits(str(args["successfile"]))
    say(ctx, "--- Starting to delete HITs ---")
    confirm(ctx, args, f"You are about to delete {len(hit_ids)} HITs.")
    with open_command_session(ctx) as run:
        done = delete_hits(
            ctx,
            run,
            hit_ids,
            approve=bool(args.get("approve")),
            expire=bool(args.get("expire")),
            evaluator="deleteHITs",
        )
    return report(ctx, done)


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``deleteHITs`` (and ``delete_hits``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("deleteHITs").spec(handle_delete_hits),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [
        recovery_for(operation)
        for operation in ("ApproveAssignment", "UpdateExpirationForHIT", "DeleteHIT")
    ]
