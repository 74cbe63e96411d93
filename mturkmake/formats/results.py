"""The ``.results`` file (getResults): writer, and the reader reviewResults and approveWork use.

The layout is the CLT's (reference/clt-formats.md §2, checked against the CLT-made
``clt-samples/samples/external_hit/external_hit.results``):

- every value is quoted with doubled inner quotes; a *null* (Java null: a missing annotation,
  the assignment id of a HIT with no assignments, an answer the assignment did not give) is
  an empty unquoted field, while an empty string is ``""``;
- the columns are :data:`HIT_COLUMNS`, :data:`ASSIGNMENT_COLUMNS` up to ``feedback``,
  ``reject``, then ``Answer.<QuestionIdentifier>`` columns: first the identifiers of the
  question (document order), then any others in first-seen order;
- with ``namevaluepairs=True``, one column :data:`NAMEVALUEPAIRS_COLUMN` sits between
  ``feedback`` and ``reject`` instead, holding ``qid=value`` pairs joined by TAB (``none`` for
  a HIT without assignments);
- times use the CLT's ``EEE MMM dd HH:mm:ss zzz yyyy`` in English, in a chosen zone;
- a HIT with no assignments still gets one row.

Where the CLT had bugs, mturkmake does better (documented departures):

- a free-text answer holding a TAB is written quoted like any value (the CLT dropped the row);
- an uploaded file's answer is its UploadedFileKey (the CLT wrote a download URL ending in the
  literal ``emptyanswer``);
- make mode adds ``Input.<column>`` columns after the answers (the raw input values, as in
  MTurk's batch CSVs); CLT readers look columns up by name and ignore them.

Lines end in LF on every platform (the CLT used the JVM's line separator).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import IO, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mturkmake.errors import ConfigError
from mturkmake.formats import inputfile
from mturkmake.formats.inputfile import InputFile, InputRow
from mturkmake.formats.tabfile import SupportsWrite, write_row

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "HIT_COLUMNS",
    "NAMEVALUEPAIRS_COLUMN",
    "PRODUCTION_REQUESTER_URL",
    "SANDBOX_REQUESTER_URL",
    "AnswerLike",
    "AssignmentRecord",
    "HitRecord",
    "ResultsEntry",
    "ResultsFile",
    "ResultsRow",
    "format_clt_date",
    "load",
    "open_results",
    "parse_namevaluepairs",
    "results_columns",
    "write_results",
]

#: The HIT columns, in the CLT's order.
HIT_COLUMNS = (
    "hitid", "hittypeid", "title", "description", "keywords", "reward", "creationtime",
    "assignments", "numavailable", "numpending", "numcomplete", "hitstatus", "reviewstatus",
    "annotation", "assignmentduration", "autoapprovaldelay", "hitlifetime", "viewhit",
)  # fmt: skip
#: The assignment columns, in the CLT's order (autoapprovaltime before the accept time).
ASSIGNMENT_COLUMNS = (
    "assignmentid", "workerid", "assignmentstatus", "autoapprovaltime", "assignmentaccepttime",
    "assignmentsubmittime", "assignmentapprovaltime", "assignmentrejecttime", "deadline",
    "feedback", "reject",
)  # fmt: skip
#: The single answers column of ``getResults -namevaluepairs``.
NAMEVALUEPAIRS_COLUMN = "answers[question_id answer_value]"
PRODUCTION_REQUESTER_URL = "https://requester.mturk.com"
SANDBOX_REQUESTER_URL = "https://requestersandbox.mturk.com"

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AnswerLike(Protocol):
    """An answer that knows its CLT cell, e.g. :class:`mturkmake.formats.answers.Answer`.

    ``clt_value`` follows the CLT: OtherSelectionText wins over the selections, selections
    are joined with ``|``; for an upload it is the UploadedFileKey (not the CLT's URL).
    """

    @property
    def clt_value(self) -> str:
        """The text written in the ``.results`` cell."""
        ...


@dataclass(frozen=True)
class HitRecord:
    """The HIT part of a results row (the service's HIT, as getResults saw it).

    :param reward: the amount (``Decimal("0.05")``, ``"0.05"``) or an already formatted
        price (``"$0.05"``); written as ``$0.05``.
    :param expiration: the HIT's expiration time, written in the ``hitlifetime`` column as
        the CLT did.
    :param annotation: ``None`` when the HIT has none (written as a null).
    """

    hit_id: str
    hit_type_id: str
    title: str
    description: str
    keywords: str
    reward: Decimal | str
    creation_time: datetime
    max_assignments: int
    num_available: int
    num_pending: int
    num_completed: int
    hit_status: str
    review_status: str
    annotation: str | None
    assignment_duration: int
    auto_approval_delay: int
    expiration: datetime


@dataclass(frozen=True)
class AssignmentRecord:
    """The assignment part of a results row.

    :param answers: question identifier → answer, in the answer document's order; a value
        is an :class:`AnswerLike` (``formats.answers.Answer``) or its cell text.
    :param feedback: the RequesterFeedback, if any.
    """

    assignment_id: str
    worker_id: str
    status: str
    answers: Mapping[str, AnswerLike | str] = field(default_factory=dict)
    auto_approval_time: datetime | None = None
    accept_time: datetime | None = None
    submit_time: datetime | None = None
    approval_time: datetime | None = None
    rejection_time: datetime | None = None
    deadline: datetime | None = None
    feedback: str | None = None


@dataclass(frozen=True)
class ResultsRow:
    """One line of a ``.results`` file.

    :param assignment: ``None`` for a HIT without assignments (it still gets a row).
    :param inputs: the input row the HIT was made from (raw values); written only when the
        writer is given ``input_columns``.
    """

    hit: HitRecord
    assignment: AssignmentRecord | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)


def _zone(tz: str | None) -> tzinfo | None:
    if tz is None:
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {tz!r}",
            hint="set results_timezone to an IANA name such as 'UTC' or 'America/New_York'",
        ) from None


def format_clt_date(value: datetime, tz: str | tzinfo | None = None) -> str:
    """Format an aware datetime as the CLT did: ``Fri Apr 26 17:33:32 EDT 2013``.

    :param tz: an IANA zone name, a tzinfo, or ``None`` for the local zone. Day and month
        names are English whatever the locale (Java's default locale was English on the
        CLT's hosts; a locale-dependent ``strftime`` would make files differ by machine).
    :raises ValueError: for a naive datetime (a programming error: times must be aware).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: results times must be timezone-aware")
    zone = _zone(tz) if isinstance(tz, str) else tz
    local = value.astimezone(zone)
    return (
        f"{_DAYS[local.weekday()]} {_MONTHS[local.month - 1]} {local.day:02d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {local.tzname()} {local.year}"
    )


def _price(reward: Decimal | str) -> str:
    if isinstance(reward, str):
        if reward.startswith("$"):
            return reward
        reward = Decimal(reward)
    return f"${reward:.2f}"


def results_columns(
    rows: Iterable[ResultsRow],
    *,
    question_ids: Sequence[str] = (),
    answer_prefix: str = "Answer.",
    namevaluepairs: bool = False,
    input_columns: Sequence[str] | None = None,
) -> list[str]:
    """The header :func:`write_results` writes for ``rows`` (see the module docstring)."""
    qids, inputs = _seen(rows, question_ids, input_columns)
    return _header(qids, inputs, answer_prefix, namevaluepairs)


def _header(
    qids: Sequence[str], inputs: Sequence[str] | None, answer_prefix: str, namevaluepairs: bool
) -> list[str]:
    base = [*HIT_COLUMNS, *ASSIGNMENT_COLUMNS]
    if namevaluepairs:
        base.insert(base.index("reject"), NAMEVALUEPAIRS_COLUMN)
    else:
        base += [answer_prefix + q for q in qids]
    if inputs is not None:
        base += ["Input." + c for c in inputs]
    return base


def _seen(
    rows: Iterable[ResultsRow], question_ids: Sequence[str], input_columns: Sequence[str] | None
) -> tuple[list[str], list[str] | None]:
    """The answer columns and (make mode) the input columns, in their column order."""
    # dicts as ordered sets: the question's order first, then first-seen order.
    qids = dict.fromkeys(question_ids)
    known_inputs = dict.fromkeys(input_columns or ())
    extra: dict[str, None] = {}
    for row in rows:
        if row.assignment is not None:
            qids.update(dict.fromkeys(row.assignment.answers))
        if input_columns is not None:
            extra.update((k, None) for k in row.inputs if k not in known_inputs)
    if input_columns is None:
        return list(qids), None
    return list(qids), [*known_inputs, *extra]


def write_results(
    stream: SupportsWrite,
    rows: Iterable[ResultsRow],
    *,
    question_ids: Sequence[str] = (),
    tz: str | None = None,
    answer_prefix: str = "Answer.",
    namevaluepairs: bool = False,
    input_columns: Sequence[str] | None = None,
    requester_url: str = PRODUCTION_REQUESTER_URL,
) -> None:
    """Write a ``.results`` file.

    The rows are kept in memory to know every answer column before the header (the CLT
    rewrote its header at the end instead); write them in the order wanted: HITs in
    ``.success`` order, each HIT's assignments by submit time.

    :param question_ids: the QuestionIdentifiers of the first HIT's merged question, in
        document order; answers to other identifiers get columns after them, first-seen.
    :param tz: the zone for times (config ``results_timezone``): IANA name, ``None`` = local.
    :param answer_prefix: the CLT's ``-answerPrefix``.
    :param namevaluepairs: the CLT's ``-namevaluepairs`` layout.
    :param input_columns: make mode: the input header; adds ``Input.<column>`` columns.
    :param requester_url: the requester site for ``viewhit`` (sandbox or production).
    :raises ConfigError: an unknown ``tz``.
    """
    rows = list(rows)
    zone = _zone(tz)
    qids, inputs = _seen(rows, question_ids, input_columns)
    write_row(stream, _header(qids, inputs, answer_prefix, namevaluepairs), quote="always")
    if namevaluepairs:
        qids = []
    view = requester_url.rstrip("/") + "/mturk/manageHIT?HITId="
    for row in rows:
        write_row(
            stream,
            _cells(
                row,
                zone=zone,
                view=view,
                qids=qids,
                namevaluepairs=namevaluepairs,
                inputs=inputs,
            ),
            quote="always",
        )


def _date(value: datetime | None, zone: tzinfo | None) -> str:
    return "" if value is None else format_clt_date(value, zone)


def _cells(
    row: ResultsRow,
    *,
    zone: tzinfo | None,
    view: str,
    qids: Sequence[str],
    namevaluepairs: bool,
    inputs: Sequence[str] | None,
) -> list[str | None]:
    hit = row.hit
    cells: list[str | None] = [
        hit.hit_id, hit.hit_type_id, hit.title, hit.description, hit.keywords,
        _price(hit.reward), _date(hit.creation_time, zone), str(hit.max_assignments),
        str(hit.num_available), str(hit.num_pending), str(hit.num_completed), hit.hit_status,
        hit.review_status, hit.annotation, str(hit.assignment_duration),
        str(hit.auto_approval_delay), _date(hit.expiration, zone), view + hit.hit_id,
    ]  # fmt: skip
    a = row.assignment
    if a is None:
        # As the CLT: null ids, "" for the other assignment fields, null answers.
        cells += [None, None] + [""] * 8
        if namevaluepairs:
            cells.append("none")
        cells.append("")
        cells += [None] * len(qids)
    else:
        cells += [
            a.assignment_id, a.worker_id, a.status, _date(a.auto_approval_time, zone),
            _date(a.accept_time, zone), _date(a.submit_time, zone),
            _date(a.approval_time, zone), _date(a.rejection_time, zone),
            _date(a.deadline, zone), a.feedback or "",
        ]  # fmt: skip
        texts = {q: v if isinstance(v, str) else v.clt_value for q, v in a.answers.items()}
        if namevaluepairs:
            cells.append("\t".join(f"{q}={v}" for q, v in texts.items()))
        cells.append("y" if a.status == "Rejected" else "")
        cells += [texts.get(q) for q in qids]
    if inputs is not None:
        cells += [row.inputs.get(c) for c in inputs]
    return cells


def parse_namevaluepairs(cell: str) -> dict[str, str]:
    """Split a ``-namevaluepairs`` cell into question identifier → answer.

    ``none`` (a HIT without assignments) gives no answers. A piece without ``=`` is taken
    as the continuation of the previous answer (an answer that itself held a TAB).
    """
    answers: dict[str, str] = {}
    if cell in ("", "none"):
        return answers
    last: str | None = None
    for piece in cell.split("\t"):
        name, eq, value = piece.partition("=")
        if eq and name:
            answers[name] = value
            last = name
        elif last is not None:
            answers[last] += "\t" + piece
    return answers


@dataclass(frozen=True)
class ResultsEntry:
    """One row of a ``.results`` (or hand-edited ``.review``) file, as reviewResults reads it.

    :param line: the 1-based line where the row starts.
    :param values: every column, by name (hand-made columns included).
    """

    line: int
    values: Mapping[str, str]

    @property
    def assignment_id(self) -> str:
        """The assignment id; empty on the row of a HIT without assignments."""
        return self.values.get("assignmentid", "").strip()

    @property
    def hit_id(self) -> str:
        """The HIT id (empty when the file lacks the column)."""
        return self.values.get("hitid", "").strip()

    @property
    def worker_id(self) -> str:
        """The worker id (empty when absent)."""
        return self.values.get("workerid", "").strip()

    @property
    def status(self) -> str:
        """The assignment status as written (``Submitted``, ``Approved``, ``Rejected``)."""
        return self.values.get("assignmentstatus", "").strip()

    @property
    def reject(self) -> bool:
        """Whether the row is marked for rejection: a non-blank ``reject`` cell.

        The CLT rejected on any non-empty cell; a cell of spaces only counts as empty here,
        since a stray space is not a decision to withhold pay.
        """
        return bool(self.values.get("reject", "").strip())

    @property
    def feedback(self) -> str:
        """The ``feedback`` cell (the reason given to the worker), stripped."""
        return self.values.get("feedback", "").strip()

    def answers(self, answer_prefix: str = "Answer.") -> dict[str, str]:
        """Question identifier → answer cell, from ``Answer.*`` or the namevaluepairs column."""
        if NAMEVALUEPAIRS_COLUMN in self.values:
            return parse_namevaluepairs(self.values[NAMEVALUEPAIRS_COLUMN])
        n = len(answer_prefix)
        return {k[n:]: v for k, v in self.values.items() if k.startswith(answer_prefix)}

    def inputs(self) -> dict[str, str]:
        """The ``Input.*`` columns (make mode), by input column name."""
        return {k[6:]: v for k, v in self.values.items() if k.startswith("Input.")}


class ResultsFile:
    """A ``.results`` file opened for reading: its header and its streamed rows.

    :param source: the file name used in messages.
    :param header: the column names.
    :param has_reject_column: whether rows can be marked (reviewResults without it asks once
        and approves everything, as the CLT did).
    """

    def __init__(self, table: InputFile) -> None:
        table.require(["assignmentid"], what="a results file")
        self._table = table
        self.source = table.source
        self.header = table.header
        self.has_reject_column = "reject" in table.header
        self.has_feedback_column = "feedback" in table.header

    def __iter__(self) -> Iterator[ResultsEntry]:
        return self.entries()

    def entries(self) -> Iterator[ResultsEntry]:
        """Every row, the rows of HITs without assignments included."""
        row: InputRow
        for row in self._table.rows():
            yield ResultsEntry(row.line, row.values)

    def assignments(self) -> Iterator[ResultsEntry]:
        """The rows that name an assignment (empty assignment ids are skipped, as the CLT)."""
        return (e for e in self.entries() if e.assignment_id)


def load(stream: IO[bytes] | IO[str] | Iterable[str], source: str) -> ResultsFile:
    """Read a ``.results``/``.review`` file from a stream (rows readable once).

    :raises FormatError: empty file, bad header, no ``assignmentid`` column; rows with the
        wrong number of values raise while iterating.
    """
    return ResultsFile(inputfile.load(stream, source, require_rows=False))


def open_results(path: str | Path) -> ResultsFile:
    """Open a ``.results``/``.review`` file by path (rows can be read more than once)."""
    return ResultsFile(inputfile.open_input(path, require_rows=False))
