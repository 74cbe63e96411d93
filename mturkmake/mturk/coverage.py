"""Which HITs a batch's ``.results`` covers: every HIT the ledger knows, never fewer (DESIGN §2).

``.success`` is a projection of the ledger, but a file can be stale or hand-edited. If it
decided what ``%.results`` fetches, HITs cut from it would vanish from ``.results``, their
work would never be reviewed by ``%.approved``, and MTurk would approve and pay it
automatically. So the ledger's records of the batch decide; HITs only the file lists (a CLT
load of the same batch, say) are fetched too — what is fetched only ever grows — and a file
that disagrees is reported in one warning line with the counts and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mturkmake.formats.success import SuccessRow
from mturkmake.mturk.settings import settings

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config
    from mturkmake.mturk.batch import BatchRow

__all__ = ["BatchHits", "ledger_batch", "ledger_first"]


def batch_policies(config: Config, success_rel: str) -> dict[str, frozenset[str]]:
    """HIT id → the levels its review policies act at, for the batch whose ``.success`` is
    ``success_rel`` (from the CreateHIT parameters the ledger recorded)."""
    if not (config.state_dir / "state.db").exists():
        return {}
    from mturkmake.mturk.batch import CREATE_OPERATION, batch_for_success
    from mturkmake.mturk.ledger import open_ledger
    from mturkmake.mturk.review_policies import policy_levels

    with open_ledger(config.state_dir, settings(config).identity) as ledger:
        batch = batch_for_success(ledger, success_rel)
        if batch is None:
            return {}
        made = ledger.done_remote_params(CREATE_OPERATION, batch)
    found = {hit_id: policy_levels(params) for hit_id, params in made.items()}
    return {hit_id: levels for hit_id, levels in found.items() if levels}


def ledger_batch(config: Config, success_rel: str) -> list[BatchRow] | None:
    """Every HIT the ledger knows in the batch whose ``.success`` is ``success_rel``;
    ``None`` when the ledger knows no such batch (a ``.success`` made by the CLT)."""
    if not (config.state_dir / "state.db").exists():
        return None
    from mturkmake.mturk.batch import batch_for_success, batch_rows
    from mturkmake.mturk.ledger import open_ledger

    with open_ledger(config.state_dir, settings(config).identity) as ledger:
        batch = batch_for_success(ledger, success_rel)
        return None if batch is None else batch_rows(ledger, batch)


def reading_project(config: Config) -> str:
    """The project's id for a step that only reads (it writes none): the configured one,
    else the one its ledger is bound to (the config line was lost), else ``""`` (no id yet:
    every HIT carrying a project marker is another project's)."""
    from mturkmake.mturk.project import PROJECT_KEY, project_id

    if config.get(PROJECT_KEY) is not None:
        return project_id(config)  # validated; nothing is written when it is configured
    if not (config.state_dir / "state.db").exists():
        return ""
    from mturkmake.mturk.ledger import open_ledger

    with open_ledger(config.state_dir, settings(config).identity) as ledger:
        return ledger.recorded_project() or ""


@dataclass(frozen=True)
class BatchHits:
    """The HITs a ``.results`` covers.

    :param rows: every HIT the ledger knows for the batch (input order), then any HIT the
        ``.success`` lists that the ledger does not know (file order).
    :param warning: the line saying how the ``.success`` disagrees with the ledger, if it does.
    """

    rows: tuple[SuccessRow, ...]
    warning: str | None = None


def ledger_first(
    listed: Sequence[SuccessRow],
    known: Sequence[BatchRow] | None,
    *,
    shown: str,
    target: str,
    rebuild: str,
) -> BatchHits:
    """The HITs to fetch: the ledger's, never fewer because ``.success`` lists fewer.

    A ``.success`` can be stale or hand-edited; the ledger records every HIT created. HITs
    only ``.success`` lists are kept too (a CLT load of the same batch, say): what is
    fetched and reviewed only ever grows.

    :param listed: the ``.success`` rows, in file order.
    :param known: :func:`ledger_batch` (``None``: the ledger does not know the batch, and
        ``.success`` is all there is).
    :param shown: the ``.success`` name for the warning.
    :param target: what is written (``survey.results``), for the warning.
    :param rebuild: how to rewrite ``.success`` from the ledger, for the warning.
    """
    if known is None:
        return BatchHits(tuple(listed))
    ledger_rows = [SuccessRow(r.hit_id, r.hit_type_id) for r in known if r.hit_id]
    in_ledger = {r.hit_id for r in ledger_rows}
    in_file = {r.hit_id for r in listed}
    unknown = [r for r in dict((r.hit_id, r) for r in listed).values() if r.hit_id not in in_ledger]
    missing = len(in_ledger - in_file)
    rows = tuple(ledger_rows + unknown)
    if not missing and not unknown:
        return BatchHits(rows)
    parts = []
    if missing:
        parts.append(
            f"{missing} of the {len(in_ledger)} HITs the ledger knows for the batch are missing"
        )
    if unknown:
        parts.append(f"it lists {len(unknown)} HIT(s) the ledger does not know for it")
    warning = (
        f"{shown} disagrees with the ledger: {' and '.join(parts)}; {target} covers all "
        f"{len(rows)} HITs — to rewrite {shown} from the ledger, {rebuild} (nothing is "
        "created again)"
    )
    return BatchHits(rows, warning)
