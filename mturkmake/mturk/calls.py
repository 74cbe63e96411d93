"""Calls of one step overlapped within the run's ``jobs`` and MTurk's rate (issue #17).

A requester with thousands of HITs waits on round trips, not on Python. :func:`each` runs a
step's calls on a pool of threads over the step's one client:

- **the first call goes alone**: an error every call would hit (no credentials, a refused
  connection) is met once, and the caller stops before anything else is sent;
- **at most ``jobs`` calls in flight in the whole run** (``-j N``): targets running at once
  share one :class:`threading.Semaphore` of ``jobs`` permits, so ``-j 16`` never means 16
  targets × 16 calls;
- **results in input order**, whatever finished first: the files a step writes and the lines
  it prints are the same for every ``-j``;
- **a client-side token bucket** (:class:`TokenBucket`) shared by every thread of the run
  keeps the requests per second under ``rate`` (config key; default by endpoint:
  production 3, sandbox 5, the local marketplace unlimited — :data:`DEFAULT_RATES`). Every
  HTTP attempt takes a token, retries included;
- **throttling is absorbed**: a ``ThrottlingException`` slows the whole run's bucket down
  (when it has a rate; it recovers step by step) and the attempt is retried after a
  jittered exponential back-off, up to :data:`THROTTLE_ATTEMPTS` times, without a message.
  A throttled request had no effect, and token operations carry their
  ``UniqueRequestToken`` anyway.

The pool exists only while a step sends; nothing here is global: the run's semaphore and
bucket live in the run's :class:`~mturkmake.hookspecs.Context` options (one run, one set).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mturkmake.hookspecs import Config, ConfigKey, Context

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mturkmake.mturk.client import Client
    from mturkmake.mturk.ledger import Ledger

T = TypeVar("T")
R = TypeVar("R")

#: Requests per second when ``rate`` is unset, by endpoint kind (``None``: no limit).
DEFAULT_RATES: Mapping[str, float | None] = {"production": 3.0, "sandbox": 5.0, "local": None}
#: How many attempts a throttled request gets before its error is shown.
THROTTLE_ATTEMPTS = 30
#: The longest back-off between two throttled attempts, in seconds.
MAX_BACKOFF = 8.0
#: The lowest rate a throttled bucket slows down to (requests per second).
MIN_RATE = 0.5

RATE_KEY = ConfigKey(
    "rate",
    (int, float),
    None,
    "requests per second sent to MTurk, shared by the whole run (default: production 3, "
    "sandbox 5, local unlimited); throttling slows it down further by itself",
)

#: Set on a client by ``mturkmake.marketplace.inprocess.attach`` (its ``CPU_BOUND``) when the
#: in-process marketplace answers it with nothing injected.
_CPU_BOUND = "_mturkmake_cpu_bound"
_SLOTS = "_mturkmake_call_slots"
_BUCKET = "_mturkmake_token_bucket"
_THROTTLES = ("ThrottlingException", "Throttling", "TooManyRequestsException")


def configured_rate(config: Config) -> float | None:
    """The run's ``rate``: the key when set (0 or less: no limit), else the endpoint's
    default (:data:`DEFAULT_RATES`)."""
    value = config.get("rate")
    if value is not None and not isinstance(value, bool):
        rate = float(value)
        return rate if rate > 0 else None
    from mturkmake.mturk.settings import settings

    kind: str = settings(config).kind
    return DEFAULT_RATES.get(kind)


class TokenBucket:
    """A token bucket shared by threads: :meth:`acquire` waits for the next token.

    Reservations may take the bucket below zero, so that concurrent callers are spaced
    evenly instead of racing for the next token. :meth:`throttled` slows a limited bucket
    to seven tenths of its rate (MTurk said it was too fast; at most once a second, so that
    a burst of refusals counts once); each later success brings back a twentieth of the
    configured rate, never more. An unlimited bucket (``rate=None``) stays unlimited: the
    throttled request itself backs off (:func:`install`), as botocore's retries do.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = rate
        self.rate = rate
        self.burst = max(1.0, burst)
        self.clock = clock
        self.sleep = sleep
        self.throttles = 0
        self.requests = 0
        self._tokens = self.burst
        self._last = clock()
        self._slowed = -1e9
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until the request may be sent."""
        with self._lock:
            self.requests += 1
            if self.rate is None:
                return
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)

    def throttled(self) -> None:
        """MTurk throttled a request: slow every thread down."""
        with self._lock:
            self.throttles += 1
            now = self.clock()
            if self.rate is None or now - self._slowed < 1.0:
                return
            self._slowed = now
            self.rate = max(MIN_RATE, self.rate * 0.7)
            self._tokens = min(self._tokens, 0.0)
            self._last = now

    def succeeded(self) -> None:
        """A request went through: recover a step of the rate lost to throttling."""
        with self._lock:
            if self.rate is None or self.limit is None or self.rate >= self.limit:
                return
            self.rate = min(self.limit, self.rate + self.limit / 20.0)


def _run_wide(ctx: Context, key: str, make: Callable[[], Any]) -> Any:
    # One per run: the run's options dict is shared by every step of the run (and made
    # anew by each run), so the semaphore and the bucket live there.
    options = ctx.options
    if not isinstance(options, dict):
        return make()
    found = options.get(key)
    return found if found is not None else options.setdefault(key, make())


def call_jobs(ctx: Context, client: Client) -> int:
    """How many of a step's calls go at once: ``-j`` (the run's ``jobs``), except on the
    in-process local marketplace with nothing injected, where it is 1.

    There a call is Python run under the GIL that waits on nothing (no network, no
    latency): threads could only take turns, and the hand-offs cost more than they save
    (3,000 approvals took 7.1 s at ``-j 16`` against 4.5 s at ``-j 1``). With
    ``[local.faults]`` (latency, a rate) calls wait, and overlap as on any endpoint.
    Targets still run ``-j`` at once.
    """
    jobs = max(1, int(ctx.options.get("jobs") or 1))
    return 1 if getattr(client, _CPU_BOUND, False) is True else jobs


def run_slots(ctx: Context) -> threading.Semaphore:
    """The run's ``jobs`` permits for calls in flight (made once per run)."""
    jobs = max(1, int(ctx.options.get("jobs") or 1))
    slots = _run_wide(ctx, _SLOTS, lambda: threading.Semaphore(jobs))
    assert isinstance(slots, threading.Semaphore)
    return slots


