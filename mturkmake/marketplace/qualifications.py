"""Qualification types, scores, requests and the requirement rules (reference §1.5, §2.5).

Requester-owned types live in ``qual_types``; the system types (Masters, locale, adult,
approval rate, HITs approved) are built in with the sandbox's ids, and crowd workers carry
their system values in their profile.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from mturkmake import fees
from mturkmake.marketplace import ids
from mturkmake.marketplace.clock import wire_time
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Row, Tx, dumps, loads, page

MASTERS_SANDBOX = fees.MASTERS_QUALIFICATION_IDS["sandbox"]
MASTERS_PRODUCTION = fees.MASTERS_QUALIFICATION_IDS["production"]
MASTERS_IDS = frozenset({MASTERS_SANDBOX, MASTERS_PRODUCTION})
NUMBER_HITS_APPROVED = "00000000000000000040"
LOCALE = "00000000000000000071"
ADULT = "00000000000000000060"
PERCENT_APPROVED = "000000000000000000L0"

#: System types: id → (name, description). Their values come from the worker profile.
SYSTEM_TYPES: dict[str, tuple[str, str]] = {
    MASTERS_SANDBOX: ("Masters", "Workers who have demonstrated excellence (sandbox)."),
    NUMBER_HITS_APPROVED: (
        "Worker_NumberHITsApproved",
        "Number of HITs the Worker has had approved.",
    ),
    LOCALE: ("Worker_Locale", "The Worker's location (ISO 3166 country, ISO 3166-2 subdivision)."),
    ADULT: ("Worker_Adult", "The Worker agreed to see adult content."),
    PERCENT_APPROVED: (
        "Worker_PercentAssignmentsApproved",
        "Percentage of the Worker's submitted assignments that were approved.",
    ),
}
SYSTEM_CREATED = 1325376000.0  # 2012-01-01: the system types predate any local HIT

#: The CLT samples' custom types (site_filter), pre-created as requester-owned (DESIGN §7).
CLT_SAMPLE_TYPES = {
    "HZKZ76XYF0SZ0GHSMYYZ": "CLT sample: qualified to identify adult websites",
    "N8T00NZSX9J0SHYQBWW0": "CLT sample: qualified to identify adult websites (sandbox)",
}

INTEGER_COMPARATORS = {
    "LessThan",
    "LessThanOrEqualTo",
    "GreaterThan",
    "GreaterThanOrEqualTo",
    "EqualTo",
    "NotEqualTo",
}
LOCALE_COMPARATORS = {"EqualTo", "NotEqualTo", "In", "NotIn"}
TYPE_MISSING = "AWS.MechanicalTurk.QualificationTypeDoesNotExist"
BAD_VALUE = "AWS.MechanicalTurk.InvalidParameterValue"


def _invalid(message: str) -> RequestError:
    return RequestError(message, BAD_VALUE)


# ----------------------------------------------------------------------------- XML

MAX_XML_BYTES = 65_535


def _local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def parse_xml(text: str, field: str) -> ET.Element:
    """``text`` parsed safely (defusedxml); RequestError XMLParseError when it is not XML."""
    if len(text.encode("utf-8")) > MAX_XML_BYTES:
        raise _invalid(f"{field} must be at most {MAX_XML_BYTES} bytes.")
    try:
        root: ET.Element = fromstring(text, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise RequestError(
            f"The {field} is not well-formed XML: {exc}", "AWS.MechanicalTurk.XMLParseError"
        ) from exc
    return root


def check_xml(text: str, field: str, *, allowed: Sequence[str]) -> str:
    """Parse ``text`` and check its root element; returns the root's local name."""
    name = _local(parse_xml(text, field))
    if name not in allowed:
        raise RequestError(
            f"The {field} must be one of {', '.join(allowed)}, not <{name}>.",
            "AWS.MechanicalTurk.XMLParseError",
        )
    return name


def _texts(element: ET.Element, name: str) -> list[str]:
    return [(e.text or "").strip() for e in element.iter() if _local(e) == name]


