"""assignQualification: grant a qualification to workers without their request (seed 003).

``(-qualtypeid ID | -input FILE) (-workerid W | -scorefile FILE) [-score N] [-donotnotify]``.
The score file has a ``workerid`` column and an optional ``score`` column; a row without a
score gets ``-score`` (default 1). Everything is checked before the first call — the type
exists, every worker id is well formed, every score is a whole number — so a bad file
changes nothing. Output as seed 003::

    Assigned qualification RWFZTKZ55ZPZXN1C8TDZ to A3C4G8DMXFG5PQ with value 100
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.errors import ServiceError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import error, say

__all__ = ["handle_assign_qualification"]


def _score_rows(path: str, default: int) -> list[tuple[str, int]]:
    from mturkmake.formats.workfiles import read_score_file
    from mturkmake.mturk.qualifications import check_worker_id

    source = Path(path)
    if not source.is_file():
        raise UsageError(f"-scorefile {path}: no such file")
    with source.open("rb") as stream:
        rows = list(read_score_file(stream, path))
    return [
        (
            check_worker_id(row.worker_id, file=path, line=row.line),
            default if row.score is None else row.score,
        )
        for row in rows
    ]


def handle_assign_qualification(args: Mapping[str, Any], ctx: Context) -> int:
    """Assign the qualification to one worker or to every worker of a score file."""
    from mturkmake.mturk.endpoint import open_session
    from mturkmake.mturk.qualifications import (
        check_score,
        check_worker_id,
        grant,
        invocation,
        require_type,
        type_id_of,
    )
    from mturkmake.plugins import clt_catalog

    clt_catalog.check_one_of("assignQualification", args)
    type_id, source = type_id_of(args)
    default = 1 if args.get("score") in (None, "") else check_score(args["score"])
    if args.get("scorefile"):
        work = _score_rows(str(args["scorefile"]), default)
    else:
        work = [(check_worker_id(str(args["workerid"])), default)]
    failed = 0
    run = invocation()
    with open_session(ctx) as session:
        require_type(session.client, type_id, source=source)
        for worker, value in work:
            try:
                grant(
                    session,
                    type_id,
                    worker,
                    value,
                    notify=not args.get("donotnotify"),
                    run=run,
                )
            except ServiceError as exc:
                failed += 1
                error(ctx, f"Error assigning qualification {type_id} to {worker}: {exc.message}")
                continue
            say(ctx, f"Assigned qualification {type_id} to {worker} with value {value}")
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``assignQualification`` (and ``assign_qualification``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("assignQualification").spec(handle_assign_qualification),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """A pending grant is resolved by GetQualificationScore (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for("AssociateQualificationWithWorker")]
