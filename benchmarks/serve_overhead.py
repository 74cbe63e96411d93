"""Benchmark: the per-call time of ``mturkmake marketplace serve`` through a real boto3 client.

Starts ``mturkmake marketplace serve --port 0`` (no latency configured) in a fresh project in a
temporary directory, then times ``--calls`` GetAccountBalance calls (a cheap read) from one
boto3 client over its pooled keep-alive connection, after ``--warmup`` untimed ones, and prints
the median, p90 and max per call. The time includes botocore's own work (serializing, signing,
parsing: about 0.6 ms), the loopback round trip, the server's HTTP handling and the engine's
read of the balance.

A server that sends headers and body in two writes without ``TCP_NODELAY`` would show ~40 ms
per call here (the client's delayed ACK holds the body back); ``--check`` exits 1 when the
median exceeds ``--max-median-ms`` (default 2).

Usage: ``python benchmarks/serve_overhead.py [--calls 300] [--check]``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def start_server(project: Path) -> tuple[subprocess.Popen[str], str]:
    """``mturkmake marketplace serve --port 0`` in ``project``; returns it and its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURKMAKE_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "mturkmake", "marketplace", "serve", "--port", "0"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+) ", first)
    if not match:
        process.kill()
        raise SystemExit(f"serve did not start: {first!r}")
    return process, match.group(1)


def client(url: str) -> Any:
    """A boto3 mturk client on ``url`` with dummy keys and one attempt per call."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
    )
    config = Config(retries={"mode": "legacy", "total_max_attempts": 1})
    return session.client("mturk", endpoint_url=url, config=config)


def measure(url: str, calls: int, warmup: int) -> list[float]:
    """Seconds per GetAccountBalance call, ``calls`` of them after ``warmup``."""
    mturk = client(url)
    for _ in range(warmup):
        mturk.get_account_balance()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        mturk.get_account_balance()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--check", action="store_true", help="exit 1 if the median is too slow")
    parser.add_argument("--max-median-ms", type=float, default=2.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mturkmake-serve-bench-") as tmp:
        project = Path(tmp)
        (project / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
        process, url = start_server(project)
        try:
            times = measure(url, options.calls, options.warmup)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    milliseconds = sorted(t * 1000 for t in times)
    median = statistics.median(milliseconds)
    p90 = milliseconds[int(0.9 * (len(milliseconds) - 1))]
    print(f"serve at {url}: {len(milliseconds)} GetAccountBalance calls through boto3")
    print(f"per call: median {median:.2f} ms, p90 {p90:.2f} ms, max {milliseconds[-1]:.2f} ms")
    if options.check and median > options.max_median_ms:
        print(f"FAIL: median {median:.2f} ms > {options.max_median_ms} ms", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
