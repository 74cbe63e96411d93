"""updateQualificationScore: change workers' scores on a qualification (seed 003).

``-qualtypeid ID (-workerid W | -input FILE) [-score N]``: the worker file has ``workerid``
and an optional ``score`` column; ``-score`` gives the score of rows without one (and is
required when some row has none). MTurk sets a score with AssociateQualificationWithWorker
(without a notification), so a worker who does not hold the qualification is refused here
before any call instead of silently gaining it. Output as seed 003::

    Successfully updated A3C4G8DMXFG5 score to 50
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.errors import FormatError, ServiceError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import error, say

__all__ = ["handle_update_qualification_score"]


def _work(args: Mapping[str, Any]) -> list[tuple[str, int]]:
    from mturkmake.formats.workfiles import read_score_file
    from mturkmake.mturk.qualifications import check_score, check_worker_id

    default = None if args.get("score") in (None, "") else check_score(args["score"])
    if not args.get("input"):
        if default is None:
            raise UsageError("updateQualificationScore: give -score", hint="e.g. -score 50")
        return [(check_worker_id(str(args["workerid"])), default)]
    path = str(args["input"])
    if not Path(path).is_file():
        raise UsageError(f"-input {path}: no such file")
    with Path(path).open("rb") as stream:
        rows = list(read_score_file(stream, path))
    work: list[tuple[str, int]] = []
    for row in rows:
        worker = check_worker_id(row.worker_id, file=path, line=row.line)
        score = row.score if row.score is not None else default
        if score is None:
            raise FormatError(
                "the row has no score and no -score was given",
                file=path,
                line=row.line,
                column="score",
                hint="give the row a score, or run with -score N",
            )
        work.append((worker, score))
    return work


def handle_update_qualification_score(args: Mapping[str, Any], ctx: Context) -> int:
    """Set each worker's score."""
    from mturkmake.mturk.endpoint import open_session
    from mturkmake.mturk.qualifications import (
        check_type_id,
        current_score,
        grant,
        invocation,
        require_type,
    )
    from mturkmake.plugins import clt_catalog

    clt_catalog.check_one_of("updateQualificationScore", args)
    type_id = check_type_id(str(args["qualtypeid"]))
    work = _work(args)
    run = invocation()
    failed = 0
    with open_session(ctx) as session:
        require_type(session.client, type_id)
        strangers = [w for w, _ in work if current_score(session.client, type_id, w) is None]
        if strangers:
            raise UsageError(
                f"{', '.join(strangers[:5])} do(es) not hold qualification {type_id}; "
                "nothing was changed",
                hint="grant it first with assignQualification",
            )
        for worker, score in work:
            try:
                grant(session, type_id, worker, score, notify=False, run=run)
            except ServiceError as exc:
                failed += 1
                error(ctx, f"Error updating {worker} score to {score}: {exc.message}")
                continue
            say(ctx, f"Successfully updated {worker} score to {score}")
    return 2 if failed else 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``updateQualificationScore`` (and ``update_qualification_score``)."""
    from mturkmake.plugins import clt_catalog

    return (
        clt_catalog.command("updateQualificationScore").spec(handle_update_qualification_score),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """A pending score update is resolved by GetQualificationScore (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for("AssociateQualificationWithWorker")]
