"""HIT types, HIT creation through the ledger, adoption, and crash recovery (DESIGN §2, §3).

Rows whose merged HIT-type properties are equal share one HIT type: :class:`HitTypes` calls
CreateHITType once per distinct parameter set (MTurk returns the existing id for equal
values, so the call is safe to repeat and is not a ledger intent: it moves no money).

Each HIT is one ledger intent whose parameters are the CreateHITWithHITType call plus the
row as a ``_row`` note, so the standard recovery table (:mod:`.recoveries`) resolves a crashed
one: a retry with the same ``UniqueRequestToken`` while it is young, else a lookup of the HITs
with its HITTypeId and Question that the ledger does not already know (two stop the run).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake import fees
from mturkmake.errors import MturkmakeError, UsageError
from mturkmake.mturk.batch import (
    CREATE_OPERATION,
    EXPIRE_OPERATION,
    ROW_NOTE,
    BatchRow,
    Listed,
    pair_adopted,
    question_digest,
)
from mturkmake.mturk.endpoint import ledger_call, service_call
from mturkmake.mturk.project import (
    MARKER_PREFIX,
    check_annotation_room,
    mark_annotation,
    marker,
    marker_of,
    ownership,
)

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config
    from mturkmake.mturk.ledger import Ledger
    from mturkmake.mturk.money import Cost
    from mturkmake.mturk.preflight import PreparedHIT, SourceFile


class HitTypes:
    """CreateHITType once per distinct parameter set, for one run.

    :param client: the MTurk client.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._ids: dict[str, str] = {}

    def ensure(self, params: Mapping[str, Any]) -> str:
        """The HITTypeId for ``params`` (CreateHITType's arguments), creating it if needed.

        :raises ServiceError: MTurk refused the type.
        """
        signature = json.dumps(params, sort_keys=True, default=str)
        if signature not in self._ids:
            response = service_call(self.client, "CreateHITType", **dict(params))
            self._ids[signature] = str(response["HITTypeId"])
        return self._ids[signature]

    @property
    def ids(self) -> list[str]:
        """The HIT type ids used so far, in first-use order."""
        return list(dict.fromkeys(self._ids.values()))


def truth_marketplace(config: Config, marketplace: Any | None) -> Any | None:
    """The endpoint's local marketplace handle when true answers are to be registered
    (``gold_columns``); else ``None``."""
    if marketplace is None or not config.get("gold_columns"):
        return None
    return marketplace


def register_truth(
    config: Config, marketplace: Any, hit_id: str, values: Mapping[str, str]
) -> bool:
    """Tell the local marketplace a HIT's true answers (config ``gold_columns``).

    ``gold_columns = {question id = "input column"}``; a local-only call
    (``Marketplace.register_truth``), never an API field. Returns whether anything was
    registered.

    :param marketplace: the project's local marketplace, or ``None`` off the local endpoint.
    """
    gold = config.get("gold_columns")
    if marketplace is None or not isinstance(gold, Mapping) or not gold:
        return False
    truth = {str(q): values[str(c)] for q, c in gold.items() if str(c) in values}
    if not truth:
        return False
    marketplace.register_truth(hit_id, truth)
    return True


# --------------------------------------------------------------------------------------------
# Creating, expiring and adopting the HITs of a batch
# --------------------------------------------------------------------------------------------


def check_marker_room(hits: Sequence[PreparedHIT], properties: SourceFile, input_name: str) -> None:
    """The preflight's annotation check with the project marker counted: every merged
    annotation must leave room for it (DESIGN §6: ≤ 255 after merge, marker included).

    :raises FormatError: at the properties file's ``annotation`` line, naming the row.
    """
    line: int | None = None
    for hit in hits:
        annotation = hit.hit_params.get("RequesterAnnotation")
        if annotation is None:
            continue
        if line is None:
            line = _annotation_line(properties)
        try:
            check_annotation_room(str(annotation), source=properties.name, line=line)
        except MturkmakeError as error:
            error.message += f" (merged with {input_name}:{hit.line})"
            raise


def _annotation_line(properties: SourceFile) -> int | None:
    from mturkmake.formats import javaprops

    try:
        props = javaprops.parse(javaprops.read_text(properties.path), source=properties.name)
    except MturkmakeError:  # the preflight read it already; a race is not worth a crash
        return None
    return next((prop.line for prop in props if prop.key == "annotation"), None)


def creation_cost(hits: Sequence[PreparedHIT]) -> Cost:
    """The most creating ``hits`` can cost, grouped by reward, assignments and Masters."""
    from mturkmake.mturk.money import Cost, hits_cost

    groups: dict[tuple[Decimal, int, bool, Decimal], int] = {}
    for hit in hits:
        group = (hit.reward, hit.most_assignments, hit.masters, hit.premium)
        groups[group] = groups.get(group, 0) + 1
    parts = [
        hits_cost(count, reward, assignments, masters=masters, premium=premium)
        for (reward, assignments, masters, premium), count in groups.items()
    ]
    return Cost(
        " + ".join(part.what for part in parts) or "0 HITs",
        sum((part.payments for part in parts), Decimal("0.00")),
        sum((part.fees for part in parts), Decimal("0.00")),
    )


