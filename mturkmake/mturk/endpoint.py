"""The MTurk endpoint of a run: the client factory, its clock, and safe calls.

Safety rules (DESIGN §4): every client gets an explicit ``endpoint_url`` and region
``us-east-1`` — botocore's own default is *production*, and ``AWS_ENDPOINT_URL_MTURK`` or a
profile's ``endpoint_url`` must never redirect a run. Before every side effect the client's
endpoint is checked against the run's (:func:`check_endpoint`). Service errors become one-line
:class:`~mturkmake.errors.ServiceError`\\ s naming the operation, the message and the
``TurkErrorCode`` (:func:`service_call`). Credentials never reach output or logs.

boto3 is imported only when a client is made, so a no-op run does not load it.
"""

from __future__ import annotations

import importlib
import logging
import random
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mturkmake.errors import EndpointError, ServiceError
from mturkmake.mturk.ledger import Intent, Ledger, Resolution, open_ledger
from mturkmake.mturk.settings import PRODUCTION_URL, SANDBOX_URL, settings
from mturkmake.mturk.times import utc_now

if TYPE_CHECKING:
    from mypy_boto3_mturk import MTurkClient

    from mturkmake.hookspecs import Config, Context
    from mturkmake.mturk.client import Client
    from mturkmake.mturk.settings import RetrySettings

#: The in-process local client's URL: ``.invalid`` never resolves, so if the in-process
#: handler were missing the call would fail instead of reaching a real service.
LOCAL_URL = "https://local.mturkmake.invalid"
ENDPOINT_URLS: Mapping[str, str] = {"sandbox": SANDBOX_URL, "production": PRODUCTION_URL}
REGION = "us-east-1"
#: botocore's legacy default; enough for the throttling that large batches meet.
DEFAULT_TOTAL_ATTEMPTS = 5
#: Attempts at a call whose connection fails (refused, unresolvable, timed out): a host that
#: refused twice will refuse a third time, and every row would wait through the backoff.
CONNECTION_ATTEMPTS = 3
#: Seconds to wait for a connection (botocore's default is 60): MTurk answers in well under a
#: second, and a black-holed network then costs CONNECTION_ATTEMPTS × this, not minutes.
CONNECT_TIMEOUT = 10
#: Error codes that refuse the credentials or the account: every call of the run gets them.
REFUSED_CODES = frozenset(
    {
        "AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
        "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidSignatureException",
        "IncompleteSignature", "MissingAuthenticationToken", "AuthFailure", "ExpiredToken",
        "ExpiredTokenException", "NotAuthorized", "OptInRequired",
    }
)  # fmt: skip
#: Where a connection error records how many attempts were made (see _connection_limit).
_ATTEMPTS_ATTRIBUTE = "mturkmake_attempts"
#: Operations that take ``UniqueRequestToken``: they are safe to retry with it.
TOKEN_OPERATIONS = frozenset(
    {"CreateHIT", "CreateHITWithHITType", "CreateAdditionalAssignmentsForHIT", "SendBonus"}
)
#: Signed requests from a loopback endpoint (``marketplace serve``) need some credentials;
#: the local marketplace ignores them, so none of the user's are ever needed there.
_LOCAL_CREDENTIALS = ("mturkmake-local", "local")
#: CreateHIT's duplicate-token refusal names the HIT ("… HITId 3X…"); fall back to any id.
_DUPLICATE_HIT = re.compile(r"(?<=HITId )[A-Z0-9]+|\b[A-Z0-9]{20,64}\b")


@dataclass(frozen=True)
class Endpoint:
    """The MTurk endpoint of a run.

    :param client: the boto3 ``mturk`` client (or one compatible with it).
    :param clock: the endpoint's clock: wall time in UTC, or the local marketplace's virtual
        clock — intents age on it (DESIGN §3).
    :param marketplace: the local marketplace handle (true answers, the clock) or ``None``.
    """

    client: MTurkClient
    clock: Callable[[], datetime] = utc_now
    marketplace: Any | None = None


def endpoint_url_for(config: Config) -> str:
    """The URL a client for ``config`` must use."""
    mturk = settings(config)
    if mturk.endpoint == "local":
        return LOCAL_URL
    if mturk.endpoint in ENDPOINT_URLS:
        return ENDPOINT_URLS[mturk.endpoint]
    if mturk.url:
        return mturk.url
    raise EndpointError(
        f"unknown endpoint '{mturk.endpoint}'",
        hint="use local, sandbox, production or an http(s) URL",
    )


