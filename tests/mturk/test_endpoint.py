"""The client factory: endpoints, retries, credentials, error lines and secrets (DESIGN §4, §8).

Calls go to a test double on 127.0.0.1 or the in-process local marketplace; sandbox and
production clients are built and inspected but never called.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest

from mturkmake.core.plugins import PluginHost, make_plugin_manager
from mturkmake.errors import ConfigError, EndpointError, ServiceError
from mturkmake.hookspecs import Config
from mturkmake.mturk.endpoint import (
    LOCAL_URL,
    PRODUCTION_URL,
    SANDBOX_URL,
    check_endpoint,
    endpoint_url_for,
    make_client,
    make_endpoint,
    refused_before_effect,
    service_call,
)
from mturkmake.mturk.settings import (
    Credentials,
    EndpointKind,
    RetrySettings,
    load_config,
    mturk_config,
)
from mturkmake.mturk.times import utc_now
from mturkmake.plugins.client import mturkmake_make_client
from tests.plugins.mturk_double import MTurkDouble

ACCESS_KEY = "AKIAMTURKMAKETESTKEY"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzTESTSECRET"


def config_for(
    root: Path,
    endpoint: str,
    *,
    kind: EndpointKind | None = None,
    credentials: Credentials | None = None,
    retry: RetrySettings | None = None,
) -> Config:
    return mturk_config(
        root, endpoint, credentials=credentials, retry=retry or RetrySettings(), kind=kind
    )


@pytest.fixture
def double() -> Iterator[MTurkDouble]:
    with MTurkDouble() as running:
        yield running


@pytest.fixture(autouse=True)
def offline_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials, profiles or instance metadata from the machine running the tests."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


# -- endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("sandbox", SANDBOX_URL),
        ("production", PRODUCTION_URL),
        ("local", LOCAL_URL),
        ("http://127.0.0.1:9999", "http://127.0.0.1:9999"),
    ],
)
def test_every_client_gets_an_explicit_url_and_us_east_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str, url: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    config = config_for(tmp_path, endpoint)
    assert endpoint_url_for(config) == url
    host = PluginHost(make_plugin_manager(builtins=(), entrypoints=False))
    client = mturkmake_make_client(config=config, host=host).client
    assert client.meta.endpoint_url == url
    assert client.meta.region_name == "us-east-1"


def test_aws_endpoint_url_mturk_does_not_redirect_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, double: MTurkDouble
) -> None:
    with MTurkDouble() as decoy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", decoy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", decoy.url)
        client = make_client(config_for(tmp_path, double.url))
        service_call(client, "GetAccountBalance")
        assert decoy.calls == []
    assert double.count("GetAccountBalance") == 1


def test_a_client_on_another_endpoint_or_region_is_refused(
    tmp_path: Path, double: MTurkDouble
) -> None:
    sandbox = config_for(tmp_path, "sandbox")
    with pytest.raises(EndpointError, match=r"talks to http://127\.0\.0\.1.*nothing was sent"):
        check_endpoint(make_client(config_for(tmp_path, double.url)), sandbox)
    production_client = make_client(config_for(tmp_path, "production"))
    with pytest.raises(EndpointError, match="this run's endpoint is sandbox"):
        check_endpoint(production_client, sandbox)
    west = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="y", region_name="us-west-2"
    ).client("mturk", endpoint_url=SANDBOX_URL)
    with pytest.raises(EndpointError, match="region us-west-2"):
        check_endpoint(west, sandbox)
    check_endpoint(make_client(sandbox), sandbox)  # the right one passes
    assert double.calls == []


def test_mturk_properties_with_a_production_url_and_no_endpoint_is_an_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "mturk.properties").write_text(
        f"access_key={ACCESS_KEY}\nsecret_key={SECRET_KEY}\n"
        "service_url=https://mechanicalturk.amazonaws.com/?Service=AWSMechanicalTurkRequester\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match='endpoint = "production"') as refused:
        load_config(tmp_path, environ={})
    assert SECRET_KEY not in str(refused.value)
    explicit = load_config(tmp_path, environ={}, flags={"endpoint": "production"})
    assert make_client(explicit).meta.endpoint_url == PRODUCTION_URL


def test_local_without_the_marketplace_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mturkmake.marketplace.inprocess", None)
    with pytest.raises(EndpointError, match="local marketplace is not installed") as refused:
        make_client(config_for(tmp_path, "local"))
    assert refused.value.exit_code == 2


def test_local_uses_the_in_process_marketplace_and_its_clock(tmp_path: Path) -> None:
    endpoint = make_endpoint(config_for(tmp_path, "local"))
    assert service_call(endpoint.client, "GetAccountBalance")["AvailableBalance"] == "10000.00"
    # the ledger ages intents on the marketplace's virtual clock (default origin)
    assert endpoint.clock() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert endpoint.marketplace is not None
    remote = make_endpoint(config_for(tmp_path, "sandbox"))
    assert remote.clock is utc_now
    assert remote.marketplace is None


# -- errors and retries -----------------------------------------------------------------------


def test_a_request_error_is_one_line_with_operation_message_and_code(
    tmp_path: Path, double: MTurkDouble
) -> None:
    client = make_client(config_for(tmp_path, double.url))
    with pytest.raises(ServiceError) as raised:
        service_call(client, "GetHIT", HITId="NOSUCHHIT")
    line = str(raised.value)
    assert line.startswith("GetHIT: Hit NOSUCHHIT does not exist.")
    assert line.endswith("(AWS.MechanicalTurk.HITDoesNotExist)")
    assert "\n" not in line
    assert raised.value.turk_error_code == "AWS.MechanicalTurk.HITDoesNotExist"
    assert refused_before_effect(raised.value)


def test_exhausted_retries_are_a_user_error_that_proves_nothing(
    tmp_path: Path, double: MTurkDouble
) -> None:
    client = make_client(config_for(tmp_path, double.url, retry=RetrySettings(attempts=1)))
    double.fail("GetAccountBalance", status=500, error_type="ServiceFault", times=5)
    with pytest.raises(ServiceError, match="gave up after 2 attempts") as raised:
        service_call(client, "GetAccountBalance")
    assert raised.value.operation == "GetAccountBalance"
    assert "run again later" in str(raised.value)
    assert not refused_before_effect(raised.value)
    assert double.count("GetAccountBalance") == 2


def test_clt_retriable_errors_are_retried_up_to_retry_attempts(
    tmp_path: Path, double: MTurkDouble
) -> None:
    busy = "AWS.MechanicalTurk.Busy"
    retry = RetrySettings(attempts=3, delay_millis=0, retriable_errors=(busy,))
    client = make_client(config_for(tmp_path, double.url, retry=retry))
    double.fail("GetAccountBalance", turk_error_code=busy, times=2)
    assert service_call(client, "GetAccountBalance")["AvailableBalance"] == "10000.00"
    assert double.count("GetAccountBalance") == 3
    double.fail("GetHIT", turk_error_code=busy, times=10)
    with pytest.raises(ServiceError, match=busy):
        service_call(client, "GetHIT", HITId="X")
    assert double.count("GetHIT") == 4  # 1 + retry_attempts
    plain = make_client(config_for(tmp_path, double.url))
    double.fail("GetAccountBalance", turk_error_code=busy, times=1)
    with pytest.raises(ServiceError):
        service_call(plain, "GetAccountBalance")  # not listed: a RequestError is final
    assert double.count("GetAccountBalance") == 4


def test_missing_credentials_are_a_user_error(tmp_path: Path, double: MTurkDouble) -> None:
    # A non-loopback kind takes the AWS chain, which the fixture emptied.
    client = make_client(config_for(tmp_path, double.url, kind="production"))
    with pytest.raises(ServiceError, match="GetAccountBalance: no AWS credentials found") as raised:
        service_call(client, "GetAccountBalance")
    assert "mturk.properties" in str(raised.value)
    assert double.calls == []


# -- secrets ----------------------------------------------------------------------------------


def test_secrets_never_reach_logs_output_or_errors(
    tmp_path: Path,
    double: MTurkDouble,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # what -v (and more) would show
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(handler)
    try:
        credentials = Credentials(ACCESS_KEY, SECRET_KEY, "mturk.properties")
        config = config_for(tmp_path, double.url, credentials=credentials)
        client = make_client(config)
        service_call(client, "GetAccountBalance")
        with pytest.raises(ServiceError) as raised:
            service_call(client, "GetHIT", HITId="NOSUCHHIT")
        print(raised.value, repr(config), repr(credentials))
    finally:
        logging.getLogger().removeHandler(handler)
    out, err = capsys.readouterr()
    # the signed request was sent (the double saw the key) and logged, redacted
    assert ACCESS_KEY in double.calls[0].headers["Authorization"]
    assert "<hidden>" in caplog.text
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert secret not in caplog.text
        assert secret not in out
        assert secret not in err


RUN_WITH_PROPERTIES = """
import logging
import sys
from pathlib import Path

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # more than -v ever shows

