"""Time on the requester side: one helper for "now" and one for reading the service's times.

botocore hands out datetimes in the local zone (or naive ones from some parsers), the local
marketplace's raw JSON has epoch seconds, the ledger stores ISO text: everything is compared
in UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """Wall-clock time in UTC: the clock of the sandbox and production endpoints."""
    return datetime.now(timezone.utc)


def as_utc(moment: datetime | float | str) -> datetime:
    """``moment`` — a datetime (naive means UTC), epoch seconds or ISO text — in UTC."""
    if isinstance(moment, (int, float)):
        return datetime.fromtimestamp(moment, tz=timezone.utc)
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
