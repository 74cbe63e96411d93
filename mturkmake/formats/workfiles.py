"""The small CLT work files: approve/reject lists, qualification files, score and worker files.

Column names are exact and case-sensitive, as the CLT code looked them up
(reference/clt-formats.md §3): the AWS docs' ``assignmentIDToApprove`` would not have been
found, and a mis-cased column is reported with a hint naming the right spelling.

Every file is a tab file with a header (:mod:`mturkmake.formats.inputfile`), except the
qualification request output, whose rows grow by two fields per answer. Writers quote only
where needed, so comments and answers with tabs or newlines round-trip (the CLT wrote the
request file unquoted, which broke on such answers).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from mturkmake.errors import FormatError
from mturkmake.formats import inputfile
from mturkmake.formats.inputfile import InputFile, InputRow
from mturkmake.formats.tabfile import SupportsWrite, read_rows, write_row

__all__ = [
    "APPROVE",
    "QUALIFICATION_APPROVE",
    "QUALIFICATION_REJECT",
    "QUALIFICATION_REQUESTS_HEADER",
    "REJECT",
    "IdFile",
    "QualificationRequestRow",
    "ScoreRow",
    "WorkItem",
    "read_qualification_id",
    "read_qualification_requests",
    "read_score_file",
    "read_work_items",
    "write_qualification_id",
    "write_qualification_requests",
    "write_score_file",
    "write_work_items",
]

_Stream = IO[bytes] | IO[str] | Iterable[str]


@dataclass(frozen=True)
class IdFile:
    """The columns of an id list with an optional second value column.

    :param kind: the file's name in messages, e.g. ``"an approve file"``.
    :param id_column: the required id column.
    :param value_column: the optional comment or value column.
    """

    kind: str
    id_column: str
    value_column: str


#: ``approveWork -approvefile``.
APPROVE = IdFile("an approve file", "assignmentIdToApprove", "assignmentIdToApproveComment")
#: ``rejectWork -rejectfile``.
REJECT = IdFile("a reject file", "assignmentIdToReject", "assignmentIdToRejectComment")
#: ``approveQualificationRequests -approvefile``; the value is an integer score.
QUALIFICATION_APPROVE = IdFile(
    "a qualification approve file",
    "qualificationRequestToApprove",
    "qualificationRequestToApproveValue",
)
#: ``rejectQualificationRequests -rejectfile``.
QUALIFICATION_REJECT = IdFile(
    "a qualification reject file",
    "qualificationRequestToReject",
    "qualificationRequestToRejectComment",
)
#: The header of the getQualificationRequests output file.
QUALIFICATION_REQUESTS_HEADER = (
    "QualificationTypeId",
    "QualificationRequestId",
    "SubjectId",
    "Answer",
)


@dataclass(frozen=True)
class WorkItem:
    """One id of an approve/reject file and its comment or value.

    :param value: the comment (or, for a qualification approve file, the score as text);
        ``None`` when the file has no such column (the command then asks once, or uses
        ``-score``).
    :param line: where it was read (0 when built in code); not compared.
    """

    id: str
    value: str | None = None
    line: int = field(default=0, compare=False)

    @property
    def score(self) -> int | None:
        """The value as an integer (qualification approve files); ``None`` when empty."""
        if self.value is None or not self.value.strip():
            return None
        return int(self.value)


def _int_or_error(text: str, source: str, line: int, column: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise FormatError(
            f"{text.strip()!r} is not a whole number",
            file=source,
            line=line,
            column=column,
            hint="write an integer score such as 100, or leave the cell empty",
        ) from None


def read_work_items(stream: _Stream, source: str, kind: IdFile) -> Iterator[WorkItem]:
    """Read an approve, reject or qualification approve/reject file.

    Rows with an empty id are skipped (the CLT skipped them when the comment column exists;
    without it they were blank lines, which are skipped too). Ids are stripped.

    :param kind: :data:`APPROVE`, :data:`REJECT`, :data:`QUALIFICATION_APPROVE` or
        :data:`QUALIFICATION_REJECT`.
    :raises FormatError: a missing or mis-cased id column, short/long rows, no rows, and (for
        qualification approve files) a value that is not an integer.
    """
    table = inputfile.load(stream, source)
    table.require([kind.id_column], what=kind.kind)
    has_value = kind.value_column in table.header
    numeric = kind is QUALIFICATION_APPROVE
    for row in table:
        item_id = row.values[kind.id_column].strip()
        if not item_id:
            continue
        value = row.values[kind.value_column] if has_value else None
        if numeric and value is not None:
            _int_or_error(value, source, row.line, kind.value_column)
        yield WorkItem(item_id, value, row.line)


def write_work_items(
    stream: SupportsWrite, items: Iterable[WorkItem], kind: IdFile, *, with_values: bool
) -> None:
    """Write an approve/reject file; ``with_values`` adds the comment/value column."""
    header = [kind.id_column, kind.value_column] if with_values else [kind.id_column]
    write_row(stream, header, quote="needed")
    for item in items:
        values = [item.id, item.value or ""] if with_values else [item.id]
        write_row(stream, values, quote="needed")


@dataclass(frozen=True)
class ScoreRow:
    """One row of a score file (assignQualification) or worker file (updateQualificationScore).

    :param score: ``None`` when the file has no ``score`` column or the cell is empty (the
        command's ``-score`` applies).
    """

    worker_id: str
    score: int | None = None
    line: int = field(default=0, compare=False)


def read_score_file(
    stream: _Stream, source: str, *, require_score: bool = False
) -> Iterator[ScoreRow]:
    """Read a score file or worker-id file: ``workerid`` and optional ``score`` columns.

    :param require_score: updateQualificationScore needs a score for every worker.
    :raises FormatError: a missing or mis-cased column, an empty workerid, a bad score.
    """
    table = inputfile.load(stream, source)
    table.require(["workerid", "score"] if require_score else ["workerid"], what="a score file")
    has_score = "score" in table.header
    row: InputRow
    for row in table:
        worker = row.values["workerid"].strip()
        if not worker:
            raise FormatError(
                "the row has an empty workerid",
                file=source,
                line=row.line,
                column="workerid",
                hint="put the worker's id in the row or remove it",
            )
        score = _int_or_error(row.values["score"], source, row.line, "score") if has_score else None
        if require_score and score is None:
            raise FormatError(
                "the row has no score",
                file=source,
                line=row.line,
                column="score",
                hint="give every worker an integer score",
            )
        yield ScoreRow(worker, score, row.line)


def write_score_file(stream: SupportsWrite, rows: Iterable[ScoreRow]) -> None:
    """Write a score file (``workerid``, ``score``; an unset score is an empty cell)."""
    write_row(stream, ("workerid", "score"), quote="needed")
    for row in rows:
        write_row(
            stream, (row.worker_id, "" if row.score is None else str(row.score)), quote="needed"
        )


def read_qualification_id(stream: _Stream, source: str) -> str:
    """Read a qualification id file (``<properties>.success``): the ``qualtypeid`` of row 1.

    The same reader serves ``assignQualification -input``, whose file has a ``qualtypeid``
    column among others.

    :raises FormatError: no ``qualtypeid`` column, no row, or an empty id.
    """
    table: InputFile = inputfile.load(stream, source)
    table.require(["qualtypeid"], what="a qualification id file")
    for row in table:
        qual = row.values["qualtypeid"].strip()
        if not qual:
            raise FormatError(
                "the qualtypeid is empty",
                file=source,
                line=row.line,
                column="qualtypeid",
                hint="put the qualification type id below the 'qualtypeid' header",
            )
        return qual
    raise AssertionError("unreachable: load() requires a row")  # pragma: no cover


def write_qualification_id(stream: SupportsWrite, qualification_type_id: str) -> None:
    """Write a qualification id file: ``qualtypeid`` then the id, as createQualificationType."""
    write_row(stream, ("qualtypeid",), quote="never")
    write_row(stream, (qualification_type_id,), quote="never")


@dataclass(frozen=True)
class QualificationRequestRow:
    """One row of the getQualificationRequests output file.

    :param answers: (QuestionIdentifier, value) pairs, in the request's order.
    """

    qualification_type_id: str
    request_id: str
    worker_id: str
    answers: tuple[tuple[str, str], ...] = ()
    line: int = field(default=0, compare=False)


def write_qualification_requests(
    stream: SupportsWrite, rows: Iterable[QualificationRequestRow]
) -> int:
    """Write the header and rows of a getQualificationRequests output; nothing for no rows.

    The CLT appended header and rows on every run: open the file in append mode for that.

    :returns: the number of rows written.
    """
    count = 0
    for row in rows:
        if count == 0:
            write_row(stream, QUALIFICATION_REQUESTS_HEADER, quote="needed")
        values = [row.qualification_type_id, row.request_id, row.worker_id]
        for qid, value in row.answers:
            values += [qid, value]
        write_row(stream, values, quote="needed")
        count += 1
    return count


def read_qualification_requests(stream: _Stream, source: str) -> Iterator[QualificationRequestRow]:
    """Read a getQualificationRequests output file (repeated headers from appends skipped).

    :raises FormatError: a wrong header, a row with fewer than 3 values or an odd number of
        answer values.
    """
    records = read_rows(stream, source=source)
    head = next(records, None)
    if head is None:
        return
    if tuple(head[1]) != QUALIFICATION_REQUESTS_HEADER:
        raise FormatError(
            "this is not a qualification request file",
            file=source,
            line=head[0],
            hint="the first line must be '" + "<TAB>".join(QUALIFICATION_REQUESTS_HEADER) + "'",
        )
    for line, fields in records:
        if fields == [""] or tuple(fields) == QUALIFICATION_REQUESTS_HEADER:
            continue
        if len(fields) < 3 or len(fields) % 2 == 0:
            raise FormatError(
                f"the row has {len(fields)} values",
                file=source,
                line=line,
                hint="write type id, request id, worker id, then a question id and its "
                "answer for each answer",
            )
        pairs = tuple((fields[i], fields[i + 1]) for i in range(3, len(fields), 2))
        yield QualificationRequestRow(fields[0], fields[1], fields[2], pairs, line)
