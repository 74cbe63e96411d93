"""``mturkmake marketplace serve``: the local marketplace over HTTP, for the AWS CLI, boto3
scripts and other tools (DESIGN §7).

A :class:`~http.server.ThreadingHTTPServer` answers ``POST /`` in the AWS JSON 1.1 format
(:mod:`mturkmake.marketplace.wire`). It listens on loopback unless told otherwise explicitly:
the marketplace checks no signature, so anyone who can reach it can use it. ``realtime`` ties the
virtual clock to wall time (a background thread advances it every ``tick`` seconds).

``python -m mturkmake.marketplace.server --db PATH`` runs it without the CLI (tests start it in
another process this way); it prints one line ``listening on http://HOST:PORT`` once ready.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mturkmake.errors import EndpointError
from mturkmake.marketplace.clock import parse_duration
from mturkmake.marketplace.faults import FaultInjector, FaultSettings, parse_latency
from mturkmake.marketplace.wire import MarketplaceLike, handle

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
# Bodies above this are refused before reading: the largest valid request (a 64 KB question
# plus the rest) is far below it, and an unbounded read would let a client exhaust memory.
MAX_BODY = 4 * 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Tests and the concurrency benchmark open many short connections at once.
    request_queue_size = 64


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
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise EndpointError(
                f"refusing to serve the local marketplace on {host}: it checks no credentials",
                hint="use 127.0.0.1, or --allow-remote if every host that can reach it is trusted",
            )
        self.marketplace = marketplace
        injector = FaultInjector(faults) if faults is not None and faults.active else None
        server_class = _Server6 if ":" in host else _Server
        self.httpd = server_class((host, port), _handler_class(marketplace, injector))
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
        thread = threading.Thread(target=self.httpd.serve_forever, name="marketplace-http")
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


def _handler_class(
    marketplace: MarketplaceLike, faults: FaultInjector | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: botocore pools its connections
        server_version = "mturkmake-marketplace"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413, "Request body too large")
                return
            body = self.rfile.read(length) if length else b""
            answer = handle(marketplace, dict(self.headers.items()), body, faults=faults)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)

        def do_GET(self) -> None:
            body = b"mturkmake local MTurk marketplace: POST AWS JSON 1.1 requests to /\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # One line per request would drown the terminal; errors still reach stderr
            # through log_error.
            return

    return Handler


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
        marketplace, options.host, options.port, faults=faults, realtime=options.realtime
    )
    print(f"listening on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess
    sys.exit(main())
