"""A load's reconciliation over an input read as a stream (issue #17).

:class:`~mturkmake.mturk.preflight.StreamedBatch` checks the input in one pass; a
:class:`LoadPlan` then reads it again, as often as it needs, holding one row at a time:

1. which key digests may repeat (:class:`~mturkmake.mturk.batch.RowKeys`), and, when the
   batch has records, which of them the current rows still match;
2. :meth:`LoadPlan.survey`: what the load would do (HITs to create, to skip, edited rows),
   what it costs at most, and how many skipped HITs were made from other files;
3. :meth:`LoadPlan.todo`: the HITs to create, merged as they are sent.

Every pass classifies the rows exactly as :func:`~mturkmake.mturk.batch.plan_batch` does,
and every pass checks that the input has not changed since the first (the sending pass
before each row): a changed file stops the run with one line, exit 2.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, overload

from mturkmake.errors import MturkmakeError
from mturkmake.mturk.batch import BatchRow, Edited, Planner, PlanRow, RowKeys

if TYPE_CHECKING:
    from mturkmake.mturk.money import Cost
    from mturkmake.mturk.preflight import PreparedHIT, SourceFile
    from mturkmake.mturk.preflight_stream import StreamedBatch

T = TypeVar("T")


class MarkerRoom:
    """The preflight's annotation check with the project marker counted (as
    :func:`~mturkmake.mturk.hits.check_marker_room`), one HIT at a time: an ``on_hit`` of
    :meth:`~mturkmake.mturk.preflight.StreamedBatch.check`. The first error waits for the
    preflight to end (its own errors come first): :meth:`raise_first`."""

    def __init__(self, properties: SourceFile, input_name: str) -> None:
        self.properties = properties
        self.input_name = input_name
        self.error: MturkmakeError | None = None

    def __call__(self, hit: PreparedHIT) -> None:
        from mturkmake.mturk.project import check_annotation_room

        annotation = hit.hit_params.get("RequesterAnnotation")
        if self.error is not None or annotation is None:
            return
        try:
            check_annotation_room(str(annotation), source=self.properties.name, line=None)
        except MturkmakeError:
            try:  # again, with the line (read once, only when it is needed)
                check_annotation_room(
                    str(annotation), source=self.properties.name, line=self._annotation_line()
                )
            except MturkmakeError as error:
                error.message += f" (merged with {self.input_name}:{hit.line})"
                self.error = error

    def _annotation_line(self) -> int | None:
        from mturkmake.formats import javaprops

        try:
            props = javaprops.parse(
                javaprops.read_text(self.properties.path), source=self.properties.name
            )
        except MturkmakeError:  # the preflight read it already; a race is not worth a crash
            return None
        return next((prop.line for prop in props if prop.key == "annotation"), None)

    def raise_first(self) -> None:
        """Raise the first annotation without room, if any."""
        if self.error is not None:
            raise self.error


@dataclass
class Survey:
    """What a load would do (:meth:`LoadPlan.survey`).

    :param additions: HITs beyond what earlier loads meant to post
        (:func:`~mturkmake.mturk.batch.additions`).
    :param older: skipped HITs made from other merged files (``count_older``).
    """

    create: int = 0
    skip: int = 0
    edited: list[Edited] = field(default_factory=list)
    additions: int = 0
    older: int = 0
    groups: dict[tuple[Decimal, int, bool, Decimal], int] = field(default_factory=dict)

    @property
    def todo(self) -> int:
        """HITs to create (new rows and edited ones)."""
        return self.create + len(self.edited)

    def cost(self) -> Cost:
        """The most creating them can cost (:func:`~mturkmake.mturk.hits.creation_cost`)."""
        from mturkmake.mturk.money import Cost, hits_cost

        parts = [
            hits_cost(count, reward, assignments, masters=masters, premium=premium)
            for (reward, assignments, masters, premium), count in self.groups.items()
        ]
        return Cost(
            " + ".join(part.what for part in parts) or "0 HITs",
            sum((part.payments for part in parts), Decimal("0.00")),
            sum((part.fees for part in parts), Decimal("0.00")),
        )


class LoadPlan:
    """The reconciliation of a checked :class:`StreamedBatch` with a batch's ``records``.

    :param requirements: qualification requirements every HIT gets too (``exclude_workers_of``).
    :param count_older: compare skipped HITs with today's merge (a real load does; ``-n``
        does not).
    """

    def __init__(
        self,
        batch: StreamedBatch,
        records: Sequence[BatchRow],
        key_columns: Sequence[str],
        *,
        limit: int | None = None,
        requirements: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.batch = batch
        self.records = records
        self.limit = None if limit is None else max(0, limit)
        self.requirements = list(requirements)
        learned = batch.learned_keys
        if learned is not None and learned.key_columns == tuple(key_columns):
            self.keys = learned  # the preflight's pass learned them already
        else:
            self.keys = RowKeys(key_columns)
            self.keys.learn(row.values for row in batch.rows())
        self.planner = Planner(records, limit=self.limit)
        if records:
            key = self.keys.counter()
            for row in batch.rows():
                self.planner.match(key(row.values))

    def _rows(
        self, *, watch: bool = False, what: str = "the preflight"
    ) -> Iterator[tuple[str, PlanRow, BatchRow | None, Any]]:
        key = self.keys.counter()
        classify = self.planner.start()
        for index, row in enumerate(self.batch.rows(watch=watch, what=what)):
            plan_row = PlanRow(index, row.line, key(row.values))
            action, record = classify(plan_row)
            yield action, plan_row, record, row

    def _hit(self, index: int, row: Any) -> PreparedHIT:
        from mturkmake.mturk.exclusion import with_requirements

        hit = self.batch.merge(index, row)
        return with_requirements(hit, self.requirements) if self.requirements else hit

    def survey(self, *, count_older: bool = True) -> Survey:
        """One pass: what the load would do and what it costs at most (no pass for a new
        batch: the preflight counted what it needs)."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        survey = Survey()
        planned = max((record.planned for record in self.records), default=0)
        limit = self.limit
        groups: dict[tuple[str, ...], tuple[Decimal, int, bool, Decimal]] = {}
        for action, plan_row, record, row in self._rows():
            if action == "skip":
                survey.skip += 1
                within = limit is None or plan_row.index < limit
                old_sha = record.merged_sha if record is not None and within else ""
                if count_older and old_sha and self._hit(plan_row.index, row).merged_sha != old_sha:
                    survey.older += 1
                continue
            if action == "ignore":
                continue
            if action == "create":
                survey.create += 1
                survey.additions += plan_row.index >= planned
            else:
                assert record is not None
                survey.edited.append(Edited(plan_row, record))
                survey.additions += 1
            # What a HIT costs depends on its properties but the texts: merged once per kind.
            signature = self.batch.type_signature(row)
            group = groups.get(signature)
            if group is None:
                hit = self._hit(plan_row.index, row)
                group = (hit.reward, hit.most_assignments, hit.masters, hit.premium)
                if len(groups) >= 256:
                    groups.clear()
                groups[signature] = group
            survey.groups[group] = survey.groups.get(group, 0) + 1
        return survey

    def _fresh(self) -> Survey | None:
        """The survey of a batch without records: every checked row is created (the first
        ``limit``), the cost by the kinds the preflight counted."""
        kinds, result = self.batch.kinds, self.batch.result
        if self.records or kinds is None or result is None or self.limit != self.batch.limit:
            return None
        survey = Survey(create=result.checked, additions=result.checked)
        for first, count in kinds.values():
            hit = first
            if self.requirements:
                from mturkmake.mturk.exclusion import with_requirements

                hit = with_requirements(first, self.requirements)
            group = (hit.reward, hit.most_assignments, hit.masters, hit.premium)
            survey.groups[group] = survey.groups.get(group, 0) + count
        return survey

    def todo(self) -> Iterator[tuple[PreparedHIT, str, BatchRow | None]]:
        """The HITs to create, in input order, merged as they are read: ``(hit, key, the
        record it replaces)``; the input is checked for changes before each row."""
        for action, plan_row, record, row in self._rows(watch=True, what="the load"):
            if action == "create":
                yield self._hit(plan_row.index, row), plan_row.key, None
            elif action == "edited":
                yield self._hit(plan_row.index, row), plan_row.key, record


