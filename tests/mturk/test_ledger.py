"""The ledger: intents, outcomes, tokens, recovery, races and exposure (DESIGN §3, §4).

Real boto3 clients talk to a test double of MTurk on 127.0.0.1 (tests/plugins/mturk_double.py);
crash tests run real child processes and SIGKILL them mid-call.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mturkmake.errors import BudgetExceeded, EndpointError, LedgerError, ServiceError
from mturkmake.hookspecs import Config
from mturkmake.mturk.endpoint import (
    ledger_call,
    make_client,
    open_run_ledger,
    service_call,
    token_retry,
)
from mturkmake.mturk.ledger import (
    Intent,
    Ledger,
    Recoveries,
    Resolution,
    open_ledger,
    request_token,
)
from mturkmake.mturk.settings import RetrySettings, mturk_config
from tests.plugins.mturk_double import MTurkDouble

BATCH = "survey.input"
HIT_PARAMS: dict[str, Any] = {
    "Title": "Tag a picture",
    "Description": "Say what you see",
    "Reward": "0.50",
    "MaxAssignments": 3,
    "LifetimeInSeconds": 3600,
    "AssignmentDurationInSeconds": 600,
    "Question": "<HTMLQuestion/>",
}
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeClock:
    """The endpoint's clock, moved by the test (as the local marketplace's virtual clock is)."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()


def url_config(root: Path, url: str, retry: RetrySettings | None = None) -> Config:
    return mturk_config(root, url, values={}, sources={}, retry=retry or RetrySettings())


@pytest.fixture
def double() -> Iterator[MTurkDouble]:
    with MTurkDouble() as running:
        yield running


def hit_id_of(response: Mapping[str, Any]) -> str:
    return str(response["HIT"]["HITId"])


def recoveries_for_create(lookup: Any = None) -> Recoveries:
    recoveries = Recoveries()
    recoveries.register_recovery("CreateHIT", retry=token_retry(hit_id_of), lookup=lookup)
    return recoveries


def annotation_lookup(client: Any, intent: Intent) -> Resolution:
    """CreateHIT's lookup as a command would write it: HITs whose annotation is the row key,
    created within the intent's window; more than one is ambiguous."""
    window_end = intent.created_at + timedelta(hours=24)
    matches = [
        hit
        for hit in service_call(client, "ListHITs", MaxResults=100)["HITs"]
        if hit.get("RequesterAnnotation") == intent.subject
        and intent.created_at - timedelta(minutes=5) <= hit["CreationTime"] <= window_end
    ]
    if len(matches) > 1:
        raise LedgerError(f"{len(matches)} HITs match {intent.subject}; resolve by hand")
    if not matches:
        return Resolution.absent("no such HIT")
    return Resolution.found(matches[0]["HITId"])


def create_hit(ledger: Ledger, client: Any, subject: str, **intent_args: Any) -> str:
    params = dict(HIT_PARAMS, RequesterAnnotation=subject)
    with ledger.intent("CreateHIT", BATCH, subject, params, **intent_args) as intent:
        hit = hit_id_of(ledger_call(intent, client, **params))
        intent.done(hit)
    return hit


def outcomes(root: Path) -> list[tuple[str, str | None, str]]:
    with sqlite3.connect(root / ".mturkmake" / "state.db") as conn:
        rows = conn.execute(
            "SELECT status, remote_id, resolved_by FROM ledger_outcome ORDER BY intent_id"
        ).fetchall()
    return [(str(s), r, str(b)) for s, r, b in rows]


# -- intents and outcomes ---------------------------------------------------------------------


