"""``java.util.Properties`` files, read and written exactly as ``Properties.load`` does.

The CLT read every ``.properties`` file (HIT properties, qualification properties,
``mturk.properties``, the answer key file) with ``java.util.Properties``, so mturkmake follows
its rules to the letter rather than a "key=value" approximation:

- natural lines end in ``\\n``, ``\\r`` or ``\\r\\n``; a line whose first non-blank character
  is ``#`` or ``!`` is a comment; blank lines are skipped;
- an odd number of backslashes at the end of a line continues it on the next one, whose
  leading blanks (space, tab, form feed) are dropped — even when it starts with ``#``;
- the key ends at the first unescaped ``=``, ``:`` or blank; blanks and at most one ``=`` or
  ``:`` after it are skipped; the value is the rest, **not trimmed** at its end;
- escapes: ``\\t \\n \\r \\f``, ``\\uXXXX``; any other ``\\c`` is ``c``;
- a repeated key is an error naming both lines. ``Properties.load`` kept the last value
  silently, so ``reward:5.00`` added under ``reward:0.05`` posted at 100 times the reward.

Files are UTF-8, as in CLT 1.3.1 (SDK 1.6.2); other bytes are an error naming the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mturkmake.errors import FormatError

_BLANKS = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


@dataclass(frozen=True)
class Property:
    """One ``key``/``value`` pair and the 1-based line where its logical line starts."""

    key: str
    value: str
    line: int


def decode_utf8(data: bytes, *, source: str) -> str:
    """Decode ``data`` as UTF-8 (a leading BOM is dropped), or raise a :class:`FormatError`.

    The error names the line of the first bad byte, so a file saved as Latin-1 or UTF-16 is
    found at once.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FormatError(
            f"byte 0x{data[exc.start]:02x} is not valid UTF-8",
            file=source,
            line=line,
            column=column,
            hint="save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


def read_text(path: str | Path) -> str:
    """Read a UTF-8 regular file; a missing, unreadable or non-regular file (a FIFO, a
    device, a directory) or bad bytes raise :class:`FormatError`."""
    from mturkmake.formats.diskfile import read_regular

    return decode_utf8(read_regular(path), source=str(path))


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first line number, logical line)``, a port of ``Properties.LineReader``.

    Ported character by character (JDK 9+ behaviour) rather than approximated with
    ``splitlines``, because the corner cases matter: after a continuation the logical line
    may still be empty, and then a following ``#`` line is a comment and a blank line ends
    it; a final backslash at the end of the file is dropped.
    """
    # 1-based line of each position: natural lines end at CR, LF or CRLF only.
    line_of = [1] * (len(text) + 1)
    line = 1
    for index, ch in enumerate(text):
        line_of[index] = line
        if ch == "\n" or (ch == "\r" and text[index + 1 : index + 2] != "\n"):
            line += 1
    line_of[len(text)] = line
    pos, end = 0, len(text)
    while True:
        buf: list[str] = []
        start = 0
        skip_blanks, appended, backslash = True, False, False
        while True:
            if pos >= end:
                if not buf:
                    return
                yield start, "".join(buf[:-1] if backslash else buf)
                return
            ch = text[pos]
            pos += 1
            if skip_blanks:
                if ch in _BLANKS or (not appended and ch in "\r\n"):
                    continue
                skip_blanks = appended = False
            if not buf and ch in "#!":
                while pos < end and text[pos] not in "\r\n":
                    pos += 1  # a comment runs to the end of its natural line
                skip_blanks = True
                continue
            if ch not in "\r\n":
                if not buf:
                    start = line_of[pos - 1]
                buf.append(ch)
                backslash = (not backslash) if ch == "\\" else False
                continue
            if not buf:
                skip_blanks = True
                continue
            if pos >= end:
                yield start, "".join(buf[:-1] if backslash else buf)
                return
            if not backslash:
                yield start, "".join(buf)
                break
            buf.pop()  # the continuation backslash is not part of the line
            skip_blanks, appended, backslash = True, True, False
            if ch == "\r" and text[pos] == "\n":
                pos += 1


def _unescape(raw: str, *, source: str, line: int, key: str | None) -> str:
    """Apply ``loadConvert``: ``\\uXXXX``, ``\\t\\n\\r\\f``, and ``\\c`` → ``c``."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        i += 1
        if ch != "\\" or i >= len(raw):
            out.append(ch)
            continue
        ch = raw[i]
        i += 1
        if ch == "u":
            digits = raw[i : i + 4]
            if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                where = f"key '{key}'" if key is not None else "a key"
                raise FormatError(
                    f"malformed \\uxxxx escape in {where}",
                    file=source,
                    line=line,
                    hint="write \\u followed by exactly four hex digits, or \\\\u for a backslash",
                )
            out.append(chr(int(digits, 16)))
            i += 4
        else:
            out.append(_ESCAPES.get(ch, ch))
    return "".join(out)


