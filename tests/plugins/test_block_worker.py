"""blockWorker and unblockWorker on the local marketplace, through the CLI in CLT syntax."""

from __future__ import annotations

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import marketplace

TOML = {"mturkmake.toml": 'endpoint = "local"\n'}
REASON = "After several warnings, the Worker continued to submit answers without reading."


def blocks(project: Project) -> dict[str, str]:
    with marketplace(project) as market:
        listed = market.call("ListWorkerBlocks", {"MaxResults": 100})["WorkerBlocks"]
    return {b["WorkerId"]: b["Reason"] for b in listed}


def test_block_then_unblock_one_worker(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(TOML)
    result = project.run("blockWorker", "-workerid", "A3C4G8DMXFG5PQ", "-reason", REASON)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"Blocked A3C4G8DMXFG5PQ with reason: {REASON}"]
    assert blocks(project) == {"A3C4G8DMXFG5PQ": REASON}
    result = project.run("unblockWorker", "-workerid", "A3C4G8DMXFG5PQ", "-reason", "Forgiven")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["Unblocked A3C4G8DMXFG5PQ with reason: Forgiven"]
    assert blocks(project) == {}
    # blocking again is a new intent, and works
    assert project.run("blockWorker", "-workerid", "A3C4G8DMXFG5PQ", "-reason", "x").exit_code == 0
    assert blocks(project) == {"A3C4G8DMXFG5PQ": "x"}


def test_a_file_of_workers(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(
        {
            **TOML,
            "bad.tab": "workerid\treason\nAAAAAAAAAAAAA1\tSpam\nAAAAAAAAAAAAA2\t\n",
        }
    )
    result = project.run("blockWorker", "-workerid", "bad.tab", "-reason", "Default")
    assert result.exit_code == 0, result.output
    assert blocks(project) == {"AAAAAAAAAAAAA1": "Spam", "AAAAAAAAAAAAA2": "Default"}
    result = project.run("unblockWorker", "-workerid", "bad.tab", "-reason", "ok")
    assert result.exit_code == 0, result.output
    assert blocks(project) == {}


def test_bad_input_exits_2_before_any_call(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({**TOML, "w.tab": "workerid\nAAAAAAAAAAAAA1\nnot-a-worker\n"})
    cases = [
        (("-workerid", "AAAAAAAAAAAAA1", "-reason", " "), "-reason is empty"),
        (("-workerid", "bob", "-reason", "x"), "'bob' is not a worker id"),
        (("-workerid", "w.tab", "-reason", "x"), "w.tab:3: 'not-a-worker' is not a worker id"),
        (("-workerid", "missing.txt", "-reason", "x"), "missing.txt: no such file"),
    ]
    for args, message in cases:
        result = project.run("blockWorker", *args)
        assert result.exit_code == 2, args
        (line,) = result.stderr.strip().splitlines()
        assert message in line, line
    assert blocks(project) == {}
