"""The minimal, deterministic stand-in crowd (the next issue replaces and extends it).

Workers are simulated as sequential agents: a free worker accepts the oldest open HIT it
qualifies for (one assignment per worker per HIT), works 20–50 virtual seconds, submits a valid
answer, rests 2–8 seconds, and looks again — about 1,800 assignments per virtual hour for the
default 20 workers. Every choice derives from (seed, HITId, WorkerId), never from call order.

The marketplace's clock calls :func:`next_event` and :func:`play` in time order; the events
are: a submission, an abandonment (work past its deadline), an auto-approval, a HIT's
expiry, and an acceptance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mturkmake.errors import MturkmakeError
from mturkmake.formats.answers import Answer, build_answers
from mturkmake.formats.question import (
    FileUploadSpec,
    FreeTextSpec,
    HTMLQuestion,
    QuestionForm,
    SelectionSpec,
    parse_question,
)
from mturkmake.marketplace import assignments, hits, ids
from mturkmake.marketplace.qualifications import (
    ADULT,
    CLT_SAMPLE_TYPES,
    LOCALE,
    NUMBER_HITS_APPROVED,
    PERCENT_APPROVED,
    SYSTEM_TYPES,
    grant,
    key_truth,
    load_type,
    request_blocker,
    submit_request,
)
from mturkmake.marketplace.store import Tx, dumps, loads

AnswerFn = Callable[..., "Mapping[str, object] | None"]
SUBDIVISIONS = ("CA", "NY", "TX", "WA", "FL", "IL", "PA", "OH", "GA", "NC")
#: Event kinds, in the order they play when due at the same instant.
KINDS = ("submit", "abandon", "approve", "expire", "accept")


@dataclass(frozen=True)
class CrowdWorker:
    """A simulated worker as answer functions see it.

    :param accuracy: the chance of giving the true answer when the HIT has one.
    :param qualifications: system and granted qualification values by type id.
    """

    id: str
    accuracy: float
    qualifications: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """One due event: when, what, and on which subject (assignment, HIT or worker id)."""

    time: float
    kind: str
    subject: str
    detail: str = ""

    @property
    def order(self) -> tuple[float, int, str]:
        """Sort key: time, then kind priority, then subject (deterministic ties)."""
        return (self.time, KINDS.index(self.kind), self.subject)


def profile(seed: int, index: int) -> dict[str, Any]:
    """A worker's stored profile: system qualification values and accuracy (DESIGN §7)."""
    worker = ids.worker_id(seed, index)
    pick = ids.fraction(seed, worker, "profile")
    return {
        "accuracy": round(0.7 + 0.3 * ids.fraction(seed, worker, "accuracy"), 3),
        "system": {
            NUMBER_HITS_APPROVED: 1000 + int(9000 * pick),
            LOCALE: {"Country": "US", "Subdivision": SUBDIVISIONS[int(pick * 10) % 10]},
            ADULT: 1,
            PERCENT_APPROVED: 95 + int(6 * ids.fraction(seed, worker, "rate")) % 6,
        },
    }


def initialise(tx: Tx, workers: int, start: float) -> None:
    """Create the crowd; three in four workers hold the CLT samples' qualifications at 100."""
    for index in range(workers):
        worker = ids.worker_id(tx.seed, index)
        tx.conn.execute("INSERT INTO workers (id, idx, free_at, profile) VALUES (?, ?, ?, ?)",
                        (worker, index, start, dumps(profile(tx.seed, index))))
        if ids.fraction(tx.seed, worker, "clt-sample") < 0.75:
            for type_id in CLT_SAMPLE_TYPES:
                grant(tx, type_id, worker, 100)


# ----------------------------------------------------------------------------- requirements


def worker_value(tx: Tx, profile: Mapping[str, Any] | None, worker: str, type_id: str
                 ) -> int | dict[str, str] | None:
    """The worker's value for a type (a locale for Worker_Locale), None when not held."""
    if type_id in SYSTEM_TYPES:
        if profile is None:
            return None
        value: int | dict[str, str] | None = profile.get("system", {}).get(type_id)
        return value
    row = tx.one("SELECT value FROM quals WHERE type_id = ? AND worker_id = ? AND "
                 "status = 'Granted'", (type_id, worker))
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
        hits = [_locale_match(value, w) for w in req.get("LocaleValues") or []]
        return any(hits) if comparator in ("EqualTo", "In") else not any(hits)
    numbers = [int(v) for v in req.get("IntegerValues") or []]
    if comparator == "In":
        return value in numbers
    if comparator == "NotIn":
        return value not in numbers
    target = numbers[0] if numbers else 0
    return {"LessThan": value < target, "LessThanOrEqualTo": value <= target,
            "GreaterThan": value > target, "GreaterThanOrEqualTo": value >= target,
            "EqualTo": value == target, "NotEqualTo": value != target}[comparator]


