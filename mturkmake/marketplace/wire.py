"""The AWS JSON 1.1 wire format of MTurk, shared by the in-process client and ``serve``.

A request is ``POST /`` with ``X-Amz-Target: MTurkRequesterServiceV20170117.<Op>`` and a JSON
body (reference/mturk-api.md §1). :func:`handle` decodes it, validates it against the model,
calls :meth:`Marketplace.call` and encodes the answer:

- success: HTTP 200, ``application/x-amz-json-1.1``, ``x-amzn-RequestId``, the output as JSON;
- ``RequestError`` (400) / ``ServiceFault`` (500): ``{"__type", "Message", "TurkErrorCode"}``, the
  message ending in `` (<epoch-ms>)`` as MTurk's do — the milliseconds of the marketplace's
  *virtual* clock, so answers are reproducible;
- ``ThrottlingException`` (400, "Rate exceeded"), which botocore retries;
- protocol errors use the names AWS uses: ``UnknownOperationException``, ``SerializationException``
  (also for a body nested deeper than :data:`MAX_JSON_DEPTH`, refused before validation).

Every error also names its type in ``x-amzn-ErrorType``, as AWS's JSON services do.

The SigV4 signature is not checked: the marketplace holds no secrets and listens on loopback.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from mturkmake.marketplace.errors import MarketplaceError, ServiceFault
from mturkmake.marketplace.faults import FAULT_MESSAGE, FaultInjector
from mturkmake.marketplace.model import TARGET_PREFIX, operation_names
from mturkmake.marketplace.validation import validate

CONTENT_TYPE = "application/x-amz-json-1.1"

log = logging.getLogger(__name__)

_ATTEMPT = re.compile(r"attempt=(\d+)")

# The deepest MTurk input (AssignmentReviewPolicy → Parameters → MapEntries → Values) nests 7
# levels; a body nested deeper is refused before validation, whose messages quote values.
MAX_JSON_DEPTH = 32


class MarketplaceLike(Protocol):
    """What the wire needs from the engine (``mturkmake.marketplace.service.Marketplace``)."""

    def call(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        request_token_hint: str | None = None,
    ) -> dict[str, Any]: ...

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class WireResponse:
    """An HTTP answer: status, headers, body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def handle(
    marketplace: MarketplaceLike,
    headers: Mapping[str, Any],
    body: bytes,
    *,
    faults: FaultInjector | None = None,
    reraise: bool = False,
) -> WireResponse:
    """Answer one AWS JSON 1.1 request.

    :param headers: the request headers (any case; values ``str`` or ``bytes``).
    :param faults: injects latency, throttling and faults before the call.
    :param reraise: let an unexpected exception (a bug) propagate instead of answering
        ``ServiceFault``; the in-process client sets it so bugs show their traceback.
    """
    lower = {str(k).lower(): _text(v) for k, v in headers.items()}
    request_id = str(uuid.uuid4())
    target = lower.get("x-amz-target", "")
    prefix, _, operation = target.partition(".")
    if prefix != TARGET_PREFIX or operation not in _operations():
        return _protocol_error(
            request_id, "UnknownOperationException", f"Unknown operation {target!r}"
        )
    try:
        params = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, ValueError) as exc:
        return _protocol_error(request_id, "SerializationException", f"Malformed JSON: {exc}")
    except RecursionError:  # the parser's (C) recursion is guarded: a clean error, no crash
        return _too_deep(request_id)
    if not isinstance(params, dict):
        return _protocol_error(request_id, "SerializationException", "The body must be an object")
    # Fewer brackets than the limit cannot nest deeper than it: most requests skip the walk.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and nested_deeper(params):
        return _too_deep(request_id)
    try:
        if faults is not None:
            injected = faults.before(operation, body, _attempt(lower))
            if injected is not None:
                raise injected
        validate(operation, params)
        # botocore sends one invocation id for every attempt of a call: the engine replays
        # the first answer to a retry instead of acting twice.
        hint = lower.get("amz-sdk-invocation-id") or None
        result = marketplace.call(operation, params, request_token_hint=hint)
    except MarketplaceError as exc:
        return error_response(exc, request_id, epoch_ms(marketplace))
    except Exception:
        if reraise:
            raise
        log.exception("%s failed inside the marketplace", operation)
        fault = ServiceFault(FAULT_MESSAGE)
        return error_response(fault, request_id, epoch_ms(marketplace))
    payload = json.dumps(result, default=_json_default, separators=(",", ":")).encode()
    return WireResponse(200, _headers(request_id, len(payload)), payload)


def error_response(error: MarketplaceError, request_id: str, epoch_ms: int) -> WireResponse:
    """The error body MTurk sends for ``error`` (``__type``, ``Message``, ``TurkErrorCode``)."""
    document: dict[str, str] = {"__type": error.error_type}
    if error.error_type in ("RequestError", "ServiceFault"):
        document["Message"] = f"{error.message} ({epoch_ms})"
    else:  # throttling: AWS's own front end answers, without MTurk's suffix
        document["Message"] = error.message
    if error.turk_error_code:
        document["TurkErrorCode"] = error.turk_error_code
    payload = json.dumps(document).encode()
    headers = _headers(request_id, len(payload), error.error_type)
    return WireResponse(error.status, headers, payload)


def nested_deeper(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON) nests lists and objects more than ``limit`` levels deep;
    iterative, so that no depth can exhaust the stack."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, level = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list)):
                if level >= limit:
                    return True
                if child:  # an empty one nests no further: not worth a stack entry
                    stack.append((child, level + 1))
    return False


def _too_deep(request_id: str) -> WireResponse:
    message = f"The JSON body nests more than {MAX_JSON_DEPTH} levels deep"
    return _protocol_error(request_id, "SerializationException", message)


def _protocol_error(request_id: str, error_type: str, message: str) -> WireResponse:
    payload = json.dumps({"__type": error_type, "Message": message}).encode()
    return WireResponse(400, _headers(request_id, len(payload), error_type), payload)


def _headers(request_id: str, length: int, error_type: str | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": CONTENT_TYPE,
        "Content-Length": str(length),
        "x-amzn-RequestId": request_id,
    }
    if error_type is not None:
        headers["x-amzn-ErrorType"] = error_type
    return headers


@lru_cache(maxsize=1)
def _operations() -> frozenset[str]:
    return frozenset(operation_names())


def _attempt(headers: Mapping[str, str]) -> int:
    """botocore's attempt number (``amz-sdk-request: attempt=2; max=5``), 1 when absent."""
    match = _ATTEMPT.search(headers.get("amz-sdk-request", ""))
    return int(match.group(1)) if match else 1


def epoch_ms(marketplace: MarketplaceLike) -> int:
    """The marketplace's virtual clock in epoch milliseconds (the suffix of MTurk's messages)."""
    try:
        return int(marketplace.now().timestamp() * 1000)
    except Exception:  # the clock is unreadable (the fault we report may be why): wall time
        return int(time.time() * 1000)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _json_default(value: Any) -> Any:
    # The engine promises JSON-ready output; these two are accepted anyway because both have
    # exactly one faithful wire form (epoch seconds; the CurrencyAmount string).
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
