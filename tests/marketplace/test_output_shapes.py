"""Every operation's success path, through a real boto3 client, checked against botocore's
output shape: the raw JSON body (captured before botocore parses it, since the parser silently
drops members the model does not know) is walked recursively — no unknown member, every value
of its shape's type, enums, patterns and lengths respected."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape

from .conftest import HTML_QUESTION, boto_client, inprocess_client

MODEL = botocore.session.get_session().get_service_model("mturk")


def shape_problems(shape: Shape | None, value: Any, where: str = "") -> list[str]:
    """What in ``value`` (decoded JSON) does not fit ``shape``; empty when it fits."""
    if shape is None:  # no output shape: the body must be empty
        return [] if value == {} else [f"{where}: {value!r} where nothing is modeled"]
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        out: list[str] = []
        members = shape.members  # type: ignore[attr-defined]
        for name, item in value.items():
            if name not in members:
                out.append(f"{where}.{name}: not in {shape.name}")
            else:
                out += shape_problems(members[name], item, f"{where}.{name}")
        return out
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        element = shape.member  # type: ignore[attr-defined]
        return [
            problem
            for index, item in enumerate(value)
            for problem in shape_problems(element, item, f"{where}[{index}]")
        ]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: {value!r} is not a string"]
        problems = []
        if "enum" in meta and value not in meta["enum"]:
            problems.append(f"{where}: {value!r} not in {meta['enum']}")
        if "pattern" in meta and re.fullmatch(meta["pattern"], value) is None:
            problems.append(f"{where}: {value!r} does not match {meta['pattern']}")
        if not meta.get("min", 0) <= len(value) <= meta.get("max", len(value)):
            problems.append(f"{where}: length {len(value)} outside the model's bounds")
        return problems
    if kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not an integer"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a boolean"]
    if kind == "timestamp":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not epoch seconds"]
    return [f"{where}: unexpected shape type {kind}"]


def test_the_checker_finds_what_is_wrong() -> None:
    hit_shape = MODEL.operation_model("GetHIT").output_shape
    good = {
        "HIT": {"HITId": "ABC", "MaxAssignments": 1, "CreationTime": 1.5, "HITStatus": "Assignable"}
    }
    assert shape_problems(hit_shape, good) == []
    bad = {
        "HIT": {"HITId": "abc", "MaxAssignments": "1", "HITStatus": "Open", "Colour": "red"},
        "Extra": 1,
    }
    problems = shape_problems(hit_shape, bad)
    assert len(problems) == 5, problems


class Recorder:
    """Keeps the raw JSON body of every successful response, by operation."""

    def __init__(self, client: Any) -> None:
        self.bodies: dict[str, list[Any]] = {}
        client.meta.events.register("before-parse.mturk", self)

    def __call__(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        if response_dict["status_code"] == 200:
            body = json.loads(response_dict["body"] or b"{}")
            self.bodies.setdefault(operation_model.name, []).append(body)


def run_every_operation(client: Any, marketplace: Any) -> None:
    """Call all 39 operations successfully."""
    c = client
    advance = marketplace.advance
    c.get_account_balance()
    qt = c.create_qualification_type(
        Name="Careful reader",
        Description="Reads the instructions",
        Keywords="reading",
        QualificationTypeStatus="Active",
    )["QualificationType"]["QualificationTypeId"]
    c.get_qualification_type(QualificationTypeId=qt)
    c.update_qualification_type(QualificationTypeId=qt, Description="Reads them twice")
    c.list_qualification_types(MustBeRequestable=False, MustBeOwnedByCaller=True, MaxResults=100)
    type_a = c.create_hit_type(
        AssignmentDurationInSeconds=600,
        Reward="0.50",
        Title="Label a picture",
        Description="Say what you see",
        Keywords="image, label",
        AutoApprovalDelayInSeconds=3600,
    )["HITTypeId"]
    type_b = c.create_hit_type(
        AssignmentDurationInSeconds=900,
        Reward="0.50",
        Title="Label a picture (longer)",
        Description="Say what you see",
        AutoApprovalDelayInSeconds=3600,
    )["HITTypeId"]
    hit = c.create_hit_with_hit_type(
        HITTypeId=type_a,
        LifetimeInSeconds=86400,
        MaxAssignments=3,
        Question=HTML_QUESTION,
        RequesterAnnotation="batch 1",
        UniqueRequestToken="shape-hit-1",
    )["HIT"]["HITId"]
    c.create_hit(
        LifetimeInSeconds=86400,
        AssignmentDurationInSeconds=600,
        Reward="0.10",
        Title="Only for careful readers",
        Description="Qualified workers only",
        MaxAssignments=1,
        Question=HTML_QUESTION,
        QualificationRequirements=[
            {"QualificationTypeId": qt, "Comparator": "Exists", "ActionsGuarded": "Accept"}
        ],
    )
    c.get_hit(HITId=hit)
    c.list_hits(MaxResults=10)
    c.list_hits_for_qualification_type(QualificationTypeId=qt, MaxResults=10)
    advance(3600)
    assignments = c.list_assignments_for_hit(HITId=hit, MaxResults=10)["Assignments"]
    assert len(assignments) == 3, assignments
    first, second, _third = (a["AssignmentId"] for a in assignments)
    worker = assignments[0]["WorkerId"]
    c.get_assignment(AssignmentId=first)
    c.approve_assignment(AssignmentId=first, RequesterFeedback="Thank you")
    c.reject_assignment(AssignmentId=second, RequesterFeedback="The label was empty")
    c.send_bonus(
        WorkerId=worker,
        BonusAmount="0.25",
        AssignmentId=first,
        Reason="Great work",
        UniqueRequestToken="shape-bonus-1",
    )
    c.list_bonus_payments(HITId=hit, MaxResults=10)
    c.associate_qualification_with_worker(
        QualificationTypeId=qt, WorkerId=worker, IntegerValue=5, SendNotification=False
    )
    c.get_qualification_score(QualificationTypeId=qt, WorkerId=worker)
    c.list_workers_with_qualification_type(QualificationTypeId=qt, Status="Granted", MaxResults=10)
    c.disassociate_qualification_from_worker(QualificationTypeId=qt, WorkerId=worker, Reason="x")
    c.list_qualification_requests(QualificationTypeId=qt, MaxResults=10)
    c.create_worker_block(WorkerId=worker, Reason="Testing blocks")
    c.list_worker_blocks(MaxResults=10)
    c.delete_worker_block(WorkerId=worker, Reason="Done testing")
    c.notify_workers(Subject="Thanks", MessageText="More work soon", WorkerIds=[worker])
    notification = {
        "Destination": "arn:aws:sns:us-east-1:123456789012:mturk",
        "Transport": "SNS",
        "Version": "2006-05-05",
        "EventTypes": ["AssignmentSubmitted"],
    }
    c.send_test_event_notification(Notification=notification, TestEventType="AssignmentSubmitted")
    c.update_notification_settings(HITTypeId=type_a, Notification=notification, Active=True)
    c.create_additional_assignments_for_hit(
        HITId=hit, NumberOfAdditionalAssignments=1, UniqueRequestToken="shape-extra-1"
    )
    c.update_hit_type_of_hit(HITId=hit, HITTypeId=type_b)
    c.update_expiration_for_hit(HITId=hit, ExpireAt=0)
    advance(1)
    c.list_reviewable_hits(HITTypeId=type_b, Status="Reviewable", MaxResults=10)
    c.update_hit_review_status(HITId=hit, Revert=False)
    c.list_review_policy_results_for_hit(HITId=hit, RetrieveActions=True, RetrieveResults=True)
    for assignment in c.list_assignments_for_hit(HITId=hit, AssignmentStatuses=["Submitted"])[
        "Assignments"
    ]:
        c.approve_assignment(AssignmentId=assignment["AssignmentId"])
    c.delete_hit(HITId=hit)
    run_file_upload(c, advance)
    run_qualification_requests(c, marketplace, [a["WorkerId"] for a in assignments])
    c.delete_qualification_type(QualificationTypeId=qt)


UPLOAD_QUESTION = """<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd">
<Question><QuestionIdentifier>photo</QuestionIdentifier><IsRequired>true</IsRequired>
<QuestionContent><Text>Upload a photo of your desk.</Text></QuestionContent>
<AnswerSpecification><FileUploadAnswer><MaxFileSizeInBytes>1000000</MaxFileSizeInBytes>
<MinFileSizeInBytes>1</MinFileSizeInBytes></FileUploadAnswer></AnswerSpecification></Question>
</QuestionForm>"""


def run_file_upload(c: Any, advance: Any) -> None:
    """GetFileUploadURL needs a submitted FileUploadAnswer."""
    hit = c.create_hit(
        LifetimeInSeconds=3600,
        AssignmentDurationInSeconds=600,
        Reward="0.05",
        Title="Upload a photo",
        Description="One photo",
        MaxAssignments=1,
        Question=UPLOAD_QUESTION,
    )["HIT"]["HITId"]
    advance(3600)
    (assignment,) = c.list_assignments_for_hit(HITId=hit)["Assignments"]
    c.get_file_upload_url(AssignmentId=assignment["AssignmentId"], QuestionIdentifier="photo")


QUAL_TEST = """<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd">
<Question><QuestionIdentifier>q1</QuestionIdentifier>
<QuestionContent><Text>2 + 2?</Text></QuestionContent>
<AnswerSpecification><SelectionAnswer><Selections>
<Selection><SelectionIdentifier>four</SelectionIdentifier><Text>4</Text></Selection>
<Selection><SelectionIdentifier>five</SelectionIdentifier><Text>5</Text></Selection>
</Selections></SelectionAnswer></AnswerSpecification></Question>
</QuestionForm>"""


def run_qualification_requests(c: Any, marketplace: Any, workers: list[str]) -> None:
    """Accept/RejectQualificationRequest need workers' requests. MTurk has no worker API, so
    the workers ask through the marketplace's local-only call."""
    tested = c.create_qualification_type(
        Name="Arithmetic",
        Description="Adds small numbers",
        QualificationTypeStatus="Active",
        Test=QUAL_TEST,
        TestDurationInSeconds=300,
        RetryDelayInSeconds=60,
    )["QualificationType"]["QualificationTypeId"]
    for worker in workers[:2]:
        marketplace.request_qualification(tested, worker)
    requests = c.list_qualification_requests(QualificationTypeId=tested)["QualificationRequests"]
    assert len(requests) >= 2, requests
    c.accept_qualification_request(
        QualificationRequestId=requests[0]["QualificationRequestId"], IntegerValue=1
    )
    c.reject_qualification_request(
        QualificationRequestId=requests[1]["QualificationRequestId"], Reason="Wrong answer"
    )