def grade(answer_key: str, answer: str) -> int:
    """The qualification value an AnswerKey gives a test answer (QuestionFormAnswers).

    Each question scores the AnswerScore of the option whose SelectionIdentifiers equal the
    chosen ones (else its DefaultScore); the sum maps through PercentageMapping, ScaleMapping
    or RangeMapping when the key has one.
    """
    key, given = parse_xml(answer_key, "AnswerKey"), parse_xml(answer, "Answer")
    chosen: dict[str, set[str]] = {}
    for element in given:
        if _local(element) == "Answer":
            qid = (_texts(element, "QuestionIdentifier") or [""])[0]
            chosen[qid] = set(_texts(element, "SelectionIdentifier")) | set(
                _texts(element, "FreeText")
            )
    total = 0
    for question in (e for e in key if _local(e) == "Question"):
        qid = (_texts(question, "QuestionIdentifier") or [""])[0]
        score = int((_texts(question, "DefaultScore") or ["0"])[0] or 0)
        for option in (e for e in question if _local(e) == "AnswerOption"):
            if set(_texts(option, "SelectionIdentifier")) == chosen.get(qid, set()):
                score = int((_texts(option, "AnswerScore") or ["0"])[0] or 0)
        total += score
    maximum = _texts(key, "MaximumSummedScore")
    if maximum and int(maximum[0]) > 0:
        return round(total * 100 / int(maximum[0]))
    multiplier = _texts(key, "SummedScoreMultiplier")
    if multiplier:
        return round(total * float(multiplier[0]))
    ranges = [e for e in key.iter() if _local(e) == "SummedScoreRange"]
    for bracket in ranges:
        low = int(_texts(bracket, "InclusiveLowerBound")[0])
        high = int(_texts(bracket, "InclusiveUpperBound")[0])
        if low <= total <= high:
            return int(_texts(bracket, "QualificationValue")[0])
    if ranges:
        return int((_texts(key, "OutOfRangeQualificationValue") or ["0"])[0])
    return total


def key_truth(answer_key: str) -> dict[str, list[str]]:
    """The best-scoring answer of each question of an AnswerKey (what a careful worker picks)."""
    key = parse_xml(answer_key, "AnswerKey")
    best: dict[str, list[str]] = {}
    for question in (e for e in key if _local(e) == "Question"):
        qid = (_texts(question, "QuestionIdentifier") or [""])[0]
        options = [
            (int((_texts(o, "AnswerScore") or ["0"])[0] or 0), _texts(o, "SelectionIdentifier"))
            for o in question
            if _local(o) == "AnswerOption"
        ]
        if options:
            best[qid] = max(options, key=lambda option: option[0])[1]
    return best


# ----------------------------------------------------------------------------- types


def load_type(tx: Tx, type_id: str) -> dict[str, Any]:
    """A type's stored record (system types included); RequestError when unknown or deleted."""
    if type_id in SYSTEM_TYPES:
        name, description = SYSTEM_TYPES[type_id]
        return {
            "QualificationTypeId": type_id,
            "Name": name,
            "Description": description,
            "QualificationTypeStatus": "Active",
            "CreationTime": SYSTEM_CREATED,
            "system": True,
        }
    row = tx.one("SELECT * FROM qual_types WHERE id = ? AND deleted = 0", (type_id,))
    if row is None:
        raise RequestError(f"QualificationType {type_id} does not exist.", TYPE_MISSING)
    data: dict[str, Any] = loads(row["data"])
    data.update(QualificationTypeId=row["id"], Name=row["name"], CreationTime=row["created"])
    return data


def render_type(data: Mapping[str, Any]) -> dict[str, Any]:
    """A QualificationType output structure."""
    system = bool(data.get("system"))
    out: dict[str, Any] = {
        "QualificationTypeId": data["QualificationTypeId"],
        "CreationTime": wire_time(float(data["CreationTime"])),
        "Name": data["Name"],
        "Description": data["Description"],
        "QualificationTypeStatus": data["QualificationTypeStatus"],
        "IsRequestable": (not system) and data["QualificationTypeStatus"] == "Active",
        "AutoGranted": bool(data.get("AutoGranted", False)),
    }
    for key in ("Keywords", "Test", "AnswerKey", "TestDurationInSeconds", "RetryDelayInSeconds"):
        if data.get(key) is not None:
            out[key] = data[key]
    if out["AutoGranted"]:
        out["AutoGrantedValue"] = int(data.get("AutoGrantedValue", 1))
    return out


