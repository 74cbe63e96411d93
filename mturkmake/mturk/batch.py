"""A HIT batch as the ledger knows it: identity, row keys, and the reconciliation plan (DESIGN §2).

Rebuilding ``%.success`` never re-creates: it compares the input rows with the ledger's
records of the batch and plans which rows to create, skip, refuse as edited, or adopt. The
planning functions here are pure (rows and records in, a plan out), so every rule of "money
never moves twice" is tested without a marketplace.

What the ledger keeps per created HIT (``CreateHITWithHITType`` intents, subject = the row
key): the call's parameters, plus the row under ``params["_row"]`` (``_`` keys are notes
that are never sent, :func:`mturkmake.mturk.endpoint.sendable`), also copied into the
outcome's ``result["row"]``, because adopted HITs have no call. :func:`batch_rows` reads them
back as :class:`BatchRow` — the API ``getResults`` uses for its ``Input.<column>`` columns.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ConfigError, LedgerError, UsageError
from mturkmake.mturk.ledger_queries import projection_rows

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config
    from mturkmake.mturk.ledger import Ledger

#: The ledger operation of one HIT (one type per distinct type-level property set).
CREATE_OPERATION = "CreateHITWithHITType"
#: The ledger operation that expires the HIT of an edited row (``--replace-edited``).
EXPIRE_OPERATION = "UpdateExpirationForHIT"
#: The intent parameter holding the row (a note: ``_`` keys are never sent).
ROW_NOTE = "_row"
#: Separates a batch's input path from its label in a ``--new-batch`` batch name.
LABEL_SEPARATOR = "#"


def question_digest(question: str) -> str:
    """The sha256 of a merged question (what a lookup compares with a HIT's Question)."""
    return hashlib.sha256(question.encode("utf-8")).hexdigest()


#: ``json.dumps(..., ensure_ascii=False)`` without building an encoder per call (the same text).
_KEY_JSON = json.JSONEncoder(ensure_ascii=False).encode


def _value_digest(values: Mapping[str, str], key_columns: Sequence[str]) -> str:
    # Trailing blanks and line-ending debris never make a row new (re-saving the file).
    canonical = _KEY_JSON([values.get(c, "").rstrip() for c in key_columns])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def row_keys(rows: Iterable[Mapping[str, str]], key_columns: Sequence[str]) -> list[str]:
    """Each row's key: a hash of its key columns' values plus its occurrence number.

    Identical rows get ``…#0``, ``…#1``: two equal rows are two HITs, and appending a third
    creates one more. Columns missing from a row count as empty.
    """
    seen: dict[str, int] = {}
    keys: list[str] = []
    for values in rows:
        digest = _value_digest(values, key_columns)
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        keys.append(f"{digest}#{count}")
    return keys


#: Bits of the filter that tells the rows whose key columns may repeat (1 MiB, whatever the
#: input's length: a false alarm only costs one counted digest).
_FILTER_BITS = 1 << 23


class RowKeys:
    """:func:`row_keys` for an input read as a stream (issue #17): one pass to :meth:`learn`
    which digests may repeat, then :meth:`counter` per later pass; only the (possibly)
    repeated digests are counted, so memory does not grow with the rows.
    """

    def __init__(self, key_columns: Sequence[str]) -> None:
        self.key_columns = tuple(key_columns)
        self._repeated: set[str] = set()
        self._seen: bytearray | None = None

    def see(self, values: Mapping[str, str]) -> None:
        """The first pass: every row, in input order (then :meth:`counter`)."""
        if self._seen is None:
            self._seen = bytearray(_FILTER_BITS // 8)
        digest = _value_digest(values, self.key_columns)
        bit = int(digest[:12], 16) % _FILTER_BITS
        byte, mask = bit >> 3, 1 << (bit & 7)
        if self._seen[byte] & mask:
            self._repeated.add(digest)
        else:
            self._seen[byte] |= mask

    def learn(self, rows: Iterable[Mapping[str, str]]) -> None:
        """:meth:`see` every row."""
        for values in rows:
            self.see(values)

    def counter(self) -> Callable[[Mapping[str, str]], str]:
        """A function giving each row's key, called on every row of a pass in input order:
        the keys :func:`row_keys` gives."""
        self._seen = None  # the first pass is over
        counts: dict[str, int] = {}
        repeated = self._repeated
        columns = self.key_columns

        def key(values: Mapping[str, str]) -> str:
            digest = _value_digest(values, columns)
            if digest not in repeated:
                return f"{digest}#0"
            count = counts.get(digest, 0)
            counts[digest] = count + 1
            return f"{digest}#{count}"

        return key


@dataclass(frozen=True)
class BatchRow:
    """One HIT of a batch, as the ledger records it.

    :param key: the row key (the ledger subject).
    :param index: the row's 0-based position among the input's data rows when it was
        created (``-1`` for an adopted HIT no row could be matched to).
    :param line: the input line the row started on then.
    :param values: the row's raw input values then, by column.
    :param hit_id: the HITId.
    :param hit_type_id: the HITTypeId.
    :param key_columns: the batch's key columns, frozen with its first HIT.
    :param success: the ``.success`` file (relative to the root) the batch is written to.
    :param question_sha: :func:`question_digest` of the merged question sent.
    :param merged_sha: a digest of everything merged for it (question and properties), to
        tell the user when today's files would make a different HIT.
    :param replaces: the HITId this HIT replaced (``--replace-edited``), if any.
    :param adopted: found in a ``.success`` file rather than created by this ledger.
    :param planned: how many rows the load that created it meant to post (the input's rows,
        or ``-maxhits``): a run resuming an interrupted load is not a "large addition".
    """

    key: str
    index: int
    line: int
    values: Mapping[str, str]
    hit_id: str
    hit_type_id: str
    key_columns: tuple[str, ...] = ()
    success: str = ""
    question_sha: str = ""
    merged_sha: str = ""
    replaces: str | None = None
    adopted: bool = False
    planned: int = 0

    def record(self) -> dict[str, Any]:
        """The JSON the ledger stores for this row (without the HIT ids)."""
        return {
            "key": self.key,
            "index": self.index,
            "line": self.line,
            "values": dict(self.values),
            "key_columns": list(self.key_columns),
            "success": self.success,
            "question_sha": self.question_sha,
            "merged_sha": self.merged_sha,
            "replaces": self.replaces,
            "planned": self.planned,
        }

    @classmethod
    def from_record(
        cls, record: Mapping[str, Any], *, hit_id: str, hit_type_id: str, adopted: bool
    ) -> BatchRow:
        """Rebuild a row from :meth:`record`'s JSON and the outcome's ids."""
        return cls(
            key=str(record.get("key", "")),
            index=int(record.get("index", -1)),
            line=int(record.get("line", 0)),
            values={str(k): str(v) for k, v in dict(record.get("values", {})).items()},
            hit_id=hit_id,
            hit_type_id=hit_type_id,
            key_columns=tuple(str(c) for c in record.get("key_columns", ())),
            success=str(record.get("success", "")),
            question_sha=str(record.get("question_sha", "")),
            merged_sha=str(record.get("merged_sha", "")),
            replaces=record.get("replaces") or None,
            adopted=adopted,
            planned=int(record.get("planned", 0)),
        )


def batch_rows(ledger: Ledger, batch: str, *, values: bool = True) -> list[BatchRow]:
    """Every HIT the ledger knows in ``batch``, in input order (then creation order).

    Includes HITs whose rows were edited or deleted since: they exist, so they stay in
    ``.success`` and ``.results`` until their work is decided.

    The rows are read from the outcomes (which copy each row), not from the calls'
    parameters (which hold each merged question: 3 KB a HIT; issue #17); the parameters are
    read only for an outcome without the row. The same records as
    :func:`~mturkmake.mturk.ledger.select_records` gives for the batch.

    :param values: ``False`` leaves each row's ``values`` empty (a load's reconciliation
        needs only the keys and positions: less memory for a large batch).
    """
    found: list[BatchRow] = []
    for call in ledger.done_calls(CREATE_OPERATION, batch):
        result = json.loads(call.result or "{}")
        record, hit_type = result.get("row"), result.get("HITTypeId")
        if not record or not hit_type:
            params = ledger.intent_params(call.intent_id)
            record = record or params.get(ROW_NOTE) or {"key": call.subject}
            hit_type = hit_type or params.get("HITTypeId", "")
        if not values:
            record = {k: v for k, v in record.items() if k != "values"}
        found.append(
            BatchRow.from_record(
                record,
                hit_id=str(call.remote_id or ""),
                hit_type_id=str(hit_type),
                adopted=str(call.resolved_by or "") == "adopted",
            )
        )
    order = {id(row): n for n, row in enumerate(found)}
    return sorted(found, key=lambda r: (r.index < 0, r.index, order[id(r)]))


class Projection:
    """``(HITId, HITTypeId)`` of every HIT of ``batch``, in :func:`batch_rows`' order: what
    ``.success`` lists. Read when iterated, from a read-only connection to the ledger's
    database, sorted by SQLite and written as it is read (issue #17: a 100,000-HIT batch is
    never held in memory), without the calls' parameters (each holds its merged question).

    :param database: the ledger's ``state.db`` (the ledger itself may be closed by then).
    :param endpoint: the ledger's endpoint identity.
    """

    def __init__(self, database: Path, endpoint: str, batch: str) -> None:
        self.database = database
        self.endpoint = endpoint
        self.batch = batch

    def __iter__(self) -> Iterator[tuple[str, str]]:
        if not self.database.exists():
            return
        uri = self.database.resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        try:
            yield from projection_rows(conn, self.endpoint, CREATE_OPERATION, self.batch)
        finally:
            conn.close()


def known_batches(ledger: Ledger, input_rel: str | None = None) -> dict[str, str]:
    """Batch name → its ``.success`` (relative to the root), for the batches made from
    ``input_rel`` on this endpoint (every batch when ``None``), in the order of their first
    HITs. Each batch's first HIT is the only one read (issue #17: reading them all parsed
    every merged question of every batch)."""
    batches: dict[str, str] = {}
    for first in ledger.first_done_calls(CREATE_OPERATION):
        batch = first.subject
        if input_rel is not None and not (
            batch == input_rel or batch.startswith(input_rel + LABEL_SEPARATOR)
        ):
            continue
        record = json.loads(first.result or "{}").get("row") or {}
        if not record:
            record = ledger.intent_params(first.intent_id).get(ROW_NOTE) or {}
        batches[batch] = str(record.get("success", ""))
    return batches


def batch_for_success(ledger: Ledger, success_rel: str) -> str | None:
    """The batch whose projection is ``success_rel`` (``survey.success``), if the ledger
    knows one — how ``getResults -successfile`` and ``%.results`` find their batch."""
    for batch, success in known_batches(ledger).items():
        if success == success_rel:
            return batch
    return None


def pick_batch(
    input_rel: str, success_rel: str, known: Mapping[str, str], *, new_batch: bool
) -> str:
    """The batch a load of ``input_rel`` writing ``success_rel`` belongs to.

    A batch is its input file; the same input under another ``-label`` (another
    ``.success``) is the CLT's way to post it again, refused unless ``new_batch``.

    :param known: :func:`known_batches`.
    :raises UsageError: a repeat under a new label without ``new_batch``.
    """
    for batch, success in known.items():
        if success == success_rel:
            return batch
    if input_rel not in known:
        return input_rel
    if not new_batch:
        raise UsageError(
            f"{input_rel} was already posted as a batch written to {known[input_rel]}; "
            f"posting it again to {success_rel} would create every HIT a second time",
            hint="use the same -label to reconcile that batch, or add --new-batch to post "
            "the rows again as a new batch (its cost is shown first)",
        )
    return f"{input_rel}{LABEL_SEPARATOR}{success_rel}"


# --------------------------------------------------------------------------------------------
# The reconciliation plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """A current input row: its position, line, key and raw values."""

    index: int
    line: int
    key: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Edited:
    """A row whose key columns changed since its HIT was created."""

    row: PlanRow
    old: BatchRow


@dataclass(frozen=True)
class Reconciliation:
    """What a reconciliation does.

    :param create: rows without a HIT, to create (appended or new rows).
    :param skip: rows that already have a HIT, with it.
    :param edited: rows whose HIT was made from other key values (refused, or replaced
        with ``--replace-edited``).
    :param deleted: HITs whose row is gone from the input (kept; nothing is done).
    """

    create: tuple[PlanRow, ...]
    skip: tuple[tuple[PlanRow, BatchRow], ...]
    edited: tuple[Edited, ...]
    deleted: tuple[BatchRow, ...]


def plan_batch(
    rows: Sequence[PlanRow], records: Sequence[BatchRow], *, limit: int | None = None
) -> Reconciliation:
    """Compare the input with the ledger's records of the batch.

    A row whose key is recorded is skipped. A row whose key is not recorded is *edited* when
    a record that no current row matches sat at the same position (its key columns
    changed), else *new*. Records replaced by ``--replace-edited`` never count as edited
    again.

    :param limit: ``-maxhits``: only rows with index below it are created or refused.
    """
    by_key = {record.key: record for record in records}
    replaced = {record.replaces for record in records if record.replaces}
    matched: set[str] = set()
    skip: list[tuple[PlanRow, BatchRow]] = []
    fresh: list[PlanRow] = []
    for row in rows:
        record = by_key.get(row.key)
        if record is not None:
            skip.append((row, record))
            matched.add(row.key)
        else:
            fresh.append(row)
    orphans: dict[int, BatchRow] = {}
    for record in records:
        if record.key not in matched and record.hit_id not in replaced:
            orphans.setdefault(record.index, record)
    unplaced = [r for r in records if r.key not in matched and r.hit_id not in replaced]
    create: list[PlanRow] = []
    edited: list[Edited] = []
    for row in fresh:
        if limit is not None and row.index >= limit:
            continue
        old = orphans.pop(row.index, None)
        if old is not None:
            edited.append(Edited(row, old))
        else:
            create.append(row)
    claimed = {e.old.hit_id for e in edited}
    deleted = tuple(r for r in unplaced if r.hit_id not in claimed and r.index >= 0)
    return Reconciliation(tuple(create), tuple(skip), tuple(edited), deleted)


class Planner:
    """:func:`plan_batch` one row at a time, for an input read as a stream (issue #17).

    :meth:`match` sees every row's key first (when the batch has records); each
    :meth:`start` then gives a function that classifies the rows of one pass, in input
    order, exactly as :func:`plan_batch` does: ``("skip", record)``, ``("create", None)``,
    ``("edited", old record)`` or ``("ignore", None)`` (beyond ``limit``).
    """

    def __init__(self, records: Sequence[BatchRow], *, limit: int | None = None) -> None:
        self.records = records
        self.limit = limit
        self._by_key = {record.key: record for record in records}
        self._replaced = {record.replaces for record in records if record.replaces}
        self._matched: set[str] = set()

    def match(self, key: str) -> None:
        """A current row's key (every row, before the first :meth:`start`)."""
        if key in self._by_key:
            self._matched.add(key)

    def start(self) -> Callable[[PlanRow], tuple[str, BatchRow | None]]:
        """The classifier of one pass."""
        orphans: dict[int, BatchRow] = {}
        for record in self.records:
            if record.key not in self._matched and record.hit_id not in self._replaced:
                orphans.setdefault(record.index, record)
        by_key, limit = self._by_key, self.limit

        def classify(row: PlanRow) -> tuple[str, BatchRow | None]:
            record = by_key.get(row.key)
            if record is not None:
                return "skip", record
            if limit is not None and row.index >= limit:
                return "ignore", None
            old = orphans.pop(row.index, None)
            return ("edited", old) if old is not None else ("create", None)

        return classify


def growth_limit(existing: int) -> int:
    """How many HITs a run may add to a batch of ``existing`` HITs without ``--yes``."""
    return max(10, existing // 10)


def additions(plan: Reconciliation, records: Sequence[BatchRow]) -> int:
    """How many HITs ``plan`` adds beyond what earlier loads of the batch meant to post.

    Rows an interrupted load had planned (index below its ``planned``) are its unfinished
    business, not an addition; edited rows always count.
    """
    planned = max((record.planned for record in records), default=0)
    return sum(1 for row in plan.create if row.index >= planned) + len(plan.edited)


def choose_key_columns(
    frozen: Sequence[str] | None,
    configured: Sequence[str] | None,
    *,
    referenced: Sequence[str],
    header: Sequence[str],
    source: str | None = None,
) -> list[str]:
    """A batch's key columns: frozen with its first HIT, else config ``key_columns``, else
    the columns its templates reference.

    :raises ConfigError: a configured column is not in the input's ``header``.
    """
    if frozen is not None:
        return list(frozen)
    if configured is None:
        return list(referenced)
    columns = [str(column) for column in configured]
    for column in columns:
        if column not in header:
            raise ConfigError(
                f"key_columns names '{column}', which is not a column of the input",
                file=source if source and source != "default" else None,
                hint=f"the input columns are: {', '.join(header)}",
            )
    return columns


def edited_error(
    input_name: str, edited: Sequence[Edited], key_columns: Sequence[str]
) -> UsageError:
    """The refusal of edited rows: names the first row's line and its HIT."""
    first = edited[0]
    more = f" (and {len(edited) - 1} more rows)" if len(edited) > 1 else ""
    return UsageError(
        f"this row changed since HIT {first.old.hit_id} was created from it "
        f"(key columns: {', '.join(key_columns) or 'none'}){more}; nothing was sent",
        file=input_name,
        line=first.row.line,
        hint="restore the row, or run with --replace-edited to expire that HIT and create a "
        "new one",
    )


def count_older(skip: Sequence[tuple[PlanRow, BatchRow]], digests: Mapping[int, str]) -> int:
    """How many skipped rows' HITs were made from other merged files than today's.

    :param digests: row index → the ``merged_sha`` it merges to now.
    """
    return sum(
        1
        for row, record in skip
        if record.merged_sha and row.index in digests and digests[row.index] != record.merged_sha
    )


def frozen_key_columns(records: Sequence[BatchRow]) -> tuple[str, ...] | None:
    """The key columns frozen with the batch's first HIT, or ``None`` for a new batch."""
    return records[0].key_columns if records else None


def batch_key_columns(
    config: Config,
    records: Sequence[BatchRow],
    *,
    referenced: Sequence[str],
    header: Sequence[str],
) -> list[str]:
    """:func:`choose_key_columns` for the batch of ``records`` and config ``key_columns``
    (the load and its rehearsal choose alike)."""
    return choose_key_columns(
        frozen_key_columns(records),
        config.get("key_columns"),
        referenced=referenced,
        header=header,
        source=config.sources.get("key_columns"),
    )


# --------------------------------------------------------------------------------------------
# Adoption (a .success without ledger records: a fresh clone, a deleted .mturkmake/)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """A HIT listed in a ``.success`` file, with the digest of its Question when known."""

    hit_id: str
    hit_type_id: str
    question_sha: str | None = None


def pair_adopted(
    listed: Sequence[Listed], rows: Sequence[tuple[int, str]]
) -> list[tuple[Listed, int | None]]:
    """Match listed HITs to current rows ``(index, question digest)``.

    A HIT goes first to the first unpaired row whose merged question is the HIT's; the
    remaining HITs then go, in file order, to the remaining rows in input order (loadHITs
    wrote ``.success`` in input order). A HIT left over has no row (``None``): it is adopted
    all the same, never re-created.

    :raises LedgerError: a HIT is listed twice.
    """
    ids = [hit.hit_id for hit in listed]
    twice = sorted({hit for hit in ids if ids.count(hit) > 1})
    if twice:
        raise LedgerError(
            f"HIT {twice[0]} is listed twice in the .success file",
            hint="remove the repeated line, then run again",
        )
    free: dict[str, list[int]] = {}
    for index, digest in rows:
        free.setdefault(digest, []).append(index)
    pairs: dict[int, int | None] = {}
    taken: set[int] = set()
    for n, hit in enumerate(listed):
        candidates = free.get(hit.question_sha or "", [])
        while candidates and candidates[0] in taken:
            candidates.pop(0)
        if candidates:
            index = candidates.pop(0)
            pairs[n] = index
            taken.add(index)
    rest = iter(index for index, _ in rows if index not in taken)
    for n in range(len(listed)):
        if n not in pairs:
            pairs[n] = next(rest, None)
    return [(hit, pairs[n]) for n, hit in enumerate(listed)]


__all__ = [
    "CREATE_OPERATION",
    "EXPIRE_OPERATION",
    "BatchRow",
    "Edited",
    "Listed",
    "PlanRow",
    "Planner",
    "Projection",
    "Reconciliation",
    "RowKeys",
    "additions",
    "batch_for_success",
    "batch_key_columns",
    "batch_rows",
    "choose_key_columns",
    "count_older",
    "edited_error",
    "frozen_key_columns",
    "growth_limit",
    "known_batches",
    "pair_adopted",
    "pick_batch",
    "plan_batch",
    "question_digest",
    "row_keys",
]
