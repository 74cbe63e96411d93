"""One frozen, typed configuration from files, environment and flags (DESIGN §2, §4).

Precedence, highest first: command-line flags > ``MTURKMAKE_*`` environment variables >
``mturkmake.toml`` / ``[tool.mturkmake]`` > the CLT's ``mturk.properties`` > defaults.
Keys are declared by the core (:data:`CORE_KEYS`) and by plugins (``mturkmake_config_keys``);
anything else is an error naming the file and the key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from mturkmake.errors import ConfigError
from mturkmake.hookspecs import ConfigKey

EndpointKind = Literal["local", "sandbox", "production"]

#: Keys the core itself reads. Plugins declare theirs through ``mturkmake_config_keys``.
CORE_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("endpoint", str, "sandbox", "local, sandbox, production, or a URL"),
    ConfigKey("plugins", list, [], "extra plugin modules to load"),
    ConfigKey("budget", (int, float), None, "cap on committed exposure in USD"),
    ConfigKey("lock_timeout", (int, float), 30.0, "seconds to wait for the project lock"),
)

PROJECT_FILE = "mturkmake.toml"
PYPROJECT_FILE = "pyproject.toml"
CLT_PROPERTIES_FILE = "mturk.properties"
STATE_DIR = ".mturkmake"


@dataclass(frozen=True)
class Credentials:
    """AWS credentials from a CLT ``mturk.properties``; never shown (``repr`` hides them)."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    source: str = ""

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r}, access_key=<hidden>, secret_key=<hidden>)"


@dataclass(frozen=True)
class RetrySettings:
    """The CLT's retry keys (``retriable_errors``, ``retry_attempts``, ``retry_delay_millis``)."""

    attempts: int | None = None
    delay_millis: int | None = None
    retriable_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The final configuration of a run.

    :param root: the project root.
    :param endpoint: ``local``, ``sandbox``, ``production``, or the URL given.
    :param endpoint_kind: the rules that apply: a loopback URL is ``local``, any other URL
        ``production``.
    :param endpoint_url: the URL when ``endpoint`` is one, else ``None``.
    :param values: every declared key's final value.
    :param sources: where each value came from (a file, a variable, a flag, ``default``).
    :param credentials: from ``mturk.properties``, when it has real ones.
    :param retry: the CLT retry settings from ``mturk.properties``.
    """

    root: Path
    endpoint: str
    endpoint_kind: EndpointKind
    endpoint_url: str | None
    values: Mapping[str, Any]
    sources: Mapping[str, str]
    credentials: Credentials | None = None
    retry: RetrySettings = field(default_factory=RetrySettings)

    @property
    def state_dir(self) -> Path:
        """``.mturkmake/`` at the project root (ledger, lock, local marketplace)."""
        return self.root / STATE_DIR

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (declared keys always have one), else ``default``."""
        return self.values.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]
