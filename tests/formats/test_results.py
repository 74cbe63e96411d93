"""The .results file: byte-exact layouts, the reader, round trips."""

from __future__ import annotations

import dataclasses
import io
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from mturkmake.errors import ConfigError, FormatError
from mturkmake.formats import results
from mturkmake.formats.answers import Answer
from mturkmake.formats.results import (
    ASSIGNMENT_COLUMNS,
    HIT_COLUMNS,
    AssignmentRecord,
    HitRecord,
    ResultsRow,
    format_clt_date,
    open_results,
    parse_namevaluepairs,
    results_columns,
    write_results,
)
from tests.reference import REFERENCE

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = REFERENCE / "clt-samples"
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def hit(hit_id: str, annotation: str | None, available: int, completed: int) -> HitRecord:
    return HitRecord(
        hit_id=hit_id,
        hit_type_id="TYPE1",
        title="Pick colors",
        description="Choose the colors you see",
        keywords="colors, test",
        reward=Decimal("0.05"),
        creation_time=T0,
        max_assignments=2,
        num_available=available,
        num_pending=0,
        num_completed=completed,
        hit_status="Assignable",
        review_status="NotReviewed",
        annotation=annotation,
        assignment_duration=3600,
        auto_approval_delay=259200,
        expiration=T0 + timedelta(days=3),
    )


def sample_rows() -> list[ResultsRow]:
    """The batch the fixtures describe (tests/formats/fixtures/README.md)."""
    h1 = hit("HIT1", "batch-1", 0, 2)
    a1 = AssignmentRecord(
        assignment_id="ASG1",
        worker_id="WORKER1",
        status="Submitted",
        answers={
            "q1": Answer("q1", free_text='Say "hi", ok'),
            "colors": Answer("colors", selections=("red", "blue")),
            "empty": Answer("empty", free_text=""),
        },
        accept_time=T0 + timedelta(minutes=10),
        submit_time=T0 + timedelta(minutes=12, seconds=30),
        auto_approval_time=T0 + timedelta(days=3, minutes=12, seconds=30),
    )
    a2 = AssignmentRecord(
        assignment_id="ASG2",
        worker_id="WORKER2",
        status="Rejected",
        answers={
            "q1": "tab\there\nnew line",
            "colors": Answer("colors", selections=("red",), other_selection_text="purple"),
            "empty": Answer("empty", selections=()),
            "extra": Answer(
                "extra", uploaded_file_key="uploads/ASG2/photo.jpg", uploaded_file_size=9
            ),
        },
        accept_time=T0 + timedelta(minutes=20),
        submit_time=T0 + timedelta(minutes=21, seconds=5),
        auto_approval_time=T0 + timedelta(days=3, minutes=21, seconds=5),
        rejection_time=T0 + timedelta(hours=1),
        feedback="Too short",
    )
    h2 = hit("HIT2", None, 2, 0)
    return [ResultsRow(h1, a1), ResultsRow(h1, a2), ResultsRow(h2)]


def written(rows: list[ResultsRow], **options: object) -> bytes:
    out = io.StringIO(newline="")
    write_results(out, rows, tz="UTC", **options)  # type: ignore[arg-type]
    return out.getvalue().encode()


def test_byte_exact_results() -> None:
    """No-assignment HIT row, multi-select, OtherSelectionText, quoted tab and newline."""
    got = written(sample_rows(), question_ids=["q1", "colors", "empty"])
    assert got == (FIXTURES / "basic.results").read_bytes()


def test_byte_exact_namevaluepairs() -> None:
    got = written(sample_rows(), question_ids=["q1", "colors", "empty"], namevaluepairs=True)
    assert got == (FIXTURES / "namevaluepairs.results").read_bytes()


