"""The CLT tab dialect: the reader and writer every tab-separated CLT file shares.

The CLT read and wrote its tab files with opencsv 1.8 (reference/clt-formats.md §1): fields are
separated by TAB, a field may be wrapped in ``"`` and then holds tabs, newlines and doubled
quotes (``""`` is one ``"``), lines end in LF or CRLF, text is UTF-8 (a leading BOM is ignored).

Differences from opencsv, on purpose:

- A ``"`` *inside* an unquoted field is kept literally (opencsv silently dropped it and
  toggled quoting, so ``5" screen`` lost its quote and swallowed the following tabs).
- A quoted field that never closes, or text after a closing quote (``"a"b``), is an error
  naming the line and column instead of a silently merged record.
- Non-UTF-8 bytes are an error naming the line and column instead of replacement characters.

Each file kind picks its own quoting when writing (``quote=``): ``.success`` never quotes
(as the CLT), ``.results`` quotes every value and writes a null as an empty unquoted field,
input-like files quote only where needed so that every value round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Literal, Protocol, cast

from mturkmake.errors import FormatError

__all__ = [
    "MAX_LINE_BYTES",
    "QuoteMode",
    "SupportsWrite",
    "format_row",
    "read_rows",
    "write_row",
]

#: How a writer quotes values: ``never`` (CLT ``.success``), ``always`` (CLT ``.results``),
#: ``needed`` (only values holding a tab, newline or quote, so that every value round-trips).
QuoteMode = Literal["never", "always", "needed"]

#: The longest physical line read (bytes, or characters for text streams). A longer line is
#: a wrong file (a binary, a file without line breaks), refused before it exhausts memory.
MAX_LINE_BYTES = 4 * 1024 * 1024

_TAB = "\t"
_QUOTE = '"'
_BOM = "\ufeff"
# Characters that force quoting in "needed" mode, and that "never" mode cannot represent.
_SPECIAL = ("\t", "\n", "\r", '"')
_HINT_QUOTE = 'close the quoted value with ", and write a " inside a quoted value as ""'


class SupportsWrite(Protocol):
    """A text stream to write to (an open file, ``io.StringIO``)."""

    def write(self, s: str, /) -> object: ...


def _decode_error(raw: bytes, exc: UnicodeDecodeError, number: int, source: str) -> FormatError:
    bad = raw[exc.start : exc.start + 1].hex()
    # The column counts characters before the bad byte, as an editor would show it.
    column = len(raw[: exc.start].decode("utf-8", errors="replace")) + 1
    return FormatError(
        f"byte 0x{bad} is not valid UTF-8",
        file=source,
        line=number,
        column=column,
        hint="save the file as UTF-8 (without changing the tabs)",
    )


def _too_long(number: int, size: int, source: str) -> FormatError:
    return FormatError(
        f"the line is {size:,} bytes long; at most {MAX_LINE_BYTES:,} are allowed",
        file=source,
        line=number,
        hint="check that this is the right file (a tab file with one row per line)",
    )


def _lines(stream: IO[bytes] | IO[str] | Iterable[str], source: str) -> Iterator[str]:
    """Yield the physical lines of ``stream`` as text, line endings kept.

    Binary streams are decoded line by line, so that a bad byte is reported with its exact
    line and column. A UTF-8 BOM at the start of the first line is dropped.
    """
    items: Iterator[bytes | str] = iter(stream)
    first = next(items, None)
    if first is None:
        return
    if isinstance(first, str):
        if len(first) > MAX_LINE_BYTES:
            raise _too_long(1, len(first), source)
        yield first[1:] if first.startswith(_BOM) else first
        for number, line in enumerate(cast("Iterator[str]", items), start=2):
            if len(line) > MAX_LINE_BYTES:
                raise _too_long(number, len(line), source)
            yield line
        return
    number, raw = 1, first
    try:
        if len(raw) > MAX_LINE_BYTES:
            raise _too_long(1, len(raw), source)
        text = raw.decode("utf-8")
        yield text[1:] if text.startswith(_BOM) else text
        # The hot loop of every reader: kept free of per-line type checks.
        for number, raw in enumerate(cast("Iterator[bytes]", items), start=2):
            if len(raw) > MAX_LINE_BYTES:
                raise _too_long(number, len(raw), source)
            yield raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _decode_error(raw, exc, number, source) from None


def _content_end(text: str) -> int:
    """The index where ``text``'s line ending starts (``len(text)`` when it has none)."""
    if text.endswith("\r\n"):
        return len(text) - 2
    if text.endswith(("\n", "\r")):
        return len(text) - 1
    return len(text)


