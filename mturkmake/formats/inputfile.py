"""Tab files with a header row: the HIT input file, and the base of every CLT work file.

An input file (``survey.input``) has a header of column names and one row per HIT
(reference/clt-formats.md §1, seed 004 "The input file"). Rows are streamed: a 200,000-row
input is read in constant memory (benchmarks/read_input.py).

Rules, stricter than the CLT where it silently did the wrong thing:

- The header must not be empty and its names must be non-empty and unique (the CLT keyed
  rows by name, so a duplicate silently hid a column).
- Every row has exactly as many values as the header; a short or long row is an error naming
  its line (the CLT aborted the whole load on a short row and ignored extra values).
- Blank lines at the end of the file are ignored; a blank line *between* rows (or between the
  header and the first row) is an error naming it. The CLT read one as a row with one empty
  value (a HIT for nothing, paid for); skipping it silently would hide a damaged file.
- At most :data:`MAX_COLUMNS` columns (and lines of at most
  :data:`~mturkmake.formats.tabfile.MAX_LINE_BYTES` bytes): a 200,000-column header is a
  wrong file, not a batch.
- Rows equal to the header are skipped, as the CLT's reader did (concatenated files).
- A UTF-8 BOM before the header is dropped (spreadsheets write one; the column names are what
  the user sees). Only regular files are opened (:mod:`mturkmake.formats.diskfile`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from mturkmake.errors import FormatError
from mturkmake.formats.diskfile import open_regular, os_error
from mturkmake.formats.tabfile import read_rows

__all__ = ["MAX_COLUMNS", "InputFile", "InputRow", "load", "open_input"]

#: The most columns a tab file may have. The widest real file is a ``.results`` of a long
#: HTMLQuestion (a 64 KB question holds a few thousand fields at most).
MAX_COLUMNS = 10_000

_Records = Iterator[tuple[int, list[str]]]
_Reader = Generator[tuple[int, list[str]], None, None]


class InputRow(NamedTuple):
    """One data row of a tab file (a named tuple: cheap to build for every row).

    :param line: the 1-based line on which the row starts.
    :param values: column name → raw value, in header order.
    """

    line: int
    values: Mapping[str, str]


def _check_header(fields: list[str], source: str) -> tuple[str, ...]:
    if len(fields) > MAX_COLUMNS:
        raise FormatError(
            f"the header has {len(fields)} columns; at most {MAX_COLUMNS:,} are allowed",
            file=source,
            line=1,
            hint="check that this is the right file and that its columns are separated by tabs",
        )
    seen: dict[str, int] = {}
    for index, name in enumerate(fields, start=1):
        if "\r" in name:
            # A lone CR ends lines only in classic Mac files; here it would glue rows together.
            raise FormatError(
                "the file's lines end in a bare CR (old Mac line endings)",
                file=source,
                line=1,
                hint="save the file with LF or CRLF line endings",
            )
        if not name.strip():
            hint = (
                "remove the trailing tab from the header"
                if index == len(fields)
                else "give every column a name"
            )
            raise FormatError(
                f"column {index} of the header has no name", file=source, line=1, hint=hint
            )
        if name in seen:
            raise FormatError(
                f"column name {name!r} appears twice (columns {seen[name]} and {index})",
                file=source,
                line=1,
                column=name,
                hint="rename or remove one of the two columns",
            )
        seen[name] = index
    return tuple(fields)


class InputFile:
    """A header and its streamed rows.

    Build one with :func:`open_input` (rows can be read any number of times: the file is
    re-opened for each pass) or :func:`load` (one pass over a given stream).

    :param source: the file name used in error messages.
    :param header: the column names, in file order.
    """

    def __init__(
        self,
        source: str,
        header: tuple[str, ...],
        first: tuple[int, list[str]] | None,
        rest: _Records | None,
        reopen: Callable[[], _Reader] | None,
    ) -> None:
        self.source = source
        self.header = header
        self._first = first
        self._rest = rest
        self._reopen = reopen

    def __repr__(self) -> str:
        return f"InputFile({self.source!r}, header={self.header!r})"

    @property
    def has_rows(self) -> bool:
        """Whether the file has at least one data row."""
        return self._first is not None

    def require(self, required: Iterable[str], *, what: str = "this file") -> None:
        """Check that the header has every column in ``required`` (exact, case-sensitive).

        :param what: the kind of file, for the message (e.g. ``"an approve file"``).
        :raises FormatError: naming the first missing column; when a column differs only
            in case, the hint says so (the CLT's names are case-sensitive).
        """
        for name in required:
            if name in self.header:
                continue
            near = [h for h in self.header if h.lower() == name.lower()]
            if near:
                hint = f"rename column {near[0]!r} to {name!r}: column names are case-sensitive"
            else:
                found = ", ".join(self.header)
                hint = f"add a column {name!r} to the header (found: {found})"
            raise FormatError(
                f"{what} needs a column {name!r}",
                file=self.source,
                line=1,
                column=name,
                hint=hint,
            )

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """The raw data records ``(line, fields)``, blank lines skipped, lengths unchecked."""
        records: _Records
        if self._reopen is not None:
            records = self._reopen()
            next(records, None)  # the header, already checked
        elif self._rest is not None:
            records = self._rest
            self._rest = None  # one pass only: the stream is consumed
        else:
            raise RuntimeError(f"{self.source}: the rows of a loaded stream can be read once")
        first = self._first
        if first is None:
            return
        if self._reopen is None:
            yield first
        header = list(self.header)
        blank: int | None = None
        for line, fields in records:
            if fields == [""]:
                blank = line if blank is None else blank
                continue
            if blank is not None:
                raise _blank_line_error(self.source, blank)
            if fields == header:
                continue
            yield line, fields

    def __iter__(self) -> Iterator[InputRow]:
        return self.rows()

    def rows(self) -> Iterator[InputRow]:
        """Stream the data rows.

        :raises FormatError: for a row with fewer or more values than the header.
        """
        header = self.header
        width = len(header)
        for line, fields in self.records():
            if len(fields) != width:
                raise _width_error(self.source, line, header, fields)
            # strict=False: the lengths were just checked, and the check is cheaper once.
            yield InputRow(line, dict(zip(header, fields, strict=False)))


def _width_error(
    source: str, line: int, header: Sequence[str], fields: Sequence[str]
) -> FormatError:
    width = len(header)
    if len(fields) < width:
        missing = ", ".join(header[len(fields) :])
        return FormatError(
            f"the row has {len(fields)} values but the header has {width} columns "
            f"(no value for: {missing})",
            file=source,
            line=line,
            hint="add the missing values, separated by tabs (an empty value needs its tab too)",
        )
    return FormatError(
        f"the row has {len(fields)} values but the header has {width} columns",
        file=source,
        line=line,
        column=sum(len(f) + 1 for f in fields[:width]) + 1,
        hint="remove the extra values or tabs, or add a column name to the header; "
        'a value holding a tab must be quoted ("a<TAB>b")',
    )


def _blank_line_error(source: str, line: int) -> FormatError:
    return FormatError(
        "a blank line between rows",
        file=source,
        line=line,
        hint="remove it (blank lines are allowed only at the end of the file)",
    )


def _start(
    records: _Records, source: str, require_rows: bool
) -> tuple[tuple[str, ...], tuple[int, list[str]] | None]:
    head = next(records, None)
    if head is None:
        raise FormatError(
            "the file is empty",
            file=source,
            line=1,
            hint="write a header line of tab-separated column names, then one row per line",
        )
    header = _check_header(head[1], source)
    first: tuple[int, list[str]] | None = None
    blank: int | None = None
    for record in records:
        if record[1] == [""]:
            blank = record[0] if blank is None else blank
            continue
        if blank is not None:
            raise _blank_line_error(source, blank)
        if record[1] != head[1]:
            first = record
            break
    if first is None and require_rows:
        raise FormatError(
            "the file has a header but no rows",
            file=source,
            line=2,
            hint="add at least one row below the header",
        )
    return header, first


def load(
    stream: IO[bytes] | IO[str] | Iterable[str], source: str, *, require_rows: bool = True
) -> InputFile:
    """Read the header (and peek at the first row) of a tab file from ``stream``.

    The rows can then be read once, from the same stream.

    :param stream: binary (preferred) or text stream, or an iterable of lines.
    :param source: the file name used in error messages.
    :param require_rows: whether a header without rows is an error.
    :raises FormatError: empty file, bad header, no rows (when required), bad encoding.
    """
    records = read_rows(stream, source=source)
    header, first = _start(records, source, require_rows)
    return InputFile(source, header, first, records, None)


def open_input(path: str | Path, *, require_rows: bool = True) -> InputFile:
    """Open a tab file by path; each pass over its rows re-reads the file.

    :param path: the file; its name (as given) is used in error messages.
    :param require_rows: whether a header without rows is an error.
    :raises FormatError: as :func:`load`; a missing file is a FormatError naming it too.
    """
    source = str(path)

    def reopen() -> _Reader:
        return _closing(open_regular(path, source=source), source)

    head = reopen()
    try:
        header, first = _start(head, source, require_rows)
    finally:
        head.close()  # closes the file
    return InputFile(source, header, first, None, reopen)


def _closing(handle: IO[bytes], source: str) -> _Reader:
    with handle:
        try:
            yield from read_rows(handle, source=source)
        except OSError as exc:  # EIO, a file truncated on a network mount…
            raise os_error(exc, source) from None
