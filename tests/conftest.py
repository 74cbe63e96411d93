"""Settings for every test: nothing may leave this machine (DESIGN §9)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_instance_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore's credential chain ends by asking the EC2 instance-metadata service over the
    # network; a test without credentials must fail closed instead.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
