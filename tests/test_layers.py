"""The layers of DESIGN §1 hold: import contracts, and a make engine that knows nothing of MTurk."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mturkmake"
REPO = PACKAGE.parent

#: What the make engine must not know about (the package's own name aside).
MTURK_WORDS = re.compile(
    r"\bMTurk\b|\bmturk\b(?!make)|Mechanical Turk|\bHITs?\b|\bHITId\b|\bAWS\b|\bboto(?:3|core)?\b"
    r"|\bmoney\b|\bbudget\b|\breward\b|\bUSD\b|\bassignments?\b|\brequester\b",
    re.IGNORECASE,
)


def _words_in_core() -> list[str]:
    found = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = line.replace("mturkmake", "")
            if MTURK_WORDS.search(text):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    return found


def test_core_mentions_no_mturk_hits_money_or_aws() -> None:
    assert _words_in_core() == []


def test_the_word_check_would_catch_a_mention(tmp_path: Path) -> None:
    assert MTURK_WORDS.search("create one HIT per row")
    assert MTURK_WORDS.search("the AWS chain")
    assert not MTURK_WORDS.search("from .fsio import atomic_write".replace("mturkmake", ""))


def _lint_imports() -> subprocess.CompletedProcess[str]:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    return subprocess.run(
        [command, "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )


def test_import_contracts_are_kept() -> None:
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_the_contracts(tmp_path: Path) -> None:
    """The contracts are not vacuous: core importing the requester side is caught."""
    probe = PACKAGE / "core" / "_layer_probe.py"
    probe.write_text("from mturkmake.mturk import ledger  # noqa: F401\n", encoding="utf-8")
    try:
        result = _lint_imports()
    finally:
        probe.unlink()
    assert result.returncode != 0
    assert "mturkmake.core is not allowed to import mturkmake.mturk" in result.stdout


def test_only_the_ledger_queries_its_tables() -> None:
    """Every query on the ledger's tables lives in the ledger's modules (mturk/ledger.py and
    the ledger_*.py it is split into) and its exposure table in mturk/exposure.py: one owner,
    one place to read the money rules."""
    owners = {
        PACKAGE / "mturk" / name
        for name in (
            "ledger.py",
            "ledger_model.py",
            "ledger_queries.py",
            "ledger_group.py",
            "exposure.py",
        )
    }
    assert all(owner.exists() for owner in owners)  # a renamed module must be named here
    tables = re.compile(r"\b(ledger_intent|ledger_outcome|ledger_exposure)\b")
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in owners
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if tables.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []
