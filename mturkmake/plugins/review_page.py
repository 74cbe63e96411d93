"""``mturkmake review BATCH``: review a batch's open work in a browser, on loopback.

Lists every Submitted assignment nobody decided yet (:mod:`mturkmake.mturk.review_html`),
with the evaluators' proposals, and writes each click to ``BATCH.review``
(:mod:`mturkmake.mturk.review_session`) before answering it. Nothing goes to MTurk:
``mturkmake BATCH.approved`` sends the decisions afterwards, with its cost line and reject
share check as always.

The server (:mod:`mturkmake.mturk.review_server`) binds 127.0.0.1 only, on an ephemeral port
unless ``--port``, and refuses every request without the session's random token.

``--no-browser`` never opens a browser; otherwise :mod:`webbrowser` opens the URL where a
display exists (macOS, Windows, or ``DISPLAY``/``WAYLAND_DISPLAY`` set). Ctrl-C or the page's
"Stop the server" button ends the session; the command prints what the file holds.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ConfigError, UsageError
from mturkmake.hookspecs import CommandSpec, Event, Flag, hookimpl

if TYPE_CHECKING:
    from mturkmake.hookspecs import Context


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _stop_on_sigterm() -> Any:
    """Make SIGTERM end the session as Ctrl-C does (the summary is printed); returns the
    previous handler, or ``None`` outside the main thread (where none can be set)."""

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, stop)


def _port(value: Any) -> int:
    try:
        port = int(value if value is not None else 0)
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {value}: not a port number", hint="e.g. --port 8765, or 0")
    return port


def handle_review(args: Mapping[str, Any], ctx: Context) -> int:
    """``mturkmake review BATCH [--no-browser] [--port N]``."""
    from mturkmake.mturk.review_data import batch_stem, load_view
    from mturkmake.mturk.review_server import LOOPBACK, ReviewServer
    from mturkmake.mturk.review_session import ReviewFile

    stem = batch_stem(str(args["batch"]))
    port = _port(args.get("port"))
    # reviewer_marks=False: reject-column abstains, so each proposal is the other evaluators'
    view = load_view(ctx, stem, reviewer_marks=False)
    if "reject-column" not in view.evaluators:
        raise ConfigError(
            f"evaluators = {list(view.evaluators)} does not read {stem}.review, so the "
            "decisions made here would be ignored",
            file=ctx.config.sources.get("evaluators"),
            hint='add "reject-column" to evaluators',
        )
    # the proposed rejections first: they are what a reviewer must look at before any is sent
    open_ids = [
        i.assignment_id
        for i in sorted(
            view.open_items, key=lambda i: i.combined is None or i.combined.decision != "reject"
        )
    ]
    if not open_ids:
        ctx.report(
            Event("info", f"nothing to review: no submitted, undecided work in {stem}.results")
        )
        return 0
    review = ReviewFile(ctx.root / f"{stem}.results", ctx.root / f"{stem}.review", open_ids)
    review.write()
    try:
        import secrets  # not at import: a no-op run loads this module (#17)

        server = ReviewServer(port, view, review, secrets.token_urlsafe(24))
    except OSError as error:
        raise UsageError(
            f"cannot listen on {LOOPBACK}:{port}: {error.strerror}", hint="try another --port"
        ) from None
    counts = review.counts()
    ctx.report(
        Event(
            "info",
            f"Reviewing {len(open_ids)} assignments of {stem} ({counts['pending']} pending) "
            f"at {server.url}",
            data={"url": server.url},
        )
    )
    ctx.report(
        Event(
            "info",
            f"Each decision is saved to {stem}.review as you click; nothing is sent until "
            f"`mturkmake {stem}.approved` runs. Stop with Ctrl-C.",
        )
    )
    if not args.get("no-browser") and _has_display():
        import webbrowser

        webbrowser.open(server.url)
    previous = _stop_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    counts = review.counts()
    ctx.report(
        Event(
            "info",
            f"{stem}.review: {counts['approve']} approved, {counts['reject']} rejected, "
            f"{counts['pending']} pending (left undecided by {stem}.approved)",
        )
    )
    return 0


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``review BATCH``."""
    return (
        CommandSpec(
            name="review",
            flags=(
                Flag("no-browser", None, "print the URL only; never open a browser"),
                Flag("port", "PORT", "the loopback port (default: any free one)", default=0),
            ),
            handler=handle_review,
            help="review a batch's open work on a local page, writing BATCH.review",
            positionals=(
                Flag("batch", "BATCH", "the batch: survey or survey.results", required=True),
            ),
        ),
    )


__all__ = ["handle_review"]
