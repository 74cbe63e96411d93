"""Input files: header, streamed rows, the CLT samples."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats import inputfile
from mturkmake.formats.inputfile import InputRow, open_input
from mturkmake.formats.success import write_failure
from mturkmake.formats.tabfile import MAX_LINE_BYTES
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples"
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"the CLT sample corpus is not at {SAMPLES}"
)


def sample_inputs() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted([*SAMPLES.rglob("*.input"), *SAMPLES.rglob("*.tab")])


@needs_samples
def test_the_corpus_has_input_files() -> None:
    assert len(sample_inputs()) >= 8  # 7 sample .input files + etc/test/testInput.tab


@needs_samples
@pytest.mark.parametrize("path", sample_inputs(), ids=lambda p: p.name)
def test_every_sample_input_parses(path: Path) -> None:
    table = open_input(path)
    rows = list(table)
    assert rows, path
    raw_lines = path.read_bytes().splitlines()
    # One row per non-blank line after the header (no sample quotes anything).
    assert len(rows) == len([ln for ln in raw_lines[1:] if ln])
    assert table.header == tuple(raw_lines[0].decode().split("\t"))
    assert all(set(r.values) == set(table.header) for r in rows)


@needs_samples
def test_simple_survey_values() -> None:
    rows = list(open_input(SAMPLES / "samples/simple_survey/simple_survey.input"))
    assert rows == [
        InputRow(
            2,
            {
                "question": "What is your political party affiliation?",
                "choice1": "Republican",
                "choice2": "Democrat",
            },
        )
    ]


def test_open_input_can_be_read_twice(tmp_path: Path) -> None:
    path = tmp_path / "a.input"
    path.write_bytes(b"x\ty\n1\t2\n3\t4\n\n\r\n")
    table = open_input(path)
    first = [(r.line, dict(r.values)) for r in table]
    assert first == [(2, {"x": "1", "y": "2"}), (3, {"x": "3", "y": "4"})]
    assert [(r.line, dict(r.values)) for r in table.rows()] == first
    assert table.has_rows


def test_rows_equal_to_the_header_are_skipped_as_the_clt_did(tmp_path: Path) -> None:
    path = tmp_path / "cat.input"
    path.write_bytes(b"a\tb\na\tb\n1\t2\na\tb\n3\t4\n")
    assert [r.line for r in open_input(path)] == [3, 5]
    assert [r.line for r in inputfile.load(io.BytesIO(path.read_bytes()), "s")] == [3, 5]


def test_load_reads_a_stream_once() -> None:
    table = inputfile.load(io.BytesIO(b"x\n1\n2\n"), "s.input")
    assert [r.values["x"] for r in table] == ["1", "2"]
    with pytest.raises(RuntimeError, match="once"):
        list(table)


def test_header_only_allowed_when_rows_not_required(tmp_path: Path) -> None:
    path = tmp_path / "h.input"
    path.write_bytes(b"a\tb\n\n")
    table = open_input(path, require_rows=False)
    assert table.header == ("a", "b")
    assert not table.has_rows
    assert list(table) == []


def test_values_are_raw_not_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "r.input"
    path.write_bytes(b'a\tb\n  x \t"<b>&amp;"\n')
    assert dict(next(iter(open_input(path))).values) == {"a": "  x ", "b": "<b>&amp;"}


def test_require_names_the_missing_column_and_case(tmp_path: Path) -> None:
    path = tmp_path / "r.input"
    path.write_bytes(b"HITId\tother\n1\t2\n")
    table = open_input(path)
    table.require(["other"])
    with pytest.raises(FormatError) as info:
        table.require(["hitid"], what="a test file")
    assert info.value.column == "hitid"
    assert "case-sensitive" in (info.value.hint or "")
    with pytest.raises(FormatError, match="found: HITId, other"):
        table.require(["nothere"])


def test_failure_file_round_trips_as_input(tmp_path: Path) -> None:
    path = tmp_path / "f.failure"
    header = ["q", "note"]
    rows = [{"q": 'say "hi"', "note": "tab\there"}, {"q": "multi\nline", "note": ""}]
    with path.open("w", encoding="utf-8", newline="") as out:
        write_failure(out, header, rows)
    assert [dict(r.values) for r in open_input(path)] == rows


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no such file"):
        open_input(tmp_path / "nope.input")


def test_benchmark_shows_flat_memory(tmp_path: Path) -> None:
    """benchmarks/read_input.py, small: peak memory must not grow with the row count."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "read_input.py"
    done = subprocess.run(
        [sys.executable, str(script), "--rows", "20000", "--small", "5000", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rows/s" in done.stdout
    ratio = float(done.stdout.rsplit(":", 1)[1])
    assert ratio < 1.5


@pytest.mark.parametrize(
    ("content", "line"),
    [(b"x\ty\n1\t2\n\n3\t4\n", 3), (b"x\ty\n\r\n1\t2\n", 2), (b"x\ty\n1\t2\n\n\nx\ty\n", 3)],
)
def test_a_blank_line_between_rows_is_an_error(tmp_path: Path, content: bytes, line: int) -> None:
    path = tmp_path / "a.input"
    path.write_bytes(content)
    for read in (
        lambda: list(open_input(path)),
        lambda: list(inputfile.load(io.BytesIO(content), str(path))),
    ):
        with pytest.raises(FormatError) as info:
            read()
        assert info.value.one_line().startswith(f"{path}:{line}: a blank line between rows — ")


def test_limits_on_columns_and_line_length(tmp_path: Path) -> None:
    path = tmp_path / "wide.input"
    path.write_text("\t".join(f"c{n}" for n in range(inputfile.MAX_COLUMNS + 1)) + "\n")
    with pytest.raises(FormatError, match="10001 columns; at most 10,000"):
        open_input(path)
    path.write_bytes(b"a\n" + b"x" * (MAX_LINE_BYTES + 1) + b"\n")
    with pytest.raises(FormatError) as info:
        open_input(path)
    assert info.value.line == 2
    assert "bytes long" in info.value.message


def test_non_regular_files_are_refused_without_opening(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.input"
    os.mkfifo(fifo)
    with pytest.raises(FormatError, match="is a named pipe"):
        open_input(fifo)  # would block forever if it opened the pipe
    (tmp_path / "zero.input").symlink_to("/dev/zero")
    with pytest.raises(FormatError, match="is a character device"):
        open_input(tmp_path / "zero.input")
    with pytest.raises(FormatError, match="is a directory"):
        open_input(tmp_path)
