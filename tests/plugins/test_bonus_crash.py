"""SIGKILL grantBonus and a ``.bonused`` build at random points, 20 times each, and re-run.

The pattern of tests/plugins/test_load_hits_crash.py: real ``python -m mturkmake`` processes
on the local marketplace, killed while they pay. ``[local.faults] latency`` stretches every
call, so kills land before, during and after SendBonus; halfway the marketplace clock jumps
25 hours, so a bonus left in flight then can only be resolved by lookup (ListBonusPayments),
never re-sent. At the end every bonus is paid exactly once: ListBonusPayments, the
marketplace's balance and the ledger agree to the cent.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mturkmake import fees
from tests.plugins.test_approved_rule import batch_files

pytestmark = pytest.mark.slow

KILLS = 20
CLOCK_JUMP_AT = 10


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mturkmake", *args],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _start(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mturkmake", *args],
        cwd=root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _market(root: Path) -> Any:
    from mturkmake.marketplace.service import Marketplace

    return Marketplace(root / ".mturkmake" / "local-marketplace.db")


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return list(conn.execute(sql))
    except sqlite3.OperationalError:  # tables not created yet
        return []


def _pending(root: Path) -> list[tuple[Any, ...]]:
    return _query(
        root / ".mturkmake" / "state.db",
        "SELECT id FROM ledger_intent WHERE archived_at IS NULL AND operation = 'SendBonus' "
        "AND id NOT IN (SELECT intent_id FROM ledger_outcome)",
    )


def _bonus_count(root: Path) -> int:
    rows = _query(root / ".mturkmake" / "local-marketplace.db", "SELECT COUNT(*) FROM bonuses")
    return int(rows[0][0]) if rows else 0


def _done_bonuses(root: Path) -> int:
    rows = _query(
        root / ".mturkmake" / "state.db",
        "SELECT COUNT(*) FROM ledger_intent i JOIN ledger_outcome o ON o.intent_id = i.id "
        "WHERE i.operation = 'SendBonus' AND o.status = 'done' AND i.archived_at IS NULL",
    )
    return int(rows[0][0]) if rows else 0


def _prepare(root: Path, rows: int, latency: str) -> list[tuple[str, str]]:
    root.mkdir()
    for name, text in batch_files(rows).items():
        (root / name).write_text(text, encoding="utf-8")
    fetched = _run(root, "survey.results", "--wait")
    assert fetched.returncode == 0, fetched.stderr
    with (root / "mturkmake.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'\n[local.faults]\nlatency = "{latency}"\n')
    market = _market(root)
    try:
        found = []
        for hit in market.call("ListHITs", {"MaxResults": 100})["HITs"]:
            page = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"], "MaxResults": 10})
            found += [(a["AssignmentId"], a["WorkerId"]) for a in page["Assignments"]]
    finally:
        market.close()
    return sorted(found)


def _balance(root: Path) -> Decimal:
    market = _market(root)
    try:
        return Decimal(market.call("GetAccountBalance", {})["AvailableBalance"])
    finally:
        market.close()


def _payments(root: Path, assignment_id: str) -> list[dict[str, Any]]:
    market = _market(root)
    try:
        reply = market.call("ListBonusPayments", {"AssignmentId": assignment_id, "MaxResults": 100})
        return list(reply["BonusPayments"])
    finally:
        market.close()


def _explain(root: Path, *runs: subprocess.CompletedProcess[str]) -> str:
    """What a failed assertion needs to tell a timing problem from a money one: the
    marketplace's payments and the ledger's SendBonus intents, with the runs' output."""
    payments = _query(root / ".mturkmake" / "local-marketplace.db", "SELECT COUNT(*) FROM bonuses")
    intents = _query(
        root / ".mturkmake" / "state.db",
        "SELECT i.id, i.subject, json_extract(i.params, '$.BonusAmount'), i.archived_at, "
        "o.status, o.resolved_by FROM ledger_intent i LEFT JOIN ledger_outcome o "
        "ON o.intent_id = i.id WHERE i.operation = 'SendBonus' ORDER BY i.id",
    )
    lines = [f"marketplace payments: {payments}", "ledger intents:"]
    lines += [f"  {row}" for row in intents]
    for run in runs:
        lines += [
            f"run {run.args[3:]} exit {run.returncode}",
            run.stdout[-3000:],
            run.stderr[-3000:],
        ]
    return "\n".join(lines)