def guards(req: Mapping[str, Any]) -> str:
    """What an unmet requirement hides: Accept, PreviewAndAccept or DiscoverPreviewAndAccept."""
    if req.get("ActionsGuarded"):
        return str(req["ActionsGuarded"])
    return "PreviewAndAccept" if req.get("RequiredToPreview") else "Accept"


def _qualifies(tx: Tx, worker: str, prof: Mapping[str, Any],
               requirements: Sequence[Mapping[str, Any]]) -> bool:
    # A worker who could only discover or preview still cannot accept: every requirement
    # guards acceptance, whatever ActionsGuarded says about seeing the HIT.
    return all(meets(worker_value(tx, prof, worker, str(r["QualificationTypeId"])), r)
               for r in requirements)


def _request_missing(tx: Tx, worker: str, prof: Mapping[str, Any],
                     requirements: Sequence[Mapping[str, Any]]) -> bool:
    """Request the qualifications a worker lacks, when a test or auto-grant makes that worth
    it (DESIGN §7); returns whether anything was granted.

    Only HITs the worker can discover count (not ``DiscoverPreviewAndAccept``), and only when
    every unmet requirement is on such a requestable type.
    """
    unmet = [r for r in requirements
             if not meets(worker_value(tx, prof, worker, str(r["QualificationTypeId"])), r)]
    wanted: list[dict[str, Any]] = []
    for req in unmet:
        type_id = str(req["QualificationTypeId"])
        if guards(req) == "DiscoverPreviewAndAccept" or type_id in SYSTEM_TYPES:
            return False
        data = load_type(tx, type_id)
        if not (data.get("Test") or data.get("AutoGranted")) or request_blocker(
                tx, type_id, worker) is not None:
            return False
        wanted.append(data)
    granted = False
    for data in wanted:
        answer = None
        if data.get("Test"):
            truth = key_truth(str(data["AnswerKey"])) if data.get("AnswerKey") else None
            accuracy = float(prof.get("accuracy", 0.9))
            answer = answer_xml(tx.seed, f"qualification:{data['QualificationTypeId']}",
                                str(data["Test"]), CrowdWorker(worker, accuracy),
                                truth=truth, answer_fn=None)
        submit_request(tx, str(data["QualificationTypeId"]), worker, answer)
        granted = True
    return granted


def find_hit(tx: Tx, worker: str, prof: Mapping[str, Any], when: float) -> hits.Hit | None:
    """The oldest open HIT ``worker`` qualifies for and has not worked on, at ``when``."""
    # Iterate the cursor: the first qualifying HIT ends the search (no fetchall of them all).
    rows = tx.conn.execute(
        "SELECT h.id, h.hit_type_id FROM hits h WHERE h.deleted = 0 AND h.expired = 0 "
        # '+' keeps SQLite on the (deleted, expired, full, created, id) index: only HITs with
        # open slots, oldest first, no sort
        "AND h.full = 0 AND +h.expiration > ? "
        "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.hit_id = h.id AND a.worker_id = ?) "
        "AND h.max_assignments > (SELECT COUNT(*) FROM assignments a WHERE a.hit_id = h.id AND "
        "a.state IN ('Accepted', 'Submitted', 'Approved', 'Rejected')) ORDER BY h.created, h.id",
        (when, worker))
    verdicts: dict[str, bool] = {}
    for row in rows:
        type_id = row["hit_type_id"]
        if type_id not in verdicts:
            found = tx.one("SELECT props FROM hit_types WHERE id = ?", (type_id,))
            props = loads(found["props"]) if found else {}
            requirements = props.get("QualificationRequirements") or []
            verdicts[type_id] = _qualifies(tx, worker, prof, requirements) or (
                _request_missing(tx, worker, prof, requirements)
                and _qualifies(tx, worker, prof, requirements))
        if verdicts[type_id]:
            rows.close()
            return hits.load_hit(tx, row["id"])
    return None


