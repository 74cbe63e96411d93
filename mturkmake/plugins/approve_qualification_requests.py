"""approveQualificationRequests: grant workers' qualification requests, each once (seed 003).

``(-approvefile F | -qualRequest IDS) [-score N] [-force]``. The approve file has
``qualificationRequestToApprove`` and an optional ``qualificationRequestToApproveValue``
(the score; ``-score`` for rows without one; MTurk's default 1 without either). Confirms
first (``-force`` skips; without a terminal it refuses). Output as seed 003::

    You are about to grant 10 qual request(s).
    To confirm this operation, please press ENTER (or press Ctrl+C to abort):
    [TA3ZJBYP2Y7ZJSX2BBN0TZ8ZTM4F6H4ZVQ4DE8FZ] QualRequest successfully approved with value (100)

A request the ledger already decided is reported and not sent again; one MTurk refuses (no
longer pending) is an error line and the exit code is 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.errors import ServiceError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import confirm, error, say

__all__ = ["handle_approve_qualification_requests", "request_ids"]


def request_ids(text: str) -> list[str]:
    """``-qualRequest a,b`` → checked ids."""
    from mturkmake.mturk.qualifications import ENTITY_ID

    ids = [part.strip() for part in text.split(",") if part.strip()]
    for item in ids:
        if not ENTITY_ID.fullmatch(item):
            raise UsageError(
                f"-qualRequest '{item}' is not a qualification request id",
                hint="take the ids from getQualificationRequests' output file",
            )
    return ids


def _from_file(path: str, default: int | None) -> list[tuple[str, int | None]]:
    from mturkmake.formats.workfiles import QUALIFICATION_APPROVE, read_work_items

    source = Path(path)
    if not source.is_file():
        raise UsageError(f"-approvefile {path}: no such file")
    with source.open("rb") as stream:
        items = list(read_work_items(stream, path, QUALIFICATION_APPROVE))
    return [(item.id, default if item.score is None else item.score) for item in items]


def handle_approve_qualification_requests(args: Mapping[str, Any], ctx: Context) -> int:
    """Confirm, then accept each request once."""
    from mturkmake.mturk.endpoint import open_session
    from mturkmake.mturk.qualifications import check_score, decide_request
    from mturkmake.plugins import clt_catalog

    clt_catalog.check_one_of("approveQualificationRequests", args)
    default = None if args.get("score") in (None, "") else check_score(args["score"])
    if args.get("approvefile"):
        work = _from_file(str(args["approvefile"]), default)
    else:
        work = [(i, default) for i in request_ids(str(args["qualRequest"]))]
    confirm(ctx, args, f"You are about to grant {len(work)} qual request(s).")
    failed = 0
    with open_session(ctx) as session:
        for request_id, value in work:
            try:
                sent = decide_request(session, request_id, approve=True, value=value)
            except ServiceError as exc:
                failed += 1
                error(ctx, f"Error approving qualification request {request_id}: {exc.message}")
                continue
            if not sent:
                say(ctx, f"[{request_id}] QualRequest was already decided; not sent again")
                continue
            shown = 1 if value is None else value
            say(ctx, f"[{request_id}] QualRequest successfully approved with value ({shown})")
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``approveQualificationRequests`` (and its snake_case alias)."""
    from mturkmake.plugins import clt_catalog

    return (
        clt_catalog.command("approveQualificationRequests").spec(
            handle_approve_qualification_requests
        ),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """A pending decision is resolved by the request no longer being pending (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for("AcceptQualificationRequest")]
