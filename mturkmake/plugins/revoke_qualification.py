"""revokeQualification: take a qualification away from a worker (seed 003).

``-qualtypeid ID -workerid W [-reason TEXT]``; the type and the worker id are checked before
the call. Output as seed 003::

    Revoked qual RWFZTKZ55ZPZXN1C8TDZ from A3C4G8DMXFG5PQ with reason: <reason>
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import say

__all__ = ["handle_revoke_qualification"]


def handle_revoke_qualification(args: Mapping[str, Any], ctx: Context) -> int:
    """Revoke the qualification; MTurk's refusal (the worker does not hold it) exits 2."""
    from mturkmake.mturk.endpoint import open_session
    from mturkmake.mturk.qualifications import (
        check_type_id,
        check_worker_id,
        invocation,
        require_type,
        revoke,
    )

    type_id = check_type_id(str(args["qualtypeid"]))
    worker = check_worker_id(str(args["workerid"]))
    reason = str(args.get("reason") or "")
    with open_session(ctx) as session:
        require_type(session.client, type_id)
        revoke(session, type_id, worker, reason or None, run=invocation())
    say(ctx, f"Revoked qual {type_id} from {worker} with reason: {reason}")
    return 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``revokeQualification`` (and ``revoke_qualification``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("revokeQualification").spec(handle_revoke_qualification),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """A pending revoke is resolved by GetQualificationScore (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for("DisassociateQualificationFromWorker")]
