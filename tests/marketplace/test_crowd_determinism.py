"""The crowd's work per HIT depends on (seed, HITId, WorkerId), never on call order or threads."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
FORM = (
    f'<QuestionForm xmlns="{NS}2017-11-06/QuestionForm.xsd"><Question><QuestionIdentifier>'
    "pick</QuestionIdentifier><QuestionContent><Text>Row ROW</Text></QuestionContent>"
    "<AnswerSpecification><SelectionAnswer><StyleSuggestion>checkbox</StyleSuggestion>"
    "<Selections><Selection><SelectionIdentifier>a</SelectionIdentifier><Text>A</Text>"
    "</Selection><Selection><SelectionIdentifier>b</SelectionIdentifier><Text>B</Text>"
    "</Selection><Selection><SelectionIdentifier>c</SelectionIdentifier><Text>C</Text>"
    "</Selection></Selections></SelectionAnswer></AnswerSpecification></Question>"
    "<Question><QuestionIdentifier>note</QuestionIdentifier><QuestionContent><Text>Why?"
    "</Text></QuestionContent><AnswerSpecification><FreeTextAnswer><Constraints>"
    '<AnswerFormatRegex regex="^[a-z]{3,9}$"/></Constraints></FreeTextAnswer>'
    "</AnswerSpecification></Question></QuestionForm>"
)
HTML = (
    f'<HTMLQuestion xmlns="{NS}2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA[<form>'
    '<input type="text" name="label"/><select name="size"><option value="s">S</option>'
    '<option value="l">L</option></select> row ROW</form>]]></HTMLContent>'
    "<FrameHeight>0</FrameHeight></HTMLQuestion>"
)
SETTINGS = MarketplaceSettings(
    seed=11,
    return_rate=0.1,
    abandon_rate=0.05,
    planted=[{"id": "APLANTEDSHARE1", "accuracy": 0.5, "share": 0.5}],
)
ROWS = 40


def params(row: int) -> dict[str, Any]:
    question = (FORM if row % 2 else HTML).replace("ROW", str(row))
    return {
        "Title": f"Kind {row % 3}",
        "Description": "Work",
        "Reward": "0.02",
        "LifetimeInSeconds": 7200,
        "AssignmentDurationInSeconds": 120,
        "MaxAssignments": 3,
        "Question": question,
        "UniqueRequestToken": f"row-{row}",
    }


def work(market: Marketplace, created: dict[int, str]) -> dict[str, list[tuple[Any, ...]]]:
    """Register truths, play two virtual hours, and collect each HIT's assignments."""
    for row, hit_id in sorted(created.items()):
        market.register_truth(hit_id, {"label": f"row {row}", "pick": "a|c", "size": "l"})
    market.advance(7200)
    out = {}
    for _, hit_id in sorted(created.items()):
        listed = market.call("ListAssignmentsForHIT", {"HITId": hit_id, "MaxResults": 100})
        out[hit_id] = sorted(
            (a["AssignmentId"], a["WorkerId"], a["AcceptTime"], a["SubmitTime"], a["Answer"])
            for a in listed["Assignments"]
        )
    return out


def in_order(
    path: Path, order: list[int], settings: MarketplaceSettings = SETTINGS
) -> dict[str, list[tuple[Any, ...]]]:
    market = Marketplace(path, settings)
    created = {row: market.call("CreateHIT", params(row))["HIT"]["HITId"] for row in order}
    return work(market, created)


def test_creating_in_another_order_gives_the_same_work(tmp_path: Path) -> None:
    forward = in_order(tmp_path / "a.db", list(range(ROWS)))
    shuffled = in_order(tmp_path / "b.db", [(7 * r) % ROWS for r in range(ROWS)])
    assert forward == shuffled
    assert all(len(done) == 3 for done in forward.values())
    workers = {a[1] for done in forward.values() for a in done}
    assert "APLANTEDSHARE1" in workers
    market = Marketplace(tmp_path / "a.db", SETTINGS)
    assert market.status()["given_back"]  # returns and abandons happened, and still agree


def test_sixteen_threads_creating_at_once_give_the_same_work(tmp_path: Path) -> None:
    sequential = in_order(tmp_path / "a.db", list(range(ROWS)))
    market = Marketplace(tmp_path / "b.db", SETTINGS)
    created: dict[int, str] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def create(rows: range) -> None:
        try:
            for row in rows:
                hit_id = market.call("CreateHIT", params(row))["HIT"]["HITId"]
                with lock:
                    created[row] = hit_id
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            market.close()

    threads = [threading.Thread(target=create, args=(range(n, ROWS, 16),)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert work(market, created) == sequential


def test_another_seed_gives_other_work(tmp_path: Path) -> None:
    base = in_order(tmp_path / "a.db", list(range(6)))
    other = in_order(tmp_path / "b.db", list(range(6)), MarketplaceSettings(seed=12))
    answers = sorted(a[4] for done in base.values() for a in done)
    assert answers != sorted(a[4] for done in other.values() for a in done)


def test_the_default_crowd_works_3000_assignments_within_a_virtual_hour(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db")
    hit_type = market.call(
        "CreateHITType",
        {
            "Title": "Pace",
            "Description": "Quick work",
            "Reward": "0.01",
            "AssignmentDurationInSeconds": 600,
        },
    )["HITTypeId"]
    for row in range(1000):
        market.call(
            "CreateHITWithHITType",
            {
                "HITTypeId": hit_type,
                "LifetimeInSeconds": 86400,
                "MaxAssignments": 3,
                "Question": (FORM if row % 2 else HTML).replace("ROW", str(row)),
            },
        )
    market.advance(3600)
    assert market.status()["assignments"] == {"Submitted": 3000}
