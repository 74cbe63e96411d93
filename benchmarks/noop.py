"""Benchmark 1: an up-to-date ``mturkmake X.approved`` against ``python -c pass``.

Copies ``examples/helloworld`` to a temporary directory, builds ``hello.approved --wait`` once
on the local marketplace, then times ``--repeat`` paired runs of ``python -c pass`` and of
``python -m mturkmake hello.approved`` (which now only finds the target up to date),
interleaved so that both see the same load, and prints the medians and their ratio. Bytecode is
cached in a temporary ``PYTHONPYCACHEPREFIX`` (as an installed package has its ``.pyc``), and
``--warmup`` untimed runs of each come first. The machine's load average is printed too: on
shared cores the ratio is what matters.

``--baseline SRC`` times a third series, the no-op of another source tree (e.g. ``git archive
main`` unpacked in a directory), interleaved with the other two: before/after in one run.

``--check`` exits 1 when the ratio exceeds ``--max-ratio`` (default 4, issue #17).
``--modules`` prints the mturkmake modules and the heavy libraries the no-op imported.
``--instructions`` also counts the instructions each command executes (valgrind's callgrind):
a figure the machine's load does not move.

Usage: ``python benchmarks/noop.py [--repeat 21] [--check]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example_copy import copy_example

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "helloworld"
HEAVY = ("boto3", "botocore", "airspeed", "defusedxml", "requests", "tqdm", "jinja2")


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MTURKMAKE_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


#: Runs ``python -m mturkmake ARGS`` and prints ``sys.modules`` at exit (``-X importtime``
#: misses every module imported through ``importlib.import_module``: plugins, entry points).
_LIST_MODULES = """
import atexit, runpy, sys
atexit.register(lambda: print("\\n".join(sys.modules), file=sys.stderr))
sys.argv = ["mturkmake", *sys.argv[1:]]
runpy.run_module("mturkmake", run_name="__main__", alter_sys=True)
"""


def imported(project: Path, env: dict[str, str]) -> list[str]:
    """Modules (mturkmake's and heavy libraries) a no-op run imports, in import order."""
    proc = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, "hello.approved"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    names = []
    for name in proc.stderr.splitlines():
        if name.startswith("mturkmake") or name.split(".")[0] in HEAVY:
            names.append(name)
    return names


def instructions(argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Instructions a command executes, counted by valgrind's callgrind. A count does not
    depend on the machine's load (a time does, a lot on shared cores); it does not weigh
    what a time also holds (process start-up, page faults, I/O)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind")
    done = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        cwd=cwd,
        env=dict(env, PYTHONHASHSEED="0"),
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stderr.splitlines():
        if "refs:" in line:
            return int(line.rsplit(":", 1)[1].replace(",", "").strip())
    raise SystemExit(f"no instruction count in valgrind's output: {done.stderr[-500:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21, help="paired timed runs")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each first")
    parser.add_argument("--check", action="store_true", help="exit 1 above --max-ratio")
    parser.add_argument("--max-ratio", type=float, default=4.0)
    parser.add_argument("--modules", action="store_true", help="list what the no-op imports")
    parser.add_argument("--baseline", metavar="SRC", help="also time the no-op of this tree")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions each executes (valgrind): unaffected by load",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mturkmake-noop-") as tmp:
        project = Path(tmp) / "helloworld"
        copy_example(EXAMPLE, project)
        env = _env(Path(tmp) / "pyc")
        build = [sys.executable, "-m", "mturkmake", "hello.approved", "--wait"]
        subprocess.run(build, cwd=project, env=env, check=True, capture_output=True)
        noop = [sys.executable, "-m", "mturkmake", "hello.approved"]
        # The first run after --wait may still record the final results; the next is a no-op.
        for _ in range(3):
            check = subprocess.run(
                noop, cwd=project, env=env, capture_output=True, text=True, check=False
            )
            if "up to date" in check.stderr + check.stdout:
                break
        else:
            print(f"not a no-op: {check.stderr.strip()}", file=sys.stderr)
            return 2
        bare = [sys.executable, "-c", "pass"]
        for _ in range(args.warmup):
            _timed(bare, project, env)
            _timed(noop, project, env)
        load_before = os.getloadavg()[0]
        bare_times, noop_times, base_times = [], [], []
        base_env = (
            dict(env, PYTHONPATH=str(Path(args.baseline).resolve())) if args.baseline else env
        )
        if args.baseline:
            for _ in range(args.warmup):
                _timed(noop, project, base_env)
        for _ in range(args.repeat):
            bare_times.append(_timed(bare, project, env))
            noop_times.append(_timed(noop, project, env))
            if args.baseline:
                base_times.append(_timed(noop, project, base_env))
        load_after = os.getloadavg()[0]
        bare_median = statistics.median(bare_times)
        noop_median = statistics.median(noop_times)
        ratio = noop_median / bare_median
        print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")
        print(f"python -c pass:                  median {bare_median * 1000:7.1f} ms")
        print(f"mturkmake hello.approved (no-op): median {noop_median * 1000:7.1f} ms")
        print(f"ratio: {ratio:.2f}x  ({args.repeat} paired runs)")
        if base_times:
            base_median = statistics.median(base_times)
            print(
                f"baseline {args.baseline}: median {base_median * 1000:7.1f} ms, "
                f"ratio {base_median / bare_median:.2f}x"
            )
        if args.instructions:
            bare_ir = instructions(bare, project, env)
            noop_ir = instructions(noop, project, env)
            print(f"instructions, python -c pass:    {bare_ir / 1e6:7.1f} M")
            print(
                f"instructions, no-op:             {noop_ir / 1e6:7.1f} M, "
                f"ratio {noop_ir / bare_ir:.2f}x"
            )
            if args.baseline:
                base_ir = instructions(noop, project, base_env)
                print(
                    f"instructions, baseline no-op:    {base_ir / 1e6:7.1f} M, "
                    f"ratio {base_ir / bare_ir:.2f}x"
                )
        if args.modules:
            names = imported(project, env)
            ours = [n for n in names if n.startswith("mturkmake")]
            heavy = [n for n in names if not n.startswith("mturkmake")]
            print(f"mturkmake modules imported: {len(ours)}")
            for name in ours:
                print(f"  {name}")
            print(f"heavy libraries imported: {', '.join(heavy) or 'none'}")
    if args.check and ratio > args.max_ratio:
        print(f"FAIL: ratio {ratio:.2f} > {args.max_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
