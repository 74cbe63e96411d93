"""Exports as make targets: ``%.results.csv`` and ``%.results.jsonl`` from ``%.results``.

One row (or JSON object) per assignment with ``Input.*`` and ``Answer.*`` columns
(:mod:`mturkmake.formats.exports`). An export built from an incomplete ``.results`` is
incomplete too (the engine's rule), so it is rebuilt with the results.

``pseudonymize_workers = true`` replaces worker ids in exports and in ``mturkmake status``
with a keyed hash, as research ethics boards often require. The key is made once, at random,
in ``.mturkmake/pseudonym.key`` (readable by its owner only), and is never written into an
export: keep it to link pseudonyms back to workers (to pay a bonus), delete it to make the
link impossible — the next export then uses a new key and new pseudonyms.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mturkmake.errors import ConfigError
from mturkmake.hookspecs import Config, ConfigKey, Job, Outcome, Rule, hookimpl

if TYPE_CHECKING:
    from mturkmake.formats.exports import ExportTable

KEY_FILE = "pseudonym.key"
PSEUDONYMIZE = "pseudonymize_workers"


@hookimpl
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """``pseudonymize_workers``."""
    return (
        ConfigKey(
            PSEUDONYMIZE,
            bool,
            False,
            "replace worker ids in exports and reports with a keyed hash (the key stays in "
            ".mturkmake/pseudonym.key)",
        ),
    )


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.results.csv`` and ``%.results.jsonl``, each from ``%.results``."""
    return (
        Rule("%.results.csv", ("%.results",), build_csv, name="export csv"),
        Rule("%.results.jsonl", ("%.results",), build_jsonl, name="export jsonl"),
    )


def pseudonym_key(state_dir: Path) -> bytes:
    """The project's pseudonym key, made (owner-only, atomically) on first use."""
    path = state_dir / KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except ValueError:
        raise ConfigError(
            "the pseudonym key is damaged",
            file=str(path),
            hint="restore it from a backup, or delete it to start new pseudonyms",
        ) from None
    state_dir.mkdir(parents=True, exist_ok=True)
    import secrets  # not at import: a no-op run loads this module (#17)

    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run made it first: use theirs
        return pseudonym_key(state_dir)
    with os.fdopen(fd, "w", encoding="ascii") as stream:
        stream.write(key.hex() + "\n")
    return key


def worker_alias(config: Config) -> Callable[[str], str] | None:
    """How reports and exports show a worker id: ``None`` (as it is) unless
    ``pseudonymize_workers`` is on."""
    if not config.get(PSEUDONYMIZE):
        return None
    from mturkmake.formats.exports import pseudonym

    key = pseudonym_key(config.state_dir)
    return lambda worker_id: pseudonym(key, worker_id)


def _table(job: Job) -> ExportTable:
    from mturkmake.formats.exports import export_table
    from mturkmake.formats.results import open_results

    results = open_results(job.path(job.prerequisites[0]))
    return export_table(results.entries(), alias=worker_alias(job.context.config))


def build_csv(job: Job) -> Outcome:
    """Write ``%.results.csv``."""
    from mturkmake.formats.exports import write_csv

    table = _table(job)
    with job.outputs[job.target].open("w", encoding="utf-8", newline="") as stream:
        write_csv(stream, table)
    return Outcome(message=f"{len(table.records)} assignments")


def build_jsonl(job: Job) -> Outcome:
    """Write ``%.results.jsonl``."""
    from mturkmake.formats.exports import write_jsonl

    table = _table(job)
    with job.outputs[job.target].open("w", encoding="utf-8", newline="") as stream:
        write_jsonl(stream, table)
    return Outcome(message=f"{len(table.records)} assignments")
