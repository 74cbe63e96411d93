"""Every CLT 1.3.1 sample batch runs its whole script unchanged, cleanup included.

The sample scripts ran ``loadHITs``, ``getResults`` and ``approveAndDeleteResults.sh`` —
``deleteHITs -successfile NAME.success -approve -expire``, which asks for ENTER. Each test runs
those command lines through ``mturkmake`` in a copy of the sample (plus an ``mturkmake.toml``),
the last one on a pseudo-terminal that presses ENTER; between load and results the local
crowd gets two virtual hours. Afterwards no HIT of the sample is left, every submitted
assignment is approved, and the balance is what the approved work cost, to the cent. Without a
terminal and without ``-force``, deleteHITs refuses and changes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.plugins.test_delete_hits import run_on_pty
from tests.plugins.test_load_hits import project_toml
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples" / "samples"

BATCHES = [
    "helloworld",
    "simple_survey",
    "best_image",
    pytest.param("image_category", marks=pytest.mark.slow),
    pytest.param("image_tagging", marks=pytest.mark.slow),
    "external_hit",
    "site_filter",
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mturkmake", *args],
        cwd=root,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _copy(name: str, root: Path) -> None:
    root.mkdir()
    for path in (SAMPLES / name).iterdir():
        if path.suffix in (".input", ".question", ".properties", ".htm"):
            shutil.copy(path, root / path.name)
    # A fixed project_id: HIT ids, hence the local crowd's work, are the same on every run.
    pinned = project_toml() + f'project_id = "{"5a" * 16}"\n'
    (root / "mturkmake.toml").write_text(pinned, encoding="utf-8")


def _market_state(root: Path) -> tuple[list[dict[str, object]], Decimal, list[str]]:
    from mturkmake.marketplace.service import Marketplace

    market = Marketplace(root / ".mturkmake" / "local-marketplace.db")
    try:
        hits: list[dict[str, object]] = []
        token: str | None = None
        while True:
            page = market.call(
                "ListHITs", {"MaxResults": 100, **({"NextToken": token} if token else {})}
            )
            hits += page["HITs"]
            token = page.get("NextToken")
            if not token:
                break
        money = Decimal(market.call("GetAccountBalance", {})["AvailableBalance"])
        approvals = [e[1] for e in market.request_log() if e[0] == "ApproveAssignment"]
    finally:
        market.close()
    return list(hits), money, approvals


@pytest.mark.parametrize("name", BATCHES)
def test_sample_script_runs_to_its_final_delete(tmp_path: Path, name: str) -> None:
    from mturkmake import fees
    from mturkmake.formats.results import open_results

    root = tmp_path / name
    _copy(name, root)
    load = _run(
        root,
        "loadHITs",
        "-label",
        name,
        "-input",
        f"{name}.input",
        "-question",
        f"{name}.question",
        "-properties",
        f"{name}.properties",
    )
    assert load.returncode == 0, load.stderr
    assert _run(root, "marketplace", "advance", "2h").returncode == 0
    results = _run(
        root, "getResults", "-successfile", f"{name}.success", "-outputfile", f"{name}.results"
    )
    assert results.returncode == 0, results.stderr
    refused = _run(root, "deleteHITs", "-successfile", f"{name}.success", "-approve", "-expire")
    assert refused.returncode == 2
    assert "no terminal" in refused.stderr
    hits_before, _, _ = _market_state(root)
    assert hits_before
    code, output = run_on_pty(
        root, ["deleteHITs", "-successfile", f"{name}.success", "-approve", "-expire"]
    )
    assert code == 0, output
    assert f"You are about to delete {len(hits_before)} HITs." in output
    assert f"  {len(hits_before)} HITs have been deleted or were deleted previously." in output
    assert "  0 errors occurred." in output
    hits_after, money, approvals = _market_state(root)
    assert hits_after == []
    table = open_results(root / f"{name}.results")
    submitted = [e for e in table.assignments() if e.status == "Submitted"]
    assert sorted(approvals) == sorted(e.assignment_id for e in submitted)
    by_hit = {str(h["HITId"]): h for h in hits_before}
    paid = sum(
        (
            fees.assignment_cost(
                str(by_hit[e.hit_id]["Reward"]),
                max_assignments=int(str(by_hit[e.hit_id]["MaxAssignments"])),
            )
            for e in submitted
        ),
        Decimal("0.00"),
    )
    assert money == Decimal("10000.00") - paid
