"""One way for every benchmark to start from an example: its sources, never its state.

The quick start (``mturkmake -C examples/helloworld --wait hello.approved``) leaves
``.mturkmake/`` and targets beside the example; a benchmark copying all of it would start from
that run's ledger (and, with other rows, stop on the rows it sees as edited).
"""

from __future__ import annotations

import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: What an example's sources are named like: what mturkmake reads, never what it makes.
SOURCE_SUFFIXES = (".input", ".question", ".properties", ".toml", ".md", ".py", ".answerkey")


def copy_example(source: Path, target: Path) -> Path:
    """Copy the sources of the example at ``source`` to ``target`` (created); returns it."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.is_file() and (path.suffix in SOURCE_SUFFIXES or path.name == "Makefile"):
            shutil.copy2(path, target / path.name)
    return target
