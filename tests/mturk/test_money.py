"""Cost lines, the budget and production confirmation (DESIGN §4)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.plugins import PluginHost, make_plugin_manager
from mturkmake.errors import BudgetExceeded, ConfigError, ConfirmationRefused
from mturkmake.hookspecs import Config, Context, Event, hookimpl
from mturkmake.mturk.ledger import Recoveries, open_ledger
from mturkmake.mturk.money import (
    Cost,
    begin_money_step,
    bonuses_cost,
    budget_of,
    check_step_budget,
    confirm_for,
    confirm_spending,
    cost_line,
    extra_assignments_cost,
    hits_cost,
    report_cost,
)
from mturkmake.mturk.settings import EndpointKind, mturk_config


class Recorder:
    """A reporter plugin that keeps the events."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def mturkmake_report(self, event: Event) -> None:
        self.events.append(event)


def make_config(root: Path, kind: EndpointKind, **values: Any) -> Config:
    return mturk_config(root, kind, values=values, sources={})


def make_context(
    root: Path, kind: EndpointKind, recorder: Recorder, *, interactive: bool = False, **options: Any
) -> Context:
    pm = make_plugin_manager(builtins=(), entrypoints=False, extra=[(recorder, "recorder")])
    return Context(root, make_config(root, kind), PluginHost(pm), options, interactive)


def never_ask(prompt: str) -> str:
    raise AssertionError(f"asked {prompt!r} though no question was due")


# -- cost lines -------------------------------------------------------------------------------

COST_LINES = [
    (
        hits_cost(12, "0.50", 3),
        "sandbox",
        "Cost: 12 HITs × 3 assignments × $0.50 = $18.00 + $3.60 fees = $21.60 "
        "(sandbox: no real money)",
    ),
    (
        hits_cost(1, "1.00", 10, masters=True),
        "production",
        "Cost: 1 HIT × 10 assignments × $1.00 = $10.00 + $4.50 fees = $14.50 "
        "(production: real money)",
    ),
    (
        hits_cost(5, "0.00", 2),
        "local",
        "Cost: 5 HITs × 2 assignments × $0.00 = $0.00 + $0.00 fees = $0.00 "
        "(local marketplace: no real money)",
    ),
    (
        extra_assignments_cost(2, "1.00", 3, total_assignments=12),
        "production",
        "Cost: 2 HITs × 3 more assignments × $1.00 = $6.00 + $2.40 fees = $8.40 "
        "(production: real money)",
    ),
    (
        bonuses_cost(["0.52", "1", "0.00"]),
        "sandbox",
        "Cost: 3 bonuses = $1.52 + $0.30 fees = $1.82 (sandbox: no real money)",
    ),
]


@pytest.mark.parametrize(("cost", "kind", "line"), COST_LINES)
def test_cost_lines(cost: Cost, kind: str, line: str) -> None:
    assert cost_line(cost, kind) == line


def test_the_cost_line_is_reported_as_an_event(tmp_path: Path) -> None:
    recorder = Recorder()
    ctx = make_context(tmp_path, "sandbox", recorder)
    line = report_cost(ctx, hits_cost(2, "0.05", 1))
    (event,) = recorder.events
    assert event.kind == "cost"
    assert event.message == line
    assert event.data["total"] == "0.12"


# -- budget -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), (50, Decimal("50.00")), (10.1, Decimal("10.10"))]
)
def test_budget_of_reads_the_config(tmp_path: Path, value: Any, expected: Any) -> None:
    assert budget_of(make_config(tmp_path, "sandbox", budget=value)) == expected


@pytest.mark.parametrize("value", [-1, True, "lots", float("inf")])
def test_a_bad_budget_is_a_config_error(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigError, match="budget"):
        budget_of(make_config(tmp_path, "sandbox", budget=value))


