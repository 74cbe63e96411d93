"""``mturkmake switch-endpoint BATCH ENDPOINT``: move a batch to another endpoint (DESIGN §4).

A batch lives on one endpoint; rehearsing on sandbox and then launching on production is an
explicit step. The batch's targets are archived as ``<batch>.<old>.*`` (``survey.success``
→ ``survey.sandbox.success``), its ledger entries are archived (never deleted), and the
ledger records the new endpoint, so the next run starts a fresh batch there. Nothing is sent
to any endpoint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mturkmake.errors import LedgerError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Event, Flag, hookimpl

#: The targets a batch's rules make (DESIGN §2); hand-written files are left alone.
TARGET_SUFFIXES = ("success", "failure", "results", "approved", "preview.html")
INPUT_SUFFIX = ".input"


def batch_identity(root: Path, batch: str) -> tuple[str, str]:
    """``(identity, stem)`` of a batch named ``survey`` or ``survey.input``.

    The identity is the input file's path relative to the root (DESIGN §2), as the ledger
    knows it; the stem names its targets.
    """
    stem = batch.removesuffix(INPUT_SUFFIX)
    identity = Path(os.path.relpath(root / f"{stem}{INPUT_SUFFIX}", root)).as_posix()
    return identity, stem


def endpoint_label(endpoint: str) -> str:
    """A file-name-safe name for ``endpoint``: ``sandbox``, or ``127.0.0.1-8080`` for a URL."""
    if "://" not in endpoint:
        return endpoint
    return re.sub(r"[^A-Za-z0-9.]+", "-", urlsplit(endpoint).netloc).strip("-") or "url"


def archive_target_names(root: Path, stem: str, label: str) -> dict[Path, Path]:
    """Where each existing target of batch ``stem`` goes when archived under ``label``
    (``survey.success`` → ``survey.sandbox.success``; ``sandbox-2`` if that is taken)."""
    existing = [root / f"{stem}.{suffix}" for suffix in TARGET_SUFFIXES]
    existing = [path for path in existing if path.exists()]
    number = 1
    while True:
        tag = label if number == 1 else f"{label}-{number}"
        renames = {
            path: path.with_name(f"{stem}.{tag}.{path.name[len(stem) + 1 :]}") for path in existing
        }
        if not any(target.exists() for target in renames.values()):
            return renames
        number += 1  # an earlier switch archived under this name: keep both


def switch_endpoint(args: Mapping[str, Any], ctx: Context) -> int:
    """Handler of ``switch-endpoint BATCH ENDPOINT``."""
    # the ledger loads only when the command runs: a no-op run stays light (issue #17)
    from mturkmake.core.fsio import ProjectLock
    from mturkmake.mturk.ledger import open_ledger
    from mturkmake.mturk.settings import classify_endpoint, settings

    batch, new = str(args["batch"]), str(args["endpoint"])
    classify_endpoint(new, source="switch-endpoint")  # refuses an unknown endpoint
    identity, stem = batch_identity(ctx.root, batch)
    state_dir = ctx.config.state_dir
    lock = ProjectLock(
        state_dir / "lock",
        float(ctx.config.get("lock_timeout", 30.0)),
        f"mturkmake switch-endpoint {batch} {new}",
    )
    with lock, open_ledger(state_dir, new) as ledger:
        old = ledger.batch_endpoint(identity) or settings(ctx.config).identity
        if old == new:
            raise UsageError(f"batch '{stem}' already lives on {new}")
        with open_ledger(state_dir, old) as previous:
            pending = [i for i in previous.pending() if i.batch == identity]
        if pending:
            raise LedgerError(
                f"batch '{stem}' has {len(pending)} call(s) on {old} without an outcome",
                hint=f"run mturkmake on it with --endpoint {old} first, so they are resolved",
            )
        renames = archive_target_names(ctx.root, stem, endpoint_label(old))
        for source, target in renames.items():
            os.replace(source, target)
        archived = ledger.archive_batch(identity, f"switch-endpoint {old} -> {new}")
        ledger.set_batch_endpoint(identity, new)
    moved = ", ".join(f"{s.name} → {t.name}" for s, t in renames.items()) or "no targets"
    ctx.report(
        Event(
            "info",
            f"{stem}: moved from {old} to {new}; archived {moved}; "
            f"{archived} ledger entries archived",
            data={"batch": identity, "from": old, "to": new, "archived": archived},
        )
    )
    return 0


SWITCH_ENDPOINT = CommandSpec(
    name="switch-endpoint",
    flags=(),
    handler=switch_endpoint,
    help="move a batch to another endpoint (archives its targets and ledger entries)",
    positionals=(
        Flag("batch", "BATCH", "the batch: its input file, with or without .input", True),
        Flag("endpoint", "ENDPOINT", "local, sandbox, production or a URL", True),
    ),
)


@hookimpl
def mturkmake_commands() -> list[CommandSpec]:
    """Contribute ``switch-endpoint``."""
    return [SWITCH_ENDPOINT]
