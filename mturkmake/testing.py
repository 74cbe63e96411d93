"""A pytest plugin for mturkmake's users and plugin authors (entry point ``pytest11``).

Fixtures:

- ``mturkmake_project``: a :class:`Project` in ``tmp_path``: write files from a dict, set
  mtimes with ``os.utime`` (never sleep), run the CLI in-process and read its targets
  (:meth:`Project.table` reads ``.results``, ``.approved`` and any tab file as rows).
- ``mturkmake_local_project``: the same, with ``mturkmake.toml`` saying ``endpoint = "local"``
  (the offline marketplace); :meth:`Project.configure` adds keys.
- ``mturkmake_env``: an environment with every ``MTURKMAKE_*`` and ``AWS_*`` variable removed
  and the AWS config files and instance metadata switched off, so a developer's settings never
  leak into a test (and no test can reach a real endpoint).
- ``mturkmake_assignments``: an :class:`AssignmentBuilder` (ids made up, deterministic) for
  evaluator tests.
- ``mturkmake_context``: :func:`make_context`, bound to ``tmp_path``: a real
  :class:`~mturkmake.hookspecs.Context` with the configuration and plugins you give.

This module imports nothing heavy: pytest loads it in every session where mturkmake is
installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mturkmake.hookspecs import Assignment, Context

if TYPE_CHECKING:
    from mturkmake.core.plugins import PluginHost

__all__ = [
    "AssignmentBuilder",
    "CliResult",
    "Project",
    "make_context",
    "make_host",
    "toml_text",
]


@dataclass(frozen=True)
class CliResult:
    """What one in-process CLI run produced."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr


