"""Benchmark 6: the make-mode chain to ``X.approved --wait`` on the local endpoint, against
``crowd_batch.py`` (the marketplace alone doing the same work), side by side in one run.

Each round copies ``examples/helloworld`` to a temporary directory with ``--hits`` distinct
rows and ``assignments:--assignments``, then runs ``mturkmake [-j N] --wait hello.approved``
in this process (``mturkmake.cli.main``: load the HITs, wait for the local crowd on the
virtual clock, fetch the results, approve every assignment), and right after it
``crowd_batch.run`` (create the same number of HITs, advance the clock an hour, list and
approve every assignment through the same in-process client). It prints the median of each,
their ratio (issue #17: the chain within 3x), where the chain's time went (from the first to
the last call of each step), the API calls it made by operation, and the load average.

Calls are counted where the local marketplace answers them (``Marketplace.call``), so the
count is what crossed the API, whatever the client.

Usage: ``python benchmarks/chain_wait.py [--hits 1000] [--assignments 3] [--repeat 3]
[-j 1] [--check]``; ``--check`` exits 1 when the ratio of the medians exceeds 3.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crowd_batch  # a sibling script: run side by side, not copied
from load_scale import project

from mturkmake.cli import main as mturkmake
from mturkmake.marketplace.service import Marketplace

#: Which step a call belongs to (the chain runs them one after another).
STEPS = {
    "GetAccountBalance": "load",
    "CreateHITType": "load",
    "CreateHITWithHITType": "load",
    "ListReviewableHITs": "results --wait",
    "GetHIT": "results --wait",
    "ListAssignmentsForHIT": "results --wait",
    "GetAssignment": "approve",
    "ApproveAssignment": "approve",
    "RejectAssignment": "approve",
}


@contextlib.contextmanager
def counted() -> Iterator[list[tuple[str, float]]]:
    """Every call the local marketplace answers meanwhile: (operation, when)."""
    seen: list[tuple[str, float]] = []
    original = Marketplace.call

    def call(self: Marketplace, operation: str, params: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append((operation, time.perf_counter()))
        return original(self, operation, params, **kwargs)

    Marketplace.call = call  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Marketplace.call = original  # type: ignore[method-assign]


def chain(base: Path, hits: int, assignments: int, jobs: int) -> dict[str, Any]:
    """One run of ``mturkmake -j N --wait hello.approved`` in a fresh copy of helloworld."""
    where = project(base, hits)
    props = where / "hello.properties"
    text = props.read_text(encoding="utf-8")
    props.write_text(text.replace("assignments:1", f"assignments:{assignments}"), "utf-8")
    here = Path.cwd()
    os.chdir(where)
    out = io.StringIO()
    try:
        with counted() as seen, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            start, cpu = time.perf_counter(), time.process_time()
            code = mturkmake(["-j", str(jobs), "--wait", "hello.approved"])
            total, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        os.chdir(here)
    if code != 0:
        raise SystemExit(
            f"mturkmake --wait hello.approved exited {code}:\n{out.getvalue()[-2000:]}"
        )
    # a step's span: from the previous step's last call (or the start) to its own last call
    spans: dict[str, float] = {}
    mark = start
    for step in ("load", "results --wait", "approve"):
        times = [t for op, t in seen if STEPS.get(op) == step]
        if times:
            spans[step] = times[-1] - mark
            mark = times[-1]
    spans["after the last call"] = start + total - mark
    approved = (where / "hello.approved").read_text(encoding="utf-8").count("\n")
    return {
        "total": total,
        "cpu": cpu,
        "calls": Counter(op for op, _ in seen),
        "spans": spans,
        "approved": approved,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the rounds; print medians, the ratio, the chain's calls and the load."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--assignments", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are compared")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="the chain's -j")
    parser.add_argument("--check", action="store_true", help="exit 1 above 3x")
    args = parser.parse_args(argv)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    chains: list[dict[str, Any]] = []
    alone: list[dict[str, float]] = []
    for n in range(max(1, args.repeat)):
        with tempfile.TemporaryDirectory(prefix="mturkmake-chain-") as tmp:
            chains.append(chain(Path(tmp), args.hits, args.assignments, args.jobs))
        with tempfile.TemporaryDirectory(prefix="mturkmake-crowd-") as tmp:
            alone.append(crowd_batch.run(Path(tmp), args.hits, args.assignments))
        ours, theirs = chains[-1], alone[-1]
        print(
            f"round {n + 1}: chain {ours['total']:.2f} s ({ours['cpu']:.2f} s CPU), "
            f"crowd_batch {theirs['total']:.2f} s ({theirs['cpu']:.2f} s CPU), "
            f"{ours['total'] / theirs['total']:.2f}x (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    batch = f"{args.hits:,} HITs x {args.assignments}"
    chain_median = statistics.median(c["total"] for c in chains)
    alone_median = statistics.median(a["total"] for a in alone)
    ratio = chain_median / alone_median
    paired = statistics.median(c["total"] / a["total"] for c, a in zip(chains, alone, strict=True))
    cpu = statistics.median(c["cpu"] for c in chains) / statistics.median(a["cpu"] for a in alone)
    middle = sorted(chains, key=lambda c: c["total"])[len(chains) // 2]
    print(f"mturkmake -j {args.jobs} --wait hello.approved, {batch}: median {chain_median:.2f} s")
    print(f"crowd_batch.py, {batch}: median {alone_median:.2f} s")
    print(f"ratio: {ratio:.2f}x  ({len(chains)} rounds; issue #17: at most 3x)")
    print(f"median of the rounds' ratios: {paired:.2f}x; ratio of the CPU medians: {cpu:.2f}x")
    print(
        "the median chain's steps: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in middle["spans"].items())
    )
    calls: Counter[str] = middle["calls"]
    print(
        f"the median chain's API calls: {sum(calls.values()):,} ("
        + ", ".join(f"{op} {n:,}" for op, n in calls.most_common())
        + f"); {middle['approved'] - 1:,} assignments approved"
    )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if args.check and ratio > 3 else 0


if __name__ == "__main__":
    sys.exit(main())
