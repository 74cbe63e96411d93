"""The in-process way into the local marketplace: a botocore ``before-send`` handler.

botocore emits ``before-send.mturk.<Op>`` after serializing and signing a request; the first
non-``None`` answer is used as the HTTP response and no socket is opened (reference/mturk-api.md
§4). Parsing, error mapping and retries then run exactly as for real traffic, so the client
mturkmake uses locally is an ordinary boto3 client.

:func:`make_local_client` is the local branch of the client factory. Its endpoint is
``https://local.mturkmake.invalid``: the ``.invalid`` TLD never resolves, so a client that lost
its handler fails closed instead of reaching anything real.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import botocore
from botocore import UNSIGNED
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config as BotoConfig

from mturkmake.errors import ConfigError
from mturkmake.marketplace.clock import parse_duration
from mturkmake.marketplace.faults import FaultInjector, FaultSettings, settings_from_mapping
from mturkmake.marketplace.wire import MarketplaceLike, handle

if TYPE_CHECKING:
    from mturkmake.marketplace.service import Marketplace, MarketplaceSettings


class Config(Protocol):
    """What the marketplace reads of mturkmake's configuration (structurally: the marketplace
    imports nothing of mturkmake's core, DESIGN §1)."""

    @property
    def state_dir(self) -> Path: ...

    @property
    def sources(self) -> Mapping[str, str]: ...

    def get(self, key: str, default: Any = None) -> Any: ...


LOCAL_ENDPOINT_URL = "https://local.mturkmake.invalid"
LOCAL_DB_NAME = "local-marketplace.db"
REGION = "us-east-1"
# Dummy credentials: SigV4 signing needs some; the marketplace never checks them.
DUMMY_KEY = "LOCALMTURKMAKE"
DUMMY_SECRET = "local-marketplace-needs-no-secret"
USER_AGENT = f"mturkmake-local Botocore/{botocore.__version__}"
#: The client attribute :func:`attach` sets when its answers wait on nothing (no fault
#: injected); ``mturkmake.mturk.calls.call_jobs`` then sends the calls one at a time.
CPU_BOUND = "_mturkmake_cpu_bound"


