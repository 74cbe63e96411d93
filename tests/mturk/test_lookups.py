"""DESIGN §3's recovery table, against the real local marketplace (in-process, virtual clock).

Each test records an intent, sends (or does not send) its call, "crashes" before the outcome,
moves the marketplace clock, and checks that recovery finds out what happened — by retrying
with the token while it is young, by lookup only once it is old — without a second effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mturkmake.errors import LedgerError
from mturkmake.hookspecs import Config
from mturkmake.marketplace.inprocess import make_local_client, open_local_marketplace
from mturkmake.marketplace.service import Marketplace
from mturkmake.mturk.endpoint import (
    Endpoint,
    ledger_call,
    open_run_ledger,
    service_call,
)
from mturkmake.mturk.ledger import Ledger
from mturkmake.mturk.lookups import standard_recoveries
from mturkmake.mturk.settings import mturk_config

BATCH = "survey.input"
DAY = 24 * 3600
QUESTION = (
    '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA[<!DOCTYPE html><html><body>'
    '<form name="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">'
    '<input type="hidden" name="assignmentId" value=""/><input name="color" type="text"/>'
    '<input type="submit"/></form></body></html>]]></HTMLContent>'
    "<FrameHeight>0</FrameHeight></HTMLQuestion>"
)


def hit_params(subject: str, assignments: int = 2) -> dict[str, Any]:
    return {
        "Title": "Name the color",
        "Description": "One word",
        "Reward": "0.50",
        "MaxAssignments": assignments,
        "LifetimeInSeconds": 3600,
        "AssignmentDurationInSeconds": 600,
        "Question": QUESTION,
        "RequesterAnnotation": subject,
    }


@dataclass
class Local:
    config: Config
    client: Any
    market: Marketplace

    def ledger(self) -> Ledger:
        ledger = open_run_ledger(self.config, Endpoint(self.client, self.market.now, self.market))
        return ledger

    def hit(self, subject: str, assignments: int = 2) -> str:
        reply = service_call(self.client, "CreateHIT", **hit_params(subject, assignments))
        return str(reply["HIT"]["HITId"])

    def submitted(self, hit_id: str) -> list[dict[str, Any]]:
        self.market.advance(3600)
        reply = service_call(self.client, "ListAssignmentsForHIT", HITId=hit_id)
        return list(reply["Assignments"])


@pytest.fixture
def local(tmp_path: Path) -> Local:
    config = mturk_config(tmp_path, "local", values={}, sources={})
    # One marketplace object serves the client and moves the clock, as `--wait` does.
    market = open_local_marketplace(config)
    client = make_local_client(config, marketplace=market)
    return Local(config, client, market)


class Crash(Exception):
    """The run dies between the call and its outcome."""


def send_and_die(ledger: Ledger, client: Any, operation: str, subject: str, params: Any) -> None:
    """Record the intent, send its call when ``client`` is given, die before the outcome."""
    with ledger.intent(operation, BATCH, subject, params) as intent:
        if client is not None:
            ledger_call(intent, client)
        raise Crash


def crash(local: Local, *calls: tuple[str, str, Any, bool]) -> None:
    """One run that records each ``(operation, subject, params, send)`` and dies each time."""
    with local.ledger() as ledger:
        ledger.recover(local.client, standard_recoveries())
        for operation, subject, params, send in calls:
            client = local.client if send else None
            with pytest.raises(Crash):
                send_and_die(ledger, client, operation, subject, params)


def recover(local: Local) -> list[tuple[str, str, bool, str | None]]:
    with local.ledger() as ledger:
        return [
            (r.intent.subject, r.how, r.resolution.happened, r.resolution.remote_id)
            for r in ledger.recover(local.client, standard_recoveries())
        ]


def hit_ids(local: Local) -> list[str]:
    return [hit["HITId"] for hit in service_call(local.client, "ListHITs")["HITs"]]


def test_the_ledger_ages_intents_on_the_marketplace_clock(local: Local) -> None:
    with local.ledger() as ledger:
        assert ledger.clock() == local.market.now()
        local.market.advance(DAY)
        assert ledger.clock() == local.market.now()


def test_create_hit_young_is_retried_old_is_looked_up(local: Local) -> None:
    crash(local, ("CreateHIT", "row-1", hit_params("row-1"), True))
    (only,) = hit_ids(local)
    assert recover(local) == [("row-1", "retry", True, only)]
    crash(
        local,
        ("CreateHIT", "row-2", hit_params("row-2"), True),
        ("CreateHIT", "row-3", hit_params("row-3"), False),
    )
    local.market.advance(DAY)
    (second,) = set(hit_ids(local)) - {only}
    assert recover(local) == [
        ("row-2", "lookup", True, second),
        ("row-3", "lookup", False, None),
    ]
    assert len(hit_ids(local)) == 2  # nothing was re-sent


def test_create_hit_lookup_stops_on_ambiguity(local: Local) -> None:
    crash(local, ("CreateHIT", "row-1", hit_params("row-1"), True))
    local.hit("row-1")  # an identical HIT made behind the ledger's back
    local.market.advance(DAY)
    with pytest.raises(LedgerError, match="2 remote records match"):
        recover(local)


def test_create_hit_lookup_skips_hits_the_ledger_already_knows(local: Local) -> None:
    with local.ledger() as ledger:
        ledger.recover(local.client, standard_recoveries())
        with ledger.intent("CreateHIT", BATCH, "row-1", hit_params("dup")) as intent:
            intent.done(ledger_call(intent, local.client)["HIT"]["HITId"])
    crash(local, ("CreateHIT", "row-2", hit_params("dup"), True))  # same content, another row
    local.market.advance(DAY)
    with local.ledger() as ledger:
        known = ledger.done_subjects("CreateHIT", BATCH)["row-1"]
    (other,) = set(hit_ids(local)) - {known}
    assert recover(local) == [("row-2", "lookup", True, other)]


def test_create_hit_lookup_skips_hits_another_batch_owns(local: Local) -> None:
    # Another batch posted an identical HIT (same question and type): it is not this one's.
    with local.ledger() as ledger:
        ledger.recover(local.client, standard_recoveries())
        with ledger.intent("CreateHIT", "other.input", "row-1", hit_params("dup")) as intent:
            intent.done(ledger_call(intent, local.client)["HIT"]["HITId"])
    crash(local, ("CreateHIT", "row-1", hit_params("dup"), False))  # never sent
    local.market.advance(DAY)
    assert recover(local) == [("row-1", "lookup", False, None)]


def test_approve_and_reject_are_looked_up(local: Local) -> None:
    first, second = local.submitted(local.hit("row-1"))
    approve = {"AssignmentId": first["AssignmentId"]}
    reject = {"AssignmentId": second["AssignmentId"], "RequesterFeedback": "Off topic"}
    crash(
        local,
        ("ApproveAssignment", first["AssignmentId"], approve, True),
        ("RejectAssignment", second["AssignmentId"], reject, False),
    )
    assert recover(local) == [
        (first["AssignmentId"], "lookup", True, first["AssignmentId"]),
        (second["AssignmentId"], "lookup", False, None),
    ]


def test_send_bonus_old_is_looked_up_counting_identical_bonuses(local: Local) -> None:
    (assignment, *_) = local.submitted(local.hit("row-1"))
    service_call(local.client, "ApproveAssignment", AssignmentId=assignment["AssignmentId"])
    bonus = {
        "WorkerId": assignment["WorkerId"],
        "AssignmentId": assignment["AssignmentId"],
        "BonusAmount": "1.00",
        "Reason": "Great work",
    }
    crash(local, ("SendBonus", "bonus-1", bonus, True))
    local.market.advance(DAY)
    assert recover(local) == [("bonus-1", "lookup", True, None)]
    crash(local, ("SendBonus", "bonus-2", bonus, False))  # the same bonus again (--again)
    local.market.advance(DAY)
    assert recover(local) == [("bonus-2", "lookup", False, None)]
    reply = service_call(local.client, "ListBonusPayments", AssignmentId=assignment["AssignmentId"])
    assert len(reply["BonusPayments"]) == 1


def test_extra_assignments_compare_max_assignments(local: Local) -> None:
    hit_id = local.hit("row-1", assignments=2)
    params = {"HITId": hit_id, "NumberOfAdditionalAssignments": 3, "_MaxAssignmentsBefore": 2}
    crash(local, ("CreateAdditionalAssignmentsForHIT", hit_id, params, True))
    local.market.advance(DAY)
    assert recover(local) == [(hit_id, "lookup", True, hit_id)]
    reply = service_call(local.client, "GetHIT", HITId=hit_id)
    assert reply["HIT"]["MaxAssignments"] == 5


def test_qualification_type_grant_and_block_are_looked_up(local: Local) -> None:
    qualification = {
        "Name": "Color expert",
        "Description": "Knows colors",
        "QualificationTypeStatus": "Active",
    }
    crash(local, ("CreateQualificationType", "Color expert", qualification, True))
    ((subject, how, happened, type_id),) = recover(local)
    assert (subject, how, happened) == ("Color expert", "lookup", True)
    assert type_id is not None
    worker = "A1B2C3D4E5F6G7"
    grant = {"QualificationTypeId": type_id, "WorkerId": worker, "IntegerValue": 80}
    block = {"WorkerId": worker, "Reason": "spam"}
    crash(
        local,
        ("AssociateQualificationWithWorker", worker, grant, True),
        ("CreateWorkerBlock", f"block {worker}", block, False),
    )
    assert recover(local) == [
        (worker, "lookup", True, worker),
        (f"block {worker}", "lookup", False, None),
    ]
