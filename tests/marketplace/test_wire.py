"""The AWS JSON 1.1 wire, both ways in, against a tiny engine written here, so that what is
tested is the encoding, not the marketplace's semantics (those are in test_lifecycle)."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mturkmake.errors import EndpointError
from mturkmake.marketplace.errors import RequestError, ServiceFault
from mturkmake.marketplace.faults import FaultInjector, FaultSettings, parse_latency
from mturkmake.marketplace.inprocess import (
    LOCAL_ENDPOINT_URL,
    attach,
    fault_settings,
    make_local_client,
)
from mturkmake.marketplace.server import MarketplaceServer, is_loopback
from mturkmake.marketplace.wire import handle

from .conftest import HTML_QUESTION, boto_client

NOW = datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)


class TinyMarketplace:
    """Four real operations, enough to exercise every branch of the wire."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def now(self) -> datetime:
        return NOW

    def call(
        self, operation: str, params: Mapping[str, Any], *, request_token_hint: str | None = None
    ) -> dict[str, Any]:
        self.calls.append((operation, dict(params)))
        if operation == "GetAccountBalance":
            return {"AvailableBalance": "10000.00"}
        if operation == "GetHIT":
            if params["HITId"] == "KNOWN":
                created = NOW - timedelta(hours=1)
                return {"HIT": {"HITId": "KNOWN", "CreationTime": created, "Reward": "0.50"}}
            raise RequestError(
                f"Hit {params['HITId']} does not exist.", "AWS.MechanicalTurk.HITDoesNotExist"
            )
        if operation == "DeleteHIT":
            raise ServiceFault("We encountered an internal error. Please try again.")
        raise ZeroDivisionError("a bug in the engine")


@pytest.fixture
def tiny() -> TinyMarketplace:
    return TinyMarketplace()


@pytest.fixture(params=["inprocess", "http"])
def tiny_client(request: pytest.FixtureRequest, tiny: TinyMarketplace) -> Iterator[Any]:
    if request.param == "inprocess":
        client = boto_client(LOCAL_ENDPOINT_URL)
        attach(client, tiny)
        yield client
        return
    with MarketplaceServer(tiny, "127.0.0.1", 0) as served:
        yield boto_client(served.url)


