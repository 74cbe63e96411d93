"""``serve`` against hostile or broken clients, over raw sockets on 127.0.0.1: bad framing is
refused before the body is read, every refusal is MTurk's JSON error (never an HTML page), idle
and half-sent connections are closed after the timeout, connections beyond the bound are
refused at once, answers do not stall on delayed ACKs, and the banner's commands work on a
machine without AWS credentials."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mturkmake.marketplace.server import MAX_BODY, MarketplaceServer
from mturkmake.marketplace.wire import MAX_JSON_DEPTH

from .conftest import boto_client
from .test_awscli import mturkmake_cli

TARGET = "MTurkRequesterServiceV20170117.GetAccountBalance"
# An answer that waited for the server's timeout (or for a body never sent) would take this long.
QUICK = 2.0


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float  # from the last byte sent to the end of the answer
    closed: bool  # the server closed the connection after answering


def address(server: MarketplaceServer) -> tuple[str, int]:
    host, port = server.httpd.server_address[:2]
    return str(host), int(port)


def read_answer(sock: socket.socket, started: float) -> Answer:
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    seconds = time.monotonic() - started
    # A server closing after its answer sends the FIN right behind it.
    sock.settimeout(0.3)
    try:
        closed = sock.recv(1) == b""
    except TimeoutError:
        closed = False
    return Answer(response.status, response.headers, body, seconds, closed)


def exchange(server: MarketplaceServer, data: bytes, *, timeout: float = 5.0) -> Answer:
    """Send ``data`` on a fresh connection and read one answer."""
    with socket.create_connection(address(server), timeout=timeout) as sock:
        sock.sendall(data)
        return read_answer(sock, time.monotonic())


def post_head(*headers: str, target: str = TARGET) -> bytes:
    lines = ["POST / HTTP/1.1", "Host: 127.0.0.1", f"X-Amz-Target: {target}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def assert_mturk_error(
    answer: Answer, status: int, error_type: str = "RequestError"
) -> dict[str, Any]:
    """MTurk's JSON error: content type, x-amzn-ErrorType, __type, Message ending in the epoch
    milliseconds, TurkErrorCode; and the connection closed after it."""
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert answer.headers["x-amzn-ErrorType"] == error_type
    assert answer.headers["x-amzn-RequestId"]
    document: dict[str, Any] = json.loads(answer.body)
    assert document["__type"] == error_type
    assert re.search(r" \(\d{13}\)$", document["Message"]), document
    assert document["TurkErrorCode"].startswith("AWS.MechanicalTurk."), document
    assert answer.closed
    return document


def still_serves(server: MarketplaceServer) -> None:
    balance = boto_client(server.url).get_account_balance()
    assert balance["AvailableBalance"] == "10000.00"


@pytest.fixture
def served(marketplace: Any) -> Iterator[MarketplaceServer]:
    """The default timeout (30 s): an answer within QUICK cannot come from it."""
    with MarketplaceServer(marketplace, "127.0.0.1", 0) as server:
        yield server


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        (("Content-Length: -1",), 400, "BadRequest"),
        (("Content-Length: abc",), 400, "BadRequest"),
        (("Content-Length: 2²",), 400, "BadRequest"),
        (("Content-Length: 5, 5",), 400, "BadRequest"),
        (("Content-Length: 2", "Content-Length: 2"), 400, "BadRequest"),
        ((), 411, "LengthRequired"),
        (("Transfer-Encoding: chunked",), 411, "LengthRequired"),
        ((f"Content-Length: {MAX_BODY + 1}",), 413, "RequestEntityTooLarge"),
        (("Content-Length: " + "9" * 5000,), 413, "RequestEntityTooLarge"),
    ],
    ids=["-1", "abc", "superscript", "list", "twice", "none", "chunked", "over", "5000-digits"],
)
def test_bad_content_length_is_refused_before_the_body(
    served: MarketplaceServer, headers: tuple[str, ...], status: int, code: str
) -> None:
    # Only the head is sent: an answer that comes at once was given without waiting for (or
    # reading) a body.
    answer = exchange(served, post_head(*headers))
    document = assert_mturk_error(answer, status)
    assert document["TurkErrorCode"] == f"AWS.MechanicalTurk.{code}"
    assert answer.seconds < QUICK
    still_serves(served)


def test_oversized_body_is_refused_while_it_is_still_coming(served: MarketplaceServer) -> None:
    with socket.create_connection(address(served), timeout=5) as sock:
        sock.sendall(post_head(f"Content-Length: {64 * MAX_BODY}") + b"[" * 65536)
        answer = read_answer(sock, time.monotonic())
    assert_mturk_error(answer, 413)
    assert answer.seconds < QUICK
    still_serves(served)


def test_expect_continue_is_refused_before_the_body_is_invited(served: MarketplaceServer) -> None:
    with socket.create_connection(address(served), timeout=5) as sock:
        sock.sendall(post_head(f"Content-Length: {MAX_BODY + 1}", "Expect: 100-continue"))
        first = sock.recv(64)  # http.client would skip a "100 Continue": read the raw bytes
    assert first.startswith(b"HTTP/1.1 413 ")
    with socket.create_connection(address(served), timeout=5) as sock:
        sock.sendall(post_head("Content-Length: 2", "Expect: 100-continue"))
        assert sock.recv(64).startswith(b"HTTP/1.1 100 ")  # a sound request is invited
        sock.sendall(b"{}")
        answer = read_answer(sock, time.monotonic())
    assert answer.status == 200


def nested(levels: int) -> bytes:
    """An object whose one value nests ``levels`` lists: ``levels + 1`` levels in all."""
    return b'{"HITId":' + b"[" * levels + b"]" * levels + b"}"


def test_deeply_nested_json_is_a_serialization_error(served: MarketplaceServer) -> None:
    # Just over the limit, and far past the parser's recursion limit.
    for body in (nested(MAX_JSON_DEPTH), nested(100_000)):
        answer = exchange(served, post_head(f"Content-Length: {len(body)}") + body)
        assert answer.status == 400
        assert answer.headers["x-amzn-ErrorType"] == "SerializationException"
        document = json.loads(answer.body)
        assert document["__type"] == "SerializationException"
        assert f"more than {MAX_JSON_DEPTH} levels" in document["Message"]
        assert not answer.closed  # a well-framed request: the connection stays usable
    # At the limit, and with brackets inside strings (text, not nesting), the body reaches
    # validation, which names what is wrong.
    for body in (nested(MAX_JSON_DEPTH - 1), json.dumps({"Note": "[" * 1000}).encode()):
        answer = exchange(served, post_head(f"Content-Length: {len(body)}") + body)
        assert answer.status == 400
        assert json.loads(answer.body)["__type"] == "RequestError"
    still_serves(served)


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (post_head("X-Long: " + "a" * 70_000), 431, "RequestHeaderFieldsTooLarge"),
        (post_head(*(f"X-H{i}: {i}" for i in range(120))), 431, "RequestHeaderFieldsTooLarge"),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "RequestURITooLong"),
        (b"NONSENSE\r\n\r\n", 400, "BadRequest"),
        (b"GET / HTTP/2.0\r\n\r\n", 505, "HTTPVersionNotSupported"),
        (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "NotImplemented"),
        (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405, "MethodNotAllowed"),
    ],
    ids=["long-header", "120-headers", "long-line", "bad-line", "http2", "BREW", "DELETE"],
)
def test_the_base_handlers_refusals_are_json(
    served: MarketplaceServer, request_bytes: bytes, status: int, code: str
) -> None:
    answer = exchange(served, request_bytes)
    document = assert_mturk_error(answer, status)
    assert document["TurkErrorCode"] == f"AWS.MechanicalTurk.{code}"
    assert b"<html" not in answer.body.lower()
    if status == 405:
        assert answer.headers["Allow"] == "GET, POST"
    still_serves(served)


def test_boto3_sees_a_modeled_error_for_an_oversized_request(served: MarketplaceServer) -> None:
    client = boto_client(served.url)
    with pytest.raises(client.exceptions.RequestError) as caught:
        client.create_hit_type(
            Title="t" * (MAX_BODY + 10),
            Description="d",
            Reward="0.10",
            AssignmentDurationInSeconds=60,
        )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert caught.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.RequestEntityTooLarge"
    still_serves(served)


def test_idle_and_half_sent_connections_are_closed_after_the_timeout(marketplace: Any) -> None:
    timeout = 0.5
    with MarketplaceServer(marketplace, "127.0.0.1", 0, timeout=timeout) as server:
        idle = socket.create_connection(address(server), timeout=5)
        half_head = socket.create_connection(address(server), timeout=5)
        half_body = socket.create_connection(address(server), timeout=5)
        try:
            started = time.monotonic()
            half_head.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n")
            half_body.sendall(post_head("Content-Length: 100") + b'{"a":')
            still_serves(server)  # meanwhile, others are served
            assert idle.recv(1) == b""  # closed without a word: it asked nothing
            assert time.monotonic() - started < timeout + QUICK
            for sock in (half_head, half_body):
                answer = read_answer(sock, started)
                assert_mturk_error(answer, 408)
                assert timeout * 0.8 <= answer.seconds < timeout + QUICK
        finally:
            for sock in (idle, half_head, half_body):
                sock.close()
        still_serves(server)


def test_connections_beyond_the_bound_are_refused_at_once(marketplace: Any) -> None:
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with MarketplaceServer(marketplace, "127.0.0.1", 0, max_connections=2) as server:
        held = [socket.create_connection(address(server), timeout=5) for _ in range(2)]
        try:
            for sock in held:  # each answered and kept alive: two slots taken
                sock.sendall(get)
                response = http.client.HTTPResponse(sock)
                response.begin()
                assert response.status == 200
                response.read()
            refused = exchange(server, get)
            assert_mturk_error(refused, 503, "ServiceFault")
            assert refused.seconds < QUICK
            client = boto_client(server.url)
            with pytest.raises(client.exceptions.ServiceFault) as caught:  # botocore retries it
                client.get_account_balance()
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        finally:
            held.pop().close()
        deadline = time.monotonic() + QUICK  # the freed slot serves the next client
        while exchange(server, get).status != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        held.pop().close()


def test_answers_do_not_wait_for_delayed_acks(server: MarketplaceServer) -> None:
    # Headers and body written separately without TCP_NODELAY took ~44 ms a call here (the
    # client's delayed ACK held the body back); one write takes about 1 ms.
    client = boto_client(server.url)
    client.get_account_balance()
    times = []
    for _ in range(30):
        started = time.perf_counter()
        client.get_account_balance()
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.020


def _without_credentials(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURKMAKE_"))}
    # HOME holds no ~/.aws; the metadata service is off so nothing can leave the machine.
    env.update(HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="")
    return env


def _aws_executable() -> str | None:
    beside = Path(sys.executable).with_name("aws")
    return str(beside) if beside.exists() else shutil.which("aws")


def test_the_banner_commands_work_without_credentials(tmp_path: Path) -> None:
    aws = _aws_executable()
    if aws is None:
        pytest.skip("the AWS CLI (aws) is not installed")
    project = tmp_path / "project"
    project.mkdir()
    (project / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
    env = _without_credentials(tmp_path)
    process = subprocess.Popen(
        mturkmake_cli("marketplace", "serve", "--port", "0"),
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(3)]
        command = next(line.strip() for line in banner if line.strip().startswith("aws "))
        python = next(line.strip() for line in banner if line.strip().startswith("boto3.client("))
        words = shlex.split(command)
        printed = subprocess.run(
            [aws, *words[1:]], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert printed.returncode == 0, (command, printed.stderr)
        assert json.loads(printed.stdout)["AvailableBalance"] == "10000.00"
        script = f"import boto3\nprint({python}.get_account_balance()['AvailableBalance'])"
        scripted = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert scripted.returncode == 0, (python, scripted.stderr)
        assert scripted.stdout.strip() == "10000.00"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server fails the test
            process.kill()
            raise
    assert process.returncode == 0
