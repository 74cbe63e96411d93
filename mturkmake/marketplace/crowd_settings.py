"""The simulated crowd's settings: ``[tool.mturkmake.local]`` keys beyond the engine's own.

Pure standard library (the plugin that validates ``[tool.mturkmake.local]`` imports it on every
run, and a no-op run must not load defusedxml or botocore).

```toml
[tool.mturkmake.local]
workers = 20                     # generated workers (DESIGN §7)
speed = 1.0                      # pace multiplier: 2.0 works twice as fast
accuracy = [0.7, 1.0]            # each generated worker's accuracy, uniform in [low, high]
return_rate = 0.02               # share of accepted assignments returned early
abandon_rate = 0.01              # share left to pass their deadline
approval_rate = [95, 100]        # Worker_PercentAssignmentsApproved
hits_approved = [1000, 10000]    # Worker_NumberHITsApproved
locales = ["US-CA", "US-NY", "GB"]  # Worker_Locale, drawn per worker (country[-subdivision])
masters = 0.0                    # share of generated workers holding (sandbox) Masters
external_fields = ["answer"]     # an ExternalQuestion's fields when its page cannot be read
external_pages = {"https://example.com/task" = "pages/task.html"}
fetch_external_pages = false     # true: the crowd may fetch your own https:// task page

[[tool.mturkmake.local.planted]]  # a specific worker, added to the generated ones
id = "APLANTED000001"
accuracy = 0.5
share = 1.0                      # claims one slot of this share of HITs, ahead of the crowd
```
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Keys the engine itself reads (see ``MarketplaceSettings``) and the fault injector's table.
ENGINE_KEYS = ("seed", "start", "workers", "events_per_transaction", "faults")
#: The crowd's keys, read by :meth:`CrowdSettings.from_table`.
CROWD_KEYS = (
    "speed",
    "accuracy",
    "return_rate",
    "abandon_rate",
    "approval_rate",
    "hits_approved",
    "locales",
    "masters",
    "planted",
    "external_pages",
    "external_fields",
    "fetch_external_pages",
)
PLANTED_KEYS = (
    "id",
    "accuracy",
    "share",
    "speed",
    "approval_rate",
    "hits_approved",
    "locale",
    "masters",
    "qualifications",
)
DEFAULT_LOCALES = (
    "US-CA",
    "US-NY",
    "US-TX",
    "US-WA",
    "US-FL",
    "US-IL",
    "US-PA",
    "US-OH",
    "US-GA",
    "US-NC",
)
_WORKER_ID = re.compile(r"A[A-Z0-9]{1,63}")
_LOCALE = re.compile(r"([A-Z]{2})(?:-([A-Z0-9]{1,3}))?")
_TYPE_ID = re.compile(r"[A-Z0-9]{1,64}")


@dataclass(frozen=True)
class PlantedWorker:
    """A worker configured by hand (``[[tool.mturkmake.local.planted]]``).

    :param share: when set, the worker claims one slot of this share of the HITs it qualifies
        for (chosen per HIT from the seed): the rest of the crowd leaves that slot to it, and
        it works on no other HIT. This is how a small batch is sure to include it.
    :param qualifications: requester qualifications it holds from the start, by type id.
    """

    id: str
    accuracy: float = 0.9
    share: float | None = None
    speed: float = 1.0
    approval_rate: int = 100
    hits_approved: int = 5000
    locale: str = "US-CA"
    masters: bool = False
    qualifications: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CrowdSettings:
    """How the simulated crowd behaves (DESIGN §7 defaults)."""

    speed: float = 1.0
    accuracy: tuple[float, float] = (0.7, 1.0)
    # DESIGN §7: workers "sometimes return or abandon". A returned slot is free at once, an
    # abandoned one at its assignment deadline; either goes to another worker.
    return_rate: float = 0.02
    abandon_rate: float = 0.01
    approval_rate: tuple[int, int] = (95, 100)
    hits_approved: tuple[int, int] = (1000, 10000)
    locales: tuple[str, ...] = DEFAULT_LOCALES
    masters: float = 0.0
    planted: tuple[PlantedWorker, ...] = ()
    external_pages: Mapping[str, str] = field(default_factory=dict)
    external_fields: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"answer": ()})
    #: The requester lets the crowd fetch remote ``https://`` task pages to learn their form.
    fetch_external_pages: bool = False

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> CrowdSettings:
        """Settings from ``[tool.mturkmake.local]`` (keys outside :data:`CROWD_KEYS` ignored).

        :raises ValueError: one line naming the key (``local.accuracy must be …``).
        """
        values: dict[str, Any] = {}
        get = {k.replace("-", "_"): v for k, v in table.items()}.get
        if get("speed") is not None:
            values["speed"] = _number(get("speed"), "local.speed", 0.01, 1000.0)
        if get("accuracy") is not None:
            values["accuracy"] = _span(get("accuracy"), "local.accuracy", 0.0, 1.0)
        for key in ("return_rate", "abandon_rate", "masters"):
            if get(key) is not None:
                values[key] = _number(get(key), f"local.{key}", 0.0, 1.0)
        if values.get("return_rate", 0.0) + values.get("abandon_rate", 0.0) > 0.5:
            raise ValueError("local.return_rate + local.abandon_rate must be at most 0.5")
        if get("approval_rate") is not None:
            low, high = _span(get("approval_rate"), "local.approval_rate", 0, 100)
            values["approval_rate"] = (int(low), int(high))
        if get("hits_approved") is not None:
            low, high = _span(get("hits_approved"), "local.hits_approved", 0, 10**9)
            values["hits_approved"] = (int(low), int(high))
        if get("locales") is not None:
            locales = get("locales")
            if isinstance(locales, str) or not isinstance(locales, Sequence) or not locales:
                raise ValueError('local.locales must be a non-empty list such as ["US-CA", "GB"]')
            values["locales"] = tuple(_locale(x, "local.locales") for x in locales)
        if get("planted") is not None:
            values["planted"] = _planted(get("planted"))
        if get("external_pages") is not None:
            pages = get("external_pages")
            if not isinstance(pages, Mapping) or not all(
                isinstance(v, str) for v in pages.values()
            ):
                raise ValueError('local.external_pages must be a table of URL = "file path"')
            values["external_pages"] = {str(k): str(v) for k, v in pages.items()}
        if get("external_fields") is not None:
            values["external_fields"] = _fields(get("external_fields"))
        if get("fetch_external_pages") is not None:
            if not isinstance(get("fetch_external_pages"), bool):
                raise ValueError("local.fetch_external_pages must be true or false")
            values["fetch_external_pages"] = get("fetch_external_pages")
        return cls(**values)


def validate_local(table: Mapping[str, Any]) -> None:
    """Check a whole ``[tool.mturkmake.local]`` table (engine and crowd keys).

    :raises ValueError: one line naming the first bad key.
    """
    known = set(ENGINE_KEYS) | set(CROWD_KEYS)
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ValueError(f"unknown key 'local.{key}' (known: {', '.join(sorted(known))})")
        if name in ("seed", "workers", "events_per_transaction") and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValueError(f"local.{key} must be a whole number ≥ 0, not {value!r}")
        if name == "faults" and not isinstance(value, Mapping):
            raise ValueError("local.faults must be a table")
    CrowdSettings.from_table(table)


# ----------------------------------------------------------------------------- readers


def _number(value: Any, key: str, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (low <= value <= high)
        or math.isnan(value)
    ):
        raise ValueError(f"{key} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _span(value: Any, key: str, low: float, high: float) -> tuple[float, float]:
    """A number (a fixed value) or a ``[low, high]`` pair within [low, high]."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{key} must be a number or [low, high], not {value!r}")
        first, second = (_number(v, key, low, high) for v in value)
        if first > second:
            raise ValueError(f"{key}: {first:g} is above {second:g}; write [low, high]")
        return first, second
    number = _number(value, key, low, high)
    return number, number


