"""One frozen configuration from files, environment and flags (DESIGN §2).

Precedence, highest first: command-line flags > ``MTURKMAKE_*`` environment variables >
``mturkmake.toml`` / ``[tool.mturkmake]`` > plugins' config layers (``mturkmake_config_layers``,
a plugin's own configuration files) > defaults.
Keys are declared by the core (:data:`CORE_KEYS`) and by plugins (``mturkmake_config_keys``);
anything else is an error naming the file and the key.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from mturkmake.errors import ConfigError
from mturkmake.hookspecs import STATE_DIR, Config, ConfigKey, ConfigLayer

__all__ = [
    "CORE_KEYS",
    "STATE_DIR",
    "Config",
    "ConfigLayer",
    "build_config",
    "find_root",
    "read_project_table",
]

#: Keys the core itself reads. Plugins declare theirs through ``mturkmake_config_keys``.
CORE_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("plugins", list, [], "extra plugin modules to load"),
    ConfigKey("lock_timeout", (int, float), 30.0, "seconds to wait for the project lock"),
)

PROJECT_FILE = "mturkmake.toml"
PYPROJECT_FILE = "pyproject.toml"


# --------------------------------------------------------------------------------------------
# Finding the project and reading its files
# --------------------------------------------------------------------------------------------


class ProjectTable(NamedTuple):
    """The raw ``[tool.mturkmake]`` (or ``mturkmake.toml``) table and where it came from."""

    values: Mapping[str, Any]
    source: Path | None
    text: str = ""


def find_root(start: Path) -> Path:
    """The nearest directory upward from ``start`` with ``mturkmake.toml`` or a
    ``pyproject.toml`` holding ``[tool.mturkmake]``; without one, ``start`` itself."""
    start = start.resolve()
    for directory in (start, *start.parents):
        # lexists, not is_file: a mturkmake.toml that is a directory, a pipe or a dangling
        # link still marks the project, and reading it then says what is wrong with it.
        if os.path.lexists(directory / PROJECT_FILE):
            return directory
        pyproject = directory / PYPROJECT_FILE
        if pyproject.is_file() and _has_tool_table(pyproject):
            return directory
    return start


def _has_tool_table(pyproject: Path) -> bool:
    # A cheap textual test first: most pyproject files never mention us.
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "tool.mturkmake" not in text:
        return False
    try:
        tool = _parse_toml(text, pyproject, _state_dir(pyproject.parent)).get("tool", {})
        return "mturkmake" in tool
    except ConfigError:
        return True  # it is ours; read_project_table will report the syntax error


#: Parsed project tables, by file, in the project's ``.mturkmake/`` (see :func:`_parse_toml`).
TOML_CACHE = "toml.cache"


def _parse_toml(text: str, source: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    """Parse ``text`` (from ``source``); with ``cache_dir`` (an existing directory), reuse the
    table parsed from the very same text last time: importing a TOML parser and parsing costs
    a run that finds everything up to date about a tenth of its time (#17)."""
    cache = cache_dir / TOML_CACHE if cache_dir is not None else None
    cached = _cached_table(cache, source, text)
    if cached is not None:
        return cached
    parsed = _parse_toml_text(text, source)
    _cache_table(cache, source, text, parsed)
    return parsed


def _cached_table(cache: Path | None, source: Path, text: str) -> dict[str, Any] | None:
    if cache is None:
        return None
    import marshal

    try:
        version, entries = marshal.loads(cache.read_bytes())
        if version != _CACHE_VERSION:
            return None
        cached_text, table = entries[str(source)]
    except (OSError, ValueError, EOFError, TypeError, KeyError):
        return None  # absent, stale or damaged: parse
    return table if cached_text == text and isinstance(table, dict) else None


def _cache_table(cache: Path | None, source: Path, text: str, table: dict[str, Any]) -> None:
    if cache is None or not cache.parent.is_dir():
        return
    import marshal

    try:
        # marshal holds every TOML value but dates and times: such a table is not cached.
        data = marshal.dumps((_CACHE_VERSION, {str(source): (text, table)}))
    except ValueError:
        return
    temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, cache)
    except OSError:  # a read-only project still runs, only without the cache
        with contextlib.suppress(OSError):
            temporary.unlink()


#: Written into the cache with the tables: another Python or format reads as a miss.
_CACHE_VERSION = (1, *sys.version_info[:2])