def test_a_step_over_the_budget_stops_before_its_first_call(tmp_path: Path) -> None:
    with open_ledger(tmp_path / ".mturkmake", "sandbox") as ledger:
        ledger.recover(None, Recoveries())
        ledger.exposure.reserve("15.00", None, batch="old.input", reason="earlier step")
        step = hits_cost(10, "0.50", 1)  # $6.00
        check_step_budget(ledger, step, Decimal("21.00"))
        with pytest.raises(BudgetExceeded, match=r"\$15.00 is already committed"):
            check_step_budget(ledger, step, Decimal("20.99"))
        check_step_budget(ledger, step, None)  # no cap
        assert ledger.pending() == []
        assert ledger.exposure.committed() == Decimal("15.00")


# -- confirmation -----------------------------------------------------------------------------


def test_only_production_spending_asks() -> None:
    cost = hits_cost(1, "1.00", 1)
    for kind in ("local", "sandbox"):
        confirm_spending(
            cost, endpoint_kind=kind, assume_yes=False, interactive=False, ask=never_ask
        )
    free = hits_cost(3, "0.00", 1)
    confirm_spending(
        free, endpoint_kind="production", assume_yes=False, interactive=False, ask=never_ask
    )


def test_production_without_yes_and_without_a_terminal_refuses() -> None:
    with pytest.raises(ConfirmationRefused, match="no terminal") as refused:
        confirm_spending(
            hits_cost(1, "1.00", 1),
            endpoint_kind="production",
            assume_yes=False,
            interactive=False,
            ask=never_ask,
        )
    assert "--yes" in str(refused.value)
    assert "$1.20" in str(refused.value)


def test_yes_skips_the_question() -> None:
    confirm_spending(
        hits_cost(1, "1.00", 1),
        endpoint_kind="production",
        assume_yes=True,
        interactive=False,
        ask=never_ask,
    )


@pytest.mark.parametrize(
    ("answer", "accepted"), [("y", True), ("YES", True), ("n", False), ("", False)]
)
def test_a_terminal_is_asked(answer: str, accepted: bool) -> None:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return answer

    def confirm() -> None:
        confirm_spending(
            hits_cost(2, "1.00", 1),
            endpoint_kind="production",
            assume_yes=False,
            interactive=True,
            ask=ask,
        )

    if accepted:
        confirm()
    else:
        with pytest.raises(ConfirmationRefused, match="not confirmed"):
            confirm()
    assert prompts == ["Spend $2.40 on production? [y/N] "]


def test_end_of_input_refuses() -> None:
    def ask(prompt: str) -> str:
        raise EOFError

    with pytest.raises(ConfirmationRefused):
        confirm_spending(
            hits_cost(1, "1.00", 1),
            endpoint_kind="production",
            assume_yes=False,
            interactive=True,
            ask=ask,
        )


@pytest.mark.parametrize("options", [{"yes": True}, {"force": True}])
def test_confirm_for_reads_yes_and_force_from_the_context(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    ctx = make_context(tmp_path, "production", Recorder(), **options)
    confirm_for(ctx, hits_cost(1, "1.00", 1), ask=never_ask)
    bare = make_context(tmp_path, "production", Recorder())
    with pytest.raises(ConfirmationRefused):
        confirm_for(bare, hits_cost(1, "1.00", 1), ask=never_ask)


def test_begin_money_step_reports_then_checks_the_budget_then_asks(tmp_path: Path) -> None:
    recorder = Recorder()
    pm = make_plugin_manager(builtins=(), entrypoints=False, extra=[(recorder, "recorder")])
    config = make_config(tmp_path, "production", budget=10)
    ctx = Context(tmp_path, config, PluginHost(pm), {}, interactive=True)
    with open_ledger(tmp_path / ".mturkmake", "production") as ledger:
        with pytest.raises(BudgetExceeded):
            begin_money_step(ctx, ledger, hits_cost(10, "1.00", 1), ask=never_ask)
        assert [event.kind for event in recorder.events] == ["cost"]  # printed first
        answers: list[str] = []

        def ask(prompt: str) -> str:
            answers.append(prompt)
            return "y"

        assert begin_money_step(ctx, ledger, hits_cost(5, "1.00", 1), ask=ask) == Decimal(10)
        assert answers == ["Spend $6.00 on production? [y/N] "]
