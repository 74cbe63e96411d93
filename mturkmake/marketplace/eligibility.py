"""Who may work on what: a worker's qualification values against a HIT's requirements, and
the qualifications a worker requests (taking the test) to reach work (DESIGN §7).

A worker who misses only requestable qualifications with a test or auto-grant requests them;
a test is answered per the worker's accuracy (the AnswerKey's best answers are the truth);
``RetryDelayInSeconds`` is honoured, and a failed graded test may be retaken after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mturkmake.marketplace import ids
from mturkmake.marketplace.answering import CrowdWorker, answer_xml
from mturkmake.marketplace.qualifications import (
    SYSTEM_TYPES,
    key_truth,
    load_type,
    request_blocker,
    submit_request,
)
from mturkmake.marketplace.store import Tx


def worker_value(
    tx: Tx, profile: Mapping[str, Any] | None, worker: str, type_id: str
) -> int | dict[str, str] | None:
    """The worker's value for a type (a locale for Worker_Locale), None when not held."""
    if type_id in SYSTEM_TYPES:
        if profile is None:
            return None
        value: int | dict[str, str] | None = profile.get("system", {}).get(type_id)
        return value
    row = tx.one(
        "SELECT value FROM quals WHERE type_id = ? AND worker_id = ? AND status = 'Granted'",
        (type_id, worker),
    )
    return None if row is None else int(row["value"])


def _locale_match(value: Mapping[str, str], wanted: Mapping[str, Any]) -> bool:
    if value.get("Country") != wanted.get("Country"):
        return False
    return not wanted.get("Subdivision") or value.get("Subdivision") == wanted["Subdivision"]


def meets(value: int | dict[str, str] | None, req: Mapping[str, Any]) -> bool:
    """Whether a worker's ``value`` satisfies one requirement."""
    comparator = req["Comparator"]
    if comparator == "DoesNotExist":
        return value is None
    if value is None:
        return False
    if comparator == "Exists":
        return True
    if isinstance(value, dict):
        matched = [_locale_match(value, w) for w in req.get("LocaleValues") or []]
        return any(matched) if comparator in ("EqualTo", "In") else not any(matched)
    numbers = [int(v) for v in req.get("IntegerValues") or []]
    if comparator == "In":
        return value in numbers
    if comparator == "NotIn":
        return value not in numbers
    target = numbers[0] if numbers else 0
    return {
        "LessThan": value < target,
        "LessThanOrEqualTo": value <= target,
        "GreaterThan": value > target,
        "GreaterThanOrEqualTo": value >= target,
        "EqualTo": value == target,
        "NotEqualTo": value != target,
    }[comparator]


def guards(req: Mapping[str, Any]) -> str:
    """What an unmet requirement hides: Accept, PreviewAndAccept or DiscoverPreviewAndAccept."""
    if req.get("ActionsGuarded"):
        return str(req["ActionsGuarded"])
    return "PreviewAndAccept" if req.get("RequiredToPreview") else "Accept"


def qualifies(
    tx: Tx, worker: str, prof: Mapping[str, Any], requirements: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether ``worker`` meets every requirement (each one guards acceptance, whatever
    ActionsGuarded says about discovering or previewing the HIT)."""
    return all(
        meets(worker_value(tx, prof, worker, str(r["QualificationTypeId"])), r)
        for r in requirements
    )


def _retry_time(tx: Tx, type_id: str, worker: str, data: Mapping[str, Any]) -> float | None:
    """When a worker refused only by the retry delay may request ``type_id`` again."""
    if data.get("RetryDelayInSeconds") is None:
        return None
    last = tx.one(
        "SELECT submit_time, state FROM qual_requests WHERE type_id = ? AND "
        "worker_id = ? ORDER BY submit_time DESC LIMIT 1",
        (type_id, worker),
    )
    if last is None or last["state"] == "Pending":
        return None
    held = tx.one("SELECT status FROM quals WHERE type_id = ? AND worker_id = ?", (type_id, worker))
    if held is not None and held["status"] == "Granted" and not data.get("AnswerKey"):
        return None  # holds it with a value too low; only a graded test may be retaken
    when = float(last["submit_time"]) + float(data["RetryDelayInSeconds"])
    return when if when > tx.now else None


def request_missing(
    tx: Tx, worker: str, prof: Mapping[str, Any], requirements: Sequence[Mapping[str, Any]]
) -> tuple[bool, float | None]:
    """Request the qualifications a worker lacks, when a test or auto-grant makes that worth it
    (DESIGN §7). Returns (whether a request was made, when a retry delay ends if that alone
    stops the worker).

    Only HITs the worker can discover count (not ``DiscoverPreviewAndAccept``), and only when
    every unmet requirement is on such a requestable type.
    """
    unmet = [
        r
        for r in requirements
        if not meets(worker_value(tx, prof, worker, str(r["QualificationTypeId"])), r)
    ]
    wanted: list[dict[str, Any]] = []
    wake: float | None = None
    for req in unmet:
        type_id = str(req["QualificationTypeId"])
        if guards(req) == "DiscoverPreviewAndAccept" or type_id in SYSTEM_TYPES:
            return False, None
        data = load_type(tx, type_id)
        if not (data.get("Test") or data.get("AutoGranted")):
            return False, None
        if request_blocker(tx, type_id, worker) is not None:
            retry = _retry_time(tx, type_id, worker, data)
            if retry is None:
                return False, None
            wake = retry if wake is None else max(wake, retry)
            continue
        wanted.append(data)
    if wake is not None:
        return False, wake
    busy_until: float | None = None
    for data in wanted:
        type_id = str(data["QualificationTypeId"])
        answer = None
        if data.get("Test"):
            attempt = tx.one(
                "SELECT COUNT(*) AS n FROM qual_requests WHERE type_id = ? AND worker_id = ?",
                (type_id, worker),
            )
            truth = key_truth(str(data["AnswerKey"])) if data.get("AnswerKey") else None
            tries = attempt["n"] if attempt else 0
            # The crowd answers tests itself: mturkmake_simulate_answer answers HITs (a hook
            # that keys its answers by the HIT's questions would break a test's answer).
            answer = answer_xml(
                tx.seed,
                f"qualification:{type_id}:{tries}",
                str(data["Test"]),
                CrowdWorker(worker, float(prof.get("accuracy", 0.9))),
                truth=truth,
            )
        at = None
        if data.get("Test"):
            # The worker spends a part of TestDurationInSeconds on the test (virtual time),
            # submits it then, and looks for work only afterwards.
            share = 0.2 + 0.6 * ids.fraction(tx.seed, type_id, worker, tries, "test")
            at = tx.now + float(data.get("TestDurationInSeconds") or 0) * share
            busy_until = at if busy_until is None else max(busy_until, at)
        submit_request(tx, type_id, worker, answer, at)
    if busy_until is not None and busy_until > tx.now:
        tx.conn.execute(
            "UPDATE workers SET free_at = MAX(free_at, ?) WHERE id = ?", (busy_until, worker)
        )
        return bool(wanted), busy_until
    return bool(wanted), None