def test_intent_sends_the_token_records_the_outcome_and_a_rerun_skips(
    tmp_path: Path, double: MTurkDouble
) -> None:
    config = url_config(tmp_path, double.url)
    client = make_client(config)
    with open_run_ledger(config, client) as ledger:
        assert ledger.recover(client, Recoveries()) == []
        hit = create_hit(ledger, client, "row-1")
        assert ledger.is_done("CreateHIT", BATCH, "row-1")
        assert not ledger.is_done("CreateHIT", BATCH, "row-2")
        assert ledger.done_subjects("CreateHIT", BATCH) == {"row-1": hit}
        with pytest.raises(LedgerError, match="already done"):
            create_hit(ledger, client, "row-1")
    (token,) = double.tokens("CreateHIT")
    assert token is not None
    assert len(token) == 64
    with sqlite3.connect(tmp_path / ".mturkmake" / "state.db") as conn:
        uid, stored = conn.execute("SELECT uid, token FROM ledger_intent").fetchone()
    assert token == stored == request_token(double.url, "CreateHIT", uid)
    assert outcomes(tmp_path) == [("done", hit, "call")]
    assert double.count("CreateHIT") == 1


def test_tokens_differ_by_endpoint_operation_and_intent() -> None:
    base = request_token("sandbox", "CreateHIT", "a")
    assert base != request_token("production", "CreateHIT", "a")
    assert base != request_token("sandbox", "SendBonus", "a")
    assert base != request_token("sandbox", "CreateHIT", "b")
    assert base == request_token("sandbox", "CreateHIT", "a")


def test_new_intents_need_recovery_first(tmp_path: Path) -> None:
    with (
        open_ledger(tmp_path / ".mturkmake", "sandbox") as ledger,
        pytest.raises(LedgerError, match="recover"),
        ledger.intent("CreateHIT", BATCH, "row-1", {}),
    ):
        pass  # pragma: no cover - refused before the block


def test_a_definite_refusal_archives_the_intent_and_allows_a_fresh_one(
    tmp_path: Path, double: MTurkDouble
) -> None:
    config = url_config(tmp_path, double.url)
    client = make_client(config)
    double.fail("CreateHIT", message="Reward is invalid.")
    with open_run_ledger(config, client) as ledger:
        ledger.recover(client, Recoveries())
        with pytest.raises(ServiceError, match="Reward is invalid"):
            create_hit(ledger, client, "row-1", exposure="1.80", budget=Decimal(10))
        assert ledger.pending() == []
        assert ledger.exposure.committed() == Decimal("0.00")
        create_hit(ledger, client, "row-1")
    first, second = double.tokens("CreateHIT")
    assert first != second  # a new intent, so a new token
    assert [status for status, _, _ in outcomes(tmp_path)] == ["failed", "done"]


def test_an_uncertain_failure_leaves_the_intent_pending(
    tmp_path: Path, double: MTurkDouble
) -> None:
    config = url_config(tmp_path, double.url, RetrySettings(attempts=1))
    client = make_client(config)
    double.fail("CreateHIT", status=500, error_type="ServiceFault", times=10)
    with open_run_ledger(config, client) as ledger:
        ledger.recover(client, Recoveries())
        with pytest.raises(ServiceError, match="gave up after 2 attempts"):
            create_hit(ledger, client, "row-1")
        (pending,) = ledger.pending()
    assert pending.subject == "row-1"
    assert outcomes(tmp_path) == []


