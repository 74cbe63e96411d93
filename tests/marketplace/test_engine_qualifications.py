"""Qualification types, tests, answer keys, auto-grant, retries, scores, and requirements the
crowd obeys when it looks for work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mturkmake.formats.answers import build_answers
from mturkmake.marketplace import ids
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
TEST = (
    f'<QuestionForm xmlns="{NS}2005-10-01/QuestionForm.xsd"><Question>'
    "<QuestionIdentifier>q1</QuestionIdentifier><QuestionContent><Text>2+2?</Text>"
    "</QuestionContent><AnswerSpecification><SelectionAnswer><Selections><Selection>"
    "<SelectionIdentifier>four</SelectionIdentifier><Text>4</Text></Selection><Selection>"
    "<SelectionIdentifier>five</SelectionIdentifier><Text>5</Text></Selection></Selections>"
    "</SelectionAnswer></AnswerSpecification></Question></QuestionForm>"
)
KEY = (
    f'<AnswerKey xmlns="{NS}2005-10-01/AnswerKey.xsd"><Question><QuestionIdentifier>q1'
    "</QuestionIdentifier><AnswerOption><SelectionIdentifier>four</SelectionIdentifier>"
    "<AnswerScore>1</AnswerScore></AnswerOption></Question><QualificationValueMapping>"
    "<PercentageMapping><MaximumSummedScore>1</MaximumSummedScore></PercentageMapping>"
    "</QualificationValueMapping></AnswerKey>"
)
FORM = TEST
WORKER = "A1TESTWORKER01"


@pytest.fixture
def market(tmp_path: Path) -> Marketplace:
    return Marketplace(tmp_path / "market.db")


@pytest.fixture
def steady(tmp_path: Path) -> Marketplace:
    """A crowd that never returns or abandons work: tests that count which workers take a
    HIT's slots need every eligible worker to finish what it accepts."""
    return Marketplace(tmp_path / "market.db", MarketplaceSettings(return_rate=0, abandon_rate=0))


def new_type(market: Marketplace, name: str = "Math", **params: Any) -> str:
    params = {"Name": name, "Description": "d", "QualificationTypeStatus": "Active", **params}
    type_id: str = market.call("CreateQualificationType", params)["QualificationType"][
        "QualificationTypeId"
    ]
    return type_id


def score(market: Marketplace, type_id: str, worker: str = WORKER) -> int:
    out = market.call("GetQualificationScore", {"QualificationTypeId": type_id, "WorkerId": worker})
    value: int = out["Qualification"]["IntegerValue"]
    return value


def test_names_are_unique_and_tests_follow_the_rules(market: Marketplace) -> None:
    new_type(market)
    with pytest.raises(RequestError) as duplicate:
        new_type(market)
    assert duplicate.value.turk_error_code == "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
    with pytest.raises(RequestError, match="TestDurationInSeconds"):
        new_type(market, "T2", Test=TEST)
    with pytest.raises(RequestError, match="cannot be AutoGranted"):
        new_type(market, "T3", Test=TEST, TestDurationInSeconds=60, AutoGranted=True)
    with pytest.raises(RequestError, match="needs a Test"):
        new_type(market, "T4", AnswerKey=KEY)


def test_answer_keys_grade_requests_at_once(market: Marketplace) -> None:
    type_id = new_type(market, Test=TEST, AnswerKey=KEY, TestDurationInSeconds=60)
    market.request_qualification(type_id, WORKER, build_answers({"q1": ["four"]}))
    assert score(market, type_id) == 100
    market.request_qualification(type_id, "A1OTHERWORKER1", build_answers({"q1": ["five"]}))
    assert score(market, type_id, "A1OTHERWORKER1") == 0
    assert market.call("ListQualificationRequests", {})["NumResults"] == 0


def test_auto_granted_types_grant_their_value(market: Marketplace) -> None:
    type_id = new_type(market, AutoGranted=True, AutoGrantedValue=42)
    market.request_qualification(type_id, WORKER)
    assert score(market, type_id) == 42


