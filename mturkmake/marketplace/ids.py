"""Deterministic identifiers (DESIGN §7).

Every id derives from the marketplace seed and what the request *is* (its UniqueRequestToken,
or its canonical JSON plus how many identical requests came before) — never from a global
counter — so that running the same calls in another order gives the same ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: MTurk's HITId, HITTypeId and AssignmentId are 30 upper-case alphanumerics.
ENTITY_LENGTH = 30
#: Qualification type ids of the samples are 20 characters (``HZKZ76XYF0SZ0GHSMYYZ``).
QUALIFICATION_TYPE_LENGTH = 30


def _digest(*parts: object) -> int:
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


def derive(seed: int, kind: str, *parts: object, length: int = ENTITY_LENGTH) -> str:
    """An upper-case alphanumeric id of ``length`` characters from the seed and ``parts``."""
    number = _digest(seed, kind, *parts)
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def worker_id(seed: int, index: int) -> str:
    """The id of the ``index``-th simulated worker: ``A`` followed by 13 of ``[A-Z0-9]``."""
    return "A" + derive(seed, "worker", index, length=13)


def canonical(params: Mapping[str, Any]) -> str:
    """The canonical JSON of a request: sorted keys, no whitespace — equal requests, equal text."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def fraction(seed: int, *parts: object) -> float:
    """A deterministic number in [0, 1) from the seed and ``parts`` (worker behaviour)."""
    return (_digest(seed, "fraction", *parts) % 10**12) / 10**12
