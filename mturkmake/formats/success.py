"""The ``.success`` file (created HITs) and the ``.failure`` file (input rows that failed).

``.success`` (reference/clt-formats.md §1) is exactly what loadHITs wrote: the unquoted header
``hitid<TAB>hittypeid`` and one row per created HIT. Everything else mturkmake knows about a
batch lives in the ledger (DESIGN §3); this file is its projection, kept readable by the CLT.

Reading accepts every ``.success`` the CLT made:

- the header may repeat (updateHITs appended to its ``.success.success``, header included);
- the ``hitid`` column is found by name, in any case (getResults took column 0 and skipped
  rows equal to ``hitid`` ignoring case); ``hittypeid`` may be missing; other columns are
  ignored, so files from other tools with extra columns load too.

``.failure`` (§3) has the input file's own header and the failed rows. The CLT wrote it
unquoted (so a value with a tab or newline broke it, and ``"`` did not round-trip); mturkmake
quotes where needed, so a ``.failure`` renamed to ``.input`` reloads exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from mturkmake.errors import FormatError
from mturkmake.formats import inputfile
from mturkmake.formats.inputfile import InputFile
from mturkmake.formats.tabfile import SupportsWrite, read_rows, write_row

__all__ = [
    "SUCCESS_HEADER",
    "SuccessRow",
    "read_failure",
    "read_success",
    "write_failure",
    "write_success",
]

#: The CLT's ``.success`` header, written unquoted.
SUCCESS_HEADER = ("hitid", "hittypeid")


@dataclass(frozen=True)
class SuccessRow:
    """One created HIT.

    :param hit_id: the HITId.
    :param hit_type_id: its HITTypeId (empty when a CLT-made file lacked the column).
    :param line: where the row was read (0 for a row built in code); not compared.
    """

    hit_id: str
    hit_type_id: str
    line: int = field(default=0, compare=False)


def write_success(stream: SupportsWrite, rows: Iterable[SuccessRow]) -> None:
    """Write a ``.success`` file: the CLT header, then one unquoted row per HIT.

    :param stream: a text stream (open it with ``newline=""`` so LF stays LF everywhere).
    :param rows: the HITs, in creation (input) order.
    """
    write_row(stream, SUCCESS_HEADER, quote="never")
    for row in rows:
        write_row(stream, (row.hit_id, row.hit_type_id), quote="never")


def read_success(
    stream: IO[bytes] | IO[str] | Iterable[str], *, source: str
) -> Iterator[SuccessRow]:
    """Read a ``.success`` file made by mturkmake or by the CLT (loadHITs, updateHITs).

    An empty file, or a header alone, yields nothing: the CLT wrote the header before
    creating any HIT, so a load whose rows all failed leaves such a file.

    :raises FormatError: no ``hitid`` column, a row shorter than the header, an empty hitid.
    """
    records = read_rows(stream, source=source)
    head = next(records, None)
    if head is None:
        return
    header = [name.strip().lower() for name in head[1]]
    if "hitid" not in header:
        raise FormatError(
            "a .success file needs a 'hitid' column",
            file=source,
            line=head[0],
            hint="the first line must be the header 'hitid<TAB>hittypeid'",
        )
    id_col = header.index("hitid")
    type_col = header.index("hittypeid") if "hittypeid" in header else None
    needed = max(id_col, type_col or 0) + 1
    for line, fields in records:
        if fields == [""]:
            continue
        if [f.strip().lower() for f in fields] == header:
            continue  # a repeated header: updateHITs appended the header on every run
        if len(fields) < needed:
            raise FormatError(
                f"the row has {len(fields)} values, the header needs at least {needed}",
                file=source,
                line=line,
                hint="each row must be '<HITId><TAB><HITTypeId>'",
            )
        hit_id = fields[id_col].strip()
        if not hit_id:
            raise FormatError(
                "the row has an empty hitid",
                file=source,
                line=line,
                column="hitid",
                hint="remove the row or put the HIT's id in it",
            )
        hit_type = fields[type_col].strip() if type_col is not None else ""
        yield SuccessRow(hit_id, hit_type, line)


def write_failure(
    stream: SupportsWrite,
    header: Sequence[str],
    rows: Iterable[Mapping[str, str] | Sequence[str]],
) -> None:
    """Write a ``.failure`` file: the input's header, then the failed rows in header order.

    :param header: the input file's header.
    :param rows: the failed rows, as ``InputRow.values`` mappings or value sequences.
    """
    write_row(stream, header, quote="needed")
    for row in rows:
        values = [row[name] for name in header] if isinstance(row, Mapping) else row
        write_row(stream, values, quote="needed")


def read_failure(stream: IO[bytes] | IO[str] | Iterable[str], source: str) -> InputFile:
    """Read a ``.failure`` file: it is an input file (header + rows) that may have no rows."""
    return inputfile.load(stream, source, require_rows=False)
