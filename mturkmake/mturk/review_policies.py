"""MTurk's own review policies as the requester side sees them (the `assignmentreviewpolicy.*`
and `hitreviewpolicy.*` HIT properties, DESIGN §5's evaluators' neighbours).

A policy acts on MTurk's side: ScoreMyKnownAnswers approves, rejects or extends when an
assignment is submitted; SimplePlurality when the HIT becomes reviewable. mturkmake must
(1) commit the most a policy can add — its extensions — to the budget when the HIT is made,
(2) record a policy's decisions in the ledger, so they are never repeated and count in the
reject share, and (3) say which assignments a policy decided, with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mturkmake.mturk.client import Client

#: (CreateHIT slot, what triggers an extension, ExtendMaximumAssignments' default) — MTurk's
#: "Review Policies" documentation; the local marketplace uses the same defaults.
_EXTENDING = (
    ("AssignmentReviewPolicy", "ExtendIfKnownAnswerScoreIsLessThan", 5),
    ("HITReviewPolicy", "ExtendIfHITAgreementScoreIsLessThan", 0),
)
#: A HIT made with fewer than 10 assignments can never be extended to 10 or more.
LARGE_BATCH = 10


def _parameters(policy: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        str(p.get("Key")): [str(v) for v in p.get("Values") or []]
        for p in policy.get("Parameters") or []
    }


def most_assignments(assignments: int, hit_params: Mapping[str, Any]) -> int:
    """The most assignments a HIT made with ``hit_params`` can reach through its policies'
    extensions (``assignments`` when no policy extends)."""
    ceiling = assignments
    for slot, trigger, default in _EXTENDING:
        policy = hit_params.get(slot)
        if not isinstance(policy, Mapping):
            continue
        values = _parameters(policy)
        if trigger not in values:
            continue
        maximum = values.get("ExtendMaximumAssignments") or [str(default)]
        try:
            ceiling = max(ceiling, int(maximum[0]))
        except ValueError:
            continue  # the service refuses the HIT; nothing is committed for it
    if assignments < LARGE_BATCH:
        ceiling = min(ceiling, LARGE_BATCH - 1)
    return max(ceiling, assignments)


def uses_policies(hit_params: Mapping[str, Any]) -> bool:
    """Whether CreateHIT's parameters carry a review policy."""
    return any(isinstance(hit_params.get(slot), Mapping) for slot, _, _ in _EXTENDING)


def policy_levels(hit_params: Mapping[str, Any]) -> frozenset[str]:
    """The levels (``Assignment``, ``HIT``) at which CreateHIT's parameters carry a policy."""
    return frozenset(
        level
        for slot, level in (("AssignmentReviewPolicy", "Assignment"), ("HITReviewPolicy", "HIT"))
        if isinstance(hit_params.get(slot), Mapping)
    )


def policies_reported(
    pages: Iterable[Mapping[str, Any]],
    levels: frozenset[str],
    assignments: Iterable[Mapping[str, Any]],
) -> bool:
    """Whether the HIT's policies have run on everything they will act on: a HIT-level
    report exists, and every submitted assignment has an assignment-level result. Until
    then, a policy may still approve, reject or extend: the HIT is not final."""
    results: set[str] = set()
    hit_reported = False
    for page in pages:
        for result in (page.get("AssignmentReviewReport") or {}).get("ReviewResults") or []:
            results.add(str(result.get("SubjectId", "")))
        report = page.get("HITReviewReport") or {}
        if report.get("ReviewResults") or report.get("ReviewActions"):
            hit_reported = True
    if "HIT" in levels and not hit_reported:
        return False
    if "Assignment" in levels:
        submitted = {
            str(a.get("AssignmentId"))
            for a in assignments
            if a.get("AssignmentStatus") in ("Submitted", "Approved", "Rejected")
        }
        return submitted <= results
    return True


@dataclass(frozen=True)
class PolicyDecision:
    """A decision a review policy made on an assignment (from ListReviewPolicyResultsForHIT)."""

    assignment_id: str
    decision: str  # "approve" or "reject"
    policy: str
    reason: str


def policy_decisions(reply: Mapping[str, Any]) -> dict[str, PolicyDecision]:
    """The Approve and Reject actions that succeeded, by assignment, from a
    ListReviewPolicyResultsForHIT reply (assignment-level and HIT-level reports alike)."""
    found: dict[str, PolicyDecision] = {}
    for level, slot in (
        ("AssignmentReviewReport", "AssignmentReviewPolicy"),
        ("HITReviewReport", "HITReviewPolicy"),
    ):
        report = reply.get(level) or {}
        policy = reply.get(slot) or {}
        policy_name = str(policy.get("PolicyName", "")) if isinstance(policy, Mapping) else ""
        for action in _actions(report):
            name = str(action.get("ActionName", "")).lower()
            if name not in ("approve", "reject") or action.get("Status") != "Succeeded":
                continue
            target = str(action.get("TargetId", ""))
            if not target:
                continue
            found[target] = PolicyDecision(
                target,
                name,
                policy_name or level.replace("ReviewReport", " review policy"),
                str(action.get("Result") or ""),
            )
    return found


def _actions(report: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    actions = report.get("ReviewActions") or []
    return [a for a in actions if isinstance(a, Mapping)]


def fetch_policy_decisions(client: Client, hit_id: str) -> dict[str, PolicyDecision]:
    """Every assignment decision the review policies of ``hit_id`` made (all pages)."""
    from mturkmake.mturk.endpoint import service_call

    found: dict[str, PolicyDecision] = {}
    token: str | None = None
    while True:
        page = service_call(
            client,
            "ListReviewPolicyResultsForHIT",
            HITId=hit_id,
            RetrieveActions=True,
            MaxResults=100,
            **({"NextToken": token} if token else {}),
        )
        found.update(policy_decisions(page))
        token = page.get("NextToken")
        if not token:
            return found
