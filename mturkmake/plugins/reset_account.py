"""resetAccount: delete HITs, approving submitted work and expiring open HITs first
(seed 003; CLT 1.3.1 ``ResetAccount``).

``resetAccount [-force] [--all-account]``. DESIGN §8: it acts on the HITs this project's
ledger created (or adopted) on the endpoint; ``--all-account`` takes every HIT of the account
(ListHITs), as the CLT did. Each HIT goes through the same steps as ``deleteHITs -approve
-expire`` (each approval once, in the ledger), with the same lines; the confirmation is asked
as the CLT asked it, ``-force`` skips it, and without a terminal the command refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import confirm, say

__all__ = ["handle_reset_account", "project_hits"]

_CREATES = ("CreateHIT", "CreateHITWithHITType")


def project_hits(ledger: Any) -> list[str]:
    """Every HIT this project's ledger created or adopted on its endpoint, oldest first."""
    marks = ", ".join("?" for _ in _CREATES)
    rows = ledger.db.connection().execute(
        "SELECT o.remote_id FROM ledger_intent i JOIN ledger_outcome o ON o.intent_id = i.id "
        f"WHERE i.endpoint = ? AND o.status = 'done' AND i.operation IN ({marks}) "
        "AND i.archived_at IS NULL AND o.remote_id IS NOT NULL ORDER BY i.id",
        (ledger.endpoint, *_CREATES),
    )
    return list(dict.fromkeys(str(remote) for (remote,) in rows))


def _account_hits(client: Any) -> list[str]:
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
    from mturkmake.mturk.hit_cleanup import delete_hits, report
    from mturkmake.mturk.hit_commands import open_command_session

    with open_command_session(ctx) as run:
        hits = _account_hits(run.client) if args.get("all-account") else project_hits(run.ledger)
        say(ctx, "--- Starting to delete HITs ---")
        confirm(ctx, args, f"You are about to delete {len(hits)} HITs.")
        done = delete_hits(ctx, run, hits, approve=True, expire=True, evaluator="resetAccount")
    return report(ctx, done)


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
