"""GNU make drives ``examples/makefile`` against the local marketplace (issue #18).

Each rule of the example's Makefile calls mturkmake for its own target, as a user's would.
Incomplete targets are written older than their prerequisites, so the next ``make`` polls
again; once everything is final ``make`` has nothing to do; a touched ``.input`` posts nothing
and two appended rows post exactly two HITs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mturkmake.core.run import INCOMPLETE_AGE_NS

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "makefile"
MAKE = shutil.which("make") or "/usr/bin/make"
SOURCES = ("Makefile", "mturkmake.toml", "senti.input", "senti.question", "senti.properties")

pytestmark = pytest.mark.skipif(not Path(MAKE).exists(), reason="GNU make is not installed")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        LC_ALL="C",
    )
    return env


def _make(root: Path) -> subprocess.CompletedProcess[str]:
    """``make`` in ``root``, with this Python's mturkmake as ``$(MTURKMAKE)``."""
    done = subprocess.run(
        [MAKE, f"MTURKMAKE={sys.executable} -m mturkmake"],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _mturkmake(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mturkmake", *args],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _created(root: Path) -> Counter[str]:
    """How many CreateHIT calls the marketplace accepted, by operation."""
    from mturkmake.marketplace.service import Marketplace

    market = Marketplace(root / ".mturkmake" / "local-marketplace.db")
    try:
        return Counter(op for op, _ in market.request_log() if op.startswith("CreateHIT"))
    finally:
        market.close()


def _recipes(output: str) -> list[str]:
    """The targets whose recipe make ran (``… -m mturkmake TARGET`` lines)."""
    return [line.split()[-1] for line in output.splitlines() if "-m mturkmake " in line]


@pytest.mark.slow
def test_gnu_make_polls_until_final_then_has_nothing_to_do(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    for name in SOURCES:
        shutil.copy(EXAMPLE / name, root / name)

    first = _make(root)
    assert _recipes(first.stdout) == ["senti.success", "senti.results", "senti.approved"]
    assert sum(_created(root).values()) == 4
    assert "mturkmake: 'senti.results' is incomplete: 0/8 assignments, 0/4 HITs final" in (
        first.stdout
    )
    # Written older than its prerequisite, so make (even on 2-second file systems) sees it.
    success = (root / "senti.success").stat().st_mtime_ns
    assert (root / "senti.results").stat().st_mtime_ns <= success - INCOMPLETE_AGE_NS
    assert _mturkmake(root, "-q", "senti.approved").returncode == 1

    # Nothing happened on the marketplace: make asks again, mturkmake polls again.
    again = _make(root)
    assert "senti.results" in _recipes(again.stdout)
    assert "Nothing to be done" not in again.stdout

    advanced = _mturkmake(root, "marketplace", "advance", "1h")
    assert advanced.returncode == 0, advanced.stderr
    polled = _make(root)
    assert _recipes(polled.stdout)[:2] == ["senti.results", "senti.approved"]
    assert "mturkmake: made 'senti.results': 8/8 assignments, 4/4 HITs final" in polled.stdout
    assert "mturkmake: made 'senti.approved': 8 approved, 0 rejected" in polled.stdout

    # Approving changed the HITs remotely; make settles within a run or two, then stops.
    for _ in range(3):
        done = _make(root)
        if "make: Nothing to be done for 'all'." in done.stdout:
            break
    else:
        pytest.fail(f"make never settled:\n{done.stdout}")
    assert _mturkmake(root, "-q", "senti.approved").returncode == 0

    # Touching the input without changing it posts nothing.
    # Now, not ahead of the clock: a future mtime would stay newer than everything built
    # after it, and make would never see the appended rows below as a change.
    time.sleep(0.05)
    later = time.time_ns()
    assert later > (root / "senti.approved").stat().st_mtime_ns
    os.utime(root / "senti.input", ns=(later, later))
    touched = _make(root)
    assert _recipes(touched.stdout) == ["senti.success", "senti.results", "senti.approved"]
    assert "mturkmake: 'senti.success' is up to date." in touched.stdout
    assert sum(_created(root).values()) == 4
    assert _make(root).stdout.strip() == "make: Nothing to be done for 'all'."

    # Two appended rows post exactly two HITs, however often make runs.
    with (root / "senti.input").open("a", encoding="utf-8") as stream:
        stream.write("Lovely garden and a very helpful host.\nThe manual is missing half.\n")
    grown = _make(root)
    assert "mturkmake: made 'senti.success': 2 HITs created, 4 already existed" in grown.stdout
    _make(root)
    assert sum(_created(root).values()) == 6
    assert _mturkmake(root, "marketplace", "advance", "1h").returncode == 0
    for _ in range(4):
        done = _make(root)
        if "make: Nothing to be done for 'all'." in done.stdout:
            break
    else:
        pytest.fail(f"make never settled:\n{done.stdout}")
    assert sum(_created(root).values()) == 6
    approved = (root / "senti.approved").read_text(encoding="utf-8").splitlines()
    assert len(approved) == 1 + 12  # header + every assignment of the six HITs, approved
