"""A fresh plugin manager per run, and the typed facade over its hooks (house style §7, §8).

Registration order: built-ins (:data:`BUILTIN_PLUGINS`), then entry points (group
``mturkmake``), then modules named by config ``plugins = [...]`` and ``-p MODULE``, then the
project-local ``mturkmake_plugins.py``. The manager records where each plugin came from
(:attr:`PluginManager.origins`, shown by ``mturkmake plugins``). ``-p no:NAME`` and
``MTURKMAKE_DISABLE_PLUGINS`` (comma separated) block a plugin by its registered name before
anything registers; built-ins are registered under the last part of their module name
(``templating``, ``client`` …).
There is no global manager: every call of :func:`make_plugin_manager` builds a new one.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import FunctionType, MethodType, ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from mturkmake import hookspecs
from mturkmake.core.lazy_plugins import BUILTIN_COMMANDS, make_stub, stands_for
from mturkmake.errors import ConfigError, PluginError

if TYPE_CHECKING:
    import argparse

    from mturkmake.hookspecs import (
        CommandSpec,
        Config,
        ConfigKey,
        ConfigLayer,
        Evaluator,
        Event,
        QualificationEvaluator,
        Recovery,
        Rule,
        TemplateEngine,
    )

#: Built-in plugins, by module. Each is an ordinary plugin and can be blocked with
#: ``-p no:NAME`` (NAME = the last part of the module name), except :data:`ESSENTIAL_PLUGINS`.
BUILTIN_PLUGINS: tuple[str, ...] = (
    # first, so that every real implementation of a CLT command is found before its placeholder
    "mturkmake.plugins.clt_placeholders",
    "mturkmake.plugins.templating",
    "mturkmake.plugins.evaluators",
    "mturkmake.plugins.marketplace_cli",
    "mturkmake.plugins.client",
    "mturkmake.plugins.switch_endpoint",
    "mturkmake.plugins.plugins_cli",
    "mturkmake.plugins.load_hits",
    "mturkmake.plugins.preview",
    "mturkmake.plugins.approved_rule",
    "mturkmake.plugins.approve_work",
    "mturkmake.plugins.reject_work",
    "mturkmake.plugins.review_results",
    "mturkmake.plugins.unreject",
    "mturkmake.plugins.get_results",
    # qualifications and workers (issue 15)
    "mturkmake.plugins.create_qualification_type",
    "mturkmake.plugins.update_qualification_type",
    "mturkmake.plugins.assign_qualification",
    "mturkmake.plugins.revoke_qualification",
    "mturkmake.plugins.update_qualification_score",
    "mturkmake.plugins.get_qualification_requests",
    "mturkmake.plugins.approve_qualification_requests",
    "mturkmake.plugins.reject_qualification_requests",
    "mturkmake.plugins.evaluate_qualification_requests",
    "mturkmake.plugins.notify_workers",
    "mturkmake.plugins.exclude_workers",
    "mturkmake.plugins.get_balance",
    "mturkmake.plugins.grant_bonus",
    "mturkmake.plugins.bonused_rule",
    "mturkmake.plugins.extend_hits",
    "mturkmake.plugins.delete_hits",
    "mturkmake.plugins.block_worker",
    "mturkmake.plugins.update_hits",
    "mturkmake.plugins.reset_account",
    "mturkmake.plugins.make_template",
    "mturkmake.plugins.exports",
    "mturkmake.plugins.status",
    "mturkmake.plugins.report",
    "mturkmake.plugins.review_page",
)

#: Built-ins that cannot be blocked: without them mturkmake cannot work at all.
ESSENTIAL_PLUGINS: frozenset[str] = frozenset()

LOCAL_PLUGIN_FILE = "mturkmake_plugins.py"
ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
DISABLE_ENV = "MTURKMAKE_DISABLE_PLUGINS"
TRACE_ENV = "MTURKMAKE_TRACE_HOOKS"


def builtin_name(module: str) -> str:
    """The name a built-in registers under: the last part of its module name."""
    return module.rsplit(".", 1)[-1]


def blocked_from_env(environ: Mapping[str, str]) -> list[str]:
    """Plugin names listed in ``MTURKMAKE_DISABLE_PLUGINS``."""
    return [name.strip() for name in environ.get(DISABLE_ENV, "").split(",") if name.strip()]


#: Origins recorded in :attr:`PluginManager.origins`.
ORIGIN_BUILTIN = "built-in"
ORIGIN_CONFIG = "config plugins"
ORIGIN_OPTION = "-p"
ORIGIN_PROJECT_FILE = "project file " + LOCAL_PLUGIN_FILE
ORIGIN_EXTRA = "registered by the caller"


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from.

    :ivar origins: registered name → origin: :data:`ORIGIN_BUILTIN`, ``entry point
        DIST VERSION``, :data:`ORIGIN_CONFIG`, :data:`ORIGIN_OPTION`,
        :data:`ORIGIN_PROJECT_FILE` or :data:`ORIGIN_EXTRA`.
    """

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self.origins: dict[str, str] = {}

    # pluggy looks every attribute of a plugin up statically (inspect.getattr_static), the
    # constants and imports of a module included; only a function can implement a hook, so
    # a module's other attributes are skipped here first (a tenth of a no-op run, #17).
    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        """pluggy's, after skipping what no hook can be: a module attribute that is no
        function."""
        if isinstance(plugin, ModuleType):
            value = plugin.__dict__.get(name)
            if not isinstance(value, _HOOKABLE):
                return None
            if isinstance(value, FunctionType):  # what pluggy reads off a module's function
                opts = getattr(value, self.project_name + "_impl", None)
                return opts if isinstance(opts, dict) else None
        return super().parse_hookimpl_opts(plugin, name)

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
        """pluggy's, after skipping what no hook specification can be (as above)."""
        if isinstance(module_or_class, ModuleType) and not isinstance(
            module_or_class.__dict__.get(name), _HOOKABLE
        ):
            return None
        return super().parse_hookspec_opts(module_or_class, name)