def create_hit(
    ledger: Ledger,
    client: Any,
    types: HitTypes,
    *,
    batch: str,
    hit: PreparedHIT,
    key: str,
    replaces: BatchRow | None,
    key_columns: Sequence[str],
    success_rel: str,
    budget: Decimal | None,
    planned: int = 0,
) -> str:
    """Create one row's HIT through the ledger (its intent's token on the call); its HITId.

    With ``replaces`` (``--replace-edited``) the old HIT is expired first, as its own intent.

    :raises ServiceError: MTurk refused (the intent is archived) or the outcome is unknown
        (the intent stays pending for the next run's recovery).
    :raises BudgetExceeded: the HIT's share would pass ``budget``; nothing was sent.
    """
    if replaces is not None:
        expire_hit(ledger, client, batch, replaces)
    type_id = types.ensure(hit.type_params)
    annotation = mark_annotation(hit.hit_params.get("RequesterAnnotation"), ledger.project)
    call = {"HITTypeId": type_id, **hit.hit_params, "RequesterAnnotation": annotation}
    row = BatchRow(
        key=key,
        index=hit.index,
        line=hit.line,
        values=hit.values,
        hit_id="",
        hit_type_id=type_id,
        key_columns=tuple(key_columns),
        success=success_rel,
        question_sha=hit.question_sha,
        merged_sha=hit.merged_sha,
        replaces=replaces.hit_id if replaces else None,
        planned=planned,
    ).record()
    # A review policy may extend the HIT: commit the most it can cost.
    exposure = fees.hit_cost(hit.reward, hit.most_assignments, masters=hit.masters)
    exposure += hit.premium * hit.most_assignments
    params = {**call, ROW_NOTE: row}
    with ledger.intent(
        CREATE_OPERATION, batch, key, params, exposure=exposure, budget=budget
    ) as intent:
        created = ledger_call(intent, client)["HIT"]
        hit_id = str(created["HITId"])
        intent.done(hit_id, {"HITTypeId": type_id, "row": row})
    return hit_id


def expire_hit(ledger: Ledger, client: Any, batch: str, old: BatchRow) -> None:
    """Expire the HIT of an edited row (once, through the ledger)."""
    if ledger.is_done(EXPIRE_OPERATION, batch, old.hit_id):
        return
    params = {"HITId": old.hit_id, "ExpireAt": 0}
    with ledger.intent(EXPIRE_OPERATION, batch, old.hit_id, params) as intent:
        ledger_call(intent, client)
        intent.done(old.hit_id)


def adopt_success(
    ledger: Ledger,
    client: Any,
    *,
    batch: str,
    success: Path,
    success_rel: str,
    hits: Sequence[PreparedHIT],
    keys: Sequence[str],
    key_columns: Sequence[str],
) -> int:
    """Record the HITs of an existing ``.success`` the ledger does not know; how many.

    A fresh clone or a deleted ``.mturkmake/``: each listed HIT is matched to a row by its
    Question (GetHIT), else by order (:func:`~mturkmake.mturk.batch.pair_adopted`), and
    recorded as adopted — never created again. Only this project's HITs (its marker in the
    RequesterAnnotation) and unmarked ones (made by the CLT: adopted because the file lists
    them) are adopted; one HIT of another mturkmake project stops the load before anything
    is adopted or created.

    :raises UsageError: a listed HIT carries another project's marker.
    """
    from mturkmake.formats.success import read_success

    with success.open("rb") as stream:
        listed = list(read_success(stream, source=success_rel))
    found: list[Listed] = []
    for entry in listed:
        try:
            remote = service_call(client, "GetHIT", HITId=entry.hit_id)["HIT"]
            digest: str | None = question_digest(str(remote.get("Question", "")))
            hit_type = entry.hit_type_id or str(remote.get("HITTypeId", ""))
        except MturkmakeError as error:
            from mturkmake.mturk.endpoint import affects_every_call

            if affects_every_call(error):
                raise  # no credentials or no connection: adopt nothing blind, say it once
            digest, hit_type = None, entry.hit_type_id  # gone or unreadable: adopt it blind
            remote = {}
        annotation = remote.get("RequesterAnnotation")
        if ownership(annotation, ledger.project) == "foreign":
            raise UsageError(
                f"HIT {entry.hit_id} belongs to another mturkmake project "
                f"({MARKER_PREFIX}{marker_of(annotation)}, not {marker(ledger.project)}); "
                "nothing was adopted or created",
                file=success_rel,
                line=entry.line or None,
                hint="this folder is a copy of that project: restore its project_id to continue "
                "it, or remove this .success to post the batch as a new project",
            )
        found.append(Listed(entry.hit_id, hit_type, digest))
    by_index = {h.index: h for h in hits}
    for listed_hit, index in pair_adopted(found, [(h.index, h.question_sha) for h in hits]):
        prepared = by_index.get(index) if index is not None else None
        row = BatchRow(
            key=keys[index] if index is not None else f"adopted:{listed_hit.hit_id}",
            index=-1 if index is None else index,
            line=prepared.line if prepared else 0,
            values=prepared.values if prepared else {},
            hit_id=listed_hit.hit_id,
            hit_type_id=listed_hit.hit_type_id,
            key_columns=tuple(key_columns),
            success=success_rel,
            question_sha=listed_hit.question_sha or "",
        )
        ledger.adopt(
            CREATE_OPERATION,
            batch,
            row.key,
            listed_hit.hit_id,
            {"HITTypeId": listed_hit.hit_type_id, "row": row.record()},
        )
    return len(found)


__all__ = [
    "HitTypes",
    "adopt_success",
    "check_marker_room",
    "create_hit",
    "creation_cost",
    "expire_hit",
    "register_truth",
    "truth_marketplace",
]
