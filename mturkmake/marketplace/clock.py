"""The marketplace's virtual clock: duration parsing and epoch conversions (DESIGN §7).

Time in the local marketplace lives in its database and moves only when someone advances it;
this module holds the pure helpers around that clock.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_PLAIN = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90``, ``90s``, ``15m``, ``1h``, ``2d`` or ``1h30m``.

    Units go from the largest to the smallest, each at most once, as ``1d2h3m4s``.

    :raises ValueError: with a message naming the text and the accepted forms.
    """
    cleaned = text.strip().lower()
    if _PLAIN.fullmatch(cleaned):
        return float(cleaned)
    parts = _PART.findall(cleaned)
    order = "dhms"
    if parts and "".join(n + u for n, u in parts) == cleaned:
        units = [u for _, u in parts]
        if len(set(units)) == len(units) and units == sorted(units, key=order.index):
            return sum(float(number) * _UNITS[unit] for number, unit in parts)
    raise ValueError(
        f"'{text}' is not a duration — write seconds (90) or amounts with units d, h, m, s "
        "from the largest down (90s, 15m, 1h, 2d, 1h30m)"
    )


def to_epoch(moment: datetime) -> float:
    """Epoch seconds of ``moment`` (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def from_epoch(seconds: float) -> datetime:
    """The UTC datetime of ``seconds`` since the epoch."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def wire_time(seconds: float) -> float | int:
    """A timestamp as the wire carries it: epoch seconds, an int when whole (as MTurk sends)."""
    whole = int(seconds)
    return whole if whole == seconds else round(seconds, 3)
