"""Plugins load from every source, can be blocked, and bad ones fail with a clear line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mturkmake.core.plugins import PluginHost, make_plugin_manager
from mturkmake.errors import PluginError
from mturkmake.testing import Project

HELLO_PLUGIN = textwrap.dedent(
    """
    from mturkmake import CommandSpec, Flag, ConfigKey, hookimpl

    def _hello(args, ctx):
        print("hello from {name}", args.get("who"), ctx.config.get("greeting"))
        return 0

    @hookimpl
    def mturkmake_commands():
        return [CommandSpec("hello-{name}", (Flag("who", "NAME"),), _hello, help="greets")]

    @hookimpl
    def mturkmake_config_keys():
        return [ConfigKey("greeting", str, "hi", "what to say")]
    """
)


def _module(directory: Path, name: str) -> None:
    (directory / f"{name}.py").write_text(HELLO_PLUGIN.replace("{name}", name))


def test_project_local_plugin_file(mturkmake_project: Project) -> None:
    mturkmake_project.write({"mturkmake_plugins.py": HELLO_PLUGIN.replace("{name}", "local")})
    result = mturkmake_project.run("hello-local", "-who", "ann")
    assert result.exit_code == 0, result.stderr
    assert "hello from local ann hi" in result.stdout


def test_dash_p_module(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _module(tmp_path, "plugin_via_p")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = mturkmake_project.run("-p", "plugin_via_p", "hello-plugin_via_p", "--who", "bo")
    assert result.exit_code == 0, result.stderr
    assert "hello from plugin_via_p bo hi" in result.stdout


def test_config_plugins_key_and_plugin_declared_key(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _module(tmp_path, "plugin_via_config")
    monkeypatch.syspath_prepend(str(tmp_path))
    mturkmake_project.write(
        {"mturkmake.toml": 'plugins = ["plugin_via_config"]\ngreeting = "hey"\n'}
    )
    result = mturkmake_project.run("hello-plugin_via_config")
    assert result.exit_code == 0, result.stderr
    assert "hello from plugin_via_config None hey" in result.stdout


def test_undeclared_key_is_refused_naming_file_and_line(mturkmake_project: Project) -> None:
    mturkmake_project.write(
        {
            "mturkmake_plugins.py": HELLO_PLUGIN.replace("{name}", "local"),
            "mturkmake.toml": 'endpoint = "local"\ngreetin = "typo"\n',
        }
    )
    result = mturkmake_project.run("hello-local")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "mturkmake.toml:2: unknown key 'greetin'" in result.stderr
    assert "greeting" in result.stderr  # the known keys are listed


def test_entry_point_plugin(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _module(site, "plugin_via_ep")
    dist = site / "plugin_via_ep-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-via-ep\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mturkmake]\nviaep = plugin_via_ep\n")
    monkeypatch.syspath_prepend(str(site))
    result = mturkmake_project.run("hello-plugin_via_ep")
    assert result.exit_code == 0, result.stderr
    assert "hello from plugin_via_ep" in result.stdout
    # -p no:NAME blocks it by its entry-point name.
    blocked = mturkmake_project.run("-p", "no:viaep", "hello-plugin_via_ep")
    assert blocked.exit_code == 2
    assert "no targets" not in blocked.stderr  # it became a target, made by no rule


def test_block_builtin_reporter_silences_output(mturkmake_project: Project) -> None:
    mturkmake_project.write(
        {
            "mturkmake_plugins.py": textwrap.dedent(
                """
            from mturkmake import CommandSpec, Event, hookimpl
            def _say(args, ctx):
                ctx.report(Event("info", "reported line"))
                return 0
            @hookimpl
            def mturkmake_commands():
                return [CommandSpec("say", (), _say)]
            """
            )
        }
    )
    assert "reported line" in mturkmake_project.run("say").stdout
    assert "reported line" not in mturkmake_project.run("-p", "no:reporter", "say").stdout


def test_wrong_hook_signature_names_plugin_and_hook(tmp_path: Path) -> None:
    bad = tmp_path / "mturkmake_plugins.py"
    bad.write_text(
        "from mturkmake import hookimpl\n"
        "@hookimpl\n"
        "def mturkmake_report(event, colour):\n"
        "    pass\n"
    )
    with pytest.raises(PluginError) as info:
        make_plugin_manager(entrypoints=False, local_file=bad)
    text = str(info.value)
    assert "mturkmake_plugins" in text
    assert "mturkmake_report" in text


def test_unknown_hook_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "mturkmake_plugins.py"
    bad.write_text(
        "from mturkmake import hookimpl\n@hookimpl\ndef mturkmake_reprot(event):\n    pass\n"
    )
    with pytest.raises(PluginError, match="mturkmake_reprot"):
        make_plugin_manager(entrypoints=False, local_file=bad)


def test_each_manager_is_fresh(tmp_path: Path) -> None:
    local = tmp_path / "mturkmake_plugins.py"
    local.write_text(HELLO_PLUGIN.replace("{name}", "x"))
    with_local = PluginHost(make_plugin_manager(builtins=(), entrypoints=False, local_file=local))
    without = PluginHost(make_plugin_manager(builtins=(), entrypoints=False))
    assert [c.name for c in with_local.commands()] == ["hello-x"]
    assert without.commands() == []
