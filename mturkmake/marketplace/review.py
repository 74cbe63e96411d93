"""Running review policies, and ListReviewPolicyResultsForHIT.

- ``ScoreMyKnownAnswers/2011-09-01`` runs when an assignment is submitted: its answers are
  compared with the AnswerKey (whitespace trimmed at both ends, sets of values equal, an empty
  answer never matching); KnownAnswerScore is the share of known answers right, in whole
  percent (rounded down). Then, by the thresholds: approve (score ≥ ApproveIf…), else reject
  (score < RejectIf…), and extend the HIT by one assignment (score < ExtendIf…) while it has
  fewer than ExtendMaximumAssignments (default 5), giving it at least
  ExtendMinimumTimeInSeconds more.
- ``SimplePlurality/2011-09-01`` runs when the HIT becomes Reviewable: per question the
  plurality answer and its Question Agreement Score (share of the assignments compared that
  gave it); a question whose score is above QuestionAgreementThreshold has an agreed answer.
  HIT Agreement Score: the share of compared questions with one. Worker Agreement Score: the
  share of a worker's agreed questions where the worker gave the agreed answer. Below
  ExtendIfHITAgreementScoreIsLessThan the HIT gets one more assignment (up to
  ExtendMaximumAssignments in all) and the workers' approvals wait for the next run (a new
  answer can change the plurality); otherwise Submitted assignments are approved or rejected
  by their Worker Agreement Score. A HIT with no answers to compare (it expired unworked)
  gets its review action and nothing else. A later run (after an extension) replaces the
  HIT-level results; actions stay on record.

Approvals, rejections and extensions go through the same code as the API calls (money through
:mod:`mturkmake.fees`); an action that fails (InsufficientFunds, a wrong state) is recorded
``Failed`` with its TurkErrorCode and changes nothing.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mturkmake.errors import MturkmakeError
from mturkmake.formats.answers import parse_answers
from mturkmake.marketplace import assignments, hits, ids, notifications, policies
from mturkmake.marketplace.clock import wire_time
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Row, Tx

ASSIGNMENT, HIT = "Assignment", "HIT"
MAX_ANSWER = 256  # "Answers that are longer than 256 characters are not used"
DEFAULT_EXTEND_MAXIMUM = 5  # ScoreMyKnownAnswers' documented default


# ----------------------------------------------------------------------------- recording


@dataclass
class _Report:
    """Where one policy run records its actions and results (a HIT, a level)."""

    tx: Tx
    hit_id: str
    level: str
    review_id: str | None = None  # the run's "review" action, which its results cite

    def action(self, name: str, target: tuple[str, str], run: Callable[[], str]) -> bool:
        """Run one action inside a savepoint and record its outcome (Failed, with the
        TurkErrorCode, when it raised: nothing it did stays); returns whether it succeeded."""
        tx = self.tx
        number = tx.one("SELECT COUNT(*) AS n FROM review_actions WHERE hit_id = ?", (self.hit_id,))
        action_id = ids.derive(tx.seed, "reviewaction", self.hit_id, number["n"] if number else 0)
        tx.conn.execute("SAVEPOINT review_action")
        try:
            result = run()
            status, code = "Succeeded", None
            tx.conn.execute("RELEASE review_action")
        except RequestError as exc:
            tx.conn.execute("ROLLBACK TO review_action")
            tx.conn.execute("RELEASE review_action")
            result, status, code = exc.message, "Failed", exc.turk_error_code
        tx.conn.execute(
            "INSERT INTO review_actions (hit_id, level, action_id, name, target_id, "
            "target_type, status, complete_time, result, error_code) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.hit_id, self.level, action_id, name, *target, status, tx.now, result, code),
        )
        if name == "review":
            self.review_id = action_id
        return status == "Succeeded"

    def result(
        self, subject: tuple[str, str], key: str, value: object, question: str | None = None
    ) -> None:
        """Record one computed value about ``subject`` (id, type)."""
        self.tx.conn.execute(
            "INSERT INTO review_results (hit_id, level, action_id, subject_id, subject_type, "
            "question_id, key, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.hit_id, self.level, self.review_id, *subject, question, key, str(value)),
        )


def _answers(row: Row) -> dict[str, frozenset[str]]:
    """An assignment's answers as comparable sets (long answers left out)."""
    try:
        parsed = parse_answers(str(row["answer"] or ""), source=f"assignment {row['id']}")
    except (MturkmakeError, ValueError):
        return {}
    found: dict[str, frozenset[str]] = {}
    for question, value in parsed.items():
        values = policies.answer_values(value)
        if sum(len(v) for v in values) <= MAX_ANSWER:
            found[question] = values
    return found


