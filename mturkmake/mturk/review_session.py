"""The ``%.review`` file a review session writes, one click at a time.

``%.review`` stays what it always was — a copy of ``%.results`` whose ``reject`` and
``feedback`` columns the ``reject-column`` evaluator reads — so a review begun on the page can
be finished in a spreadsheet, and the reverse. The session writes:

- approved: ``reject`` blank, ``feedback`` what the reviewer typed (workers see it);
- rejected: ``reject`` = ``y`` (as the CLT marks rejected work), ``feedback`` the reason —
  required: a rejection without a reason is refused before anything is written;
- not reached yet: ``reject`` = ``pending``, which ``reject-column`` leaves undecided, so a
  partial review never becomes a mass approval.

Rows of work decided already (the ledger, or MTurk's own statuses) are copied as they are.
Every decision rewrites the whole file atomically (temporary file, fsync, rename) *before* the
page is told it was saved: killing the process loses nothing already acknowledged. Nothing
here talks to MTurk; ``mturkmake BATCH.approved`` sends the decisions.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mturkmake.core.fsio import atomic_write
from mturkmake.errors import UsageError
from mturkmake.formats.results import open_results
from mturkmake.formats.tabfile import write_row
from mturkmake.mturk.evaluation import (
    FEEDBACK_COLUMN,
    MAX_FEEDBACK_CHARS,
    PENDING_MARK,
    REJECT_COLUMN,
    is_pending,
)

__all__ = ["DECISIONS", "Mark", "ReviewFile"]

#: What a reviewer can say about one assignment.
DECISIONS = ("approve", "reject", "pending")
#: The ``reject`` cell of a rejection (the CLT's mark for rejected work).
REJECT_MARK = "y"


@dataclass(frozen=True)
class Mark:
    """The reviewer's decision on one assignment."""

    decision: str
    feedback: str = ""


def _mark_of(row: Mapping[str, str]) -> Mark:
    """How an existing ``%.review`` row reads (as ``reject-column`` reads it)."""
    reject = row.get(REJECT_COLUMN, "")
    feedback = row.get(FEEDBACK_COLUMN, "").strip()
    if is_pending(row):
        return Mark("pending")
    if reject.strip():
        return Mark("reject", feedback)
    return Mark("approve", feedback)


class ReviewFile:
    """``%.review`` for one session: the results' rows, the reviewer's marks on the open ones.

    :param results: the ``%.results`` file the rows are copied from.
    :param path: the ``%.review`` file to write.
    :param open_ids: the assignments the reviewer decides (Submitted, undecided).
    :param resume: marks read from an existing ``%.review`` are kept (a session continued,
        or a review begun in a spreadsheet); otherwise every open assignment starts pending.
    """

    def __init__(
        self, results: Path, path: Path, open_ids: Sequence[str], *, resume: bool = True
    ) -> None:
        table = open_results(results)
        self.path = path
        self.header = list(table.header)
        for column in (FEEDBACK_COLUMN, REJECT_COLUMN):
            if column not in self.header:
                self.header.append(column)
        self.rows = [dict(e.values) for e in table.entries()]
        self.open_ids = list(dict.fromkeys(open_ids))
        self._open = set(self.open_ids)
        earlier: dict[str, Mark] = {}
        if resume and path.exists():
            earlier = {
                e.assignment_id: _mark_of(e.values) for e in open_results(path).assignments()
            }
        self.marks = {a: earlier.get(a, Mark("pending")) for a in self.open_ids}
        self._lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        """How many open assignments are approved, rejected and pending."""
        found = dict.fromkeys(DECISIONS, 0)
        for mark in self.marks.values():
            found[mark.decision] += 1
        return found

    def decide(self, assignment_id: str, decision: str, feedback: str = "") -> Mark:
        """Record one decision and write the file before returning.

        :raises UsageError: not an open assignment of this review, an unknown decision, a
            rejection without a reason, or a reason longer than MTurk accepts.
        """
        feedback = feedback.strip()
        if assignment_id not in self._open:
            raise UsageError(
                f"{assignment_id} is not an open assignment of this review",
                hint="reload the page",
            )
        if decision not in DECISIONS:
            raise UsageError(f"unknown decision {decision!r}", hint="approve, reject or pending")
        if decision == "reject" and not feedback:
            raise UsageError(
                "a rejection needs feedback: the worker is told why",
                hint="write the reason in the feedback box",
            )
        if len(feedback) > MAX_FEEDBACK_CHARS:
            raise UsageError(
                f"feedback is {len(feedback)} characters; MTurk takes at most {MAX_FEEDBACK_CHARS}",
                hint="shorten it",
            )
        mark = Mark(decision, "" if decision == "pending" else feedback)
        with self._lock:
            self.marks[assignment_id] = mark
            self._write()
        return mark

    def write(self) -> None:
        """Write the file as the marks stand (the session's first write)."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        out = io.StringIO()
        write_row(out, self.header, quote="always")
        for row in self.rows:
            values = dict(row)
            mark = self.marks.get(values.get("assignmentid", "").strip())
            if mark is not None:
                values[REJECT_COLUMN] = {
                    "approve": "",
                    "reject": REJECT_MARK,
                    "pending": PENDING_MARK,
                }[mark.decision]
                values[FEEDBACK_COLUMN] = mark.feedback
            write_row(out, [values.get(c, "") for c in self.header], quote="always")
        atomic_write(self.path, out.getvalue().encode("utf-8"))