def test_success_is_parsed_with_request_id_and_timestamps(tiny_client: Any) -> None:
    balance = tiny_client.get_account_balance()
    assert balance["AvailableBalance"] == "10000.00"
    assert balance["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert re.fullmatch(r"[0-9a-f-]{36}", balance["ResponseMetadata"]["RequestId"])
    hit = tiny_client.get_hit(HITId="KNOWN")["HIT"]
    assert hit["CreationTime"] == NOW - timedelta(hours=1)
    assert hit["Reward"] == "0.50"


def test_request_error_body_has_type_suffix_and_turk_code(tiny_client: Any) -> None:
    with pytest.raises(tiny_client.exceptions.RequestError) as caught:
        tiny_client.get_hit(HITId="MISSING")
    response = caught.value.response
    assert response["Error"]["Code"] == "RequestError"
    assert response["Error"]["Message"] == f"Hit MISSING does not exist. ({NOW_MS})"
    assert response["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_service_fault_is_a_500_with_the_modeled_exception(tiny_client: Any) -> None:
    with pytest.raises(tiny_client.exceptions.ServiceFault) as caught:
        tiny_client.delete_hit(HITId="ANY")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert caught.value.response["Error"]["Message"].endswith(f" ({NOW_MS})")


def test_service_fault_is_retried_by_botocore(tiny: TinyMarketplace) -> None:
    client = boto_client(LOCAL_ENDPOINT_URL, retries={"mode": "standard", "total_max_attempts": 2})
    attach(client, tiny)
    with pytest.raises(client.exceptions.ServiceFault):
        client.delete_hit(HITId="ANY")
    assert [op for op, _ in tiny.calls] == ["DeleteHIT", "DeleteHIT"]


def test_invalid_input_never_reaches_the_engine(tiny_client: Any, tiny: TinyMarketplace) -> None:
    with pytest.raises(tiny_client.exceptions.RequestError) as caught:
        tiny_client.list_hits(MaxResults=101)
    message = caught.value.response["Error"]["Message"]
    assert message.startswith(
        "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 100"
    )
    assert caught.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert tiny.calls == []


def test_a_bug_shows_its_traceback_in_process(tiny: TinyMarketplace) -> None:
    client = boto_client(LOCAL_ENDPOINT_URL)
    attach(client, tiny)
    with pytest.raises(ZeroDivisionError):
        client.list_worker_blocks()


def test_a_bug_is_a_service_fault_over_http(tiny: TinyMarketplace) -> None:
    with MarketplaceServer(tiny, "127.0.0.1", 0) as served:
        client = boto_client(served.url)
        with pytest.raises(client.exceptions.ServiceFault) as caught:
            client.list_worker_blocks()
    assert "internal error" in caught.value.response["Error"]["Message"]


def _post(url: str, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + "/",
        data=body,
        method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_raw_http_protocol_errors(tiny: TinyMarketplace) -> None:
    with MarketplaceServer(tiny, "127.0.0.1", 0) as served:
        ok = _post(served.url, "MTurkRequesterServiceV20170117.GetAccountBalance", b"")
        unknown = _post(served.url, "MTurkRequesterServiceV20170117.BuyBitcoin", b"{}")
        wrong_prefix = _post(served.url, "DynamoDB_20120810.GetAccountBalance", b"{}")
        malformed = _post(served.url, "MTurkRequesterServiceV20170117.GetHIT", b"{not json")
        extra = _post(served.url, "MTurkRequesterServiceV20170117.GetAccountBalance", b'{"X":1}')
    assert ok == (200, {"AvailableBalance": "10000.00"})
    assert unknown[0] == 400
    assert unknown[1]["__type"] == "UnknownOperationException"
    assert wrong_prefix[1]["__type"] == "UnknownOperationException"
    assert malformed[0] == 400
    assert malformed[1]["__type"] == "SerializationException"
    assert extra[0] == 400
    assert extra[1]["__type"] == "RequestError"
    assert "'x'" in extra[1]["Message"]


def test_throttling_is_throttling_exception(tiny: TinyMarketplace) -> None:
    faults = FaultSettings(throttle_rate=1.0)
    with MarketplaceServer(tiny, "127.0.0.1", 0, faults=faults) as served:
        client = boto_client(served.url)
        with pytest.raises(client.exceptions.ClientError) as caught:
            client.get_account_balance()
    error = caught.value.response["Error"]
    assert error == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert tiny.calls == []


def test_same_seed_gives_same_faults() -> None:
    def outcomes(seed: int) -> list[str]:
        injector = FaultInjector(FaultSettings(throttle_rate=0.2, fault_rate=0.2, seed=seed))
        out = []
        for index in range(200):
            body = json.dumps({"HITId": f"H{index % 50}"}).encode()
            error = injector.before("GetHIT", body, attempt=1 + index % 3)
            out.append("ok" if error is None else error.error_type)
        return out

    first = outcomes(7)
    assert first == outcomes(7)
    assert first != outcomes(8)
    # The rates hold roughly: 40 % of 200 draws fail, 20 % of each kind.
    assert 50 <= first.count("ok") <= 150
    assert 20 <= first.count("ThrottlingException") <= 65
    assert 20 <= first.count("ServiceFault") <= 65


def test_rps_limit_throttles_the_excess() -> None:
    clock = [0.0]
    injector = FaultInjector(
        FaultSettings(rps=2), sleep=lambda _s: None, monotonic=lambda: clock[0]
    )
    first = [injector.before("GetHIT", b"{}", 1) for _ in range(3)]
    assert [e is None for e in first] == [True, True, False]
    clock[0] += 0.5  # one token refills per half second at 2 rps
    assert injector.before("GetHIT", b"{}", 1) is None
    assert injector.before("GetHIT", b"{}", 1) is not None


def test_latency_sleeps_before_answering(tiny: TinyMarketplace) -> None:
    slept: list[float] = []
    injector = FaultInjector(FaultSettings(latency=0.05), sleep=slept.append)
    answer = handle(
        tiny,
        {"X-Amz-Target": "MTurkRequesterServiceV20170117.GetAccountBalance"},
        b"{}",
        faults=injector,
    )
    assert answer.status == 200
    assert slept == [0.05]
    assert parse_latency("50ms", float) == 0.05
    with pytest.raises(ValueError, match="latency"):
        parse_latency("fastms", float)


def test_server_refuses_non_loopback_hosts(tiny: TinyMarketplace) -> None:
    with pytest.raises(EndpointError, match="--allow-remote"):
        MarketplaceServer(tiny, "0.0.0.0", 0)
    assert is_loopback("localhost")
    assert is_loopback("127.0.0.2")
    assert is_loopback("::1")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("example.com")


def test_local_client_is_fenced_to_the_invalid_endpoint(
    tmp_path: Path, tiny: TinyMarketplace
) -> None:
    from mturkmake.mturk.settings import mturk_config

    config = mturk_config(
        tmp_path,
        "local",
        values={"local": {"seed": 3, "faults": {"throttle-rate": 1.0, "latency": "10ms"}}},
        sources={"local": "mturkmake.toml"},
    )
    faults = fault_settings(config)
    assert faults == FaultSettings(latency=0.01, throttle_rate=1.0, seed=3)
    client = make_local_client(config, marketplace=tiny)
    assert client.meta.endpoint_url == LOCAL_ENDPOINT_URL
    assert client.meta.region_name == "us-east-1"


def test_realtime_advances_the_clock_with_wall_time() -> None:
    advanced = threading.Event()
    seconds: list[float] = []

    class Clocked(TinyMarketplace):
        def advance(self, by: float) -> int:
            seconds.append(by)
            advanced.set()
            return 0

    with MarketplaceServer(Clocked(), "127.0.0.1", 0, realtime=True, tick=0.05):
        assert advanced.wait(timeout=10)
    assert seconds
    assert all(0 < by < 10 for by in seconds)


def test_a_retried_call_is_not_acted_on_twice(marketplace: Any) -> None:
    """botocore's invocation id is the same on every attempt of one call: the engine replays."""
    headers = {
        "X-Amz-Target": "MTurkRequesterServiceV20170117.CreateHIT",
        "amz-sdk-invocation-id": "0b7d0c2e-1111-4aaa-8bbb-123456789abc",
        "amz-sdk-request": "attempt=1; max=5",
    }
    body = json.dumps(
        {
            "LifetimeInSeconds": 3600,
            "AssignmentDurationInSeconds": 600,
            "Reward": "0.10",
            "Title": "Once",
            "Description": "Only once",
            "Question": HTML_QUESTION,
        }
    ).encode()
    first = handle(marketplace, headers, body)
    retry = handle(marketplace, {**headers, "amz-sdk-request": "attempt=2; max=5"}, body)
    assert first.status == retry.status == 200
    assert json.loads(first.body)["HIT"]["HITId"] == json.loads(retry.body)["HIT"]["HITId"]
    listed = handle(marketplace, {"X-Amz-Target": "MTurkRequesterServiceV20170117.ListHITs"}, b"")
    assert json.loads(listed.body)["NumResults"] == 1


def _config(tmp_path: Path, local: Any) -> Any:
    from mturkmake.mturk.settings import mturk_config

    return mturk_config(
        tmp_path,
        "local",
        values={"local": local},
        sources={"local": str(tmp_path / "mturkmake.toml")},
    )


def test_local_settings_come_from_the_config(tmp_path: Path) -> None:
    from mturkmake.errors import ConfigError
    from mturkmake.marketplace.inprocess import local_db_path, marketplace_settings

    settings = marketplace_settings(
        _config(tmp_path, {"seed": 9, "start": "2027-03-01T08:00:00Z", "workers": 5})
    )
    assert (settings.seed, settings.workers) == (9, 5)
    assert settings.start == datetime(2027, 3, 1, 8, tzinfo=timezone.utc)
    assert marketplace_settings(_config(tmp_path, None)).seed == 0
    assert local_db_path(_config(tmp_path, None)) == tmp_path / ".mturkmake/local-marketplace.db"
    with pytest.raises(ConfigError, match=r"unknown key 'local\.colour'"):
        marketplace_settings(_config(tmp_path, {"colour": "blue"}))
    with pytest.raises(ConfigError, match=r"local\.start"):
        marketplace_settings(_config(tmp_path, {"start": "yesterday"}))
    with pytest.raises(ConfigError, match="throttle"):
        fault_settings(_config(tmp_path, {"faults": {"throttle_rate": 2}}))


def test_serve_flags_override_the_configured_faults(tmp_path: Path) -> None:
    from mturkmake.errors import UsageError
    from mturkmake.hookspecs import Context
    from mturkmake.plugins.marketplace_cli import _faults

    config = _config(tmp_path, {"seed": 4, "faults": {"fault_rate": 0.5, "latency": "1s"}})
    ctx = Context(root=tmp_path, config=config, host=None)  # type: ignore[arg-type]
    merged = _faults({"latency": "50ms", "throttle-rate": "0.1", "rps": "5"}, ctx)
    assert merged == FaultSettings(latency=0.05, throttle_rate=0.1, fault_rate=0.5, rps=5.0, seed=4)
    with pytest.raises(UsageError, match="between 0 and 1"):
        _faults({"fault-rate": "7"}, ctx)


def test_the_command_plugin_imports_nothing_heavy() -> None:
    """It is loaded on every run, and a no-op run must not import botocore (DESIGN §9)."""
    import subprocess
    import sys

    code = (
        "import sys, mturkmake.plugins.marketplace_cli as m\n"
        "names = [s.name for s in m.mturkmake_commands()]\n"
        "heavy = [n for n in sys.modules if n.split('.')[0] in ('boto3', 'botocore')"
        " or n.startswith('mturkmake.marketplace')]\n"
        "print(names, heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == (
        "['marketplace serve', 'marketplace status', 'marketplace advance', "
        "'marketplace events', 'marketplace layout add', 'marketplace reset'] []"
    )


def test_a_server_never_started_closes_at_once(tiny: TinyMarketplace) -> None:
    server = MarketplaceServer(tiny, "127.0.0.1", 0)
    port = int(server.url.rsplit(":", 1)[1])
    server.close()
    server.close()
    assert port > 0
