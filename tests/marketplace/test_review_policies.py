"""Review policies run by the local marketplace, seen through a real boto3 client:
ScoreMyKnownAnswers on submission, SimplePlurality when the HIT becomes Reviewable, their
results and actions in ListReviewPolicyResultsForHIT, and the money they move."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mturkmake import fees
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

from .conftest import HTML_QUESTION, inprocess_client

GOOD, BAD, OTHER = "AGOODWORKER001", "ABADWORKER0001", "AOTHERWORKER01"
REWARD = "0.50"


def market_with(tmp_path: Path, answers: dict[str, str]) -> Marketplace:
    """A marketplace whose only workers are planted ones answering ``label`` as given."""
    planted = [{"id": worker} for worker in answers]
    return Marketplace(
        tmp_path / "m.db",
        MarketplaceSettings(workers=0, planted=planted),
        answer_fn=lambda _question, worker, _truth: {"label": answers[worker.id]},
    )


def known_answers(**extra: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"Key": "AnswerKey", "MapEntries": [{"Key": "label", "Values": ["cat"]}]}
    ]
    parameters += [{"Key": key, "Values": [value]} for key, value in extra.items()]
    return {"PolicyName": "ScoreMyKnownAnswers/2011-09-01", "Parameters": parameters}


def plurality(**extra: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"Key": "QuestionIds", "Values": ["label"]},
        {"Key": "QuestionAgreementThreshold", "Values": ["50"]},
    ]
    parameters += [{"Key": key, "Values": [value]} for key, value in extra.items()]
    return {"PolicyName": "SimplePlurality/2011-09-01", "Parameters": parameters}


def create(client: Any, assignments: int, **policies: Any) -> str:
    hit = client.create_hit(
        Title="Label a picture",
        Description="One word",
        Reward=REWARD,
        LifetimeInSeconds=86400,
        AssignmentDurationInSeconds=600,
        MaxAssignments=assignments,
        Question=HTML_QUESTION,
        **policies,
    )["HIT"]
    return str(hit["HITId"])


def balance(client: Any) -> Decimal:
    return Decimal(client.get_account_balance()["AvailableBalance"])


def by_worker(client: Any, hit_id: str) -> dict[str, dict[str, Any]]:
    found = client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    return {a["WorkerId"]: a for a in found}


def report(client: Any, hit_id: str, level: str, **params: Any) -> dict[str, Any]:
    out = client.list_review_policy_results_for_hit(
        HITId=hit_id, RetrieveResults=True, RetrieveActions=True, **params
    )
    return dict(out[f"{level}ReviewReport"])


def test_known_answers_approve_the_match_and_reject_the_rest(tmp_path: Path) -> None:
    market = market_with(tmp_path, {GOOD: "cat", BAD: " dog "})
    client = inprocess_client(market)
    start = balance(client)
    hit_id = create(
        client,
        2,
        AssignmentReviewPolicy=known_answers(
            ApproveIfKnownAnswerScoreIsAtLeast="100",
            ApproveReason="Matches the known answer",
            RejectIfKnownAnswerScoreIsLessThan="100",
            RejectReason="The known answer was cat",
        ),
    )
    slot = fees.assignment_cost(REWARD, max_assignments=2, masters=False)
    assert balance(client) == start - 2 * slot
    market.advance(3600)

    workers = by_worker(client, hit_id)
    assert workers[GOOD]["AssignmentStatus"] == "Approved"
    assert workers[GOOD]["RequesterFeedback"] == "Matches the known answer"
    assert workers[BAD]["AssignmentStatus"] == "Rejected"
    assert workers[BAD]["RequesterFeedback"] == "The known answer was cat"
    # One slot paid (reward + fee), the rejected one released: right to the cent.
    assert balance(client) == start - slot == Decimal("10000.00") - Decimal("0.60")
    assert market.status()["balanced"]

    good, bad = workers[GOOD]["AssignmentId"], workers[BAD]["AssignmentId"]
    assignment_level = report(client, hit_id, "Assignment")
    scores = {
        r["SubjectId"]: r["Value"]
        for r in assignment_level["ReviewResults"]
        if r["Key"] == "KnownAnswerScore"
    }
    assert scores == {good: "100", bad: "0"}
    correct = {
        (r["SubjectId"], r["QuestionId"]): r["Value"]
        for r in assignment_level["ReviewResults"]
        if r["Key"] == "KnownAnswerCorrect"
    }
    assert correct == {(good, "label"): "1", (bad, "label"): "0"}
    decisions = {
        (a["ActionName"], a["TargetId"]): a["Status"]
        for a in assignment_level["ReviewActions"]
        if a["ActionName"] != "review"
    }
    assert decisions == {("approve", good): "Succeeded", ("reject", bad): "Succeeded"}
    assert all(a["TargetType"] == "Assignment" for a in assignment_level["ReviewActions"])
    listed = client.list_review_policy_results_for_hit(HITId=hit_id, RetrieveResults=True)
    assert listed["AssignmentReviewPolicy"]["PolicyName"] == "ScoreMyKnownAnswers/2011-09-01"
    assert "HITReviewPolicy" not in listed


def test_results_filter_by_level_and_page(tmp_path: Path) -> None:
    market = market_with(tmp_path, {GOOD: "cat", BAD: "dog"})
    client = inprocess_client(market)
    hit_id = create(
        client,
        2,
        AssignmentReviewPolicy=known_answers(ApproveIfKnownAnswerScoreIsAtLeast="50"),
        HITReviewPolicy=plurality(),
    )
    market.advance(3600)
    only_hit = client.list_review_policy_results_for_hit(
        HITId=hit_id, PolicyLevels=["HIT"], RetrieveResults=True
    )
    assert "AssignmentReviewReport" not in only_hit
    assert "ReviewActions" not in only_hit["HITReviewReport"]
    assert {r["Key"] for r in only_hit["HITReviewReport"]["ReviewResults"]} >= {
        "PluralityLevel",
        "HITAgreementScore",
    }
    everything = client.list_review_policy_results_for_hit(
        HITId=hit_id, RetrieveResults=True, RetrieveActions=True
    )
    whole = [
        item
        for level in ("AssignmentReviewReport", "HITReviewReport")
        for member in ("ReviewResults", "ReviewActions")
        for item in everything[level][member]
    ]
    assert len(whole) > 3
    paged: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        extra = {"NextToken": token} if token else {}
        page = client.list_review_policy_results_for_hit(
            HITId=hit_id, RetrieveResults=True, RetrieveActions=True, MaxResults=3, **extra
        )
        items = [
            item
            for level in ("AssignmentReviewReport", "HITReviewReport")
            for member in ("ReviewResults", "ReviewActions")
            for item in page[level][member]
        ]
        assert len(items) <= 3
        paged += items
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(map(repr, paged)) == sorted(map(repr, whole))


def test_known_answers_extend_the_hit_up_to_the_maximum(tmp_path: Path) -> None:
    market = market_with(tmp_path, {BAD: "dog"})
    client = inprocess_client(market)
    start = balance(client)
    hit_id = create(
        client,
        1,
        AssignmentReviewPolicy=known_answers(
            RejectIfKnownAnswerScoreIsLessThan="100",
            ExtendIfKnownAnswerScoreIsLessThan="100",
            ExtendMaximumAssignments="2",
            ExtendMinimumTimeInSeconds="7200",
        ),
    )
    market.advance(3600)
    hit = client.get_hit(HITId=hit_id)["HIT"]
    assert hit["MaxAssignments"] == 2  # one more assignment for another worker
    assert hit["HITStatus"] == "Assignable"
    actions = report(client, hit_id, "Assignment")["ReviewActions"]
    assert [(a["ActionName"], a["Status"]) for a in actions] == [
        ("review", "Succeeded"),
        ("reject", "Succeeded"),
        ("extend", "Succeeded"),
    ]
    assert actions[2]["TargetId"] == hit_id
    assert actions[2]["TargetType"] == "HIT"
    # The rejected slot is released, the extra one reserved.
    slot = fees.assignment_cost(REWARD, max_assignments=2, masters=False)
    assert balance(client) == start - slot
    assert market.status()["balanced"]


def test_plurality_reports_agreement_and_judges_the_workers(tmp_path: Path) -> None:
    market = market_with(tmp_path, {GOOD: "cat", OTHER: "cat", BAD: "dog"})
    client = inprocess_client(market)
    start = balance(client)
    hit_id = create(
        client,
        3,
        HITReviewPolicy=plurality(
            ApproveIfWorkerAgreementScoreIsAtLeast="100",
            RejectIfWorkerAgreementScoreIsLessThan="100",
            RejectReason="Most workers said otherwise",
        ),
    )
    market.advance(3600)
    workers = by_worker(client, hit_id)
    results = report(client, hit_id, "HIT")["ReviewResults"]
    hit_results = {
        (r["Key"], r.get("QuestionId")): r["Value"] for r in results if r["SubjectType"] == "HIT"
    }
    assert hit_results[("PluralityAnswer", "label")] == "cat"
    assert hit_results[("PluralityLevel", "label")] == "66"
    assert hit_results[("HITAgreementScore", None)] == "100"
    agreement = {r["SubjectId"]: r["Value"] for r in results if r["Key"] == "WorkerAgreementScore"}
    assert agreement == {
        workers[GOOD]["AssignmentId"]: "100",
        workers[OTHER]["AssignmentId"]: "100",
        workers[BAD]["AssignmentId"]: "0",
    }
    assert {w: a["AssignmentStatus"] for w, a in workers.items()} == {
        GOOD: "Approved",
        OTHER: "Approved",
        BAD: "Rejected",
    }
    slot = fees.assignment_cost(REWARD, max_assignments=3, masters=False)
    assert balance(client) == start - 2 * slot
    assert market.status()["balanced"]


def test_plurality_extends_a_hit_below_the_threshold(tmp_path: Path) -> None:
    market = market_with(tmp_path, {GOOD: "cat", BAD: "dog"})
    client = inprocess_client(market)
    hit_id = create(
        client,
        2,
        HITReviewPolicy=plurality(
            ExtendIfHITAgreementScoreIsLessThan="100",
            ExtendMaximumAssignments="3",
            ExtendMinimumTimeInSeconds="3600",
            ApproveIfWorkerAgreementScoreIsAtLeast="100",
        ),
    )
    market.advance(1800)
    results = report(client, hit_id, "HIT")
    keys = {(r["Key"], r["Value"]) for r in results["ReviewResults"]}
    assert ("PluralityLevel", "50") in keys  # one cat, one dog: 50 is not above 50
    assert ("HITAgreementScore", "0") in keys
    assert not any(k == "PluralityAnswer" for k, _ in keys)
    assert [(a["ActionName"], a["Status"]) for a in results["ReviewActions"]] == [
        ("review", "Succeeded"),
        ("extend", "Succeeded"),
    ]
    hit = client.get_hit(HITId=hit_id)["HIT"]
    assert (hit["MaxAssignments"], hit["HITStatus"]) == (3, "Assignable")
    # The workers wait for a settled plurality: nobody approved yet.
    assert {a["AssignmentStatus"] for a in by_worker(client, hit_id).values()} == {"Submitted"}


@pytest.mark.parametrize(
    ("policy", "slot", "fragment"),
    [
        ({"PolicyName": "MajorityVote/2011-09-01"}, "HITReviewPolicy", "unknown PolicyName"),
        (plurality(), "AssignmentReviewPolicy", "not a policy of this level"),
        (known_answers(Bogus="1"), "AssignmentReviewPolicy", "unknown parameter 'Bogus'"),
        (
            known_answers(ApproveIfKnownAnswerScoreIsAtLeast="102"),
            "AssignmentReviewPolicy",
            "between 0 and 101",
        ),
        (
            {"PolicyName": "ScoreMyKnownAnswers/2011-09-01", "Parameters": []},
            "AssignmentReviewPolicy",
            "AnswerKey is required",
        ),
        (
            plurality(ExtendIfHITAgreementScoreIsLessThan="50"),
            "HITReviewPolicy",
            "ExtendMaximumAssignments is required",
        ),
    ],
)
def test_policies_mturk_refuses_are_refused(
    tmp_path: Path, policy: dict[str, Any], slot: str, fragment: str
) -> None:
    market = market_with(tmp_path, {GOOD: "cat"})
    client = inprocess_client(market)
    with pytest.raises(ClientError) as refused:
        create(client, 1, **{slot: policy})
    response = refused.value.response
    assert response["Error"]["Code"] == "RequestError"
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert fragment in response["Error"]["Message"]
    assert client.list_hits()["NumResults"] == 0
    assert balance(client) == Decimal("10000.00")


def test_plurality_settles_after_the_extension_brings_another_answer(tmp_path: Path) -> None:
    answers = {GOOD: "cat", BAD: "dog"}
    market = market_with(tmp_path, answers)
    client = inprocess_client(market)
    hit_id = create(
        client,
        2,
        HITReviewPolicy=plurality(
            ExtendIfHITAgreementScoreIsLessThan="100",
            ExtendMaximumAssignments="3",
            ExtendMinimumTimeInSeconds="3600",
            ApproveIfWorkerAgreementScoreIsAtLeast="100",
            RejectIfWorkerAgreementScoreIsLessThan="100",
        ),
    )
    market.advance(1800)
    assert client.get_hit(HITId=hit_id)["HIT"]["MaxAssignments"] == 3
    # A third worker joins the crowd (the same database, one more planted worker).
    answers[OTHER] = "cat"
    market = market_with(tmp_path, answers)
    client = inprocess_client(market)
    market.advance(3600)
    statuses = {w: a["AssignmentStatus"] for w, a in by_worker(client, hit_id).items()}
    assert statuses == {GOOD: "Approved", OTHER: "Approved", BAD: "Rejected"}
    results = report(client, hit_id, "HIT")
    # The second run replaced the first run's results; every action stays on record.
    keys = {(r["Key"], r.get("QuestionId"), r["Value"]) for r in results["ReviewResults"]}
    assert ("PluralityAnswer", "label", "cat") in keys
    assert ("PluralityLevel", "label", "66") in keys
    assert ("HITAgreementScore", None, "100") in keys
    assert ("HITAgreementScore", None, "0") not in keys
    names = [a["ActionName"] for a in results["ReviewActions"]]
    assert names[:3] == ["review", "extend", "review"]
    assert sorted(names[3:]) == ["approve", "approve", "reject"]  # in submission order
    assert client.get_hit(HITId=hit_id)["HIT"]["MaxAssignments"] == 3  # no second extension
    assert market.status()["balanced"]


def test_a_hit_that_expires_unworked_is_not_extended(tmp_path: Path) -> None:
    market = market_with(tmp_path, {})
    client = inprocess_client(market)
    hit_id = create(
        client,
        2,
        HITReviewPolicy=plurality(
            ExtendIfHITAgreementScoreIsLessThan="100",
            ExtendMaximumAssignments="3",
            ExtendMinimumTimeInSeconds="3600",
        ),
    )
    market.advance(86400 + 60)
    hit = client.get_hit(HITId=hit_id)["HIT"]
    assert (hit["MaxAssignments"], hit["HITStatus"]) == (2, "Reviewable")
    results = report(client, hit_id, "HIT")
    assert results["ReviewResults"] == []
    assert [a["ActionName"] for a in results["ReviewActions"]] == ["review"]
