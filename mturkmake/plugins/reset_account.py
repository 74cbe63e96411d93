"""resetAccount: delete HITs, approving submitted work and expiring open HITs first
(seed 003; CLT 1.3.1 ``ResetAccount``).

``resetAccount [-force] [--all-account]``. DESIGN §8: it acts on the HITs this project's
ledger created (or adopted) on the endpoint; ``--all-account`` takes every HIT of the account
(ListHITs), as the CLT did. Each HIT goes through the same steps as ``deleteHITs -approve
-expire`` (each approval once, in the ledger). Output as seed 003::

    PLEASE READ THIS CAREFULLY
    You are about to delete ALL your HITs from Amazon Mechanical Turk.
    To confirm this operation, please press ENTER (or press Ctrl+C to abort):
    --- Starting to reset account (10 HITs) ---
    [<hit>] Successfully deleted HIT (1/10)
    --- Finished to reset account ---
      9 HITs have been deleted or were deleted previously.
      0 HITs failed to delete.
      1 HITs could not be deleted because they are currently being worked on.
      1 HITs are left in your account

``-force`` skips the confirmation, and without a terminal the command refuses. A HIT workers
are still working on is left, as the CLT left it (not an error); any other failure exits 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import confirm, forced, say

if TYPE_CHECKING:
    from mturkmake.mturk.client import Client

__all__ = ["handle_reset_account", "project_hits"]

_CREATES = ("CreateHIT", "CreateHITWithHITType")


def project_hits(ledger: Any) -> list[str]:
    """Every HIT this project's ledger created or adopted on its endpoint, oldest first."""
    made = ledger.records(list(_CREATES))
    return list(dict.fromkeys(r.remote_id for r in made if r.remote_id))


def _account_hits(client: Client) -> list[str]:
    from mturkmake.mturk.endpoint import service_call

    found: list[str] = []
    token: str | None = None
    while True:
        page = service_call(
            client, "ListHITs", MaxResults=100, **({"NextToken": token} if token else {})
        )
        found += [str(h["HITId"]) for h in page.get("HITs", [])]
        token = page.get("NextToken")
        if not token:
            return found


def handle_reset_account(args: Mapping[str, Any], ctx: Context) -> int:
    """``resetAccount [-force] [--all-account]``."""
    from mturkmake.mturk.hit_cleanup import delete_hits
    from mturkmake.mturk.hit_commands import open_command_session

    everything = bool(args.get("all-account"))
    with open_command_session(ctx) as run:
        hits = _account_hits(run.client) if everything else project_hits(run.ledger)
        if not forced(args, ctx):
            say(ctx, "PLEASE READ THIS CAREFULLY")
        whose = "ALL your HITs" if everything else f"ALL {len(hits)} HITs of this project"
        confirm(ctx, args, f"You are about to delete {whose} from Amazon Mechanical Turk.")
        say(ctx, f"--- Starting to reset account ({len(hits)} HITs) ---")
        done = delete_hits(
            ctx, run, hits, approve=True, expire=True, evaluator="resetAccount", quiet_busy=True
        )
        left = len(_account_hits(run.client))
    say(ctx, "--- Finished to reset account ---")
    say(ctx, f"  {done.deleted} HITs have been deleted or were deleted previously.")
    say(ctx, f"  {len(done.errors)} HITs failed to delete.")
    say(
        ctx,
        f"  {len(done.busy)} HITs could not be deleted because they are currently being worked on.",
    )
    say(ctx, f"  {left} HITs are left in your account")
    return 2 if done.errors else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``resetAccount`` (and ``reset_account``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("resetAccount").spec(handle_reset_account),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [
        recovery_for(operation)
        for operation in ("ApproveAssignment", "UpdateExpirationForHIT", "DeleteHIT")
    ]
