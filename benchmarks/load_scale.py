"""Benchmark 5: a local load's per-HIT cost as the batch grows, and ``-n`` over a large input.

For each ``--rows`` size, copies ``examples/helloworld`` to a temporary directory, writes an
input of that many distinct cities and builds ``hello.success`` on the in-process local
marketplace (``python -m mturkmake hello.success``), timing the whole run and its peak RSS
(``/usr/bin/time``'s maximum resident set size, or ``getrusage`` of the children). The per-HIT
cost is the wall time minus a no-op run's (the interpreter, imports and plugin manager) divided
by the rows. Then ``-n hello.success`` over ``--dry-rows`` rows (a fresh project: every row
would be created) gives rows per second (of wall time, and of CPU time: the machine may be
shared) and peak RSS, for helloworld and, with ``--best-image``,
for ``examples/labelling`` (when present).

The ratio that matters is the per-HIT cost at the largest size over that at the smallest
(issue #17: within 1.5x; the 100,000-row load under 5 minutes; ``-n`` at least 20,000 rows/s
in at most 150 MB).

Usage: ``python benchmarks/load_scale.py [--rows 1000 10000 100000] [--dry-rows 100000]``;
``--check`` exits 1 when the peak RSS of the largest load (or ``-n``) exceeds the smallest's
by more than 1.3x: the input is read as a stream, so memory must not grow with the rows.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_copy import copy_example

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURKMAKE_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def project(base: Path, rows: int, name: str = "helloworld") -> Path:
    """A copy of ``examples/NAME`` whose input has ``rows`` distinct rows."""
    target = base / f"{name}-{rows}"
    copy_example(EXAMPLES / name, target)
    inputs = sorted(target.glob("*.input"))
    path = inputs[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    header, first = lines[0], lines[1].split("\t")
    with path.open("w", encoding="utf-8") as out:
        out.write(header + "\n")
        for n in range(rows):
            # the first column made unique, the others kept: distinct rows, the same shape
            out.write("\t".join([f"{first[0]} {n}", *first[1:]]) + "\n")
    return target


class Ran(NamedTuple):
    """One run: wall seconds, CPU seconds (user + system) and peak RSS in MiB."""

    wall: float
    cpu: float
    rss: float


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> Ran:
    """Run ``argv``; its wall and CPU seconds and peak RSS."""
    timer = "/usr/bin/time"
    report = cwd / ".time"
    if os.path.exists(timer):
        argv = [timer, "-f", "%M %U %S", "-o", str(report), *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    if report.exists():
        rss_kib, user, system = report.read_text().split()[-3:]
        report.unlink()
        return Ran(wall, float(user) + float(system), int(rss_kib) / 1024)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Ran(wall, cpu, after.ru_maxrss / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1000, 10000, 100000])
    parser.add_argument("--dry-rows", type=int, nargs="*", default=[100000])
    parser.add_argument("--best-image", action="store_true", help="-n on examples/labelling too")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="-j of the loads")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 if the peak RSS of the largest load or -n exceeds the smallest's by "
        f"more than {FLAT:.1f}x (memory must not grow with the rows)",
    )
    args = parser.parse_args()
    mturkmake = [sys.executable, "-m", "mturkmake"]
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mturkmake-scale-") as tmp:
        base = Path(tmp)
        env = _env(base / "pyc")
        print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
        small = project(base, 1)
        run([*mturkmake, "hello.success"], small, env)
        startup = run([*mturkmake, "hello.success"], small, env)  # up to date: a no-op
        print(f"no-op run (startup): {startup.wall:.2f} s, {startup.cpu:.2f} s CPU")
        per_hit: dict[int, float] = {}
        load_rss: dict[int, float] = {}
        for rows in args.rows:
            where = project(base, rows)
            ran = run([*mturkmake, "-j", str(args.jobs), "hello.success"], where, env)
            per_hit[rows] = (ran.wall - startup.wall) / rows
            load_rss[rows] = ran.rss
            print(
                f"load -j {args.jobs} {rows:>7,} rows: {ran.wall:8.1f} s, "
                f"{per_hit[rows] * 1000:6.2f} ms/HIT, peak RSS {ran.rss:6.1f} MiB "
                f"(load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
            shutil.rmtree(where)
        if len(per_hit) > 1:
            first, last = min(per_hit), max(per_hit)
            print(f"per-HIT ratio {last:,} / {first:,} rows: {per_hit[last] / per_hit[first]:.2f}x")
            failures += _flat("load", load_rss)
        names = ["helloworld"] + (["labelling"] if args.best_image else [])
        for name in names:
            if not (EXAMPLES / name).is_dir():
                continue
            dry_rss: dict[int, float] = {}
            for rows in (n for n in args.dry_rows if n > 0):
                where = project(base, rows, name)
                target = next(where.glob("*.input")).with_suffix(".success").name
                ran = run([*mturkmake, "-n", target], where, env)
                dry_rss[rows] = ran.rss
                print(
                    f"-n {name} {rows:,} rows: {ran.wall:.1f} s, "
                    f"{_rate(rows, ran.wall - startup.wall)} rows/s; {ran.cpu:.1f} s CPU, "
                    f"{_rate(rows, ran.cpu - startup.cpu)} rows/s of CPU (startup excluded), "
                    f"peak RSS {ran.rss:.1f} MiB (load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
                shutil.rmtree(where)
            failures += _flat(f"-n {name}", dry_rss)
    if args.check and failures:
        print("\n".join(failures))
        return 1
    return 0


def _rate(rows: int, seconds: float) -> str:
    # a small input can take less than the no-op's time: no meaningful rate then
    return f"{rows / seconds:,.0f}" if seconds > 0.05 else "n/a"


#: ``--check``: the largest run's peak RSS over the smallest's may not pass this.
FLAT = 1.3


def _flat(what: str, rss: dict[int, float]) -> list[str]:
    if len(rss) < 2:
        return []
    first, last = min(rss), max(rss)
    ratio = rss[last] / rss[first]
    print(f"peak RSS ratio, {what} {last:,} / {first:,} rows: {ratio:.2f}x")
    if ratio <= FLAT:
        return []
    return [f"{what}: peak RSS grows with the rows ({ratio:.2f}x > {FLAT:.1f}x)"]


if __name__ == "__main__":
    sys.exit(main())