def _check_type_fields(data: Mapping[str, Any]) -> None:
    if len(str(data.get("Description", ""))) > 2000:
        raise _invalid("Description must be at most 2000 characters.")
    if len(str(data.get("Keywords") or "")) > 1000:
        raise _invalid("Keywords must be at most 1000 characters.")
    test = data.get("Test")
    if test is not None:
        check_xml(test, "Test", allowed=("QuestionForm",))
        if data.get("TestDurationInSeconds") is None:
            raise _invalid("TestDurationInSeconds is required when a Test is given.")
        if data.get("AutoGranted"):
            raise _invalid("A QualificationType with a Test cannot be AutoGranted.")
    if test is None and data.get("TestDurationInSeconds") is not None:
        raise _invalid("TestDurationInSeconds can only be given with a Test.")
    if data.get("AnswerKey") is not None:
        if test is None:
            raise _invalid("An AnswerKey needs a Test.")
        check_xml(data["AnswerKey"], "AnswerKey", allowed=("AnswerKey",))


def create_type(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """CreateQualificationType: names are unique among the requester's live types."""
    name = str(params["Name"])
    if tx.one("SELECT 1 FROM qual_types WHERE name = ? AND deleted = 0", (name,)):
        raise RequestError(
            "You have already created a QualificationType with this name. A QualificationType's "
            "name must be unique among all of the QualificationTypes created by the same user.",
            "AWS.MechanicalTurk.QualificationTypeAlreadyExists",
        )
    data = {
        k: params[k]
        for k in (
            "Description",
            "QualificationTypeStatus",
            "Keywords",
            "RetryDelayInSeconds",
            "Test",
            "AnswerKey",
            "TestDurationInSeconds",
            "AutoGranted",
            "AutoGrantedValue",
        )
        if k in params
    }
    _check_type_fields(data)
    type_id = ids.derive(tx.seed, "qualtype", tx.key, tx.occurrence)
    insert_type(tx, type_id, name, data)
    tx.log("CreateQualificationType", type_id)
    return {"QualificationType": render_type(load_type(tx, type_id))}


def insert_type(tx: Tx, type_id: str, name: str, data: Mapping[str, Any]) -> None:
    """Store a new requester-owned type."""
    tx.conn.execute(
        "INSERT INTO qual_types (id, name, created, data) VALUES (?, ?, ?, ?)",
        (type_id, name, tx.now, dumps(dict(data))),
    )


def update_type(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateQualificationType: a test cannot be removed, AutoGranted excludes a test."""
    data = _owned(tx, str(params["QualificationTypeId"]))
    for key in (
        "Description",
        "QualificationTypeStatus",
        "Test",
        "AnswerKey",
        "TestDurationInSeconds",
        "RetryDelayInSeconds",
        "AutoGranted",
        "AutoGrantedValue",
    ):
        if key in params:
            data[key] = params[key]
    _check_type_fields(data)
    stored = {
        k: v for k, v in data.items() if k not in ("QualificationTypeId", "Name", "CreationTime")
    }
    tx.conn.execute(
        "UPDATE qual_types SET data = ? WHERE id = ?", (dumps(stored), data["QualificationTypeId"])
    )
    tx.log("UpdateQualificationType", data["QualificationTypeId"])
    return {"QualificationType": render_type(load_type(tx, data["QualificationTypeId"]))}


def _owned(tx: Tx, type_id: str) -> dict[str, Any]:
    data = load_type(tx, type_id)
    if data.get("system"):
        raise RequestError(
            f"You do not own QualificationType {type_id}.", "AWS.MechanicalTurk.PermissionDenied"
        )
    return data


def delete_type(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """DeleteQualificationType: also deletes the HIT types that require it."""
    type_id = str(params["QualificationTypeId"])
    _owned(tx, type_id)
    tx.conn.execute("UPDATE qual_types SET deleted = 1 WHERE id = ?", (type_id,))
    for row in tx.all("SELECT id, props FROM hit_types WHERE deleted = 0"):
        requirements = loads(row["props"]).get("QualificationRequirements") or []
        if any(r.get("QualificationTypeId") == type_id for r in requirements):
            tx.conn.execute("UPDATE hit_types SET deleted = 1 WHERE id = ?", (row["id"],))
    tx.log("DeleteQualificationType", type_id)
    return {}


def get_type(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetQualificationType."""
    return {"QualificationType": render_type(load_type(tx, str(params["QualificationTypeId"])))}


def list_types(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListQualificationTypes: Query matches name, description or keywords (case-insensitive)."""
    records = (
        [load_type(tx, t) for t in SYSTEM_TYPES] if not params.get("MustBeOwnedByCaller") else []
    )
    records += [
        load_type(tx, r["id"])
        for r in tx.all("SELECT id FROM qual_types WHERE deleted = 0 ORDER BY created, id")
    ]
    query = str(params.get("Query") or "").lower()
    chosen = []
    for data in records:
        shown = render_type(data)
        if params.get("MustBeRequestable") and not shown["IsRequestable"]:
            continue
        text = " ".join(str(data.get(k) or "") for k in ("Name", "Description", "Keywords"))
        if query and query not in text.lower():
            continue
        chosen.append(shown)
    return page(chosen, params, "QualificationTypes", dict)


# ----------------------------------------------------------------------------- scores


def render_qualification(row: Row) -> dict[str, Any]:
    """A Qualification output structure."""
    out: dict[str, Any] = {
        "QualificationTypeId": row["type_id"],
        "WorkerId": row["worker_id"],
        "GrantTime": wire_time(row["grant_time"]),
        "Status": row["status"],
    }
    if row["locale"]:
        out["LocaleValue"] = loads(row["locale"])
    else:
        out["IntegerValue"] = row["value"]
    return out


def grant(tx: Tx, type_id: str, worker_id: str, value: int, at: float | None = None) -> None:
    """Grant (or re-grant, or change the value of) a worker's qualification (at ``at``,
    default now)."""
    tx.conn.execute(
        "INSERT INTO quals (type_id, worker_id, value, status, grant_time) "
        "VALUES (?, ?, ?, 'Granted', ?) ON CONFLICT (type_id, worker_id) DO UPDATE SET "
        "value = excluded.value, status = 'Granted', grant_time = excluded.grant_time",
        (type_id, worker_id, value, tx.now if at is None else at),
    )


def associate(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """AssociateQualificationWithWorker: on a current holder, sets the new value."""
    type_id, worker = str(params["QualificationTypeId"]), str(params["WorkerId"])
    _owned(tx, type_id)
    grant(tx, type_id, worker, int(params.get("IntegerValue", 1)))
    tx.log("AssociateQualificationWithWorker", f"{type_id}/{worker}")
    return {}


def disassociate(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """DisassociateQualificationFromWorker: the qualification becomes Revoked."""
    type_id, worker = str(params["QualificationTypeId"]), str(params["WorkerId"])
    _owned(tx, type_id)
    row = tx.one("SELECT status FROM quals WHERE type_id = ? AND worker_id = ?", (type_id, worker))
    if row is None or row["status"] != "Granted":
        raise RequestError(
            f"You requested a Qualification that does not exist: worker {worker} "
            f"holds no QualificationType {type_id}.",
            "AWS.MechanicalTurk.QualificationDoesNotExist",
        )
    tx.conn.execute(
        "UPDATE quals SET status = 'Revoked' WHERE type_id = ? AND worker_id = ?", (type_id, worker)
    )
    tx.log("DisassociateQualificationFromWorker", f"{type_id}/{worker}")
    return {}


def get_score(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetQualificationScore: only a Granted qualification has a score."""
    type_id, worker = str(params["QualificationTypeId"]), str(params["WorkerId"])
    load_type(tx, type_id)
    row = tx.one("SELECT * FROM quals WHERE type_id = ? AND worker_id = ?", (type_id, worker))
    if row is None:
        raise RequestError(
            f"You requested a Qualification that does not exist: worker {worker}, "
            f"QualificationType {type_id}.",
            "AWS.MechanicalTurk.QualificationDoesNotExist",
        )
    if row["status"] != "Granted":
        raise RequestError(
            f"This Qualification is currently in the state '{row['status']}'.  "
            "This operation can be called with a status of: Granted",
            "AWS.MechanicalTurk.InvalidQualificationState",
        )
    return {"Qualification": render_qualification(row)}


def list_workers(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListWorkersWithQualificationType, optionally by Status."""
    type_id = str(params["QualificationTypeId"])
    load_type(tx, type_id)
    rows = tx.all(
        "SELECT * FROM quals WHERE type_id = ? ORDER BY grant_time, worker_id", (type_id,)
    )
    status = params.get("Status")
    chosen = [r for r in rows if status is None or r["status"] == status]
    return page(chosen, params, "Qualifications", render_qualification)


# ----------------------------------------------------------------------------- requests


def render_request(row: Row) -> dict[str, Any]:
    """A QualificationRequest output structure."""
    out: dict[str, Any] = {
        "QualificationRequestId": row["id"],
        "QualificationTypeId": row["type_id"],
        "WorkerId": row["worker_id"],
        "SubmitTime": wire_time(row["submit_time"]),
    }
    if row["test"]:
        out["Test"] = row["test"]
    if row["answer"]:
        out["Answer"] = row["answer"]
    return out


def request_blocker(tx: Tx, type_id: str, worker: str) -> RequestError | None:
    """Why ``worker`` may not request ``type_id`` now (retake rules), or None."""
    data = load_type(tx, type_id)
    if data.get("system") or data["QualificationTypeStatus"] != "Active":
        return RequestError(
            f"QualificationType {type_id} is not requestable.",
            "AWS.MechanicalTurk.InvalidQualificationTypeState",
        )
    held = tx.one("SELECT status FROM quals WHERE type_id = ? AND worker_id = ?", (type_id, worker))
    # A test graded by its AnswerKey may be retaken after the retry delay to improve the score.
    retake = bool(
        data.get("Test") and data.get("AnswerKey") and data.get("RetryDelayInSeconds") is not None
    )
    if held is not None and held["status"] == "Granted" and not retake:
        return RequestError(
            "You already have this Qualification.", "AWS.MechanicalTurk.QualificationAlreadyExists"
        )
    last = tx.one(
        "SELECT submit_time, state FROM qual_requests WHERE type_id = ? AND "
        "worker_id = ? ORDER BY submit_time DESC LIMIT 1",
        (type_id, worker),
    )
    if last is None:
        return None
    if last["state"] == "Pending":
        return RequestError(
            "A request for this Qualification is already pending.",
            "AWS.MechanicalTurk.InvalidQualificationRequestState",
        )
    delay = data.get("RetryDelayInSeconds")
    if delay is None:
        return RequestError(
            "This Qualification does not allow retakes.",
            "AWS.MechanicalTurk.QualificationTypeDoesNotAllowRetake",
        )
    if last["submit_time"] + float(delay) > tx.now:
        return RequestError(
            "The retry delay of this Qualification has not elapsed.",
            "AWS.MechanicalTurk.QualificationTypeRetryDelayNotElapsed",
        )
    return None


def submit_request(
    tx: Tx, type_id: str, worker: str, answer: str | None, at: float | None = None
) -> str:
    """A worker requests a qualification (the crowd's call; there is no worker API).

    Auto-granted types grant at once; a test with an answer key is graded at once; otherwise
    the request waits for Accept/RejectQualificationRequest.

    :param at: when the request is submitted (default now; later when the simulated worker
        spends time on the test first).
    """
    when = tx.now if at is None else at
    blocker = request_blocker(tx, type_id, worker)
    if blocker is not None:
        raise blocker
    data = load_type(tx, type_id)
    count = tx.one(
        "SELECT COUNT(*) AS n FROM qual_requests WHERE type_id = ? AND worker_id = ?",
        (type_id, worker),
    )
    request_id = ids.derive(tx.seed, "qualrequest", type_id, worker, count["n"] if count else 0)
    state = "Pending"
    if data.get("AutoGranted"):
        grant(tx, type_id, worker, int(data.get("AutoGrantedValue", 1)), when)
        state = "Granted"
    elif data.get("AnswerKey") and answer is not None:
        grant(tx, type_id, worker, grade(str(data["AnswerKey"]), answer), when)
        state = "Granted"
    tx.conn.execute(
        "INSERT INTO qual_requests (id, type_id, worker_id, test, answer, submit_time, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (request_id, type_id, worker, data.get("Test"), answer, when, state),
    )
    return request_id


def list_requests(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListQualificationRequests: the pending requests for the requester's types."""
    type_id = params.get("QualificationTypeId")
    if type_id is not None:
        load_type(tx, str(type_id))
    rows = tx.all(
        "SELECT * FROM qual_requests WHERE state = 'Pending' AND (? IS NULL OR "
        "type_id = ?) ORDER BY submit_time, id",
        (type_id, type_id),
    )
    return page(rows, params, "QualificationRequests", render_request)


def _pending_request(tx: Tx, request_id: str) -> Row:
    row = tx.one("SELECT * FROM qual_requests WHERE id = ?", (request_id,))
    if row is None:
        raise RequestError(
            f"QualificationRequest {request_id} does not exist.",
            "AWS.MechanicalTurk.QualificationRequestDoesNotExist",
        )
    if row["state"] != "Pending":
        raise RequestError(
            f"This QualificationRequest is currently in the state '{row['state']}'."
            "  This operation can be called with a status of: Pending",
            "AWS.MechanicalTurk.InvalidQualificationRequestState",
        )
    return row


def accept_request(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """AcceptQualificationRequest: grants with IntegerValue (default 1)."""
    row = _pending_request(tx, str(params["QualificationRequestId"]))
    grant(tx, row["type_id"], row["worker_id"], int(params.get("IntegerValue", 1)))
    tx.conn.execute("UPDATE qual_requests SET state = 'Granted' WHERE id = ?", (row["id"],))
    tx.log("AcceptQualificationRequest", row["id"])
    return {}


def reject_request(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """RejectQualificationRequest."""
    row = _pending_request(tx, str(params["QualificationRequestId"]))
    tx.conn.execute("UPDATE qual_requests SET state = 'Rejected' WHERE id = ?", (row["id"],))
    tx.log("RejectQualificationRequest", row["id"])
    return {}


# ----------------------------------------------------------------------------- requirements


def check_requirements(tx: Tx, requirements: Sequence[Mapping[str, Any]]) -> None:
    """The documented rules on QualificationRequirements (CreateHIT, CreateHITType)."""
    if len(requirements) > 10:
        raise _invalid("A HIT can have between zero and ten QualificationRequirements.")
    for number, req in enumerate(requirements, start=1):
        type_id, comparator = str(req["QualificationTypeId"]), str(req["Comparator"])
        where = f"QualificationRequirement {number} ({type_id})"
        if load_type(tx, type_id)["QualificationTypeStatus"] != "Active":
            # MTurk: a HIT cannot require a qualification workers can no longer get.
            raise RequestError(
                f"{where}: QualificationType {type_id} is Inactive; make it Active "
                "(UpdateQualificationType) before a HIT requires it.",
                "AWS.MechanicalTurk.InvalidQualificationTypeState",
            )
        integers, locales = req.get("IntegerValues") or [], req.get("LocaleValues") or []
        if integers and locales:
            raise _invalid(f"{where}: give IntegerValues or LocaleValues, not both.")
        if comparator in ("Exists", "DoesNotExist"):
            if integers or locales:
                raise _invalid(f"{where}: {comparator} takes no value.")
        elif locales:
            if type_id != LOCALE or comparator not in LOCALE_COMPARATORS:
                raise _invalid(
                    f"{where}: LocaleValues only go with Worker_Locale "
                    f"({LOCALE}) and EqualTo, NotEqualTo, In or NotIn."
                )
        elif type_id == LOCALE:
            raise _invalid(f"{where}: Worker_Locale needs LocaleValues.")
        if comparator in INTEGER_COMPARATORS and len(integers) + len(locales) != 1:
            raise _invalid(f"{where}: {comparator} takes exactly one value.")
        if comparator in ("In", "NotIn"):
            if not integers and not locales:
                raise _invalid(f"{where}: {comparator} needs at least one value.")
            if len(integers) > 15 or len(locales) > 30:
                raise _invalid(
                    f"{where}: In/NotIn take at most 15 IntegerValues or 30 LocaleValues."
                )
        if req.get("ActionsGuarded") and "RequiredToPreview" in req:
            raise _invalid(f"{where}: ActionsGuarded cannot be combined with RequiredToPreview.")