class _Raw:
    """The ``raw`` object botocore's :class:`AWSResponse` reads the body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body


def attach(
    client: Any, marketplace: MarketplaceLike, *, faults: FaultSettings | None = None
) -> None:
    """Answer every request of ``client`` (a boto3 ``mturk`` client) from ``marketplace``.

    The handler is registered on ``before-send.mturk``, which is more specific than any
    global ``before-send`` handler (moto's, for one), so it answers first.
    """
    injector = FaultInjector(faults) if faults is not None and faults.active else None

    def before_send(request: Any, **_kwargs: Any) -> Any:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):  # a file-like body; botocore sends bytes for JSON
            body = body.read()
        answer = handle(marketplace, request.headers, body, faults=injector, reraise=True)
        return AWSResponse(
            request.url, answer.status, HTTPHeaders.from_dict(answer.headers), _Raw(answer.body)
        )

    client.meta.events.register("before-send.mturk", before_send)
    # Nothing injected: an answer is Python run under the GIL that waits on nothing, so
    # threads sending calls at once could only take turns (mturkmake.mturk.calls reads this).
    setattr(client, CPU_BOUND, injector is None)


def local_db_path(config: Config) -> Path:
    """``.mturkmake/local-marketplace.db`` at the project root (the directory is created)."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    return config.state_dir / LOCAL_DB_NAME


def marketplace_settings(config: Config) -> MarketplaceSettings:
    """The engine's settings from ``[tool.mturkmake.local]`` (``config.get("local")``).

    Keys are the fields of ``MarketplaceSettings`` (``seed``, ``start``, ``workers``, …);
    ``faults`` is read by :func:`fault_settings`. ``start`` may be a TOML datetime or an
    ISO-8601 string; a naive one is taken as UTC.
    """
    # The engine loads only when settings are needed: attach() serves any MarketplaceLike.
    from mturkmake.marketplace.service import MarketplaceSettings

    table = _local_table(config)
    known = {f.name: f for f in dataclasses.fields(MarketplaceSettings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name == "faults":
            continue
        if name not in known:
            raise ConfigError(
                f"unknown key 'local.{key}'",
                file=config.sources.get("local"),
                hint=f"known keys: {', '.join(sorted([*known, 'faults']))}",
            )
        values[name] = _start(value, config) if name == "start" else value
    return MarketplaceSettings(**values)


def fault_settings(config: Config) -> FaultSettings | None:
    """``[tool.mturkmake.local.faults]``, or ``None`` when absent."""
    table = _local_table(config)
    faults = table.get("faults")
    if faults is None:
        return None
    if not isinstance(faults, Mapping):
        raise ConfigError("'local.faults' must be a table", file=config.sources.get("local"))
    try:
        return settings_from_mapping(
            faults, seed=int(table.get("seed", 0)), parse_duration=parse_duration
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), file=config.sources.get("local")) from None


def open_local_marketplace(
    config: Config,
    *,
    answer_fn: Callable[..., Mapping[str, object] | None] | None = None,
    allow_http_external: bool = True,
) -> Marketplace:
    """The project's local marketplace (``.mturkmake/local-marketplace.db``).

    :param allow_http_external: accept ``http://`` ExternalURLs. The in-process client
        accepts them (the CLT samples use one; mturkmake's preflight warns); ``serve`` passes
        False unless ``--allow-http-external``, answering as MTurk does.
    """
    from mturkmake.marketplace.service import Marketplace

    settings = dataclasses.replace(
        marketplace_settings(config), allow_http_external=allow_http_external
    )
    return Marketplace(local_db_path(config), settings, answer_fn=answer_fn)


def make_local_client(
    config: Config,
    *,
    marketplace: MarketplaceLike | None = None,
    answer_fn: Callable[..., Mapping[str, object] | None] | None = None,
) -> Any:
    """A boto3 ``mturk`` client answered in-process by the project's local marketplace.

    Region ``us-east-1``, endpoint :data:`LOCAL_ENDPOINT_URL`, dummy credentials; the standard
    credential chain and ``AWS_ENDPOINT_URL*`` are never consulted. Faults from
    ``local.faults`` apply as under ``serve``.

    :param marketplace: use this one instead of opening the project's (tests, ``--wait``).
    :param answer_fn: the simulated workers' answers (the ``mturkmake_simulate_answer`` hook).
    """
    if marketplace is None:
        marketplace = open_local_marketplace(config, answer_fn=answer_fn)
    session = boto3.session.Session(
        aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_SECRET, region_name=REGION
    )
    client = session.client(
        "mturk",
        region_name=REGION,
        endpoint_url=LOCAL_ENDPOINT_URL,
        # Unsigned: the marketplace checks no signature, and SigV4 costs ~0.3 ms a call.
        # No client-side parameter validation: the marketplace validates every input against
        # the same botocore model (and more: max, pattern, enum) and answers RequestError, as
        # MTurk would; botocore's own pass costs ~0.4 ms on a CreateHIT. Requests never
        # leave the process.
        # A fixed User-Agent: botocore otherwise rebuilds its long default one twice per
        # call (~0.1 ms), for a header that never leaves the process.
        config=BotoConfig(
            retries={"mode": "legacy"},
            signature_version=UNSIGNED,
            parameter_validation=False,
            user_agent=USER_AGENT,
        ),
    )
    attach(client, marketplace, faults=fault_settings(config))
    return client


def _local_table(config: Config) -> Mapping[str, Any]:
    table = config.get("local")
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError("'local' must be a table", file=config.sources.get("local"))
    return table


def _start(value: Any, config: Config) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"'local.start' is not a date and time: {value!r}",
                file=config.sources.get("local"),
                hint="write e.g. 2026-01-01T00:00:00Z",
            ) from None
    if not isinstance(value, datetime):
        raise ConfigError("'local.start' must be a date and time", file=config.sources.get("local"))
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