#: What pluggy accepts as a hook implementation or specification.
_HOOKABLE = (FunctionType, MethodType, staticmethod, classmethod)


def make_plugin_manager(
    *,
    builtins: Sequence[str] = BUILTIN_PLUGINS,
    entrypoints: bool = True,
    modules: Sequence[str] = (),
    blocked: Iterable[str] = (),
    local_file: Path | None = None,
    extra: Sequence[tuple[object, str]] = (),
    option_modules: Sequence[str] = (),
    cache_dir: Path | None = None,
) -> PluginManager:
    """Build a new plugin manager with every plugin of this run registered.

    :param builtins: built-in plugin modules.
    :param entrypoints: whether to load the ``mturkmake`` entry-point group.
    :param modules: further plugin modules (config ``plugins``).
    :param option_modules: plugin modules named by ``-p MODULE`` (registered after ``modules``).
    :param blocked: names to block (``-p no:NAME``).
    :param local_file: the project-local ``mturkmake_plugins.py``, if it exists.
    :param extra: already-made plugin objects with their names (tests, the reporter).
    :param cache_dir: an existing directory (the project's ``.mturkmake/``) where the list of
        installed entry points is cached, keyed by the import path and its directories'
        modification times: scanning every installed distribution's metadata costs a no-op run
        more than everything else it does.
    :raises PluginError: a plugin cannot be imported or does not match the hook specs.
    """
    pm = PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        if name in ESSENTIAL_PLUGINS:
            raise PluginError(
                f"plugin '{name}' is essential and cannot be blocked",
                hint="remove 'no:" + name + "' from -p / " + DISABLE_ENV,
            )
        pm.set_blocked(name)
    for module_name in builtins:
        name = builtin_name(module_name)
        if pm.is_blocked(name):
            continue
        # A stand-in imports the module when one of its hooks is first called (#17).
        plugin: object = make_stub(module_name, _import) or _import(module_name)
        _register(pm, plugin, name, ORIGIN_BUILTIN)
    if entrypoints:
        _load_entry_points(pm, cache_dir)
    for origin, names in ((ORIGIN_CONFIG, modules), (ORIGIN_OPTION, option_modules)):
        for module_name in names:
            if pm.is_blocked(module_name) or pm.has_plugin(module_name):
                continue
            _refuse_builtin_again(pm, module_name)
            _register(pm, _import(module_name), module_name, origin)
    if local_file is not None and local_file.is_file():
        _register(pm, _import_file(local_file), "mturkmake_plugins", ORIGIN_PROJECT_FILE)
    for plugin, name in extra:
        _register(pm, plugin, name, ORIGIN_EXTRA)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise _validation_error(exc) from None
    if os.environ.get(TRACE_ENV):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