def _parse_toml_text(text: str, source: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        parsed: dict[str, Any] = tomllib.loads(text)
        return parsed
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _line_from_message(str(exc))
        message = str(exc).split(" (at line")[0]
        raise ConfigError(
            f"malformed TOML: {message}", file=str(source), line=line, hint="fix the TOML syntax"
        ) from None


def _line_from_message(message: str) -> int | None:
    marker = "(at line "
    if marker not in message:
        return None
    digits = message.split(marker, 1)[1].split(",", 1)[0].strip()
    return int(digits) if digits.isdigit() else None


def read_project_table(root: Path) -> ProjectTable:
    """Read ``mturkmake.toml`` (whole file) or ``pyproject.toml``'s ``[tool.mturkmake]``."""
    project_file = root / PROJECT_FILE
    if os.path.lexists(project_file):
        text = _read_text(project_file)
        table = _parse_toml(text, project_file, _state_dir(root))
        return ProjectTable(table, project_file, text)
    pyproject = root / PYPROJECT_FILE
    if pyproject.is_file():
        text = _read_text(pyproject)
        if "tool.mturkmake" in text:
            parsed = _parse_toml(text, pyproject, _state_dir(root))
            table = parsed.get("tool", {}).get("mturkmake")
            if table is not None:
                if not isinstance(table, dict):
                    raise ConfigError("[tool.mturkmake] must be a table", file=str(pyproject))
                return ProjectTable(table, pyproject, text)
    return ProjectTable({}, None)


def _state_dir(directory: Path) -> Path:
    return directory / STATE_DIR


def _read_text(path: Path) -> str:
    # Regular files only (a FIFO would hang), one line for permissions and bad bytes.
    from mturkmake.formats.javaprops import read_text

    return read_text(path)


def project_plugins(table: ProjectTable) -> list[str]:
    """The table's ``plugins`` list, checked: it is read before any plugin declares keys."""
    value = table.values.get("plugins", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            "'plugins' must be a list of module names",
            file=str(table.source) if table.source else None,
            line=_key_line(table, "plugins"),
            hint='write plugins = ["my_plugin"]',
        )
    return list(value)


def _key_line(table: ProjectTable, key: str) -> int | None:
    """Best-effort line of ``key`` in the config file, for error messages."""
    if not table.text:
        return None
    for number, line in enumerate(table.text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(f"{key} ") or stripped.startswith(f"{key}="):
            return number
        if stripped in (f"[tool.mturkmake.{key}]", f"[{key}]"):
            return number
    return None


# --------------------------------------------------------------------------------------------
# Building the Config
# --------------------------------------------------------------------------------------------


def _convert_env(key: ConfigKey, raw: str, variable: str) -> Any:
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    if str in types:
        return raw
    if bool in types:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
    if int in types:
        try:
            return int(raw)
        except ValueError:
            pass
    if float in types:
        try:
            return float(raw)
        except ValueError:
            pass
    if list in types:
        return [item.strip() for item in raw.split(",") if item.strip()]
    raise ConfigError(
        f"{variable}={raw!r} is not of type {_type_names(key)}",
        hint=f"set {variable} to a value of type {_type_names(key)}",
    )


def _type_names(key: ConfigKey) -> str:
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    names = {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        list: "list",
        dict: "table",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)


def _type_ok(key: ConfigKey, value: Any) -> bool:
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    if isinstance(value, bool):
        return bool in types  # bool is an int subclass; only a declared bool accepts it
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def build_config(
    root: Path,
    *,
    keys: Sequence[ConfigKey],
    table: ProjectTable,
    layers: Sequence[ConfigLayer] = (),
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Merge defaults, plugins' layers, the project table, the environment and flags.

    :param keys: every declared key (core and plugins); anything else in the table is refused.
    :param flags: values from the command line, by key name (``None`` = not given).
    :raises ConfigError: an unknown key or a wrong type.
    """
    environ = os.environ if environ is None else environ
    declared = {key.name: key for key in keys}
    values: dict[str, Any] = {name: key.default for name, key in declared.items()}
    sources: dict[str, str] = dict.fromkeys(declared, "default")
    file_label = str(table.source) if table.source else ""
    extras: dict[str, Any] = {}
    for layer in layers:
        extras[layer.name] = layer.extra
        for name, value in layer.values.items():
            if name in declared:
                values[name] = value
                sources[name] = layer.source

    for name, value in table.values.items():
        key = declared.get(name)
        if key is None:
            known = ", ".join(sorted(declared))
            raise ConfigError(
                f"unknown key '{name}'",
                file=file_label,
                line=_key_line(table, name),
                hint=f"remove it, or load the plugin that declares it (known keys: {known})",
            )
        if not _type_ok(key, value):
            raise ConfigError(
                f"'{name}' must be of type {_type_names(key)}, not {type(value).__name__}",
                file=file_label,
                line=_key_line(table, name),
                hint=f"write {name} as a value of type {_type_names(key)}",
            )
        values[name] = value
        sources[name] = file_label

    for name, key in declared.items():
        variable = f"MTURKMAKE_{name.upper()}"
        if key.env and variable in environ and key.type is not dict:
            values[name] = _convert_env(key, environ[variable], variable)
            sources[name] = variable

    for name, value in (flags or {}).items():
        if value is None or name not in declared:
            continue
        values[name] = value
        sources[name] = f"--{name.replace('_', '-')}"

    for name in _NON_NEGATIVE:
        _check_non_negative(name, values.get(name), sources.get(name, "default"), table)

    return Config(
        root=root,
        values=MappingProxyType(values),
        sources=MappingProxyType(sources),
        extras=MappingProxyType(extras),
    )


#: Numeric keys of the core that must be finite and not negative.
_NON_NEGATIVE = ("lock_timeout",)


def _check_non_negative(name: str, value: Any, source: str, table: ProjectTable) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return  # unset, or a type error reported elsewhere
    if value >= 0 and math.isfinite(value):
        return
    if table.source is not None and source == str(table.source):
        raise ConfigError(
            f"{name} must be a number, 0 or more, not {value}",
            file=source,
            line=_key_line(table, name),
            hint=f"fix {name} in {table.source.name}",
        )
    raise ConfigError(
        f"{source}: {name} must be a number, 0 or more, not {value}",
        hint=f"fix {source}",
    )


def key_line(path: Path, key: str) -> int | None:
    """The line of ``key`` in the TOML file ``path`` (best effort, for error messages)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return _key_line(ProjectTable({}, path, text), key)


def iter_declared(keys: Iterable[ConfigKey]) -> list[str]:
    """Names of ``keys``, sorted (for help output)."""
    return sorted(key.name for key in keys)
