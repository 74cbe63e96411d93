"""Benchmark 4: approve assignments against ``mturkmake marketplace serve --latency 50ms``,
``-j 16`` against ``-j 1``, side by side in one run.

One served marketplace and one project (helloworld) with ``2 × --pairs`` batches of
``--hits`` (default 1,000) HITs × 3 assignments: all loaded and fetched at ``-j 16``, the
served clock advanced a virtual day first so that the local crowd submits every assignment.
Then each pair's first batch is approved at ``-j 1`` and its second at ``-j 16``
(``mturkmake -j N bK.approved``: a GetAssignment and an ApproveAssignment per assignment,
each through the ledger), alternating, so both see the same server, the same load and the
same state size. Prints each wall time, the medians over the pairs, their ratio and the load
average; the server's request log must show each assignment approved exactly once.

Usage: ``python benchmarks/approve_load.py [--hits 1000] [--pairs 1]`` (at ``-j 1``,
1,000 HITs take ≈ 3,000 × 2 × 50 ms ≈ 5 minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served_load import Server, _env, project, timed  # the sibling script

ASSIGNMENTS = 3


def _batches(where: Path, hits: int, count: int) -> list[str]:
    """``count`` copies of helloworld's batch (stems b0, b1, …), ``hits`` distinct rows each,
    three assignments per HIT."""
    properties = (where / "hello.properties").read_text(encoding="utf-8")
    properties = properties.replace("assignments:1", f"assignments:{ASSIGNMENTS}")
    stems = []
    for n in range(count):
        stem = f"b{n}"
        shutil.copy(where / "hello.question", where / f"{stem}.question")
        (where / f"{stem}.properties").write_text(properties, encoding="utf-8")
        with (where / f"{stem}.input").open("w", encoding="utf-8") as out:
            out.write("city\n" + "".join(f"City {n}-{r}\n" for r in range(hits)))
        stems.append(stem)
    return stems


def _approvals(server: Server) -> Counter[str]:
    """How many accepted ApproveAssignment calls the served marketplace logged, by id."""
    from mturkmake.marketplace.service import Marketplace

    market = Marketplace(server.home / ".mturkmake" / "local-marketplace.db")
    try:
        return Counter(s for op, s in market.request_log() if op == "ApproveAssignment")
    finally:
        market.close()


def run(args: argparse.Namespace, base: Path, env: dict[str, str]) -> None:
    mturkmake = [sys.executable, "-m", "mturkmake"]
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    server = Server(base, env, "--latency", "50ms")
    try:
        where = project(base, "approve", 1, server.url)
        stems = _batches(where, args.hits, 2 * args.pairs)
        wall, proc = timed([*mturkmake, "-j", "16", *(f"{s}.success" for s in stems)], where, env)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        total = args.hits * len(stems)
        print(f"loaded {len(stems)} batches of {args.hits:,} HITs x 3 in {wall:.1f} s (-j 16)")
        from mturkmake.marketplace.service import Marketplace

        market = Marketplace(server.home / ".mturkmake" / "local-marketplace.db")
        market.advance(24 * 3600)
        market.close()
        wall, proc = timed([*mturkmake, "-j", "16", *(f"{s}.results" for s in stems)], where, env)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        print(f"fetched {total * ASSIGNMENTS:,} assignments in {wall:.1f} s (-j 16)", flush=True)
        walls: dict[int, list[float]] = {1: [], 16: []}
        for pair in range(args.pairs):
            for jobs, stem in ((1, stems[2 * pair]), (16, stems[2 * pair + 1])):
                wall, proc = timed([*mturkmake, "-j", str(jobs), f"{stem}.approved"], where, env)
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr[-2000:])
                rows = (where / f"{stem}.approved").read_text(encoding="utf-8").count("\n") - 1
                walls[jobs].append(wall)
                print(
                    f"{stem}.approved, {rows:,} approvals, serve --latency 50ms, -j {jobs:>2}: "
                    f"{wall:6.1f} s ({wall / rows * 1000:.1f} ms/approval; "
                    f"load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
        approved = _approvals(server)
        once = len(approved) == total * ASSIGNMENTS and set(approved.values()) == {1}
        one, sixteen = statistics.median(walls[1]), statistics.median(walls[16])
        print(
            f"medians over {args.pairs} pair(s) of {args.hits * ASSIGNMENTS:,} approvals: "
            f"-j 1 {one:.1f} s, -j 16 {sixteen:.1f} s; -j 16 over -j 1: {one / sixteen:.1f}x; "
            f"each assignment approved exactly once: {once}; "
            f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}"
        )
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=1000, help="HITs per batch (3 assignments)")
    parser.add_argument("--pairs", type=int, default=1, help="pairs of -j 1 / -j 16 batches")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mturkmake-approve-") as tmp:
        base = Path(tmp)
        run(args, base, _env(base / "pyc"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