def run_bucket(ctx: Context) -> TokenBucket:
    """The run's token bucket (made once per run, at the configured rate)."""
    bucket = _run_wide(ctx, _BUCKET, lambda: TokenBucket(configured_rate(ctx.config)))
    assert isinstance(bucket, TokenBucket)
    return bucket


def is_throttle(response: Any) -> bool:
    """Whether a botocore ``(http, parsed)`` response is a throttling refusal."""
    if not isinstance(response, tuple) or len(response) != 2:
        return False
    parsed = response[1] if isinstance(response[1], Mapping) else {}
    code = str(parsed.get("Error", {}).get("Code", ""))
    return code in _THROTTLES


def install(client: Client, bucket: TokenBucket | None) -> None:
    """Route every attempt of ``client`` through ``bucket`` (``None``: no rate, as when the
    client is made) and absorb its throttling: a ``ThrottlingException`` is retried after a
    jittered exponential back-off, up to :data:`THROTTLE_ATTEMPTS` attempts, and slows the
    bucket down. Handlers are registered once per client; the bucket can change."""
    # The run's state rides on the client object itself (no registry: no global state).
    if bucket is not None:
        setattr(client, "_mturkmake_bucket", bucket)  # noqa: B010 - not a declared attribute
    if getattr(client, "_mturkmake_throttle", False):
        return
    setattr(client, "_mturkmake_throttle", True)  # noqa: B010 - not a declared attribute

    def current() -> TokenBucket | None:
        found = getattr(client, "_mturkmake_bucket", None)
        return found if isinstance(found, TokenBucket) else None

    def before_send(**_: Any) -> None:
        limiter = current()
        if limiter is not None:
            limiter.acquire()

    def needs_retry(response: Any = None, attempts: int = 1, **_: Any) -> float | None:
        limiter = current()
        if not is_throttle(response):
            if response is not None and limiter is not None:
                limiter.succeeded()
            return None  # botocore (and the CLT's retry keys) decide
        import random

        if limiter is not None:
            limiter.throttled()
        if attempts >= THROTTLE_ATTEMPTS:
            return None
        backoff: float = min(MAX_BACKOFF, 0.05 * 2 ** min(attempts, 8))
        return backoff * (0.5 + random.random() / 2)

    events = client.meta.events
    events.register_first("before-send.mturk", before_send, unique_id="mturkmake-rate")
    # botocore's needs-retry handlers return the delay; the stubs type them as returning None.
    events.register_first(
        "needs-retry.mturk",
        needs_retry,  # type: ignore[arg-type]
        unique_id="mturkmake-throttle",
    )