# -- crashes and recovery ---------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mturkmake.mturk.settings import mturk_config
    from mturkmake.mturk.ledger import Recoveries
    from mturkmake.errors import LedgerError
    from mturkmake.mturk.endpoint import make_client, open_run_ledger, ledger_call, token_retry

    url, root, subject = sys.argv[1:4]
    params = dict(Title="Tag a picture", Description="Say what you see", Reward="0.50",
                  LifetimeInSeconds=3600, AssignmentDurationInSeconds=600,
                  Question="<HTMLQuestion/>", RequesterAnnotation=subject)
    config = mturk_config(Path(root), url)
    client = make_client(config)
    recoveries = Recoveries()
    recoveries.register_recovery("CreateHIT", retry=token_retry(lambda r: r["HIT"]["HITId"]))
    with open_run_ledger(config, client) as ledger:
        for item in ledger.recover(client, recoveries):
            print("recovered", item.how, item.resolution.remote_id, flush=True)
        if ledger.is_done("CreateHIT", "survey.input", subject):
            print("skipped", flush=True)
            sys.exit(0)
        try:
            with ledger.intent("CreateHIT", "survey.input", subject, params) as intent:
                response = ledger_call(intent, client, **params)
                intent.done(response["HIT"]["HITId"])
        except LedgerError as error:
            print("refused", error, flush=True)
            sys.exit(3)
    print("created", response["HIT"]["HITId"], flush=True)
    """
)


def start_child(tmp_path: Path, url: str, subject: str = "row-1") -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true")
    return subprocess.Popen(
        [sys.executable, str(script), url, str(tmp_path), subject],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_sigkill_between_intent_and_outcome_resends_the_same_token_once(
    tmp_path: Path, double: MTurkDouble
) -> None:
    double.hold("CreateHIT")  # the HIT is created, the answer never arrives
    child = start_child(tmp_path, double.url)
    assert double.held.wait(timeout=30), child.communicate()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    double.release()
    assert child.returncode == -signal.SIGKILL
    assert outcomes(tmp_path) == []  # the crash left an intent and no outcome

    rerun = start_child(tmp_path, double.url)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    (hit_id,) = double.state.hits
    assert f"recovered retry {hit_id}" in out
    assert "skipped" in out
    first, second = double.tokens("CreateHIT")
    assert first == second
    assert len(double.state.hits) == 1
    assert outcomes(tmp_path) == [("done", hit_id, "retry")]

    third = start_child(tmp_path, double.url)
    out, _ = third.communicate(timeout=60)
    assert "skipped" in out
    assert double.count("CreateHIT") == 2


class Crash(Exception):
    """The process dies between the call and its outcome."""


def send_and_die(ledger: Ledger, client: Any, operation: str, subject: str, **params: Any) -> None:
    """Record an intent, send its call (unless ``params`` is empty), die before the outcome."""
    with ledger.intent(operation, BATCH, subject, params) as intent:
        if params:
            ledger_call(intent, client, **params)
        raise Crash


def crash_mid_call(ledger: Ledger, client: Any, subject: str, *, send: bool = True) -> None:
    """Record a CreateHIT intent, maybe send it, and die before the outcome."""
    params = dict(HIT_PARAMS, RequesterAnnotation=subject) if send else {}
    with pytest.raises(Crash):
        send_and_die(ledger, client, "CreateHIT", subject, **params)


def test_an_intent_older_than_23_hours_is_resolved_by_lookup_never_retried(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with MTurkDouble(clock=clock.epoch) as double:
        config = url_config(tmp_path, double.url)
        client = make_client(config)
        state = tmp_path / ".mturkmake"
        with open_ledger(state, double.url, clock=clock) as crashed:
            crashed.recover(client, Recoveries())
            crash_mid_call(crashed, client, "row-sent")
            crash_mid_call(crashed, client, "row-unsent", send=False)
        clock.now = T0 + timedelta(hours=23, minutes=1)
        with open_ledger(state, double.url, clock=clock) as later:
            recovered = later.recover(client, recoveries_for_create(lookup=annotation_lookup))
            assert [(r.intent.subject, r.how, r.resolution.happened) for r in recovered] == [
                ("row-sent", "lookup", True),
                ("row-unsent", "lookup", False),
            ]
            assert later.is_done("CreateHIT", BATCH, "row-sent")
            # the unsent row was never created: it is intended afresh, with a new token
            create_hit(later, client, "row-unsent")
        assert double.count("CreateHIT") == 2
        assert double.count("ListHITs") == 2
        assert len(set(double.tokens("CreateHIT"))) == 2


def test_a_young_intent_is_retried_and_an_expired_one_without_lookup_stops(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with MTurkDouble(clock=clock.epoch) as double:
        config = url_config(tmp_path, double.url)
        client = make_client(config)
        state = tmp_path / ".mturkmake"
        with open_ledger(state, double.url, clock=clock) as crashed:
            crashed.recover(client, Recoveries())
            crash_mid_call(crashed, client, "row-1")
        clock.now = T0 + timedelta(hours=30)
        with open_ledger(state, double.url, clock=clock) as later:
            with pytest.raises(LedgerError, match="token has expired"):
                later.recover(client, recoveries_for_create(lookup=None))
            with pytest.raises(LedgerError, match="pending"):
                create_hit(later, client, "row-1")
        assert double.count("CreateHIT") == 1
        clock.now = T0 + timedelta(hours=22)
        with open_ledger(state, double.url, clock=clock) as sooner:
            (item,) = sooner.recover(client, recoveries_for_create(lookup=annotation_lookup))
            assert item.how == "retry"
        assert double.count("CreateHIT") == 2
        assert len(double.state.hits) == 1


def test_ambiguity_or_a_missing_recovery_stops_the_run(tmp_path: Path) -> None:
    clock = FakeClock()
    with MTurkDouble(clock=clock.epoch) as double:
        config = url_config(tmp_path, double.url)
        client = make_client(config)
        service_call(client, "CreateHIT", **dict(HIT_PARAMS, RequesterAnnotation="row-1"))
        state = tmp_path / ".mturkmake"
        with open_ledger(state, double.url, clock=clock) as crashed:
            crashed.recover(client, Recoveries())
            crash_mid_call(crashed, client, "row-1")
        clock.now = T0 + timedelta(days=2)
        with open_ledger(state, double.url, clock=clock) as later:
            with pytest.raises(LedgerError, match="no recovery is registered"):
                later.recover(client, Recoveries())
            with pytest.raises(LedgerError, match="2 HITs match"):
                later.recover(client, recoveries_for_create(lookup=annotation_lookup))
            assert len(later.pending()) == 1
        assert outcomes(tmp_path) == []


def test_an_intent_in_flight_in_a_live_run_is_left_to_it(
    tmp_path: Path, double: MTurkDouble
) -> None:
    config = url_config(tmp_path, double.url)
    client = make_client(config)
    first = open_run_ledger(config, client)
    first.recover(client, Recoveries())
    crash_mid_call(first, client, "row-1")  # pending, but its run is alive
    second = open_run_ledger(config, client)
    assert second.recover(client, recoveries_for_create()) == []
    with pytest.raises(LedgerError, match="in flight in another run"):
        create_hit(second, client, "row-1")
    first.close()  # the run ends (or dies): its pending intent is now an orphan
    (item,) = second.recover(client, recoveries_for_create())
    assert item.how == "retry"
    second.close()
    assert double.count("CreateHIT") == 2
    assert len(double.state.hits) == 1


@pytest.mark.slow
def test_two_processes_racing_on_one_intent_make_one_call(
    tmp_path: Path, double: MTurkDouble
) -> None:
    double.hold("CreateHIT")  # keep the winner in flight while the loser tries
    children = [start_child(tmp_path, double.url) for _ in range(2)]
    assert double.held.wait(timeout=30)
    # the loser finds the intent in flight and exits; then the winner may finish
    deadline = time.monotonic() + 60
    while all(child.poll() is None for child in children):
        assert time.monotonic() < deadline, "neither run finished while the other was held"
        threading.Event().wait(0.05)  # polling a process, not separating mtimes
    double.release()
    results = sorted((child.wait(timeout=60), child.communicate()[0]) for child in children)
    assert [code for code, _ in results] == [0, 3]
    assert "created" in results[0][1]
    assert "in flight in another run" in results[1][1]
    assert double.count("CreateHIT") == 1
    assert [status for status, _, _ in outcomes(tmp_path)] == ["done"]


def test_a_duplicate_bonus_token_counts_as_done(tmp_path: Path, double: MTurkDouble) -> None:
    config = url_config(tmp_path, double.url)
    client = make_client(config)
    params = {
        "WorkerId": "AWORKER",
        "AssignmentId": "ASSIGN1",
        "BonusAmount": "1.00",
        "Reason": "Thanks",
    }
    recoveries = Recoveries()
    recoveries.register_recovery("SendBonus", retry=token_retry(lambda _: None))
    with open_run_ledger(config, client) as crashed:
        crashed.recover(client, recoveries)
        with pytest.raises(Crash):
            send_and_die(crashed, client, "SendBonus", "ASSIGN1", **params)
    with open_run_ledger(config, client) as later:
        (item,) = later.recover(client, recoveries)
        assert item.resolution.happened
    assert len(double.state.bonuses) == 1
    assert double.count("SendBonus") == 2


# -- endpoints and archives -------------------------------------------------------------------


def test_a_batch_stays_on_its_endpoint(tmp_path: Path, double: MTurkDouble) -> None:
    config = url_config(tmp_path, double.url)
    client = make_client(config)
    with open_run_ledger(config, client) as ledger:
        ledger.recover(client, Recoveries())
        create_hit(ledger, client, "row-1")
        assert ledger.batch_endpoint(BATCH) == double.url
    with open_ledger(tmp_path / ".mturkmake", "production") as other:
        other.recover(client, Recoveries())
        with pytest.raises(EndpointError, match="lives on"):
            other.check_batch(BATCH)
        with pytest.raises(EndpointError, match="switch-endpoint"):
            create_hit(other, client, "row-2")
    assert double.count("CreateHIT") == 1


def test_a_client_for_another_endpoint_is_refused_before_any_side_effect(
    tmp_path: Path, double: MTurkDouble
) -> None:
    with MTurkDouble() as elsewhere:
        config = url_config(tmp_path, double.url)
        wrong_client = make_client(url_config(tmp_path, elsewhere.url))
        with open_run_ledger(config, wrong_client) as ledger:
            ledger.recover(wrong_client, Recoveries())
            with pytest.raises(EndpointError, match="nothing was sent"):
                create_hit(ledger, wrong_client, "row-1")
            assert ledger.pending() == []
        assert elsewhere.calls == []
    assert double.calls == []


def test_archiving_a_batch_keeps_its_history_and_frees_its_subjects(
    tmp_path: Path, double: MTurkDouble
) -> None:
    config = url_config(tmp_path, double.url)
    client = make_client(config)
    with open_run_ledger(config, client) as ledger:
        ledger.recover(client, Recoveries())
        create_hit(ledger, client, "row-1", exposure="1.80", budget=None)
        assert ledger.exposure.committed() == Decimal("1.80")
        assert ledger.archive_batch(BATCH, "switch-endpoint") == 1
        assert not ledger.is_done("CreateHIT", BATCH, "row-1")
        assert ledger.batch_endpoint(BATCH) is None
        assert ledger.exposure.committed() == Decimal("0.00")
    assert outcomes(tmp_path) == [("done", "3HIT00000000000000000000000001", "call")]
    with sqlite3.connect(tmp_path / ".mturkmake" / "state.db") as conn:
        (reason,) = conn.execute("SELECT archive_reason FROM ledger_intent").fetchone()
    assert reason == "switch-endpoint"


# -- exposure and budget ----------------------------------------------------------------------


def test_a_step_over_the_cap_stops_before_its_first_call(
    tmp_path: Path, double: MTurkDouble
) -> None:
    config = url_config(tmp_path, double.url)
    client = make_client(config)
    with open_run_ledger(config, client) as ledger:
        ledger.recover(client, Recoveries())
        create_hit(ledger, client, "row-1", exposure="6.00", budget=Decimal(10))
        with pytest.raises(BudgetExceeded, match=r"\$6.00 is already committed"):
            ledger.exposure.check_budget(Decimal("4.01"), Decimal(10))
        ledger.exposure.check_budget(Decimal("4.00"), Decimal(10))
        with pytest.raises(BudgetExceeded, match="nothing was sent"):
            create_hit(ledger, client, "row-2", exposure="4.01", budget=Decimal(10))
        assert ledger.pending() == []
    assert double.count("CreateHIT") == 1


def test_releases_give_back_exposure(tmp_path: Path) -> None:
    with open_ledger(tmp_path / ".mturkmake", "sandbox") as ledger:
        ledger.exposure.reserve("3.00", Decimal(5), batch=BATCH, reason="create")
        with pytest.raises(BudgetExceeded):
            ledger.exposure.reserve("2.01", Decimal(5), batch=BATCH, reason="create")
        ledger.exposure.release("0.60", batch=BATCH, reason="rejected")
        ledger.exposure.reserve("2.60", Decimal(5), batch=BATCH, reason="create")
        assert ledger.exposure.committed() == Decimal("5.00")
    with open_ledger(tmp_path / ".mturkmake", "production") as other:
        assert other.exposure.committed() == Decimal("0.00")  # budgets are per endpoint


def test_concurrent_reservations_never_overshoot_the_cap(tmp_path: Path) -> None:
    budget = Decimal("50.00")
    with open_ledger(tmp_path / ".mturkmake", "sandbox") as ledger:

        def reserve(index: int) -> bool:
            try:
                ledger.exposure.reserve("0.70", budget, batch=BATCH, reason=f"call {index}")
            except BudgetExceeded:
                return False
            return True

        with ThreadPoolExecutor(max_workers=8) as pool:
            granted = list(pool.map(reserve, range(100)))
        assert sum(granted) == 71  # floor(50 / 0.70)
        assert ledger.exposure.committed() == Decimal("49.70")


def test_concurrent_intents_under_j8_never_overshoot_the_cap(tmp_path: Path) -> None:
    with open_ledger(tmp_path / ".mturkmake", "sandbox") as ledger:
        ledger.recover(None, Recoveries())

        def intend(index: int) -> bool:
            try:
                with ledger.intent(
                    "CreateHIT", BATCH, f"row-{index}", {}, exposure="1.40", budget=Decimal(30)
                ) as intent:
                    intent.done(f"HIT{index}")
            except BudgetExceeded:
                return False
            return True

        with ThreadPoolExecutor(max_workers=8) as pool:
            granted = list(pool.map(intend, range(100)))
        assert sum(granted) == 21  # floor(30 / 1.40)
        assert ledger.exposure.committed() == Decimal("29.40")
        assert len(ledger.done_subjects("CreateHIT", BATCH)) == 21


def test_eight_threads_racing_on_one_subject_make_one_call(
    tmp_path: Path, double: MTurkDouble
) -> None:
    config = url_config(tmp_path, double.url)
    client = make_client(config)
    with open_run_ledger(config, client) as ledger:
        ledger.recover(client, Recoveries())

        def attempt(_: int) -> str:
            try:
                return create_hit(ledger, client, "row-1")
            except LedgerError as refused:
                return str(refused)

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(attempt, range(8)))
    created = [r for r in results if r.startswith("3HIT")]
    assert len(created) == 1
    assert all("row-1" in r for r in results if r not in created)
    assert double.count("CreateHIT") == 1


def test_adopted_and_reset_entries(tmp_path: Path) -> None:
    with open_ledger(tmp_path / ".mturkmake", "local") as ledger:
        ledger.adopt("CreateHIT", BATCH, "row-1", "HITFROMSUCCESSFILE")
        assert ledger.outcome("CreateHIT", BATCH, "row-1") == Resolution.found(
            "HITFROMSUCCESSFILE", {}
        )
        ledger.exposure.reserve("2.00", None, batch=BATCH, reason="create")
        assert ledger.archive_endpoint("local", "marketplace reset") == 1
        assert not ledger.is_done("CreateHIT", BATCH, "row-1")
        assert ledger.exposure.committed() == Decimal("0.00")
        assert ledger.batch_endpoint(BATCH) is None
    assert outcomes(tmp_path) == [("done", "HITFROMSUCCESSFILE", "adopted")]


def _first_token(state_dir: Path, subject: str) -> str:
    from mturkmake.mturk.ledger import Recoveries as _Recoveries
    from mturkmake.mturk.ledger import open_ledger as _open

    ledger = _open(state_dir, "local")
    try:
        ledger.recover(None, _Recoveries())
        with ledger.intent("CreateHIT", "b.input", subject, {}) as intent:
            token = intent.token
            intent.done("HIT" + subject)
        return token
    finally:
        ledger.close()


def test_tokens_derive_from_the_intent_not_from_call_order(tmp_path: Path) -> None:
    # Two fresh projects intending the same subjects in another order get the same tokens:
    # a lost ledger re-sends the first token, and MTurk answers with the existing HIT.
    first = {s: _first_token(tmp_path / "one", s) for s in ("r1", "r2")}
    second = {s: _first_token(tmp_path / "two", s) for s in ("r2", "r1")}
    assert first == second
    assert first["r1"] != first["r2"]


def test_an_archived_intent_gets_a_new_token(tmp_path: Path) -> None:
    from mturkmake.mturk.ledger import open_ledger as _open

    before = _first_token(tmp_path, "r1")
    ledger = _open(tmp_path, "local")
    try:
        assert ledger.archive_batch("b.input", "test") == 1
    finally:
        ledger.close()
    assert _first_token(tmp_path, "r1") != before


def test_an_unreadable_ledger_is_an_error_never_an_empty_one(tmp_path: Path) -> None:
    """Only a missing table reads as "nothing recorded": a locked ledger that read as empty
    would make a run plan to create again every HIT it already made."""
    from mturkmake.mturk.ledger import select_records

    ledger = open_ledger(tmp_path / ".mturkmake", "local")
    ledger.recover(None, Recoveries())
    with ledger.intent("CreateHIT", BATCH, "row-1", HIT_PARAMS) as intent:
        intent.done("HIT1")
    ledger.close()
    ledger.db.close_all()  # an exclusive lock in WAL mode needs the only connection
    db = tmp_path / ".mturkmake" / "state.db"
    fresh = sqlite3.connect(tmp_path / "empty.db")
    assert select_records(fresh, "local", ["CreateHIT"]) == []  # no ledger yet
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE ledger_intent SET params = params")
    try:
        reader = sqlite3.connect(db, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            select_records(reader, "local", ["CreateHIT"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [r.remote_id for r in select_records(reader, "local", ["CreateHIT"])] == ["HIT1"]


def test_a_locked_ledger_never_reads_as_no_money_committed(tmp_path: Path) -> None:
    """The budget reads the committed exposure: a locked ledger that read as 0 would let a
    run spend past its budget. Only a missing table (no ledger yet) reads as 0."""
    from mturkmake.mturk.exposure import committed_cents

    ledger = open_ledger(tmp_path / ".mturkmake", "local")
    ledger.recover(None, Recoveries())
    with ledger.intent("CreateHIT", BATCH, "row-1", HIT_PARAMS, exposure=Decimal("1.20")) as i:
        i.done("HIT1")
    ledger.close()
    ledger.db.close_all()
    db = tmp_path / ".mturkmake" / "state.db"
    assert committed_cents(sqlite3.connect(tmp_path / "empty.db"), "local") == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE ledger_intent SET params = params")
    reader = sqlite3.connect(db, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            committed_cents(reader, "local")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert committed_cents(reader, "local") == 120
