"""Where the tests find the reference corpus (the CLT reference, its samples): one place.

The corpus (``shared/`` beside the repository) exists in CI and on developers' machines, not
in a user's fresh clone. ``MTURKMAKE_REFERENCE`` names it; the default is ``../shared`` from
the repository root. Tests that read it are skipped with a reason where it is absent
(``tests/conftest.py``); with ``MTURKMAKE_REQUIRE_REFERENCE=1`` (``.ci/run``) its absence, or
any such skip, fails the run instead.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("MTURKMAKE_REFERENCE") or REPO.parent / "shared").resolve()
#: The reason every corpus test gives when it is skipped.
ABSENT = f"the reference corpus is not at {REFERENCE} (set MTURKMAKE_REFERENCE to use one)"


def available() -> bool:
    """Whether the corpus is there."""
    return (REFERENCE / "clt-samples").is_dir() and (REFERENCE / "seeds").is_dir()


def read_text(*parts: str) -> str:
    """A corpus file's text, or "" where the corpus is absent (module-level constants)."""
    path = REFERENCE.joinpath(*parts)
    return path.read_text(encoding="utf-8") if path.is_file() else ""
