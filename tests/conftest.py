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


def _source(obj: object) -> str:
    try:
        return inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def _corpus_helpers(module: object) -> set[str]:
    """Names of the module's functions that read the corpus, directly or through each other."""
    functions = {
        name: _source(value)
        for name, value in vars(module).items()
        if inspect.isfunction(value)
        and getattr(value, "__module__", None) == getattr(module, "__name__", "")
    }
    found: set[str] = set()
    while True:
        pattern = re.compile(
            _CORPUS_NAMES.pattern
            + (r"|\b(" + "|".join(map(re.escape, found)) + r")\b" if found else "")
        )
        more = {
            name for name, text in functions.items() if name not in found and pattern.search(text)
        }
        if not more:
            return found
        found |= more


def _reads_corpus(item: pytest.Item, helpers: dict[str, set[str]]) -> bool:
    function = getattr(item, "function", None)
    module = getattr(item, "module", None)
    if function is None or module is None:
        return False
    if module.__name__ not in helpers:
        helpers[module.__name__] = _corpus_helpers(module)
    names = helpers[module.__name__]
    text = _source(function)
    if _CORPUS_NAMES.search(text):
        return True
    return (
        bool(names)
        and re.search(r"\b(" + "|".join(map(re.escape, names)) + r")\b", text) is not None
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("MTURKMAKE_REQUIRE_REFERENCE") == "1" and not reference.available():
        raise pytest.UsageError(f"MTURKMAKE_REQUIRE_REFERENCE=1, but {reference.ABSENT}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if reference.available():
        return
    skip = pytest.mark.skip(reason=reference.ABSENT)
    helpers: dict[str, set[str]] = {}
    for item in items:
        if _reads_corpus(item, helpers) or item.get_closest_marker("reference"):
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
