"""rejectQualificationRequests: reject workers' qualification requests, each once (seed 003).

``(-rejectfile F | -qualRequest IDS) [-force]``. The reject file has
``qualificationRequestToReject`` and an optional ``qualificationRequestToRejectComment``;
without comments one is asked once (``-force`` skips both prompts; without a terminal the
command refuses). Output as seed 003::

    You are about to reject 1 qualification request(s). Are you sure?
    To confirm this operation, please press ENTER (or press Ctrl+C to abort):
    If you would like to supply a comment to the worker(s), please type it below then press ENTER.
    If not, just hit ENTER:
    [789RVWYBAZW00EXAMPLE951RVWYBAZW00EXAMPLE] Qualification request successfully rejected
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.errors import ServiceError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import ask_comment, confirm, error, say

__all__ = ["handle_reject_qualification_requests"]


def _from_file(path: str) -> list[tuple[str, str | None]]:
    from mturkmake.formats.workfiles import QUALIFICATION_REJECT, read_work_items

    source = Path(path)
    if not source.is_file():
        raise UsageError(f"-rejectfile {path}: no such file")
    with source.open("rb") as stream:
        return [(i.id, i.value) for i in read_work_items(stream, path, QUALIFICATION_REJECT)]


def handle_reject_qualification_requests(args: Mapping[str, Any], ctx: Context) -> int:
    """Confirm, ask a comment if the source has none, then reject each request once."""
    from mturkmake.mturk.endpoint import open_session
    from mturkmake.mturk.qualifications import decide_request
    from mturkmake.plugins import clt_catalog
    from mturkmake.plugins.approve_qualification_requests import request_ids

    clt_catalog.check_one_of("rejectQualificationRequests", args)
    work: list[tuple[str, str | None]]
    if args.get("rejectfile"):
        work = _from_file(str(args["rejectfile"]))
    else:
        work = [(i, None) for i in request_ids(str(args["qualRequest"]))]
    confirm(
        ctx, args, f"You are about to reject {len(work)} qualification request(s). Are you sure?"
    )
    if any(comment is None for _, comment in work):
        typed = ask_comment(ctx, args)
        work = [(i, c if c is not None else typed) for i, c in work]
    failed = 0
    with open_session(ctx) as session:
        for request_id, comment in work:
            reason = (comment or "").strip() or None
            try:
                sent = decide_request(session, request_id, approve=False, reason=reason)
            except ServiceError as exc:
                failed += 1
                error(ctx, f"Error rejecting qualification request {request_id}: {exc.message}")
                continue
            if not sent:
                say(
                    ctx, f"[{request_id}] Qualification request was already decided; not sent again"
                )
                continue
            say(ctx, f"[{request_id}] Qualification request successfully rejected")
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``rejectQualificationRequests`` (and its snake_case alias)."""
    from mturkmake.plugins import clt_catalog

    return (
        clt_catalog.command("rejectQualificationRequests").spec(
            handle_reject_qualification_requests
        ),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """A pending decision is resolved by the request no longer being pending (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for("RejectQualificationRequest")]