def test_question_order_first_then_first_seen() -> None:
    columns = results_columns(sample_rows(), question_ids=["empty", "zzz"])
    answers = [c for c in columns if c.startswith("Answer.")]
    assert answers == ["Answer.empty", "Answer.zzz", "Answer.q1", "Answer.colors", "Answer.extra"]
    assert columns[: len(HIT_COLUMNS) + len(ASSIGNMENT_COLUMNS)] == [
        *HIT_COLUMNS,
        *ASSIGNMENT_COLUMNS,
    ]


def test_answer_prefix_option() -> None:
    columns = results_columns(sample_rows(), answer_prefix="A:")
    assert columns[-4:] == ["A:q1", "A:colors", "A:empty", "A:extra"]


def test_make_mode_adds_input_columns_after_the_answers() -> None:
    rows = [ResultsRow(r.hit, r.assignment, {"image": "a.jpg", "note": "x"}) for r in sample_rows()]
    rows[2] = ResultsRow(rows[2].hit, None, {"image": "b.jpg", "later": "L"})
    data = written(rows, input_columns=["image", "note"])
    table = results.load(io.BytesIO(data), "m.results")
    assert table.header[-7:] == (
        "Answer.q1",
        "Answer.colors",
        "Answer.empty",
        "Answer.extra",
        "Input.image",
        "Input.note",
        "Input.later",
    )
    entries = list(table)
    assert entries[0].inputs() == {"image": "a.jpg", "note": "x", "later": ""}
    assert entries[2].inputs() == {"image": "b.jpg", "note": "", "later": "L"}
    # Without input_columns (CLT mode) no Input.* column appears.
    assert b"Input." not in written(rows)


def test_round_trip_through_the_reader() -> None:
    data = written(sample_rows())
    table = results.load(io.BytesIO(data), "r.results")
    entries = list(table)
    assert [e.line for e in entries] == [2, 3, 5]  # row 2's answer spans two lines
    first, second, empty = entries
    assert first.answers() == {"q1": 'Say "hi", ok', "colors": "red|blue", "empty": "", "extra": ""}
    assert second.answers()["q1"] == "tab\there\nnew line"
    assert second.answers()["extra"] == "uploads/ASG2/photo.jpg"
    assert (first.reject, second.reject, empty.reject) == (False, True, False)
    assert second.feedback == "Too short"
    assert (second.hit_id, second.worker_id, second.status) == ("HIT1", "WORKER2", "Rejected")
    assert empty.assignment_id == ""
    assert table.has_reject_column
    assert table.has_feedback_column


def test_namevaluepairs_round_trip() -> None:
    data = written(sample_rows(), namevaluepairs=True)
    entries = list(results.load(io.BytesIO(data), "n.results"))
    assert entries[0].answers() == {"q1": 'Say "hi", ok', "colors": "red|blue", "empty": ""}
    assert entries[1].answers()["q1"] == "tab\there\nnew line"
    assert entries[2].answers() == {}


def test_parse_namevaluepairs() -> None:
    assert parse_namevaluepairs("none") == {}
    assert parse_namevaluepairs("a=1\tb=x=y\tc=") == {"a": "1", "b": "x=y", "c": ""}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the CLT sample corpus is not at {SAMPLES}")
def test_reads_the_clt_made_results_file() -> None:
    table = open_results(SAMPLES / "samples/external_hit/external_hit.results")
    entries = list(table)
    assert len(entries) == 4
    assigned = list(table.assignments())
    assert [e.assignment_id for e in assigned] == ["2P30HFL42J1PG0QGCVYM3IGFLKXM1M"]
    assert assigned[0].answers() == {"score": "72"}
    assert assigned[0].worker_id == "A23B1FCOF4C2ED"
    assert not assigned[0].reject
    assert entries[1].values["annotation"] == ""


