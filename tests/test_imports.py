"""A no-op run must stay cheap: none of the heavy libraries may be imported (DESIGN §9)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("boto3", "botocore", "airspeed", "defusedxml", "requests", "rich", "tqdm")


def _imported_modules(args: list[str], cwd: Path) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mturkmake", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            modules.add(name.split(".")[0])
    assert "mturkmake" in modules  # the measurement itself works
    return modules


def test_version_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = _imported_modules(["--version"], tmp_path)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_noop_make_run_imports_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "mturkmake.toml").write_text('endpoint = "local"\n')
    (tmp_path / "mturkmake_plugins.py").write_text(
        textwrap.dedent(
            """
        import shutil
        from mturkmake import Outcome, Rule, hookimpl

        def _copy(job):
            shutil.copyfile(job.path(job.prerequisites[0]), job.outputs[job.target])
            return Outcome()

        @hookimpl
        def mturkmake_rules(config):
            return [Rule("%.out", ("%.in",), _copy, name="copy")]
        """
        )
    )
    (tmp_path / "a.in").write_text("x\n")
    first = subprocess.run(
        [sys.executable, "-m", "mturkmake", "a.out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    modules = _imported_modules(["a.out"], tmp_path)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
