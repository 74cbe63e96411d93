"""Benchmarks 2 and 7: loads against ``mturkmake marketplace serve`` over HTTP.

``latency`` (benchmark 2): a ``--rows`` (default 1,000) helloworld load against
``serve --latency 50ms``, at ``-j 1`` and at ``-j 16`` (each against a fresh server, so no
request token is answered from an earlier run), and ``--aws-sample`` (default 20) runs of
``aws mturk create-hit`` in a shell loop over another fresh server, which give the AWS CLI's
cost per HIT. Prints each wall time, the per-HIT cost and the ratios.

``rps`` (benchmark 7): against ``serve --rps 5``, ``--batches`` (default 16) helloworld
batches of ``--batch-rows`` rows built at once by one ``mturkmake -j 16`` run with ``rate``
unset (the local marketplace's default: no client-side limit; throttling must be absorbed,
never shown); then a ``--rate-calls`` (default 300) row load with ``rate = 5``, whose achieved
requests per second are the calls the server counted over the run's wall time.

``results`` (benchmark 3): a ``--rows`` (default 1,000) load with 3 assignments each against
``serve --latency 50ms``, the served marketplace's clock advanced a virtual day (the local
crowd submits), then ``hello.results`` fetched at ``-j 1`` in the project and at ``-j 16`` in
a copy of it made before any fetch (same ledger, its own empty results cache).

Usage: ``python benchmarks/served_load.py latency [--rows 1000]``,
``python benchmarks/served_load.py rps`` or ``python benchmarks/served_load.py results``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_copy import copy_example

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "helloworld"


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURKMAKE_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    env["AWS_ACCESS_KEY_ID"] = env["AWS_SECRET_ACCESS_KEY"] = "local"
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


class Server:
    """``mturkmake marketplace serve --port 0 FLAGS`` in a fresh directory."""

    def __init__(self, base: Path, env: dict[str, str], *flags: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="served-", dir=base))
        (self.home / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mturkmake", "marketplace", "serve", "--port", "0", *flags],
            cwd=self.home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+) ", first)
        if not match:
            self.process.kill()
            raise SystemExit(f"serve did not start: {first!r}")
        self.url = match.group(1)

    def hits(self) -> int:
        """How many HITs the served marketplace holds."""
        import sqlite3

        with sqlite3.connect(self.home / ".mturkmake" / "local-marketplace.db") as conn:
            return int(conn.execute("SELECT COUNT(*) FROM hits").fetchone()[0])

    def close(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def project(base: Path, name: str, rows: int, url: str, extra: str = "") -> Path:
    """helloworld with ``rows`` distinct rows, pointed at ``url``."""
    where = base / name
    copy_example(EXAMPLE, where)
    (where / "mturkmake.toml").write_text(f'endpoint = "{url}"\n{extra}', encoding="utf-8")
    with (where / "hello.input").open("w", encoding="utf-8") as out:
        out.write("city\n" + "".join(f"City {n}\n" for n in range(rows)))
    return where


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, Any]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def latency(args: argparse.Namespace, base: Path, env: dict[str, str]) -> None:
    mturkmake = [sys.executable, "-m", "mturkmake"]
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    walls: dict[int, float] = {}
    for jobs in (1, 16):
        server = Server(base, env, "--latency", "50ms")
        try:
            where = project(base, f"j{jobs}", args.rows, server.url)
            wall, proc = timed([*mturkmake, "-j", str(jobs), "hello.success"], where, env)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            walls[jobs] = wall
            print(
                f"loadHITs {args.rows:,} rows, serve --latency 50ms, -j {jobs:>2}: {wall:7.1f} s "
                f"({wall / args.rows * 1000:.1f} ms/HIT; server holds {server.hits()} HITs; "
                f"load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        finally:
            server.close()
    print(f"-j 16 over -j 1: {walls[1] / walls[16]:.1f}x")
    aws = shutil.which("aws")
    if aws is None or args.aws_sample <= 0:
        print("aws CLI: not installed, skipped")
        return
    server = Server(base, env, "--latency", "50ms")
    try:
        question = (EXAMPLE / "hello.question").read_text(encoding="utf-8")
        script = base / "aws-loop.sh"
        script.write_text(
            "set -e\n"
            f"for n in $(seq 1 {args.aws_sample}); do\n"
            f"  aws mturk create-hit --endpoint-url {server.url} --title hello$n "
            "--description 'Say hello' --reward 0.05 --lifetime-in-seconds 86400 "
            "--assignment-duration-in-seconds 600 --max-assignments 1 "
            f'--question "$(cat {base / "q.xml"})" > /dev/null\n'
            "done\n",
            encoding="utf-8",
        )
        (base / "q.xml").write_text(question.replace("${city}", "Lisbon"), encoding="utf-8")
        wall, proc = timed(["bash", str(script)], base, env)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        per_hit = wall / args.aws_sample
        print(
            f"aws mturk create-hit shell loop, {args.aws_sample} HITs: {wall:.1f} s "
            f"({per_hit * 1000:.0f} ms/HIT; server holds {server.hits()} HITs)"
        )
        for jobs, total in walls.items():
            print(
                f"per HIT, mturkmake -j {jobs} over the aws CLI loop: "
                f"{per_hit / (total / args.rows):.1f}x"
            )
    finally:
        server.close()


def results(args: argparse.Namespace, base: Path, env: dict[str, str]) -> None:
    mturkmake = [sys.executable, "-m", "mturkmake"]
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    server = Server(base, env, "--latency", "50ms")
    try:
        where = project(base, "fetch-j1", args.rows, server.url)
        properties = where / "hello.properties"
        text = properties.read_text(encoding="utf-8").replace("assignments:1", "assignments:3")
        properties.write_text(text, encoding="utf-8")
        wall, proc = timed([*mturkmake, "-j", "16", "hello.success"], where, env)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        print(f"loaded {args.rows:,} HITs x 3 assignments in {wall:.1f} s (-j 16)")
        from mturkmake.marketplace.service import Marketplace

        market = Marketplace(server.home / ".mturkmake" / "local-marketplace.db")
        market.advance(24 * 3600)
        market.close()
        copy = base / "fetch-j16"
        shutil.copytree(where, copy)
        walls = {}
        for jobs, place in ((1, where), (16, copy)):
            wall, proc = timed([*mturkmake, "-j", str(jobs), "hello.results"], place, env)
            if proc.returncode not in (0, 1, 2):
                raise SystemExit(proc.stderr[-2000:])
            rows = (place / "hello.results").read_text(encoding="utf-8").count("\n") - 1
            walls[jobs] = wall
            print(
                f"hello.results, {args.rows:,} HITs, serve --latency 50ms, -j {jobs:>2}: "
                f"{wall:.1f} s, {rows} rows (exit {proc.returncode}; "
                f"load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        same = (where / "hello.results").read_bytes() == (copy / "hello.results").read_bytes()
        print(f"-j 16 over -j 1: {walls[1] / walls[16]:.1f}x; identical files: {same}")
    finally:
        server.close()


def rps(args: argparse.Namespace, base: Path, env: dict[str, str]) -> None:
    mturkmake = [sys.executable, "-m", "mturkmake"]
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    server = Server(base, env, "--rps", "5")
    try:
        where = project(base, "batches", args.batch_rows, server.url)
        targets = []
        for n in range(args.batches):
            stem = f"b{n:02d}"
            for suffix in ("question", "properties"):
                shutil.copy(where / f"hello.{suffix}", where / f"{stem}.{suffix}")
            with (where / f"{stem}.input").open("w", encoding="utf-8") as out:
                out.write("city\n" + "".join(f"City {n}-{r}\n" for r in range(args.batch_rows)))
            targets.append(f"{stem}.success")
        wall, proc = timed([*mturkmake, "-j", "16", *targets], where, env)
        shown = proc.stdout + proc.stderr
        throttled = len(re.findall(r"Rate exceeded|Throttl", shown))
        print(
            f"{args.batches} batches x {args.batch_rows} rows, -j 16, serve --rps 5, rate unset: "
            f"exit {proc.returncode}, {wall:.1f} s, throttling errors shown: {throttled}, "
            f"server holds {server.hits()} HITs (expected {args.batches * args.batch_rows})"
        )
    finally:
        server.close()
    server = Server(base, env, "--rps", "5")
    try:
        where = project(base, "rated", args.rate_calls, server.url, "rate = 5\n")
        wall, proc = timed([*mturkmake, "-j", "16", "hello.success"], where, env)
        created = server.hits()
        # calls: one CreateHITWithHITType per row, plus the run's few others (the endpoint
        # check, GetAccountBalance, CreateHITType)
        print(
            f"{args.rate_calls} rows with rate = 5, -j 16, serve --rps 5: exit {proc.returncode}, "
            f"{wall:.1f} s, {created} HITs, {created / wall:.2f} creations/s over the whole run "
            "(start-up included)"
        )
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="which", required=True)
    one = sub.add_parser("latency")
    one.add_argument("--rows", type=int, default=1000)
    one.add_argument("--aws-sample", type=int, default=20)
    two = sub.add_parser("rps")
    two.add_argument("--batches", type=int, default=16)
    two.add_argument("--batch-rows", type=int, default=10)
    two.add_argument("--rate-calls", type=int, default=300)
    three = sub.add_parser("results")
    three.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mturkmake-served-") as tmp:
        base = Path(tmp)
        env = _env(base / "pyc")
        {"latency": latency, "rps": rps, "results": results}[args.which](args, base, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
