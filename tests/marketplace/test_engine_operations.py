"""Every operation's success path, each output checked against botocore's output shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, Shape, StructureShape

from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.service import OPERATIONS, Marketplace

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
FORM = (
    f'<QuestionForm xmlns="{NS}2005-10-01/QuestionForm.xsd"><Question>'
    "<QuestionIdentifier>q1</QuestionIdentifier><QuestionContent><Text>Pick</Text>"
    "</QuestionContent><AnswerSpecification><SelectionAnswer><Selections><Selection>"
    "<SelectionIdentifier>yes</SelectionIdentifier><Text>Yes</Text></Selection><Selection>"
    "<SelectionIdentifier>no</SelectionIdentifier><Text>No</Text></Selection></Selections>"
    "</SelectionAnswer></AnswerSpecification></Question></QuestionForm>"
)
UPLOAD_FORM = FORM.replace(
    "<SelectionAnswer><Selections><Selection><SelectionIdentifier>yes</SelectionIdentifier>"
    "<Text>Yes</Text></Selection><Selection><SelectionIdentifier>no</SelectionIdentifier>"
    "<Text>No</Text></Selection></Selections></SelectionAnswer>",
    "<FileUploadAnswer><MaxFileSizeInBytes>1000</MaxFileSizeInBytes><MinFileSizeInBytes>10"
    "</MinFileSizeInBytes></FileUploadAnswer>",
)
HTML = (
    f'<HTMLQuestion xmlns="{NS}2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA['
    '<form><input type="text" name="comment"/><select name="size"><option value="S">S'
    '</option><option value="L">L</option></select></form>]]></HTMLContent>'
    "<FrameHeight>0</FrameHeight></HTMLQuestion>"
)
ANSWER_KEY = (
    '<AnswerKey xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/AnswerKey.xsd"><Question><QuestionIdentifier>q1</QuestionIdentifier>'
    "<AnswerOption><SelectionIdentifier>yes</SelectionIdentifier><AnswerScore>1"
    "</AnswerScore></AnswerOption></Question><QualificationValueMapping>"
    "<PercentageMapping><MaximumSummedScore>1</MaximumSummedScore></PercentageMapping>"
    "</QualificationValueMapping></AnswerKey>"
)
MODEL = botocore.session.get_session().get_service_model("mturk")


def check_shape(value: Any, shape: Shape, where: str) -> None:
    """Fail unless ``value`` is what botocore's parser accepts for ``shape``."""
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        assert isinstance(value, dict), where
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{where}: members not in the model: {unknown}"
        for name in shape.required_members:
            assert name in value, f"{where}: required {name} missing"
        for name, member in value.items():
            check_shape(member, shape.members[name], f"{where}.{name}")
    elif isinstance(shape, ListShape):
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            check_shape(item, shape.member, f"{where}[{index}]")
    elif kind == "string":
        assert isinstance(value, str), where
        enum = getattr(shape, "enum", None)
        if enum:
            assert value in enum, f"{where}: {value} not in {enum}"
    elif kind in ("integer", "long"):
        assert isinstance(value, int), where
        assert not isinstance(value, bool), where
    elif kind == "boolean":
        assert isinstance(value, bool), where
    elif kind == "timestamp":
        assert isinstance(value, (int, float)), where
        assert not isinstance(value, bool), where
    else:  # pragma: no cover - the MTurk model has no other kinds in outputs
        raise AssertionError(f"{where}: unexpected shape {kind}")


class Checked:
    """A marketplace whose every call is checked against the model's output shape."""

    def __init__(self, path: Path) -> None:
        self.market = Marketplace(path)
        self.seen: set[str] = set()

    def __call__(self, operation: str, **params: Any) -> dict[str, Any]:
        out = self.market.call(operation, params)
        shape = MODEL.operation_model(operation).output_shape
        assert shape is not None
        check_shape(out, shape, operation)
        self.seen.add(operation)
        return out


@pytest.fixture
def api(tmp_path: Path) -> Checked:
    return Checked(tmp_path / "market.db")


