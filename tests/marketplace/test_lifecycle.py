"""One HIT's whole life through a real boto3 client — create, accept, submit, approve and
reject, auto-approval, expiry, delete — with status, counters and balance asserted at each
step. Balance = 10000 − reservations − payments, to the cent (fees from mturkmake.fees)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mturkmake.fees import assignment_cost

from .conftest import HTML_QUESTION

START = Decimal("10000.00")
REWARD = "1.00"
SLOTS = 4
COST = assignment_cost(REWARD, max_assignments=SLOTS)  # 1.00 + 20 % = 1.20


def balance(client: Any) -> Decimal:
    return Decimal(client.get_account_balance()["AvailableBalance"])


def hit_state(client: Any, hit_id: str) -> tuple[str, int, int, int]:
    hit = client.get_hit(HITId=hit_id)["HIT"]
    return (
        hit["HITStatus"],
        hit["NumberOfAssignmentsAvailable"],
        hit["NumberOfAssignmentsPending"],
        hit["NumberOfAssignmentsCompleted"],
    )


def assignments(client: Any, hit_id: str) -> list[dict[str, Any]]:
    found = client.list_assignments_for_hit(HITId=hit_id, MaxResults=100)["Assignments"]
    return sorted(found, key=lambda a: a["AssignmentId"])


def advance_until(marketplace: Any, done: Any, *, step: float = 1.0, limit: int = 7200) -> None:
    for _ in range(limit):
        if done():
            return
        marketplace.advance(step)
    raise AssertionError("the marketplace never reached the expected state")


def test_a_hit_from_creation_to_deletion(any_client: Any, marketplace: Any) -> None:
    client = any_client
    assert Decimal("1.20") == COST
    assert balance(client) == START

    # Create: the maximum cost is reserved at once.
    hit = client.create_hit(
        LifetimeInSeconds=7200,
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=3600,
        Reward=REWARD,
        Title="Describe a picture",
        Description="One sentence",
        MaxAssignments=SLOTS,
        Question=HTML_QUESTION,
    )["HIT"]
    hit_id = hit["HITId"]
    assert hit["HITStatus"] == "Assignable"
    assert hit_state(client, hit_id) == ("Assignable", SLOTS, 0, 0)
    assert balance(client) == START - SLOTS * COST  # 9995.20

    # Accept: a worker takes a slot; the money does not move.
    advance_until(marketplace, lambda: hit_state(client, hit_id)[2] > 0)
    status, available, pending, completed = hit_state(client, hit_id)
    submitted = [a for a in assignments(client, hit_id) if a["AssignmentStatus"] == "Submitted"]
    assert available + pending + len(submitted) == SLOTS
    assert completed == 0
    assert status == ("Assignable" if available else "Unassignable")
    assert balance(client) == START - SLOTS * COST

    # Submit: every slot is done; the HIT waits for review.
    advance_until(
        marketplace,
        lambda: len(assignments(client, hit_id)) == SLOTS and hit_state(client, hit_id)[2] == 0,
    )
    work = assignments(client, hit_id)
    assert [a["AssignmentStatus"] for a in work] == ["Submitted"] * SLOTS
    assert len({a["WorkerId"] for a in work}) == SLOTS  # one submission per worker
    assert hit_state(client, hit_id) == ("Reviewable", 0, 0, 0)
    for a in work:
        assert (a["AutoApprovalTime"] - a["SubmitTime"]).total_seconds() == 3600
    assert balance(client) == START - SLOTS * COST

    # Approve one (paid from its reservation) and reject one (its reservation comes back).
    first, second, third, fourth = (a["AssignmentId"] for a in work)
    client.approve_assignment(AssignmentId=first, RequesterFeedback="Good")
    assert hit_state(client, hit_id) == ("Reviewable", 0, 0, 1)
    assert balance(client) == START - SLOTS * COST
    client.reject_assignment(AssignmentId=second, RequesterFeedback="Empty answer")
    assert hit_state(client, hit_id) == ("Reviewable", 0, 0, 2)
    assert balance(client) == START - (SLOTS - 1) * COST  # 9996.40
    with pytest.raises(client.exceptions.RequestError) as twice:
        client.approve_assignment(AssignmentId=first)
    assert twice.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidAssignmentState"

    # A HIT with unreviewed work cannot be deleted.
    with pytest.raises(client.exceptions.RequestError):
        client.delete_hit(HITId=hit_id)

    # Auto-approval: the other two are approved and paid when their time comes.
    marketplace.advance(3600)
    states = {a["AssignmentId"]: a["AssignmentStatus"] for a in assignments(client, hit_id)}
    assert states == {first: "Approved", second: "Rejected", third: "Approved", fourth: "Approved"}
    assert hit_state(client, hit_id) == ("Reviewable", 0, 0, SLOTS)
    assert balance(client) == START - (SLOTS - 1) * COST

    # Delete: disposed, gone from ListHITs, money unchanged.
    client.delete_hit(HITId=hit_id)
    assert hit_id not in {h["HITId"] for h in client.list_hits()["HITs"]}
    assert client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Disposed"
    assert balance(client) == START - (SLOTS - 1) * COST


def test_expiry_releases_the_unfilled_slots(any_client: Any, marketplace: Any) -> None:
    client = any_client
    nobody = client.create_qualification_type(
        Name="Nobody has this", Description="Keeps workers away", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    cost = assignment_cost("0.50", max_assignments=2)
    hit_id = client.create_hit(
        LifetimeInSeconds=600,
        AssignmentDurationInSeconds=300,
        Reward="0.50",
        Title="Nobody can take this",
        Description="Expires unfilled",
        MaxAssignments=2,
        Question=HTML_QUESTION,
        QualificationRequirements=[
            {"QualificationTypeId": nobody, "Comparator": "Exists", "ActionsGuarded": "Accept"}
        ],
    )["HIT"]["HITId"]
    assert balance(client) == START - 2 * cost
    marketplace.advance(300)
    assert hit_state(client, hit_id) == ("Assignable", 2, 0, 0)
    marketplace.advance(301)
    status, available, pending, completed = hit_state(client, hit_id)
    assert (status, pending, completed) == ("Reviewable", 0, 0)
    assert available == 0
    assert balance(client) == START
    assert assignments(client, hit_id) == []
    client.delete_hit(HITId=hit_id)
    assert balance(client) == START


def test_expiring_early_keeps_accepted_work(client: Any, marketplace: Any) -> None:
    cost = assignment_cost("0.20", max_assignments=3)
    hit_id = client.create_hit(
        LifetimeInSeconds=86400,
        AssignmentDurationInSeconds=3000,
        Reward="0.20",
        Title="Expire me",
        Description="UpdateExpirationForHIT into the past",
        MaxAssignments=3,
        Question=HTML_QUESTION,
    )["HIT"]["HITId"]
    advance_until(marketplace, lambda: hit_state(client, hit_id)[2] > 0)
    taken = 3 - hit_state(client, hit_id)[1]
    client.update_expiration_for_hit(HITId=hit_id, ExpireAt=0)
    status, available, _pending, _completed = hit_state(client, hit_id)
    assert available == 0
    assert status in ("Unassignable", "Reviewable")
    # The unfilled slots' money is back; the accepted ones stay reserved until decided.
    assert balance(client) == START - taken * cost
    marketplace.advance(3000)
    work = assignments(client, hit_id)
    assert len(work) == taken
    assert {a["AssignmentStatus"] for a in work} == {"Submitted"}
    assert hit_state(client, hit_id)[0] == "Reviewable"
