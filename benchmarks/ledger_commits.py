"""Benchmark 5, part 2: durable transactions of ``.mturkmake/state.db`` per HIT.

Runs ``mturkmake -j N hello.success`` in process (the local marketplace, helloworld with
``--rows`` distinct rows) for each ``--jobs`` value, counting the outermost transactions
``StateDB.transaction`` commits (each one ``BEGIN IMMEDIATE`` … ``COMMIT`` with
``synchronous=FULL``: one fsync of the WAL) and printing them per HIT, with the wall time.
Before issue #17's group commit a HIT took two (its intent, then its outcome).

In process with nothing injected a step's calls go one at a time whatever ``-j``
(``mturkmake.mturk.calls.call_jobs``), so ``--latency`` (default ``1ms``; ``0``: none) sets
``[local.faults] latency`` and the calls of ``-j 16`` really overlap, as on a real endpoint.

Usage: ``python benchmarks/ledger_commits.py [--rows 1000] [--jobs 1 16] [--latency 1ms]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_copy import copy_example

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "helloworld"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 16])
    parser.add_argument("--latency", default="1ms", help="[local.faults] latency; 0: none")
    args = parser.parse_args()
    from mturkmake.cli import main as cli_main
    from mturkmake.core.state import StateDB

    counted = {"commits": 0}
    original = StateDB.transaction

    @contextlib.contextmanager
    def counting(self: StateDB) -> Iterator[Any]:
        outer = getattr(self._local, "depth", 0) == 0
        with original(self) as conn:
            yield conn
        if outer:
            counted["commits"] += 1

    StateDB.transaction = counting  # type: ignore[method-assign]
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="mturkmake-commits-") as tmp:
        for jobs in args.jobs:
            where = Path(tmp) / f"j{jobs}"
            copy_example(EXAMPLE, where)
            with (where / "hello.input").open("w", encoding="utf-8") as out:
                out.write("city\n" + "".join(f"City {n}\n" for n in range(args.rows)))
            if args.latency not in ("", "0"):
                with (where / "mturkmake.toml").open("a", encoding="utf-8") as toml:
                    toml.write(f'\n[local.faults]\nlatency = "{args.latency}"\n')
            os.chdir(where)
            counted["commits"] = 0
            start = time.perf_counter()
            code = cli_main(["-q", "-j", str(jobs), "hello.success"])  # -q: is it stale?
            assert code == 1
            code = cli_main(["-j", str(jobs), "hello.success"])
            wall = time.perf_counter() - start
            os.chdir(here)
            assert code == 0, code
            print(
                f"-j {jobs:>2}: {counted['commits']} state.db transactions for {args.rows} HITs "
                f"= {counted['commits'] / args.rows:.2f} per HIT; {wall:.1f} s "
                f"(latency {args.latency}, load {os.getloadavg()[0]:.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