def _same_url(a: str, b: str) -> bool:
    left, right = urlsplit(a), urlsplit(b)
    return (left.scheme, left.netloc.lower(), left.path.rstrip("/")) == (
        right.scheme,
        right.netloc.lower(),
        right.path.rstrip("/"),
    )


def check_endpoint(client: Client, config: Config) -> None:
    """Refuse a client that does not talk to ``config``'s endpoint, before any side effect.

    :raises EndpointError: another URL, or a region other than us-east-1 (which would sign
        for, or resolve to, another service).
    """
    expected = endpoint_url_for(config)
    actual = str(getattr(client.meta, "endpoint_url", ""))
    if not _same_url(actual, expected):
        raise EndpointError(
            f"the MTurk client talks to {actual or 'an unknown endpoint'}, but this run's "
            f"endpoint is {settings(config).endpoint} ({expected}); nothing was sent",
            hint="check the plugin that provides mturkmake_make_client",
        )
    region = getattr(client.meta, "region_name", REGION)
    if region != REGION:
        raise EndpointError(
            f"the MTurk client uses region {region}; MTurk lives in {REGION}; nothing was sent",
            hint="check the plugin that provides mturkmake_make_client",
        )


# --------------------------------------------------------------------------------------------
# Secrets in logs
# --------------------------------------------------------------------------------------------


class SecretRedactor(logging.Filter):
    """Replaces known secrets in log records (botocore logs the signed request at DEBUG)."""

    def __init__(self) -> None:
        super().__init__("mturkmake-secrets")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record``'s text when it contains a secret; never drops records."""
        if not self.secrets:
            return True
        text = record.getMessage()
        if any(secret in text for secret in self.secrets):
            for secret in self.secrets:
                text = text.replace(secret, "<hidden>")
            record.msg, record.args = text, None
        return True


#: One per process, because logging is per process; attached to the loggers of the AWS
#: libraries (a logger's filter sees only that logger's records, so each is named).
_REDACTOR = SecretRedactor()
_AWS_LOGGER_PREFIXES = ("botocore", "boto3", "urllib3", "s3transfer")


def hide_secrets(*secrets: str) -> None:
    """Keep ``secrets`` out of every AWS library log record from now on."""
    _REDACTOR.secrets.update(s for s in secrets if s)
    names = {"botocore", "boto3", "urllib3"} | {
        name
        for name in logging.root.manager.loggerDict
        if name.split(".")[0] in _AWS_LOGGER_PREFIXES
    }
    for name in names:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def secret_filter() -> logging.Filter:
    """The process's redacting filter, for log handlers the CLI installs (``-v``, log files):
    a handler filter also sees records of loggers created after :func:`hide_secrets`."""
    return _REDACTOR


def redact(text: str) -> str:
    """``text`` with every registered secret replaced."""
    for secret in _REDACTOR.secrets:
        text = text.replace(secret, "<hidden>")
    return text


# --------------------------------------------------------------------------------------------
# The factory
# --------------------------------------------------------------------------------------------


def _retry_handler(retry: RetrySettings, total_attempts: int) -> Callable[..., float | None]:
    """A ``needs-retry`` handler for the CLT's ``retriable_errors`` (codes or HTTP statuses),
    spaced by ``retry_delay_millis`` × attempt plus jitter, as the CLT's RetryFilter did."""
    wanted = {code.strip() for code in retry.retriable_errors if code.strip()}
    step = (retry.delay_millis if retry.delay_millis is not None else 500) / 1000

    def needs_retry(response: Any = None, attempts: int = 1, **_: Any) -> float | None:
        if response is None or attempts >= total_attempts:
            return None
        http, parsed = response
        error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
        codes = {
            str(http.status_code),
            str(error.get("Code", "")),
            str(parsed.get("TurkErrorCode", "")),
        }
        if codes & wanted:
            return step * attempts + random.uniform(0, step)
        return None

    return needs_retry


