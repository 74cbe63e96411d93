"""HITs and HIT types: creation, the lifecycle and its counters, expiry, extension, deletion.

A HIT's status is *computed* from its assignments, its expiry and two flags (deleted,
reviewing) rather than stored, so no code path can leave a status and its counters
disagreeing. Money follows the same idea: :func:`reservation` says what a HIT holds now, and
each change settles the difference (money.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mturkmake import fees
from mturkmake.errors import MturkmakeError
from mturkmake.formats.question import ExternalQuestion
from mturkmake.marketplace import ids, layouts, money, notifications, policies, questions
from mturkmake.marketplace.clock import to_epoch, wire_time
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.qualifications import MASTERS_IDS, check_requirements, check_xml
from mturkmake.marketplace.qualifications import load_type as load_qual_type
from mturkmake.marketplace.store import Row, Tx, dumps, loads, page

HIT_MISSING = "AWS.MechanicalTurk.HITDoesNotExist"
BAD_STATE = "AWS.MechanicalTurk.InvalidHITState"
BAD_VALUE = "AWS.MechanicalTurk.InvalidParameterValue"
DEFAULT_AUTO_APPROVAL = 2_592_000  # 30 days, MTurk's default delay
LIVE_STATES = ("Accepted", "Submitted", "Approved", "Rejected")
QUESTION_KINDS = ("QuestionForm", "HTMLQuestion", "ExternalQuestion")


@dataclass(frozen=True)
class Counts:
    """How many of a HIT's assignments are in each state that matters."""

    pending: int = 0
    submitted: int = 0
    approved: int = 0
    rejected: int = 0

    @property
    def taken(self) -> int:
        """Slots not available to new workers."""
        return self.pending + self.submitted + self.approved + self.rejected


@dataclass(frozen=True)
class Hit:
    """A HIT joined with its type's properties."""

    id: str
    hit_type_id: str
    created: float
    expiration: float
    max_assignments: int
    question: str | None
    annotation: str | None
    layout_id: str | None
    extra: dict[str, Any]
    expired: bool
    deleted: bool
    reviewing: bool
    props: dict[str, Any]

    @property
    def masters(self) -> bool:
        """Whether the HIT requires Masters (a higher fee)."""
        return any(
            r.get("QualificationTypeId") in MASTERS_IDS
            for r in self.props.get("QualificationRequirements") or []
        )

    @property
    def slot_cost(self) -> Decimal:
        """Reward plus fee for one assignment."""
        return money.slot_cost(self.props["Reward"], self.max_assignments, masters=self.masters)


def _invalid(message: str) -> RequestError:
    return RequestError(message, BAD_VALUE)


def _range(params: Mapping[str, Any], name: str, low: int, high: int) -> None:
    if name in params and not low <= int(params[name]) <= high:
        raise _invalid(f"{name} must be between {low} and {high}, not {params[name]}.")


# ----------------------------------------------------------------------------- HIT types


