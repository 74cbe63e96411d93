"""The documented rules: tokens, the rule at 10, funds, HIT types, preconditions, blocks and
bonuses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mturkmake import fees
from mturkmake.marketplace import ids
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

FORM = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/QuestionForm.xsd"><Question><QuestionIdentifier>q</QuestionIdentifier>'
    "<QuestionContent><Text>Say</Text></QuestionContent><AnswerSpecification><FreeTextAnswer/>"
    "</AnswerSpecification></Question></QuestionForm>"
)


def hit_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Title": "Say",
        "Description": "Say something",
        "Reward": "0.25",
        "LifetimeInSeconds": 3600,
        "AssignmentDurationInSeconds": 300,
        "MaxAssignments": 2,
        "Question": FORM,
    }
    params.update(overrides)
    return params


@pytest.fixture
def market(tmp_path: Path) -> Marketplace:
    return Marketplace(tmp_path / "market.db")


@pytest.fixture
def steady(tmp_path: Path) -> Marketplace:
    """A crowd that never returns or abandons work: tests that count which workers take a
    HIT's slots need every eligible worker to finish what it accepts."""
    return Marketplace(tmp_path / "market.db", MarketplaceSettings(return_rate=0, abandon_rate=0))


def balance(market: Marketplace) -> Decimal:
    return Decimal(market.call("GetAccountBalance", {})["AvailableBalance"])


def error_of(market: Marketplace, operation: str, params: dict[str, Any]) -> RequestError:
    with pytest.raises(RequestError) as caught:
        market.call(operation, params)
    return caught.value


def test_a_duplicate_create_token_names_the_existing_hit_for_24_hours(market: Marketplace) -> None:
    first = market.call("CreateHIT", hit_params(UniqueRequestToken="row-1"))["HIT"]["HITId"]
    again = error_of(market, "CreateHIT", hit_params(UniqueRequestToken="row-1"))
    assert again.turk_error_code == "AWS.MechanicalTurk.HitAlreadyExists"
    assert first in again.message
    type_id = market.call("GetHIT", {"HITId": first})["HIT"]["HITTypeId"]
    other = error_of(
        market,
        "CreateHITWithHITType",
        {
            "HITTypeId": type_id,
            "LifetimeInSeconds": 60,
            "Question": FORM,
            "UniqueRequestToken": "row-1",
        },
    )
    assert first in other.message
    assert market.request_log() == [("CreateHIT", first)]
    assert balance(market) == Decimal("10000.00") - 2 * Decimal("0.30")

    market.advance(86_400)  # the token expires after 24 (virtual) hours
    second = market.call("CreateHIT", hit_params(UniqueRequestToken="row-1"))["HIT"]["HITId"]
    assert second != first
    assert [op for op, _ in market.request_log()] == ["CreateHIT", "CreateHIT"]


def test_a_duplicate_bonus_or_extension_token_is_refused_and_moves_no_money(
    market: Marketplace,
) -> None:
    hit_id = market.call("CreateHIT", hit_params())["HIT"]["HITId"]
    market.advance(120)
    assignment = market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"][0]
    bonus = {
        "WorkerId": assignment["WorkerId"],
        "AssignmentId": assignment["AssignmentId"],
        "BonusAmount": "1.00",
        "Reason": "thanks",
        "UniqueRequestToken": "b-1",
    }
    before = balance(market)
    market.call("SendBonus", bonus)
    assert balance(market) == before - fees.bonus_cost("1.00") == before - Decimal("1.20")
    duplicate = error_of(market, "SendBonus", bonus)
    assert duplicate.message == 'The idempotency token "b-1" has already been processed.'
    assert balance(market) == before - Decimal("1.20")
    market.call(
        "CreateAdditionalAssignmentsForHIT",
        {"HITId": hit_id, "NumberOfAdditionalAssignments": 1, "UniqueRequestToken": "x-1"},
    )
    assert (
        "already been processed"
        in error_of(
            market,
            "CreateAdditionalAssignmentsForHIT",
            {"HITId": hit_id, "NumberOfAdditionalAssignments": 1, "UniqueRequestToken": "x-1"},
        ).message
    )
    assert market.call("GetHIT", {"HITId": hit_id})["HIT"]["MaxAssignments"] == 3


def test_a_retried_call_with_the_same_hint_acts_once(market: Marketplace) -> None:
    first = market.call("CreateHIT", hit_params(), request_token_hint="attempt-A")
    again = market.call("CreateHIT", hit_params(), request_token_hint="attempt-A")
    assert again == first
    assert len(market.request_log()) == 1


