"""Determinism: ids and the crowd's work depend on the seed and the requests, not call order."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mturkmake.marketplace import ids
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

HTML = (
    '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA[<form><input name="label" '
    'type="text"/><input type="radio" name="ok" value="yes"/><input type="radio" name="ok" '
    'value="no"/></form>]]></HTMLContent><FrameHeight>0</FrameHeight></HTMLQuestion>'
)
EXTERNAL = (
    '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
    'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"><ExternalURL>'
    "https://example.invalid/task</ExternalURL><FrameHeight>400</FrameHeight>"
    "</ExternalQuestion>"
)


def params(row: int, question: str = HTML) -> dict[str, Any]:
    return {
        "Title": "Label",
        "Description": "Label it",
        "Reward": "0.02",
        "LifetimeInSeconds": 3600,
        "AssignmentDurationInSeconds": 120,
        "MaxAssignments": 3,
        "Question": question,
        "RequesterAnnotation": f"row {row}",
        "UniqueRequestToken": f"token-{row}",
    }


def run(path: Path, order: list[int], seed: int = 0) -> dict[str, list[tuple[str, str, str]]]:
    market = Marketplace(path, MarketplaceSettings(seed=seed))
    created = {row: market.call("CreateHIT", params(row))["HIT"]["HITId"] for row in order}
    market.advance(900)
    out = {}
    for _, hit_id in sorted(created.items()):
        listed = market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]
        out[hit_id] = sorted((a["AssignmentId"], a["WorkerId"], a["Answer"]) for a in listed)
    return out


def test_call_order_changes_nothing(tmp_path: Path) -> None:
    forward = run(tmp_path / "a.db", [0, 1, 2, 3, 4, 5])
    backward = run(tmp_path / "b.db", [5, 4, 3, 2, 1, 0])
    assert forward == backward
    assert all(len(done) == 3 for done in forward.values())
    other_seed = run(tmp_path / "c.db", [0, 1, 2, 3, 4, 5], seed=7)
    assert set(other_seed).isdisjoint(forward)


def test_id_formats(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db")
    hit = market.call("CreateHIT", params(0, EXTERNAL))["HIT"]
    assert re.fullmatch(r"[A-Z0-9]{30}", hit["HITId"])
    assert re.fullmatch(r"[A-Z0-9]{30}", hit["HITTypeId"])
    assert all(re.fullmatch(r"A[A-Z0-9]{13}", ids.worker_id(0, i)) for i in range(20))
    market.advance(300)
    done = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"]})["Assignments"]
    assert re.fullmatch(r"[A-Z0-9]{30}", done[0]["AssignmentId"])
    assert "<QuestionIdentifier>answer</QuestionIdentifier>" in done[0]["Answer"]


def test_truth_and_answer_fn_shape_the_answers(tmp_path: Path) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    def answer_fn(question: Any, worker: Any, truth: Any) -> dict[str, object] | None:
        seen.append((question, worker, truth))
        return {"label": f"by {worker.id}"} if truth and truth["label"] == "cat" else None

    market = Marketplace(tmp_path / "m.db", answer_fn=answer_fn)
    cat = market.call("CreateHIT", params(0))["HIT"]["HITId"]
    dog = market.call("CreateHIT", params(1))["HIT"]["HITId"]
    market.register_truth(cat, {"label": "cat"})
    market.register_truth(dog, {"label": "dog", "ok": "yes"})
    market.advance(300)
    for answer in market.call("ListAssignmentsForHIT", {"HITId": cat})["Assignments"]:
        assert f"<FreeText>by {answer['WorkerId']}</FreeText>" in answer["Answer"]
    dog_answers = [
        a["Answer"] for a in market.call("ListAssignmentsForHIT", {"HITId": dog})["Assignments"]
    ]
    # accurate workers (70–100 %) mostly give the truth; every answer names both fields
    assert sum("<FreeText>dog</FreeText>" in a for a in dog_answers) >= 1
    assert all("<QuestionIdentifier>ok</QuestionIdentifier>" in a for a in dog_answers)
    assert {type(q).__name__ for q, _, _ in seen} == {"HTMLQuestion"}


def test_pace_is_at_least_a_thousand_assignments_per_virtual_hour(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db")
    for row in range(120):
        market.call("CreateHIT", {**params(row), "MaxAssignments": 10})
    market.advance(3600)
    submitted = market.status()["assignments"].get("Submitted", 0)
    assert submitted >= 1000


def test_advancing_in_steps_or_at_once_plays_the_same_events(tmp_path: Path) -> None:
    def state_after(
        path: Path, steps: list[float]
    ) -> tuple[int, list[tuple[Any, ...]], dict[str, Any]]:
        # a crowd that returns and abandons often, so that those events are in the comparison
        market = Marketplace(
            path, MarketplaceSettings(events_per_transaction=7, return_rate=0.2, abandon_rate=0.1)
        )
        hit_ids = [
            market.call("CreateHIT", {**params(row), "AutoApprovalDelayInSeconds": 600})["HIT"][
                "HITId"
            ]
            for row in range(8)
        ]
        played = sum(market.advance(step) for step in steps)
        rows = []
        for hit_id in hit_ids:
            for a in market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]:
                rows.append(
                    (
                        a["AssignmentId"],
                        a["WorkerId"],
                        a["AssignmentStatus"],
                        a["AcceptTime"],
                        a["SubmitTime"],
                        a.get("ApprovalTime"),
                        a["Answer"],
                    )
                )
        return played, sorted(rows), market.status()

    at_once = state_after(tmp_path / "a.db", [3600])
    in_steps = state_after(tmp_path / "b.db", [1, 29, 300, 0, 1000, 2270])
    assert at_once == in_steps  # the same events, the same assignments, the same money
    played, rows, status = at_once
    assert status["given_back"]  # returned and abandoned slots were played too
    assert played > len(rows)
    assert len(rows) == 8 * 3  # every slot was worked in the end, by someone
    assert {state for _, _, state, *_ in rows} == {"Approved"}
    assert all(accept < submit < approval for *_, accept, submit, approval, _ in rows)
