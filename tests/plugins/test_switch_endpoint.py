"""``switch-endpoint``: archive a batch's targets and ledger entries, move it (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.fsio import ProjectLock
from mturkmake.core.plugins import PluginHost, make_plugin_manager
from mturkmake.errors import ConfigError, EndpointError, LedgerError, LockTimeout, UsageError
from mturkmake.hookspecs import Context, Event, hookimpl
from mturkmake.mturk.ledger import Recoveries, open_ledger
from mturkmake.mturk.settings import mturk_config
from mturkmake.plugins import switch_endpoint as plugin

BATCH = "survey.input"


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def mturkmake_report(self, event: Event) -> None:
        self.events.append(event)


def make_context(root: Path, endpoint: str = "sandbox", **values: Any) -> tuple[Context, Recorder]:
    recorder = Recorder()
    pm = make_plugin_manager(builtins=(), entrypoints=False, extra=[(recorder, "recorder")])
    config = mturk_config(root, endpoint, values={"lock_timeout": 5.0, **values}, sources={})
    return Context(root, config, PluginHost(pm)), recorder


def record_hit(root: Path, endpoint: str, subject: str) -> None:
    with open_ledger(root / ".mturkmake", endpoint) as ledger:
        ledger.recover(None, Recoveries())
        with ledger.intent("CreateHIT", BATCH, subject, {"Title": "t"}, exposure="1.20") as it:
            it.done(f"HIT{subject}")


def switch(ctx: Context, batch: str, endpoint: str) -> int:
    return plugin.switch_endpoint({"batch": batch, "endpoint": endpoint}, ctx)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in {
        "survey.input": "color\nred\n",
        "survey.success": "hitid\tHITrow-1\n",
        "survey.results": "hitid\tanswer\n",
        "survey.review": "assignmentid\treject\n",
    }.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    record_hit(tmp_path, "sandbox", "row-1")
    return tmp_path


def test_switch_archives_targets_and_ledger_and_moves_the_batch(project: Path) -> None:
    ctx, recorder = make_context(project)
    assert switch(ctx, "survey", "production") == 0
    names = sorted(p.name for p in project.iterdir() if p.is_file())
    assert names == [
        "survey.input",
        "survey.review",  # hand-made, not a target: left alone
        "survey.sandbox.results",
        "survey.sandbox.success",
    ]
    assert (project / "survey.sandbox.success").read_text(encoding="utf-8") == "hitid\tHITrow-1\n"
    (event,) = recorder.events
    assert "moved from sandbox to production" in event.message
    assert "survey.success → survey.sandbox.success" in event.message
    assert event.data["archived"] == 1
    with open_ledger(project / ".mturkmake", "production") as ledger:
        ledger.recover(None, Recoveries())
        assert ledger.batch_endpoint(BATCH) == "production"
        assert not ledger.is_done("CreateHIT", BATCH, "row-1")
        assert ledger.exposure.committed() == 0
        with ledger.intent("CreateHIT", BATCH, "row-1", {}) as intent:  # a fresh batch
            intent.done("HITnew")
    with open_ledger(project / ".mturkmake", "sandbox") as old:
        old.recover(None, Recoveries())
        assert not old.is_done("CreateHIT", BATCH, "row-1")  # archived, not deleted
        with pytest.raises(EndpointError, match="lives on production"):
            old.check_batch(BATCH)


def test_switching_back_and_forth_keeps_every_archive(project: Path) -> None:
    ctx, _ = make_context(project)
    switch(ctx, "survey.input", "production")
    (project / "survey.success").write_text("production\n", encoding="utf-8")
    switch(ctx, "survey", "sandbox")
    (project / "survey.success").write_text("sandbox again\n", encoding="utf-8")
    switch(ctx, "survey", "production")
    assert (project / "survey.sandbox.success").read_text(encoding="utf-8") == "hitid\tHITrow-1\n"
    assert (project / "survey.production.success").read_text(encoding="utf-8") == "production\n"
    assert (project / "survey.sandbox-2.success").read_text(encoding="utf-8") == "sandbox again\n"


def test_a_batch_with_pending_calls_is_not_moved(project: Path) -> None:
    with open_ledger(project / ".mturkmake", "sandbox") as ledger:
        ledger.recover(None, Recoveries())
        with pytest.raises(RuntimeError), ledger.intent("CreateHIT", BATCH, "row-2", {}):
            raise RuntimeError("crash before the outcome")
    ctx, _ = make_context(project)
    with pytest.raises(LedgerError, match="without an outcome"):
        switch(ctx, "survey", "production")
    assert (project / "survey.success").exists()


@pytest.mark.parametrize(("endpoint", "error"), [("sandbox", UsageError), ("moon", ConfigError)])
def test_bad_targets_are_refused(project: Path, endpoint: str, error: type[Exception]) -> None:
    ctx, _ = make_context(project)
    with pytest.raises(error):
        switch(ctx, "survey", endpoint)
    assert (project / "survey.success").exists()


def test_switch_waits_for_the_project_lock(project: Path) -> None:
    ctx, _ = make_context(project, lock_timeout=0.1)
    with (
        ProjectLock(project / ".mturkmake" / "lock", 1.0, "mturkmake survey.results"),
        pytest.raises(LockTimeout, match=r"survey\.results"),
    ):
        switch(ctx, "survey", "production")
    assert (project / "survey.success").exists()


def test_the_command_is_contributed_with_positionals() -> None:
    (spec,) = plugin.mturkmake_commands()
    assert spec.name == "switch-endpoint"
    assert [p.name for p in spec.positionals] == ["batch", "endpoint"]
    assert all(p.required for p in spec.positionals)
    assert not spec.spends_money


def test_url_endpoints_get_file_name_labels() -> None:
    assert plugin.endpoint_label("http://127.0.0.1:8080") == "127.0.0.1-8080"
    assert plugin.endpoint_label("sandbox") == "sandbox"
