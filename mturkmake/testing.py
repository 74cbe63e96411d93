"""A pytest plugin for mturkmake's users and plugin authors (entry point ``pytest11``).

Fixtures:

- ``mturkmake_project``: a :class:`Project` in ``tmp_path``: write files from a dict, set
  mtimes with ``os.utime`` (never sleep), and run the CLI in-process.
- ``mturkmake_env``: an environment with every ``MTURKMAKE_*`` and ``AWS_*`` variable removed
  and the AWS config files and instance metadata switched off, so a developer's settings never
  leak into a test (and no test can reach a real endpoint).

This module imports nothing heavy: pytest loads it in every session where mturkmake is
installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest


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

    def run(self, *args: str, cwd: Path | None = None) -> CliResult:
        """Run ``mturkmake ARGS`` in-process, in ``cwd`` (default: the project root);
        capture its output."""
        from mturkmake.cli import main

        self._monkeypatch.chdir(self.root if cwd is None else cwd)
        self._capsys.readouterr()
        code = main(list(args))
        captured = self._capsys.readouterr()
        return CliResult(code, captured.out, captured.err)


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