def _percent(part: int, whole: int) -> int:
    return (100 * part) // whole if whole else 0


# ----------------------------------------------------------------------------- actions


def _approve(tx: Tx, assignment_id: str, reason: str | None) -> Callable[[], str]:
    def run() -> str:
        params: dict[str, Any] = {"AssignmentId": assignment_id}
        if reason is not None:
            params["RequesterFeedback"] = reason
        assignments.approve(tx, params)
        return "Approved"

    return run


def _reject(tx: Tx, assignment_id: str, reason: str | None) -> Callable[[], str]:
    def run() -> str:
        params: dict[str, Any] = {"AssignmentId": assignment_id}
        if reason is not None:
            params["RequesterFeedback"] = reason
        assignments.reject(tx, params)
        return "Rejected"

    return run


def _extend(tx: Tx, hit_id: str, maximum: int, seconds: int) -> Callable[[], str]:
    """One more assignment and at least ``seconds`` more life, if the HIT has fewer than
    ``maximum`` assignments (and stays on its side of MTurk's rule at 10)."""

    def run() -> str:
        hit = hits.load_hit(tx, hit_id)
        if hit.deleted:
            raise RequestError("The HIT was deleted.", hits.BAD_STATE)
        total = hit.max_assignments + 1
        if total > maximum:
            raise RequestError(
                f"The HIT already has {hit.max_assignments} assignments, the most "
                f"ExtendMaximumAssignments ({maximum}) allows.",
                "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
            )
        if hit.max_assignments < 10 <= total:
            raise RequestError(
                "HITs created with fewer than 10 assignments cannot be extended to have 10 or "
                "more assignments.",
                "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
            )
        expiration = max(hit.expiration if not hit.expired else tx.now, tx.now + seconds)
        hits.change(
            tx,
            hit,
            "max_assignments = ?, expiration = ?, expired = 0, reviewing = 0",
            (total, expiration),
        )
        notifications.emit(tx, "HITExtended", hit_id)
        return f"Extended to {total} assignments until {wire_time(expiration)}"

    return run


# ----------------------------------------------------------------------------- the policies


def on_submitted(tx: Tx, assignment_id: str) -> bool:
    """Run the HIT's assignment-level policy on a submitted assignment; returns whether it
    extended the HIT."""
    row = tx.one("SELECT * FROM assignments WHERE id = ?", (assignment_id,))
    if row is None:
        return False
    hit = hits.load_hit(tx, row["hit_id"])
    spec = hit.extra.get("AssignmentReviewPolicy")
    if spec is None:
        return False
    policy = policies.parse("AssignmentReviewPolicy", spec)
    given = _answers(row)
    key = policy.answer_key
    correct = {
        question: bool(given.get(question)) and given.get(question) == expected
        for question, expected in key.items()
    }
    right = sum(correct.values())
    score = _percent(right, len(key))
    subject = (assignment_id, ASSIGNMENT)
    plural = "" if len(key) == 1 else "s"
    report = _Report(tx, hit.id, ASSIGNMENT)
    report.action(
        "review",
        subject,
        lambda: f"Reviewed {len(key)} known answer{plural}; {right}/{len(key)} correct",
    )
    for question, ok in correct.items():
        report.result(subject, "KnownAnswerCorrect", int(ok), question)
    report.result(subject, "KnownAnswerScore", score)
    approve_at = policy.int("ApproveIfKnownAnswerScoreIsAtLeast")
    reject_below = policy.int("RejectIfKnownAnswerScoreIsLessThan")
    extend_below = policy.int("ExtendIfKnownAnswerScoreIsLessThan")
    if approve_at is not None and score >= approve_at:
        report.action("approve", subject, _approve(tx, assignment_id, policy.text("ApproveReason")))
    elif reject_below is not None and score < reject_below:
        report.action("reject", subject, _reject(tx, assignment_id, policy.text("RejectReason")))
    if extend_below is not None and score < extend_below:
        maximum = policy.int("ExtendMaximumAssignments", DEFAULT_EXTEND_MAXIMUM) or 0
        seconds = policy.int("ExtendMinimumTimeInSeconds", 0) or 0
        return report.action("extend", (hit.id, HIT), _extend(tx, hit.id, maximum, seconds))
    return False


