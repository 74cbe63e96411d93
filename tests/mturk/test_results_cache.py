"""The results cache and fetcher: a poll fetches only HITs that are not final (DESIGN §2).

Real boto3 clients against the in-process local marketplace; calls are counted with a
botocore event handler on the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.state import StateDB
from mturkmake.errors import ServiceError
from mturkmake.formats.success import SuccessRow
from mturkmake.hookspecs import Config
from mturkmake.marketplace.inprocess import make_local_client, open_local_marketplace
from mturkmake.marketplace.service import Marketplace
from mturkmake.mturk.results_cache import (
    PAGE_SIZE,
    ResultsCache,
    downstream_targets,
    is_final,
    mark_batch_changed,
)
from mturkmake.mturk.results_fetch import Fetcher
from mturkmake.mturk.settings import mturk_config

QUESTION = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2005-10-01/QuestionForm.xsd"><Question><QuestionIdentifier>answer</QuestionIdentifier>'
    "<QuestionContent><Text>Say something about {n}</Text></QuestionContent>"
    "<AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>"
    "<Question><QuestionIdentifier>color</QuestionIdentifier><QuestionContent><Text>Pick"
    "</Text></QuestionContent><AnswerSpecification><SelectionAnswer><StyleSuggestion>checkbox"
    "</StyleSuggestion><Selections><Selection><SelectionIdentifier>red</SelectionIdentifier>"
    "<Text>Red</Text></Selection><Selection><SelectionIdentifier>blue</SelectionIdentifier>"
    "<Text>Blue</Text></Selection></Selections></SelectionAnswer></AnswerSpecification>"
    "</Question></QuestionForm>"
)


@dataclass
class Local:
    """A local marketplace in ``root/.mturkmake`` with a counting client."""

    root: Path
    config: Config
    market: Marketplace
    client: Any
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)

    def reads(self) -> list[str]:
        return [name for name, _ in self.calls]

    def create_batch(
        self,
        hits: int,
        *,
        assignments: int = 3,
        delay: int = 259200,
        lifetime: int = 86400,
        first: int = 0,
    ) -> list[SuccessRow]:
        type_id = self.client.create_hit_type(
            Title="Say something",
            Description="A word about a thing",
            Reward="0.05",
            AssignmentDurationInSeconds=600,
            AutoApprovalDelayInSeconds=delay,
            Keywords="words",
        )["HITTypeId"]
        rows = []
        for n in range(first, first + hits):
            hit = self.client.create_hit_with_hit_type(
                HITTypeId=type_id,
                LifetimeInSeconds=lifetime,
                MaxAssignments=assignments,
                Question=QUESTION.format(n=n),
                RequesterAnnotation=f"row {n}",
            )["HIT"]
            rows.append(SuccessRow(hit["HITId"], hit["HITTypeId"]))
        self.calls.clear()
        return rows

    def settle(self, seconds: float = 3600) -> None:
        """Let the crowd work (less than any auto-approval delay used here)."""
        self.market.advance(seconds)

    def cache(self) -> ResultsCache:
        return ResultsCache(StateDB(self.config.state_dir / "state.db"), "local")


def local_config(root: Path, **values: Any) -> Config:
    return mturk_config(root, "local", values={"results_timezone": "UTC", **values}, sources={})


def open_local(root: Path) -> Local:
    root.mkdir(parents=True, exist_ok=True)
    config = local_config(root)
    market = open_local_marketplace(config)
    client = make_local_client(config, marketplace=market)
    local = Local(root, config, market, client)

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        local.calls.append((model.name, dict(params)))

    client.meta.events.register("before-parameter-build.mturk", record)
    return local


def test_first_poll_fetches_every_hit_and_a_second_fetches_nothing(local: Local) -> None:
    rows = local.create_batch(4, assignments=2)
    local.settle()
    fetcher = Fetcher(local.client, local.cache())
    snapshot = fetcher.poll(rows)
    assert snapshot.final
    assert snapshot.fetched == [r.hit_id for r in rows]
    assert (snapshot.done, snapshot.total) == (8, 8)
    assert local.count("ListAssignmentsForHIT") == 4
    # all four were Reviewable: their records came from ListReviewableHITs, not GetHIT
    assert local.count("GetHIT") == 0
    assert local.count("ListReviewableHITs") == 1
    local.calls.clear()

    again = Fetcher(local.client, local.cache()).poll(rows)
    assert local.calls == []
    assert again.fetched == []
    assert again.final
    assert again.done == 8


def test_a_poll_refetches_only_the_open_hits_of_200(local: Local) -> None:
    done = local.create_batch(190, assignments=1, lifetime=7200)
    local.settle(3000)
    still_open = local.create_batch(10, assignments=1, first=190, lifetime=7200)
    rows = done + still_open
    fetcher = Fetcher(local.client, local.cache())
    first = fetcher.poll(rows)
    assert first.final_hits == 190
    assert sorted(first.open_hit_ids) == sorted(r.hit_id for r in still_open)
    local.calls.clear()

    second = fetcher.poll(rows)
    assert sorted(second.fetched) == sorted(r.hit_id for r in still_open)
    assert local.count("ListAssignmentsForHIT") == 10
    assert local.count("GetHIT") == 10
    # the 190 reviewable HITs of the type fill two pages of at most 100
    assert local.count("ListReviewableHITs") == 2
    assert len(local.calls) == 22
    assert all(p.get("MaxResults") == PAGE_SIZE for name, p in local.calls if name != "GetHIT")


def test_a_hit_that_becomes_final_is_taken_from_the_reviewable_list(local: Local) -> None:
    rows = local.create_batch(3, assignments=2)
    fetcher = Fetcher(local.client, local.cache())
    before = fetcher.poll(rows)
    assert not before.final
    assert before.done == 0
    assert local.count("GetHIT") == 3  # nothing reviewable yet
    local.settle()
    local.calls.clear()
    after = fetcher.poll(rows)
    assert after.final
    assert after.done == 6
    assert local.count("GetHIT") == 0
    assert local.count("ListAssignmentsForHIT") == 3


def test_assignments_are_cached_oldest_submission_first_with_utc_times(local: Local) -> None:
    rows = local.create_batch(1, assignments=3)
    local.settle()
    Fetcher(local.client, local.cache()).poll(rows)
    (entry,) = local.cache().load([rows[0].hit_id]).values()
    times = [a["SubmitTime"] for a in entry.assignments]
    assert times == sorted(times)
    assert len(times) == 3
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert entry.hit["RequesterAnnotation"] == "row 0"
    assert entry.final
    assert is_final(entry.hit)


def test_unknown_hit_fails_alone_with_keep_going_and_raises_without(local: Local) -> None:
    rows = local.create_batch(2, assignments=1)
    local.settle()
    bad = SuccessRow("3NOSUCHHIT0000000000000000000A", rows[0].hit_type_id)
    fetcher = Fetcher(local.client, local.cache())
    snapshot = fetcher.poll([rows[0], bad, rows[1]], keep_going=True)
    assert set(snapshot.failures) == {bad.hit_id}
    assert "GetHIT" in snapshot.failures[bad.hit_id]
    assert snapshot.fetched == [rows[0].hit_id, rows[1].hit_id]
    assert not snapshot.final  # a HIT that could not be fetched is not known to be final
    with pytest.raises(ServiceError):
        Fetcher(local.client, local.cache()).poll([bad])


def test_refresh_fetches_final_hits_again(local: Local) -> None:
    rows = local.create_batch(2, assignments=1)
    local.settle()
    fetcher = Fetcher(local.client, local.cache())
    fetcher.poll(rows)
    local.calls.clear()
    snapshot = fetcher.poll(rows, refresh=True)
    assert snapshot.fetched == [r.hit_id for r in rows]
    assert local.count("ListAssignmentsForHIT") == 2


def test_mark_batch_changed_marks_targets_incomplete_and_refetches(local: Local) -> None:
    rows = local.create_batch(2, assignments=1)
    local.settle()
    db = StateDB(local.config.state_dir / "state.db")
    fetcher = Fetcher(local.client, local.cache())
    fetcher.poll(rows)
    db.record_build("survey.results", {}, True, {})
    mark_batch_changed(db, "local", "survey.success", [rows[1].hit_id])
    record = db.last_build("survey.results")
    assert record is not None
    assert not record.complete
    approved = db.last_build("survey.approved")
    assert approved is not None
    assert not approved.complete
    local.calls.clear()
    snapshot = fetcher.poll(rows)
    assert snapshot.fetched == [rows[1].hit_id]
    mark_batch_changed(db, "local", "survey.success")
    assert fetcher.poll(rows).fetched == [r.hit_id for r in rows]


def test_cache_is_per_endpoint(local: Local) -> None:
    rows = local.create_batch(1, assignments=1)
    local.settle()
    Fetcher(local.client, local.cache()).poll(rows)
    other = ResultsCache(StateDB(local.config.state_dir / "state.db"), "sandbox")
    assert other.load([rows[0].hit_id]) == {}
    assert local.cache().load([rows[0].hit_id])


def test_downstream_targets() -> None:
    assert downstream_targets("sub/survey.success") == ("sub/survey.results", "sub/survey.approved")
    assert downstream_targets("hits.txt") == ("hits.txt.results", "hits.txt.approved")


def test_snapshot_auto_approval_bounds(local: Local) -> None:
    rows = local.create_batch(2, assignments=2, delay=7200)
    fetcher = Fetcher(local.client, local.cache())
    empty = fetcher.poll(rows)
    assert empty.earliest_auto_approval is None
    assert empty.min_auto_approval_delay == 7200
    local.settle(1800)
    snapshot = fetcher.poll(rows)
    submitted = [a for e in snapshot.entries.values() for a in e.assignments]
    assert snapshot.earliest_auto_approval == min(a["AutoApprovalTime"] for a in submitted)
    assert all(a["AssignmentStatus"] == "Submitted" for a in submitted)
    assert snapshot.final
    assert snapshot.min_auto_approval_delay is None  # no HIT can get more work


def test_all_final_now_stops_at_the_first_open_hit_and_remembers(local: Local) -> None:
    rows = local.create_batch(3, assignments=1)
    fetcher = Fetcher(local.client, local.cache())
    snapshot = fetcher.poll(rows)
    local.calls.clear()
    assert not fetcher.all_final_now(snapshot)
    assert local.reads() == ["GetHIT"]  # the first open HIT is still open: stop there
    local.settle()
    local.calls.clear()
    assert fetcher.all_final_now(snapshot)
    assert local.count("GetHIT") == 3
    assert snapshot.seen_final == {r.hit_id for r in rows}
    local.calls.clear()
    assert fetcher.all_final_now(snapshot)
    assert local.calls == []  # remembered until the next full poll


def test_forget_drops_only_this_endpoints_entries(local: Local) -> None:
    rows = local.create_batch(2, assignments=1)
    local.settle()
    Fetcher(local.client, local.cache()).poll(rows)
    sandbox = ResultsCache(local.cache().db, "sandbox")
    sandbox.store(local.cache().load([rows[0].hit_id]))
    assert local.cache().forget() == 2
    assert local.cache().load([r.hit_id for r in rows]) == {}
    assert set(sandbox.load([rows[0].hit_id])) == {rows[0].hit_id}