def _jump(root: Path) -> None:
    market = _market(root)
    try:
        market.advance(25 * 3600)
    finally:
        market.close()


def test_grant_bonus_killed_20_times_pays_each_bonus_once(tmp_path: Path) -> None:
    root = tmp_path / "project"
    work = _prepare(root, KILLS, "200ms")
    before = _balance(root)
    rng = random.Random(20261205)
    left_pending = 0
    jumped: list[tuple[Any, ...]] = []
    for kill, (aid, worker) in enumerate(work):
        amount = f"{kill + 1}.{kill:02d}"
        args = (
            "grantBonus",
            "-workerid",
            worker,
            "-assignment",
            aid,
            "-amount",
            amount,
            "-reason",
            f"Bonus number {kill}",
        )
        process = _start(root, *args)
        if kill % 3 == 0:
            time.sleep(rng.uniform(0.3, 2.5))  # start-up, recovery, the checks
        else:  # while SendBonus is in flight: before or after the marketplace pays
            deadline = time.monotonic() + 30
            while process.poll() is None and not _pending(root) and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.25))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        left_pending += bool(_pending(root))
        if kill >= CLOCK_JUMP_AT and not jumped and _pending(root):
            jumped = _pending(root)
            _jump(root)
        rerun = _run(root, *args)
        assert rerun.returncode == 0 or "already has a bonus" in rerun.stderr, rerun.stderr
        if rerun.returncode == 0:
            assert rerun.stdout.splitlines()[-1].startswith(f"Granted bonus to {worker}") or (
                "found paid" in rerun.stdout
            ), rerun.stdout
        (payment,) = _payments(root, aid)
        assert Decimal(payment["BonusAmount"]) == Decimal(amount)
    assert _pending(root) == []
    assert left_pending >= 1, "no kill landed while a bonus was in flight"
    expected = sum((fees.bonus_cost(f"{k + 1}.{k:02d}") for k in range(KILLS)), Decimal("0"))
    assert before - _balance(root) == expected
    assert _done_bonuses(root) == KILLS
    assert jumped, "no bonus was in flight after the clock jump point"
    if jumped:
        how = _query(
            root / ".mturkmake" / "state.db",
            f"SELECT resolved_by FROM ledger_outcome WHERE intent_id = {jumped[0][0]}",
        )
        assert how == [("lookup",)]


@pytest.mark.parametrize("jobs", ["1", "16"])
def test_bonused_build_killed_20_times_pays_each_row_once(tmp_path: Path, jobs: str) -> None:
    root = tmp_path / "project"
    work = _prepare(root, 10, "20ms")
    rows = []
    for n in range(60):
        aid, worker = work[n % len(work)]
        rows.append(f"{aid}\t{worker}\t0.{10 + n:02d}\tRow {n % 7}")
    (root / "survey.bonus").write_text(
        "assignmentid\tworkerid\tamount\treason\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    before = _balance(root)
    rng = random.Random(5)
    left_pending = 0
    for kill in range(KILLS):
        process = _start(root, "-j", jobs, "survey.bonused")
        if kill % 5 == 0:
            time.sleep(rng.uniform(0.05, 1.0))
        else:
            goal = _bonus_count(root) + rng.randint(1, 4)
            deadline = time.monotonic() + 60
            while (
                process.poll() is None and _bonus_count(root) < goal and time.monotonic() < deadline
            ):
                time.sleep(0.002)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        left_pending += bool(_pending(root))
        if kill == CLOCK_JUMP_AT and _pending(root):
            _jump(root)
    final = _run(root, "-j", jobs, "survey.bonused")
    assert final.returncode == 0, _explain(root, final)
    assert left_pending >= 1, _explain(root, final)
    assert _bonus_count(root) == len(rows), _explain(root, final)
    for aid, worker in work:
        paid = sorted(Decimal(p["BonusAmount"]) for p in _payments(root, aid))
        wanted = sorted(Decimal(r.split("\t")[2]) for r in rows if r.startswith(aid))
        assert paid == wanted, _explain(root, final)
        assert all(p["WorkerId"] == worker for p in _payments(root, aid))
    expected = sum((fees.bonus_cost(r.split("\t")[2]) for r in rows), Decimal("0"))
    assert before - _balance(root) == expected, _explain(root, final)
    listed = (root / "survey.bonused").read_text(encoding="utf-8").splitlines()
    assert len(listed) == len(rows) + 1, _explain(root, final)
    assert _done_bonuses(root) == len(rows), _explain(root, final)