def on_reviewable(tx: Tx, hit_id: str) -> bool:
    """Run the HIT's HIT-level policy (the HIT just became Reviewable); returns whether it
    extended the HIT."""
    hit = hits.load_hit(tx, hit_id)
    spec = hit.extra.get("HITReviewPolicy")
    if spec is None:
        return False
    policy = policies.parse("HITReviewPolicy", spec)
    rows = tx.all(
        "SELECT * FROM assignments WHERE hit_id = ? AND state IN ('Submitted', 'Approved', "
        "'Rejected') ORDER BY submit_time, id",
        (hit_id,),
    )
    if policy.values.get("DisregardAssignmentIfRejected"):
        rows = [r for r in rows if r["state"] != "Rejected"]
    floor = policy.int("DisregardAssignmentIfKnownAnswerScoreIsLessThan")
    if floor is not None:
        rows = [r for r in rows if not _known_score_below(tx, r["id"], floor)]
    answers = {r["id"]: _answers(r) for r in rows}
    threshold = policy.int("QuestionAgreementThreshold", 0) or 0
    # A fresh run replaces the results of an earlier one (the HIT was extended since).
    tx.conn.execute("DELETE FROM review_results WHERE hit_id = ? AND level = ?", (hit_id, HIT))
    report = _Report(tx, hit_id, HIT)
    the_hit = (hit_id, HIT)
    report.action(
        "review",
        the_hit,
        lambda: f"Compared {len(rows)} assignments on {len(policy.question_ids)} questions",
    )
    agreed: dict[str, frozenset[str]] = {}
    evaluated = 0
    for question in policy.question_ids:
        given = [a[question] for a in answers.values() if a.get(question)]
        if not given:
            continue
        evaluated += 1
        ranking = Counter(given).most_common()
        top, count = ranking[0]
        level = _percent(count, len(given))
        tie = len(ranking) > 1 and ranking[1][1] == count
        report.result(the_hit, "PluralityLevel", level, question)
        if level > threshold and not tie:
            agreed[question] = top
            report.result(the_hit, "PluralityAnswer", "|".join(sorted(top)), question)
    if not evaluated:
        return False  # no answers to compare (the HIT expired unworked): no score, no action
    hit_score = _percent(len(agreed), evaluated)
    report.result(the_hit, "HITAgreementScore", hit_score)
    worker_scores: dict[str, int] = {}
    for assignment_id, given_answers in answers.items():
        subject = (assignment_id, ASSIGNMENT)
        matched = compared = 0
        for question, answer in agreed.items():
            if question not in given_answers:
                continue
            compared += 1
            same = given_answers[question] == answer
            matched += same
            report.result(subject, "AgreedWithPlurality", int(same), question)
        if compared:
            worker_scores[assignment_id] = _percent(matched, compared)
            report.result(subject, "WorkerAgreementScore", worker_scores[assignment_id])
    extend_below = policy.int("ExtendIfHITAgreementScoreIsLessThan")
    if extend_below is not None and hit_score < extend_below:
        maximum = policy.int("ExtendMaximumAssignments", 0) or 0
        if hit.max_assignments < maximum:
            seconds = policy.int("ExtendMinimumTimeInSeconds", 0) or 0
            if report.action("extend", the_hit, _extend(tx, hit_id, maximum, seconds)):
                return True  # the workers are judged once the plurality is settled
    approve_at = policy.int("ApproveIfWorkerAgreementScoreIsAtLeast")
    reject_below = policy.int("RejectIfWorkerAgreementScoreIsLessThan")
    states = {r["id"]: r["state"] for r in rows}
    for assignment_id, score in worker_scores.items():
        if states.get(assignment_id) != "Submitted":
            continue  # already decided (by the requester or the assignment-level policy)
        subject = (assignment_id, ASSIGNMENT)
        if approve_at is not None and score >= approve_at:
            reason = policy.text("ApproveReason")
            report.action("approve", subject, _approve(tx, assignment_id, reason))
        elif reject_below is not None and score < reject_below:
            reason = policy.text("RejectReason")
            report.action("reject", subject, _reject(tx, assignment_id, reason))
    return False


def _known_score_below(tx: Tx, assignment_id: str, floor: int) -> bool:
    row = tx.one(
        "SELECT value FROM review_results WHERE subject_id = ? AND key = 'KnownAnswerScore' "
        "ORDER BY seq DESC LIMIT 1",
        (assignment_id,),
    )
    return row is not None and int(row["value"]) < floor


# ----------------------------------------------------------------------------- the lifecycle

#: Rounds of policy runs one transaction may cause (an extension makes a HIT Assignable, so
#: a run cannot cause another at once; the bound only guards against a bug looping).
MAX_ROUNDS = 100


def settle(tx: Tx) -> bool:
    """Before a transaction commits: run the assignment-level policies of the assignments it
    submitted, then look at every HIT it touched — one that became Reviewable sends
    HITReviewable and runs its HIT-level policy. Actions may touch HITs again: repeat.

    :returns: whether a policy extended a HIT (slots opened: idle workers should look again).
    """
    extended = False
    for _ in range(MAX_ROUNDS):
        if not tx.submitted and not tx.touched:
            return extended
        submitted, tx.submitted = tx.submitted, []
        for assignment_id in submitted:
            extended |= on_submitted(tx, assignment_id)
        touched, tx.touched = tx.touched, set()
        for hit_id in sorted(touched):
            extended |= _look_at(tx, hit_id)
    raise RuntimeError("review policies kept changing HITs")  # a bug: never expected