#: The entry-point cache's file name in ``cache_dir``.
ENTRY_POINT_CACHE = "entry_points.cache"


def _refuse_builtin_again(pm: PluginManager, module_name: str) -> None:
    # The module itself would register a second time beside its stand-in (pluggy refuses a
    # module registered twice under two names; a stand-in is another object).
    for name, plugin in pm.list_name_plugin():
        if stands_for(plugin) == module_name:
            raise PluginError(
                f"plugin '{module_name}' cannot be registered: "
                f"it is the built-in plugin '{name}', loaded already",
                hint="remove it from -p / plugins = [...]",
            )


def command_names(pm: pluggy.PluginManager) -> list[str]:
    """The names and aliases of every command of this run, without importing a built-in
    module to learn them (make mode only needs to know that a target is no command)."""
    stubs = [plugin for _, plugin in pm.list_name_plugin() if stands_for(plugin)]
    names = [
        name for plugin in stubs for name in BUILTIN_COMMANDS.get(stands_for(plugin) or "", ())
    ]
    others = pm.subset_hook_caller("mturkmake_commands", remove_plugins=stubs)
    for specs in others():
        for spec in specs or ():
            names += [spec.name, *spec.aliases]
    return names


def _load_entry_points(pm: PluginManager, cache_dir: Path | None) -> None:
    """Register the ``mturkmake`` entry points, as pluggy's ``load_setuptools_entrypoints``
    does (first distribution wins a name; blocked names are skipped), from the cache when the
    import path has not changed since it was written."""
    key = _path_key()
    cache = cache_dir / ENTRY_POINT_CACHE if cache_dir is not None else None
    points = _read_entry_point_cache(cache, key)
    if points is None:
        points = _scan_entry_points()
        _write_entry_point_cache(cache, key, points)
    try:
        for name, value, dist, version in points:
            if pm.get_plugin(name) is not None or pm.is_blocked(name):
                continue
            module_name, _, attr = value.partition(":")
            plugin: object = importlib.import_module(module_name.strip())
            for part in attr.strip().split(".") if attr.strip() else ():
                plugin = getattr(plugin, part)
            pm.register(plugin, name=name)
            pm.origins[name] = f"entry point {dist} {version}"
    except pluggy.PluginValidationError as exc:
        raise _validation_error(exc) from None
    except SyntaxError as exc:
        raise _syntax_error(exc) from None
    except Exception as exc:  # an installed plugin that is broken or half-removed
        raise PluginError(
            f"an installed plugin (entry point group '{ENTRY_POINT_GROUP}') failed to load: "
            f"{type(exc).__name__}: {exc}",
            hint=f"reinstall or uninstall it, or block it with -p no:NAME / {DISABLE_ENV}",
        ) from exc


def _path_key() -> list[list[Any]]:
    # Installing, upgrading or removing a distribution adds or removes a *.dist-info (or
    # .pth) entry in a directory of the path, which changes that directory's mtime.
    # The working directory (``python -m``'s first entry) changes with every target built
    # in it: there only the metadata entries count.
    key: list[list[Any]] = []
    here = os.getcwd()
    for entry in sys.path:
        try:
            if not entry or os.path.abspath(entry) == here:
                names = sorted(n for n in os.listdir(entry or ".") if n.endswith(_METADATA))
                key.append([here, names])  # "" (python -c) and the cwd (-m) alike
            else:
                key.append([entry, os.stat(entry).st_mtime_ns])
        except OSError:
            key.append([entry, None])
    return key


#: What makes a directory hold distributions (and so entry points).
_METADATA = (".dist-info", ".egg-info", ".egg-link", ".pth", ".egg")


