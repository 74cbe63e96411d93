"""``mturkmake plugins``: every plugin, where it came from, and its hooks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mturkmake.core.plugins import (
    BUILTIN_PLUGINS,
    ORIGIN_BUILTIN,
    ORIGIN_CONFIG,
    ORIGIN_OPTION,
    ORIGIN_PROJECT_FILE,
    make_plugin_manager,
)
from mturkmake.plugins.plugins_cli import plugin_rows
from mturkmake.testing import Project

CONFIG_PLUGIN = """
from mturkmake import hookimpl


@hookimpl
def mturkmake_report(event):
    pass
"""
OPTION_PLUGIN = """
from mturkmake import hookimpl


@hookimpl
def mturkmake_rules(config):
    return []


@hookimpl
def mturkmake_configure(config):
    pass
"""
PROJECT_FILE = """
from mturkmake import hookimpl


@hookimpl
def mturkmake_commands():
    return []
"""


def _blocks(stdout: str) -> dict[str, tuple[str, str]]:
    """plugin name → (its first line, its hooks line or "")."""
    lines = stdout.splitlines()
    found: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(lines):
        if line and not line.startswith(" "):
            following = lines[n + 1] if n + 1 < len(lines) else ""
            hooks = following.strip() if following.strip().startswith("hooks:") else ""
            found[line.split()[0]] = (line, hooks)
    return found


def test_every_origin_is_shown_with_the_hooks(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = mturkmake_project
    modules = project.root / "modules"
    project.write(
        {
            "modules/cfg_plugin.py": CONFIG_PLUGIN,
            "modules/opt_plugin.py": OPTION_PLUGIN,
            "mturkmake_plugins.py": PROJECT_FILE,
        }
    )
    project.configure(plugins=["cfg_plugin"])
    monkeypatch.syspath_prepend(str(modules))
    result = project.run("-p", "opt_plugin", "-p", "no:unreject", "plugins")
    assert result.exit_code == 0, result.output
    blocks = _blocks(result.stdout)
    assert blocks["templating"][0].split()[1:3] == ["built-in", "(mturkmake.plugins.templating)"]
    assert blocks["templating"][1] == "hooks: config_keys, configure, template_engines"
    assert blocks["cfg_plugin"][0].split(None, 1)[1] == f"{ORIGIN_CONFIG}  (cfg_plugin)"
    assert blocks["cfg_plugin"][1] == "hooks: report"
    assert blocks["opt_plugin"][0].split(None, 1)[1] == f"{ORIGIN_OPTION}  (opt_plugin)"
    assert blocks["opt_plugin"][1] == "hooks: configure, rules"
    project_line = blocks["mturkmake_plugins"][0]
    assert ORIGIN_PROJECT_FILE in project_line
    assert str(project.path("mturkmake_plugins.py")) in project_line
    assert blocks["mturkmake_plugins"][1] == "hooks: commands"
    assert (blocks["unreject"][0].split(), blocks["unreject"][1]) == (["unreject", "blocked"], "")
    assert blocks["plugins_cli"][1] == "hooks: commands"
    # registration order: built-ins, config, -p, project file
    order = list(blocks)
    assert order.index("get_results") < order.index("cfg_plugin") < order.index("opt_plugin")
    assert order.index("opt_plugin") < order.index("mturkmake_plugins")


def test_the_manager_records_each_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfg_plugin.py").write_text(CONFIG_PLUGIN, encoding="utf-8")
    (tmp_path / "mturkmake_plugins.py").write_text(PROJECT_FILE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = make_plugin_manager(
        entrypoints=False,
        modules=["cfg_plugin"],
        local_file=tmp_path / "mturkmake_plugins.py",
    )
    assert pm.origins["cfg_plugin"] == ORIGIN_CONFIG
    assert pm.origins["mturkmake_plugins"] == ORIGIN_PROJECT_FILE
    assert all(pm.origins[m.rsplit(".", 1)[1]] == ORIGIN_BUILTIN for m in BUILTIN_PLUGINS)
    rows = {name: (origin, hooks) for name, origin, _where, hooks in plugin_rows(pm)}
    assert rows["cfg_plugin"] == (ORIGIN_CONFIG, ["report"])
    sys.modules.pop("cfg_plugin", None)


def test_entry_point_plugins_name_their_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution found on sys.path (no pip: a module and its .dist-info)."""
    (tmp_path / "ep_plugin.py").write_text(PROJECT_FILE, encoding="utf-8")
    dist = tmp_path / "ep_plugin_dist-2.5.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ep-plugin-dist\nVersion: 2.5\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text("[mturkmake]\nep = ep_plugin\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = make_plugin_manager(builtins=(), entrypoints=True)
    assert pm.origins["ep"] == "entry point ep-plugin-dist 2.5"
    sys.modules.pop("ep_plugin", None)
