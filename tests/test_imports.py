"""A no-op run must stay cheap: none of the heavy libraries may be imported (DESIGN §9), and
an up-to-date target imports only what deciding needs (issue #17).

What a run imported is read from ``sys.modules`` when it exits: ``-X importtime`` misses
every module imported through ``importlib.import_module`` (plugins, entry points).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HEAVY = ("boto3", "botocore", "airspeed", "defusedxml", "requests", "rich", "tqdm", "jinja2")

#: Runs ``python -m mturkmake ARGS`` and writes the names in ``sys.modules`` at exit.
_RUN_AND_LIST = """
import atexit, runpy, sys
out, args = sys.argv[1], sys.argv[2:]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["mturkmake", *args]
runpy.run_module("mturkmake", run_name="__main__", alter_sys=True)
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}


def _imported(args: list[str], cwd: Path) -> set[str]:
    """Every module a run of ``mturkmake ARGS`` in ``cwd`` had imported when it exited."""
    out = cwd / ".imported-modules"
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST, str(out), *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set(out.read_text().split())
    out.unlink()
    assert "mturkmake.cli" in names  # the measurement itself works
    return names


def _heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


def test_version_imports_nothing_heavy(tmp_path: Path) -> None:
    names = _imported(["--version"], tmp_path)
    assert not _heavy(names)
    assert "mturkmake.core.plugins" not in names  # --version answers before any plugin


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
    names = _imported(["a.out"], tmp_path)
    assert not _heavy(names)


def _noop_modules() -> tuple[str, ...]:
    """Built-in plugin modules with no hook a no-op calls: their stand-ins never load them."""
    from mturkmake.core.lazy_plugins import BUILTIN_HOOKS, parse_entry

    noop_hooks = {
        "mturkmake_add_options",
        "mturkmake_config_keys",
        "mturkmake_config_layers",
        "mturkmake_configure",
        "mturkmake_rules",
        "mturkmake_report",
    }
    return tuple(
        module
        for module, entries in BUILTIN_HOOKS.items()
        if not {parse_entry(entry)[0] for entry in entries} & noop_hooks
    )


#: What deciding that ``X.approved`` is up to date never needs (issue #17): the ledger, the
#: client and the endpoint, the decisions, the preflight's readers, the results and the
#: qualification machinery load only when a step runs; the commands (and the CLT catalog that
#: describes them) only when one is named; hashing only when a file's mtime moved; the TOML
#: parser only when the project file changed; a thread pool only for -j N.
NOT_FOR_A_NOOP = (
    "mturkmake.mturk.ledger",
    "mturkmake.mturk.endpoint",
    "mturkmake.mturk.decisions",
    "mturkmake.mturk.batch",
    "mturkmake.mturk.results_cache",
    "mturkmake.mturk.qualification_types",
    "mturkmake.mturk.project",
    "mturkmake.mturk.waiting",
    "mturkmake.mturk.preflight",
    "mturkmake.formats.question",
    "mturkmake.formats.hit_properties",
    "mturkmake.formats.results",
    "mturkmake.formats.velocity",
    "mturkmake.plugins.clt_catalog",
    "mturkmake.plugins.clt_placeholders",
    "mturkmake.marketplace.inprocess",
    "importlib.metadata",
    "hashlib",
    "tomllib",
    "tomli",
    "json",
    "shutil",
    "traceback",
    "concurrent.futures",
)


def test_up_to_date_approved_imports_only_what_deciding_needs(tmp_path: Path) -> None:
    import shutil

    project = tmp_path / "helloworld"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "helloworld", project)
    for args in (["hello.approved", "--wait"], ["hello.approved"]):
        made = subprocess.run(
            [sys.executable, "-m", "mturkmake", *args],
            cwd=project,
            env=_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert made.returncode == 0, made.stderr
    _imported(["hello.approved"], project)  # the first run of this interpreter set-up caches
    names = _imported(["hello.approved"], project)
    assert "mturkmake.core.run" in names  # the measurement itself works
    assert "mturkmake.plugins.approved_rule" in names  # a rule the target needs
    assert not _heavy(names)
    assert not names & set(NOT_FOR_A_NOOP), sorted(names & set(NOT_FOR_A_NOOP))
    commands_only = set(_noop_modules())
    assert "mturkmake.plugins.approve_work" in commands_only
    assert not names & commands_only, sorted(names & commands_only)


def test_a_command_still_loads_its_plugin(tmp_path: Path) -> None:
    names = _imported(["plugins"], tmp_path)
    assert "mturkmake.plugins.plugins_cli" in names


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
