"""Crash test: kill mturkmake at random points while it approves 300 assignments, 20 times.

Runs alternate between make mode (``mturkmake survey.approved``) and CLT mode (``approveWork
-successfile``), each a real process killed with SIGKILL after a random delay. Afterwards
every assignment must have been approved by exactly one accepted call (the marketplace's
request log), the ledger must hold exactly one done decision per assignment and nothing
pending, and ``.approved`` must agree with the marketplace.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import (
    approved_rows,
    assignments,
    balance,
    batch_files,
    calls,
    exposure,
    overlap_calls,
)

KILLS = 20
ASSIGNMENTS = 300


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def _start(root: Path, args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mturkmake", *args],
        cwd=root,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _ledger_decisions(root: Path) -> tuple[Counter[str], int]:
    """Done approvals per assignment, and how many decision intents are pending."""
    conn = sqlite3.connect(root / ".mturkmake" / "state.db")
    try:
        done = Counter(
            subject
            for (subject,) in conn.execute(
                "SELECT i.subject FROM ledger_intent i JOIN ledger_outcome o "
                "ON o.intent_id = i.id WHERE i.operation = 'ApproveAssignment' "
                "AND o.status = 'done' AND i.archived_at IS NULL"
            )
        )
        (pending,) = conn.execute(
            "SELECT COUNT(*) FROM ledger_intent WHERE operation IN ('ApproveAssignment', "
            "'RejectAssignment') AND archived_at IS NULL AND id NOT IN "
            "(SELECT intent_id FROM ledger_outcome)"
        ).fetchone()
    finally:
        conn.close()
    return done, int(pending)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "16"])
def test_killed_runs_decide_every_assignment_exactly_once(
    mturkmake_project: Project, jobs: str
) -> None:
    project = mturkmake_project
    # At -j 16 the approvals finish in waves of up to 16 (their calls really overlap: see
    # overlap_calls), so a kill lands 16 or more approvals on: a larger batch keeps most of
    # the 20 kills among the approvals rather than after the last.
    total = ASSIGNMENTS if jobs == "1" else 3 * ASSIGNMENTS
    project.write(batch_files(total // 3, assignments=3))
    made = project.run("survey.results", "--wait")
    assert made.exit_code == 0, made.output
    remote = assignments(project)
    assert len(remote) == total
    assert {a["AssignmentStatus"] for a in remote.values()} == {"Submitted"}
    overlap_calls(project.root, jobs)
    chance = random.Random(20261123)
    commands = (["survey.approved"], ["approveWork", "-successfile", "survey.success", "-force"])
    progress: list[int] = []
    for n in range(KILLS):
        before = sum(calls(project).values())
        # Kill once the run has approved a random few more (so the kill lands among the
        # approvals, often between a call and its recorded outcome), plus a little jitter.
        # Kept small: an approval sent from the results cache takes a millisecond or two, and
        # larger steps finished the batch before half the kills (7 of 20 landed among them).
        wanted = before + chance.randint(1, 6)
        process = _start(project.root, ["-j", jobs, *commands[n % 2]])
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if sum(calls(project).values()) >= wanted:
                break
            time.sleep(0.005)
        time.sleep(chance.uniform(0, 0.005))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        progress.append(sum(calls(project).values()))
    # Most kills landed among the approvals, not before the first or after the last (on a
    # loaded machine a run may be killed before its first call: that is allowed, not all).
    steps = zip([0, *progress[:-1]], progress, strict=True)
    assert sum(1 for a, b in steps if a < b < total) >= KILLS // 2, progress
    final = _start(project.root, ["-j", jobs, "survey.approved"])
    assert final.wait(timeout=60) == 0
    log = calls(project)
    assert len(log) == total
    assert set(log) == {("ApproveAssignment", a) for a in remote}
    assert set(log.values()) == {1}, "an assignment was approved by two calls"
    done, pending = _ledger_decisions(project.root)
    assert pending == 0
    assert set(done) == set(remote)
    assert set(done.values()) == {1}
    assert {a["AssignmentStatus"] for a in assignments(project).values()} == {"Approved"}
    rows = approved_rows(project.path("survey.approved"))
    assert {r["assignmentid"]: r["decision"] for r in rows} == dict.fromkeys(remote, "approved")
    assert balance(project) == 10000 - exposure(project)
