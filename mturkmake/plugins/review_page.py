"""``mturkmake review BATCH``: review a batch's open work in a browser, on loopback.

Lists every Submitted assignment nobody decided yet (:mod:`mturkmake.mturk.review_html`),
with the evaluators' proposals, and writes each click to ``BATCH.review``
(:mod:`mturkmake.mturk.review_session`) before answering it. Nothing goes to MTurk:
``mturkmake BATCH.approved`` sends the decisions afterwards, with its cost line and reject
share check as always.

The server (standard library ``ThreadingHTTPServer``) binds 127.0.0.1 only, on an ephemeral
port unless ``--port``. A fresh random token is the first path segment of every URL and is
required on every request (403 without it); the ``Host`` header must name the loopback
address (a page elsewhere cannot reach the server through DNS rebinding); posts must be JSON
(a plain cross-site form cannot send it). The page's only script carries a per-response
nonce, and its Content-Security-Policy allows nothing else and nothing from elsewhere.

``--no-browser`` never opens a browser; otherwise :mod:`webbrowser` opens the URL where a
display exists (macOS, Windows, or ``DISPLAY``/``WAYLAND_DISPLAY`` set). Ctrl-C or the page's
"Stop the server" button ends the session; the command prints what the file holds.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ConfigError, UsageError
from mturkmake.hookspecs import CommandSpec, Event, Flag, hookimpl

if TYPE_CHECKING:
    from mturkmake.hookspecs import Context
    from mturkmake.mturk.review_data import BatchView
    from mturkmake.mturk.review_session import ReviewFile

#: The largest request body the server reads (a decision is a few hundred bytes).
MAX_BODY = 64 * 1024
LOOPBACK = "127.0.0.1"


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class ReviewServer(ThreadingHTTPServer):
    """The session's server: the view, the file and the token its handlers use."""

    daemon_threads = True

    def __init__(self, port: int, view: BatchView, review: ReviewFile, token: str) -> None:
        super().__init__((LOOPBACK, port), _Handler)
        self.view = view
        self.review = review
        self.token = token

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/{self.token}/"


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "mturkmake-review"

    def log_message(self, format: str, *args: Any) -> None:
        return  # the terminal shows the session's own lines, not one per request

    def _route(self) -> str | None:
        """The path after the token, or ``None`` (answered 403/421 already)."""
        host = self.headers.get("Host", "")
        if host not in (f"{LOOPBACK}:{self.server.port}", f"localhost:{self.server.port}"):
            self._send(421, b"wrong host\n", "text/plain; charset=utf-8")
            return None
        path = self.path.split("?", 1)[0]
        segment, _, rest = path.lstrip("/").partition("/")
        if not hmac.compare_digest(segment.encode(), self.server.token.encode()):
            self._send(403, b"this review needs the URL with its token\n", "text/plain")
            return None
        return rest

    def _send(self, status: int, body: bytes, kind: str, extra: Mapping[str, str] = {}) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Mapping[str, Any]) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def do_GET(self) -> None:
        from mturkmake.mturk.review_html import render_review_page

        route = self._route()
        if route is None:
            return
        if route != "":
            self._send(404, b"not found\n", "text/plain")
            return
        nonce = secrets.token_urlsafe(16)
        review = self.server.review
        text = render_review_page(self.server.view, review.marks, review.open_ids, nonce=nonce)
        policy = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; form-action 'none'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        self._send(
            200,
            text.encode("utf-8"),
            "text/html; charset=utf-8",
            {"Content-Security-Policy": policy},
        )

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        if route not in ("decide", "finish"):
            self._send(404, b"not found\n", "text/plain")
            return
        if self.headers.get_content_type() != "application/json":
            self._json(415, {"error": "send JSON"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._json(413, {"error": "request too large"})
            return
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": "not JSON"})
            return
        if route == "finish":
            self._json(200, {"stopped": True})
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        review = self.server.review
        try:
            mark = review.decide(
                str(data.get("assignment", "")),
                str(data.get("decision", "")),
                str(data.get("feedback", "")),
            )
        except UsageError as error:
            self._json(400, {"error": error.message})
            return
        self._json(
            200,
            {
                "decision": mark.decision,
                "feedback": mark.feedback,
                "counts": review.counts(),
                "file": review.path.name,
            },
        )


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
    if not args.get("no-browser") and not args.get("no_browser") and _has_display():
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


__all__ = ["ReviewServer", "handle_review"]
