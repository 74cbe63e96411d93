"""Notifications: destinations checked per transport, every event of a subscribed type logged
in MTurk's message format (and no other), test events, and ``mturkmake marketplace events``."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

from .conftest import HTML_QUESTION, inprocess_client
from .test_awscli import mturkmake_cli, offline_env

SNS = "arn:aws:sns:us-east-1:123456789012:mturk-events"
SQS = "https://sqs.us-east-1.amazonaws.com/123456789012/mturk-events"


def spec(events: list[str], transport: str = "SNS", destination: str = SNS) -> dict[str, Any]:
    return {
        "Destination": destination,
        "Transport": transport,
        "Version": "2006-05-05",
        "EventTypes": events,
    }


def hit_type(client: Any, title: str) -> str:
    return str(
        client.create_hit_type(
            Title=title,
            Description="One word",
            Reward="0.10",
            AssignmentDurationInSeconds=600,
        )["HITTypeId"]
    )


def hit(client: Any, type_id: str) -> str:
    return str(
        client.create_hit_with_hit_type(
            HITTypeId=type_id, LifetimeInSeconds=3600, MaxAssignments=2, Question=HTML_QUESTION
        )["HIT"]["HITId"]
    )


@pytest.mark.parametrize(
    ("transport", "destination"),
    [
        ("Email", "not an address"),
        ("SQS", SNS),
        ("SNS", SQS),
        ("SNS", "arn:aws:sqs:us-east-1:123456789012:queue"),
    ],
)
def test_destinations_are_checked_per_transport(
    client: Any, transport: str, destination: str
) -> None:
    type_id = hit_type(client, "Checked")
    with pytest.raises(ClientError) as refused:
        client.update_notification_settings(
            HITTypeId=type_id, Notification=spec(["HITCreated"], transport, destination)
        )
    assert refused.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert f"not valid for the {transport} transport" in refused.value.response["Error"]["Message"]


def test_good_destinations_and_the_version(client: Any) -> None:
    type_id = hit_type(client, "Checked")
    for transport, destination in (("Email", "requester@example.com"), ("SQS", SQS), ("SNS", SNS)):
        client.update_notification_settings(
            HITTypeId=type_id, Notification=spec(["HITCreated"], transport, destination)
        )
    wrong = spec(["HITCreated"])
    wrong["Version"] = "2014-08-15"
    with pytest.raises(ClientError, match="Version must be 2006-05-05"):
        client.update_notification_settings(HITTypeId=type_id, Notification=wrong)


def test_subscribed_events_are_logged_in_mturks_format(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db", MarketplaceSettings(workers=4))
    client = inprocess_client(market)
    watched, quiet = hit_type(client, "Watched"), hit_type(client, "Quiet")
    client.update_notification_settings(
        HITTypeId=watched,
        Notification=spec(["AssignmentSubmitted", "HITReviewable", "HITCreated"]),
        Active=True,
    )
    watched_hit, quiet_hit = hit(client, watched), hit(client, quiet)
    market.advance(3600)
    logged = market.events()
    messages = [entry["message"] for entry in logged]
    events = [m["Events"][0] for m in messages]
    kinds = [e["EventType"] for e in events]
    assert kinds.count("HITCreated") == 1
    assert kinds.count("AssignmentSubmitted") == 2
    assert kinds.count("HITReviewable") == 1
    assert "AssignmentAccepted" not in kinds  # not subscribed
    assert {e["HITId"] for e in events} == {watched_hit}  # the other type has no subscription
    assert quiet_hit not in json.dumps(messages)
    assignments = {
        a["AssignmentId"] for a in client.list_assignments_for_hit(HITId=watched_hit)["Assignments"]
    }
    submitted = [e for e in events if e["EventType"] == "AssignmentSubmitted"]
    assert {e["AssignmentId"] for e in submitted} == assignments
    for message in messages:
        assert set(message) == {
            "EventDocId",
            "SourceAccount",
            "CustomerId",
            "EventDocVersion",
            "Events",
        }
        (event,) = message["Events"]
        assert event["HITTypeId"] == watched
        assert event["EventTimestamp"].startswith("2026-01-01T")
        assert event["EventTimestamp"].endswith("Z")
    assert len({m["EventDocId"] for m in messages}) == len(messages)
    assert all(entry["transport"] == "SNS" and entry["destination"] == SNS for entry in logged)
    # Reviewable comes after the last submission.
    assert kinds.index("HITReviewable") > max(
        i for i, k in enumerate(kinds) if k == "AssignmentSubmitted"
    )

    client.update_notification_settings(HITTypeId=watched, Active=False)
    hit(client, watched)
    assert len(market.events()) == len(logged)  # inactive: nothing more


def test_test_events_and_the_events_command(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
    market = Marketplace(project / ".mturkmake" / "local-marketplace.db")
    client = inprocess_client(market)
    client.send_test_event_notification(
        Notification=spec(["Ping"], "SQS", SQS), TestEventType="Ping"
    )
    (entry,) = market.events()
    assert entry["message"]["Events"][0]["EventType"] == "Ping"
    assert entry["transport"] == "SQS"
    printed = subprocess.run(
        mturkmake_cli("marketplace", "events", "--json"),
        cwd=project,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    assert [json.loads(line) for line in printed.stdout.splitlines()] == [entry["message"]]
    plain = subprocess.run(
        mturkmake_cli("marketplace", "events"),
        cwd=project,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert plain.returncode == 0, plain.stderr
    assert "Ping" in plain.stdout
    assert SQS in plain.stdout


def test_every_event_type_of_the_lifecycle_is_logged(tmp_path: Path) -> None:
    market = Marketplace(
        tmp_path / "m.db", MarketplaceSettings(workers=12, return_rate=0.25, abandon_rate=0.25)
    )
    client = inprocess_client(market)
    type_id = hit_type(client, "Everything")
    every = [
        "AssignmentAccepted",
        "AssignmentAbandoned",
        "AssignmentReturned",
        "AssignmentSubmitted",
        "AssignmentRejected",
        "AssignmentApproved",
        "HITCreated",
        "HITExpired",
        "HITReviewable",
        "HITExtended",
        "HITDisposed",
    ]
    client.update_notification_settings(HITTypeId=type_id, Notification=spec(every), Active=True)
    hits = [hit(client, type_id) for _ in range(8)]
    market.advance(2 * 3600)  # past the assignment deadlines of abandoned work
    first, second = hits[0], hits[1]
    done = client.list_assignments_for_hit(HITId=first, AssignmentStatuses=["Submitted"])
    one, two = done["Assignments"][:2]
    client.approve_assignment(AssignmentId=one["AssignmentId"])
    client.reject_assignment(AssignmentId=two["AssignmentId"], RequesterFeedback="Empty")
    client.create_additional_assignments_for_hit(HITId=second, NumberOfAdditionalAssignments=1)
    client.update_expiration_for_hit(HITId=second, ExpireAt=0)
    client.delete_hit(HITId=first)
    kinds = [e["message"]["Events"][0]["EventType"] for e in market.events()]
    assert set(kinds) == set(every)
    events = [e["message"]["Events"][0] for e in market.events()]
    assert {"EventType": "AssignmentRejected", "AssignmentId": two["AssignmentId"]}.items() <= {
        k: v for e in events if e["EventType"] == "AssignmentRejected" for k, v in e.items()
    }.items()
    assert [e["HITId"] for e in events if e["EventType"] == "HITDisposed"] == [first]
    assert [e["HITId"] for e in events if e["EventType"] == "HITExtended"] == [second]


def test_the_events_command_follows_the_log(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
    market = Marketplace(project / ".mturkmake" / "local-marketplace.db")
    client = inprocess_client(market)
    following = subprocess.Popen(
        mturkmake_cli("marketplace", "events", "--follow", "--json"),
        cwd=project,
        env=offline_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client.send_test_event_notification(Notification=spec(["Ping"]), TestEventType="Ping")
        assert following.stdout is not None
        line = following.stdout.readline()  # printed while the command keeps running
        assert json.loads(line)["Events"][0]["EventType"] == "Ping"
        client.send_test_event_notification(Notification=spec(["Ping"]), TestEventType="HITExpired")
        line = following.stdout.readline()
        assert json.loads(line)["Events"][0]["EventType"] == "HITExpired"
        assert following.poll() is None
    finally:
        following.send_signal(signal.SIGINT)
        following.communicate(timeout=20)
    assert following.returncode == 0
