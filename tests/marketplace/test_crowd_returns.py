"""The default crowd sometimes returns or abandons work (DESIGN §7), and the slots go back.

Also: advancing exactly to ``next_event_time()`` plays that event (event times are floats,
the datetime it is handed out as rounds to the microsecond).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from mturkmake.marketplace.crowd_settings import CrowdSettings
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

FORM = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2017-11-06/QuestionForm.xsd"><Question><QuestionIdentifier>n</QuestionIdentifier>'
    "<QuestionContent><Text>Row ROW?</Text></QuestionContent><AnswerSpecification>"
    "<FreeTextAnswer/></AnswerSpecification></Question></QuestionForm>"
)
DURATION = 300


def create(market: Marketplace, rows: int) -> list[str]:
    return [
        market.call(
            "CreateHIT",
            {
                "Title": "Count",
                "Description": "Count them",
                "Reward": "0.01",
                "LifetimeInSeconds": 86400,
                "AssignmentDurationInSeconds": DURATION,
                "AutoApprovalDelayInSeconds": 86400,
                "MaxAssignments": 3,
                "Question": FORM.replace("ROW", str(row)),
                "UniqueRequestToken": f"row-{row}",
            },
        )["HIT"]["HITId"]
        for row in range(rows)
    ]


def assignments(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM assignments ORDER BY accept_time")]


def test_the_default_crowd_returns_and_abandons_a_little() -> None:
    settings = CrowdSettings()
    assert 0 < settings.return_rate <= 0.05
    assert 0 < settings.abandon_rate <= 0.05


def test_given_back_slots_are_worked_by_other_workers(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    market = Marketplace(path)
    hit_ids = create(market, 200)
    market.advance(3 * 3600)
    rows = assignments(path)
    states = {r["state"] for r in rows}
    assert {"Returned", "Abandoned", "Submitted"} <= states
    given_back = market.status()["given_back"]
    assert given_back["Returned"] + given_back["Abandoned"] < 0.1 * len(rows)
    for hit_id in hit_ids:  # every slot ends up submitted, whoever gave one back
        listed = market.call("ListAssignmentsForHIT", {"HITId": hit_id, "MaxResults": 100})
        assert len(listed["Assignments"]) == 3
        assert market.call("GetHIT", {"HITId": hit_id})["HIT"]["HITStatus"] == "Reviewable"
    for gone in (r for r in rows if r["state"] in ("Returned", "Abandoned")):
        later = [
            r
            for r in rows
            if r["hit_id"] == gone["hit_id"]
            and r["id"] != gone["id"]
            and r["state"] == "Submitted"
            and r["accept_time"] > gone["accept_time"]
        ]
        assert later, f"the slot {gone['id']} gave back was never worked again"
        assert all(r["worker_id"] != gone["worker_id"] for r in later)
        if gone["state"] == "Abandoned":
            # the slot is free only at the deadline: the submitted work that took it (the
            # last accepted, since submitted work keeps its slot) came no sooner
            assert max(r["accept_time"] for r in later) >= gone["deadline"]
            assert gone["deadline"] == gone["accept_time"] + DURATION


def test_without_rates_nobody_gives_work_back(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    market = Marketplace(path, MarketplaceSettings(return_rate=0, abandon_rate=0))
    create(market, 50)
    market.advance(3600)
    assert {r["state"] for r in assignments(path)} == {"Submitted"}
    assert market.status()["given_back"] == {}


def test_advancing_to_the_next_event_time_plays_that_event(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db")
    create(market, 3)
    steps = 0
    while (due := market.next_event_time()) is not None:
        assert market.advance_to(due) >= 1  # never a step that plays nothing
        assert market.now() >= due
        steps += 1
    assert steps >= 3 * 3 * 2  # accepts and submissions at least, one step each at most