def _connection_limit(total_attempts: int) -> Callable[..., bool | None]:
    """A ``needs-retry`` handler that stops retrying a connection error after
    :data:`CONNECTION_ATTEMPTS` (or ``total_attempts``, if fewer), and notes on the error how
    many attempts were made, so the one line the user sees can say it."""
    from botocore.exceptions import ConnectionError as BotoConnectionError

    limit = max(1, min(CONNECTION_ATTEMPTS, total_attempts))

    def needs_retry(caught_exception: Any = None, attempts: int = 1, **_: Any) -> bool | None:
        if not isinstance(caught_exception, BotoConnectionError):
            return None  # botocore's standard policy decides
        setattr(caught_exception, _ATTEMPTS_ATTRIBUTE, attempts)
        # False (not None) is botocore's "do not retry": the first non-None answer wins.
        return False if attempts >= limit else None

    return needs_retry


def make_client(config: Config, *, answer_fn: Callable[..., Any] | None = None) -> Any:
    """A boto3 MTurk client for ``config``'s endpoint, with retries and credentials set.

    ``local`` uses the in-process marketplace; sandbox, production and URLs get a real
    client with an explicit ``endpoint_url``. Credentials: ``mturk.properties``' keys when
    present, else the standard AWS chain; a loopback URL needs none.
    """
    if settings(config).endpoint == "local":
        return make_endpoint(config, answer_fn=answer_fn).client
    import boto3
    from botocore.config import Config as BotoConfig

    retry = settings(config).retry
    total = DEFAULT_TOTAL_ATTEMPTS if retry.attempts is None else max(1, retry.attempts + 1)
    access_key: str | None = None
    secret_key: str | None = None
    credentials = settings(config).credentials
    if credentials is not None:
        access_key, secret_key = credentials.access_key, credentials.secret_key
        hide_secrets(access_key, secret_key)
    elif settings(config).kind == "local":
        access_key, secret_key = _LOCAL_CREDENTIALS
    session = boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=REGION
    )
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "total_max_attempts": total},
        "connect_timeout": CONNECT_TIMEOUT,
        # Belt and braces: the explicit endpoint_url already wins over AWS_ENDPOINT_URL*.
        "ignore_configured_endpoint_urls": True,
        "user_agent_extra": "mturkmake",
    }
    client: Client = session.client(
        "mturk",
        region_name=REGION,
        endpoint_url=endpoint_url_for(config),
        config=BotoConfig(**options),
    )
    # botocore's needs-retry handlers return the delay; the stubs type them as returning None.
    client.meta.events.register_first(
        "needs-retry.mturk",
        _connection_limit(total),  # type: ignore[arg-type]
        unique_id="mturkmake-connection-limit",
    )
    if retry.retriable_errors:
        client.meta.events.register_first(
            "needs-retry.mturk",
            _retry_handler(retry, total),  # type: ignore[arg-type]
            unique_id="mturkmake-clt-retry",
        )
    # botocore's loggers exist now: hide_secrets() attaches the filter to all of them.
    from_chain = access_key is None
    hide_secrets(*(_chain_secrets(session) if from_chain else ()))
    # throttling is absorbed from the first call on; the run's rate joins in mturk.calls
    from mturkmake.mturk.calls import install

    install(client, None)
    check_endpoint(client, config)
    return client


def _chain_secrets(session: Any) -> tuple[str, ...]:
    """Credentials the AWS chain found for ``session``: they are secrets too.

    botocore resolved them when it made the client, so asking again costs nothing.
    """
    from botocore.exceptions import BotoCoreError

    try:
        credentials = session.get_credentials()
        if credentials is None:
            return ()
        frozen = credentials.get_frozen_credentials()
    except BotoCoreError:
        return ()
    return tuple(str(value) for value in frozen if value)


def make_endpoint(config: Config, *, answer_fn: Callable[..., Any] | None = None) -> Endpoint:
    """The built-in factory: ``config``'s endpoint with its client and clock.

    ``local`` opens the in-process marketplace once and keeps the handle: the ledger ages
    intents on its virtual clock (DESIGN §3) and a load registers true answers on it.
    """
    if settings(config).endpoint != "local":
        return Endpoint(make_client(config, answer_fn=answer_fn))
    try:
        module: Any = importlib.import_module("mturkmake.marketplace.inprocess")
    except ImportError:
        raise EndpointError(
            "the local marketplace is not installed",
            hint="use --endpoint sandbox, or install a mturkmake with mturkmake.marketplace",
        ) from None
    marketplace = module.open_local_marketplace(config, answer_fn=answer_fn)
    client = module.make_local_client(config, marketplace=marketplace)
    check_endpoint(client, config)
    return Endpoint(client, marketplace.now, marketplace)


