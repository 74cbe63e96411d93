"""A local ``--wait`` that fetches only the HITs that changed (issue #17): the same snapshot,
the same stop, for calls in proportion to the changes rather than HITs × clock steps.

Real boto3 clients against the in-process local marketplace; calls are counted with a
botocore ``before-call`` handler on the client.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mturkmake.formats.success import SuccessRow
from mturkmake.mturk.results_cache import Snapshot
from mturkmake.mturk.results_fetch import Fetcher
from mturkmake.mturk.waiting import (
    ProgressView,
    Tracked,
    WaitResult,
    WaitSettings,
    wait_until_final,
)
from mturkmake.testing import Project
from tests.mturk.test_results_cache import Local, open_local
from tests.mturk.test_waiting import Lines
from tests.plugins.test_approved_rule import overlap_calls


def count_calls(client: Any) -> Counter[str]:
    """Every API call the client makes from now on, by operation."""
    counted: Counter[str] = Counter()

    def before_call(model: Any, **_: Any) -> None:
        counted[model.name] += 1

    client.meta.events.register("before-call.mturk", before_call)
    return counted


@dataclass
class Waited:
    result: WaitResult
    calls: Counter[str]
    progress: list[str]


def wait(local: Local, rows: list[SuccessRow], settings: WaitSettings, *, tracked: bool) -> Waited:
    """Poll, then wait: as ``%.results --wait`` does (tracked) or event by event (not)."""
    fetcher = Fetcher(local.client, local.cache())
    calls = count_calls(local.client)
    since = local.market.change_mark()
    first = fetcher.poll(rows)
    say = Lines()

    def refresh(snapshot: Snapshot, changed: frozenset[str]) -> Snapshot:
        return fetcher.refresh(snapshot, rows, changed)

    result = wait_until_final(
        first,
        lambda: fetcher.poll(rows),
        settings,
        view=ProgressView("x.results", say, terminal=False),
        warn=Lines(),
        market=local.market,
        became_final=fetcher.all_final_now,
        tracked=Tracked(since, refresh, fetcher.first_open) if tracked else None,
    )
    return Waited(result, calls, say.lines)


def content(snapshot: Snapshot) -> list[tuple[Any, ...]]:
    """What a results file is made of: each HIT and its assignments, in order."""
    return [
        (h, dict(snapshot.entries[h].hit), [dict(a) for a in snapshot.entries[h].assignments])
        for h in snapshot.hit_ids
    ]


@pytest.mark.parametrize(("delay", "timeout"), [(259200, None), (1, None), (259200, 30.0)])
def test_the_tracked_wait_stops_where_and_as_the_event_by_event_wait_does(
    tmp_path: Path, delay: int, timeout: float | None
) -> None:
    """Final, stopped before an auto-approval, or timed out: the same reason, the same
    virtual moment, the same HITs and assignments in the same order — for fewer calls."""
    runs = {}
    reasons = {None: "final", 1: "auto-approval", 30.0: "timeout"}
    for tracked in (False, True):
        local = open_local(tmp_path / str(tracked))
        try:
            rows = local.create_batch(15, assignments=3, delay=delay)
            runs[tracked] = wait(local, rows, WaitSettings(timeout, 60.0), tracked=tracked)
            runs[tracked].result.snapshot.fetched.clear()
            stopped_at = local.market.now()
            statuses = local.market.status()["assignments"]
        finally:
            local.market.close()
        runs[tracked].progress.append(f"{stopped_at} {statuses}")
    old, new = runs[False], runs[True]
    assert new.result.reason == old.result.reason == reasons[1 if delay == 1 else timeout]
    assert new.result.message == old.result.message
    assert content(new.result.snapshot) == content(old.result.snapshot)
    assert "Approved" not in new.progress[-1]  # nothing was auto-approved
    assert new.progress[-1] == old.progress[-1]  # same clock, same assignment states
    assert sum(new.calls.values()) < sum(old.calls.values())


def test_the_wait_stops_at_the_event_that_makes_the_batch_final(local: Local) -> None:
    rows = local.create_batch(12, assignments=3)
    waited = wait(local, rows, WaitSettings(None, 60.0), tracked=True)
    assert waited.result.reason == "final"
    snapshot = waited.result.snapshot
    assert snapshot.final
    assert snapshot.done == 36
    last = max(a["SubmitTime"] for e in snapshot.entries.values() for a in e.assignments)
    assert local.market.now() - last < timedelta(milliseconds=1)
    assert waited.progress[0] == "x.results: 0/36 assignments submitted, 0/12 HITs final"
    assert waited.progress[-1] == "x.results: 36/36 assignments submitted, 12/12 HITs final"


def test_the_wait_never_passes_an_unreviewed_auto_approval(local: Local) -> None:
    # approved automatically 10 minutes after submission: long before the batch is done
    rows = local.create_batch(30, assignments=3, delay=600)
    waited = wait(local, rows, WaitSettings(None, 60.0), tracked=True)
    assert waited.result.reason == "auto-approval"
    earliest = waited.result.snapshot.earliest_auto_approval
    assert earliest is not None
    assert local.market.now() < earliest
    assert "Approved" not in local.market.status()["assignments"]
    # every unreviewed assignment, polled or submitted since, auto-approves after the clock
    times = [
        a["AutoApprovalTime"]
        for r in rows
        for a in local.client.list_assignments_for_hit(
            HITId=r.hit_id, AssignmentStatuses=["Submitted"]
        )["Assignments"]
    ]
    assert min(times) == earliest
    assert local.market.now() < min(times)
    assert not waited.result.snapshot.final


def test_a_timeout_is_on_the_virtual_clock(local: Local) -> None:
    rows = local.create_batch(12, assignments=3)
    start = local.market.now()
    waited = wait(local, rows, WaitSettings(20.0, 5.0), tracked=True)
    assert waited.result.reason == "timeout"
    assert timedelta(seconds=10) < local.market.now() - start <= timedelta(seconds=20)
    assert not waited.result.snapshot.final


def test_a_200_hit_wait_costs_calls_in_proportion_to_hits_and_changes(local: Local) -> None:
    rows = local.create_batch(200, assignments=3)
    mark = local.market.change_mark()
    waited = wait(local, rows, WaitSettings(None, 60.0), tracked=True)
    assert waited.result.reason == "final"
    assert waited.result.snapshot.done == 600
    polls = len(waited.progress)  # a line per full poll that saw progress
    assert polls >= 10  # so a wait polling every open HIT at each would cost thousands
    # the events changed each HIT a few times (accepted, submitted × 3)
    _, changed = local.market.hits_changed_since(mark)
    assert changed == {r.hit_id for r in rows}
    calls = waited.calls
    # the first poll: GetHIT + ListAssignmentsForHIT per HIT (+1 ListReviewableHITs); then
    # each HIT again when it changed (about once per poll window it changed in, ~1.3 here),
    # and about one GetHIT per HIT for the cheap checks
    assert calls["ListReviewableHITs"] == 1
    assert calls["ListAssignmentsForHIT"] <= 200 + 2 * 200
    assert calls["GetHIT"] <= 200 + 2 * 200 + 200
    assert sum(calls.values()) <= 6 * 200
    assert set(calls) == {"ListReviewableHITs", "GetHIT", "ListAssignmentsForHIT"}


def test_a_hit_changed_by_a_call_during_the_wait_is_fetched_again(local: Local) -> None:
    """A change the wait did not make (here: a HIT expired by the requester's call between
    two polls) is seen like any other: the marketplace marks it, the next poll fetches it."""
    rows = local.create_batch(4, assignments=3)
    fetcher = Fetcher(local.client, local.cache())
    since = local.market.change_mark()
    first = fetcher.poll(rows)
    local.client.update_expiration_for_hit(HITId=rows[2].hit_id, ExpireAt=0)
    _, changed = local.market.hits_changed_since(since)
    assert changed == {rows[2].hit_id}
    calls = count_calls(local.client)
    fresh = fetcher.refresh(first, rows, changed)
    assert fresh.fetched == [rows[2].hit_id]
    assert calls == {"GetHIT": 1, "ListAssignmentsForHIT": 1}
    assert fresh.entries[rows[2].hit_id].final  # expired with no work: final
    assert content(fresh) == content(fetcher.poll(rows, refresh=True))


def test_exact_counts_skip_listing_the_work_of_hits_nobody_took(local: Local) -> None:
    rows = local.create_batch(6, assignments=2)
    local.client.update_expiration_for_hit(HITId=rows[5].hit_id, ExpireAt=0)
    exact = Fetcher(local.client, exact_counts=True)
    calls = count_calls(local.client)
    fresh = exact.poll(rows)
    # a HIT just loaded has every slot available: nothing to list; an expired one has none
    assert calls["ListAssignmentsForHIT"] == 1
    assert content(fresh) == content(Fetcher(local.client).poll(rows))
    local.settle(3600)
    calls.clear()
    worked = exact.poll(rows)
    assert calls["ListAssignmentsForHIT"] == 6  # every HIT was worked (or expired)
    assert worked.done == 10
    assert content(worked) == content(Fetcher(local.client).poll(rows))


# --------------------------------------------------------------------------------------------
# End to end: the make rule
# --------------------------------------------------------------------------------------------

TOML = 'endpoint = "local"\nresults_timezone = "UTC"\n'
QUESTION = """<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd">
<Question><QuestionIdentifier>answer</QuestionIdentifier>
<QuestionContent><Text>Where is ${company} based?</Text></QuestionContent>
<AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>
</QuestionForm>
"""
PROPERTIES = """title:Company city
description:Tell us where the company is
reward:0.05
assignments:3
annotation:${company}
assignmentduration:600
hitlifetime:86400
autoapprovaldelay:259200
"""


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_results_with_wait_equal_results_fetched_after_the_batch_is_final(
    mturkmake_project: Project, jobs: str
) -> None:
    project = mturkmake_project
    rows = "\n".join(["company"] + [f"Company {n}" for n in range(25)]) + "\n"
    project.write(
        {
            "mturkmake.toml": TOML,
            "survey.input": rows,
            "survey.question": QUESTION,
            "survey.properties": PROPERTIES,
        }
    )
    overlap_calls(project.root, jobs)  # -j 4: the polls' fetches really overlap
    waited = project.run("-j", jobs, "survey.results", "--wait")
    assert waited.exit_code == 0, waited.output
    assert "made 'survey.results': 75/75 assignments, 25/25 HITs final" in waited.stdout
    with_wait = project.path("survey.results").read_bytes()

    # Forget every fetched HIT: the next build fetches all of them again, without a wait
    from mturkmake.core.state import StateDB
    from mturkmake.mturk.results_cache import mark_batch_changed

    mark_batch_changed(StateDB(project.path(".mturkmake/state.db")), "local", "survey.success")
    project.path("survey.results").unlink()
    again = project.run("survey.results")
    assert again.exit_code == 0, again.output
    assert "made 'survey.results': 75/75 assignments, 25/25 HITs final" in again.stdout
    assert project.path("survey.results").read_bytes() == with_wait
