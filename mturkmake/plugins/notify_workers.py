"""notifyWorkers: e-mail workers who did work for you (mturkmake's command; not in the CLT).

``mturkmake notifyWorkers (-workerid ID | -workerfile FILE) -subject TEXT
(-message TEXT | -messagefile FILE)``. The worker file is a tab file with a ``workerid``
column (a score file or a ``.results`` file's worker list will do). MTurk's limits are
checked before any call: a subject of 1–200 characters, a message of 1–4,096, well-formed
worker ids. Workers are sent NotifyWorkers in chunks of 100 (the API's maximum), each chunk a
ledger intent whose subject is a digest of the message and the chunk's workers, so running
the same command again sends nothing twice (change the subject or message to send again).
MTurk's per-worker failures (e.g. a worker who never worked for you) are printed one per line,
and the command then exits 2.

A chunk whose call was interrupted cannot be looked up — MTurk keeps no list of messages — so
recovery records it as sent: a worker may miss a message, but never gets it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ServiceError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Flag, Recovery, hookimpl
from mturkmake.mturk.prompts import error, say

if TYPE_CHECKING:
    from mturkmake.mturk.client import Client
    from mturkmake.mturk.recovery import Resolution

__all__ = ["MAX_MESSAGE", "MAX_SUBJECT", "MAX_WORKERS", "handle_notify_workers"]

MAX_WORKERS = 100
MAX_SUBJECT = 200
MAX_MESSAGE = 4096
BATCH = "notifications"


def _workers(args: Mapping[str, Any]) -> list[str]:
    from mturkmake.formats.workfiles import read_score_file
    from mturkmake.mturk.qualifications import check_worker_id

    if args.get("workerid"):
        ids = [part for part in str(args["workerid"]).split(",") if part.strip()]
        workers = [check_worker_id(part) for part in ids]
    else:
        path = str(args["workerfile"])
        if not Path(path).is_file():
            raise UsageError(f"-workerfile {path}: no such file")
        with Path(path).open("rb") as stream:
            rows = list(read_score_file(stream, path))
        workers = [check_worker_id(r.worker_id, file=path, line=r.line) for r in rows]
    return list(dict.fromkeys(workers))  # each worker once, in the given order


def _message(args: Mapping[str, Any]) -> tuple[str, str]:
    subject = str(args.get("subject") or "")
    if args.get("messagefile"):
        path = Path(str(args["messagefile"]))
        if not path.is_file():
            raise UsageError(f"-messagefile {args['messagefile']}: no such file")
        message = path.read_text(encoding="utf-8")
    else:
        message = str(args.get("message") or "")
    if not subject.strip() or len(subject) > MAX_SUBJECT:
        raise UsageError(
            f"-subject must have 1 to {MAX_SUBJECT} characters, not {len(subject)}; "
            "nothing was sent",
            hint="shorten the subject",
        )
    if not message.strip() or len(message) > MAX_MESSAGE:
        raise UsageError(
            f"the message must have 1 to {MAX_MESSAGE} characters, not {len(message)}; "
            "nothing was sent",
            hint="shorten the message (MTurk's limit)",
        )
    return subject, message


def _digest(subject: str, message: str, workers: Sequence[str]) -> str:
    text = "\0".join([subject, message, *sorted(workers)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def handle_notify_workers(args: Mapping[str, Any], ctx: Context) -> int:
    """Send the message in chunks of 100, each chunk once."""
    from mturkmake.mturk.endpoint import ledger_call, open_session
    from mturkmake.mturk.qualifications import chunks

    if not args.get("workerid") and not args.get("workerfile"):
        raise UsageError("notifyWorkers: give -workerid or -workerfile")
    if not args.get("message") and not args.get("messagefile"):
        raise UsageError("notifyWorkers: give -message or -messagefile")
    workers = _workers(args)
    subject, message = _message(args)
    sent = skipped = 0
    failures: list[tuple[str, str]] = []
    with open_session(ctx) as session:
        for chunk in chunks(workers, MAX_WORKERS):
            key = _digest(subject, message, chunk)
            if session.ledger.is_done("NotifyWorkers", BATCH, key):
                skipped += len(chunk)
                continue
            params = {"Subject": subject, "MessageText": message, "WorkerIds": chunk}
            with session.ledger.intent("NotifyWorkers", BATCH, key, params) as intent:
                try:
                    reply = ledger_call(intent, session.client)
                except ServiceError as exc:
                    error(ctx, f"Error notifying {len(chunk)} workers: {exc.message}")
                    return 2
                statuses = reply.get("NotifyWorkersFailureStatuses", [])
                intent.done(None, {"failures": statuses})
            bad = {
                str(s["WorkerId"]): str(s.get("NotifyWorkersFailureMessage", "")) for s in statuses
            }
            failures += list(bad.items())
            sent += len(chunk) - len(bad)
    for worker, reason in failures:
        error(ctx, f"[{worker}] Could not notify the worker: {reason}")
    say(ctx, f"Notified {sent} workers.")
    if skipped:
        say(ctx, f"{skipped} workers already had this message; not sent again.")
    if failures:
        say(ctx, f"Failed to notify {len(failures)} workers.")
    return 2 if failures else 0


def _assume_sent(_client: Client, _intent: Any) -> Resolution:
    """NotifyWorkers: MTurk lists no messages, so an interrupted chunk counts as sent."""
    from mturkmake.mturk.recovery import Resolution

    return Resolution.found(None, {"assumed": "MTurk keeps no list of messages"})


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``notifyWorkers`` (and ``notify_workers``)."""
    return (
        CommandSpec(
            name="notifyWorkers",
            flags=(
                Flag("workerid", "IDS", "the worker(s) to write to, comma separated"),
                Flag("workerfile", "FILE", "a tab file with a workerid column"),
                Flag("subject", "TEXT", "the e-mail's subject (at most 200 characters)", True),
                Flag("message", "TEXT", "the message (at most 4,096 characters)"),
                Flag("messagefile", "FILE", "a UTF-8 file holding the message"),
                Flag("sandbox", None, "run against the MTurk sandbox"),
            ),
            handler=handle_notify_workers,
            help="e-mail workers who did work for you (each message once)",
            aliases=("notify_workers",),
        ),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """NotifyWorkers has no lookup: a pending chunk is recorded as sent (module doc)."""
    return [Recovery("NotifyWorkers", lookup=_assume_sent)]
