"""Notifications: UpdateNotificationSettings, SendTestEventNotification and the event log.

MTurk sends a message to an e-mail address, an SQS queue or an SNS topic for every event of a
type a HIT type subscribes to. The local marketplace never uses the network, so it appends each
message, in MTurk's notification format, to the ``event_log`` table instead
(``mturkmake marketplace events`` prints it).

A message (one per event, as MTurk's SQS/SNS deliveries)::

    {"EventDocId": "…", "SourceAccount": "…", "CustomerId": "…", "EventDocVersion": "2014-08-15",
     "Events": [{"EventType": "AssignmentSubmitted", "EventTimestamp": "2026-01-01T00:01:40Z",
                 "HITId": "…", "AssignmentId": "…", "HITTypeId": "…"}]}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mturkmake.marketplace import ids
from mturkmake.marketplace.clock import from_epoch
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Row, Tx, dumps, loads

BAD_VALUE = "AWS.MechanicalTurk.InvalidParameterValue"
VERSION = "2006-05-05"  # the only NotificationSpecification Version MTurk accepts
EVENT_DOC_VERSION = "2014-08-15"  # what MTurk's messages carry
EVENT_TYPES = (
    "AssignmentAccepted",
    "AssignmentAbandoned",
    "AssignmentReturned",
    "AssignmentSubmitted",
    "AssignmentRejected",
    "AssignmentApproved",
    "HITCreated",
    "HITExpired",
    "HITReviewable",
    "HITExtended",
    "HITDisposed",
    "Ping",
)
# Destinations per transport, as MTurk documents them: an e-mail address, an SQS queue URL
# (https://sqs.<region>.amazonaws.com/<account>/<queue>), an SNS topic ARN.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SQS = re.compile(
    r"^https://sqs\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$"
)
_SNS = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_DESTINATIONS = {
    "Email": (_EMAIL, "an e-mail address"),
    "SQS": (_SQS, "an SQS queue URL (https://sqs.us-east-1.amazonaws.com/123456789012/queue)"),
    "SNS": (_SNS, "an SNS topic ARN (arn:aws:sns:us-east-1:123456789012:topic)"),
}


def check(spec: Mapping[str, Any], *, test: bool) -> None:
    """A NotificationSpecification as MTurk checks it: Version, EventTypes, Destination per
    Transport; ``Ping`` only in SendTestEventNotification."""
    if spec.get("Version") != VERSION:
        raise RequestError(
            f"Notification Version must be {VERSION}, not '{spec.get('Version')}'.", BAD_VALUE
        )
    events = list(spec.get("EventTypes") or [])
    if not events:
        raise RequestError("A Notification needs at least one EventType.", BAD_VALUE)
    if "Ping" in events and not test:
        raise RequestError("The Ping event type is only for SendTestEventNotification.", BAD_VALUE)
    transport = str(spec.get("Transport"))
    pattern, what = _DESTINATIONS.get(transport, (None, ""))
    if pattern is None:
        raise RequestError(f"Unknown Transport '{transport}'.", BAD_VALUE)
    destination = str(spec.get("Destination") or "")
    if not pattern.match(destination):
        raise RequestError(
            f"The Destination '{destination}' is not valid for the {transport} transport: "
            f"give {what}.",
            BAD_VALUE,
        )


def update_settings(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateNotificationSettings: the HIT type's subscription, active or not."""
    type_id = str(params["HITTypeId"])
    if tx.one("SELECT 1 FROM hit_types WHERE id = ? AND deleted = 0", (type_id,)) is None:
        raise RequestError(f"HITType {type_id} does not exist.", BAD_VALUE)
    if "Notification" not in params and "Active" not in params:
        raise RequestError("Either Notification or Active must be given.", BAD_VALUE)
    if "Notification" in params:
        check(params["Notification"], test=False)
        tx.conn.execute(
            "UPDATE hit_types SET notification = ?, active = 1 WHERE id = ?",
            (dumps(params["Notification"]), type_id),
        )
    if "Active" in params:
        row = tx.one("SELECT notification FROM hit_types WHERE id = ?", (type_id,))
        if params["Active"] and (row is None or row["notification"] is None):
            raise RequestError(f"HIT type {type_id} has no notification to activate.", BAD_VALUE)
        tx.conn.execute(
            "UPDATE hit_types SET active = ? WHERE id = ?", (1 if params["Active"] else 0, type_id)
        )
    tx.log("UpdateNotificationSettings", type_id)
    return {}


def send_test(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """SendTestEventNotification: one message of ``TestEventType`` to the given destination
    (logged, never sent)."""
    spec = params["Notification"]
    check(spec, test=True)
    event_type = str(params["TestEventType"])
    if event_type not in EVENT_TYPES:
        raise RequestError(f"Unknown TestEventType {event_type}.", BAD_VALUE)
    _append(tx, "", spec, {"EventType": event_type, "EventTimestamp": _time(tx.now)})
    return {}


def emit(tx: Tx, event_type: str, hit_id: str, assignment_id: str | None = None) -> None:
    """Log ``event_type`` of ``hit_id`` when its HIT type has an active subscription to it."""
    row = tx.one(
        "SELECT t.id, t.notification FROM hits h JOIN hit_types t ON t.id = h.hit_type_id "
        "WHERE h.id = ? AND t.active = 1 AND t.notification IS NOT NULL",
        (hit_id,),
    )
    if row is None:
        return
    spec: dict[str, Any] = loads(row["notification"])
    if event_type not in (spec.get("EventTypes") or []):
        return
    event: dict[str, Any] = {
        "EventType": event_type,
        "EventTimestamp": _time(tx.now),
        "HITId": hit_id,
    }
    if assignment_id is not None:
        event["AssignmentId"] = assignment_id
    event["HITTypeId"] = row["id"]
    _append(tx, row["id"], spec, event)


def _append(tx: Tx, type_id: str, spec: Mapping[str, Any], event: dict[str, Any]) -> None:
    count = tx.one("SELECT COUNT(*) AS n FROM event_log")
    account = requester_id(tx.seed)
    message = {
        "EventDocId": ids.derive(tx.seed, "eventdoc", count["n"] if count else 0, dumps(event)),
        "SourceAccount": account,
        "CustomerId": account,
        "EventDocVersion": EVENT_DOC_VERSION,
        "Events": [event],
    }
    tx.conn.execute(
        "INSERT INTO event_log (hit_type_id, event_type, destination, transport, message, time) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            type_id,
            event["EventType"],
            str(spec.get("Destination")),
            str(spec.get("Transport")),
            json.dumps(message, separators=(",", ":")),
            tx.now,
        ),
    )


def requester_id(seed: int) -> str:
    """The local requester's account id (``A`` + 13 of ``[A-Z0-9]``, as a customer id)."""
    return "A" + ids.derive(seed, "requester", length=13)


def _time(epoch: float) -> str:
    return from_epoch(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(row: Row) -> dict[str, Any]:
    """An event-log entry: sequence number, transport, destination and the message."""
    return {
        "seq": row["seq"],
        "transport": row["transport"],
        "destination": row["destination"],
        "message": json.loads(row["message"]),
    }


def log_after(tx: Tx, seq: int = 0) -> list[dict[str, Any]]:
    """Every logged message after sequence number ``seq``, oldest first."""
    return [render(r) for r in tx.all("SELECT * FROM event_log WHERE seq > ? ORDER BY seq", (seq,))]
