"""Several processes on one marketplace file: a ``serve`` process answering 8 boto3 threads over
HTTP while another process advances the clock in a loop. Afterwards: no "database is locked",
no lost or duplicated HIT or assignment, and the balance equals 10000 − what the HITs reserve
and paid − the bonuses, to the cent.

Runs ``MTURKMAKE_CONCURRENCY_SECONDS`` seconds (10 by default; 30 for the full check).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mturkmake.fees import assignment_cost, bonus_cost

from .conftest import HTML_QUESTION, boto_client

SECONDS = float(os.environ.get("MTURKMAKE_CONCURRENCY_SECONDS", "10"))
THREADS = 8
SLOTS = 3
REWARD = "0.30"
BONUS = "0.05"

ADVANCE_LOOP = """
import sys, time
from mturkmake.marketplace.service import Marketplace
market = Marketplace(sys.argv[1])
deadline = time.monotonic() + float(sys.argv[2])
rounds = 0
while time.monotonic() < deadline:
    market.advance(20)
    rounds += 1
print(rounds)
"""


def worker_thread(url: str, index: int, stop: threading.Event, log: dict[str, Any]) -> None:
    """Create HITs, review submitted work, pay a bonus each round, until ``stop``."""
    client = boto_client(url, retries={"mode": "legacy", "total_max_attempts": 1})
    round_ = 0
    try:
        while not stop.is_set():
            token = f"t{index}-{round_}"
            hit_id = client.create_hit(
                LifetimeInSeconds=31_536_000,
                AssignmentDurationInSeconds=300,
                AutoApprovalDelayInSeconds=600,
                Reward=REWARD,
                Title=f"Thread {index}",
                Description=f"round {round_}",
                MaxAssignments=SLOTS,
                Question=HTML_QUESTION,
                UniqueRequestToken=token,
            )["HIT"]["HITId"]
            log["hits"].append(hit_id)
            for hit in log["hits"][-4:]:
                submitted = client.list_assignments_for_hit(
                    HITId=hit, AssignmentStatuses=["Submitted"], MaxResults=100
                )["Assignments"]
                for number, assignment in enumerate(submitted):
                    try:
                        if number % 3 == 2:
                            client.reject_assignment(
                                AssignmentId=assignment["AssignmentId"], RequesterFeedback="No"
                            )
                            log["rejected"].append(assignment["AssignmentId"])
                        else:
                            client.approve_assignment(AssignmentId=assignment["AssignmentId"])
                            log["approved"].append(assignment["AssignmentId"])
                    except client.exceptions.RequestError as error:
                        # The advance loop may have auto-approved it in between: allowed.
                        if "InvalidAssignmentState" not in str(error.response):
                            raise
            if log["approved"] and round_ % 2 == 0:
                approved = log["approved"][-1]
                who = client.get_assignment(AssignmentId=approved)["Assignment"]["WorkerId"]
                client.send_bonus(
                    WorkerId=who,
                    BonusAmount=BONUS,
                    AssignmentId=approved,
                    Reason="Thanks",
                    UniqueRequestToken=f"b{index}-{round_}",
                )
                log["bonuses"] += 1
            client.get_account_balance()
            round_ += 1
    except Exception as error:  # every failure is reported by the test, with its thread
        log["error"] = repr(error)


@pytest.mark.slow
def test_threads_and_an_advance_loop_share_one_marketplace(tmp_path: Path) -> None:
    db = tmp_path / "local-marketplace.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    server = subprocess.Popen(
        [sys.executable, "-m", "mturkmake.marketplace.server", "--db", str(db), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", server.stdout.readline())
        assert match
        url = match.group(1)
        advancer = subprocess.Popen(
            [sys.executable, "-c", ADVANCE_LOOP, str(db), str(SECONDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        stop = threading.Event()
        logs: list[dict[str, Any]] = [
            {"hits": [], "approved": [], "rejected": [], "bonuses": 0} for _ in range(THREADS)
        ]
        threads = [
            threading.Thread(target=worker_thread, args=(url, i, stop, logs[i]))
            for i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        advanced_out, advanced_err = advancer.communicate(timeout=SECONDS + 120)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        assert advancer.returncode == 0, advanced_err
        assert int(advanced_out) > 0
        assert [log.get("error") for log in logs] == [None] * THREADS

        # Let every accepted assignment finish, then audit through the API.
        from mturkmake.marketplace.service import Marketplace

        Marketplace(db).advance(3600)
        client = boto_client(url)
        created = [hit for log in logs for hit in log["hits"]]
        assert len(created) >= THREADS
        assert len(set(created)) == len(created)
        listed = [
            hit["HITId"]
            for page in client.get_paginator("list_hits").paginate()
            for hit in page["HITs"]
        ]
        assert sorted(listed) == sorted(created)  # none lost, none duplicated

        rejected = {a for log in logs for a in log["rejected"]}
        approved = {a for log in logs for a in log["approved"]}
        assert not rejected & approved
        seen: set[str] = set()
        rejected_count = 0
        for hit_id in created:
            work = client.list_assignments_for_hit(HITId=hit_id, MaxResults=100)["Assignments"]
            ids = [a["AssignmentId"] for a in work]
            assert len(set(ids)) == len(ids) <= SLOTS
            assert len({a["WorkerId"] for a in work}) == len(work)
            assert not seen & set(ids)
            seen |= set(ids)
            for a in work:
                if a["AssignmentId"] in rejected:
                    assert a["AssignmentStatus"] == "Rejected"
                    rejected_count += 1
                elif a["AssignmentId"] in approved:
                    assert a["AssignmentStatus"] == "Approved"
        assert rejected_count == len(rejected)
        assert rejected <= seen
        assert approved <= seen

        # Nothing expires (a year's lifetime): every slot not rejected is reserved or paid.
        cost = assignment_cost(REWARD, max_assignments=SLOTS)
        bonuses = sum(log["bonuses"] for log in logs)
        expected = (
            Decimal("10000.00")
            - (len(created) * SLOTS - len(rejected)) * cost
            - bonuses * bonus_cost(BONUS)
        )
        assert Decimal(client.get_account_balance()["AvailableBalance"]) == expected
        print(  # shown with -s: the figures for the benchmark notes
            f"{SECONDS:.0f}s: {len(created)} HITs, {len(seen)} assignments, {len(approved)} "
            f"approved, {len(rejected)} rejected, {bonuses} bonuses, "
            f"{int(advanced_out)} advance rounds"
        )
    finally:
        server.terminate()
        _out, errors = server.communicate(timeout=30)
    assert "database is locked" not in errors
    assert "Traceback" not in errors
