"""``--wait[=TIMEOUT]``, ``--poll SECONDS``: poll a batch until its work is final (DESIGN §2, §7).

On sandbox and production a wait sleeps ``--poll`` seconds between polls, and warns once
when unreviewed work is within 24 hours of its automatic approval (after which it is paid
whatever its quality). Whatever the endpoint, the callers warn so too before they exit
(:func:`auto_approval_warning`, on the endpoint's clock).

On the local endpoint nothing sleeps: the marketplace's virtual clock advances *event by
event* and the wait stops as soon as the batch is final. It never passes the earliest
AutoApprovalTime of an unreviewed assignment of the batch, so a wait never lets the local
crowd's work be approved behind the requester's back. Between two full polls the clock
moves at most ``--poll`` virtual seconds, and never past the moment an assignment submitted
since the last poll could auto-approve (the batch's shortest AutoApprovalDelay after it);
after each event a cheap check (about one ``GetHIT``) tells whether the batch became final.

The local marketplace also knows which HITs changed (:class:`Tracked`, issue #17), so a wait
costs O(HITs + changes) calls, not O(open HITs × clock steps): a full poll fetches only the
HITs that changed since the last one; the events before the next check are played in one
run, which the marketplace ends right after an event that changes the first HIT still open
(the batch cannot be final before that HIT is); the cheap check asks again only about HITs
that changed. The events played, the moments of the full polls, the snapshots and the
stops are those of the event-by-event wait (tests/mturk/test_wait_changes.py compares them).

``TIMEOUT`` is measured on the endpoint's clock: virtual time on the local endpoint.

Progress: a ``tqdm`` bar when stdout is a terminal (imported only then), plain lines
otherwise.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from mturkmake.errors import UsageError
from mturkmake.mturk.results_cache import Snapshot
from mturkmake.mturk.times import utc_now

__all__ = [
    "AUTO_APPROVAL_WARNING",
    "DEFAULT_POLL",
    "LocalMarket",
    "ProgressView",
    "Tracked",
    "WaitResult",
    "WaitSettings",
    "auto_approval_warning",
    "wait_settings",
    "wait_until_final",
]

DEFAULT_POLL = 60.0
#: Warn when unreviewed work auto-approves sooner than this (sandbox and production).
AUTO_APPROVAL_WARNING = timedelta(hours=24)
#: Wire times are rounded to the millisecond: keep this far from an auto-approval.
_MARGIN = timedelta(milliseconds=2)
#: The clock's resolution: a bound ``t - _TICK`` keeps events at ``t`` out.
_TICK = timedelta(microseconds=1)

Reason = Literal["final", "timeout", "auto-approval", "idle"]


@dataclass(frozen=True)
class WaitSettings:
    """How to wait.

    :param timeout: the longest wait in seconds on the endpoint's clock; ``None``: until final.
    :param poll: seconds between polls (virtual seconds between full polls on local).
    """

    timeout: float | None = None
    poll: float = DEFAULT_POLL


def wait_settings(options: Mapping[str, Any]) -> WaitSettings | None:
    """The settings from the parsed global options (``wait``, ``poll``); ``None`` without
    ``--wait``.

    :raises UsageError: a TIMEOUT that is not a duration, or a poll interval ≤ 0.
    """
    raw = options.get("wait")
    if raw is None:
        return None
    poll = float(options.get("poll") or DEFAULT_POLL)
    if not poll > 0 or math.isinf(poll):
        raise UsageError(f"--poll {poll:g}: give a positive number of seconds, e.g. --poll 60")
    text = str(raw).strip()
    if text.lower() in ("", "inf", "forever"):
        return WaitSettings(None, poll)
    from mturkmake.marketplace.clock import parse_duration

    try:
        return WaitSettings(parse_duration(text), poll)
    except ValueError as exc:
        raise UsageError(f"--wait={text}: {exc}", hint="e.g. --wait=2h or --wait") from None


class LocalMarket(Protocol):
    """What a local wait needs of :class:`mturkmake.marketplace.service.Marketplace`."""

    def now(self) -> datetime:
        """The virtual clock."""
        ...

    def next_event_time(self) -> datetime | None:
        """When the next event is due, or ``None``."""
        ...

    def advance_to(
        self, when: datetime, *, watch: Collection[str] = (), settle: bool = True
    ) -> int:
        """Move the clock to ``when``, playing due events; with ``watch``, stop right after
        the first event that changes one of these HITs; ``settle=False`` leaves the clock
        at the last event played."""
        ...

    def change_mark(self) -> int:
        """The mark of the latest change of any HIT."""
        ...

    def hits_changed_since(self, mark: int) -> tuple[int, frozenset[str]]:
        """The next mark, and the HITs changed after ``mark``."""
        ...


@dataclass(frozen=True)
class Tracked:
    """How a local wait fetches only the HITs that changed (issue #17).

    :param since: the marketplace's :meth:`~LocalMarket.change_mark`, taken before the first
        snapshot was polled.
    :param refresh: ``refresh(snapshot, changed)``: the snapshot brought up to date when only
        the HITs of ``changed`` may have changed (:meth:`Fetcher.refresh
        <mturkmake.mturk.results_fetch.Fetcher.refresh>` of the batch's rows).
    :param first_open: ``first_open(snapshot, changed)``: the first HIT not final in the
        snapshot that is still open now, or ``None`` when all of them are final now;
        ``changed``: the HITs changed since the previous check (:meth:`Fetcher.first_open
        <mturkmake.mturk.results_fetch.Fetcher.first_open>`).
    """

    since: int
    refresh: Callable[[Snapshot, frozenset[str]], Snapshot]
    first_open: Callable[[Snapshot, frozenset[str]], str | None]


@dataclass(frozen=True)
class WaitResult:
    """How a wait ended.

    :param snapshot: the last poll's snapshot.
    :param reason: ``final``; ``timeout``; ``auto-approval`` (local: the next event would
        pass an unreviewed assignment's auto-approval); ``idle`` (local: nothing more will
        ever happen, e.g. no worker qualifies).
    :param message: a line for the user when the wait ended before the batch was final.
    """

    snapshot: Snapshot
    reason: Reason
    message: str = ""


class ProgressView:
    """Shows a wait's progress: a bar on a terminal, plain lines otherwise.

    :param label: what is waited for (the target's name).
    :param say: prints a plain line (the run's reporter).
    :param terminal: whether stdout is a terminal (default: ask ``sys.stdout``).
    """

    def __init__(self, label: str, say: Callable[[str], None], *, terminal: bool | None = None):
        self.label = label
        self.say = say
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self._bar: Any = None
        self._last: tuple[int, int, int] | None = None

    def update(self, snapshot: Snapshot) -> None:
        """Show the snapshot's progress, if it changed."""
        state = (snapshot.done, snapshot.total, snapshot.final_hits)
        if state == self._last:
            return
        self._last = state
        hits = f"{snapshot.final_hits}/{len(snapshot.hit_ids)} HITs final"
        if not self.terminal:
            self.say(
                f"{self.label}: {snapshot.done}/{snapshot.total} assignments submitted, {hits}"
            )
            return
        if self._bar is None:
            from tqdm import tqdm  # only on a terminal: a plain run must not import it

            # tqdm draws nothing on a terminal that reports 0 × 0 (a pseudo-terminal nobody
            # sized): give it 80 × 24 then.
            sized = shutil.get_terminal_size((0, 0))
            known = sized.columns > 0 and sized.lines > 0
            self._bar = tqdm(
                desc=self.label,
                total=snapshot.total,
                unit="assignment",
                ncols=None if known else 80,
                nrows=None if known else 24,
            )
        self._bar.total = snapshot.total
        self._bar.n = snapshot.done
        self._bar.set_postfix_str(hits, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """Finish the bar (plain lines need nothing)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def auto_approval_warning(snapshot: Snapshot, now: datetime, label: str) -> str | None:
    """A warning when unreviewed work of the batch auto-approves within 24 h of ``now``."""
    earliest = snapshot.earliest_auto_approval
    if earliest is None or earliest - now > AUTO_APPROVAL_WARNING:
        return None
    return (
        f"{label}: {len(snapshot.unreviewed())} submitted assignment(s) not yet reviewed; "
        f"the first is approved and paid automatically at {earliest.isoformat()} "
        "(within 24 h) — review them before then"
    )


def wait_until_final(
    first: Snapshot,
    poll: Callable[[], Snapshot],
    settings: WaitSettings,
    *,
    view: ProgressView,
    warn: Callable[[str], None],
    market: LocalMarket | None = None,
    became_final: Callable[[Snapshot], bool] | None = None,
    tracked: Tracked | None = None,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitResult:
    """Poll until the batch is final, the timeout passes, or (local) nothing more can happen
    without passing an auto-approval.

    :param first: the snapshot of the poll just made.
    :param poll: makes a new snapshot (fetching only what is not final).
    :param market: the local marketplace, whose clock is advanced instead of sleeping.
    :param became_final: a cheap check whether every HIT not final in the snapshot is final
        now (local: run after each event); ``None`` polls fully after each event instead.
    :param tracked: (local) fetch only the HITs that changed; ``became_final`` is then
        not used.
    :param clock: the endpoint's clock (sandbox and production).
    :param sleep: how to pause between polls (sandbox and production).

    KeyboardInterrupt propagates: the caller leaves its target incomplete.
    """
    waiter = _Waiter(poll, settings, view, warn, became_final)
    view.update(first)
    try:
        if market is not None and tracked is not None:
            return waiter.tracked(first, market, tracked)
        if market is not None:
            return waiter.local(first, market)
        return waiter.remote(first, clock, sleep)
    finally:
        view.close()


@dataclass(frozen=True)
class _Waiter:
    poll: Callable[[], Snapshot]
    settings: WaitSettings
    view: ProgressView
    warn: Callable[[str], None]
    became_final: Callable[[Snapshot], bool] | None

    def _timeout(self, snapshot: Snapshot) -> WaitResult:
        return WaitResult(
            snapshot,
            "timeout",
            f"{self.view.label}: still not final after waiting {self.settings.timeout:g} s",
        )

    def remote(
        self,
        snapshot: Snapshot,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
    ) -> WaitResult:
        """Sleep ``poll`` seconds between polls (sandbox, production, a served marketplace)."""
        start = clock()
        warned = False
        while not snapshot.final:
            now = clock()
            warning = None if warned else auto_approval_warning(snapshot, now, self.view.label)
            if warning is not None:
                warned = True
                self.warn(warning)
            waited = (now - start).total_seconds()
            timeout = self.settings.timeout
            if timeout is not None and waited >= timeout:
                return self._timeout(snapshot)
            pause = (
                self.settings.poll if timeout is None else min(self.settings.poll, timeout - waited)
            )
            sleep(max(pause, 0.0))
            snapshot = self.poll()
            self.view.update(snapshot)
        return WaitResult(snapshot, "final")

    def local(self, snapshot: Snapshot, market: LocalMarket) -> WaitResult:
        """Advance the local marketplace's clock instead of sleeping."""
        timeout = self.settings.timeout
        deadline = None if timeout is None else market.now() + timedelta(seconds=timeout)
        while not snapshot.final:
            snapshot, stop = self._advance(snapshot, market, deadline)
            self.view.update(snapshot)
            if stop is not None:
                return self._stopped(snapshot, stop)
        return WaitResult(snapshot, "final")

    def _stopped(self, snapshot: Snapshot, reason: Reason) -> WaitResult:
        label = self.view.label
        if reason == "timeout":
            return self._timeout(snapshot)
        if reason == "idle":
            return WaitResult(
                snapshot,
                reason,
                f"{label}: the local marketplace has nothing more to do, and the batch is not "
                "final (do its workers qualify? 'mturkmake marketplace status' shows the crowd)",
            )
        earliest = snapshot.earliest_auto_approval
        when = earliest.isoformat() if earliest is not None else "soon"
        return WaitResult(
            snapshot,
            reason,
            f"{label}: stopped the local clock before {when}, when submitted work would be "
            "approved automatically — review it (mturkmake …approved), then wait again",
        )

    def _advance(
        self, snapshot: Snapshot, market: LocalMarket, deadline: datetime | None
    ) -> tuple[Snapshot, Reason | None]:
        """Advance the local clock event by event until a full poll is due; return it."""
        polled_at = market.now()
        # Work submitted after this poll auto-approves no sooner than the shortest delay
        # after it: poll again before then (and at least every --poll virtual seconds).
        delay = snapshot.min_auto_approval_delay
        horizon = self.settings.poll if delay is None else min(self.settings.poll, delay)
        stale_at = polled_at + timedelta(seconds=horizon)
        fresh = True
        while True:
            due = market.next_event_time()
            if due is None:
                return snapshot, "idle"
            guard = snapshot.earliest_auto_approval
            if guard is not None and due + _MARGIN >= guard:
                return snapshot, "auto-approval"
            if deadline is not None and due > deadline:
                return snapshot, "timeout"
            # Just after a full poll one event is always safe: a submission it plays
            # auto-approves strictly later.
            if not fresh and due + _MARGIN >= stale_at:
                return self.poll(), None
            market.advance_to(due)
            fresh = False
            if self.became_final is None or self.became_final(snapshot):
                return self.poll(), None

    def tracked(self, snapshot: Snapshot, market: LocalMarket, tracked: Tracked) -> WaitResult:
        """Advance the local marketplace's clock, fetching only the HITs that changed."""
        timeout = self.settings.timeout
        deadline = None if timeout is None else market.now() + timedelta(seconds=timeout)
        mark = tracked.since
        while not snapshot.final:
            snapshot, mark, stop = self._step(snapshot, market, tracked, mark, deadline)
            self.view.update(snapshot)
            if stop is not None:
                return self._stopped(snapshot, stop)
        return WaitResult(snapshot, "final")

    def _step(
        self,
        snapshot: Snapshot,
        market: LocalMarket,
        tracked: Tracked,
        mark: int,
        deadline: datetime | None,
    ) -> tuple[Snapshot, int, Reason | None]:
        """:meth:`_advance` for O(changes) calls: the same events played, the same full polls
        at the same virtual moments, the same stops — but events are played in runs, and a
        poll fetches only the HITs that changed.

        ``mark`` is the marketplace's change mark of ``snapshot``'s poll; returns the next
        snapshot, its mark, and why the wait must stop (``None``: go on).
        """
        polled_at = market.now()
        delay = snapshot.min_auto_approval_delay
        horizon = self.settings.poll if delay is None else min(self.settings.poll, delay)
        stale_at = polled_at + timedelta(seconds=horizon)
        guard = snapshot.earliest_auto_approval
        check, changed = market.hits_changed_since(mark)
        waiting_on = tracked.first_open(snapshot, changed)
        fresh = True
        while waiting_on is not None:
            due = market.next_event_time()
            if due is None:
                return snapshot, mark, "idle"
            if guard is not None and due + _MARGIN >= guard:
                return snapshot, mark, "auto-approval"
            if deadline is not None and due > deadline:
                return snapshot, mark, "timeout"
            if not fresh and due + _MARGIN >= stale_at:
                break  # a full poll is due
            # Every event _advance would play one by one before its next check: the next
            # (just after a poll it always plays), and those strictly before the poll is
            # due and the auto-approval guard, and not after the timeout.
            limits = [stale_at - _MARGIN - _TICK]
            if guard is not None:
                limits.append(guard - _MARGIN - _TICK)
            if deadline is not None:
                limits.append(deadline)
            # Only a change of the first HIT still open can make the batch final: the
            # marketplace stops right after one, as _advance's check would.
            market.advance_to(max(due, min(limits)), watch=(waiting_on,), settle=False)
            fresh = False
            check, changed = market.hits_changed_since(check)
            if waiting_on in changed:
                waiting_on = tracked.first_open(snapshot, changed)
        polled, changed = market.hits_changed_since(mark)
        return tracked.refresh(snapshot, changed), polled, None
