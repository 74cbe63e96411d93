"""Approve/reject files, qualification files, score and worker files."""

from __future__ import annotations

import io

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats.workfiles import (
    APPROVE,
    QUALIFICATION_APPROVE,
    QUALIFICATION_REJECT,
    REJECT,
    IdFile,
    QualificationRequestRow,
    ScoreRow,
    WorkItem,
    read_qualification_id,
    read_qualification_requests,
    read_score_file,
    read_work_items,
    write_qualification_id,
    write_qualification_requests,
    write_score_file,
    write_work_items,
)


def stream(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


@pytest.mark.parametrize("kind", [APPROVE, REJECT, QUALIFICATION_REJECT])
@pytest.mark.parametrize("with_values", [True, False])
def test_work_items_round_trip(kind: IdFile, with_values: bool) -> None:
    items = [WorkItem("A1", 'Great\twork, "thanks"'), WorkItem("A2", "two\nlines")]
    if not with_values:
        items = [WorkItem(i.id) for i in items]
    out = io.StringIO(newline="")
    write_work_items(out, items, kind, with_values=with_values)
    assert out.getvalue().split("\n", 1)[0].split("\t")[0] == kind.id_column
    back = list(read_work_items(stream(out.getvalue()), "f", kind))
    assert back == items
    assert back[0].line == 2


def test_clt_column_names_are_exact() -> None:
    assert APPROVE.id_column == "assignmentIdToApprove"
    assert APPROVE.value_column == "assignmentIdToApproveComment"
    assert REJECT.id_column == "assignmentIdToReject"
    assert REJECT.value_column == "assignmentIdToRejectComment"
    assert QUALIFICATION_APPROVE.value_column == "qualificationRequestToApproveValue"
    assert QUALIFICATION_REJECT.value_column == "qualificationRequestToRejectComment"


def test_approve_file_with_quoted_comments_and_empty_ids() -> None:
    text = (
        "assignmentIdToApprove\tassignmentIdToApproveComment\n"
        'A1\t"Nice, ""really"""\n\tskip\n A2 \t\n'
    )
    items = list(read_work_items(stream(text), "a.approve", APPROVE))
    assert items == [WorkItem("A1", 'Nice, "really"'), WorkItem("A2", "")]
    assert [i.line for i in items] == [2, 4]


def test_docs_spelling_is_refused_with_a_hint() -> None:
    with pytest.raises(FormatError) as info:
        list(read_work_items(stream("assignmentIDToApprove\nA1\n"), "a.approve", APPROVE))
    assert info.value.column == "assignmentIdToApprove"
    assert "rename column 'assignmentIDToApprove'" in (info.value.hint or "")


def test_qualification_approve_values_are_integers() -> None:
    text = "qualificationRequestToApprove\tqualificationRequestToApproveValue\nR1\t90\nR2\t\n"
    items = list(read_work_items(stream(text), "q", QUALIFICATION_APPROVE))
    assert [(i.id, i.score) for i in items] == [("R1", 90), ("R2", None)]
    out = io.StringIO(newline="")
    write_work_items(out, items, QUALIFICATION_APPROVE, with_values=True)
    assert list(read_work_items(stream(out.getvalue()), "q", QUALIFICATION_APPROVE)) == items


def test_score_file_round_trip() -> None:
    rows = [ScoreRow("W1", 100), ScoreRow("W2", None), ScoreRow("W3", -5)]
    out = io.StringIO(newline="")
    write_score_file(out, rows)
    assert out.getvalue() == "workerid\tscore\nW1\t100\nW2\t\nW3\t-5\n"
    assert list(read_score_file(stream(out.getvalue()), "s")) == rows


def test_worker_file_without_score_column() -> None:
    rows = list(read_score_file(stream("workerid\nW1\nW2\n"), "w"))
    assert rows == [ScoreRow("W1"), ScoreRow("W2")]
    with pytest.raises(FormatError, match="needs a column 'score'"):
        list(read_score_file(stream("workerid\nW1\n"), "w", require_score=True))


def test_qualification_id_file_is_byte_exact() -> None:
    out = io.StringIO(newline="")
    write_qualification_id(out, "3ABCDEFGHIJKLMNOPQRST")
    assert out.getvalue() == "qualtypeid\n3ABCDEFGHIJKLMNOPQRST\n"
    assert read_qualification_id(stream(out.getvalue()), "q.properties.success") == (
        "3ABCDEFGHIJKLMNOPQRST"
    )


def test_qualification_id_from_an_input_with_more_columns() -> None:
    text = "note\tqualtypeid\r\nx\tQ1\r\ny\tQ2\r\n"
    assert read_qualification_id(stream(text), "in") == "Q1"


def test_qualification_requests_round_trip_and_append() -> None:
    rows = [
        QualificationRequestRow("Q", "R1", "W1", (("q1", "true"), ("q2", "a\tb"))),
        QualificationRequestRow("Q", "R2", "W2"),
    ]
    out = io.StringIO(newline="")
    assert write_qualification_requests(out, rows) == 2
    assert write_qualification_requests(out, rows[:1]) == 1  # a second run appends
    text = out.getvalue()
    assert text.startswith("QualificationTypeId\tQualificationRequestId\tSubjectId\tAnswer\n")
    assert text.count("QualificationTypeId") == 2
    back = list(read_qualification_requests(stream(text), "r"))
    assert back == [*rows, rows[0]]
    assert [r.line for r in back] == [2, 3, 5]


def test_no_requests_writes_nothing() -> None:
    out = io.StringIO(newline="")
    assert write_qualification_requests(out, []) == 0
    assert out.getvalue() == ""
    assert list(read_qualification_requests(stream(""), "r")) == []
