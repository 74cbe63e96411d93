"""One HIT's whole life, asserting status, counters and balance (to the cent) at each step."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mturkmake import fees
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.service import Marketplace

FORM = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/QuestionForm.xsd"><Question><QuestionIdentifier>color</QuestionIdentifier>'
    "<QuestionContent><Text>Pick</Text></QuestionContent><AnswerSpecification><SelectionAnswer>"
    "<Selections><Selection><SelectionIdentifier>red</SelectionIdentifier><Text>Red</Text>"
    "</Selection><Selection><SelectionIdentifier>blue</SelectionIdentifier><Text>Blue</Text>"
    "</Selection></Selections></SelectionAnswer></AnswerSpecification></Question><Question>"
    "<QuestionIdentifier>age</QuestionIdentifier><QuestionContent><Text>Age?</Text>"
    '</QuestionContent><AnswerSpecification><FreeTextAnswer><Constraints><IsNumeric minValue="18"'
    ' maxValue="99"/></Constraints></FreeTextAnswer></AnswerSpecification></Question>'
    "</QuestionForm>"
)


def hit_state(market: Marketplace, hit_id: str) -> tuple[str, int, int, int]:
    hit = market.call("GetHIT", {"HITId": hit_id})["HIT"]
    return (
        hit["HITStatus"],
        hit["NumberOfAssignmentsAvailable"],
        hit["NumberOfAssignmentsPending"],
        hit["NumberOfAssignmentsCompleted"],
    )


def balance(market: Marketplace) -> Decimal:
    return Decimal(market.call("GetAccountBalance", {})["AvailableBalance"])


def create(market: Marketplace, **overrides: Any) -> str:
    params: dict[str, Any] = {
        "Title": "Colors",
        "Description": "Pick a color",
        "Reward": "0.50",
        "LifetimeInSeconds": 3600,
        "AssignmentDurationInSeconds": 600,
        "MaxAssignments": 3,
        "AutoApprovalDelayInSeconds": 7200,
        "Question": FORM,
    }
    params.update(overrides)
    hit_id: str = market.call("CreateHIT", params)["HIT"]["HITId"]
    return hit_id


def test_a_hit_from_creation_to_deletion(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "market.db")
    start = Decimal("10000.00")
    slot = fees.assignment_cost("0.50", max_assignments=3)
    assert slot == Decimal("0.60")

    hit_id = create(market)
    assert hit_state(market, hit_id) == ("Assignable", 3, 0, 0)
    assert balance(market) == start - 3 * slot == Decimal("9998.20")

    market.advance(1)  # the crowd accepts every slot at once
    assert hit_state(market, hit_id) == ("Unassignable", 0, 3, 0)
    assert market.call("ListAssignmentsForHIT", {"HITId": hit_id})["NumResults"] == 0
    assert balance(market) == Decimal("9998.20")

    market.advance(60)  # everyone submits within 50 s
    assert hit_state(market, hit_id) == ("Reviewable", 0, 0, 0)
    listed = market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]
    assert [a["AssignmentStatus"] for a in listed] == ["Submitted"] * 3
    assert len({a["WorkerId"] for a in listed}) == 3  # one assignment per worker per HIT
    for assignment in listed:
        assert "<SelectionIdentifier>" in assignment["Answer"]
        age = int(assignment["Answer"].split("<FreeText>")[1].split("<")[0])
        assert 18 <= age <= 99
        assert assignment["AutoApprovalTime"] == assignment["SubmitTime"] + 7200

    first, second, third = (a["AssignmentId"] for a in listed)
    market.call("ApproveAssignment", {"AssignmentId": first, "RequesterFeedback": "thanks"})
    assert hit_state(market, hit_id) == ("Reviewable", 0, 0, 1)
    assert balance(market) == Decimal("9998.20")  # paid from the reservation
    market.call("RejectAssignment", {"AssignmentId": second, "RequesterFeedback": "wrong"})
    assert hit_state(market, hit_id) == ("Reviewable", 0, 0, 2)
    assert balance(market) == Decimal("9998.80")  # the rejected slot's 0.60 comes back
    with pytest.raises(RequestError) as wrong_state:
        market.call("ApproveAssignment", {"AssignmentId": first})
    assert wrong_state.value.turk_error_code == "AWS.MechanicalTurk.InvalidAssignmentState"

    with pytest.raises(RequestError) as unreviewed:  # the third is still Submitted
        market.call("DeleteHIT", {"HITId": hit_id})
    assert "currently in the state 'Reviewable'" in unreviewed.value.message

    market.advance(7200)  # auto-approval
    third_row = market.call("GetAssignment", {"AssignmentId": third})["Assignment"]
    assert third_row["AssignmentStatus"] == "Approved"
    assert third_row["ApprovalTime"] == third_row["AutoApprovalTime"]
    assert hit_state(market, hit_id) == ("Reviewable", 0, 0, 3)
    assert balance(market) == Decimal("9998.80")

    # A second HIT nobody qualifies for expires unfilled: its whole reservation comes back.
    blocked = create(
        market,
        Reward="1.00",
        MaxAssignments=2,
        QualificationRequirements=[
            {
                "QualificationTypeId": "00000000000000000071",
                "Comparator": "EqualTo",
                "LocaleValues": [{"Country": "FR"}],
            }
        ],
    )
    assert balance(market) == Decimal("9998.80") - 2 * Decimal("1.20") == Decimal("9996.40")
    market.advance(1800)
    assert hit_state(market, blocked) == ("Assignable", 2, 0, 0)
    market.advance(1800)
    assert hit_state(market, blocked) == ("Reviewable", 0, 0, 0)
    assert balance(market) == Decimal("9998.80")

    market.call("DeleteHIT", {"HITId": hit_id})
    market.call("DeleteHIT", {"HITId": blocked})
    assert hit_state(market, hit_id)[0] == "Disposed"
    assert market.call("ListHITs", {})["NumResults"] == 0
    assert balance(market) == Decimal("9998.80") == start - 2 * slot
    status = market.status()
    assert status["balanced"] is True
    assert status["reserved"] == "0.00"
    assert status["spent"] == "1.20"
    # rejected work of a deleted HIT can no longer be approved
    with pytest.raises(RequestError, match="deleted"):
        market.call("ApproveAssignment", {"AssignmentId": second, "OverrideRejection": True})


def test_update_expiration_into_the_past_expires_now_and_accepted_work_still_counts(
    tmp_path: Path,
) -> None:
    market = Marketplace(tmp_path / "market.db")
    hit_id = create(market, MaxAssignments=5, Reward="0.10")
    assert balance(market) == Decimal("10000.00") - 5 * Decimal("0.12")
    market.advance(1)  # five workers accept
    assert hit_state(market, hit_id) == ("Unassignable", 0, 5, 0)
    market.call("UpdateExpirationForHIT", {"HITId": hit_id, "ExpireAt": 0})
    assert hit_state(market, hit_id) == ("Unassignable", 0, 5, 0)
    assert balance(market) == Decimal("9999.40")  # accepted work stays reserved
    market.advance(120)
    assert hit_state(market, hit_id) == ("Reviewable", 0, 0, 0)
    assert market.call("ListAssignmentsForHIT", {"HITId": hit_id})["NumResults"] == 5


def test_expiry_releases_unfilled_slots_and_extension_reserves_them_again(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "market.db")
    hit_id = create(
        market,
        MaxAssignments=2,
        Reward="1.00",
        QualificationRequirements=[
            {
                "QualificationTypeId": "00000000000000000060",
                "Comparator": "EqualTo",
                "IntegerValues": [0],
            }
        ],
    )  # every simulated worker is an adult: nobody qualifies
    assert balance(market) == Decimal("9997.60")
    market.call("UpdateExpirationForHIT", {"HITId": hit_id, "ExpireAt": 1})
    assert hit_state(market, hit_id) == ("Reviewable", 0, 0, 0)
    assert balance(market) == Decimal("10000.00")
    later = market.now().timestamp() + 3600
    market.call("UpdateExpirationForHIT", {"HITId": hit_id, "ExpireAt": later})
    assert hit_state(market, hit_id) == ("Assignable", 2, 0, 0)
    assert balance(market) == Decimal("9997.60")
    assert market.call("GetHIT", {"HITId": hit_id})["HIT"]["Expiration"] == later
    assert market.status()["balanced"] is True
