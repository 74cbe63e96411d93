"""Bad tab files: each is one FormatError naming the file, the line and what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats import workfiles
from mturkmake.formats.inputfile import open_input
from mturkmake.formats.results import open_results
from mturkmake.formats.success import read_success


def _binary(reader: Callable[[Any, str], Any]) -> Callable[[Path], object]:
    def read(path: Path) -> object:
        with path.open("rb") as stream:
            result = reader(stream, str(path))
            return list(result) if not isinstance(result, str) else result

    return read


READERS: dict[str, Callable[[Path], object]] = {
    "input": lambda p: list(open_input(p)),
    "success": _binary(lambda s, n: read_success(s, source=n)),
    "results": lambda p: list(open_results(p)),
    "approve": _binary(lambda s, n: workfiles.read_work_items(s, n, workfiles.APPROVE)),
    "reject": _binary(lambda s, n: workfiles.read_work_items(s, n, workfiles.REJECT)),
    "qualapprove": _binary(
        lambda s, n: workfiles.read_work_items(s, n, workfiles.QUALIFICATION_APPROVE)
    ),
    "qualreject": _binary(
        lambda s, n: workfiles.read_work_items(s, n, workfiles.QUALIFICATION_REJECT)
    ),
    "score": _binary(workfiles.read_score_file),
    "worker": _binary(lambda s, n: workfiles.read_score_file(s, n, require_score=True)),
    "qualid": _binary(workfiles.read_qualification_id),
    "qualrequests": _binary(workfiles.read_qualification_requests),
}

QREQ = b"QualificationTypeId\tQualificationRequestId\tSubjectId\tAnswer\n"


class Case(NamedTuple):
    id: str
    reader: str
    content: bytes
    line: int
    says: str
    column: int | str | None = None


CASES = [
    Case("empty-file", "input", b"", 1, "empty"),
    Case("header-only", "input", b"a\tb\n", 2, "no rows"),
    Case("header-and-blank-lines", "input", b"a\tb\n\n\r\n", 2, "no rows"),
    Case("duplicate-column", "input", b"a\tb\ta\n1\t2\t3\n", 1, "appears twice", "a"),
    Case("empty-column-name", "input", b"a\t\tc\n1\t2\t3\n", 1, "column 2 of the header"),
    Case("trailing-tab-header", "input", b"a\tb\t\n1\t2\t\n", 1, "column 3 of the header"),
    Case("short-row", "input", b"a\tb\tc\n1\t2\t3\n4\t5\n", 3, "no value for: c"),
    Case("long-row", "input", b"a\tb\n1\t2\t3\n", 2, "3 values", 5),
    Case("short-row-after-multiline", "input", b'a\tb\n"x\ny"\t1\nz\n', 4, "1 values"),
    Case("latin1-header", "input", b"caf\xe9\nx\n", 1, "not valid UTF-8", 4),
    Case("latin1-row", "input", b"a\tb\n1\t2\nok\t\xe9t\xe9\n", 3, "0xe9", 4),
    Case("utf16-file", "input", "a\tb\n1\t2\n".encode("utf-16"), 1, "not valid UTF-8", 1),
    Case("unclosed-quote", "input", b'a\tb\n1\t"open\n2\t3\n', 2, "never closes", 3),
    Case("text-after-quote", "input", b'a\tb\n"x"y\t2\n', 2, "after a closing quote", 4),
    Case("bare-cr-line-endings", "input", b"a\tb\r1\t2\r3\t4\r", 1, "bare CR"),
    Case("success-no-hitid", "success", b"hit\ttype\nH\tT\n", 1, "'hitid' column"),
    Case("success-empty-hitid", "success", b"hitid\thittypeid\nH1\tT\n\tT\n", 3, "empty hitid"),
    Case("success-short-row", "success", b"hittypeid\thitid\nT\n", 2, "at least 2"),
    Case("results-no-assignmentid", "results", b'"hitid"\t"reject"\n"H"\t""\n', 1, "column"),
    Case("results-wrong-case", "results", b"AssignmentId\treject\nA\ty\n", 1, "needs a column"),
    Case("results-short-row", "results", b"assignmentid\treject\tfeedback\nA1\ty\n", 2, "3"),
    Case("approve-missing-column", "approve", b"assignmentid\nA1\n", 1, "assignmentIdToApprove"),
    Case("approve-docs-case", "approve", b"assignmentIDToApprove\nA1\n", 1, "needs a column"),
    Case("approve-header-only", "approve", b"assignmentIdToApprove\n", 2, "no rows"),
    Case("reject-given-approve-file", "reject", b"assignmentIdToApprove\nA1\n", 1, "ToReject"),
    Case(
        "qualapprove-bad-value",
        "qualapprove",
        b"qualificationRequestToApprove\tqualificationRequestToApproveValue\nR1\t9x\n",
        2,
        "not a whole number",
        "qualificationRequestToApproveValue",
    ),
    Case("qualreject-case", "qualreject", b"QualificationRequestToReject\nR\n", 1, "needs"),
    Case("score-not-integer", "score", b"workerid\tscore\nW1\t10\nW2\tten\n", 3, "'ten'"),
    Case("score-empty-worker", "score", b"workerid\tscore\n\t10\n", 2, "empty workerid"),
    Case("worker-no-score-column", "worker", b"workerid\nW1\n", 1, "'score'"),
    Case("worker-empty-score", "worker", b"workerid\tscore\nW1\t\n", 2, "no score"),
    Case("qualid-empty-id", "qualid", b"qualtypeid\n \n", 2, "empty"),
    Case("qualid-header-only", "qualid", b"qualtypeid\n", 2, "no rows"),
    Case("qualid-case", "qualid", b"QualTypeId\nQ1\n", 1, "qualtypeid"),
    Case("qualrequests-wrong-header", "qualrequests", b"type\treq\tworker\nQ\tR\tW\n", 1, "not"),
    Case("qualrequests-odd-answers", "qualrequests", QREQ + b"Q\tR\tW\tq1\n", 2, "4 values"),
    Case("qualrequests-bad-quote", "qualrequests", QREQ + b'Q\tR\tW\tq1\t"a"b\n', 2, "quote"),
]


def test_suite_is_large_enough() -> None:
    assert len(CASES) >= 22
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    path = tmp_path / f"{case.id}.tab"
    path.write_bytes(case.content)
    with pytest.raises(FormatError) as info:
        READERS[case.reader](path)
    err = info.value
    assert err.file == str(path)
    assert err.line == case.line
    assert case.says in err.message
    assert err.hint, "every error says what to do"
    if case.column is not None:
        assert err.column == case.column
    text = str(err)
    assert text.startswith(f"{path}:{case.line}")
    assert "\n" not in text