class Streamed(Sequence[T]):
    """A sequence read from an iterator once, in order, holding only a window of items
    (issue #17): what :func:`~mturkmake.mturk.calls.each` needs of its items (it reads
    ``items[i]`` for growing ``i``, and iterates them for progress a little behind).

    :param count: how many items the iterator gives.
    :param keep: how many items behind the furthest one read stay readable.
    """

    def __init__(self, items: Iterator[T], count: int, *, keep: int = 64) -> None:
        self._items = items
        self._count = count
        self._keep = max(1, keep)
        self._held: dict[int, T] = {}
        self._next = 0

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            raise TypeError("a streamed sequence cannot be sliced")
        if not 0 <= index < self._count:
            raise IndexError(index)
        while self._next <= index:
            try:
                item = next(self._items)
            except StopIteration:
                raise RuntimeError(
                    f"the input gave {self._next} items, not {self._count}"
                ) from None
            self._held[self._next] = item
            self._held.pop(self._next - self._keep, None)
            self._next += 1
        if index not in self._held:
            raise IndexError(f"item {index} is no longer held (streamed)")
        return self._held[index]

    def __iter__(self) -> Iterator[T]:
        for index in range(self._count):
            yield self[index]

    def close(self) -> None:
        """Stop reading (closes the iterator, so the input file is closed now)."""
        self._held.clear()
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


__all__ = ["LoadPlan", "MarkerRoom", "Streamed", "Survey"]
