"""MTurk's configuration: the endpoint, the budget, and the CLT's ``mturk.properties`` (DESIGN §4).

The core's :class:`~mturkmake.hookspecs.Config` knows nothing about MTurk: the keys here are
declared by the built-in ``client`` plugin, ``mturk.properties`` reaches the configuration as
that plugin's config layer, and :func:`settings` reads the typed view back out of a config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from mturkmake.errors import ConfigError
from mturkmake.hookspecs import Config, ConfigKey, ConfigLayer

EndpointKind = Literal["local", "sandbox", "production"]

SANDBOX_URL = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
PRODUCTION_URL = "https://mturk-requester.us-east-1.amazonaws.com"
PLAIN_ENDPOINTS: frozenset[str] = frozenset({"local", "sandbox", "production"})
CLT_PROPERTIES_FILE = "mturk.properties"
#: The name of ``mturk.properties``' config layer (its key in ``Config.extras``).
PROPERTIES_LAYER = "mturk.properties"
#: An ``extras`` entry that imposes another kind's rules on a loopback URL: only
#: :func:`mturk_config` sets it, for tests that put a production-rules client on a local double.
KIND_OVERRIDE = "mturk.kind"

#: The keys this package reads; declared by the built-in ``client`` plugin.
MTURK_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("endpoint", str, "sandbox", "local, sandbox, production, or a URL"),
    ConfigKey("budget", (int, float), None, "cap on committed exposure in USD"),
    # Written by mturkmake before the first intent (mturk/project.py); never from the
    # environment: the id must travel with the project's files.
    ConfigKey(
        "project_id",
        str,
        None,
        "this project's identity on MTurk (written once; delete it to fork a copy)",
        env=False,
    ),
)


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
class PropertiesFile:
    """What ``mturk.properties`` holds beside config values (the layer's ``extra``)."""

    credentials: Credentials | None = None
    retry: RetrySettings = field(default_factory=RetrySettings)
    service_url: str | None = None


@dataclass(frozen=True)
class MturkSettings:
    """The typed MTurk view of a :class:`Config`.

    :param endpoint: the endpoint as configured (``local``, ``sandbox``, ``production`` or
        a URL).
    :param kind: the rules that apply: a loopback URL is ``local``, any other URL
        ``production``.
    :param url: the URL when ``endpoint`` is one, else ``None``.
    :param identity: the canonical endpoint — the same for every spelling of one endpoint
        (``http://localhost:8080/`` and ``http://127.1:8080``; the production URL and
        ``production``). The ledger, the budget and a batch's home use it.
    """

    endpoint: str
    kind: EndpointKind
    url: str | None
    identity: str
    credentials: Credentials | None
    retry: RetrySettings


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    if host in ("::1", "0:0:0:0:0:0:0:1"):
        return True
    parts = host.split(".")
    # 127.1 and 127.0.0.1 are one host: inet_aton accepts the short forms.
    return parts[0] == "127" and all(p.isdigit() for p in parts) and 1 <= len(parts) <= 4


def classify_endpoint(value: str, *, source: str = "") -> tuple[EndpointKind, str | None]:
    """``local``/``sandbox``/``production``, or a URL: loopback → local rules, else production."""
    if value in PLAIN_ENDPOINTS:
        return value, None  # type: ignore[return-value]  # narrowed by the set test
    if value.startswith(("http://", "https://")):
        try:
            host = (urlsplit(value).hostname or "").lower()
        except ValueError:
            host = ""
        if not host:
            raise ConfigError(
                f"endpoint URL {value!r} has no host (from {source or 'the configuration'})",
                hint="write it as http(s)://HOST[:PORT]",
            )
        return ("local" if _is_loopback(host) else "production"), value
    raise ConfigError(
        f"unknown endpoint {value!r} (from {source or 'the configuration'})",
        hint="use local, sandbox, production or a URL",
    )


def canonical_endpoint(value: str) -> str:
    """One spelling per endpoint: scheme, host and port, loopback hosts as ``127.0.0.1``;
    the sandbox's and production's own URLs as ``sandbox`` and ``production``."""
    if value in PLAIN_ENDPOINTS:
        return value
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigError(f"endpoint URL {value!r}: {exc}", hint="fix the port") from None
    if _is_loopback(host):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    path = parts.path.rstrip("/")
    canonical = f"{scheme}://{host}:{port}{path}"
    for name, url in (("production", PRODUCTION_URL), ("sandbox", SANDBOX_URL)):
        if canonical == f"{url}:443":
            return name
    return canonical


def settings(config: Config) -> MturkSettings:
    """The MTurk view of ``config`` (cheap: computed on each call, nothing cached)."""
    endpoint = str(config.get("endpoint") or "sandbox")
    kind, url = classify_endpoint(endpoint, source=config.sources.get("endpoint", "default"))
    kind = config.extras.get(KIND_OVERRIDE, kind)
    extra = config.extras.get(PROPERTIES_LAYER)
    properties = extra if isinstance(extra, PropertiesFile) else PropertiesFile()
    return MturkSettings(
        endpoint=endpoint,
        kind=kind,
        url=url,
        identity=canonical_endpoint(endpoint),
        credentials=properties.credentials,
        retry=properties.retry,
    )


def properties_layer(root: Path) -> list[ConfigLayer]:
    """``mturk.properties`` at ``root`` as a config layer: a sandbox ``service_url`` sets
    the endpoint; credentials and retry keys are kept as the layer's extra."""
    path = root / CLT_PROPERTIES_FILE
    if not path.exists() and not path.is_symlink():
        return []
    from mturkmake.formats.mturk_properties import load_mturk_properties

    props = load_mturk_properties(path)
    credentials = None
    if props.access_key and props.secret_key:
        credentials = Credentials(props.access_key, props.secret_key, str(path))
    retry = RetrySettings(
        attempts=props.retry_attempts,
        delay_millis=props.retry_delay_millis,
        retriable_errors=tuple(props.retriable_errors or ()),
    )
    values: dict[str, Any] = {}
    if props.service_url and "sandbox" in props.service_url.lower():
        values["endpoint"] = "sandbox"
    extra = PropertiesFile(credentials, retry, props.service_url)
    return [ConfigLayer(PROPERTIES_LAYER, CLT_PROPERTIES_FILE, MappingProxyType(values), extra)]


def check_settings(config: Config) -> None:
    """Refuse what no run may use: a production ``service_url`` in ``mturk.properties`` that
    nothing above it overrides (DESIGN §4: production only when named), a bad endpoint."""
    extra = config.extras.get(PROPERTIES_LAYER)
    service_url = extra.service_url if isinstance(extra, PropertiesFile) else None
    if (
        service_url
        and "sandbox" not in service_url.lower()
        and config.sources.get("endpoint", "default") == "default"
    ):
        raise ConfigError(
            f"service_url in {CLT_PROPERTIES_FILE} is not the sandbox ({service_url})",
            file=str(config.root / CLT_PROPERTIES_FILE),
            hint='to use production, say so explicitly: endpoint = "production" in '
            "mturkmake.toml, or --endpoint production",
        )
    budget = config.get("budget")
    if budget is not None and (isinstance(budget, bool) or not 0 <= budget < math.inf):
        raise ConfigError(
            f"budget must be a non-negative amount in USD, not {budget!r}",
            file=config.sources.get("budget"),
            hint="set budget to 0 or more, or remove it for no cap",
        )
    settings(config)  # classifies the endpoint: an unknown one is refused here, once


def mturk_config(
    root: Path,
    endpoint: str = "local",
    *,
    values: dict[str, Any] | None = None,
    credentials: Credentials | None = None,
    retry: RetrySettings | None = None,
    sources: dict[str, str] | None = None,
    kind: EndpointKind | None = None,
) -> Config:
    """A :class:`Config` for ``endpoint`` built directly (tests, benchmarks, scripts).

    :param kind: impose this kind's rules (a test's loopback double with production rules).
    """
    merged = {"endpoint": endpoint, **(values or {})}
    extras: dict[str, Any] = {} if kind is None else {KIND_OVERRIDE: kind}
    if credentials is not None or retry is not None:
        extras[PROPERTIES_LAYER] = PropertiesFile(credentials, retry or RetrySettings())
    return Config(
        root=root,
        values=MappingProxyType(merged),
        sources=MappingProxyType(sources or {}),
        extras=MappingProxyType(extras),
    )


def load_config(
    root: Path,
    *,
    keys: tuple[ConfigKey, ...] = (),
    environ: dict[str, str] | None = None,
    flags: dict[str, Any] | None = None,
) -> Config:
    """The project's configuration with MTurk's keys and ``mturk.properties``, checked — what
    a run sees without other plugins (scripts and tests; the CLI goes through the hooks)."""
    from mturkmake.core.config import CORE_KEYS, build_config, read_project_table

    config = build_config(
        root,
        keys=[*CORE_KEYS, *MTURK_KEYS, *keys],
        table=read_project_table(root),
        layers=properties_layer(root),
        environ=environ,
        flags=flags,
    )
    check_settings(config)
    return config