def next_event(tx: Tx, idle: set[str]) -> Event | None:
    """The earliest due event (at or after the clock ``tx.now``); workers in ``idle`` found
    nothing to do since the last change that could give them work."""
    found: list[Event] = []
    row = tx.one("SELECT id, planned_submit FROM assignments WHERE state = 'Accepted' AND "
                 "planned_submit IS NOT NULL ORDER BY planned_submit, id LIMIT 1")
    if row:
        found.append(Event(row["planned_submit"], "submit", row["id"]))
    row = tx.one("SELECT id, deadline FROM assignments WHERE state = 'Accepted' AND "
                 "planned_submit IS NULL ORDER BY deadline, id LIMIT 1")
    if row:
        found.append(Event(row["deadline"], "abandon", row["id"]))
    row = tx.one("SELECT id, auto_approval_time FROM assignments WHERE state = 'Submitted' "
                 "ORDER BY auto_approval_time, id LIMIT 1")
    if row:
        found.append(Event(row["auto_approval_time"], "approve", row["id"]))
    row = tx.one("SELECT id, expiration FROM hits WHERE deleted = 0 AND expired = 0 "
                 "ORDER BY expiration, id LIMIT 1")
    if row:
        found.append(Event(row["expiration"], "expire", row["id"]))
    horizon = min((e.time for e in found), default=float("inf"))
    blocked = {r["worker_id"] for r in tx.all("SELECT worker_id FROM blocks")}
    for worker in tx.all("SELECT id, free_at, profile FROM workers ORDER BY MAX(free_at, ?), id",
                         (tx.now,)):
        when = max(float(worker["free_at"]), tx.now)
        if when > horizon:
            break  # every later worker acts after an earlier event, which may change the state
        if worker["id"] in idle or worker["id"] in blocked:
            continue
        if tx.one("SELECT 1 FROM assignments WHERE worker_id = ? AND state = 'Accepted'",
                  (worker["id"],)):
            continue  # still working (free_at is normally past its submission)
        hit = find_hit(tx, worker["id"], loads(worker["profile"]), when)
        if hit is None:
            idle.add(worker["id"])
            continue
        found.append(Event(when, "accept", worker["id"], hit.id))
        break
    return min(found, key=lambda e: e.order) if found else None


def play(tx: Tx, event: Event, idle: set[str], answer_fn: AnswerFn | None) -> None:
    """Apply ``event`` (``tx.now`` is already its time)."""
    seed = tx.seed
    if event.kind == "expire":
        hits.expire(tx, hits.load_hit(tx, event.subject))
        return
    if event.kind == "accept":
        hit = hits.load_hit(tx, event.detail)
        work = 20 + 30 * ids.fraction(seed, hit.id, event.subject, "work")
        assignment_id = assignments.accept(tx, hit, event.subject, work)
        # Busy until the planned submission; the submit event then sets the rest period.
        tx.conn.execute("UPDATE workers SET free_at = (SELECT planned_submit FROM assignments "
                        "WHERE id = ?) WHERE id = ?", (assignment_id, event.subject))
        return
    row = tx.one("SELECT * FROM assignments WHERE id = ?", (event.subject,))
    assert row is not None  # next_event just found it in this transaction
    if event.kind == "approve":
        assignments.auto_approve(tx, row)
        return
    rest = 2 + 6 * ids.fraction(seed, row["hit_id"], row["worker_id"], "rest")
    tx.conn.execute("UPDATE workers SET free_at = ? WHERE id = ?", (tx.now + rest,
                                                                     row["worker_id"]))
    if event.kind == "abandon":
        assignments.abandon(tx, row)
        idle.clear()  # a slot opened again
        return
    hit = hits.load_hit(tx, row["hit_id"])
    truth_row = tx.one("SELECT truth FROM truths WHERE hit_id = ?", (hit.id,))
    truth = loads(truth_row["truth"]) if truth_row else None
    worker = _worker(tx, row["worker_id"])
    assignments.submit(tx, row, answer_xml(seed, hit.id, hit.question or "", worker,
                                           truth=truth, answer_fn=answer_fn))


