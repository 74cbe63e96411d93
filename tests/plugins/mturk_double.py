"""A tiny test double of the MTurk Requester endpoint: AWS JSON 1.1 over HTTP on 127.0.0.1.

Real boto3 clients talk to it through a socket, so signing, serialization, error parsing and
botocore's retries all run for real. It implements just what the ledger and client tests
need — CreateHIT, GetHIT, ListHITs, GetAccountBalance, SendBonus, ListBonusPayments — with
MTurk's token semantics (a repeated ``UniqueRequestToken`` is refused, the CreateHIT refusal
naming the HIT), counts every call, can inject errors, and can *hold* a response after the
effect is done, so a test can kill the caller at the worst moment.

Usage::

    with MTurkDouble() as double:
        client = boto3.client("mturk", endpoint_url=double.url, ...)
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
JSON_TYPE = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class Call:
    """One request the double received."""

    operation: str
    params: dict[str, Any]
    headers: dict[str, str]

    @property
    def token(self) -> str | None:
        """The request's UniqueRequestToken, if it carried one."""
        value = self.params.get("UniqueRequestToken")
        return None if value is None else str(value)


@dataclass
class Fault:
    """An error to answer instead of doing an operation, ``times`` times."""

    status: int
    error_type: str
    message: str
    turk_error_code: str | None
    times: int


class Refusal(Exception):
    """An MTurk RequestError the double answers."""

    def __init__(self, message: str, turk_error_code: str) -> None:
        super().__init__(message)
        self.message = message
        self.turk_error_code = turk_error_code


@dataclass
class _State:
    hits: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    bonuses: list[dict[str, Any]] = field(default_factory=list)


