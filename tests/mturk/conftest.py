"""Fixtures shared by the requester-side tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mturk.test_results_cache import Local, open_local


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    """A local marketplace in process, with a project beside it (closed after the test)."""
    it = open_local(tmp_path / "project")
    yield it
    it.market.close()
