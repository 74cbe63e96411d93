"""Many decisions overlapped within ``-j`` (issue #17): the loop of ``%.approved``,
approveWork, rejectWork and reviewResults around :meth:`.decisions.Decider.decide`."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mturkmake.mturk.decisions import Cached, Decider, Order, Result, release_rejections

if TYPE_CHECKING:
    from mturkmake.hookspecs import Context
    from mturkmake.mturk.calls import Done
    from mturkmake.mturk.ledger import Ledger

__all__ = ["cached_assignments", "decide_all"]


def cached_assignments(
    ledger: Ledger, hit_ids: Collection[str], wanted: Collection[str]
) -> dict[str, Cached]:
    """The ``wanted`` assignments as this project last fetched them, with their HITs: the
    results cache in ``state.db`` (:class:`~mturkmake.mturk.results_cache.ResultsCache`),
    never a user-editable file, whose rows only say which HITs to look in. An
    :class:`~mturkmake.mturk.decisions.Order` given one needs no GetAssignment first when
    it was Submitted (issue #17); an assignment the cache does not hold under its real HIT
    (a hand-edited row, a HIT changed since) is asked for as before.
    """
    from mturkmake.mturk.results_cache import ResultsCache

    if not wanted:
        return {}
    found = ResultsCache(ledger.db, ledger.endpoint).assignments_of(sorted(hit_ids))
    return {aid: Cached(*found[aid]) for aid in wanted if aid in found}


def decide_all(
    ctx: Context,
    decider: Decider,
    orders: Sequence[Order],
    handle: Callable[[Order, Result], None],
    *,
    progress: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
) -> None:
    """Decide ``orders`` up to ``-j`` at once and hand each result to ``handle``, in the
    orders' order whatever finished first, so a step prints and writes the same for every
    ``-j`` (issue #17).

    The calls go through :func:`mturkmake.mturk.calls.each`: the first alone, at most
    ``jobs`` in flight across the run, the run's rate, throttling absorbed, the ledger's
    commits grouped (each decision's intent is durable before its call). An order for an
    assignment an earlier order named is decided only after that one is done, so it meets
    its decision (``skipped``), as one after the other would. Rejections release their
    exposure once, after the calls (an interrupted run's next run releases them).

    :param progress: wraps the items (the reporter's ``Tracked``): it is iterated once per
        finished decision, so a bar counts finished calls.
    :raises ServiceError: an error every call would hit
        (:func:`~mturkmake.mturk.endpoint.affects_every_call`): nothing more is sent, the
        calls in flight finish and their outcomes are recorded.
    """
    from mturkmake.mturk import calls

    first: dict[str, int] = {}
    for index, order in enumerate(orders):
        first.setdefault(order.assignment_id, index)

    def work(item: tuple[int, Order]) -> Result | None:
        index, order = item
        if first[order.assignment_id] != index:
            return None  # a repeat: decided in turn, below
        return decider.decide(order, release=False)

    items: list[tuple[int, Order]] = list(enumerate(orders))
    results: Iterator[tuple[tuple[int, Order], Done[Result | None]]] = calls.each(
        ctx,
        decider.client,
        progress(items) if progress is not None else items,
        work,
        ledger=decider.ledger,
    )
    try:
        for (_, order), done in results:
            result = done.get()
            if result is None:
                decider.ledger.flush()  # the earlier order's outcome, for the check
                with calls.run_slots(ctx):
                    result = decider.decide(order, release=False)
            handle(order, result)
    finally:
        # Closing the generator waits for the calls in flight and writes their outcomes
        # (calls.each is declared an Iterator; it is a generator).
        getattr(results, "close")()  # noqa: B009
        if any(order.decision == "reject" for order in orders):
            release_rejections(decider.ledger)
