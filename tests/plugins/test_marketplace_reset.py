"""``marketplace reset`` archives the local ledger entries, so nothing is adopted or recovered
against HITs that no longer exist."""

from __future__ import annotations

from mturkmake.mturk.ledger import Recoveries, open_ledger
from mturkmake.testing import Project


def test_reset_archives_local_ledger_entries(mturkmake_project: Project) -> None:
    mturkmake_project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    state_dir = mturkmake_project.path(".mturkmake")
    ledger = open_ledger(state_dir, "local")
    try:
        ledger.recover(None, Recoveries())  # nothing pending: resolves nothing, calls nothing
        with ledger.intent("CreateHIT", "survey.input", "row-1", {"Title": "t"}) as intent:
            intent.done("HIT1")
        assert ledger.is_done("CreateHIT", "survey.input", "row-1")
    finally:
        ledger.close()

    result = mturkmake_project.run("marketplace", "reset")
    assert result.exit_code == 0, result.stderr
    assert "Archived 1 local ledger entries." in result.stdout

    ledger = open_ledger(state_dir, "local")
    try:
        assert not ledger.is_done("CreateHIT", "survey.input", "row-1")
    finally:
        ledger.close()
    again = mturkmake_project.run("marketplace", "reset")
    assert "Archived" not in again.stdout


def test_reset_then_rebuild_makes_a_fresh_batch(mturkmake_project: Project) -> None:
    # After a reset, nothing of the wiped marketplace is adopted, recovered or reused:
    # the example batch is created again and its results are fetched anew.
    import shutil
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "helloworld"
    for name in ("hello.input", "hello.question", "hello.properties", "mturkmake.toml"):
        shutil.copy(example / name, mturkmake_project.path(name))
    first = mturkmake_project.run("--wait", "hello.results")
    assert first.exit_code == 0, first.output
    before = mturkmake_project.read("hello.success")
    reset = mturkmake_project.run("marketplace", "reset")
    assert reset.exit_code == 0
    assert "hello.success → hello.local-reset.success" in reset.stdout
    assert mturkmake_project.read("hello.local-reset.success") == before
    assert not mturkmake_project.path("hello.results").exists()
    again = mturkmake_project.run("--wait", "hello.results")
    assert again.exit_code == 0, again.output
    assert "6 HITs created" in again.stdout
    assert mturkmake_project.read("hello.success") != before
    rows = mturkmake_project.read("hello.results").splitlines()
    assert len(rows) == 1 + 6
