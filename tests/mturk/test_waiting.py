"""``--wait``/``--poll``: the local clock advances event by event, never past an auto-approval;
sandbox-style waits sleep, time out and warn before auto-approval (DESIGN §2, §7)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mturkmake.errors import UsageError
from mturkmake.mturk.results_cache import Fetched, Snapshot
from mturkmake.mturk.results_fetch import Fetcher
from mturkmake.mturk.waiting import (
    ProgressView,
    WaitSettings,
    wait_settings,
    wait_until_final,
)
from tests.mturk.test_results_cache import Local

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


def test_wait_settings_from_options() -> None:
    assert wait_settings({"wait": None, "poll": 60.0}) is None
    assert wait_settings({"wait": "inf", "poll": 5.0}) == WaitSettings(None, 5.0)
    assert wait_settings({"wait": "1h30m", "poll": 60.0}) == WaitSettings(5400.0, 60.0)
    assert wait_settings({"wait": "90"}) == WaitSettings(90.0, 60.0)
    with pytest.raises(UsageError, match="--wait=soon"):
        wait_settings({"wait": "soon", "poll": 60.0})
    with pytest.raises(UsageError, match="--poll"):
        wait_settings({"wait": "inf", "poll": -1.0})


def _statuses(local: Local) -> dict[str, int]:
    return dict(local.market.status()["assignments"])


def test_local_wait_finishes_without_auto_approving(local: Local) -> None:
    rows = local.create_batch(12, assignments=3, delay=259200)
    fetcher = Fetcher(local.client, local.cache())
    say = Lines()
    result = wait_until_final(
        fetcher.poll(rows),
        lambda: fetcher.poll(rows),
        WaitSettings(None, 60.0),
        view=ProgressView("survey.results", say, terminal=False),
        warn=say,
        market=local.market,
        became_final=fetcher.all_final_now,
    )
    assert result.reason == "final"
    assert result.snapshot.final
    assert result.snapshot.done == 36
    assert _statuses(local) == {"Submitted": 36}
    # the clock stopped when the batch became final: the last submission, not later
    last = max(a["SubmitTime"] for e in result.snapshot.entries.values() for a in e.assignments)
    assert local.market.now() - last < timedelta(seconds=1)
    assert say.lines[0] == "survey.results: 0/36 assignments submitted, 0/12 HITs final"
    assert say.lines[-1] == "survey.results: 36/36 assignments submitted, 12/12 HITs final"
    assert len(say.lines) == len(set(say.lines))  # a line only when something changed


def test_local_wait_stops_before_the_first_auto_approval(local: Local) -> None:
    # Approval 1 s after submission: the first work auto-approves before all of it is in.
    rows = local.create_batch(12, assignments=3, delay=1)
    fetcher = Fetcher(local.client, local.cache())
    result = wait_until_final(
        fetcher.poll(rows),
        lambda: fetcher.poll(rows),
        WaitSettings(None, 60.0),
        view=ProgressView("survey.results", Lines(), terminal=False),
        warn=Lines(),
        market=local.market,
        became_final=fetcher.all_final_now,
    )
    assert result.reason == "auto-approval"
    assert "stopped the local clock before" in result.message
    assert "Approved" not in _statuses(local)
    earliest = result.snapshot.earliest_auto_approval
    assert earliest is not None
    assert local.market.now() < earliest
    assert not result.snapshot.final


def test_local_wait_without_the_cheap_check_polls_after_each_event(local: Local) -> None:
    rows = local.create_batch(2, assignments=2)
    fetcher = Fetcher(local.client, local.cache())
    result = wait_until_final(
        fetcher.poll(rows),
        lambda: fetcher.poll(rows),
        WaitSettings(None, 60.0),
        view=ProgressView("x.results", Lines(), terminal=False),
        warn=Lines(),
        market=local.market,
    )
    assert result.reason == "final"
    assert result.snapshot.done == 4


def test_local_wait_times_out_on_the_virtual_clock(local: Local) -> None:
    rows = local.create_batch(12, assignments=3)
    fetcher = Fetcher(local.client, local.cache())
    start = local.market.now()
    result = wait_until_final(
        fetcher.poll(rows),
        lambda: fetcher.poll(rows),
        WaitSettings(20.0, 60.0),
        view=ProgressView("x.results", Lines(), terminal=False),
        warn=Lines(),
        market=local.market,
        became_final=fetcher.all_final_now,
    )
    assert result.reason == "timeout"
    assert not result.snapshot.final
    assert local.market.now() - start <= timedelta(seconds=20)


def _snapshot(submitted: int, *, final: bool, approve_at: datetime) -> Snapshot:
    assignments = tuple(
        {"AssignmentId": f"A{n}", "AssignmentStatus": "Submitted", "AutoApprovalTime": approve_at}
        for n in range(submitted)
    )
    hit = {"HITId": "H1", "MaxAssignments": 3, "AutoApprovalDelayInSeconds": 3600}
    return Snapshot(("H1",), {"H1": Fetched(hit, assignments, final)})


class FakeTime:
    """A wall clock that moves only when slept on (the remote wait takes both as arguments)."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def test_remote_wait_polls_every_poll_seconds_until_final() -> None:
    fake = FakeTime()
    later = T0 + timedelta(days=3)
    polls = iter(
        [_snapshot(1, final=False, approve_at=later), _snapshot(3, final=True, approve_at=later)]
    )
    say = Lines()
    result = wait_until_final(
        _snapshot(0, final=False, approve_at=later),
        lambda: next(polls),
        WaitSettings(None, 30.0),
        view=ProgressView("s.results", say, terminal=False),
        warn=say,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert result.reason == "final"
    assert fake.slept == [30.0, 30.0]
    assert say.lines == [
        "s.results: 0/3 assignments submitted, 0/1 HITs final",
        "s.results: 1/3 assignments submitted, 0/1 HITs final",
        "s.results: 3/3 assignments submitted, 1/1 HITs final",
    ]


def test_remote_wait_times_out_and_warns_once_near_auto_approval() -> None:
    fake = FakeTime()
    soon = T0 + timedelta(hours=5)
    warnings = Lines()
    result = wait_until_final(
        _snapshot(1, final=False, approve_at=soon),
        lambda: _snapshot(1, final=False, approve_at=soon),
        WaitSettings(100.0, 30.0),
        view=ProgressView("s.results", Lines(), terminal=False),
        warn=warnings,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert result.reason == "timeout"
    assert fake.slept == [30.0, 30.0, 30.0, 10.0]
    assert len(warnings.lines) == 1
    assert "approved and paid automatically" in warnings.lines[0]
    assert "within 24 h" in warnings.lines[0]


def test_remote_wait_does_not_warn_when_auto_approval_is_far() -> None:
    fake = FakeTime()
    far = T0 + timedelta(days=2)
    warnings = Lines()
    wait_until_final(
        _snapshot(1, final=False, approve_at=far),
        lambda: _snapshot(2, final=True, approve_at=far),
        WaitSettings(None, 30.0),
        view=ProgressView("s.results", Lines(), terminal=False),
        warn=warnings,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert warnings.lines == []


def test_ctrl_c_propagates_and_closes_the_view() -> None:
    fake = FakeTime()
    later = T0 + timedelta(days=3)

    def interrupted() -> Snapshot:
        raise KeyboardInterrupt

    view = ProgressView("s.results", Lines(), terminal=True)
    with pytest.raises(KeyboardInterrupt):
        wait_until_final(
            _snapshot(0, final=False, approve_at=later),
            interrupted,
            WaitSettings(None, 1.0),
            view=view,
            warn=Lines(),
            clock=fake.clock,
            sleep=fake.sleep,
        )
    assert view._bar is None  # the bar was shown, then closed: the terminal is left clean
    assert fake.slept == [1.0]


def test_terminal_progress_uses_a_bar(capsys: pytest.CaptureFixture[str]) -> None:
    view = ProgressView("s.results", Lines(), terminal=True)
    later = T0 + timedelta(days=3)
    view.update(_snapshot(1, final=False, approve_at=later))
    view.update(_snapshot(3, final=True, approve_at=later))
    view.close()
    assert "tqdm" in sys.modules
    err = capsys.readouterr().err
    assert "s.results" in err
    assert "3/3" in err
    assert "1/1 HITs final" in err


def test_plain_progress_does_not_import_tqdm_when_absent(monkeypatch: Any) -> None:
    monkeypatch.delitem(sys.modules, "tqdm", raising=False)
    say = Lines()
    view = ProgressView("s.results", say, terminal=False)
    view.update(_snapshot(1, final=False, approve_at=T0))
    view.close()
    assert "tqdm" not in sys.modules
    assert say.lines == ["s.results: 1/3 assignments submitted, 0/1 HITs final"]


def test_local_wait_costs_about_one_call_per_event(local: Local) -> None:
    rows = local.create_batch(12, assignments=3)
    fetcher = Fetcher(local.client, local.cache())
    say = Lines()
    result = wait_until_final(
        fetcher.poll(rows),
        lambda: fetcher.poll(rows),
        WaitSettings(None, 60.0),
        view=ProgressView("x.results", say, terminal=False),
        warn=Lines(),
        market=local.market,
        became_final=fetcher.all_final_now,
    )
    assert result.reason == "final"
    polls = len(say.lines)  # one line per full poll that saw a change
    # each full poll fetches the open HITs' assignments once; the cheap checks only GetHIT
    assert local.count("ListAssignmentsForHIT") <= 12 * (polls + 1)
    assert local.count("GetHIT") <= 36 * 2 + 12 * (polls + 1)
    # ~70 events: far below a full poll (~25 calls) after each of them
    assert len(local.calls) < 150