class Project:
    """A throwaway project directory with helpers to write files and run mturkmake."""

    def __init__(
        self, root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.root = root
        self._capsys = capsys
        self._monkeypatch = monkeypatch

    def write(self, files: Mapping[str, str | bytes]) -> None:
        """Write ``{relative path: text or bytes}`` under the root."""
        for name, content in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")

    def path(self, name: str) -> Path:
        """The absolute path of ``name``."""
        return self.root / name

    def read(self, name: str) -> str:
        """The text of ``name``."""
        return (self.root / name).read_text(encoding="utf-8")

    def set_mtime(self, name: str, mtime_ns: int) -> None:
        """Set a file's access and modification time (nanoseconds since the epoch)."""
        os.utime(self.root / name, ns=(mtime_ns, mtime_ns))

    def mtime(self, name: str) -> int:
        """A file's modification time in nanoseconds."""
        return (self.root / name).stat().st_mtime_ns

    def configure(self, **values: Any) -> None:
        """Add (or replace) keys of ``mturkmake.toml``: ``configure(evaluators=["x"])``;
        a dict value becomes a table (``local={"workers": 5}`` → ``[local]``)."""
        path = self.root / "mturkmake.toml"
        current = _read_toml(path) if path.is_file() else {}
        current.update(values)
        path.write_text(toml_text(current), encoding="utf-8")

    def table(self, name: str) -> list[dict[str, str]]:
        """The rows of a tab file (``.results``, ``.approved``, ``.input`` …), as dicts by
        column name, read as mturkmake reads them (the CLT dialect)."""
        from mturkmake.formats.inputfile import open_input

        return [dict(row.values) for row in open_input(self.path(name), require_rows=False).rows()]

    def marketplace_call(
        self, operation: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Call an MTurk operation (``ListHITs`` …) on the project's local marketplace
        directly, as another tool would: nothing goes through mturkmake or its ledger."""
        from mturkmake.marketplace.inprocess import LOCAL_DB_NAME
        from mturkmake.marketplace.service import Marketplace

        market = Marketplace(self.root / ".mturkmake" / LOCAL_DB_NAME)
        try:
            return dict(market.call(operation, dict(params or {})))
        finally:
            market.close()

    def hits(self) -> list[dict[str, Any]]:
        """Every HIT of the local marketplace (``ListHITs``, all pages), oldest first."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"MaxResults": 100}
        while True:
            page = self.marketplace_call("ListHITs", params)
            found += page.get("HITs", [])
            if not page.get("NextToken") or not page.get("HITs"):
                return found
            params["NextToken"] = page["NextToken"]

    def run(self, *args: str, cwd: Path | None = None) -> CliResult:
        """Run ``mturkmake ARGS`` in-process, in ``cwd`` (default: the project root);
        capture its output."""
        from mturkmake.cli import main

        self._monkeypatch.chdir(self.root if cwd is None else cwd)
        self._capsys.readouterr()
        code = main(list(args))
        captured = self._capsys.readouterr()
        return CliResult(code, captured.out, captured.err)


# --------------------------------------------------------------------------------------------
# Building the objects plugins receive
# --------------------------------------------------------------------------------------------


class AssignmentBuilder:
    """Makes :class:`~mturkmake.hookspecs.Assignment` records with made-up, deterministic ids.

    ::

        build = AssignmentBuilder()
        build.hit(inputs={"text": "great"}, answers={"AW1": {"q": "pos"}, "AW2": {"q": "neg"}})
        evaluator.evaluate(build.assignments, ctx)

    ``row`` is filled like a ``.results`` row (``Answer.*`` and ``Input.*`` columns plus the
    ids), so evaluators that read ``row`` see what the ``%.approved`` rule gives them.
    """

    def __init__(self) -> None:
        self.assignments: list[Assignment] = []
        self._hits = 0

    def hit(
        self,
        answers: Mapping[str, Mapping[str, str]],
        *,
        inputs: Mapping[str, str] | None = None,
        hit_id: str | None = None,
        status: str = "Submitted",
    ) -> list[Assignment]:
        """Add one HIT's assignments: ``answers`` maps worker id → {question: answer}."""
        self._hits += 1
        hit = hit_id or f"3HIT{self._hits:026d}"
        made = [
            self.assignment(worker, given, hit_id=hit, inputs=inputs or {}, status=status)
            for worker, given in answers.items()
        ]
        return made

    def assignment(
        self,
        worker_id: str,
        answers: Mapping[str, str],
        *,
        hit_id: str | None = None,
        inputs: Mapping[str, str] | None = None,
        status: str = "Submitted",
        row: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Assignment:
        """Add one assignment; ``fields`` sets further :class:`Assignment` fields
        (``submit_time`` …)."""
        number = len(self.assignments) + 1
        hit = hit_id or f"3HIT{self._hits + 1:026d}"
        assignment_id = str(fields.pop("assignment_id", f"3ASG{number:026d}"))
        values = {
            "hitid": hit,
            "assignmentid": assignment_id,
            "workerid": worker_id,
            "assignmentstatus": status,
            **{f"Answer.{q}": a for q, a in answers.items()},
            **{f"Input.{k}": v for k, v in (inputs or {}).items()},
            **(row or {}),
        }
        made = Assignment(
            assignment_id=assignment_id,
            hit_id=hit,
            worker_id=worker_id,
            status=status,
            answers=dict(answers),
            inputs=dict(inputs or {}),
            row=values,
            **fields,
        )
        self.assignments.append(made)
        return made


def make_host(
    plugins: Iterable[object] = (), *, entrypoints: bool = False, builtins: bool = True
) -> PluginHost:
    """A plugin host with the built-ins, optionally the installed entry points, and
    ``plugins`` (objects or modules) registered as the project file's would be."""
    from mturkmake.core.plugins import BUILTIN_PLUGINS, PluginHost, make_plugin_manager

    extra = [(plugin, _plugin_name(plugin, n)) for n, plugin in enumerate(plugins)]
    pm = make_plugin_manager(
        builtins=BUILTIN_PLUGINS if builtins else (), entrypoints=entrypoints, extra=extra
    )
    return PluginHost(pm)


def _plugin_name(plugin: object, number: int) -> str:
    name = getattr(plugin, "__name__", None)
    return name if isinstance(name, str) else f"{type(plugin).__name__}-{number}"


def make_context(
    root: Path,
    config: Mapping[str, Any] | None = None,
    *,
    plugins: Iterable[object] = (),
    options: Mapping[str, Any] | None = None,
    entrypoints: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Context:
    """A real :class:`~mturkmake.hookspecs.Context` for ``root``, as a run builds it.

    :param config: ``[tool.mturkmake]`` keys (``endpoint`` defaults to ``"local"``); each must
        be declared by the core or a plugin, as in a project.
    :param plugins: plugin objects or modules to register besides the built-ins (their
        config keys are accepted and their ``mturkmake_configure`` runs).
    :param options: ``ctx.options`` (e.g. ``{"yes": True}``).
    :param entrypoints: also load the installed ``mturkmake`` entry points.
    :param environ: the environment the configuration reads (default: none at all).
    """
    from mturkmake.core.config import CORE_KEYS, ProjectTable, build_config

    host = make_host(plugins, entrypoints=entrypoints)
    values = {"endpoint": "local", **(config or {})}
    table = ProjectTable(values=values, source=root / "mturkmake.toml")
    built = build_config(
        root,
        keys=[*CORE_KEYS, *host.config_keys()],
        table=table,
        layers=host.config_layers(root),
        environ=environ or {},
    )
    host.configure(built)
    return Context(root=root, config=built, host=host, options=dict(options or {}))


def toml_text(values: Mapping[str, Any]) -> str:
    """``values`` as TOML: plain keys first, then one ``[table]`` per dict value."""
    plain = {k: v for k, v in values.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in values.items() if isinstance(v, Mapping)}
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items()]
    for name, table in tables.items():
        lines += ["", f"[{_toml_key(name)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    return dict(tomllib.loads(path.read_text(encoding="utf-8")))


@pytest.fixture
def mturkmake_assignments() -> AssignmentBuilder:
    """A fresh :class:`AssignmentBuilder`."""
    return AssignmentBuilder()


@pytest.fixture
def mturkmake_context(tmp_path: Path, mturkmake_env: None) -> Callable[..., Context]:
    """:func:`make_context` with ``root`` = a fresh directory under ``tmp_path``."""
    root = tmp_path / "context"
    root.mkdir()

    def factory(config: Mapping[str, Any] | None = None, **kwargs: Any) -> Context:
        return make_context(root, config, **kwargs)

    return factory


@pytest.fixture
def mturkmake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove ``MTURKMAKE_*`` and ``AWS_*`` variables for the test."""
    for name in list(os.environ):
        if name.startswith(("MTURKMAKE_", "AWS_")):
            monkeypatch.delenv(name)
    # Point the AWS config files at nothing, so a developer's profile is never read.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    # Nor ask the EC2 instance-metadata service (a network call) for credentials.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def mturkmake_project(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mturkmake_env: None,
) -> Project:
    """A :class:`Project` rooted at a fresh ``tmp_path`` with a clean environment."""
    root = tmp_path / "project"
    root.mkdir()
    return Project(root, capsys, monkeypatch)


@pytest.fixture
def mturkmake_local_project(mturkmake_project: Project) -> Project:
    """A :class:`Project` whose ``mturkmake.toml`` says ``endpoint = "local"``."""
    mturkmake_project.configure(endpoint="local")
    return mturkmake_project
