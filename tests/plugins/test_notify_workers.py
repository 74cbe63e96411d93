"""notifyWorkers on the local marketplace: chunks of 100, each once, limits checked first."""

from __future__ import annotations

import sqlite3

import pytest

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import assignments, batch_files, fetched


def _messages(project: Project) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(project.path(".mturkmake/local-marketplace.db"))
    try:
        return [
            (str(w), str(s), str(m))
            for w, s, m in conn.execute(
                "SELECT worker_id, subject, message FROM notifications ORDER BY rowid"
            )
        ]
    finally:
        conn.close()


def _chunks(project: Project) -> int:
    conn = sqlite3.connect(project.path(".mturkmake/state.db"))
    try:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM ledger_intent WHERE operation = 'NotifyWorkers'"
        ).fetchone()
    finally:
        conn.close()
    return int(count)


def _workers(project: Project) -> list[str]:
    project.write(batch_files(2, assignments=2))
    fetched(project)
    return sorted({a["WorkerId"] for a in assignments(project).values()})


def test_sends_once_and_reports_failures(mturkmake_project: Project) -> None:
    project = mturkmake_project
    workers = _workers(project)
    strangers = [f"A{n:013d}" for n in range(150)]  # never worked for this requester
    project.write({"workers.txt": "workerid\n" + "\n".join([*workers, *strangers]) + "\n"})
    project.write({"message.txt": "Thank you for your help.\nA new batch starts Monday."})
    args = (
        "notifyWorkers",
        "-workerfile",
        "workers.txt",
        "-subject",
        "New batch",
        "-messagefile",
        "message.txt",
    )
    result = project.run(*args)
    assert result.exit_code == 2  # per-worker failures are reported
    assert f"Notified {len(workers)} workers." in result.stdout
    assert "Failed to notify 150 workers." in result.stdout
    assert f"[{strangers[0]}] Could not notify the worker:" in result.stderr
    assert sorted(w for w, _, _ in _messages(project)) == workers
    assert {(s, m) for _, s, m in _messages(project)} == {
        ("New batch", "Thank you for your help.\nA new batch starts Monday.")
    }
    assert _chunks(project) == 2  # 152 workers: chunks of 100 and 52
    again = project.run(*args)
    assert f"{len(workers) + 150} workers already had this message; not sent again." in (
        again.stdout
    )
    assert len(_messages(project)) == len(workers)
    assert _chunks(project) == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["-workerid", "A1TESTWORKER0001", "-subject", "x" * 201, "-message", "hi"],
            "-subject must have 1 to 200 characters, not 201",
        ),
        (
            ["-workerid", "A1TESTWORKER0001", "-subject", "s", "-message", "m" * 4097],
            "the message must have 1 to 4096 characters, not 4097",
        ),
        (
            ["-workerid", "worker-1", "-subject", "s", "-message", "m"],
            "-workerid 'worker-1' is not a worker id",
        ),
        (["-subject", "s", "-message", "m"], "give -workerid or -workerfile"),
    ],
)
def test_limits_are_checked_before_any_call(
    mturkmake_local_project: Project, args: list[str], expected: str
) -> None:
    project = mturkmake_local_project
    result = project.run("notifyWorkers", *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert not project.path(".mturkmake/state.db").exists() or _chunks(project) == 0


def test_an_interrupted_chunk_counts_as_sent(mturkmake_project: Project) -> None:
    """MTurk keeps no list of messages: recovery records a pending chunk as sent, so the
    re-run never e-mails the same workers twice."""
    from mturkmake.mturk.ledger import open_ledger
    from mturkmake.mturk.recovery import Recoveries
    from mturkmake.plugins.notify_workers import BATCH, _digest

    project = mturkmake_project
    workers = _workers(project)
    params = {"Subject": "Hi", "MessageText": "Thanks", "WorkerIds": workers}
    ledger = open_ledger(project.path(".mturkmake"), "local")
    ledger.recover(None, Recoveries())
    ledger._record(
        "NotifyWorkers", BATCH, _digest("Hi", "Thanks", workers), params, cents=0, budget=None
    )
    ledger.close()  # died before (or after) the call: nobody can tell
    result = project.run(
        "notifyWorkers", "-workerid", ",".join(workers), "-subject", "Hi", "-message", "Thanks"
    )
    assert result.exit_code == 0, result.output
    assert f"{len(workers)} workers already had this message; not sent again." in result.stdout
    assert _messages(project) == []