from mturkmake.mturk.settings import load_config
from mturkmake.core.plugins import PluginHost, make_plugin_manager
from mturkmake.errors import ServiceError
from mturkmake.mturk.endpoint import service_call

root = Path(sys.argv[1])
config = load_config(root, environ={})
host = PluginHost(make_plugin_manager(builtins=("mturkmake.plugins.client",), entrypoints=False))
client = host.make_client(config).client
print("balance", service_call(client, "GetAccountBalance")["AvailableBalance"])
try:
    service_call(client, "GetHIT", HITId="NOSUCHHIT")
except ServiceError as error:
    print(error)
print(config)
"""


@pytest.mark.slow
def test_a_run_with_keys_in_mturk_properties_never_prints_them(
    tmp_path: Path, double: MTurkDouble
) -> None:
    (tmp_path / "mturk.properties").write_text(
        f"access_key={ACCESS_KEY}\nsecret_key={SECRET_KEY}\n"
        "service_url=https://mechanicalturk.sandbox.amazonaws.com/?Service=AWSMechanicalTurkRequester\n"
        "retry_attempts=2\n",
        encoding="utf-8",
    )
    (tmp_path / "mturkmake.toml").write_text(f'endpoint = "{double.url}"\n', encoding="utf-8")
    script = tmp_path / "run.py"
    script.write_text(RUN_WITH_PROPERTIES, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    assert done.returncode == 0, done.stderr
    assert "balance 10000.00" in done.stdout
    assert "GetHIT: Hit NOSUCHHIT does not exist." in done.stdout
    assert "Authorization" in done.stderr  # the signed request was logged...
    assert ACCESS_KEY in double.calls[0].headers["Authorization"]  # ...and signed with the key
    logs = list(tmp_path.rglob("*.log"))  # whatever a run leaves behind
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert secret not in done.stdout
        assert secret not in done.stderr
        for log in logs:
            assert secret not in log.read_text(encoding="utf-8", errors="replace")


def test_credentials_from_the_aws_chain_are_hidden_too(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    double: MTurkDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHECHAIN0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain/secret/value/0001")
    caplog.set_level(logging.DEBUG)
    client = make_client(config_for(tmp_path, double.url, kind="production"))
    service_call(client, "GetAccountBalance")
    assert "AKIAFROMTHECHAIN0001" in double.calls[0].headers["Authorization"]
    assert "AKIAFROMTHECHAIN0001" not in caplog.text
    assert "chain/secret/value/0001" not in caplog.text


def test_a_refusal_after_a_retry_proves_nothing(tmp_path: Path, double: MTurkDouble) -> None:
    client = make_client(config_for(tmp_path, double.url, retry=RetrySettings(attempts=1)))
    # the first attempt may have been executed; the refusal may be because of it
    double.fail("GetHIT", status=500, error_type="ServiceFault", times=1)
    with pytest.raises(ServiceError, match="does not exist") as raised:
        service_call(client, "GetHIT", HITId="NOSUCHHIT")
    assert double.count("GetHIT") == 2
    assert not refused_before_effect(raised.value)
