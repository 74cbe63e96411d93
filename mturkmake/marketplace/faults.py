"""Injected latency, throttling and service faults, for tests and benchmarks (DESIGN §7).

``serve --latency 50ms --throttle-rate 0.1 --fault-rate 0.05 --rps 5`` and
``[tool.mturkmake.local.faults]`` set the same :class:`FaultSettings`.

Determinism: whether a request is throttled or faulted derives from (seed, operation, request
body, botocore's attempt number, how often this exact request was seen before) — never from the
order in which *different* requests arrive — so the same seed gives the same faults whatever
the thread interleaving, and a retry (a new attempt number) gets a fresh draw. ``--rps`` is a
real rate limit on wall time and therefore not deterministic; it is off by default.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mturkmake.marketplace.errors import MarketplaceError, ServiceFault, Throttled

#: The message of an injected (or unexpected) ServiceFault.
FAULT_MESSAGE = "We encountered an internal error. Please try again."


@dataclass(frozen=True)
class FaultSettings:
    """What to inject; all off by default.

    :param latency: seconds to wait before answering each request.
    :param throttle_rate: share (0..1) of requests answered ``ThrottlingException``.
    :param fault_rate: share (0..1) of requests answered ``ServiceFault`` (HTTP 500).
    :param rps: requests per second allowed (a token bucket, burst max(1, rps)); ``None``: no
        limit.
    :param seed: mixes into every draw; the marketplace seed by default.
    """

    latency: float = 0.0
    throttle_rate: float = 0.0
    fault_rate: float = 0.0
    rps: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "fault_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name.replace('_', '-')} must be between 0 and 1, not {rate}")
        if self.latency < 0:
            raise ValueError(f"latency must not be negative, not {self.latency}")
        if self.rps is not None and self.rps <= 0:
            raise ValueError(f"rps must be positive, not {self.rps}")

    @property
    def active(self) -> bool:
        """Whether anything is injected at all."""
        return bool(self.latency or self.throttle_rate or self.fault_rate or self.rps)


def settings_from_mapping(
    table: Mapping[str, Any], *, seed: int, parse_duration: Callable[[str], float]
) -> FaultSettings:
    """Read ``[tool.mturkmake.local.faults]`` (keys ``latency``, ``throttle_rate`` or
    ``throttle-rate``, ``fault_rate``, ``rps``, ``seed``); raises ``ValueError`` on a bad one."""
    known = {"latency", "throttle_rate", "fault_rate", "rps", "seed"}
    values: dict[str, Any] = {"seed": seed}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            names = ", ".join(sorted(known))
            raise ValueError(f"unknown key {key!r} in local.faults (known: {names})")
        values[name] = value
    latency = values.get("latency", 0.0)
    if isinstance(latency, str):
        values["latency"] = parse_latency(latency, parse_duration)
    return FaultSettings(
        latency=float(values.get("latency", 0.0)),
        throttle_rate=float(values.get("throttle_rate", 0.0)),
        fault_rate=float(values.get("fault_rate", 0.0)),
        rps=None if values.get("rps") is None else float(values["rps"]),
        seed=int(values["seed"]),
    )


def parse_latency(text: str, parse_duration: Callable[[str], float]) -> float:
    """``"50ms"`` → 0.05; anything else goes to the clock's duration grammar (``"1s"``, ``"2"``)."""
    text = text.strip()
    if text.endswith("ms"):
        try:
            return float(text[:-2]) / 1000.0
        except ValueError:
            raise ValueError(f"bad latency {text!r} — write e.g. 50ms or 1s") from None
    return parse_duration(text)


class FaultInjector:
    """Decides, per request, whether to delay, throttle or fail it. Thread-safe."""

    def __init__(
        self,
        settings: FaultSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._seen: dict[bytes, int] = {}
        self._tokens = max(1.0, settings.rps or 1.0)
        self._refilled = monotonic()

    def before(self, operation: str, body: bytes, attempt: int) -> MarketplaceError | None:
        """Apply the latency, then return the error to answer with, or ``None`` to proceed."""
        if self.settings.latency:
            self._sleep(self.settings.latency)
        if self.settings.rps is not None and not self._take_token():
            return Throttled()
        if not (self.settings.throttle_rate or self.settings.fault_rate):
            return None
        draw = self._draw(operation, body, attempt)
        if draw < self.settings.throttle_rate:
            return Throttled()
        if draw < self.settings.throttle_rate + self.settings.fault_rate:
            return ServiceFault(FAULT_MESSAGE)
        return None

    def _draw(self, operation: str, body: bytes, attempt: int) -> float:
        key = hashlib.sha256(
            b"%d\x00%s\x00%d\x00%s" % (self.settings.seed, operation.encode(), attempt, body)
        ).digest()
        with self._lock:
            occurrence = self._seen.get(key, 0)
            self._seen[key] = occurrence + 1
        digest = hashlib.sha256(key + occurrence.to_bytes(8, "big")).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    def _take_token(self) -> bool:
        rate = self.settings.rps or 1.0
        with self._lock:
            now = self._monotonic()
            self._tokens = min(max(1.0, rate), self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
