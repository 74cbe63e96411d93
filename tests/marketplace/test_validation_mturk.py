"""Rules MTurk enforces that the local marketplace enforces too: qualification requirements on
Inactive or deleted types, http:// ExternalURLs over ``serve``, TestDurationInSeconds without a
Test, repeated UniqueRequestTokens on CreateAdditionalAssignmentsForHIT, retry delays, the time
a test taker spends — and a TurkErrorCode in every error body."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

from .conftest import HTML_QUESTION, START_EPOCH, inprocess_client
from .test_awscli import aws, mturkmake_cli, offline_env

EXTERNAL = (
    '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
    'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"><ExternalURL>{url}'
    "</ExternalURL><FrameHeight>400</FrameHeight></ExternalQuestion>"
)
TEST = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2017-11-06/QuestionForm.xsd"><Question><QuestionIdentifier>q1</QuestionIdentifier>'
    "<QuestionContent><Text>Pick a</Text></QuestionContent><AnswerSpecification>"
    "<SelectionAnswer><Selections><Selection><SelectionIdentifier>a</SelectionIdentifier>"
    "<Text>A</Text></Selection><Selection><SelectionIdentifier>b</SelectionIdentifier>"
    "<Text>B</Text></Selection></Selections></SelectionAnswer></AnswerSpecification>"
    "</Question></QuestionForm>"
)
KEY = (
    '<AnswerKey xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/AnswerKey.xsd"><Question><QuestionIdentifier>q1</QuestionIdentifier>'
    "<AnswerOption><SelectionIdentifier>a</SelectionIdentifier><AnswerScore>100"
    "</AnswerScore></AnswerOption></Question></AnswerKey>"
)


def refusal(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        call(**params)
    response: dict[str, Any] = refused.value.response
    assert response["Error"]["Code"] == "RequestError"
    assert response["TurkErrorCode"].startswith("AWS.MechanicalTurk.")
    return response


def hit_params(**extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Title": "Label",
        "Description": "One word",
        "Reward": "0.20",
        "LifetimeInSeconds": 3600,
        "AssignmentDurationInSeconds": 600,
        "MaxAssignments": 2,
        "Question": HTML_QUESTION,
    }
    params.update(extra)
    return params


def type_params(**extra: Any) -> dict[str, Any]:
    params = hit_params(**extra)
    for key in ("LifetimeInSeconds", "MaxAssignments", "Question"):
        params.pop(key)
    return params


def test_inactive_and_deleted_qualification_types_cannot_be_required(client: Any) -> None:
    inactive = client.create_qualification_type(
        Name="Sleeping", Description="Inactive", QualificationTypeStatus="Inactive"
    )["QualificationType"]["QualificationTypeId"]
    requirement = [{"QualificationTypeId": inactive, "Comparator": "Exists"}]
    for call, params in (
        (client.create_hit, hit_params(QualificationRequirements=requirement)),
        (client.create_hit_type, type_params(QualificationRequirements=requirement)),
    ):
        response = refusal(call, **params)
        assert response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidQualificationTypeState"
        assert "Inactive" in response["Error"]["Message"]
    client.update_qualification_type(QualificationTypeId=inactive, QualificationTypeStatus="Active")
    client.create_hit(**hit_params(QualificationRequirements=requirement))  # now accepted
    client.delete_qualification_type(QualificationTypeId=inactive)
    response = refusal(client.create_hit_type, **type_params(QualificationRequirements=requirement))
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.QualificationTypeDoesNotExist"


def test_test_duration_needs_a_test(client: Any) -> None:
    response = refusal(
        client.create_qualification_type,
        Name="No test",
        Description="Duration only",
        QualificationTypeStatus="Active",
        TestDurationInSeconds=600,
    )
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert "TestDurationInSeconds" in response["Error"]["Message"]
    plain = client.create_qualification_type(
        Name="Plain", Description="No test", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    refusal(client.update_qualification_type, QualificationTypeId=plain, TestDurationInSeconds=60)
    fetched = client.get_qualification_type(QualificationTypeId=plain)["QualificationType"]
    assert "TestDurationInSeconds" not in fetched


def test_http_external_urls_follow_the_marketplace_setting(tmp_path: Path) -> None:
    question = EXTERNAL.replace("{url}", "http://example.com/task")
    strict = Marketplace(tmp_path / "strict.db", MarketplaceSettings(allow_http_external=False))
    response = refusal(inprocess_client(strict).create_hit, **hit_params(Question=question))
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert "must use HTTPS" in response["Error"]["Message"]
    https = EXTERNAL.replace("{url}", "https://example.com/task")
    inprocess_client(strict).create_hit(**hit_params(Question=https))
    # The in-process client's marketplace (endpoint = "local") accepts the CLT samples' page.
    lenient = Marketplace(tmp_path / "lenient.db")
    created = inprocess_client(lenient).create_hit(**hit_params(Question=question))["HIT"]
    assert "http://example.com/task" in created["Question"]


def test_a_repeated_extension_token_is_answered_once_per_day(client: Any, marketplace: Any) -> None:
    hit_id = client.create_hit(**hit_params())["HIT"]["HITId"]
    extend = {"HITId": hit_id, "NumberOfAdditionalAssignments": 1, "UniqueRequestToken": "ext-1"}
    client.create_additional_assignments_for_hit(**extend)
    balance = Decimal(client.get_account_balance()["AvailableBalance"])
    response = refusal(client.create_additional_assignments_for_hit, **extend)
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert re.fullmatch(
        r'The idempotency token "ext-1" has already been processed\. \(\d+\)',
        response["Error"]["Message"],
    )
    assert client.get_hit(HITId=hit_id)["HIT"]["MaxAssignments"] == 3
    assert Decimal(client.get_account_balance()["AvailableBalance"]) == balance
    # The token expires after 24 hours: then it is a new request.
    client.update_expiration_for_hit(HITId=hit_id, ExpireAt=START_EPOCH + 3 * 86400)
    marketplace.advance(86400 + 1)
    client.create_additional_assignments_for_hit(**extend)
    assert client.get_hit(HITId=hit_id)["HIT"]["MaxAssignments"] == 4


def test_every_error_body_carries_a_turk_error_code(client: Any) -> None:
    missing = refusal(client.get_hit, HITId="3NOSUCHHIT000000000000000000")
    assert missing["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    notification = {
        "Destination": "arn:aws:sns:us-east-1:123456789012:t",
        "Transport": "SNS",
        "Version": "2006-05-05",
        "EventTypes": ["Ping"],
    }
    bad_event = refusal(
        client.send_test_event_notification,
        Notification=notification,
        TestEventType="AssignmentSubmitted" + "X",
    )
    assert bad_event["TurkErrorCode"]
    no_either = refusal(
        client.update_notification_settings, HITTypeId="3NOSUCHTYPE00000000000000000"
    )
    assert no_either["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"


def test_a_rejected_request_waits_for_the_retry_delay(client: Any, marketplace: Any) -> None:
    type_id = client.create_qualification_type(
        Name="Reviewed by hand",
        Description="Requests are reviewed",
        QualificationTypeStatus="Active",
        Test=TEST,
        TestDurationInSeconds=600,
        RetryDelayInSeconds=3600,
    )["QualificationType"]["QualificationTypeId"]
    worker = "AWORKERRETRY01"
    marketplace.request_qualification(type_id, worker)
    (pending,) = client.list_qualification_requests(QualificationTypeId=type_id)[
        "QualificationRequests"
    ]
    client.reject_qualification_request(QualificationRequestId=pending["QualificationRequestId"])
    marketplace.advance(1800)
    with pytest.raises(RequestError) as early:
        marketplace.request_qualification(type_id, worker)
    assert early.value.turk_error_code == "AWS.MechanicalTurk.QualificationTypeRetryDelayNotElapsed"
    marketplace.advance(1801)
    marketplace.request_qualification(type_id, worker)
    assert (
        len(
            client.list_qualification_requests(QualificationTypeId=type_id)["QualificationRequests"]
        )
        == 1
    )


def test_a_test_taker_spends_time_within_the_test_duration(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db", MarketplaceSettings(workers=3))
    client = inprocess_client(market)
    duration = 1200
    type_id = client.create_qualification_type(
        Name="Graded",
        Description="Graded at once",
        QualificationTypeStatus="Active",
        Test=TEST,
        AnswerKey=KEY,
        TestDurationInSeconds=duration,
    )["QualificationType"]["QualificationTypeId"]
    requirement = [
        {"QualificationTypeId": type_id, "Comparator": "GreaterThanOrEqualTo", "IntegerValues": [0]}
    ]
    hit_id = client.create_hit(**hit_params(QualificationRequirements=requirement))["HIT"]["HITId"]
    market.advance(3 * 3600)
    with market.store.read() as conn:
        requests = [dict(r) for r in conn.execute("SELECT * FROM qual_requests ORDER BY id")]
    assert requests
    for request in requests:
        # Asked at the start (nothing else to do), submitted 20–80 % of the duration later.
        spent = request["submit_time"] - START_EPOCH
        assert 0.2 * duration <= spent <= 0.8 * duration
    first_test = min(r["submit_time"] for r in requests)
    for assignment in client.list_assignments_for_hit(HITId=hit_id)["Assignments"]:
        assert assignment["AcceptTime"].timestamp() >= first_test


@contextmanager
def serve(project: Path, tmp_path: Path, *flags: str) -> Iterator[str]:
    process = subprocess.Popen(
        mturkmake_cli("marketplace", "serve", "--port", "0", *flags),
        cwd=project,
        env=offline_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+) ", first)
        assert match, (first, process.poll())
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung server fails the test
            process.kill()
            raise


def test_served_marketplace_refuses_http_pages_unless_allowed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
    question = tmp_path / "external.xml"
    question.write_text(EXTERNAL.replace("{url}", "http://example.com/task"), encoding="utf-8")
    create = (
        "create-hit",
        "--title",
        "External",
        "--description",
        "A page",
        "--reward",
        "0.10",
        "--lifetime-in-seconds",
        "3600",
        "--assignment-duration-in-seconds",
        "600",
        "--question",
        f"file://{question}",
    )
    with serve(project, tmp_path) as url:
        refused = aws(url, tmp_path, *create)
        assert refused.returncode != 0
        assert "An error occurred (RequestError) when calling the CreateHIT operation" in (
            refused.stderr
        )
        assert "must use HTTPS" in refused.stderr
    with serve(project, tmp_path, "--allow-http-external") as url:
        accepted = aws(url, tmp_path, *create)
        assert accepted.returncode == 0, accepted.stderr
        assert json.loads(accepted.stdout)["HIT"]["HITStatus"] == "Assignable"