class Done(Generic[R]):
    """One call's result, or the exception it raised (re-raised by :meth:`get`)."""

    def __init__(self, value: R | None = None, error: BaseException | None = None) -> None:
        self._value = value
        self._error = error

    def get(self) -> R:
        """The result; raises the call's exception."""
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def _guarded(slots: threading.Semaphore, work: Callable[[T], R], item: T) -> Done[R]:
    with slots:
        try:
            return Done(work(item))
        except Exception as exc:  # handed to the caller, in order
            return Done(error=exc)


def each(
    ctx: Context,
    client: Client,
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    jobs: int | None = None,
    ledger: Ledger | None = None,
) -> Iterator[tuple[T, Done[R]]]:
    """Run ``work(item)`` for every item, up to ``jobs`` at once; yield in input order.

    The first item runs alone; then at most ``jobs`` are submitted ahead of the one the
    caller reads, so memory stays O(jobs). If the caller stops reading (it raised, or broke
    out), nothing more is started and the calls in flight are waited for.

    :param jobs: the pool's size; default :func:`call_jobs` (``-j``, or 1 where calls wait
        on nothing).
    :param ledger: the run's ledger: its commits are grouped while the calls run
        (:meth:`~mturkmake.mturk.ledger.Ledger.grouped`).
    """
    if ledger is None:
        yield from _each(ctx, client, items, work, jobs)
        return
    with ledger.grouped():
        yield from _each(ctx, client, items, work, jobs)


def _each(
    ctx: Context, client: Client, items: Sequence[T], work: Callable[[T], R], jobs: int | None
) -> Iterator[tuple[T, Done[R]]]:
    size = max(1, jobs) if jobs is not None else call_jobs(ctx, client)
    slots = run_slots(ctx)
    bucket = run_bucket(ctx)
    if bucket.limit is not None or _served(client):
        install(client, bucket)
    yield from ordered(items, work, jobs=size, slots=slots)


def ordered(
    items: Sequence[T],
    work: Callable[[T], R],
    *,
    jobs: int,
    slots: threading.Semaphore | None = None,
) -> Iterator[tuple[T, Done[R]]]:
    """:func:`each` without a run: ``work`` over ``items`` on up to ``jobs`` threads, the
    first alone, results in input order (``slots``: permits shared with other pools).

    Items are taken by index; ``items`` is also iterated once, one step per result handed
    to the caller, so a sequence that reports progress as it is iterated (the reporter's
    ``Tracked``) counts finished results, not submitted calls."""
    size = max(1, jobs)
    slots = slots if slots is not None else threading.Semaphore(size)
    count = len(items)
    if not count:
        return
    progress = iter(items)
    next(progress, None)  # the start of the step
    yield items[0], _guarded(slots, work, items[0])
    next(progress, None)
    if size == 1 or count == 1:
        for index in range(1, count):
            item = items[index]
            yield item, _guarded(slots, work, item)
            next(progress, None)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="mturkmake-call")
    window: deque[tuple[T, Future[Done[R]]]] = deque()
    position = 1
    try:
        while window or position < count:
            while position < count and len(window) < size:
                item = items[position]
                window.append((item, pool.submit(_guarded, slots, work, item)))
                position += 1
            item, future = window.popleft()
            yield item, future.result()
            next(progress, None)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _served(client: Client) -> bool:
    # A client that goes over HTTP (a served marketplace, sandbox, production) can be
    # throttled; the in-process one cannot.
    url = str(getattr(getattr(client, "meta", None), "endpoint_url", "") or "")
    return url.startswith(("http://", "https://")) and ".invalid" not in url


__all__ = [
    "DEFAULT_RATES",
    "RATE_KEY",
    "TokenBucket",
    "call_jobs",
    "configured_rate",
    "each",
    "install",
    "is_throttle",
    "ordered",
    "run_bucket",
    "run_slots",
]
