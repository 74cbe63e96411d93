"""``mturkmake plugins``: every plugin of this run, where it came from, and the hooks it implements.

A plugin author's first question after installing or writing a plugin is "is it loaded, and
are my hooks seen?"; a user's is "where does this evaluator come from?". The listing answers
both, in registration order (the order of DESIGN §5: built-ins, entry points, config
``plugins``, ``-p``, the project file ``mturkmake_plugins.py``). Blocked plugins
(``-p no:NAME``, ``MTURKMAKE_DISABLE_PLUGINS``) are listed as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mturkmake.errors import PluginError
from mturkmake.hookspecs import CommandSpec, Context, hookimpl

#: The prefix every hook name shares; the listing leaves it out.
HOOK_PREFIX = "mturkmake_"


def plugin_rows(pm: Any) -> list[tuple[str, str, str, list[str]]]:
    """``(name, origin, where, hooks)`` for every registered or blocked plugin, in order.

    :param pm: this run's plugin manager (:class:`mturkmake.core.plugins.PluginManager`;
        a plain pluggy manager lists every origin as unknown).
    :returns: ``where`` is the module name or file; ``hooks`` are the implemented hook names
        without the ``mturkmake_`` prefix, sorted.
    """
    origins: Mapping[str, str] = getattr(pm, "origins", {})
    rows: list[tuple[str, str, str, list[str]]] = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            rows.append((name, "blocked", "", []))
            continue
        hooks = sorted(
            caller.name.removeprefix(HOOK_PREFIX) for caller in pm.get_hookcallers(plugin) or []
        )
        rows.append((name, origins.get(name, "unknown"), _where(plugin), hooks))
    return rows


def _where(plugin: object) -> str:
    module = getattr(plugin, "__name__", None)
    if isinstance(module, str):
        path = getattr(plugin, "__file__", None)
        # A file loaded by path (the project file) is better named by its path.
        return path if module == "mturkmake_plugins" and isinstance(path, str) else module
    kind = type(plugin)
    return f"{kind.__module__}.{kind.__qualname__} instance"


def list_plugins(args: Mapping[str, Any], ctx: Context) -> int:
    """Handler of ``plugins``: print one block per plugin."""
    # The Host protocol plugins see has no manager; the run's PluginHost does.
    pm = getattr(ctx.host, "pm", None)
    if pm is None:
        raise PluginError("this run's plugin host cannot list its plugins")
    rows = plugin_rows(pm)
    width = max((len(name) for name, *_ in rows), default=0)
    for name, origin, where, hooks in rows:
        print(f"{name:<{width}}  {origin}" + (f"  ({where})" if where else ""))
        if hooks:
            print(f"{'':<{width}}  hooks: {', '.join(hooks)}")
    return 0


PLUGINS_COMMAND = CommandSpec(
    name="plugins",
    flags=(),
    handler=list_plugins,
    help="list the loaded plugins, where each came from, and the hooks it implements",
)


@hookimpl
def mturkmake_commands() -> list[CommandSpec]:
    """Contribute ``plugins``."""
    return [PLUGINS_COMMAND]
