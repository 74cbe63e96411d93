"""Calls of one step overlap under ``-j N``, within the run's rate, silently through
throttling, and write the same files for every N (issue #17, :mod:`mturkmake.mturk.calls`)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mturkmake.marketplace.faults import FaultSettings
from mturkmake.marketplace.server import MarketplaceServer
from mturkmake.marketplace.service import Marketplace
from mturkmake.mturk.calls import TokenBucket, is_throttle
from mturkmake.testing import Project
from tests.test_money_safety import BATCH

ROWS = 40
#: Calls that wait (as on any real endpoint), so that -j 16 really overlaps them: without a
#: fault the in-process marketplace's calls go one at a time (calls.call_jobs).
WAITING = 'endpoint = "local"\n\n[local.faults]\nlatency = "2ms"\n'


def _batch(rows: int = ROWS) -> dict[str, str]:
    names = "".join(f"person{n}\n" for n in range(rows))
    return {**BATCH, "s.input": "name\n" + names}


def _outputs(project: Project) -> dict[str, bytes]:
    return {
        name: project.path(name).read_bytes()
        for name in ("s.success", "s.failure", "s.results")
        if project.path(name).exists()
    }


def test_j1_and_j16_write_identical_files(mturkmake_project: Project) -> None:
    mturkmake_project.write({**_batch(), "mturkmake.toml": WAITING})
    first = mturkmake_project.run("-j", "1", "s.success")
    assert first.exit_code == 0, first.stderr
    one = _outputs(mturkmake_project)
    assert one["s.success"].count(b"\n") == ROWS + 1
    # The same project from scratch (the local marketplace lives in .mturkmake/ too): the
    # tokens, hence the local marketplace's ids, depend on the rows, not on the call order.
    shutil.rmtree(mturkmake_project.path(".mturkmake"))
    for name in one:
        mturkmake_project.path(name).unlink()
    second = mturkmake_project.run("-j", "16", "s.success")
    assert second.exit_code == 0, second.stderr
    assert _outputs(mturkmake_project) == one


def test_results_fetched_at_j16_are_the_files_of_j1(mturkmake_project: Project) -> None:
    mturkmake_project.write({**_batch(20), "mturkmake.toml": WAITING})
    first = mturkmake_project.run("-j", "1", "s.results", "--wait")
    assert first.exit_code == 0, first.stderr
    one = _outputs(mturkmake_project)
    assert one["s.results"].count(b"\n") >= 21
    shutil.rmtree(mturkmake_project.path(".mturkmake"))
    for name in one:
        mturkmake_project.path(name).unlink()
    second = mturkmake_project.run("-j", "16", "s.results", "--wait")
    assert second.exit_code == 0, second.stderr
    assert _outputs(mturkmake_project) == one


def _most_in_flight(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Watch the in-process marketplace's answers: ``[calls in flight now, most at once]``."""
    from mturkmake.marketplace import inprocess

    seen = [0, 0]
    lock = threading.Lock()
    answer = inprocess.handle

    def handle(*args: Any, **kwargs: Any) -> Any:
        with lock:
            seen[0] += 1
            seen[1] = max(seen)
        try:
            return answer(*args, **kwargs)
        finally:
            with lock:
                seen[0] -= 1

    monkeypatch.setattr(inprocess, "handle", handle)
    return seen


@pytest.mark.parametrize(
    ("toml", "overlap"),
    [('endpoint = "local"\n', False), (WAITING, True)],
    ids=["plain", "latency"],
)
def test_in_process_calls_overlap_only_when_they_wait(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch, toml: str, overlap: bool
) -> None:
    # In process with nothing injected a call waits on nothing: -j 16 threads could only take
    # turns under the GIL (slower than one at a time), so the calls go one by one; with a
    # latency they wait, and overlap up to -j.
    mturkmake_project.write({**_batch(), "mturkmake.toml": toml})
    seen = _most_in_flight(monkeypatch)
    result = mturkmake_project.run("-j", "16", "s.results", "--wait")
    assert result.exit_code == 0, result.stderr
    assert mturkmake_project.path("s.success").read_text().count("\n") == ROWS + 1
    if overlap:
        assert 1 < seen[1] <= 16
    else:
        assert seen[1] == 1


def test_the_cpu_bound_mark_has_one_name() -> None:
    from mturkmake.marketplace import inprocess
    from mturkmake.mturk import calls

    assert calls._CPU_BOUND == inprocess.CPU_BOUND


@pytest.fixture
def throttling_server(tmp_path: Path) -> Iterator[MarketplaceServer]:
    faults = FaultSettings(throttle_rate=0.3, seed=7)
    server = MarketplaceServer(Marketplace(tmp_path / "served.db"), port=0, faults=faults)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.close()


def _hits_on(server: MarketplaceServer) -> list[dict[str, Any]]:
    import boto3

    client = boto3.client(
        "mturk",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    hits: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"MaxResults": 100}
    while True:
        try:
            page = client.list_hits(**kwargs)
        except client.exceptions.ClientError as exc:
            if "Throttl" in str(exc):
                continue
            raise
        hits += page["HITs"]
        if not page.get("NextToken"):
            return hits
        kwargs["NextToken"] = page["NextToken"]


def test_throttled_run_at_j8_completes_silently_without_duplicates(
    mturkmake_project: Project, throttling_server: MarketplaceServer
) -> None:
    mturkmake_project.write(_batch(30))
    result = mturkmake_project.run("-j", "8", "--endpoint", throttling_server.url, "s.success")
    assert result.exit_code == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "Rate exceeded" not in shown
    assert "Throttl" not in shown
    success = mturkmake_project.path("s.success").read_text().splitlines()
    assert len(success) == 31
    hits = _hits_on(throttling_server)
    annotations = sorted(str(h.get("RequesterAnnotation", "")) for h in hits)
    assert len(hits) == 30, annotations  # one HIT per row, none twice
    assert not mturkmake_project.path("s.failure").exists()


def test_token_bucket_spaces_threads_at_the_rate() -> None:
    bucket = TokenBucket(20.0)
    start = time.monotonic()
    threads = [threading.Thread(target=bucket.acquire) for _ in range(21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert elapsed >= 0.95  # 21 requests at 20/s, burst 1: the last waits a second


def test_token_bucket_slows_down_when_throttled_and_recovers() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(4.0, clock=lambda: now[0], sleep=sleep)
    bucket.throttled()
    bucket.throttled()  # the same second: one signal
    assert bucket.rate == pytest.approx(2.8)
    bucket.acquire()
    bucket.acquire()
    assert slept[-1] == pytest.approx(1 / 2.8)
    for _ in range(100):
        bucket.succeeded()
    assert bucket.rate == 4.0  # back to the configured rate, never above it
    waits = len(slept)
    unlimited = TokenBucket(None, clock=lambda: now[0], sleep=sleep)
    unlimited.throttled()
    unlimited.acquire()
    assert unlimited.rate is None
    assert unlimited.throttles == 1
    assert len(slept) == waits


def test_is_throttle_reads_botocore_responses() -> None:
    assert is_throttle((None, {"Error": {"Code": "ThrottlingException"}}))
    assert not is_throttle((None, {"Error": {"Code": "RequestError"}}))
    assert not is_throttle(None)
