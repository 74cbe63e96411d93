"""The review session's HTTP server: loopback only, a per-run token on every request.

Standard library ``ThreadingHTTPServer`` bound to 127.0.0.1. A fresh random token is the
first path segment of every URL and is required on every request (403 without it, compared in
constant time); the ``Host`` header must name the loopback address (a page elsewhere cannot
reach the server through DNS rebinding: 421); posts must be JSON (a plain cross-site form
cannot send it: 415). The page's only script carries a per-response nonce, and its
Content-Security-Policy allows nothing else and nothing from elsewhere.

Routes under ``/TOKEN/``: ``GET /`` the page, ``POST decide`` one decision (written to
``%.review`` before the reply), ``POST finish`` stops the server.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mturkmake.errors import UsageError
from mturkmake.mturk.review_data import BatchView
from mturkmake.mturk.review_session import ReviewFile

__all__ = ["LOOPBACK", "MAX_BODY", "ReviewServer"]

#: The largest request body the server reads (a decision is a few hundred bytes).
MAX_BODY = 64 * 1024
LOOPBACK = "127.0.0.1"


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
        if not self.path.split("?", 1)[0].endswith("/"):
            # the page's requests are relative to it: /TOKEN must become /TOKEN/
            self._send(301, b"", "text/plain", {"Location": f"/{self.server.token}/"})
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
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
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