def read_rows(
    stream: IO[bytes] | IO[str] | Iterable[str], *, source: str
) -> Iterator[tuple[int, list[str]]]:
    """Read the records of a CLT tab file.

    :param stream: a binary stream (preferred: exact error positions), a text stream opened
        with ``newline=""``, or any iterable of lines with their endings.
    :param source: the file name used in error messages.
    :returns: an iterator of ``(line, fields)``, where ``line`` is the 1-based physical line
        on which the record starts (a quoted field may span several lines). A blank line is
        a record with one empty field, as opencsv read it; callers decide whether to skip it.
    :raises FormatError: on non-UTF-8 bytes, an unclosed quoted field, or text after a
        closing quote.
    """
    lines = _lines(stream, source)
    number = 0
    for text in lines:
        number += 1
        if _QUOTE in text:
            start = number
            fields, number = _quoted_record(text, lines, number, source)
            yield start, fields
        # Fast path: most lines hold no quote at all.
        elif text[-1:] == "\n":
            yield number, text[:-2].split(_TAB) if text[-2:-1] == "\r" else text[:-1].split(_TAB)
        else:
            yield number, text[: _content_end(text)].split(_TAB)


def _quoted_record(
    text: str, lines: Iterator[str], number: int, source: str
) -> tuple[list[str], int]:
    """Parse a record holding a quote; returns its fields and the number of its last line."""
    fields: list[str] = []
    pos = 0
    end = _content_end(text)
    while True:
        if text.startswith(_QUOTE, pos):
            opened_line, opened_col = number, pos + 1
            pos += 1
            parts: list[str] = []
            while True:
                q = text.find(_QUOTE, pos)
                if q == -1:
                    # The value goes on past this line: keep the line ending inside it.
                    parts.append(text[pos:])
                    following = next(lines, None)
                    if following is None:
                        raise FormatError(
                            f"the quoted value opened on line {opened_line}, column "
                            f"{opened_col} never closes",
                            file=source,
                            line=opened_line,
                            column=opened_col,
                            hint=_HINT_QUOTE,
                        )
                    text = following
                    number += 1
                    pos = 0
                    end = _content_end(text)
                    continue
                parts.append(text[pos:q])
                if text.startswith(_QUOTE, q + 1):
                    parts.append(_QUOTE)
                    pos = q + 2
                    continue
                pos = q + 1
                break
            fields.append("".join(parts))
            if pos >= end:
                return fields, number
            if text[pos] != _TAB:
                raise FormatError(
                    f"unexpected text {text[pos:end][:20]!r} after a closing quote",
                    file=source,
                    line=number,
                    column=pos + 1,
                    hint='quote the whole value ("a ""b"" c") or put a tab after the quote',
                )
            pos += 1
            if pos >= end:
                fields.append("")
                return fields, number
            continue
        tab = text.find(_TAB, pos, end)
        if tab == -1:
            fields.append(text[pos:end])
            return fields, number
        fields.append(text[pos:tab])
        pos = tab + 1
        if pos >= end:
            fields.append("")
            return fields, number


def _quote(value: str) -> str:
    return _QUOTE + value.replace(_QUOTE, _QUOTE + _QUOTE) + _QUOTE


def format_row(
    values: Iterable[str | None], *, quote: QuoteMode, null: str = "", newline: str = "\n"
) -> str:
    """Format one record as text, line ending included.

    :param values: the fields; ``None`` is a null, written as ``null`` unquoted whatever
        the mode (the CLT's ``.results`` writes Java null as an empty unquoted field).
    :param quote: the quoting mode (:data:`QuoteMode`).
    :param null: the text written for ``None``.
    :param newline: the line ending; LF by default on every platform (the CLT used the
        JVM's, so CLT files from Windows have CRLF, which every reader accepts).
    :raises ValueError: in ``never`` mode, for a value holding a tab, newline or quote, which
        that mode cannot represent (a programming error: such files hold only ids).
    """
    out: list[str] = []
    for value in values:
        if value is None:
            out.append(null)
        elif quote == "always":
            out.append(_quote(value))
        elif quote == "needed":
            out.append(_quote(value) if any(c in value for c in _SPECIAL) else value)
        else:
            if any(c in value for c in _SPECIAL):
                raise ValueError(f"cannot write {value!r} unquoted in a tab file")
            out.append(value)
    # A record of one empty unquoted value would be a blank line, which readers skip.
    if quote == "needed" and out == [""]:
        out = ['""']
    return _TAB.join(out) + newline


def write_row(
    stream: SupportsWrite,
    values: Iterable[str | None],
    *,
    quote: QuoteMode,
    null: str = "",
    newline: str = "\n",
) -> None:
    """Write one record to ``stream``; see :func:`format_row` for the arguments."""
    stream.write(format_row(values, quote=quote, null=null, newline=newline))
