"""Which HITs changed: the marketplace's change marks and ``advance_to(watch=...)``, which let
``--wait`` fetch only what changed (issue #17). Real boto3 calls against the in-process
marketplace; a second ``Marketplace`` on the same file stands for another process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mturkmake.marketplace.service import Marketplace
from tests.mturk.test_results_cache import Local, open_local


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    it = open_local(tmp_path / "project")
    yield it
    it.market.close()


def test_creations_calls_and_events_each_mark_their_hit(local: Local) -> None:
    market = local.market
    start = market.change_mark()
    rows = local.create_batch(3, assignments=1)
    ids = [r.hit_id for r in rows]
    created, changed = market.hits_changed_since(start)
    assert changed == frozenset(ids)
    assert created > start
    assert market.change_mark() == created
    assert market.hits_changed_since(created) == (created, frozenset())

    # a requester's call marks only the HIT it changes
    local.client.update_expiration_for_hit(HITId=ids[1], ExpireAt=0)
    expired, changed = market.hits_changed_since(created)
    assert changed == {ids[1]}

    # the crowd's events (accepting, submitting) mark the HITs they touch
    market.advance(3600)
    worked, changed = market.hits_changed_since(expired)
    assert changed == {ids[0], ids[2]}
    assert worked > expired

    # and so does an approval, made through another connection (another process)
    other = Marketplace(market.store.path, market.settings)
    try:
        listed = local.client.list_assignments_for_hit(HITId=ids[2])["Assignments"]
        other.call("ApproveAssignment", {"AssignmentId": listed[0]["AssignmentId"]})
        assert market.hits_changed_since(worked)[1] == {ids[2]}
    finally:
        other.close()


def test_reads_mark_nothing(local: Local) -> None:
    rows = local.create_batch(2, assignments=1)
    mark = local.market.change_mark()
    for row in rows:
        local.client.get_hit(HITId=row.hit_id)
        local.client.list_assignments_for_hit(HITId=row.hit_id)
    local.client.list_reviewable_hits()
    assert local.market.hits_changed_since(mark) == (mark, frozenset())


def test_advance_watching_a_hit_stops_right_after_its_first_change(local: Local) -> None:
    market = local.market
    rows = local.create_batch(6, assignments=3)
    watched = rows[4].hit_id
    start = market.now()
    mark = market.change_mark()
    played = market.advance_to(start.replace(hour=start.hour + 1), watch=(watched,))
    assert played >= 1
    stopped = market.now()
    assert stopped < start.replace(hour=start.hour + 1)  # stopped early
    _, changed = market.hits_changed_since(mark)
    assert watched in changed
    # the clock stayed at the event that changed it: the next event is later
    nxt = market.next_event_time()
    assert nxt is not None
    assert nxt >= stopped
    # settle=False leaves the clock at the last event played, not at the end
    market.advance_to(start.replace(hour=start.hour + 1), settle=False)
    last = market.now()
    assert stopped < last < start.replace(hour=start.hour + 1)
    assert market.next_event_time() != last  # every event due by then was played
    # without a watch the same call plays on to the end
    market.advance_to(start.replace(hour=start.hour + 1))
    assert market.now() == start.replace(hour=start.hour + 1)


def test_advance_watching_plays_the_same_events_as_without(tmp_path: Path) -> None:
    """Stopping and going on changes nothing the crowd does: the same ids, states, times."""
    a, b = open_local(tmp_path / "a"), open_local(tmp_path / "b")
    try:
        rows_a, rows_b = a.create_batch(8, assignments=3), b.create_batch(8, assignments=3)
        assert [r.hit_id for r in rows_a] == [r.hit_id for r in rows_b]
        end = a.market.now().replace(hour=1)
        a.market.advance_to(end)
        stops = 0
        while b.market.now() < end:
            b.market.advance_to(end, watch=(rows_b[stops % 8].hit_id,))
            stops += 1
        assert stops >= 4  # it did stop early, several times
        for row in rows_a:
            listed_a = a.client.list_assignments_for_hit(HITId=row.hit_id)["Assignments"]
            listed_b = b.client.list_assignments_for_hit(HITId=row.hit_id)["Assignments"]
            assert listed_a == listed_b
        assert a.market.status() == b.market.status()
    finally:
        a.market.close()
        b.market.close()


def test_every_column_of_a_hit_but_its_cached_fullness_marks_it(local: Local) -> None:
    """A column added to ``hits`` must be added to the trigger's list (or knowingly left out)."""
    from mturkmake.marketplace.store import _HIT_COLUMNS

    columns = {r[1] for r in local.market.store.connection().execute("PRAGMA table_info(hits)")}
    assert columns - {"full"} == {c.strip() for c in _HIT_COLUMNS.split(",")}
