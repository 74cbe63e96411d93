"""Work decided outside mturkmake, recorded in the ledger as such before ``%.approved``
decides anything (DESIGN §5): by a HIT's review policy (its report names the policy), by
MTurk's auto-approval, or on the requester site. The calls (one ListReviewPolicyResultsForHIT
per HIT, one GetAssignment per assignment) overlap within ``-j`` (issue #17); the results
keep the order they were asked in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from mturkmake.errors import ServiceError
from mturkmake.hookspecs import Context, Verdict

if TYPE_CHECKING:
    from mturkmake.mturk.decisions import Decider, Result
    from mturkmake.mturk.review_policies import PolicyDecision

__all__ = ["adopt_outside", "policy_verdicts"]

T = TypeVar("T")
R = TypeVar("R")


def _each(ctx: Context, decider: Decider, items: Sequence[T], work: Callable[[T], R]) -> list[R]:
    """``work`` over ``items`` within ``-j``, results in order; the first error (in order)
    is raised once the calls in flight are done."""
    from mturkmake.mturk import calls

    results = calls.each(ctx, decider.client, items, work)
    try:
        return [done.get() for _, done in results]
    finally:
        getattr(results, "close")()  # noqa: B009 - a generator: waits for the calls in flight


def adopt_outside(
    ctx: Context,
    decider: Decider,
    assignment_ids: Sequence[str],
    hit_ids: Collection[str],
    batch: str,
) -> tuple[dict[str, PolicyDecision], list[Result]]:
    """Record the Approved or Rejected ``assignment_ids`` the ledger does not know (of the
    HITs ``hit_ids``): what the HITs' review policies decided, and a ``skipped`` result each.

    :raises ServiceError: an error every call would hit.
    """
    by_policy = _policy_decisions(ctx, decider, hit_ids)
    results = _each(
        ctx, decider, assignment_ids, lambda aid: _adopt(decider, aid, batch, by_policy.get(aid))
    )
    return by_policy, results


def _policy_decisions(
    ctx: Context, decider: Decider, hit_ids: Collection[str]
) -> dict[str, PolicyDecision]:
    """What the HITs' review policies decided (an assignment decided on MTurk's side is a
    policy's, an auto-approval's or the requester site's: the policies' reports say which)."""
    from mturkmake.mturk.endpoint import affects_every_call
    from mturkmake.mturk.review_policies import fetch_policy_decisions

    def fetch(hit_id: str) -> dict[str, PolicyDecision]:
        try:
            return dict(fetch_policy_decisions(decider.client, hit_id))
        except ServiceError as error:
            if affects_every_call(error):
                raise
            return {}  # a HIT without policies, or an endpoint without the call: nobody's

    found: dict[str, PolicyDecision] = {}
    for decided in _each(ctx, decider, sorted(h for h in hit_ids if h), fetch):
        found.update(decided)
    return found


def policy_verdicts(
    by_policy: Mapping[str, PolicyDecision], results: Sequence[Result]
) -> dict[str, Verdict]:
    """The policies' decisions recorded by this run, as verdicts: they count in the reject
    share, as the evaluators' do."""
    adopted = {r.assignment_id for r in results if r.outcome == "skipped"}
    return {
        aid: Verdict(
            "reject" if d.decision == "reject" else "approve", d.reason or d.policy, d.policy
        )
        for aid, d in by_policy.items()
        if aid in adopted
    }


def _adopt(
    decider: Decider, assignment_id: str, batch: str, policy: PolicyDecision | None = None
) -> Result:
    from mturkmake.mturk.decisions import Result
    from mturkmake.mturk.endpoint import affects_every_call, service_call

    try:
        reply = service_call(decider.client, "GetAssignment", AssignmentId=assignment_id)
    except ServiceError as error:
        if affects_every_call(error):
            raise  # every other assignment would fail the same way: one line, not one each
        return Result(assignment_id, "failed", message=error.message)
    if policy is not None:
        decider.adopt(
            reply["Assignment"],
            batch,
            evaluator=f"review policy {policy.policy}",
            # The feedback the worker saw; the action's result ("Rejected") says less.
            feedback=str(reply["Assignment"].get("RequesterFeedback") or policy.reason),
        )
        return Result(
            assignment_id, "skipped", message=f"decided by the review policy {policy.policy}"
        )
    decider.adopt(reply["Assignment"], batch)
    return Result(assignment_id, "skipped", message="decided outside mturkmake")
