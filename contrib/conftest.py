"""For the contrib packages' tests: under ``MTURKMAKE_REQUIRE_CONTRIB=1`` (CI, where the
packages are installed from this checkout) a skipped test is a failure, so a missing
install or a missing dependency cannot pass as green. Each test module fails its own
collection in that case too (see ``_require_installed`` in each)."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

REQUIRE_ENV = "MTURKMAKE_REQUIRE_CONTRIB"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if os.environ.get(REQUIRE_ENV) == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but {REQUIRE_ENV}=1 forbids skipping: {report.longrepr}"