def run_endpoint(ctx: Context) -> Endpoint:
    """The MTurk endpoint of this run (the ``mturkmake_make_client`` hook), checked against
    the configured endpoint before anything is sent.

    A plugin's factory may answer with an :class:`Endpoint` or a bare client (which then
    runs on wall time, without a marketplace handle). The built-in factory answers when no
    plugin does (it was blocked with ``-p no:client``, or the plugin list was trimmed).
    """
    made = ctx.host.make_client(ctx.config)
    if made is None:
        made = make_endpoint(ctx.config, answer_fn=ctx.host.simulate_answer)
    endpoint = made if isinstance(made, Endpoint) else Endpoint(made)
    check_endpoint(endpoint.client, ctx.config)
    return endpoint


def run_client(ctx: Context) -> Any:
    """The client of :func:`run_endpoint`."""
    return run_endpoint(ctx).client


def open_run_ledger(
    config: Config, endpoint: Endpoint | Any, *, clock: Callable[[], datetime] | None = None
) -> Ledger:
    """The ledger for a run on ``endpoint`` (an :class:`Endpoint`, or a bare client on wall
    time): every intent first re-checks the client's endpoint; intents age on the
    endpoint's clock unless ``clock`` is given; every intent id carries the project's id,
    read (or written) before the first intent."""
    from mturkmake.mturk.project import project_id

    if not isinstance(endpoint, Endpoint):
        endpoint = Endpoint(endpoint)
    client = endpoint.client

    def project() -> str:
        # A config that lost its line (a checkout of the file) gets the ledger's id back.
        return project_id(config, recorded=ledger.recorded_project())

    ledger = open_ledger(
        config.state_dir,
        settings(config).identity,
        clock=clock or endpoint.clock,
        guard=lambda: check_endpoint(client, config),
        project=project,
    )
    return ledger


# --------------------------------------------------------------------------------------------
# Calls and errors
# --------------------------------------------------------------------------------------------


def _translate(error: Exception, operation: str) -> ServiceError:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(error, ClientError):
        response: Mapping[str, Any] = error.response
        details = response.get("Error", {})
        message = str(details.get("Message") or response.get("Message") or details.get("Code"))
        meta = response.get("ResponseMetadata", {})
        if meta.get("MaxAttemptsReached"):
            message += f" (gave up after {meta.get('RetryAttempts', 0) + 1} attempts)"
        code = response.get("TurkErrorCode") or None
        hint = None
        if details.get("Code") not in ("RequestError", None):
            hint = "MTurk is busy or unavailable; run again later (pending calls resume safely)"
        return ServiceError(redact(message), operation=operation, turk_error_code=code, hint=hint)
    if isinstance(error, NoCredentialsError):
        return ServiceError(
            "no AWS credentials found",
            operation=operation,
            hint="set access_key and secret_key in mturk.properties, or configure the AWS "
            "credential chain (aws configure, AWS_PROFILE)",
        )
    if isinstance(error, BotoCoreError):
        message = redact(str(error))
        attempts = getattr(error, _ATTEMPTS_ATTRIBUTE, None)
        if attempts is not None:
            message += f" (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"
        return ServiceError(message, operation=operation, hint="check the endpoint and the network")
    raise TypeError(f"not a service error: {type(error).__name__}")


