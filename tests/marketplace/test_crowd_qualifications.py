"""Workers who miss only a requestable qualification with a test request it and take the test."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from mturkmake.formats.answerkey import parse_answer_key, score
from mturkmake.formats.answers import parse_answer_records
from mturkmake.formats.question import QuestionForm, SelectionSpec, parse_question
from mturkmake.marketplace.clock import to_epoch
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

START = 1767225600  # 2026-01-01T00:00:00Z, the default local.start

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"


def choice_question(qid: str, ids: str) -> str:
    choices = "".join(
        f"<Selection><SelectionIdentifier>{i}</SelectionIdentifier><Text>{i}</Text></Selection>"
        for i in ids
    )
    return (
        f"<Question><QuestionIdentifier>{qid}</QuestionIdentifier><QuestionContent><Text>"
        f"{qid}?</Text></QuestionContent><AnswerSpecification><SelectionAnswer>"
        f"<StyleSuggestion>radiobutton</StyleSuggestion><Selections>{choices}</Selections>"
        "</SelectionAnswer></AnswerSpecification></Question>"
    )


TEST = (
    f'<QuestionForm xmlns="{NS}2017-11-06/QuestionForm.xsd">'
    + choice_question("q1", "abc")
    + choice_question("q2", "xyz")
    + "<Question><QuestionIdentifier>why</QuestionIdentifier><QuestionContent><Text>Why?"
    "</Text></QuestionContent><AnswerSpecification><FreeTextAnswer><Constraints>"
    '<Length minLength="3" maxLength="40"/></Constraints></FreeTextAnswer>'
    "</AnswerSpecification></Question></QuestionForm>"
)


def key_question(qid: str, right: str) -> str:
    return (
        f"<Question><QuestionIdentifier>{qid}</QuestionIdentifier><AnswerOption>"
        f"<SelectionIdentifier>{right}</SelectionIdentifier><AnswerScore>1</AnswerScore>"
        "</AnswerOption></Question>"
    )


KEY = (
    f'<AnswerKey xmlns="{NS}2005-10-01/AnswerKey.xsd">'
    + key_question("q1", "b")
    + key_question("q2", "z")
    + "<QualificationValueMapping><PercentageMapping>"
    "<MaximumSummedScore>2</MaximumSummedScore></PercentageMapping>"
    "</QualificationValueMapping></AnswerKey>"
)
FORM = (
    f'<QuestionForm xmlns="{NS}2017-11-06/QuestionForm.xsd">'
    + choice_question("label", "pq")
    + "</QuestionForm>"
)


def qualification_type(market: Marketplace, name: str, **extra: Any) -> str:
    created = market.call(
        "CreateQualificationType",
        {
            "Name": name,
            "Description": "A test to reach the work",
            "QualificationTypeStatus": "Active",
            "Test": TEST,
            "TestDurationInSeconds": 600,
            **extra,
        },
    )
    return str(created["QualificationType"]["QualificationTypeId"])


def gated_hit(market: Marketplace, type_id: str, minimum: int = 1) -> str:
    hit = market.call(
        "CreateHIT",
        {
            "Title": "Gated",
            "Description": "Needs the test",
            "Reward": "0.10",
            "LifetimeInSeconds": 4 * 3600,
            "AssignmentDurationInSeconds": 300,
            "MaxAssignments": 5,
            "Question": FORM,
            "QualificationRequirements": [
                {
                    "QualificationTypeId": type_id,
                    "Comparator": "GreaterThanOrEqualTo",
                    "IntegerValues": [minimum],
                }
            ],
        },
    )
    return str(hit["HIT"]["HITId"])


def all_requests(market: Marketplace) -> list[dict[str, Any]]:
    """Every qualification request (pending or graded), read from the store."""
    conn = market.store.connection()
    return [
        dict(row) for row in conn.execute("SELECT * FROM qual_requests ORDER BY submit_time, id")
    ]


def assert_valid_test_answer(answer: str) -> dict[str, Any]:
    test = parse_question(TEST, source="test")
    assert isinstance(test, QuestionForm)
    records = {r.question_id: r for r in parse_answer_records(answer, source="answer")}
    assert set(records) == {"q1", "q2", "why"}
    for q in test.questions:
        record = records[q.identifier]
        if isinstance(q.answer, SelectionSpec):
            assert q.answer.problem(record.selections, record.other_selection_text) is None
        else:
            assert q.answer.problem(record.free_text or "") is None  # type: ignore[union-attr]
    return records


def test_a_gated_hit_draws_test_takers_within_three_hours(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db")
    type_id = qualification_type(market, "Manual review")
    hit_id = gated_hit(market, type_id)
    start = to_epoch(market.now())
    market.advance(3 * 3600)
    listed = market.call(
        "ListQualificationRequests", {"QualificationTypeId": type_id, "MaxResults": 100}
    )
    requests = listed["QualificationRequests"]
    assert len(requests) >= 2
    for request in requests:
        assert request["Test"] == TEST
        assert_valid_test_answer(request["Answer"])
        assert start <= float(request["SubmitTime"]) <= start + 3 * 3600
    # nobody is granted without the requester: the HIT stays untouched
    assert market.call("ListAssignmentsForHIT", {"HITId": hit_id})["NumResults"] == 0
    accepted = requests[0]
    market.call(
        "AcceptQualificationRequest",
        {"QualificationRequestId": accepted["QualificationRequestId"], "IntegerValue": 1},
    )
    market.advance(600)
    done = market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]
    assert [a["WorkerId"] for a in done] == [accepted["WorkerId"]]


def test_an_answer_key_grades_the_tests_and_grants_by_score(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db", MarketplaceSettings(accuracy=[0.3, 1.0]))
    type_id = qualification_type(market, "Graded", AnswerKey=KEY)
    hit_id = gated_hit(market, type_id, minimum=100)
    market.advance(3600)
    requests = all_requests(market)
    # each worker who looked before the HIT filled took the test once (no retakes allowed)
    assert len(requests) == len({r["worker_id"] for r in requests}) >= 5
    key = parse_answer_key(KEY, source="key")
    expected = {
        r["worker_id"]: score(key, parse_answer_records(r["answer"], source="a")) for r in requests
    }
    for request in requests:
        assert_valid_test_answer(request["answer"])
        assert request["state"] == "Granted"
    granted = {
        q["WorkerId"]: q["IntegerValue"]
        for q in market.call(
            "ListWorkersWithQualificationType", {"QualificationTypeId": type_id, "MaxResults": 100}
        )["Qualifications"]
    }
    assert granted == expected
    assert set(granted.values()) <= {0, 50, 100}
    assert len(set(granted.values())) > 1  # accuracies from 0.3: some fail, some pass
    workers = {
        a["WorkerId"]
        for a in market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]
    }
    assert workers
    assert workers <= {w for w, value in granted.items() if value == 100}


def test_failed_tests_are_retaken_only_after_the_retry_delay(tmp_path: Path) -> None:
    loser = "APLANTEDLOSER1"
    market = Marketplace(
        tmp_path / "m.db", MarketplaceSettings(workers=0, planted=[{"id": loser, "accuracy": 0.0}])
    )
    type_id = qualification_type(market, "Retake", AnswerKey=KEY, RetryDelayInSeconds=1800)
    gated_hit(market, type_id, minimum=100)
    market.advance(3 * 3600 + 60)
    requests = all_requests(market)
    # Each attempt takes 20–80 % of the 600 s TestDurationInSeconds before it is submitted,
    # and the next may start only 1800 s after that submission.
    assert [r["worker_id"] for r in requests] == [loser] * len(requests)
    assert 5 <= len(requests) <= 6
    times = [r["submit_time"] for r in requests]
    assert 120 <= times[0] - START <= 480
    assert all(
        1800 + 120 <= later - earlier <= 1800 + 480 for earlier, later in itertools.pairwise(times)
    )
    answers = [r["answer"] for r in requests]
    assert len(set(answers)) > 1  # each attempt is answered afresh
    for answer in answers:
        records = assert_valid_test_answer(answer)
        assert records["q1"].selections != ("b",)  # accuracy 0: always wrong
    score_now = market.call(
        "GetQualificationScore", {"QualificationTypeId": type_id, "WorkerId": loser}
    )
    assert score_now["Qualification"]["IntegerValue"] == 0


def test_without_retries_a_refused_worker_never_asks_again(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db", MarketplaceSettings(workers=3))
    type_id = qualification_type(market, "Once")
    gated_hit(market, type_id)
    market.advance(600)
    first = market.call("ListQualificationRequests", {"QualificationTypeId": type_id})
    assert first["NumResults"] == 3
    for request in first["QualificationRequests"]:
        market.call(
            "RejectQualificationRequest",
            {"QualificationRequestId": request["QualificationRequestId"]},
        )
    market.advance(3 * 3600)
    assert len(all_requests(market)) == 3