def type_props(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """The type-level properties of a request, checked against the documented limits."""
    title, description = str(params["Title"]), str(params["Description"])
    if not 1 <= len(title) <= 128:
        raise _invalid("Title must be between 1 and 128 characters.")
    if not 1 <= len(description) <= 2000:
        raise _invalid("Description must be between 1 and 2000 characters.")
    if len(str(params.get("Keywords") or "")) > 1000:
        raise _invalid("Keywords must be at most 1000 characters.")
    _range(params, "AssignmentDurationInSeconds", 30, 31_536_000)
    _range(params, "AutoApprovalDelayInSeconds", 0, 2_592_000)
    try:
        reward = fees.to_money(str(params["Reward"]))
    except (InvalidOperation, ValueError) as exc:
        raise _invalid(f"Reward '{params['Reward']}' is not an amount in dollars.") from exc
    if reward < 0:
        raise _invalid("Reward must not be negative.")
    requirements = list(params.get("QualificationRequirements") or [])
    check_requirements(tx, requirements)
    props: dict[str, Any] = {
        "Title": title,
        "Description": description,
        "Reward": str(reward),
        "AssignmentDurationInSeconds": int(params["AssignmentDurationInSeconds"]),
        "AutoApprovalDelayInSeconds": int(
            params.get("AutoApprovalDelayInSeconds", DEFAULT_AUTO_APPROVAL)
        ),
        "QualificationRequirements": requirements,
    }
    if params.get("Keywords"):
        props["Keywords"] = str(params["Keywords"])
    return props


def ensure_type(tx: Tx, props: Mapping[str, Any]) -> str:
    """The HITTypeId of ``props``: equal properties give the same id (a hash of them)."""
    type_id = ids.derive(tx.seed, "hittype", ids.canonical(props))
    tx.conn.execute(
        "INSERT OR IGNORE INTO hit_types (id, props, created) VALUES (?, ?, ?)",
        (type_id, dumps(dict(props)), tx.now),
    )
    tx.conn.execute("UPDATE hit_types SET deleted = 0 WHERE id = ?", (type_id,))
    return type_id


def load_type(tx: Tx, type_id: str) -> dict[str, Any]:
    """A live HIT type's properties; RequestError when unknown."""
    row = tx.one("SELECT props FROM hit_types WHERE id = ? AND deleted = 0", (type_id,))
    if row is None:
        raise RequestError(f"HITType {type_id} does not exist.", BAD_VALUE)
    props: dict[str, Any] = loads(row["props"])
    return props


def create_type(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """CreateHITType: an existing type with equal properties is returned, not duplicated."""
    type_id = ensure_type(tx, type_props(tx, params))
    return {"HITTypeId": type_id}


# ----------------------------------------------------------------------------- HITs


#: A HIT type's stored properties never change (its id is a hash of them, so equal ids mean
#: equal properties in any database): each is read and parsed once per process. Readers
#: share the parsed dict and must not change it.
_TYPE_PROPS: dict[str, str] = {}
_PARSED_PROPS: dict[str, dict[str, Any]] = {}
_PROPS_CACHE_SIZE = 4096


def parsed_props(text: str) -> dict[str, Any]:
    """A HIT type's stored properties parsed (cached; shared, so never change the dict)."""
    found = _PARSED_PROPS.get(text)
    if found is None:
        if len(_PARSED_PROPS) >= _PROPS_CACHE_SIZE:
            _PARSED_PROPS.clear()
        found = _PARSED_PROPS[text] = loads(text)
    return found


def props_text(tx: Tx, type_id: str) -> str | None:
    """A HIT type's stored properties (JSON), deleted types included; None when unknown."""
    text = _TYPE_PROPS.get(type_id)
    if text is None:
        found = tx.one("SELECT props FROM hit_types WHERE id = ?", (type_id,))
        if found is None:
            return None
        if len(_TYPE_PROPS) >= _PROPS_CACHE_SIZE:
            _TYPE_PROPS.clear()
        text = _TYPE_PROPS[type_id] = str(found["props"])
    return text


def _hit(tx: Tx, row: Row) -> Hit:
    # listings join the type in (one query, not one per HIT); a Row's `in` tests values
    joined = "type_props" in row.keys()  # noqa: SIM118
    text = row["type_props"] if joined else props_text(tx, row["hit_type_id"])
    return Hit(
        id=row["id"],
        hit_type_id=row["hit_type_id"],
        created=row["created"],
        expiration=row["expiration"],
        max_assignments=row["max_assignments"],
        question=row["question"],
        annotation=row["annotation"],
        layout_id=row["layout_id"],
        extra=loads(row["extra"]),
        expired=bool(row["expired"]),
        deleted=bool(row["deleted"]),
        reviewing=bool(row["reviewing"]),
        props=parsed_props(text) if text else {},
    )


def load_hit(tx: Tx, hit_id: str) -> Hit:
    """A HIT (deleted ones included); RequestError HITDoesNotExist when unknown."""
    row = tx.one("SELECT * FROM hits WHERE id = ?", (hit_id,))
    if row is None:
        raise RequestError(f"Hit {hit_id} does not exist.", HIT_MISSING)
    return _hit(tx, row)


def counts(tx: Tx, hit_ids: Iterable[str] | None = None) -> dict[str, Counts]:
    """Assignment counts per HIT (all HITs, or ``hit_ids``)."""
    tally: dict[str, dict[str, int]] = {}
    if hit_ids is None:
        rows = tx.all("SELECT hit_id, state, COUNT(*) AS n FROM assignments GROUP BY hit_id, state")
    else:
        wanted = list(hit_ids)
        marks = ",".join("?" * len(wanted))
        rows = (
            tx.all(
                f"SELECT hit_id, state, COUNT(*) AS n FROM assignments WHERE hit_id IN "
                f"({marks}) GROUP BY hit_id, state",
                wanted,
            )
            if wanted
            else []
        )
    for row in rows:
        tally.setdefault(row["hit_id"], {})[row["state"]] = row["n"]
    return {
        hit: Counts(
            t.get("Accepted", 0), t.get("Submitted", 0), t.get("Approved", 0), t.get("Rejected", 0)
        )
        for hit, t in tally.items()
    }


def count_of(tx: Tx, hit_id: str) -> Counts:
    """Assignment counts of one HIT."""
    return counts(tx, [hit_id]).get(hit_id, Counts())


def is_expired(hit: Hit, now: float) -> bool:
    """Whether the HIT's lifetime is over (by its expiry event or its time)."""
    return hit.expired or hit.expiration <= now


def available(hit: Hit, c: Counts, now: float) -> int:
    """NumberOfAssignmentsAvailable: open slots of a live HIT."""
    if hit.deleted or is_expired(hit, now):
        return 0
    return max(0, hit.max_assignments - c.taken)


def status(hit: Hit, c: Counts, now: float) -> str:
    """HITStatus from the state (reference §2.1)."""
    if hit.deleted:
        return "Disposed"
    if available(hit, c, now) > 0:
        return "Assignable"
    if c.pending > 0:
        return "Unassignable"
    return "Reviewing" if hit.reviewing else "Reviewable"


def reservation(hit: Hit, c: Counts) -> Decimal:
    """What the HIT holds of the balance: every slot that may still be paid.

    Before expiry that is every slot not yet approved or rejected; after expiry (or deletion)
    only the work accepted or submitted, since unfilled slots can no longer be taken.
    """
    if hit.deleted or hit.expired:
        slots = c.pending + c.submitted
    else:
        slots = max(0, hit.max_assignments - c.approved - c.rejected)
    return slots * hit.slot_cost


@functools.lru_cache(maxsize=1024)
def _group_id(type_id: str) -> str:
    return ids.derive(0, "group", type_id)  # a hash: the same on every render, so cached


def render(hit: Hit, c: Counts, now: float) -> dict[str, Any]:
    """The HIT output structure."""
    props = hit.props
    out: dict[str, Any] = {
        "HITId": hit.id,
        "HITTypeId": hit.hit_type_id,
        "HITGroupId": _group_id(hit.hit_type_id),
        "CreationTime": wire_time(hit.created),
        "Title": props["Title"],
        "Description": props["Description"],
        "Question": hit.question or "",
        "HITStatus": status(hit, c, now),
        "MaxAssignments": hit.max_assignments,
        "Reward": props["Reward"],
        "AutoApprovalDelayInSeconds": props["AutoApprovalDelayInSeconds"],
        "Expiration": wire_time(hit.expiration),
        "AssignmentDurationInSeconds": props["AssignmentDurationInSeconds"],
        "QualificationRequirements": props.get("QualificationRequirements") or [],
        "HITReviewStatus": "NotReviewed",
        "NumberOfAssignmentsPending": c.pending,
        "NumberOfAssignmentsAvailable": available(hit, c, now),
        "NumberOfAssignmentsCompleted": c.approved + c.rejected,
    }
    if props.get("Keywords"):
        out["Keywords"] = props["Keywords"]
    if hit.annotation is not None:
        out["RequesterAnnotation"] = hit.annotation
    if hit.layout_id:
        out["HITLayoutId"] = hit.layout_id
    return out


def _question(tx: Tx, params: Mapping[str, Any]) -> str:
    """The HIT's Question: as given, or its layout merged with HITLayoutParameters; checked."""
    question, layout = params.get("Question"), params.get("HITLayoutId")
    if question is None and layout is None:
        raise _invalid("Either a Question parameter or a HITLayoutId parameter must be provided.")
    if question is not None and layout is not None:
        raise _invalid("Provide either a Question parameter or a HITLayoutId parameter, not both.")
    if layout is not None:
        question = layouts.merge(tx, str(layout), params.get("HITLayoutParameters") or [])
    elif params.get("HITLayoutParameters"):
        raise _invalid("HITLayoutParameters go with a HITLayoutId.")
    text = str(question)
    # The full schema rules (namespaces, required elements, constraints), parsed once per
    # text and shared with the crowd. A question that passes them is well-formed XML of an
    # allowed kind, so check_xml (a second parse) runs only to word a failure as before.
    found = questions.parsed(text)
    if isinstance(found, MturkmakeError):
        check_xml(text, "Question", allowed=QUESTION_KINDS)
        raise RequestError(
            f"The Question is not valid: {found.message}", "AWS.MechanicalTurk.XMLParseError"
        ) from found
    if isinstance(found, ExternalQuestion) and found.scheme == "http" and not tx.allow_http:
        # MTurk shows external pages in an HTTPS frame: it refuses plain HTTP pages.
        raise _invalid(
            f"The ExternalURL '{found.url}' must use HTTPS (this marketplace was served "
            "without --allow-http-external)."
        )
    return text


def create_hit(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """CreateHIT and CreateHITWithHITType: reserve the HIT's maximum cost, then create it."""
    if "HITTypeId" in params:
        type_id = str(params["HITTypeId"])
        props = load_type(tx, type_id)
    else:
        fresh = type_props(tx, params)
        type_id = ensure_type(tx, fresh)
        props = loads(dumps(fresh))  # as stored and read back
    _range(params, "LifetimeInSeconds", 30, 31_536_000)
    _range(params, "MaxAssignments", 1, 1_000_000_000)
    if len(str(params.get("RequesterAnnotation") or "")) > 255:
        raise _invalid("RequesterAnnotation must be at most 255 characters.")
    question = _question(tx, params)
    policies.check_request(params)
    hit_id = ids.derive(tx.seed, "hit", tx.key, tx.occurrence)
    extra = {k: params[k] for k in ("AssignmentReviewPolicy", "HITReviewPolicy") if k in params}
    # The new row is known: build the Hit from it rather than reading it back (and its type).
    hit = Hit(
        id=hit_id,
        hit_type_id=type_id,
        created=tx.now,
        expiration=tx.now + int(params["LifetimeInSeconds"]),
        max_assignments=int(params.get("MaxAssignments", 1)),
        question=question,
        annotation=params.get("RequesterAnnotation"),
        layout_id=params.get("HITLayoutId"),
        extra=extra,
        expired=False,
        deleted=False,
        reviewing=False,
        props=props,
    )
    tx.conn.execute(
        "INSERT INTO hits (id, hit_type_id, created, expiration, max_assignments, question, "
        "annotation, layout_id, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            hit.id,
            type_id,
            hit.created,
            hit.expiration,
            hit.max_assignments,
            hit.question,
            hit.annotation,
            hit.layout_id,
            dumps(extra),
        ),
    )
    money.settle(tx, Decimal(0), reservation(hit, Counts()))
    tx.touch(hit_id)
    notifications.emit(tx, "HITCreated", hit_id)
    tx.log(tx.operation or "CreateHIT", hit_id)
    return {"HIT": render(hit, Counts(), tx.now)}


def get_hit(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetHIT (a deleted HIT shows as Disposed)."""
    hit = load_hit(tx, str(params["HITId"]))
    return {"HIT": render(hit, count_of(tx, hit.id), tx.now)}


def _all_hits(tx: Tx, where: str = "hits.deleted = 0", args: tuple[object, ...] = ()) -> list[Hit]:
    return [
        _hit(tx, r)
        for r in tx.all(
            "SELECT hits.*, hit_types.props AS type_props FROM hits LEFT JOIN hit_types ON "
            f"hit_types.id = hits.hit_type_id WHERE {where} ORDER BY created, hits.id",
            args,
        )
    ]


def _listing(tx: Tx, hits: list[Hit], params: Mapping[str, Any]) -> dict[str, Any]:
    tally = counts(tx)
    return page(hits, params, "HITs", lambda h: render(h, tally.get(h.id, Counts()), tx.now))


def list_hits(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListHITs: every HIT not deleted, oldest first."""
    return _listing(tx, _all_hits(tx), params)


def list_reviewable(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListReviewableHITs: Reviewable (default) or Reviewing HITs, optionally of one type."""
    wanted = params.get("Status") or "Reviewable"
    type_id = params.get("HITTypeId")
    tally = counts(tx)
    chosen = [
        h
        for h in _all_hits(tx)
        if (type_id is None or h.hit_type_id == type_id)
        and status(h, tally.get(h.id, Counts()), tx.now) == wanted
    ]
    return _listing(tx, chosen, params)


def list_for_qualification(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListHITsForQualificationType: live HITs whose type requires the qualification."""
    type_id = str(params["QualificationTypeId"])
    load_qual_type(tx, type_id)
    chosen = [
        h
        for h in _all_hits(tx)
        if any(
            r.get("QualificationTypeId") == type_id
            for r in h.props.get("QualificationRequirements") or []
        )
    ]
    return _listing(tx, chosen, params)


def _live(tx: Tx, hit_id: str) -> Hit:
    hit = load_hit(tx, hit_id)
    if hit.deleted:
        raise RequestError(
            "This HIT is currently in the state 'Disposed'.  This operation can "
            "be called with a status of: Assignable, Unassignable, Reviewable, "
            "Reviewing",
            BAD_STATE,
        )
    return hit


def refresh_full(tx: Tx, hit_id: str) -> None:
    """Recompute the ``full`` flag (every slot taken) that lets the crowd skip full HITs
    through an index; called after every change of slots or assignments."""
    tx.conn.execute(
        "UPDATE hits SET full = (max_assignments <= (SELECT COUNT(*) FROM assignments a WHERE "
        "a.hit_id = hits.id AND a.state IN ('Accepted', 'Submitted', 'Approved', 'Rejected'))) "
        "WHERE id = ?",
        (hit_id,),
    )


def change(tx: Tx, hit: Hit, sql: str, args: tuple[object, ...]) -> Hit:
    """Update a HIT row and settle the change of its reservation."""
    c = count_of(tx, hit.id)
    before = reservation(hit, c)
    tx.conn.execute(f"UPDATE hits SET {sql} WHERE id = ?", (*args, hit.id))
    refresh_full(tx, hit.id)
    after_hit = load_hit(tx, hit.id)
    money.settle(tx, before, reservation(after_hit, c))
    tx.touch(hit.id)
    return after_hit


def expire(tx: Tx, hit: Hit) -> None:
    """The HIT's expiry event: unfilled slots close and their reservation is released."""
    change(tx, hit, "expired = 1, expiration = MIN(expiration, ?)", (tx.now,))
    notifications.emit(tx, "HITExpired", hit.id)


def update_expiration(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateExpirationForHIT: a time in the past (or 0) expires now; a future time extends."""
    hit = _live(tx, str(params["HITId"]))
    raw = params["ExpireAt"]
    # the wire sends epoch seconds; a datetime from a Python caller is accepted as well
    expire_at = to_epoch(raw) if isinstance(raw, datetime) else float(raw)
    if expire_at <= tx.now:
        if not hit.expired:
            expire(tx, hit)
    else:
        change(tx, hit, "expiration = ?, expired = 0, reviewing = 0", (expire_at,))
        notifications.emit(tx, "HITExtended", hit.id)
    tx.log("UpdateExpirationForHIT", hit.id)
    return {}


def add_assignments(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """CreateAdditionalAssignmentsForHIT, with MTurk's rule at 10 assignments."""
    hit = _live(tx, str(params["HITId"]))
    extra = int(params["NumberOfAdditionalAssignments"])
    if extra < 1:
        raise _invalid("NumberOfAdditionalAssignments must be at least 1.")
    total = hit.max_assignments + extra
    if hit.max_assignments < 10 <= total:
        raise RequestError(
            "HITs created with fewer than 10 assignments cannot be extended to have 10 or more "
            f"assignments (HIT {hit.id} has {hit.max_assignments}).",
            "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
        )
    if total > 1_000_000_000:
        raise _invalid("A HIT can have at most 1000000000 assignments.")
    change(tx, hit, "max_assignments = ?, reviewing = 0", (total,))
    notifications.emit(tx, "HITExtended", hit.id)
    tx.log("CreateAdditionalAssignmentsForHIT", hit.id)
    return {}


def delete_hit(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """DeleteHIT: only Reviewable/Reviewing HITs whose submitted work is all decided."""
    hit = load_hit(tx, str(params["HITId"]))
    if hit.deleted:
        return {}
    c = count_of(tx, hit.id)
    state = status(hit, c, tx.now)
    if state not in ("Reviewable", "Reviewing") or c.submitted:
        raise RequestError(
            f"This HIT is currently in the state '{state}'.  This operation can "
            "be called with a status of: Reviewing, Reviewable",
            BAD_STATE,
        )
    change(tx, hit, "deleted = 1", ())
    notifications.emit(tx, "HITDisposed", hit.id)
    tx.log("DeleteHIT", hit.id)
    return {}


def update_review_status(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateHITReviewStatus: Reviewable → Reviewing, or back with Revert."""
    hit = _live(tx, str(params["HITId"]))
    state = status(hit, count_of(tx, hit.id), tx.now)
    revert = bool(params.get("Revert", False))
    needed = "Reviewing" if revert else "Reviewable"
    if state != needed:
        raise RequestError(
            f"This HIT is currently in the state '{state}'.  This operation can "
            f"be called with a status of: {needed}",
            BAD_STATE,
        )
    tx.conn.execute("UPDATE hits SET reviewing = ? WHERE id = ?", (0 if revert else 1, hit.id))
    tx.log("UpdateHITReviewStatus", hit.id)
    return {}


def update_hit_type(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateHITTypeOfHIT: a new reward or Masters requirement re-prices the reservation."""
    hit = _live(tx, str(params["HITId"]))
    type_id = str(params["HITTypeId"])
    load_type(tx, type_id)
    change(tx, hit, "hit_type_id = ?", (type_id,))
    tx.log("UpdateHITTypeOfHIT", hit.id)
    return {}


def all_hits(tx: Tx) -> list[Hit]:
    """Every HIT, deleted ones included, oldest first (status reports, audits)."""
    return _all_hits(tx, "1 = 1")


def total_reservation(tx: Tx) -> Decimal:
    """The sum of every HIT's reservation (the money audit)."""
    tally = counts(tx)
    return sum((reservation(h, tally.get(h.id, Counts())) for h in all_hits(tx)), Decimal("0.00"))
