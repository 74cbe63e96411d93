"""A no-op run must stay cheap: none of the heavy libraries may be imported (DESIGN §9)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

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


def _full_names(args: list[str], cwd: Path) -> set[str]:
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
    return {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


#: What deciding that ``X.approved`` is up to date never needs (issue #17): the ledger, the
#: client and the endpoint, the decisions, the preflight's readers, the results and the
#: qualification machinery load only when a step runs.
NOT_FOR_A_NOOP = (
    "mturkmake.mturk.ledger",
    "mturkmake.mturk.endpoint",
    "mturkmake.mturk.decisions",
    "mturkmake.mturk.batch",
    "mturkmake.mturk.results_cache",
    "mturkmake.mturk.qualification_types",
    "mturkmake.formats.question",
    "mturkmake.formats.hit_properties",
    "mturkmake.formats.results",
    "importlib.metadata",
)


def test_up_to_date_approved_imports_only_what_deciding_needs(tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "helloworld"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "helloworld", project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    for args in (["hello.approved", "--wait"], ["hello.approved"]):
        made = subprocess.run(
            [sys.executable, "-m", "mturkmake", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert made.returncode == 0, made.stderr
    names = _full_names(["hello.approved"], project)
    assert "mturkmake.core.run" in names  # the measurement itself works
    assert not names & set(NOT_FOR_A_NOOP), sorted(names & set(NOT_FOR_A_NOOP))
    assert not {n.split(".")[0] for n in names} & set(HEAVY)


def test_entry_point_cache_sees_a_plugin_installed_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mturkmake.core.plugins import ENTRY_POINT_CACHE, make_plugin_manager

    site = tmp_path / "site"
    site.mkdir()
    cache = tmp_path / "state"
    cache.mkdir()
    monkeypatch.syspath_prepend(str(site))
    first = make_plugin_manager(builtins=(), cache_dir=cache)
    assert (cache / ENTRY_POINT_CACHE).exists()
    assert first.get_plugin("late") is None
    (site / "late_plugin.py").write_text("X = 1\n")
    dist = site / "late_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: late-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mturkmake]\nlate = late_plugin\n")
    # the directory's mtime moved with the new distribution: the cache is stale
    os.utime(site, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    second = make_plugin_manager(builtins=(), cache_dir=cache)
    assert second.get_plugin("late") is not None
    assert second.origins["late"] == "entry point late-plugin 1.0"
    third = make_plugin_manager(builtins=(), cache_dir=cache)  # from the cache now
    assert third.origins["late"] == "entry point late-plugin 1.0"
