"""getQualificationRequests: write the pending qualification requests to a tab file.

``-outputfile F [-qualtypeid ID]`` (seed 003; clt-formats.md §3): the header
``QualificationTypeId  QualificationRequestId  SubjectId  Answer``, then one row per request —
type, request, worker, then a question id and its answer (selections joined by ``|``) for
each answer. As the CLT, the file is *appended* to, header included, and nothing is written
when there are no requests; unlike the CLT, a cell holding a tab or a newline is quoted, so
the file reads back. Read only: no ledger. Output::

    Retrieved 4 Qualification Requests
    Answers successfully saved to file: qualrequests.txt
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.hookspecs import CommandSpec, Context, hookimpl
from mturkmake.mturk.prompts import say

__all__ = ["handle_get_qualification_requests"]


def handle_get_qualification_requests(args: Mapping[str, Any], ctx: Context) -> int:
    """List the pending requests and append them to ``-outputfile``."""
    from mturkmake.formats.workfiles import QualificationRequestRow, write_qualification_requests
    from mturkmake.mturk.endpoint import run_client
    from mturkmake.mturk.qualifications import check_type_id, list_requests, require_type

    type_id = check_type_id(str(args["qualtypeid"])) if args.get("qualtypeid") else None
    output = Path(str(args["outputfile"]))
    client = run_client(ctx)
    if type_id is not None:
        require_type(client, type_id)
    requests = list_requests(client, type_id)
    rows = [
        QualificationRequestRow(
            r.qualification_type_id, r.request_id, r.worker_id, tuple(r.answers.items())
        )
        for r in requests
    ]
    say(ctx, f"Retrieved {len(rows)} Qualification Requests")
    if rows:
        with output.open("a", encoding="utf-8", newline="") as stream:
            write_qualification_requests(stream, rows)
        say(ctx, f"Answers successfully saved to file: {args['outputfile']}")
    return 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``getQualificationRequests`` (and ``get_qualification_requests``)."""
    from mturkmake.plugins import clt_catalog

    return (
        clt_catalog.command("getQualificationRequests").spec(handle_get_qualification_requests),
    )