def _look_at(tx: Tx, hit_id: str) -> bool:
    if tx.one("SELECT 1 FROM hits WHERE id = ?", (hit_id,)) is None:
        return False
    hit = hits.load_hit(tx, hit_id)
    state = hits.status(hit, hits.count_of(tx, hit_id), tx.now)
    known = tx.one("SELECT status FROM hit_states WHERE hit_id = ?", (hit_id,))
    previous = None if known is None else known["status"]
    if state == previous:
        return False
    tx.conn.execute(
        "INSERT OR REPLACE INTO hit_states (hit_id, status) VALUES (?, ?)", (hit_id, state)
    )
    if state == "Reviewable" and previous != "Reviewing":
        notifications.emit(tx, "HITReviewable", hit_id)
        return on_reviewable(tx, hit_id)
    return False


# ----------------------------------------------------------------------------- the API


def _render_result(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SubjectId": row["subject_id"],
        "SubjectType": row["subject_type"],
        "Key": row["key"],
        "Value": row["value"],
    }
    if row["action_id"]:
        out["ActionId"] = row["action_id"]
    if row["question_id"]:
        out["QuestionId"] = row["question_id"]
    return out


def _render_action(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ActionId": row["action_id"],
        "ActionName": row["name"],
        "TargetId": row["target_id"],
        "TargetType": row["target_type"],
        "Status": row["status"],
    }
    if row["complete_time"] is not None:
        out["CompleteTime"] = wire_time(row["complete_time"])
    if row["result"]:
        out["Result"] = row["result"]
    if row["error_code"]:
        out["ErrorCode"] = row["error_code"]
    return out


def list_results(tx: Tx, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListReviewPolicyResultsForHIT: the policies as given and, per level asked for
    (PolicyLevels, default both), the results (RetrieveResults) and actions
    (RetrieveActions), paged together by MaxResults (default 100) and NextToken."""
    hit = hits.load_hit(tx, str(params["HITId"]))
    out: dict[str, Any] = {"HITId": hit.id}
    for key in policies.LEVELS:
        if key in hit.extra:
            out[key] = hit.extra[key]
    levels = list(params.get("PolicyLevels") or [ASSIGNMENT, HIT])
    for level in levels:
        if level not in (ASSIGNMENT, HIT):
            raise RequestError(
                f"PolicyLevels takes Assignment and HIT, not '{level}'.", policies.BAD_VALUE
            )
    items: list[tuple[str, str, dict[str, Any]]] = []
    for level in (ASSIGNMENT, HIT):
        if level not in levels:
            continue
        if params.get("RetrieveResults"):
            items += [
                (level, "ReviewResults", _render_result(r))
                for r in tx.all(
                    "SELECT * FROM review_results WHERE hit_id = ? AND level = ? ORDER BY seq",
                    (hit.id, level),
                )
            ]
        if params.get("RetrieveActions"):
            items += [
                (level, "ReviewActions", _render_action(r))
                for r in tx.all(
                    "SELECT * FROM review_actions WHERE hit_id = ? AND level = ? ORDER BY seq",
                    (hit.id, level),
                )
            ]
    start = _offset(params.get("NextToken"))
    size = int(params.get("MaxResults") or 100)
    if not 1 <= size <= 100:
        raise RequestError("MaxResults must be between 1 and 100.", policies.BAD_VALUE)
    if params.get("RetrieveResults") or params.get("RetrieveActions"):
        for level in levels:
            report: dict[str, list[dict[str, Any]]] = {}
            if params.get("RetrieveResults"):
                report["ReviewResults"] = []
            if params.get("RetrieveActions"):
                report["ReviewActions"] = []
            out[f"{level}ReviewReport"] = report
    for level, member, item in items[start : start + size]:
        out[f"{level}ReviewReport"][member].append(item)
    if start + size < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(f"r1:{start + size}".encode()).decode()
    return out


def _offset(token: object) -> int:
    if not token:
        return 0
    try:
        prefix, offset = base64.urlsafe_b64decode(str(token).encode("ascii")).decode().split(":")
        if prefix != "r1" or int(offset) < 0:
            raise ValueError(token)
        return int(offset)
    except (ValueError, UnicodeError):
        raise RequestError(f"The NextToken '{token}' is invalid.", policies.BAD_VALUE) from None