def test_writer_reproduces_a_clt_made_no_assignment_row() -> None:
    """The real CLT row, written from records in the CLT's own zone (EDT)."""
    if not SAMPLES.is_dir():
        pytest.skip(f"the CLT sample corpus is not at {SAMPLES}")
    real = (SAMPLES / "samples/external_hit/external_hit.results").read_bytes().splitlines()
    created = datetime(2013, 4, 26, 21, 33, 32, tzinfo=timezone.utc)
    record = HitRecord(
        hit_id="2J11LY58B72B4V0LKD8D46YF0P18TO",
        hit_type_id="2YTJPPSI2KYI7GAUCYBLP6WJ3BBKQ9",
        title="Try Phylo!",
        description="Move sequences of blocks horizontally in order to create the maximum "
        "number of columns of similar colors. Each color match gives you a bonus.",
        keywords="Phylo, DNA",
        reward="$0.05",
        creation_time=created,
        max_assignments=3,
        num_available=2,
        num_pending=1,
        num_completed=0,
        hit_status="Assignable",
        review_status="NotReviewed",
        annotation=None,
        assignment_duration=3600,
        auto_approval_delay=1296000,
        expiration=created + timedelta(days=3),
    )
    out = io.StringIO(newline="")
    write_results(
        out,
        [ResultsRow(record)],
        question_ids=["score"],
        tz="America/New_York",
        requester_url=results.SANDBOX_REQUESTER_URL,
    )
    lines = out.getvalue().encode().splitlines()
    assert lines[0] == real[0]
    assert lines[1] == real[2]


def test_clt_date_format() -> None:
    moment = datetime(2013, 4, 26, 21, 33, 32, tzinfo=timezone.utc)
    assert format_clt_date(moment, "America/New_York") == "Fri Apr 26 17:33:32 EDT 2013"
    assert format_clt_date(moment, "UTC") == "Fri Apr 26 21:33:32 UTC 2013"
    winter = datetime(2013, 1, 6, 5, 4, 3, tzinfo=timezone.utc)
    assert format_clt_date(winter, "America/New_York") == "Sun Jan 06 00:04:03 EST 2013"


def test_clt_date_default_is_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is Unix-only")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
        assert format_clt_date(moment) == "Thu Jan 01 09:00:00 JST 2026"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_naive_datetimes_and_unknown_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_clt_date(datetime(2026, 1, 1))
    with pytest.raises(ConfigError, match="unknown time zone"):
        write_results(io.StringIO(), sample_rows(), tz="Mars/Olympus")


def test_reward_formats() -> None:
    rows = sample_rows()[2:]
    cases: list[tuple[Decimal | str, bytes]] = [
        (Decimal("1.5"), b'"$1.50"'),
        ("0.10", b'"$0.10"'),
        ("$2.00", b'"$2.00"'),
    ]
    for reward, text in cases:
        row = ResultsRow(dataclasses.replace(rows[0].hit, reward=reward))
        assert text in written([row])


def test_results_file_needs_an_assignmentid_column() -> None:
    with pytest.raises(FormatError) as info:
        results.load(io.BytesIO(b"hitid\treject\nH\ty\n"), "x.results")
    assert info.value.column == "assignmentid"


def test_review_without_reject_column() -> None:
    table = results.load(io.BytesIO(b"assignmentid\tworkerid\nA1\tW\n\t\n"), "r.review")
    assert not table.has_reject_column
    assert [e.assignment_id for e in table.assignments()] == ["A1"]


def test_blank_reject_cell_approves() -> None:
    data = b'assignmentid\treject\tfeedback\nA1\t \t\nA2\tx\t" why "\n'
    first, second = results.load(io.BytesIO(data), "r.review")
    assert not first.reject
    assert second.reject
    assert second.feedback == "why"


def _corpus(pattern: str) -> list[Path]:
    return sorted(SAMPLES.rglob(pattern)) if SAMPLES.is_dir() else []


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the CLT sample corpus is not at {SAMPLES}")
@pytest.mark.parametrize("path", _corpus("*.results"), ids=lambda p: p.name)
def test_every_sample_results_file_parses(path: Path) -> None:
    table = open_results(path)
    entries = list(table)
    assert entries
    assert table.header[: len(HIT_COLUMNS)] == HIT_COLUMNS
    assert all(set(e.values) == set(table.header) for e in entries)