def test_retakes_need_a_retry_delay_and_wait_for_it(market: Marketplace) -> None:
    once = new_type(market, "Once")
    request = market.request_qualification(once, WORKER)
    market.call("RejectQualificationRequest", {"QualificationRequestId": request})
    with pytest.raises(RequestError) as no_retake:
        market.request_qualification(once, WORKER)
    assert no_retake.value.turk_error_code == (
        "AWS.MechanicalTurk.QualificationTypeDoesNotAllowRetake"
    )

    retry = new_type(market, "Retry", RetryDelayInSeconds=600)
    request = market.request_qualification(retry, WORKER)
    market.call("RejectQualificationRequest", {"QualificationRequestId": request})
    with pytest.raises(RequestError) as too_soon:
        market.request_qualification(retry, WORKER)
    assert too_soon.value.turk_error_code == (
        "AWS.MechanicalTurk.QualificationTypeRetryDelayNotElapsed"
    )
    market.advance(600)
    again = market.request_qualification(retry, WORKER)
    assert again != request
    market.call("AcceptQualificationRequest", {"QualificationRequestId": again})
    assert score(market, retry) == 1
    with pytest.raises(RequestError) as state:
        market.call("AcceptQualificationRequest", {"QualificationRequestId": again})
    assert "Pending" in state.value.message


def test_scores_reassociation_and_revocation(market: Marketplace) -> None:
    type_id = new_type(market)
    market.call(
        "AssociateQualificationWithWorker",
        {"QualificationTypeId": type_id, "WorkerId": WORKER, "IntegerValue": 10},
    )
    market.call(
        "AssociateQualificationWithWorker",
        {"QualificationTypeId": type_id, "WorkerId": WORKER, "IntegerValue": 80},
    )
    assert score(market, type_id) == 80  # re-association sets the new value
    market.call(
        "DisassociateQualificationFromWorker", {"QualificationTypeId": type_id, "WorkerId": WORKER}
    )
    with pytest.raises(RequestError) as revoked:
        score(market, type_id)
    assert "operation can be called with a status of: Granted" in revoked.value.message
    listed = market.call(
        "ListWorkersWithQualificationType", {"QualificationTypeId": type_id, "Status": "Revoked"}
    )
    assert [q["WorkerId"] for q in listed["Qualifications"]] == [WORKER]
    with pytest.raises(RequestError) as missing:
        score(market, type_id, "A1NOBODY000001")
    assert "does not exist" in missing.value.message
    with pytest.raises(RequestError) as system:
        market.call(
            "AssociateQualificationWithWorker",
            {"QualificationTypeId": "00000000000000000060", "WorkerId": WORKER},
        )
    assert system.value.turk_error_code == "AWS.MechanicalTurk.PermissionDenied"


def test_clt_sample_and_system_types_exist(market: Marketplace) -> None:
    owned = market.call(
        "ListQualificationTypes", {"MustBeRequestable": False, "MustBeOwnedByCaller": True}
    )
    assert {q["QualificationTypeId"] for q in owned["QualificationTypes"]} == {
        "HZKZ76XYF0SZ0GHSMYYZ",
        "N8T00NZSX9J0SHYQBWW0",
    }
    masters = market.call(
        "GetQualificationType", {"QualificationTypeId": "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6"}
    )
    assert masters["QualificationType"]["IsRequestable"] is False
    # site_filter's requirement (EqualTo 100, hidden from others) finds qualified workers
    hit = market.call(
        "CreateHIT",
        {
            "Title": "Filter",
            "Description": "d",
            "Reward": "0.01",
            "LifetimeInSeconds": 600,
            "AssignmentDurationInSeconds": 60,
            "MaxAssignments": 3,
            "Question": FORM,
            "QualificationRequirements": [
                {
                    "QualificationTypeId": "HZKZ76XYF0SZ0GHSMYYZ",
                    "Comparator": "EqualTo",
                    "IntegerValues": [100],
                    "ActionsGuarded": "DiscoverPreviewAndAccept",
                }
            ],
        },
    )["HIT"]
    market.advance(120)
    done = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"]})["Assignments"]
    assert len(done) == 3
    for assignment in done:
        assert score(market, "HZKZ76XYF0SZ0GHSMYYZ", assignment["WorkerId"]) == 100


