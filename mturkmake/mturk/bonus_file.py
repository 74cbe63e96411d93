"""The ``.bonus`` file and its ``.bonused`` projection (docs/files.md).

``.bonus`` is a tab file with the columns ``assignmentid``, ``workerid``, ``amount`` and
``reason`` (others are ignored). Each row is one bonus; two rows for one assignment are two
bonuses.

**Which rows are paid.** A row's key is its assignment id and its occurrence — the ledger
subject ``<assignmentid>#<n>`` given when the row was first paid. A row is matched to a paid
bonus of the same assignment with exactly its worker, amount and reason, so deleting a row
never changes which other rows count as paid (identical rows are interchangeable), and an
appended row pays only itself. A row that matches nothing while a bonus of its assignment
that matches no row was paid is an *edited* paid row: the run stops naming it (a paid bonus
cannot be changed, and guessing could pay twice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from mturkmake import fees
from mturkmake.errors import FormatError
from mturkmake.formats.tabfile import write_row
from mturkmake.mturk.bonuses import Bonus, PaidBonus, check_reason, parse_amount

__all__ = ["BONUSED_HEADER", "COLUMNS", "Plan", "plan_rows", "read_bonus_file", "write_bonused"]

COLUMNS = ("assignmentid", "workerid", "amount", "reason")
BONUSED_HEADER = (
    "assignmentid",
    "workerid",
    "amount",
    "fee",
    "reason",
    "key",
    "requesttoken",
    "paidat",
)


def read_bonus_file(path: Path, source: str) -> list[Bonus]:
    """Every row of a ``.bonus`` file, checked (amount, reason, ids), in file order.

    :raises FormatError: naming the file and line of the first bad row.
    """
    from mturkmake.formats.inputfile import open_input

    table = open_input(path, require_rows=False)
    table.require(COLUMNS, what="a .bonus file")
    found: list[Bonus] = []
    for row in table.rows():
        values = {name: row.values[name].strip() for name in COLUMNS}
        for name in ("assignmentid", "workerid"):
            if not values[name]:
                raise FormatError(
                    f"the {name} is empty",
                    file=source,
                    line=row.line,
                    column=name,
                    hint="copy it from the .results file",
                )
        amount = parse_amount(values["amount"], what="the amount", file=source, line=row.line)
        reason = check_reason(row.values["reason"], what="the reason", file=source, line=row.line)
        found.append(Bonus(values["assignmentid"], values["workerid"], amount, reason, row.line))
    return found


@dataclass(frozen=True)
class Plan:
    """What a ``.bonused`` run does.

    :param todo: rows to pay, each with its new ledger subject.
    :param paid: rows already paid, each with its payment.
    """

    todo: tuple[tuple[Bonus, str], ...]
    paid: tuple[tuple[Bonus, PaidBonus], ...]

    @property
    def amounts(self) -> list[Decimal]:
        """The amounts still to pay."""
        return [bonus.amount for bonus, _ in self.todo]


def _number(subject: str) -> int:
    _, _, n = subject.rpartition("#")
    return int(n) if n.isdigit() else 0


def _differences(row: Bonus, paid: Bonus) -> str:
    parts = []
    if row.worker_id != paid.worker_id:
        parts.append(f"worker {paid.worker_id} → {row.worker_id}")
    if row.amount != paid.amount:
        parts.append(f"amount ${paid.amount} → ${row.amount}")
    if row.reason != paid.reason:
        parts.append("reason")
    return ", ".join(parts) or "content"


def plan_rows(rows: Sequence[Bonus], payments: Iterable[PaidBonus], source: str) -> Plan:
    """Match ``rows`` to the batch's ``payments`` (see the module doc).

    :raises FormatError: a paid row was edited (naming its line and what changed).
    """
    by_assignment: dict[str, list[PaidBonus]] = {}
    for payment in payments:
        by_assignment.setdefault(str(payment.params.get("AssignmentId")), []).append(payment)
    todo: list[tuple[Bonus, str]] = []
    paid: list[tuple[Bonus, PaidBonus]] = []
    unmatched_rows: dict[str, list[Bonus]] = {}
    for row in rows:
        candidates = by_assignment.get(row.assignment_id, [])
        match = next((p for p in candidates if row.same_as(p.params)), None)
        if match is None:
            unmatched_rows.setdefault(row.assignment_id, []).append(row)
        else:
            candidates.remove(match)
            paid.append((row, match))
    for assignment_id, left in unmatched_rows.items():
        orphans = by_assignment.get(assignment_id, [])
        if orphans:
            row, earlier = left[0], orphans[0]
            raise FormatError(
                f"assignment {assignment_id} was paid a bonus (key {earlier.subject}: "
                f"${earlier.bonus().amount} to {earlier.bonus().worker_id}) that no row "
                f"matches any more; this row differs ({_differences(row, earlier.bonus())})",
                file=source,
                line=row.line,
                hint="a paid bonus cannot be changed: restore the row as it was paid, and add "
                "a new row for a further bonus",
            )
    used: dict[str, int] = {}
    for payment in [p for _, p in paid]:
        aid = str(payment.params.get("AssignmentId"))
        used[aid] = max(used.get(aid, 0), _number(payment.subject))
    paid_rows = {id(r) for r, _ in paid}
    for row in rows:
        if id(row) in paid_rows:
            continue
        n = used.get(row.assignment_id, 0) + 1
        used[row.assignment_id] = n
        todo.append((row, f"{row.assignment_id}#{n}"))
    return Plan(tuple(todo), tuple(paid))


def write_bonused(path: Path, rows: Sequence[Bonus], payments: Sequence[PaidBonus]) -> None:
    """Write the ``.bonused`` projection: each payment the ledger records as done for the
    batch, in the ``.bonus`` file's order (payments whose row was deleted last).

    MTurk's SendBonus reports no bonus id; a payment is identified by its assignment id,
    ``key`` (the ledger's), ``requesttoken`` (the UniqueRequestToken it was sent with) and
    ``paidat`` (when the ledger recorded it, on the endpoint's clock).
    """
    done = [p for p in payments if p.status == "done"]
    order: list[PaidBonus] = []
    left = list(done)
    for row in rows:
        match = next((p for p in left if row.same_as(p.params)), None)
        if match is not None:
            left.remove(match)
            order.append(match)
    order += left
    with path.open("w", encoding="utf-8", newline="") as stream:
        write_row(stream, BONUSED_HEADER, quote="needed")
        for payment in order:
            bonus = payment.bonus()
            write_row(
                stream,
                (
                    bonus.assignment_id,
                    bonus.worker_id,
                    str(bonus.amount),
                    str(fees.bonus_fee(bonus.amount)),
                    bonus.reason,
                    payment.subject,
                    payment.token,
                    _iso(payment.at),
                ),
                quote="needed",
            )


def _iso(stamp: str) -> str:
    from datetime import datetime, timezone

    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
