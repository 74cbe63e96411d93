"""The .success and .failure files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats.success import (
    SuccessRow,
    read_failure,
    read_success,
    write_failure,
    write_success,
)
from tests.reference import REFERENCE

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = REFERENCE / "clt-samples"


def read(data: bytes) -> list[SuccessRow]:
    return list(read_success(io.BytesIO(data), source="x.success"))


def test_writer_matches_the_clt_bytes() -> None:
    out = io.StringIO(newline="")
    write_success(out, [SuccessRow("HIT1", "TYPE1"), SuccessRow("HIT2", "TYPE1")])
    assert out.getvalue().encode() == (FIXTURES / "basic.success").read_bytes()
    assert out.getvalue().startswith("hitid\thittypeid\n")


def test_round_trip_keeps_lines() -> None:
    rows = [SuccessRow(f"HIT{i}", "T") for i in range(5)]
    out = io.StringIO(newline="")
    write_success(out, rows)
    back = read(out.getvalue().encode())
    assert back == rows
    assert [r.line for r in back] == [2, 3, 4, 5, 6]


def test_empty_batch_writes_the_header_only() -> None:
    out = io.StringIO(newline="")
    write_success(out, [])
    assert out.getvalue() == "hitid\thittypeid\n"
    assert read(out.getvalue().encode()) == []
    assert read(b"") == []


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the CLT sample corpus is not at {SAMPLES}")
def test_reads_the_clt_made_success_file() -> None:
    path = SAMPLES / "samples/external_hit/external_hit.success"
    with path.open("rb") as stream:
        rows = list(read_success(stream, source=str(path)))
    assert len(rows) == 4
    assert rows[0] == SuccessRow("2FQE4BLYHVI8MJA7PEL8GNEZ05XU0F", "2YTJPPSI2KYI7GAUCYBLP6WJ3BBKQ9")
    assert {r.hit_type_id for r in rows} == {"2YTJPPSI2KYI7GAUCYBLP6WJ3BBKQ9"}


def test_update_hits_appended_headers_are_skipped() -> None:
    data = b"hitid\thittypeid\nH1\tT2\nhitid\thittypeid\nH2\tT2\n"
    assert read(data) == [SuccessRow("H1", "T2"), SuccessRow("H2", "T2")]


def test_extra_columns_other_order_and_case_are_accepted() -> None:
    data = b"HITTypeId\tnote\tHITId\r\nT1\tfirst\tH1\r\n\r\nT1\t\tH2\r\n"
    assert read(data) == [SuccessRow("H1", "T1"), SuccessRow("H2", "T1")]


def test_hitid_only_file() -> None:
    assert read(b"hitid\nH1\n") == [SuccessRow("H1", "")]


def test_short_row_names_its_line() -> None:
    with pytest.raises(FormatError) as info:
        read(b"hitid\thittypeid\nH1\tT\nH2\n")
    assert info.value.line == 3


def test_failure_file_keeps_the_input_header_and_round_trips() -> None:
    header = ["image", "caption"]
    rows = [["a.jpg", 'He said "no"'], ["b.jpg", "two\nlines\tand a tab"]]
    out = io.StringIO(newline="")
    write_failure(out, header, rows)
    text = out.getvalue()
    assert text.startswith("image\tcaption\n")
    back = read_failure(io.BytesIO(text.encode()), "x.failure")
    assert back.header == ("image", "caption")
    assert [[r.values[c] for c in header] for r in back] == rows


def test_failure_file_from_mappings_uses_header_order() -> None:
    out = io.StringIO(newline="")
    write_failure(out, ["b", "a"], [{"a": "1", "b": "2"}])
    assert out.getvalue() == "b\ta\n2\t1\n"


def _corpus(pattern: str) -> list[Path]:
    return sorted(SAMPLES.rglob(pattern)) if SAMPLES.is_dir() else []


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the CLT sample corpus is not at {SAMPLES}")
@pytest.mark.parametrize("path", _corpus("*.success"), ids=lambda p: p.name)
def test_every_sample_success_file_parses(path: Path) -> None:
    with path.open("rb") as stream:
        rows = list(read_success(stream, source=str(path)))
    lines = [ln for ln in path.read_bytes().splitlines()[1:] if ln]
    assert [r.hit_id for r in rows] == [ln.split(b"\t")[0].decode() for ln in lines]
