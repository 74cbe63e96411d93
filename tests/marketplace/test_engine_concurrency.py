"""Several threads and another process on one marketplace file: nothing lost, nothing twice."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.service import Marketplace

FORM = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/QuestionForm.xsd"><Question><QuestionIdentifier>q</QuestionIdentifier>'
    "<QuestionContent><Text>Say</Text></QuestionContent><AnswerSpecification><FreeTextAnswer/>"
    "</AnswerSpecification></Question></QuestionForm>"
)
ADVANCER = """
import sys, time
from mturkmake.marketplace.service import Marketplace
market = Marketplace(sys.argv[1])
stop = time.monotonic() + float(sys.argv[2])
while time.monotonic() < stop:
    market.advance(20)
"""


def test_threads_and_an_advancing_process_keep_the_books(tmp_path: Path) -> None:
    path = tmp_path / "market.db"
    market = Marketplace(path)
    market.status()  # create the file before the other process opens it
    seconds = 6.0
    # two processes advance the same clock: each event must still play exactly once
    advancers = [
        subprocess.Popen([sys.executable, "-c", ADVANCER, str(path), str(seconds)])
        for _ in range(2)
    ]
    errors: list[BaseException] = []
    created: list[str] = []

    def client(number: int) -> None:
        try:
            stop = time.monotonic() + seconds
            row = 0
            while time.monotonic() < stop:
                token = f"t{number}-{row}"
                hit = market.call(
                    "CreateHIT",
                    {
                        "Title": "Say",
                        "Description": "d",
                        "Reward": "0.03",
                        "LifetimeInSeconds": 600,
                        "AssignmentDurationInSeconds": 60,
                        "MaxAssignments": 2,
                        "Question": FORM,
                        "UniqueRequestToken": token,
                    },
                )
                created.append(hit["HIT"]["HITId"])
                # a retry of the same row must not create a second HIT
                with pytest.raises(RequestError, match=hit["HIT"]["HITId"]):
                    market.call(
                        "CreateHIT",
                        {
                            "Title": "Say",
                            "Description": "d",
                            "Reward": "0.03",
                            "LifetimeInSeconds": 600,
                            "AssignmentDurationInSeconds": 60,
                            "MaxAssignments": 2,
                            "Question": FORM,
                            "UniqueRequestToken": token,
                        },
                    )
                for hit_id in created[-5:]:
                    listed = market.call(
                        "ListAssignmentsForHIT",
                        {"HITId": hit_id, "AssignmentStatuses": ["Submitted"]},
                    )
                    for assignment in listed["Assignments"]:
                        try:
                            market.call(
                                "ApproveAssignment", {"AssignmentId": assignment["AssignmentId"]}
                            )
                        except RequestError as exc:  # another thread approved it first
                            if exc.turk_error_code != "AWS.MechanicalTurk.InvalidAssignmentState":
                                raise
                row += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            market.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [advancer.wait(timeout=60) for advancer in advancers] == [0, 0]
    assert errors == []
    market.advance(3600)

    log = market.request_log()
    creates = [subject for op, subject in log if op == "CreateHIT"]
    assert sorted(creates) == sorted(created)
    assert len(set(creates)) == len(creates)
    approvals = Counter(subject for op, subject in log if op == "ApproveAssignment")
    assert all(count == 1 for count in approvals.values())
    total = 0
    for hit_id in created:
        hit = market.call("GetHIT", {"HITId": hit_id})["HIT"]
        done = market.call("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]
        # HITs created faster than the crowd works expire unfilled; none is over-filled
        assert len(done) <= 2
        assert len(done) == len({a["WorkerId"] for a in done})
        assert hit["HITStatus"] == "Reviewable"
        total += len(done)
    status = market.status()
    assert status["balanced"] is True
    with sqlite3.connect(path) as conn:  # the crowd's "full" index flag agrees with the rows
        wrong = conn.execute(
            "SELECT COUNT(*) FROM hits WHERE full != (max_assignments <= (SELECT COUNT(*) FROM "
            "assignments a WHERE a.hit_id = hits.id AND a.state IN ('Accepted', 'Submitted', "
            "'Approved', 'Rejected')))"
        ).fetchone()[0]
    assert wrong == 0
    assert status["assignments"].get("Accepted", 0) == 0
    assert sum(status["assignments"].values()) == total > 20
