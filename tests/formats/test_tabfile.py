"""The CLT tab dialect: reading, writing, round trips."""

from __future__ import annotations

import io

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats.tabfile import QuoteMode, format_row, read_rows, write_row


def rows(data: bytes) -> list[tuple[int, list[str]]]:
    return list(read_rows(io.BytesIO(data), source="t.tab"))


def test_plain_lines_split_on_tabs() -> None:
    assert rows(b"a\tb\n1\t2\n") == [(1, ["a", "b"]), (2, ["1", "2"])]


def test_crlf_and_missing_final_newline() -> None:
    assert rows(b"a\tb\r\n1\t2") == [(1, ["a", "b"]), (2, ["1", "2"])]


def test_bom_is_dropped_from_the_first_field_only() -> None:
    assert rows("\ufeffa\tb\n\ufeffx\n".encode()) == [(1, ["a", "b"]), (2, ["\ufeffx"])]


def test_quoted_fields_hold_tabs_newlines_and_doubled_quotes() -> None:
    data = b'id\ttext\n1\t"a\tb\nc ""d"""\n2\tplain\n'
    assert rows(data) == [(1, ["id", "text"]), (2, ["1", 'a\tb\nc "d"']), (4, ["2", "plain"])]


def test_crlf_inside_a_quoted_field_is_kept() -> None:
    assert rows(b'"x\r\ny"\tz\r\n') == [(1, ["x\r\ny", "z"])]


def test_empty_fields_quoted_and_unquoted() -> None:
    assert rows(b'\t""\t\n') == [(1, ["", "", ""])]
    assert rows(b'"a"\t\n') == [(1, ["a", ""])]


def test_blank_line_is_one_empty_field() -> None:
    assert rows(b"a\n\nb\n") == [(1, ["a"]), (2, [""]), (3, ["b"])]


def test_quote_inside_unquoted_field_is_literal() -> None:
    assert rows(b'5" screen\tsay "hi"\n') == [(1, ['5" screen', 'say "hi"'])]


def test_text_stream_and_list_of_lines() -> None:
    text = io.StringIO('a\t"b\nc"\n', newline="")
    assert list(read_rows(text, source="s")) == [(1, ["a", "b\nc"])]
    assert list(read_rows(["x\ty\n", "1\t2\n"], source="s")) == [(1, ["x", "y"]), (2, ["1", "2"])]


def test_non_utf8_byte_is_reported_with_line_and_column() -> None:
    with pytest.raises(FormatError) as info:
        rows(b"a\tb\nok\tcaf\xe9\n")
    assert (info.value.file, info.value.line, info.value.column) == ("t.tab", 2, 7)
    assert "UTF-8" in str(info.value)


def test_format_row_modes() -> None:
    values = ["a", "b\tc", 'q"', "", None]
    assert format_row(values, quote="always") == '"a"\t"b\tc"\t"q"""\t""\t\n'
    assert format_row(values, quote="needed") == 'a\t"b\tc"\t"q"""\t\t\n'
    assert format_row(["a", None], quote="never", null="-") == "a\t-\n"
    assert format_row(["x"], quote="never", newline="\r\n") == "x\r\n"


def test_never_mode_refuses_values_it_cannot_represent() -> None:
    for bad in ("a\tb", "a\nb", 'a"b'):
        with pytest.raises(ValueError, match="unquoted"):
            format_row([bad], quote="never")


def test_single_empty_value_is_quoted_so_it_is_not_a_blank_line() -> None:
    assert format_row([""], quote="needed") == '""\n'
    assert rows(format_row([""], quote="needed").encode()) == [(1, [""])]


TRICKY = [
    "",
    "plain",
    "tab\there",
    "line\nbreak",
    "crlf\r\nbreak",
    'quote " inside',
    '"starts and ends"',
    '""',
    "trailing\t",
    "\ttrailing",
    "unicode: é ✓ 日本",
    " spaces ",
]


@pytest.mark.parametrize("mode", ["always", "needed"])
def test_round_trip_tricky_values(mode: QuoteMode) -> None:
    out = io.StringIO(newline="")
    records = [TRICKY, list(reversed(TRICKY)), ["only"]]
    for record in records:
        write_row(out, record, quote=mode)
    back = [fields for _, fields in rows(out.getvalue().encode())]
    assert back == records


def test_line_numbers_count_physical_lines() -> None:
    data = b'a\n"1\n2\n3"\nb\n'
    assert [line for line, _ in rows(data)] == [1, 2, 5]