def test_extra_assignments_cannot_cross_ten_and_are_reserved(market: Marketplace) -> None:
    small = market.call("CreateHIT", hit_params(MaxAssignments=9))["HIT"]["HITId"]
    wrong = error_of(
        market,
        "CreateAdditionalAssignmentsForHIT",
        {"HITId": small, "NumberOfAdditionalAssignments": 1},
    )
    assert wrong.turk_error_code == "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"
    big = market.call("CreateHIT", hit_params(MaxAssignments=10))["HIT"]["HITId"]
    before = balance(market)
    market.call(
        "CreateAdditionalAssignmentsForHIT", {"HITId": big, "NumberOfAdditionalAssignments": 5}
    )
    # 40 % commission on a HIT of ten or more: 0.25 + 0.10 per slot
    assert balance(market) == before - 5 * Decimal("0.35")
    assert market.status()["balanced"] is True


def test_insufficient_funds_creates_nothing(market: Marketplace) -> None:
    wrong = error_of(market, "CreateHIT", hit_params(Reward="5000.00", MaxAssignments=2))
    assert wrong.turk_error_code == "AWS.MechanicalTurk.InsufficientFunds"
    assert "insufficient funds" in wrong.message
    assert market.call("ListHITs", {})["NumResults"] == 0
    assert market.request_log() == []
    assert balance(market) == Decimal("10000.00")


def test_equal_type_properties_share_one_hit_type(market: Marketplace) -> None:
    type_params = {
        k: v
        for k, v in hit_params().items()
        if k in ("Title", "Description", "Reward", "AssignmentDurationInSeconds")
    }
    type_id = market.call("CreateHITType", type_params)["HITTypeId"]
    assert market.call("CreateHITType", type_params)["HITTypeId"] == type_id
    hit = market.call("CreateHIT", hit_params())["HIT"]
    assert hit["HITTypeId"] == type_id
    assert market.call("CreateHIT", hit_params(Reward="0.26"))["HIT"]["HITTypeId"] != type_id
    assert len(type_id) == 30
    assert type_id.isalnum()
    assert type_id.upper() == type_id


def test_identical_requests_without_token_create_distinct_hits(market: Marketplace) -> None:
    one = market.call("CreateHIT", hit_params())["HIT"]["HITId"]
    two = market.call("CreateHIT", hit_params())["HIT"]["HITId"]
    assert one != two


def test_hit_preconditions_give_mturk_messages(market: Marketplace) -> None:
    missing = error_of(market, "GetHIT", {"HITId": "3NOPE"})
    assert (missing.message, missing.turk_error_code) == (
        "Hit 3NOPE does not exist.",
        "AWS.MechanicalTurk.HITDoesNotExist",
    )
    hit_id = market.call("CreateHIT", hit_params())["HIT"]["HITId"]
    live = error_of(market, "DeleteHIT", {"HITId": hit_id})
    assert live.message == (
        "This HIT is currently in the state 'Assignable'.  This operation "
        "can be called with a status of: Reviewing, Reviewable"
    )
    assert "Reviewable" in error_of(market, "UpdateHITReviewStatus", {"HITId": hit_id}).message
    assert (
        "Reviewing"
        in error_of(market, "UpdateHITReviewStatus", {"HITId": hit_id, "Revert": True}).message
    )


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({"Question": None}, "Either a Question parameter or a HITLayoutId"),
        ({"Question": "<QuestionForm"}, "not well-formed"),
        ({"Question": "<Other/>"}, "must be one of"),
        ({"Title": "x" * 129}, "Title"),
        ({"LifetimeInSeconds": 10}, "LifetimeInSeconds"),
        ({"AutoApprovalDelayInSeconds": 2_592_001}, "AutoApprovalDelayInSeconds"),
        ({"RequesterAnnotation": "x" * 256}, "RequesterAnnotation"),
        (
            {
                "QualificationRequirements": [
                    {
                        "QualificationTypeId": "00000000000000000060",
                        "Comparator": "Exists",
                        "IntegerValues": [1],
                    }
                ]
            },
            "takes no value",
        ),
        (
            {
                "QualificationRequirements": [
                    {
                        "QualificationTypeId": "00000000000000000060",
                        "Comparator": "EqualTo",
                        "LocaleValues": [{"Country": "US"}],
                    }
                ]
            },
            "LocaleValues only",
        ),
        (
            {
                "QualificationRequirements": [
                    {"QualificationTypeId": "NOSUCHTYPE", "Comparator": "Exists"}
                ]
            },
            "does not exist",
        ),
        (
            {
                "QualificationRequirements": [
                    {"QualificationTypeId": "00000000000000000060", "Comparator": "Exists"}
                ]
                * 11
            },
            "between zero and ten",
        ),
    ],
)
def test_create_hit_rules(market: Marketplace, overrides: dict[str, Any], text: str) -> None:
    params = {k: v for k, v in hit_params(**overrides).items() if v is not None}
    assert text in error_of(market, "CreateHIT", params).message
    assert market.request_log() == []