@contextmanager
def service_errors(operation: str) -> Iterator[None]:
    """Turn botocore errors raised inside into one-line :class:`ServiceError`\\ s."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise _translate(error, operation) from error


def affects_every_call(error: BaseException) -> bool:
    """Whether every other call of the run would fail as ``error`` did: no credentials,
    credentials or account refused, no connection to the endpoint, the wrong endpoint.

    A step stops at the first such error, with one line, instead of reporting it once per
    row (DESIGN §8). ``error`` is a :class:`ServiceError` (its botocore cause decides) or an
    :class:`EndpointError`.
    """
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(error, EndpointError):
        return True
    cause = error.__cause__ if isinstance(error, ServiceError) else error
    if isinstance(cause, (NoCredentialsError, PartialCredentialsError, BotoConnectionError)):
        return True
    if isinstance(cause, ClientError):
        response: Mapping[str, Any] = cause.response
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in REFUSED_CODES or status in (401, 403)
    return False


def service_call(client: Client, operation: str, **params: Any) -> dict[str, Any]:
    """Call ``operation`` (``CreateHIT``) with ``params``; errors become ServiceError."""
    from botocore import xform_name

    method = getattr(client, xform_name(operation))
    with service_errors(operation):
        result: dict[str, Any] = method(**params)
    return result


def refused_before_effect(error: BaseException) -> bool:
    """Whether ``error`` (a ServiceError or its botocore cause) proves nothing happened.

    A RequestError on the first attempt means MTurk refused the request — except the
    duplicate-token refusals, which mean the call *did* happen earlier. Faults, throttling,
    network errors, and any error after botocore retried (an earlier attempt may have been
    executed, and the refusal may be *because* of it) prove nothing.
    """
    from botocore.exceptions import ClientError

    cause = error.__cause__ if isinstance(error, ServiceError) else error
    if not isinstance(cause, ClientError):
        return False
    if cause.response.get("Error", {}).get("Code") != "RequestError":
        return False
    if cause.response.get("ResponseMetadata", {}).get("RetryAttempts", 0):
        return False
    return not _is_duplicate(cause)


def _is_duplicate(error: Any) -> bool:
    response = getattr(error, "response", {})
    code = str(response.get("TurkErrorCode", ""))
    message = str(response.get("Error", {}).get("Message", ""))
    return code.endswith("HitAlreadyExists") or "already been processed" in message


def sendable(params: Mapping[str, Any]) -> dict[str, Any]:
    """An intent's parameters without its notes (keys starting with ``_``, for lookups)."""
    return {key: value for key, value in params.items() if not key.startswith("_")}


def ledger_call(intent: Intent, client: Client, **params: Any) -> dict[str, Any]:
    """Send ``intent``'s call with its token; a definite refusal records it as failed.

    :param params: the API parameters; by default the intent's recorded ones.

    The caller records success with :meth:`Intent.done`, since only it knows the remote id.
    Anything uncertain leaves the intent pending for recovery.
    """
    params = params or sendable(intent.params)
    if intent.operation in TOKEN_OPERATIONS:
        params["UniqueRequestToken"] = intent.token
    try:
        return service_call(client, intent.operation, **params)
    except ServiceError as error:
        if refused_before_effect(error):
            intent.failed(error.message)
        raise


def token_retry(
    remote_id: Callable[[Mapping[str, Any]], str | None],
) -> Callable[[Any, Intent], Resolution]:
    """A recovery ``retry`` for token operations: re-send with the intent's token.

    Success, or MTurk's duplicate-token refusal (CreateHIT's names the HIT), means the call
    happened; a plain RequestError means it never did.

    :param remote_id: picks the remote id out of a successful response.
    """

    def retry(client: Client, intent: Intent) -> Resolution:
        params = sendable(intent.params)
        params["UniqueRequestToken"] = intent.token
        try:
            response = service_call(client, intent.operation, **params)
        except ServiceError as error:
            cause = error.__cause__
            if _is_duplicate(cause):
                found = _DUPLICATE_HIT.search(
                    str(getattr(cause, "response", {}).get("Error", {}).get("Message", ""))
                )
                return Resolution.found(found.group(0) if found else None, {"duplicate": True})
            if refused_before_effect(error):
                return Resolution.absent(error.message)
            raise
        return Resolution.found(remote_id(response))

    return retry


# --------------------------------------------------------------------------------------------
# A session: endpoint + ledger, pending intents resolved first
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    """What a side-effecting step works with: the endpoint and the ledger of this run."""

    endpoint: Endpoint
    ledger: Ledger

    @property
    def client(self) -> Any:
        """The endpoint's client."""
        return self.endpoint.client


@contextmanager
def open_session(ctx: Context) -> Iterator[Session]:
    """Open the run's endpoint and ledger and resolve every pending intent first, with the
    recoveries the loaded plugins declare (``mturkmake_recoveries``) — the way for any
    command, built-in or not, to get tokens and crash recovery. The ledger is closed after.
    """
    from mturkmake.mturk.recovery import Recoveries

    endpoint = run_endpoint(ctx)
    ledger = open_run_ledger(ctx.config, endpoint)
    try:
        ledger.recover(endpoint.client, Recoveries.of(ctx.host.recoveries()))
        yield Session(endpoint, ledger)
    finally:
        ledger.close()