def _scan_entry_points() -> list[tuple[str, str, str, str]]:
    import importlib.metadata

    points: list[tuple[str, str, str, str]] = []
    for dist in list(importlib.metadata.distributions()):
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                meta = dist.metadata
                points.append((ep.name, ep.value, str(meta["name"]), str(dist.version)))
    return points


def _read_entry_point_cache(
    cache: Path | None, key: list[list[Any]]
) -> list[tuple[str, str, str, str]] | None:
    if cache is None:
        return None
    import marshal  # built in: json would cost the no-op run its import

    try:
        data = marshal.loads(cache.read_bytes())
        if data["key"] != key:
            return None
        return [(str(a), str(b), str(c), str(d)) for a, b, c, d in data["points"]]
    except (OSError, ValueError, EOFError, KeyError, TypeError):
        return None  # absent, stale or damaged: scan again


def _write_entry_point_cache(
    cache: Path | None, key: list[list[Any]], points: list[tuple[str, str, str, str]]
) -> None:
    if cache is None or not cache.parent.is_dir():
        return
    import marshal

    temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(marshal.dumps({"key": key, "points": points}))
        os.replace(temporary, cache)
    except OSError:  # a read-only project still runs, only without the cache
        with contextlib.suppress(OSError):
            temporary.unlink()


def _register(pm: PluginManager, plugin: object, name: str, origin: str) -> None:
    if pm.is_blocked(name):
        return
    try:
        pm.register(plugin, name=name)
        pm.origins[name] = origin
    except pluggy.PluginValidationError as exc:
        raise _validation_error(exc) from None
    except ValueError as exc:  # the same name registered twice
        raise PluginError(f"plugin '{name}' cannot be registered: {exc}") from None


def _validation_error(exc: pluggy.PluginValidationError) -> PluginError:
    plugin = exc.plugin
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid hook"
    return PluginError(
        f"plugin '{name}' does not match the hook specifications: {first_line}",
        hint="fix the hook's name or arguments (see mturkmake/hookspecs.py)",
    )


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except SyntaxError as exc:
        raise _syntax_error(exc) from None
    except ImportError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise PluginError(
                f"cannot import plugin module '{module_name}': {exc}",
                hint="check the name in -p / plugins = [...] and that it is installed",
            ) from None
        raise _failed_import(exc, module_name) from exc
    except Exception as exc:
        raise _failed_import(exc, module_name) from exc


def _import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("mturkmake_plugins", path)
    if spec is None or spec.loader is None:  # pragma: no cover - only for non-.py paths
        raise PluginError(f"cannot load {path}", file=str(path))
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise _syntax_error(exc) from None
    except Exception as exc:
        raise _failed_import(exc, str(path), path) from exc
    return module


def _syntax_error(exc: SyntaxError) -> PluginError:
    return PluginError(
        exc.msg,
        file=exc.filename,
        line=exc.lineno,
        hint="fix the plugin's Python syntax",
    )