def crowd_workers_on(market: Marketplace, requirements: list[dict[str, Any]]) -> set[str]:
    hit = market.call(
        "CreateHIT",
        {
            "Title": "Req",
            "Description": f"{requirements}",
            "Reward": "0.01",
            "LifetimeInSeconds": 600,
            "AssignmentDurationInSeconds": 60,
            "MaxAssignments": 25,
            "Question": FORM,
            "QualificationRequirements": requirements,
        },
    )["HIT"]
    market.advance(700)
    done = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"], "MaxResults": 100})
    return {a["WorkerId"] for a in done["Assignments"]}


def test_the_crowd_obeys_comparators_and_locales(steady: Marketplace) -> None:
    market = steady
    crowd = [ids.worker_id(0, i) for i in range(20)]
    type_id = new_type(market)
    for value, worker in zip((5, 10, 15), crowd, strict=False):
        market.call(
            "AssociateQualificationWithWorker",
            {"QualificationTypeId": type_id, "WorkerId": worker, "IntegerValue": value},
        )
    req = {"QualificationTypeId": type_id}
    assert crowd_workers_on(
        market, [{**req, "Comparator": "GreaterThanOrEqualTo", "IntegerValues": [10]}]
    ) == set(crowd[1:3])
    assert crowd_workers_on(market, [{**req, "Comparator": "In", "IntegerValues": [5, 15]}]) == {
        crowd[0],
        crowd[2],
    }
    assert crowd_workers_on(market, [{**req, "Comparator": "DoesNotExist"}]) == set(crowd[3:])
    assert crowd_workers_on(
        market,
        [{**req, "Comparator": "NotEqualTo", "IntegerValues": [5], "ActionsGuarded": "Accept"}],
    ) == {crowd[1], crowd[2]}
    assert crowd_workers_on(
        market,
        [
            {
                "QualificationTypeId": "00000000000000000071",
                "Comparator": "EqualTo",
                "LocaleValues": [{"Country": "US"}],
            }
        ],
    ) == set(crowd)
    subdivision = {
        "QualificationTypeId": "00000000000000000071",
        "Comparator": "In",
        "LocaleValues": [{"Country": "US", "Subdivision": "CA"}],
    }
    in_ca = crowd_workers_on(market, [subdivision])
    out_ca = crowd_workers_on(market, [{**subdivision, "Comparator": "NotIn"}])
    assert in_ca
    assert out_ca
    assert in_ca | out_ca == set(crowd)
    assert not in_ca & out_ca
    assert (
        crowd_workers_on(
            market,
            [{"QualificationTypeId": "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6", "Comparator": "Exists"}],
        )
        == set()
    )


def test_workers_take_tests_and_auto_granted_types_to_reach_work(steady: Marketplace) -> None:
    market = steady
    tested = new_type(market, "Tested", Test=TEST, AnswerKey=KEY, TestDurationInSeconds=60)
    holders = crowd_workers_on(
        market,
        [
            {
                "QualificationTypeId": tested,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [100],
            }
        ],
    )
    scores = {
        q["WorkerId"]: q["IntegerValue"]
        for q in market.call(
            "ListWorkersWithQualificationType", {"QualificationTypeId": tested, "MaxResults": 100}
        )["Qualifications"]
    }
    assert len(scores) == 20  # every worker took the test once
    assert holders == {w for w, value in scores.items() if value == 100}
    assert holders  # accuracy is at least 70 %
    auto = new_type(market, "Auto", AutoGranted=True, AutoGrantedValue=5)
    assert (
        len(
            crowd_workers_on(
                market,
                [{"QualificationTypeId": auto, "Comparator": "EqualTo", "IntegerValues": [5]}],
            )
        )
        == 20
    )
    hidden = new_type(market, "Hidden", AutoGranted=True)
    assert (
        crowd_workers_on(
            market,
            [
                {
                    "QualificationTypeId": hidden,
                    "Comparator": "Exists",
                    "ActionsGuarded": "DiscoverPreviewAndAccept",
                }
            ],
        )
        == set()
    )
    manual = new_type(market, "Manual")  # no test, no auto-grant: nobody asks
    assert (
        crowd_workers_on(market, [{"QualificationTypeId": manual, "Comparator": "Exists"}]) == set()
    )
    assert market.call("ListQualificationRequests", {})["NumResults"] == 0