class MTurkDouble:
    """The double; a context manager serving on ``url`` until exit.

    :param clock: epoch seconds for ``CreationTime`` (tests move it to age HITs).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.calls: list[Call] = []
        self.state = _State()
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._hold_op: str | None = None
        self.held = threading.Event()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> MTurkDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                double._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- test controls --------------------------------------------------------------------

    def count(self, operation: str) -> int:
        """How many requests of ``operation`` arrived."""
        with self._lock:
            return sum(1 for call in self.calls if call.operation == operation)

    def tokens(self, operation: str) -> list[str | None]:
        """The tokens ``operation``'s requests carried, in arrival order."""
        with self._lock:
            return [call.token for call in self.calls if call.operation == operation]

    def fail(
        self,
        operation: str,
        *,
        status: int = 400,
        error_type: str = "RequestError",
        message: str = "Your request is invalid.",
        turk_error_code: str | None = "AWS.MechanicalTurk.InvalidParameterValue",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` with this error, doing nothing."""
        self._faults[operation] = Fault(status, error_type, message, turk_error_code, times)

    def hold(self, operation: str) -> None:
        """Do the next ``operation`` but keep its response until :meth:`release` (or exit)."""
        self._hold_op = operation
        self.held.clear()
        self._release.clear()

    def release(self) -> None:
        """Let a held response go (to a caller that may be dead by now)."""
        self._release.set()

    # -- protocol -------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        params = json.loads(request.rfile.read(length) or b"{}")
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        with self._lock:
            self.calls.append(Call(operation, params, dict(request.headers.items())))
            fault = self._faults.get(operation)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[operation]
        if fault is not None:
            body: dict[str, Any] = {"__type": fault.error_type, "Message": fault.message}
            if fault.turk_error_code:
                body["TurkErrorCode"] = fault.turk_error_code
            self._send(request, fault.status, body)
            return
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            self._send(request, 400, {"__type": "UnknownOperationException", "Message": target})
            return
        try:
            with self._lock:
                result = handler(params)
        except Refusal as refusal:
            self._send(
                request,
                400,
                {
                    "__type": "RequestError",
                    "Message": f"{refusal.message} ({int(self.clock() * 1000)})",
                    "TurkErrorCode": refusal.turk_error_code,
                },
            )
            return
        if self._hold_op == operation:
            self._hold_op = None
            self.held.set()
            self._release.wait(timeout=30)
        self._send(request, 200, result)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", JSON_TYPE)
            request.send_header("Content-Length", str(len(data)))
            request.send_header("x-amzn-RequestId", hashlib.md5(data).hexdigest())
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller was killed while we held its response: that is the test

    # -- operations (called under the lock) -----------------------------------------------

    def _remember_token(self, operation: str, params: dict[str, Any], result_id: str) -> None:
        token = params.get("UniqueRequestToken")
        if token is not None:
            self.state.tokens[(operation, str(token))] = result_id

    def _seen_token(self, operation: str, params: dict[str, Any]) -> str | None:
        token = params.get("UniqueRequestToken")
        return None if token is None else self.state.tokens.get((operation, str(token)))

    def _op_CreateHIT(self, params: dict[str, Any]) -> dict[str, Any]:
        existing = self._seen_token("CreateHIT", params)
        if existing is not None:
            # MTurk's documented behaviour: an error whose message contains the HITId.
            raise Refusal(
                f"There is already a HIT with this request token: {existing}.",
                "AWS.MechanicalTurk.HitAlreadyExists",
            )
        number = len(self.state.hits) + 1
        hit_id = f"3HIT{number:026d}"
        type_key = f"{params.get('Title')}|{params.get('Reward')}"
        hit = {
            "HITId": hit_id,
            "HITTypeId": "3TYPE" + hashlib.sha256(type_key.encode()).hexdigest()[:25].upper(),
            "CreationTime": self.clock(),
            "Title": params.get("Title"),
            "Description": params.get("Description"),
            "Question": params.get("Question", ""),
            "Reward": params.get("Reward"),
            "MaxAssignments": params.get("MaxAssignments", 1),
            "RequesterAnnotation": params.get("RequesterAnnotation", ""),
            "HITStatus": "Assignable",
        }
        self.state.hits[hit_id] = hit
        self._remember_token("CreateHIT", params, hit_id)
        return {"HIT": hit}

    def _op_GetHIT(self, params: dict[str, Any]) -> dict[str, Any]:
        hit = self.state.hits.get(str(params.get("HITId")))
        if hit is None:
            raise Refusal(
                f"Hit {params.get('HITId')} does not exist.", "AWS.MechanicalTurk.HITDoesNotExist"
            )
        return {"HIT": hit}

    def _op_ListHITs(self, params: dict[str, Any]) -> dict[str, Any]:
        hits = list(self.state.hits.values())
        start = int(params.get("NextToken", "0"))
        size = int(params.get("MaxResults", 10))
        page = hits[start : start + size]
        result: dict[str, Any] = {"NumResults": len(page), "HITs": page}
        if start + size < len(hits):
            result["NextToken"] = str(start + size)
        return result

    def _op_GetAccountBalance(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"AvailableBalance": "10000.00"}

    def _op_SendBonus(self, params: dict[str, Any]) -> dict[str, Any]:
        token = params.get("UniqueRequestToken")
        if self._seen_token("SendBonus", params) is not None:
            raise Refusal(
                f'The idempotency token "{token}" has already been processed.',
                "AWS.MechanicalTurk.InvalidParameterValue",
            )
        bonus = {
            "WorkerId": params["WorkerId"],
            "AssignmentId": params["AssignmentId"],
            "BonusAmount": params["BonusAmount"],
            "Reason": params["Reason"],
            "GrantTime": self.clock(),
        }
        self.state.bonuses.append(bonus)
        self._remember_token("SendBonus", params, str(len(self.state.bonuses)))
        return {}

    def _op_ListBonusPayments(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("AssignmentId")
        found = [b for b in self.state.bonuses if wanted in (None, b["AssignmentId"])]
        return {"NumResults": len(found), "BonusPayments": found}
