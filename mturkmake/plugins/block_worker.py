"""blockWorker and unblockWorker (seed 003; CLT 1.3.1 ``BlockWorker``/``UnblockWorker``).

``blockWorker -workerid W -reason "…"``: one worker, several (``-workerid A,B``), or a file of
them (``-workerid workers.txt``: a tab file with a ``workerid`` column, and optionally a
``reason`` column that wins over ``-reason``). Output as seed 003::

    Blocked A3C4G8DMXFG5PQ with reason: After several warnings, …

``unblockWorker`` prints ``Unblocked W with reason: …``. Every block and unblock is a ledger
intent (``CreateWorkerBlock``/``DeleteWorkerBlock``, resolved after a crash by
ListWorkerBlocks). Bad input — an empty reason, a malformed worker id, a missing file —
exits 2 before any call; a failed worker does not stop the others, and exits 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.errors import FormatError, MturkmakeError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Recovery, hookimpl
from mturkmake.mturk.prompts import error, say

__all__ = ["handle_block_worker", "handle_unblock_worker", "workers_of"]

BLOCK = "CreateWorkerBlock"
UNBLOCK = "DeleteWorkerBlock"
_WORKER = re.compile(r"^A[A-Z0-9]{5,63}$")


def _check_worker(worker: str, *, file: str | None = None, line: int | None = None) -> str:
    if not _WORKER.match(worker):
        raise FormatError(
            f"{worker!r} is not a worker id",
            file=file,
            line=line,
            hint="worker ids are an A followed by capital letters and digits, e.g. A3C4G8DMXFG5PQ",
        )
    return worker


def workers_of(value: str, reason: str) -> list[tuple[str, str]]:
    """(worker, reason) for ``-workerid``: ids separated by commas, or a file of them.

    :raises FormatError: a malformed id or reason, naming the file and line.
    """
    path = Path(value)
    if not path.is_file():
        if any(sep in value for sep in ("/", "\\")) or value.endswith((".txt", ".tab", ".tsv")):
            raise FormatError("no such file (given as -workerid)", file=value)
        if not reason.strip():
            raise UsageError("-reason is empty; MTurk keeps the reason", hint="give one in quotes")
        return [(_check_worker(w.strip()), reason.strip()) for w in value.split(",") if w.strip()]
    from mturkmake.formats.inputfile import open_input

    table = open_input(path)
    table.require(("workerid",), what="a worker file")
    found = []
    for row in table.rows():
        text = (row.values.get("reason") or reason).strip()
        if not text:
            raise FormatError(
                "no reason for this worker",
                file=value,
                line=row.line,
                hint="fill the reason column or give -reason",
            )
        found.append(
            (_check_worker(row.values["workerid"].strip(), file=value, line=row.line), text)
        )
    return found


def _run(args: Mapping[str, Any], ctx: Context, operation: str, verb: str) -> int:
    from mturkmake.mturk.endpoint import ledger_call
    from mturkmake.mturk.hit_commands import open_command_session

    work = workers_of(str(args["workerid"]), str(args.get("reason") or ""))
    failed = 0
    with open_command_session(ctx) as run:
        ledger, client = run.ledger, run.client
        batch = f"(workers)@{ledger.endpoint}"
        for worker, reason in work:
            n = 1
            while ledger.outcome(operation, batch, f"{worker}#{n}") is not None:
                n += 1
            try:
                params = {"WorkerId": worker, "Reason": reason}
                with ledger.intent(operation, batch, f"{worker}#{n}", params) as intent:
                    ledger_call(intent, client)
                    intent.done(worker)
            except MturkmakeError as exc:
                failed += 1
                error(ctx, f"Error: could not {verb.lower()[:-2]} {worker}: {exc.one_line()}")
                continue
            say(ctx, f"{verb} {worker} with reason: {reason}")
    return 2 if failed else 0


def handle_block_worker(args: Mapping[str, Any], ctx: Context) -> int:
    """``blockWorker -workerid W|FILE -reason TEXT``."""
    return _run(args, ctx, BLOCK, "Blocked")


def handle_unblock_worker(args: Mapping[str, Any], ctx: Context) -> int:
    """``unblockWorker -workerid W|FILE -reason TEXT``."""
    return _run(args, ctx, UNBLOCK, "Unblocked")


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``blockWorker`` and ``unblockWorker``."""
    from mturkmake.plugins import clt_catalog

    return (
        clt_catalog.command("blockWorker").spec(handle_block_worker),
        clt_catalog.command("unblockWorker").spec(handle_unblock_worker),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(operation) for operation in (BLOCK, UNBLOCK)]