@pytest.mark.parametrize("way", ["inprocess", "http"])
def test_every_operation_succeeds_and_matches_its_output_shape(
    way: str, marketplace: Any, request: pytest.FixtureRequest
) -> None:
    if way == "inprocess":
        client = inprocess_client(marketplace)
    else:
        server = request.getfixturevalue("server")
        client = boto_client(server.url)
    recorder = Recorder(client)
    run_every_operation(client, marketplace)
    assert sorted(recorder.bodies) == sorted(MODEL.operation_names)
    problems = [
        f"{operation}{problem}"
        for operation, bodies in sorted(recorder.bodies.items())
        for body in bodies
        for problem in shape_problems(MODEL.operation_model(operation).output_shape, body)
    ]
    assert problems == []
    # Outputs that must carry their object, not an empty answer.
    assert recorder.bodies["GetHIT"][0]["HIT"]["HITId"]
    assert recorder.bodies["CreateHITType"][0]["HITTypeId"]
    assert recorder.bodies["GetAssignment"][0]["Assignment"]["AssignmentId"]
    assert recorder.bodies["GetAssignment"][0]["HIT"]["HITId"]
    assert recorder.bodies["GetAccountBalance"][0]["AvailableBalance"] == "10000.00"
    assert recorder.bodies["GetQualificationScore"][0]["Qualification"]["IntegerValue"] == 5
    assert recorder.bodies["ListBonusPayments"][0]["NumResults"] == 1
    assert recorder.bodies["GetFileUploadURL"][0]["FileUploadURL"].startswith("https://")


def test_pagination_walks_every_hit_once(client: Any) -> None:
    created = {
        client.create_hit(
            LifetimeInSeconds=3600,
            AssignmentDurationInSeconds=600,
            Reward="0.01",
            Title=f"Page test {index}",
            Description="paging",
            Question=HTML_QUESTION,
        )["HIT"]["HITId"]
        for index in range(7)
    }
    seen: list[str] = []
    pages = client.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 3})
    sizes = []
    for page in pages:
        sizes.append(page["NumResults"])
        assert page["NumResults"] == len(page["HITs"])
        seen += [hit["HITId"] for hit in page["HITs"]]
    assert sizes == [3, 3, 1]
    assert sorted(seen) == sorted(created)
