"""Built-ins registered by stand-ins behave as the modules would, and the tables that describe
the modules stay true to them (issue #17)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from mturkmake.core.lazy_plugins import BUILTIN_COMMANDS, BUILTIN_HOOKS, entries_of, stands_for
from mturkmake.core.plugins import (
    BUILTIN_PLUGINS,
    PluginHost,
    builtin_name,
    command_names,
    make_plugin_manager,
)
from mturkmake.errors import PluginError


@pytest.mark.parametrize("module_name", BUILTIN_PLUGINS)
def test_tables_describe_each_builtin(module_name: str) -> None:
    hooks, commands = entries_of(importlib.import_module(module_name))
    expected_hooks = tuple(sorted(BUILTIN_HOOKS.get(module_name, ())))
    expected_commands = BUILTIN_COMMANDS.get(module_name, ())
    assert hooks == expected_hooks, (
        f"update BUILTIN_HOOKS in mturkmake/core/lazy_plugins.py:\n    {module_name!r}: {hooks!r},"
    )
    assert sorted(commands) == sorted(expected_commands), (
        "update BUILTIN_COMMANDS in mturkmake/core/lazy_plugins.py:\n"
        f"    {module_name!r}: {commands!r},"
    )


def test_every_table_entry_is_a_builtin() -> None:
    assert set(BUILTIN_HOOKS) <= set(BUILTIN_PLUGINS)
    assert set(BUILTIN_COMMANDS) <= set(BUILTIN_HOOKS)


def _eager_manager() -> PluginHost:
    """The same plugins, each built-in registered as its module (as before stand-ins)."""
    pm = make_plugin_manager(builtins=(), entrypoints=False)
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=builtin_name(module_name))
    return PluginHost(pm)


def test_stand_ins_call_hooks_in_the_modules_order() -> None:
    lazy = make_plugin_manager(entrypoints=False)
    eager = _eager_manager().pm
    assert all(stands_for(lazy.get_plugin(builtin_name(m))) == m for m in BUILTIN_PLUGINS)
    for caller in lazy.hook.__dict__.values():
        if not hasattr(caller, "get_hookimpls"):
            continue
        other = getattr(eager.hook, caller.name)
        lazy_order = [(i.plugin_name, i.argnames, i.trylast) for i in caller.get_hookimpls()]
        eager_order = [(i.plugin_name, i.argnames, i.trylast) for i in other.get_hookimpls()]
        assert lazy_order == eager_order, caller.name


def test_stand_ins_return_what_the_modules_return() -> None:
    lazy = PluginHost(make_plugin_manager(entrypoints=False))
    eager = _eager_manager()
    assert [k.name for k in lazy.config_keys()] == [k.name for k in eager.config_keys()]
    assert [c.name for c in lazy.commands()] == [c.name for c in eager.commands()]
    # placeholders repeat the names of commands that have a real implementation
    assert set(command_names(lazy.pm)) == {
        name for spec in eager.commands() for name in (spec.name, *spec.aliases)
    }


def test_command_names_come_without_importing_command_modules() -> None:
    code = (
        "import sys\n"
        "from mturkmake.core.plugins import command_names, make_plugin_manager\n"
        "names = command_names(make_plugin_manager(entrypoints=False))\n"
        "assert 'loadHITs' in names and 'marketplace serve' in names, names\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('mturkmake.plugins.'))\n"
        "print(' '.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []


def test_blocked_builtin_is_not_imported_nor_listed(tmp_path: Path) -> None:
    pm = make_plugin_manager(entrypoints=False, blocked=["status"])
    assert pm.get_plugin("status") is None
    assert "status" not in command_names(pm)


def test_a_builtin_named_again_by_dash_p_is_refused() -> None:
    with pytest.raises(PluginError, match="built-in plugin 'status'"):
        make_plugin_manager(entrypoints=False, option_modules=["mturkmake.plugins.status"])
