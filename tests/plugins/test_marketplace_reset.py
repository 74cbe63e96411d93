"""``marketplace reset`` archives the local ledger entries, so nothing is adopted or recovered
against HITs that no longer exist."""

from __future__ import annotations

from mturkmake.core.ledger import Recoveries, open_ledger
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
