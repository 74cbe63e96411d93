"""Settings for every test: nothing may leave this machine (DESIGN §9)."""

from __future__ import annotations

import inspect
import os
import re

import pytest

from tests import reference


@pytest.fixture(autouse=True)
def _no_instance_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore's credential chain ends by asking the EC2 instance-metadata service over the
    # network; a test without credentials must fail closed instead.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# --------------------------------------------------------------------------------------------
# The reference corpus (tests/reference.py): skipped with a reason where absent, required in CI
# --------------------------------------------------------------------------------------------

#: Names through which a test reads the corpus.
_CORPUS_NAMES = re.compile(
    r"\b(SAMPLES|SEED|SHARED|REFERENCE|seed_lines|seed_topics|seed_arguments|QUESTION_FILES"
    r"|HIT_SAMPLES|BATCHES|sample_files|reference)\b"
)
_REQUIRED = {
    "MTURKMAKE_REQUIRE_REFERENCE": "the reference corpus",
    "MTURKMAKE_REQUIRE_BROWSER": "browser",
    "MTURKMAKE_REQUIRE_CONTRIB": "contrib",
}


def _reads_corpus(item: pytest.Item) -> bool:
    function = getattr(item, "function", None)
    if function is None:
        return False
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return bool(_CORPUS_NAMES.search(source))


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("MTURKMAKE_REQUIRE_REFERENCE") == "1" and not reference.available():
        raise pytest.UsageError(f"MTURKMAKE_REQUIRE_REFERENCE=1, but {reference.ABSENT}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if reference.available():
        return
    skip = pytest.mark.skip(reason=reference.ABSENT)
    for item in items:
        if _reads_corpus(item):
            item.add_marker(skip)


_REQUIRED_SKIPS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.skipped:
        return
    reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
    for variable, word in _REQUIRED.items():
        if os.environ.get(variable) == "1" and word in reason.lower():
            _REQUIRED_SKIPS.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _REQUIRED_SKIPS:
        print("\nskipped although required (MTURKMAKE_REQUIRE_*=1):", *_REQUIRED_SKIPS, sep="\n  ")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