def test_every_operation_succeeds_with_its_model_shape(api: Checked) -> None:
    market = api.market
    qual = api(
        "CreateQualificationType",
        Name="Yes sayers",
        Description="Say yes",
        QualificationTypeStatus="Active",
        Test=FORM,
        AnswerKey=ANSWER_KEY,
        TestDurationInSeconds=300,
        RetryDelayInSeconds=60,
    )["QualificationType"]
    qual_id = qual["QualificationTypeId"]
    assert qual["IsRequestable"] is True
    assert api("GetQualificationType", QualificationTypeId=qual_id)["QualificationType"]["Name"]
    api("UpdateQualificationType", QualificationTypeId=qual_id, Description="Say yes, please")
    listed = api(
        "ListQualificationTypes",
        MustBeRequestable=True,
        MustBeOwnedByCaller=True,
        Query="yes sayers",
    )
    assert [q["QualificationTypeId"] for q in listed["QualificationTypes"]] == [qual_id]

    type_id = api(
        "CreateHITType",
        Title="Size",
        Description="Pick a size",
        Reward="0.20",
        AssignmentDurationInSeconds=300,
        AutoApprovalDelayInSeconds=3600,
        Keywords="size",
    )["HITTypeId"]
    html_hit = api(
        "CreateHITWithHITType",
        HITTypeId=type_id,
        LifetimeInSeconds=3600,
        MaxAssignments=2,
        Question=HTML,
        RequesterAnnotation="batch-1",
    )["HIT"]
    form_hit = api(
        "CreateHIT",
        Title="Yes",
        Description="Say yes",
        Reward="0.10",
        LifetimeInSeconds=3600,
        AssignmentDurationInSeconds=300,
        MaxAssignments=2,
        Question=FORM,
        QualificationRequirements=[
            {
                "QualificationTypeId": "000000000000000000L0",
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [90],
            }
        ],
    )["HIT"]
    upload_hit = api(
        "CreateHIT",
        Title="Upload",
        Description="Send a file",
        Reward="0.05",
        LifetimeInSeconds=3600,
        AssignmentDurationInSeconds=300,
        Question=UPLOAD_FORM,
    )["HIT"]
    gated = api(
        "CreateHIT",
        Title="Gated",
        Description="Qualified only",
        Reward="0.05",
        LifetimeInSeconds=3600,
        AssignmentDurationInSeconds=300,
        Question=FORM,
        QualificationRequirements=[{"QualificationTypeId": qual_id, "Comparator": "Exists"}],
    )["HIT"]
    assert api("GetHIT", HITId=html_hit["HITId"])["HIT"]["RequesterAnnotation"] == "batch-1"
    assert api("ListHITs", MaxResults=100)["NumResults"] == 4
    assert [
        h["HITId"] for h in api("ListHITsForQualificationType", QualificationTypeId=qual_id)["HITs"]
    ] == [gated["HITId"]]

    market.advance(120)
    html_answers = api("ListAssignmentsForHIT", HITId=html_hit["HITId"])["Assignments"]
    assert len(html_answers) == 2
    assert "<QuestionIdentifier>comment</QuestionIdentifier>" in html_answers[0]["Answer"]
    assert "<QuestionIdentifier>size</QuestionIdentifier>" in html_answers[0]["Answer"]
    first, second = (a["AssignmentId"] for a in html_answers)
    got = api("GetAssignment", AssignmentId=first)
    assert got["HIT"]["HITId"] == html_hit["HITId"]
    api("ApproveAssignment", AssignmentId=first, RequesterFeedback="good")
    api("RejectAssignment", AssignmentId=second, RequesterFeedback="incomplete")
    api("ApproveAssignment", AssignmentId=second, OverrideRejection=True)
    worker = got["Assignment"]["WorkerId"]
    api(
        "SendBonus",
        WorkerId=worker,
        BonusAmount="1.00",
        AssignmentId=first,
        Reason="great",
        UniqueRequestToken="bonus-1",
    )
    bonuses = api("ListBonusPayments", HITId=html_hit["HITId"])["BonusPayments"]
    assert [(b["WorkerId"], b["BonusAmount"]) for b in bonuses] == [(worker, "1.00")]
    assert api("ListBonusPayments", AssignmentId=first)["NumResults"] == 1

    upload = api("ListAssignmentsForHIT", HITId=upload_hit["HITId"])["Assignments"][0]
    url = api("GetFileUploadURL", AssignmentId=upload["AssignmentId"], QuestionIdentifier="q1")
    assert url["FileUploadURL"].startswith("https://local.mturkmake.invalid/")

    reviewable = api("ListReviewableHITs", Status="Reviewable", MaxResults=100)["HITs"]
    assert form_hit["HITId"] in [h["HITId"] for h in reviewable]
    api("UpdateHITReviewStatus", HITId=form_hit["HITId"])
    assert [h["HITId"] for h in api("ListReviewableHITs", Status="Reviewing")["HITs"]] == [
        form_hit["HITId"]
    ]
    api("UpdateHITReviewStatus", HITId=form_hit["HITId"], Revert=True)
    results = api("ListReviewPolicyResultsForHIT", HITId=form_hit["HITId"], RetrieveResults=True)
    assert results["HITId"] == form_hit["HITId"]
    api(
        "CreateAdditionalAssignmentsForHIT",
        HITId=form_hit["HITId"],
        NumberOfAdditionalAssignments=1,
        UniqueRequestToken="extra-1",
    )
    assert api("GetHIT", HITId=form_hit["HITId"])["HIT"]["MaxAssignments"] == 3
    api("UpdateExpirationForHIT", HITId=form_hit["HITId"], ExpireAt=0)
    api("UpdateHITTypeOfHIT", HITId=gated["HITId"], HITTypeId=type_id)
    api(
        "UpdateNotificationSettings",
        HITTypeId=type_id,
        Notification={
            "Destination": "arn:aws:sns:us-east-1:123456789012:topic",
            "Transport": "SNS",
            "Version": "2006-05-05",
            "EventTypes": ["AssignmentSubmitted"],
        },
        Active=True,
    )
    api(
        "SendTestEventNotification",
        Notification={
            "Destination": "arn:aws:sns:us-east-1:123456789012:topic",
            "Transport": "SNS",
            "Version": "2006-05-05",
            "EventTypes": ["Ping"],
        },
        TestEventType="Ping",
    )

    api(
        "AssociateQualificationWithWorker",
        QualificationTypeId=qual_id,
        WorkerId=worker,
        IntegerValue=7,
        SendNotification=False,
    )
    score = api("GetQualificationScore", QualificationTypeId=qual_id, WorkerId=worker)
    assert score["Qualification"]["IntegerValue"] == 7
    holders = api(
        "ListWorkersWithQualificationType", QualificationTypeId=qual_id, Status="Granted"
    )["Qualifications"]
    # the crowd took the type's test to reach the gated HIT; our grant set this one's value
    assert {q["WorkerId"]: q["IntegerValue"] for q in holders}[worker] == 7
    api(
        "DisassociateQualificationFromWorker",
        QualificationTypeId=qual_id,
        WorkerId=worker,
        Reason="retest",
    )

    api("UpdateQualificationType", QualificationTypeId=qual_id, AnswerKey=ANSWER_KEY)
    pending = market.request_qualification(qual_id, "A1ALICE0000001")
    other = market.request_qualification(qual_id, "A1BOB000000001")
    requests = api("ListQualificationRequests", QualificationTypeId=qual_id)
    assert {r["QualificationRequestId"] for r in requests["QualificationRequests"]} == {
        pending,
        other,
    }
    api("AcceptQualificationRequest", QualificationRequestId=pending, IntegerValue=3)
    api("RejectQualificationRequest", QualificationRequestId=other, Reason="no")

    api("CreateWorkerBlock", WorkerId="A1SPAMMER00001", Reason="spam")
    assert api("ListWorkerBlocks")["WorkerBlocks"] == [
        {"WorkerId": "A1SPAMMER00001", "Reason": "spam"}
    ]
    api("DeleteWorkerBlock", WorkerId="A1SPAMMER00001", Reason="ok")
    failures = api(
        "NotifyWorkers", Subject="Hi", MessageText="Thanks", WorkerIds=[worker, "A1STRANGER0001"]
    )["NotifyWorkersFailureStatuses"]
    assert [f["WorkerId"] for f in failures] == ["A1STRANGER0001"]
    assert api("GetAccountBalance")["AvailableBalance"] == market.status()["balance"]

    market.advance(4000)
    api("DeleteHIT", HITId=html_hit["HITId"])
    api("DeleteQualificationType", QualificationTypeId=qual_id)
    assert api.seen == set(OPERATIONS), set(OPERATIONS) - api.seen
    assert market.status()["balanced"] is True


def test_lists_page_with_max_results_and_next_token(api: Checked) -> None:
    for number in range(7):
        api(
            "CreateHIT",
            Title=f"T{number}",
            Description="d",
            Reward="0.01",
            LifetimeInSeconds=60,
            AssignmentDurationInSeconds=30,
            Question=FORM,
        )
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"MaxResults": 3}
        if token:
            params["NextToken"] = token
        out = api("ListHITs", **params)
        seen += [h["Title"] for h in out["HITs"]]
        assert out["NumResults"] == len(out["HITs"]) <= 3
        token = out.get("NextToken")
        if token is None:
            break
    # Oldest first; HITs created at the same virtual instant come in id order (ids, not call
    # order, decide, so parallel creation lists the same way).
    whole = api("ListHITs")
    assert whole["NumResults"] == 7  # the default page holds 10
    assert "NextToken" not in whole
    assert seen == [h["Title"] for h in whole["HITs"]]
    assert sorted(seen) == [f"T{n}" for n in range(7)]
    with pytest.raises(RequestError, match="NextToken"):
        api("ListHITs", NextToken="not-a-token")
