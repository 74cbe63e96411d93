"""``mturkmake marketplace serve``: the local marketplace over HTTP, for the AWS CLI, boto3
scripts and other tools (DESIGN §7).

A :class:`~http.server.ThreadingHTTPServer` answers ``POST /`` in the AWS JSON 1.1 format
(:mod:`mturkmake.marketplace.wire`). It listens on loopback unless told otherwise explicitly:
the marketplace checks no signature, so anyone who can reach it can use it. ``realtime`` ties the
virtual clock to wall time (a background thread advances it every ``tick`` seconds).

Hardening, all within the standard library's server: a body's Content-Length is checked
(present, one, a number, at most :data:`MAX_BODY`) before a byte of it is read; the wire refuses
JSON nested deeper than :data:`~mturkmake.marketplace.wire.MAX_JSON_DEPTH`; every refusal, the
base handler's own included (over-long request line or headers, unknown method), is MTurk's
JSON error, never an HTML page; a socket timeout closes idle and half-sent connections; at most
``max_connections`` are served at once. Each answer leaves in one write on a ``TCP_NODELAY``
socket, so no delayed ACK holds it back.

``python -m mturkmake.marketplace.server --db PATH`` runs it without the CLI (tests start it in
another process this way); it prints one line ``listening on http://HOST:PORT`` once ready.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mturkmake.errors import EndpointError
from mturkmake.marketplace.clock import parse_duration
from mturkmake.marketplace.errors import MarketplaceError, RequestError, ServiceFault
from mturkmake.marketplace.faults import FaultInjector, FaultSettings, parse_latency
from mturkmake.marketplace.wire import (
    MarketplaceLike,
    WireResponse,
    epoch_ms,
    error_response,
    handle,
)
from mturkmake.marketplace.worker_site import WebResponse, is_worker_path, respond

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SERVER_NAME = "mturkmake-marketplace"
# Bodies above this are refused before reading: the largest valid request (a 64 KB question
# plus the rest) is far below it, and an unbounded read would let a client exhaust memory.
MAX_BODY = 4 * 1024 * 1024
# Seconds a connection may wait for the next request, or for the rest of one, before the
# server closes it: idle keep-alive connections and half-sent requests must not hold a thread
# for ever. botocore reopens a pooled connection the server has closed.
DEFAULT_TIMEOUT = 30.0
# Connections served at once (a thread each); more are answered 503 at once. botocore pools
# 10 connections per client, so this leaves room for several clients and the AWS CLI.
DEFAULT_MAX_CONNECTIONS = 64
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²" and "٣"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once: one more is answered
    503 ``ServiceFault`` (which botocore retries) and closed at once, instead of queueing
    without bound behind connections that may sit idle until their timeout."""

    daemon_threads = True
    # Tests and the concurrency benchmark open many short connections at once.
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int,
        refusal: Callable[[], bytes],
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self._refusal = refusal
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(self._refusal())
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # the thread did not start: its slot is free again
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-answer is routine; anything else is a bug: traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class MarketplaceServer:
    """The HTTP front of one marketplace.

    :param marketplace: the engine (``Marketplace``).
    :param host: the address to listen on; loopback unless ``allow_remote``.
    :param port: the port; 0 picks a free one (see :attr:`url`).
    :param faults: latency, throttling and faults to inject.
    :param realtime: advance the virtual clock with wall time.
    :param allow_remote: permit a non-loopback ``host``.
    :param tick: seconds between realtime advances.
    :param timeout: seconds a connection may stay silent (idle, or mid-request) before it is
        closed.
    :param max_connections: connections served at once; one more is answered 503.
    :raises EndpointError: for a non-loopback host without ``allow_remote``.
    """

    def __init__(
        self,
        marketplace: MarketplaceLike,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        faults: FaultSettings | None = None,
        realtime: bool = False,
        allow_remote: bool = False,
        tick: float = 1.0,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        if timeout <= 0 or max_connections < 1:
            raise ValueError("timeout and max_connections must be positive")
        if not allow_remote and not is_loopback(host):
            raise EndpointError(
                f"refusing to serve the local marketplace on {host}: it checks no credentials",
                hint="use 127.0.0.1, or --allow-remote if every host that can reach it is trusted",
            )
        self.marketplace = marketplace
        injector = FaultInjector(faults) if faults is not None and faults.active else None
        server_class = _Server6 if ":" in host else _Server
        self.httpd = server_class(
            (host, port),
            _handler_class(marketplace, injector, timeout),
            max_connections,
            lambda: _refusal(marketplace),
        )
        self.realtime = realtime
        self.tick = tick
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the listening socket (the real port when 0 was asked)."""
        host, port = self.httpd.server_address[:2]
        if isinstance(host, bytes):  # pragma: no cover - AF_UNIX only
            host = host.decode()
        shown = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}"

    def start(self) -> None:
        """Serve in background threads (returns at once); :meth:`close` stops."""
        # Polling for shutdown every 0.1 s (not 0.5) makes close() quick: tests start many.
        thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="marketplace-http"
        )
        thread.daemon = True
        thread.start()
        self._threads.append(thread)
        if self.realtime:
            clock = threading.Thread(target=self._run_clock, name="marketplace-clock")
            clock.daemon = True
            clock.start()
            self._threads.append(clock)

    def serve_forever(self) -> None:
        """Serve until interrupted (Ctrl-C) or :meth:`close` is called from another thread."""
        self.start()
        try:
            while not self._stop.wait(0.5):
                pass
        finally:
            self.close()

    def close(self) -> None:
        """Stop serving and release the socket."""
        self._stop.set()
        if self._threads:  # shutdown() waits for serve_forever, so only when it was started
            self.httpd.shutdown()
        self.httpd.server_close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> MarketplaceServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run_clock(self) -> None:
        advance = getattr(self.marketplace, "advance")  # noqa: B009 - MarketplaceLike lacks it
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            advance(now - last)
            last = now


def http_error(marketplace: MarketplaceLike, status: int, message: str) -> WireResponse:
    """The answer to a request refused before it reaches the marketplace, in MTurk's error shape.

    ``__type`` is ``RequestError`` (``ServiceFault`` for 500 and 503, which botocore retries)
    and ``TurkErrorCode`` is ``AWS.MechanicalTurk.`` plus the status's name (``LengthRequired``,
    ``RequestEntityTooLarge``…): MTurk's own front end does not publish what it answers here,
    and this way every answer, whoever refuses, parses as one of MTurk's two modeled errors.
    """
    words = re.split(r"[\s-]+", _phrase(status))
    code = "AWS.MechanicalTurk." + "".join(word[:1].upper() + word[1:] for word in words)
    fault = status in (500, 503)
    error: MarketplaceError = ServiceFault(message, code) if fault else RequestError(message, code)
    error.status = status
    return error_response(error, str(uuid.uuid4()), epoch_ms(marketplace))


def encode_response(
    status: int, headers: Mapping[str, str], body: bytes, *, close: bool = False
) -> bytes:
    """Status line, headers and body as one byte string, so that the answer leaves in one write.

    Two writes (headers, then body) on a socket with Nagle's algorithm hold the body back until
    the client ACKs the headers, which a client delaying its ACKs does only ~40 ms later.
    """
    lines = [
        f"HTTP/1.1 {status} {_phrase(status)}",
        f"Server: {SERVER_NAME}",
        f"Date: {formatdate(usegmt=True)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    if not any(name.lower() == "content-length" for name in headers):
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Handler(BaseHTTPRequestHandler):
    """One connection: AWS JSON 1.1 requests on ``POST``, a one-line page on ``GET``, and every
    refusal (bad framing, over-long lines, unknown methods, timeouts) in MTurk's JSON error
    shape instead of :class:`BaseHTTPRequestHandler`'s HTML pages."""

    protocol_version = "HTTP/1.1"  # keep-alive: botocore pools its connections
    server_version = SERVER_NAME
    disable_nagle_algorithm = True  # TCP_NODELAY on the accepted socket (belt and braces)
    marketplace: MarketplaceLike
    faults: FaultInjector | None = None

    def do_POST(self) -> None:
        length = self._body_length()
        if length is None:
            return
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.send_error(408, f"The body ({length} bytes announced) did not arrive in time")
            return
        if len(body) < length:  # the client closed before sending it all: nobody to answer
            self.close_connection = True
            return
        if is_worker_path(self.path):  # the worker site: marketplace/worker_site.py
            page = respond(self.marketplace, "POST", self.path, dict(self.headers.items()), body)
            self._send_page(page)
            return
        answer = handle(self.marketplace, dict(self.headers.items()), body, faults=self.faults)
        self._send(answer.status, answer.headers, answer.body)

    def do_GET(self) -> None:
        if self.headers.get("Content-Length", "0").strip() != "0" or "Transfer-Encoding" in (
            self.headers
        ):
            self.close_connection = True  # a body we do not read must not pass for a request
        if is_worker_path(self.path):  # the worker site: marketplace/worker_site.py
            page = respond(self.marketplace, "GET", self.path, dict(self.headers.items()), b"")
            self._send_page(page)
            return
        body = b"mturkmake local MTurk marketplace: POST AWS JSON 1.1 requests to /\n"
        self._send(200, {"Content-Type": "text/plain; charset=utf-8"}, body)

    def _not_allowed(self) -> None:
        self.send_error(405, f"Method {self.command} is not allowed; use POST")

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _body_length(self) -> int | None:
        """The announced body length, or None after refusing the request (nothing is read)."""
        if "Transfer-Encoding" in self.headers:
            self.send_error(411, "Send the body with a Content-Length, not a Transfer-Encoding")
            return None
        values = self.headers.get_all("Content-Length") or []
        if not values:
            self.send_error(411, "A POST needs a Content-Length header")
            return None
        if len(values) > 1:
            self.send_error(400, f"{len(values)} Content-Length headers; send one")
            return None
        text = values[0].strip()
        if not _DIGITS.fullmatch(text):
            self.send_error(400, f"Content-Length {text[:40]!r} is not a number of bytes")
            return None
        if len(text) > len(str(MAX_BODY)) or int(text) > MAX_BODY:
            self.send_error(413, f"The body may hold at most {MAX_BODY} bytes, not {text[:40]}")
            return None
        return int(text)

    def handle_expect_100(self) -> bool:
        # Refuse a bad length before inviting the body ("100 Continue"), not after.
        if self.command != "POST":
            return True
        return self._body_length() is not None and super().handle_expect_100()

    def parse_request(self) -> bool:
        try:
            return super().parse_request()
        except TimeoutError:  # the request line came, its headers did not
            self.send_error(408, "The request's headers did not arrive in time")
            return False

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Every refusal, :class:`BaseHTTPRequestHandler`'s own included (400 bad request line,
        414 over-long request line, 431 over-long or too many headers, 501 unknown method,
        505), in MTurk's JSON error shape; the connection closes after it."""
        text = message or _phrase(code)
        if explain:
            text = f"{text}: {explain}"
        if len(text) > 300:  # a request line or header quoted back can be 64 KB
            text = text[:300] + "…"
        self.log_error("code %d, message %s", code, text)
        answer = http_error(self.marketplace, code, text)
        headers = dict(answer.headers)
        if code == 405:
            headers["Allow"] = "GET, POST"
        self.close_connection = True
        self._send(code, headers, answer.body)

    def log_error(self, format: str, *args: Any) -> None:
        # An idle keep-alive connection reaching its timeout is routine, not an error.
        if format.startswith("Request timed out"):
            return
        super().log_error(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One line per request would drown the terminal; errors still reach stderr
        # through log_error.
        return

    def _send_page(self, page: WebResponse) -> None:
        headers = {**page.headers, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        self._send(page.status, headers, page.body)

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        if self.command == "HEAD":
            body = b""
        self.wfile.write(encode_response(status, headers, body, close=self.close_connection))


def _refusal(marketplace: MarketplaceLike) -> bytes:
    """The whole answer to a connection over the limit (503, closing)."""
    answer = http_error(marketplace, 503, "Too many connections at once; try again shortly")
    return encode_response(answer.status, answer.headers, answer.body, close=True)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _handler_class(
    marketplace: MarketplaceLike, faults: FaultInjector | None, timeout: float
) -> type[_Handler]:
    """A handler class bound to one server's marketplace, faults and socket timeout."""
    return type(
        "Handler", (_Handler,), {"marketplace": marketplace, "faults": faults, "timeout": timeout}
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a server on a marketplace file; for tests and scripts without the CLI."""
    # Imported here: the engine is only needed when this module runs as a program.
    from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

    parser = argparse.ArgumentParser(prog="python -m mturkmake.marketplace.server")
    parser.add_argument("--db", required=True, help="the marketplace's SQLite file")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--realtime", action="store_true")
    parser.add_argument("--latency", default="0")
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--rps", type=float, default=None)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS)
    parser.add_argument("--allow-http-external", action="store_true")
    options = parser.parse_args(argv)
    faults = FaultSettings(
        latency=parse_latency(options.latency, parse_duration),
        throttle_rate=options.throttle_rate,
        fault_rate=options.fault_rate,
        rps=options.rps,
        seed=options.seed,
    )
    settings = MarketplaceSettings(
        seed=options.seed, allow_http_external=options.allow_http_external
    )
    marketplace = Marketplace(options.db, settings)
    server = MarketplaceServer(
        marketplace,
        options.host,
        options.port,
        faults=faults,
        realtime=options.realtime,
        timeout=options.timeout,
        max_connections=options.max_connections,
    )
    print(f"listening on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess
    sys.exit(main())
