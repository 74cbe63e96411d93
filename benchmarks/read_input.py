"""Benchmark: stream a large tab input file; show rows/s and that memory is flat in the row count.

Generates two input files (by default 50,000 and 200,000 rows; some values are quoted and hold
tabs, newlines and quotes, as real inputs do), reads each with
:func:`mturkmake.formats.inputfile.open_input`, and prints:

- the read speed in rows/s (measured without tracing, best of ``--repeat`` passes);
- the peak traced memory (``tracemalloc``) while reading each file, and their ratio.

A streaming reader keeps the ratio near 1.0; a reader that loaded the whole file would show
about 4.0 (200k / 50k). ``--check`` exits 1 when the ratio exceeds ``--max-ratio``.

Usage: ``python benchmarks/read_input.py [--rows 200000] [--small 50000] [--check]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from mturkmake.formats.inputfile import open_input
from mturkmake.formats.tabfile import write_row

COLUMNS = ("image_url", "question", "choice1", "choice2", "note")


def generate(path: Path, rows: int) -> None:
    """Write an input file of ``rows`` data rows (every 10th has a quoted multi-line note)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        write_row(out, COLUMNS, quote="needed")
        for i in range(rows):
            note = f'row {i}:\tsee "details"\nsecond line' if i % 10 == 0 else f"plain note {i}"
            write_row(
                out,
                (
                    f"https://example.com/images/{i:07d}.jpg",
                    f"Which option best describes image {i}?",
                    "Cat",
                    "Dog",
                    note,
                ),
                quote="needed",
            )


def read_all(path: Path) -> int:
    """Read every row, touching each value as a consumer would; return the row count."""
    count = 0
    for row in open_input(path):
        count += len(row.values["note"]) > 0
    return count


def peak_memory(path: Path) -> tuple[int, int]:
    """The rows read and the peak traced memory (bytes) while reading ``path``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        rows = read_all(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return rows, peak


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit code is 1 only with ``--check`` and a non-flat memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the large file")
    parser.add_argument("--small", type=int, default=50_000, help="rows of the small file")
    parser.add_argument("--repeat", type=int, default=1, help="timed passes (best is shown)")
    parser.add_argument("--dir", type=Path, help="where to write the files (default: a temp dir)")
    parser.add_argument("--check", action="store_true", help="fail if memory is not flat")
    parser.add_argument("--max-ratio", type=float, default=1.5, help="limit for --check")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        small, large = folder / "small.input", folder / "large.input"
        generate(small, args.small)
        generate(large, args.rows)
        size_mb = large.stat().st_size / 1e6

        best = float("inf")
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            rows = read_all(large)
            best = min(best, time.perf_counter() - start)
        assert rows == args.rows, (rows, args.rows)

        small_rows, small_peak = peak_memory(small)
        large_rows, large_peak = peak_memory(large)
        ratio = large_peak / small_peak

    print(f"file: {args.rows:,} rows, {size_mb:.1f} MB")
    print(f"read: {best:.2f} s, {args.rows / best:,.0f} rows/s")
    print(f"peak memory, {small_rows:,} rows: {small_peak / 1024:,.1f} KiB")
    print(f"peak memory, {large_rows:,} rows: {large_peak / 1024:,.1f} KiB")
    print(f"peak memory ratio ({large_rows:,} / {small_rows:,} rows): {ratio:.2f}")
    if args.check and ratio > args.max_ratio:
        print(f"FAIL: memory grows with the row count (ratio > {args.max_ratio})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