def _split(logical: str) -> tuple[str, str]:
    """Split a logical line into its raw key and raw value, as ``Properties.load0`` does."""
    key_len = 0
    value_start = len(logical)
    has_separator = False
    backslash = False
    while key_len < len(logical):
        ch = logical[key_len]
        if ch in "=:" and not backslash:
            value_start = key_len + 1
            has_separator = True
            break
        if ch in _BLANKS and not backslash:
            value_start = key_len + 1
            break
        backslash = (not backslash) if ch == "\\" else False
        key_len += 1
    while value_start < len(logical):
        ch = logical[value_start]
        if ch not in _BLANKS:
            if not has_separator and ch in "=:":
                has_separator = True
            else:
                break
        value_start += 1
    return logical[:key_len], logical[value_start:]


def iter_properties(text: str, *, source: str) -> Iterator[Property]:
    """Every pair in file order, duplicates included (use :func:`parse` for the final set)."""
    for line, logical in _logical_lines(text.removeprefix("\ufeff")):
        raw_key, raw_value = _split(logical)
        key = _unescape(raw_key, source=source, line=line, key=None)
        value = _unescape(raw_value, source=source, line=line, key=key)
        yield Property(key, value, line)


def parse(text: str, *, source: str) -> list[Property]:
    """Parse a properties text.

    :param text: the decoded file content.
    :param source: the file name used in error messages.
    :returns: one :class:`Property` per key, in file order.
    :raises FormatError: a malformed escape, or a key given twice (naming both lines).
    """
    seen: dict[str, Property] = {}
    for prop in iter_properties(text, source=source):
        first = seen.get(prop.key)
        if first is not None:
            raise FormatError(
                f"'{prop.key}' repeats line {first.line}",
                file=source,
                line=prop.line,
                hint="keep one of the two lines (a properties file gives each key once)",
            )
        seen[prop.key] = prop
    return list(seen.values())


def load(path: str | Path) -> list[Property]:
    """Read and :func:`parse` a UTF-8 properties file."""
    return parse(read_text(path), source=str(path))


def _escape(text: str, *, is_key: bool) -> str:
    out: list[str] = []
    for index, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\t\n\r\f":
            out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\f": "f"}[ch])
        elif ch == " " and (is_key or index == 0):
            # Only a leading blank of a value would be lost; every blank in a key ends it.
            out.append("\\ ")
        elif ch in "=:#!" and (is_key or index == 0):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def dump(pairs: Iterable[tuple[str, str] | Property], *, separator: str = "=") -> str:
    """Write pairs so that :func:`parse` gives them back unchanged (UTF-8 text, LF endings).

    :param separator: ``=`` (qualification properties, ``mturk.properties``) or ``:`` (the
        CLT's HIT properties samples).
    """
    lines: list[str] = []
    for pair in pairs:
        key, value = (pair.key, pair.value) if isinstance(pair, Property) else pair
        lines.append(f"{_escape(key, is_key=True)}{separator}{_escape(value, is_key=False)}\n")
    return "".join(lines)


__all__ = ["Property", "decode_utf8", "dump", "iter_properties", "load", "parse", "read_text"]