def _locale(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _LOCALE.fullmatch(value.upper()):
        raise ValueError(f'{key}: {value!r} is not a locale such as "US" or "US-CA"')
    return value.upper()


def locale_value(text: str) -> dict[str, str]:
    """``"US-CA"`` as a Worker_Locale value ``{"Country": "US", "Subdivision": "CA"}``."""
    match = _LOCALE.fullmatch(text)
    assert match is not None  # validated when read
    out = {"Country": match.group(1)}
    if match.group(2):
        out["Subdivision"] = match.group(2)
    return out


def _fields(value: Any) -> dict[str, tuple[str, ...]]:
    """``["answer", "comment"]`` or ``{rating = ["1", "2", "3"], comment = []}``."""
    key = "local.external_fields"
    if isinstance(value, Mapping):
        out: dict[str, tuple[str, ...]] = {}
        for name, options in value.items():
            if isinstance(options, str) or not isinstance(options, Sequence):
                raise ValueError(f"{key}.{name} must be a list of the values it offers")
            out[str(name)] = tuple(str(o) for o in options)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        out = {str(name): () for name in value}
    else:
        raise ValueError(f"{key} must be a list of field names or a table of name = [values]")
    if not out:
        raise ValueError(f"{key} needs at least one field")
    return out


def _planted(value: Any) -> tuple[PlantedWorker, ...]:
    if isinstance(value, Mapping) or not isinstance(value, Sequence):
        raise ValueError(
            "local.planted must be a list of tables such as "
            '[{id = "APLANTED000001", accuracy = 0.5}]'
        )
    workers: list[PlantedWorker] = []
    for number, entry in enumerate(value, start=1):
        where = f"local.planted[{number}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f'{where} must be a table such as {{id = "A…", accuracy = 0.5}}')
        unknown = sorted(set(entry) - set(PLANTED_KEYS))
        if unknown:
            raise ValueError(
                f"unknown key '{where}.{unknown[0]}' (known: {', '.join(PLANTED_KEYS)})"
            )
        worker_id = entry.get("id")
        if not isinstance(worker_id, str) or not _WORKER_ID.fullmatch(worker_id):
            raise ValueError(f"{where}.id must be 'A' and up to 63 of A-Z 0-9, not {worker_id!r}")
        if any(w.id == worker_id for w in workers):
            raise ValueError(f"{where}.id {worker_id} is planted twice")
        values: dict[str, Any] = {"id": worker_id}
        for key, low, high in (
            ("accuracy", 0.0, 1.0),
            ("share", 0.0, 1.0),
            ("speed", 0.01, 1000.0),
        ):
            if key in entry:
                values[key] = _number(entry[key], f"{where}.{key}", low, high)
        for key, high in (("approval_rate", 100), ("hits_approved", 10**9)):
            if key in entry:
                values[key] = int(_number(entry[key], f"{where}.{key}", 0, high))
        if "locale" in entry:
            values["locale"] = _locale(entry["locale"], f"{where}.locale")
        if "masters" in entry:
            if not isinstance(entry["masters"], bool):
                raise ValueError(f"{where}.masters must be true or false")
            values["masters"] = entry["masters"]
        quals = entry.get("qualifications", {})
        if not isinstance(quals, Mapping) or not all(
            _TYPE_ID.fullmatch(str(k)) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in quals.items()
        ):
            raise ValueError(
                f"{where}.qualifications must be a table of QUALIFICATIONTYPEID = whole number"
            )
        values["qualifications"] = {str(k): int(v) for k, v in quals.items()}
        workers.append(PlantedWorker(**values))
    return tuple(workers)