def _failed_import(exc: BaseException, what: str, path: Path | None = None) -> PluginError:
    """One line for a plugin whose import raised: the plugin's own file and line where it
    raised (the innermost frame in that file), else the innermost frame outside Python."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    chosen = None
    for frame in frames:
        ours = "importlib" not in frame.filename and frame.filename[:1] != "<"
        if (Path(frame.filename) == path) if path is not None else ours:
            chosen = frame
    text = (
        f"cannot import: {exc}" if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"
    )
    return PluginError(
        text if path is not None else f"plugin module '{what}' failed to load: {text}",
        file=chosen.filename if chosen else (str(path) if path else None),
        line=chosen.lineno if chosen else None,
        hint="fix the plugin (run with --traceback to see the whole traceback)",
    )


class PluginHost:
    """One typed method per hook, forwarding to ``pm.hook`` with keyword arguments.

    Call sites use this facade, never ``pm.hook`` directly, so every hook call is
    type-checked. A test keeps it one-to-one with :mod:`mturkmake.hookspecs`.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """Call ``mturkmake_add_options``."""
        self.pm.hook.mturkmake_add_options(parser=parser)

    def config_keys(self) -> list[ConfigKey]:
        """Call ``mturkmake_config_keys``; every plugin's keys, flattened."""
        return _flatten(self.pm.hook.mturkmake_config_keys())

    def config_layers(self, root: Path) -> list[ConfigLayer]:
        """Call ``mturkmake_config_layers``; every plugin's layers."""
        return _flatten(self.pm.hook.mturkmake_config_layers(root=root))

    def recoveries(self) -> list[Recovery]:
        """Call ``mturkmake_recoveries``; every plugin's recoveries."""
        return _flatten(self.pm.hook.mturkmake_recoveries())

    def configure(self, config: Config) -> None:
        """Call ``mturkmake_configure``, then check that the template engine and the
        evaluators the config names are registered, before anything runs (issue #12)."""
        self.pm.hook.mturkmake_configure(config=config)
        _check_named(config, "template_engine", "template engine", self.template_engines)
        _check_named(config, "evaluators", "evaluator", self.evaluators)

    def rules(self, config: Config) -> list[Rule]:
        """Call ``mturkmake_rules``; later-registered plugins' rules come first."""
        return _flatten(self.pm.hook.mturkmake_rules(config=config))

    def commands(self) -> list[CommandSpec]:
        """Call ``mturkmake_commands``; a CLT placeholder gives way to a real implementation."""
        specs: list[CommandSpec] = _flatten(self.pm.hook.mturkmake_commands())
        real = {spec.name for spec in specs if spec.implemented}
        return [spec for spec in specs if spec.implemented or spec.name not in real]

    def template_engines(self) -> dict[str, TemplateEngine]:
        """Call ``mturkmake_template_engines``; engines by name.

        pluggy calls the last registered plugin first, so a project plugin's engine of the
        same name overrides a built-in.
        """
        return _by_name(_flatten(self.pm.hook.mturkmake_template_engines()))

    def evaluators(self) -> dict[str, Evaluator]:
        """Call ``mturkmake_evaluators``; evaluators by name."""
        return _by_name(_flatten(self.pm.hook.mturkmake_evaluators()))

    def qualification_evaluators(self) -> dict[str, QualificationEvaluator]:
        """Call ``mturkmake_qualification_evaluators``; evaluators by name."""
        return _by_name(_flatten(self.pm.hook.mturkmake_qualification_evaluators()))

    def make_client(self, config: Config) -> Any:
        """Call ``mturkmake_make_client`` (firstresult)."""
        return self.pm.hook.mturkmake_make_client(config=config, host=self)

    def simulate_answer(self, question: Any, worker: Any, truth: Any) -> Any:
        """Call ``mturkmake_simulate_answer`` (firstresult)."""
        return self.pm.hook.mturkmake_simulate_answer(question=question, worker=worker, truth=truth)

    def report(self, event: Event) -> None:
        """Call ``mturkmake_report``."""
        self.pm.hook.mturkmake_report(event=event)


def _check_named(
    config: Config, key: str, what: str, registered: Callable[[], Mapping[str, Any]]
) -> None:
    # Only a value someone set is checked: a default names a built-in, and asking the
    # plugins for theirs on every run would cost a no-op run its speed.
    source = config.sources.get(key, "default")
    value = config.get(key)
    if source == "default" or value is None:
        return
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        return  # the type was refused by build_config or the owning plugin
    available = registered()
    for name in names:
        if isinstance(name, str) and name.strip() not in available:
            from mturkmake.core.config import key_line

            known = ", ".join(sorted(available)) or "none"
            line = key_line(Path(source), key) if source.endswith(".toml") else None
            raise ConfigError(
                f"unknown {what} '{name}'",
                file=source,
                line=line,
                hint=f"available: {known} (or load the plugin that provides it)",
            )


def _flatten(results: Iterable[Iterable[Any] | None]) -> list[Any]:
    items: list[Any] = []
    for result in results:
        if result:
            items.extend(result)
    return items


def _by_name(items: Iterable[Any]) -> dict[str, Any]:
    named: dict[str, Any] = {}
    for item in items:
        named.setdefault(item.name, item)
    return named
