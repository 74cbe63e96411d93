"""SIGKILL a real ``mturkmake survey.success`` at exact points of its CreateHIT calls.

The random crash test (``test_load_hits_crash``) kills when the test *sees* a HIT count or a
pending intent, so where a kill lands depends on the machine's load. These kills land at
named points, every time, from inside the run: a project-local plugin (the
``mturkmake_make_client`` hook, as a third party would add one) registers a botocore handler
on the run's real client that SIGKILLs its own process

- ``before``: as the N-th CreateHITWithHITType is about to be sent — its intent is durable,
  the marketplace has not seen the call: no HIT exists for that intent;
- ``after``: as the N-th CreateHITWithHITType returns — the marketplace committed the HIT
  (and its token), the run has not recorded the outcome: the HIT exists, the ledger says
  pending. This is the case a duplicate would come from.

The next run resolves what the dead one left: by token retry while it is young, by lookup
after the marketplace clock jumps 25 hours (killed again mid-lookup, and after it).
Afterwards the marketplace holds exactly one HIT per row (counted in its own table, not only
through ListHITs), every accepted creation is one of those HITs, and each intent left
pending was resolved the right way: found (the HIT its token made) when the HIT existed,
absent (and the row posted once, by a new intent) when it did not.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.plugins.test_approved_rule import overlap_calls
from tests.plugins.test_load_hits import batch_files, success_ids

pytestmark = pytest.mark.slow

ROWS = 40  # more than the kills leave done, even at -j 16
#: Each killed run dies at its N-th CreateHITWithHITType (retries of the previous run's
#: pending intents count: they are calls too).
KILL_AT = (1, 4, 7)

#: SIGKILLs its own process at the N-th call of an operation (env CRASHPOINT
#: ``before|after:Operation:N``), counted over every client and thread of the run.
CRASH_PLUGIN = """
import os
import signal
import threading

from mturkmake import hookimpl

_LOCK = threading.Lock()
_SEEN = [0]


@hookimpl(tryfirst=True)
def mturkmake_make_client(config, host):
    from mturkmake.mturk.endpoint import make_endpoint

    endpoint = make_endpoint(config, answer_fn=host.simulate_answer)
    point = os.environ.get("CRASHPOINT")
    if point:
        when, operation, count = point.split(":")

        def crash(**_):
            with _LOCK:
                _SEEN[0] += 1
                if _SEEN[0] >= int(count):
                    os.kill(os.getpid(), signal.SIGKILL)

        # before-send.mturk.<op> runs before the in-process marketplace's before-send.mturk
        # handler (the more specific event first); after-call runs once it has answered.
        event = "before-send" if when == "before" else "after-call"
        endpoint.client.meta.events.register_first(f"{event}.mturk.{operation}", crash)
    return endpoint
"""


def _env(point: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env.pop("CRASHPOINT", None)
    if point is not None:
        env["CRASHPOINT"] = point
    return env


def _run(root: Path, jobs: str, point: str | None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "mturkmake", "-j", jobs, "survey.success"],
        check=False,
        cwd=root,
        env=_env(point),
        capture_output=True,
        timeout=300,
    )


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def _pending(root: Path) -> dict[int, str]:
    """Intent id → token of every intent a killed run left without an outcome."""
    rows = _query(
        root / ".mturkmake" / "state.db",
        "SELECT id, token FROM ledger_intent WHERE archived_at IS NULL "
        "AND id NOT IN (SELECT intent_id FROM ledger_outcome)",
    )
    return {int(str(i)): str(t) for i, t in rows}


def _hits_by_token(root: Path) -> dict[str, str]:
    """UniqueRequestToken → HITId, as the marketplace recorded them."""
    rows = _query(
        root / ".mturkmake" / "local-marketplace.db",
        "SELECT token, subject FROM tokens WHERE family = 'HIT'",
    )
    return {str(t): str(h) for t, h in rows}


@pytest.mark.parametrize("jump", [False, True], ids=["young", "after-25h"])
@pytest.mark.parametrize("point", ["before", "after"])
@pytest.mark.parametrize("jobs", ["1", "16"])
def test_a_kill_at_an_exact_point_never_duplicates(
    tmp_path: Path, jobs: str, point: str, jump: bool
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    for name, text in batch_files(ROWS).items():
        (root / name).write_text(text, encoding="utf-8")
    overlap_calls(root, jobs)
    (root / "mturkmake_plugins.py").write_text(CRASH_PLUGIN, encoding="utf-8")
    market = root / ".mturkmake" / "local-marketplace.db"

    left: dict[int, str] = {}
    for count in KILL_AT:
        killed = _run(root, jobs, f"{point}:CreateHITWithHITType:{count}")
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
        left = _pending(root)
        assert left, "the kill left no intent pending"
        # Group commit: at most one intent per call in flight lacks a durable outcome.
        assert len(left) <= int(jobs), left
    # What existed on the marketplace for each intent left pending by the last kill.
    existed = {intent: _hits_by_token(root).get(token) for intent, token in left.items()}
    if point == "after":
        assert any(existed.values()), "an after-call kill left no HIT behind a pending intent"
    else:
        assert not any(existed.values()) or jobs != "1", existed
    if jump:
        from mturkmake.marketplace.service import Marketplace

        marketplace = Marketplace(market)
        marketplace.advance(25 * 3600)
        marketplace.close()
        # Killed again: as the first lookup's ListHITs returns (nothing resolved yet), then
        # at the second new HIT, once the lookups are recorded: each is repeated or kept.
        for again in ("after:ListHITs:1", "after:CreateHITWithHITType:2"):
            killed = _run(root, jobs, again)
            assert killed.returncode == -signal.SIGKILL, (again, killed.stderr.decode())

    final = _run(root, jobs, None)
    assert final.returncode == 0, final.stderr.decode()

    # One HIT per row, counted in the marketplace's table itself.
    hits = _query(market, "SELECT id, question FROM hits")
    assert len(hits) == ROWS
    assert len({question for _, question in hits}) == ROWS
    created = Counter(
        str(subject)
        for (subject,) in _query(
            market, "SELECT subject FROM request_log WHERE operation = 'CreateHITWithHITType'"
        )
    )
    assert set(created) == {str(hit_id) for hit_id, _ in hits}
    assert set(created.values()) == {1}
    assert set(success_ids(root / "survey.success")) == {str(hit_id) for hit_id, _ in hits}

    # Each intent the last kill left pending was resolved the right way.
    state = root / ".mturkmake" / "state.db"
    for intent, hit_id in existed.items():
        [(how, status, remote)] = _query(
            state,
            f"SELECT resolved_by, status, remote_id FROM ledger_outcome WHERE intent_id = {intent}",
        )
        assert how == ("lookup" if jump else "retry"), (intent, how)
        if hit_id is not None:
            assert (status, remote) == ("done", hit_id), (intent, how, status, remote)
        elif jump:
            assert status == "failed", (intent, status)  # absent: the row got a new intent
        else:
            assert status == "done"  # the retry was the first call with that token