def _worker(tx: Tx, worker: str) -> CrowdWorker:
    row = tx.one("SELECT profile FROM workers WHERE id = ?", (worker,))
    prof: dict[str, Any] = loads(row["profile"]) if row else {"accuracy": 0.9, "system": {}}
    quals: dict[str, object] = dict(prof.get("system", {}))
    for qual in tx.all("SELECT type_id, value FROM quals WHERE worker_id = ? AND "
                       "status = 'Granted'", (worker,)):
        quals[qual["type_id"]] = qual["value"]
    return CrowdWorker(worker, float(prof.get("accuracy", 0.9)), quals)


# ----------------------------------------------------------------------------- answers


def _free_text(spec: FreeTextSpec, seed: int, key: str, truth: object | None) -> str:
    candidates: list[str] = []
    if isinstance(truth, str):
        candidates.append(truth)
    if spec.is_numeric:
        low = spec.min_value if spec.min_value is not None else 0
        high = spec.max_value if spec.max_value is not None else low + 100
        candidates.append(str(low + int((high - low + 1) * ids.fraction(seed, key, "n"))))
        candidates += [str(low), str(high)]
    if spec.default_text:
        candidates.append(spec.default_text)
    length = max(spec.min_length or 0, 1)
    candidates += ["yes", "a" * length, "1", "A" * length, "answer " + key[:8]]
    for candidate in candidates:
        if spec.problem(candidate) is None:
            return candidate
    return candidates[-1]  # no simple answer fits (an unusual regex): submit the placeholder


def _selection(spec: SelectionSpec, seed: int, key: str, truth: object | None) -> list[str]:
    pool = list(spec.identifiers)
    if truth is not None:
        if isinstance(truth, str):
            wanted = [truth]
        elif isinstance(truth, (list, tuple)):
            wanted = [str(t) for t in truth]
        else:
            wanted = [str(truth)]
        if spec.problem(tuple(wanted)) is None:
            return wanted
    count = max(1, spec.min_count) if spec.max_count >= 1 else 0
    start = int(len(pool) * ids.fraction(seed, key, "pick"))
    return [pool[(start + i) % len(pool)] for i in range(min(count, len(pool)))]


def answer_xml(seed: int, hit_id: str, question: str, worker: CrowdWorker, *,
               truth: Mapping[str, object] | None, answer_fn: AnswerFn | None) -> str:
    """A valid QuestionFormAnswers document for ``question`` from ``worker``."""
    try:
        parsed: Any = parse_question(question, source=f"HIT {hit_id}")
    except MturkmakeError:
        parsed = None
    if answer_fn is not None:
        given = answer_fn(parsed, worker, truth)
        if given is not None:
            return build_answers({k: [str(x) for x in v] if isinstance(v, (list, tuple))
                                  else str(v) for k, v in given.items()})
    def _true_value(qid: str) -> object | None:
        honest = ids.fraction(seed, hit_id, worker.id, qid, "truth") < worker.accuracy
        return truth.get(qid) if truth is not None and honest else None

    records: list[Answer] = []
    if isinstance(parsed, QuestionForm):
        for q in parsed.questions:
            key = f"{hit_id}/{worker.id}/{q.identifier}"
            if isinstance(q.answer, SelectionSpec):
                picked = _selection(q.answer, seed, key, _true_value(q.identifier))
                records.append(Answer(q.identifier, selections=tuple(picked)))
            elif isinstance(q.answer, FileUploadSpec):
                records.append(Answer(q.identifier, uploaded_file_key=ids.derive(seed, "file", key),
                                      uploaded_file_size=q.answer.min_bytes or 1))
            else:
                text = _free_text(q.answer, seed, key, _true_value(q.identifier))
                records.append(Answer(q.identifier, free_text=text))
    elif isinstance(parsed, HTMLQuestion):
        for f in parsed.fields:
            key = f"{hit_id}/{worker.id}/{f.name}"
            wanted = _true_value(f.name)
            if isinstance(wanted, str):
                value = wanted
            elif f.options:
                value = f.options[int(len(f.options) * ids.fraction(seed, key, "pick"))]
            elif f.kind == "number":
                value = str(int(10 * ids.fraction(seed, key, "n")))
            else:
                value = "answer " + ids.derive(seed, "text", key, length=6).lower()
            records.append(Answer(f.name, free_text=value))
    else:  # ExternalQuestion (or an unreadable page): the fixed field
        records.append(Answer("answer", free_text=str((truth or {}).get("answer", "yes"))))
    return build_answers(records)

