"""SIGKILL a real ``mturkmake survey.success`` at random points of a 1,000-row load, 20 times.

Each kill lands while HITs are being created (the test watches the marketplace's HIT count
and kills after a random number of new HITs, or during start-up); the next run must resolve
whatever the dead run left pending — by token retry while young, by lookup after the
marketplace clock jumps 25 hours — and never create a HIT twice. At the end the marketplace
holds exactly 1,000 HITs, one per row, and ``.success`` lists exactly them.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.plugins.test_approved_rule import overlap_calls
from tests.plugins.test_load_hits import batch_files, marketplace_hits, success_ids

pytestmark = pytest.mark.slow

ROWS = 1000  # enough that 10 kills leave work to do, however fast the load (#17)
KILLS = 20
CLOCK_JUMP_AT = 10  # after this kill, the marketplace clock moves 25 hours


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def _hit_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM hits").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is being created
        return 0


def _ledger(root: Path, sql: str) -> list[tuple[object, ...]]:
    db = root / ".mturkmake" / "state.db"
    if not db.exists():
        return []
    try:
        # Read-write, not mode=ro: the first connection after a SIGKILL rebuilds the WAL
        # index from the WAL file, so a transaction the killed run had written in full (but
        # not yet indexed) is seen now, as the next run will see it; a read-only one could
        # miss it and call an intent pending that is done.
        with sqlite3.connect(db, timeout=5) as conn:
            return list(conn.execute(sql))
    except sqlite3.OperationalError:  # the ledger's tables do not exist yet
        return []


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=5) as conn:
        return list(conn.execute(sql))


def _diagnosis(root: Path, db: Path) -> str:
    """Each HIT of a row posted more than once, with its token, and every intent of the
    ledger on the subject that sent that token (token, run, archive reason, how resolved);
    then the HITs no done intent names."""
    lines = [f"{_query(db, 'SELECT COUNT(*) FROM hits')[0][0]} HITs stored"]
    twice = _query(
        db,
        "SELECT h.annotation, h.id, h.created, t.token FROM hits h LEFT JOIN tokens t "
        "ON t.subject = h.id AND t.family = 'HIT' WHERE h.question IN "
        "(SELECT question FROM hits GROUP BY question HAVING COUNT(*) > 1) ORDER BY 1, 3",
    )
    for annotation, hit_id, created, token in twice:
        lines.append(f"{annotation!r}: HIT {hit_id} created {created} token {token}")
        lines += [
            f"    intent {row}"
            for row in _ledger(
                root,
                "SELECT i.id, i.subject, substr(i.token, 1, 12), i.created_at, i.run, "
                "i.archived_at, i.archive_reason, o.status, o.resolved_by, o.remote_id "
                "FROM ledger_intent i LEFT JOIN ledger_outcome o ON o.intent_id = i.id "
                "WHERE i.subject IN (SELECT subject FROM ledger_intent "
                f"WHERE token = '{token}') ORDER BY i.id",
            )
        ]
    named = {
        str(remote)
        for (remote,) in _ledger(root, "SELECT remote_id FROM ledger_outcome WHERE status = 'done'")
    }
    unnamed = [str(hit_id) for (hit_id,) in _query(db, "SELECT id FROM hits")]
    lines.append(f"HITs no done intent names: {[h for h in unnamed if h not in named]}")
    return "\n".join(lines)


def _pending(root: Path) -> list[tuple[object, ...]]:
    """The intents a killed run left without an outcome: (id, created_at)."""
    return _ledger(
        root,
        "SELECT id, created_at FROM ledger_intent WHERE archived_at IS NULL "
        "AND id NOT IN (SELECT intent_id FROM ledger_outcome)",
    )


def _start(root: Path, jobs: str = "1") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mturkmake", "-j", jobs, "survey.success"],
        cwd=root,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_after(
    process: subprocess.Popen[bytes],
    db: Path,
    new_hits: int,
    rng: random.Random,
) -> None:
    """SIGKILL ``process`` once ``new_hits`` more HITs exist (or at a random early moment)."""
    goal = _hit_count(db) + new_hits
    deadline = time.monotonic() + 60
    if new_hits == 0:
        time.sleep(rng.uniform(0.05, 1.0))  # somewhere in start-up, preflight or recovery
    else:
        while process.poll() is None and _hit_count(db) < goal and time.monotonic() < deadline:
            time.sleep(0.002)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _kill_when_pending(process: subprocess.Popen[bytes], root: Path) -> None:
    """SIGKILL ``process`` once the ledger holds an intent without an outcome."""
    deadline = time.monotonic() + 60
    while process.poll() is None and not _pending(root) and time.monotonic() < deadline:
        time.sleep(0.002)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


# -j 16: up to 16 creations in flight and group commits (issue #17) must hold the same line.
@pytest.mark.parametrize("jobs", ["1", "16"])
def test_sigkill_at_random_points_never_duplicates(tmp_path: Path, jobs: str) -> None:
    root = tmp_path / "project"
    root.mkdir()
    for name, text in batch_files(ROWS).items():
        (root / name).write_text(text, encoding="utf-8")
    overlap_calls(root, jobs)
    db = root / ".mturkmake" / "local-marketplace.db"
    rng = random.Random(20261123)
    left_pending = 0
    in_flight_at_jump: list[tuple[object, ...]] = []
    for kill in range(KILLS):
        new_hits = 0 if kill % 5 == 0 else rng.randint(1, 20)
        _kill_after(_start(root, jobs), db, new_hits, rng)
        left_pending += bool(_pending(root))
        if kill == CLOCK_JUMP_AT:
            # Kill until a CreateHITWithHITType is left in flight, then let its token expire:
            # the next run may only look the HIT up, never re-send it.
            # Kill as soon as the ledger shows an intent without an outcome (with group
            # commit that is most of a run's sending time, but a kill timed by the HIT count
            # often lands just after a recovery's retry, with nothing pending).
            for _ in range(15):
                if _pending(root):
                    break
                _kill_when_pending(_start(root, jobs), root)
            in_flight_at_jump = _pending(root)
            assert in_flight_at_jump, "no kill left an intent in flight"
            from mturkmake.marketplace.service import Marketplace

            marketplace = Marketplace(db)
            marketplace.advance(25 * 3600)
            marketplace.close()
    final = subprocess.run(
        [sys.executable, "-m", "mturkmake", "-j", jobs, "survey.success"],
        check=False,
        cwd=root,
        env=_env(),
        capture_output=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr.decode()
    hits = marketplace_hits(root)
    # Counted twice, through ListHITs and in the marketplace's own table: a mismatch names
    # every HIT of a row posted twice, with the ledger intents its token came from.
    stored = _query(db, "SELECT COUNT(*) FROM hits")[0][0]
    assert (len(hits), stored) == (ROWS, ROWS), _diagnosis(root, db)
    questions = [h["Question"] for h in hits]
    assert len(set(questions)) == ROWS, _diagnosis(root, db)  # no row posted twice
    listed = success_ids(root / "survey.success")
    assert len(listed) == ROWS
    assert set(listed) == {h["HITId"] for h in hits}
    # The kills did land mid-call, and both recovery paths ran.
    assert left_pending >= 1
    # The intent in flight when the clock jumped 25 hours was resolved by lookup only.
    for intent_id, created_at in in_flight_at_jump:
        how = _ledger(
            root, f"SELECT resolved_by, status FROM ledger_outcome WHERE intent_id = {intent_id}"
        )
        assert how, f"intent {intent_id} ({created_at}) is still unresolved"
        assert how[0][0] == "lookup", f"intent {intent_id} ({created_at}) resolved by {how}"