def test_a_blocked_worker_takes_no_work_and_bonuses_need_the_right_worker(
    steady: Marketplace,
) -> None:
    market = steady
    blocked = ids.worker_id(0, 0)
    market.call("CreateWorkerBlock", {"WorkerId": blocked, "Reason": "spam"})
    hit_id = market.call("CreateHIT", hit_params(MaxAssignments=20))["HIT"]["HITId"]
    market.advance(600)
    done = market.call("ListAssignmentsForHIT", {"HITId": hit_id, "MaxResults": 100})
    workers = {a["WorkerId"] for a in done["Assignments"]}
    assert len(workers) == 19
    assert blocked not in workers
    assignment = done["Assignments"][0]
    wrong = error_of(
        market,
        "SendBonus",
        {
            "WorkerId": blocked,
            "AssignmentId": assignment["AssignmentId"],
            "BonusAmount": "1",
            "Reason": "r",
        },
    )
    assert "not done by worker" in wrong.message
    assert (
        "greater than 0"
        in error_of(
            market,
            "SendBonus",
            {
                "WorkerId": assignment["WorkerId"],
                "AssignmentId": assignment["AssignmentId"],
                "BonusAmount": "0.00",
                "Reason": "r",
            },
        ).message
    )
    assert "Either the HITId" in error_of(market, "ListBonusPayments", {}).message


def test_a_new_hit_type_reprices_the_reservation(market: Marketplace) -> None:
    hit_id = market.call("CreateHIT", hit_params(MaxAssignments=2))["HIT"]["HITId"]
    assert balance(market) == Decimal("10000.00") - 2 * Decimal("0.30")
    masters = market.call(
        "CreateHITType",
        {
            "Title": "Say",
            "Description": "Say something",
            "Reward": "1.00",
            "AssignmentDurationInSeconds": 300,
            "QualificationRequirements": [
                {"QualificationTypeId": "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6", "Comparator": "Exists"}
            ],
        },
    )
    market.call("UpdateHITTypeOfHIT", {"HITId": hit_id, "HITTypeId": masters["HITTypeId"]})
    slot = fees.assignment_cost("1.00", max_assignments=2, masters=True)
    assert slot == Decimal("1.25")  # 20 % + 5 % Masters
    assert balance(market) == Decimal("10000.00") - 2 * slot
    hit = market.call("GetHIT", {"HITId": hit_id})["HIT"]
    assert (hit["Reward"], hit["HITTypeId"]) == ("1.00", masters["HITTypeId"])
    assert market.status()["balanced"] is True


def test_overriding_a_rejection_pays_again_within_30_days(market: Marketplace) -> None:
    hit_id = market.call("CreateHIT", hit_params(MaxAssignments=1))["HIT"]["HITId"]
    market.advance(120)
    assignment = market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"][0]
    market.call(
        "RejectAssignment", {"AssignmentId": assignment["AssignmentId"], "RequesterFeedback": "no"}
    )
    assert balance(market) == Decimal("10000.00")
    market.call(
        "ApproveAssignment", {"AssignmentId": assignment["AssignmentId"], "OverrideRejection": True}
    )
    approved = market.call("GetAssignment", {"AssignmentId": assignment["AssignmentId"]})
    assert approved["Assignment"]["AssignmentStatus"] == "Approved"
    assert "RejectionTime" not in approved["Assignment"]
    assert balance(market) == Decimal("10000.00") - Decimal("0.30")

    other = market.call("CreateHIT", hit_params(MaxAssignments=1, Title="Later"))["HIT"]["HITId"]
    market.advance(120)
    second = market.call("ListAssignmentsForHIT", {"HITId": other})["Assignments"][0]
    market.call(
        "RejectAssignment", {"AssignmentId": second["AssignmentId"], "RequesterFeedback": "no"}
    )
    market.advance(30 * 86400 + 1)
    with pytest.raises(RequestError, match="30 days"):
        market.call(
            "ApproveAssignment", {"AssignmentId": second["AssignmentId"], "OverrideRejection": True}
        )


def test_extra_assignments_reopen_a_full_hit(market: Marketplace) -> None:
    hit_id = market.call("CreateHIT", hit_params(MaxAssignments=2))["HIT"]["HITId"]
    market.advance(120)
    assert market.call("GetHIT", {"HITId": hit_id})["HIT"]["HITStatus"] == "Reviewable"
    market.call("UpdateHITReviewStatus", {"HITId": hit_id})
    market.call(
        "CreateAdditionalAssignmentsForHIT", {"HITId": hit_id, "NumberOfAdditionalAssignments": 2}
    )
    hit = market.call("GetHIT", {"HITId": hit_id})["HIT"]
    assert (hit["HITStatus"], hit["NumberOfAssignmentsAvailable"]) == ("Assignable", 2)
    market.advance(120)
    done = market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]
    assert len(done) == 4
    assert len({a["WorkerId"] for a in done}) == 4
    assert ("CreateAdditionalAssignmentsForHIT", hit_id) in market.request_log()
