"""The ``%.approved`` rule: the evaluators decide, each submitted assignment once (DESIGN §5).

``mturkmake survey.approved`` reads ``survey.results`` (and ``survey.review`` / ``survey.gold``
when they exist), gives every *Submitted* assignment the ledger has not decided to the
configured evaluators (``evaluators``, default ``["reject-column"]``), combines their verdicts,
checks ``max_reject_share`` against this run's verdicts, prints the cost of the approvals, then
approves and rejects through :mod:`.decisions` — one ledger intent per assignment.

Decisions (recorded in the project docs):

- The evaluators run only on a *final* ``%.results`` (every HIT done): they see the whole
  batch (answer-key compares workers across it), and ``reject-column`` reads a final
  ``.results`` or a ``.review``. While ``%.results`` is incomplete nothing new is decided and
  ``%.approved`` is incomplete too.
- ``Assignment.row`` is the ``%.review`` row of the assignment (by ``assignmentid``) when a
  review exists, else its ``%.results`` row; ``inputs`` are the ``Input.*`` columns, else the
  ledger's record of the HIT's input row.
- Assignments that are Approved or Rejected without a ledger record (auto-approval, the
  requester site) are adopted into the ledger as ``auto-approved`` / ``outside mturkmake``.
- ``.approved`` is a projection of the ledger: header :data:`APPROVED_HEADER`, the CLT tab
  dialect (quoted where needed), rows sorted by hitid then submit time, times from the ledger
  (``decidedat``, UTC), so a rebuild that decides nothing writes identical bytes.
- A run that decided something marks ``%.results`` incomplete: statuses changed remotely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake import fees
from mturkmake.errors import FormatError, ServiceError
from mturkmake.hookspecs import (
    Assignment,
    Context,
    Event,
    Job,
    Outcome,
    Recovery,
    Rule,
    Verdict,
    hookimpl,
)
from mturkmake.plugins.reporter import Tracked

# The results, decisions and evaluation modules load when the rule runs: a no-op run only
# needs the rule's patterns (issue #17).
if TYPE_CHECKING:
    from mturkmake.formats.results import ResultsEntry
    from mturkmake.hookspecs import Config
    from mturkmake.mturk.decisions import AssignmentDecision, Decider, Result

__all__ = ["APPROVED_HEADER", "build_approved", "preview_approved", "write_approved"]

#: The ``.approved`` file's columns.
APPROVED_HEADER = (
    "assignmentid", "hitid", "workerid", "decision", "feedback", "evaluator", "decidedat",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Batch:
    """What the rule reads for one stem."""

    results_rel: str
    entries: list[ResultsEntry]
    #: every HIT the ``.results`` has a row for (with or without assignments)
    hit_ids: frozenset[str]
    review: dict[str, Mapping[str, str]] | None
    gold: Path | None
    final: bool


def _read(job: Job, *, final: bool) -> _Batch:
    from mturkmake.formats.results import open_results

    root, stem = job.context.root, job.stem
    results_rel = f"{stem}.results"
    every = list(open_results(root / results_rel).entries())
    entries = [e for e in every if e.assignment_id]
    review: dict[str, Mapping[str, str]] | None = None
    optional = set(job.optional_prerequisites)
    if f"{stem}.review" in optional and (root / f"{stem}.review").exists():
        review = {}
        for entry in open_results(root / f"{stem}.review").assignments():
            if entry.assignment_id in review:
                raise FormatError(
                    f"assignment {entry.assignment_id} appears twice",
                    file=f"{stem}.review",
                    line=entry.line,
                    hint="keep one row per assignment",
                )
            review[entry.assignment_id] = entry.values
    gold = root / f"{stem}.gold"
    has_gold = f"{stem}.gold" in optional and gold.exists()
    hit_ids = frozenset(e.hit_id for e in every)
    return _Batch(results_rel, entries, hit_ids, review, gold if has_gold else None, final)


def _assignments(
    batch: _Batch,
    decided: Mapping[str, AssignmentDecision],
    inputs: Mapping[str, Mapping[str, str]],
) -> list[Assignment]:
    """The Submitted assignments no decision covers, as evaluators see them."""
    todo: list[Assignment] = []
    for entry in batch.entries:
        if entry.status != "Submitted" or entry.assignment_id in decided:
            continue
        if batch.review is not None:
            row: Mapping[str, str] = batch.review.get(entry.assignment_id, {})
        else:
            row = entry.values if batch.final else {}
        todo.append(
            Assignment(
                assignment_id=entry.assignment_id,
                hit_id=entry.hit_id,
                worker_id=entry.worker_id,
                status=entry.status,
                answers=entry.answers(),
                inputs=entry.inputs() or dict(inputs.get(entry.hit_id, {})),
                row=dict(row),
            )
        )
    return todo


def _evaluate(ctx: Context, batch: _Batch, todo: Sequence[Assignment]) -> dict[str, Verdict]:
    from mturkmake.mturk.answer_key import GOLD_FILE_OPTION
    from mturkmake.mturk.evaluation import evaluate_batch, select_evaluators

    if not todo:
        return {}
    evaluators = select_evaluators(ctx.config, ctx.host.evaluators())
    if batch.gold is not None:
        ctx = dataclasses.replace(ctx, options={**ctx.options, GOLD_FILE_OPTION: str(batch.gold)})
    return evaluate_batch(evaluators, todo, ctx)


def _ask_yes(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _approval_cost(entries: Sequence[ResultsEntry], approve: set[str]) -> Any:
    """What paying the approvals costs, from the ``reward`` and ``assignments`` columns."""
    from mturkmake.mturk.money import Cost

    payments, fee_total = Decimal("0.00"), Decimal("0.00")
    for entry in entries:
        if entry.assignment_id not in approve:
            continue
        reward = entry.values.get("reward", "0").strip().lstrip("$") or "0"
        try:
            maximum = int(entry.values.get("assignments", "1") or 1)
            payments += fees.to_money(reward)
            fee_total += fees.assignment_fee(reward, max_assignments=maximum)
        except (ArithmeticError, ValueError):
            continue  # a hand-edited cell: the cost line is an estimate, the call is exact
    count = len(approve)
    return Cost(f"{count} approval{'s' if count != 1 else ''}", payments, fee_total)


def _batch_name(ledger: Any, stem: str) -> str:
    from mturkmake.mturk.batch import known_batches

    for batch, success in known_batches(ledger, f"{stem}.input").items():
        if success == f"{stem}.success":
            return batch
    return f"{stem}.input"


def _results_final(state: Any, results_rel: str) -> bool:
    record = state.last_build(results_rel)
    # No record: made elsewhere (the CLT, a fresh clone) and adopted as it is.
    return record is None or bool(record.complete)


def build_approved(job: Job) -> Outcome:
    """The ``%.approved`` action: decide the undecided submitted work, write the projection."""
    from mturkmake.mturk import money as spending
    from mturkmake.mturk.batch import batch_rows
    from mturkmake.mturk.decide_many import cached_assignments, decide_all
    from mturkmake.mturk.decisions import Order, open_decider
    from mturkmake.mturk.evaluation import DEFAULT_MAX_REJECT_SHARE, check_reject_share
    from mturkmake.mturk.outside_decisions import adopt_outside, policy_verdicts

    ctx = job.context
    results_rel = f"{job.stem}.results"
    results: list[Result] = []
    with open_decider(ctx) as decider:
        ledger = decider.ledger
        batch = _read(job, final=_results_final(ledger.db, results_rel))
        name = _batch_name(ledger, job.stem)
        ids = [e.assignment_id for e in batch.entries]
        decided = decider.existing(ids)
        undecided = [
            e
            for e in batch.entries
            if e.status in ("Approved", "Rejected") and e.assignment_id not in decided
        ]
        # Work decided outside mturkmake (review policies, auto-approval, the site): recorded.
        by_policy, adopted = adopt_outside(
            ctx, decider, [e.assignment_id for e in undecided], {e.hit_id for e in undecided}, name
        )
        results += adopted
        decided = decider.existing(ids)
        unfetched = _unfetched(ctx, job.target, batch, batch_rows(ledger, name))
        waiting = not batch.final
        verdicts: dict[str, Verdict] = {}
        if not waiting:
            inputs = {row.hit_id: row.values for row in batch_rows(ledger, name)}
            verdicts = _evaluate(ctx, batch, _assignments(batch, decided, inputs))
        if verdicts:
            check_reject_share(
                {**policy_verdicts(by_policy, results), **verdicts},
                max_share=float(ctx.config.get("max_reject_share", DEFAULT_MAX_REJECT_SHARE)),
                assume_yes=bool(ctx.options.get("yes")),
                interactive=ctx.interactive,
                ask=_ask_yes,
            )
            approvals = {a for a, v in verdicts.items() if v.decision == "approve"}
            if approvals:
                cost = _approval_cost(batch.entries, approvals)
                spending.report_cost(ctx, cost)
                spending.confirm_for(ctx, cost)
        stopped: ServiceError | None = None
        # As this project fetched them (state.db, not the editable .results): no
        # GetAssignment before each decision (issue #17).
        known = cached_assignments(
            ledger, {e.hit_id for e in batch.entries if e.assignment_id in verdicts}, verdicts
        )
        orders = [
            Order(
                aid,
                verdict.decision,
                verdict.feedback,
                verdict.evaluator,
                batch=name,
                cached=known.get(aid),
            )
            for aid, verdict in verdicts.items()
        ]

        def handle(order: Order, result: Result) -> None:
            if result.outcome == "failed" and _decided(decider, order.assignment_id):
                # Decided meanwhile elsewhere (the requester site, auto-approval): it is
                # recorded as such, and deciding it again is impossible, not an error.
                ctx.report(
                    Event(
                        "warning",
                        f"{order.assignment_id}: {result.message}; recorded as decided there",
                        target=job.target,
                    )
                )
                result = dataclasses.replace(result, outcome="skipped")
            results.append(result)
            _report_result(ctx, job.target, result, verdicts[order.assignment_id])

        try:
            # -j N: up to N decisions at once, reported in this order (issue #17)
            decide_all(
                ctx,
                decider,
                orders,
                handle,
                progress=lambda items: Tracked(ctx, items, "deciding", "assignment", job.target),
            )
        except ServiceError as error:
            # Every other call would fail so too (decide raises only then). Before the first
            # decision nothing changed: fail, leaving the target as it is; after it (calls
            # that were in flight count), write the projection of what was decided and say
            # why it stopped.
            if not decider.changed:
                raise
            stopped = error
        decisions = decider.existing()
        write_approved(job.outputs[job.target], batch.entries, decisions, name)
    outcome = _outcome(batch, decisions, results, waiting)
    if unfetched:
        outcome = dataclasses.replace(
            outcome,
            complete=False,
            message=f"{outcome.message}; {unfetched} HITs of the batch not in {results_rel}",
        )
    if stopped is not None:
        return dataclasses.replace(outcome, complete=False, error=stopped.one_line())
    return outcome


def _unfetched(ctx: Context, target: str, batch: _Batch, known: Sequence[Any]) -> int:
    """How many HITs the ledger knows for the batch have no row in ``.results`` (a stale or
    hand-edited file); warns once. Their work is unreviewed, and MTurk approves it
    automatically when its time comes: the target stays incomplete until they are in."""
    missing = [row.hit_id for row in known if row.hit_id and row.hit_id not in batch.hit_ids]
    if missing:
        ctx.report(
            Event(
                "warning",
                f"{batch.results_rel} lacks {len(missing)} of the {len(known)} HITs the ledger "
                f"knows for the batch (first: {missing[0]}); their work is not reviewed — "
                f"delete {batch.results_rel} and run 'mturkmake {target}' again (it fetches "
                "every HIT the ledger knows)",
                target=target,
            )
        )
    return len(missing)


def _decided(decider: Decider, assignment_id: str) -> bool:
    known = decider.existing([assignment_id]).get(assignment_id)
    return known is not None and known.decision != "pending"


def _report_result(ctx: Context, target: str, result: Result, verdict: Verdict) -> None:
    who = f"{result.assignment_id} (worker {result.worker_id}, HIT {result.hit_id})"
    if result.outcome in ("approved", "rejected"):
        detail = f": {result.feedback}" if result.outcome == "rejected" else ""
        ctx.report(Event("debug", f"{result.outcome} {who}{detail}", target=target))
    elif result.outcome != "skipped":
        ctx.report(
            Event("warning", f"could not {verdict.decision} {who}: {result.message}", target=target)
        )


def _outcome(
    batch: _Batch,
    decisions: Mapping[str, AssignmentDecision],
    results: Sequence[Result],
    waiting: bool,
) -> Outcome:
    made = [r for r in results if r.outcome in ("approved", "rejected")]
    failed = [r for r in results if r.outcome in ("failed", "pending")]
    done = {a for a, d in decisions.items() if d.decision != "pending"}
    open_ids = [e.assignment_id for e in batch.entries if e.assignment_id not in done]
    approved = sum(1 for r in made if r.outcome == "approved")
    message = f"{approved} approved, {len(made) - approved} rejected"
    if waiting:
        message += f"; waiting for {batch.results_rel} to be final"
    elif open_ids:
        message += f"; {len(open_ids)} assignments undecided" + _pending_note(batch, open_ids)
    if failed:
        first = failed[0]
        return Outcome(
            complete=False,
            error=f"{len(failed)} assignments could not be decided "
            f"(first: {first.assignment_id}: {first.message})",
            message=message,
        )
    return Outcome(complete=not waiting and not open_ids, message=message)


def _pending_note(batch: _Batch, open_ids: Sequence[str]) -> str:
    """How many undecided assignments the review marked ``pending``, and when MTurk
    auto-approves the first of them (a partial review is never a mass approval)."""
    from mturkmake.mturk.evaluation import is_pending
    from mturkmake.mturk.review_data import parse_clt_date

    if batch.review is None:
        return ""
    waiting = set(open_ids)
    pending = [
        e
        for e in batch.entries
        if e.assignment_id in waiting and is_pending(batch.review.get(e.assignment_id, {}))
    ]
    if not pending:
        return ""
    times = [(parse_clt_date(e.values.get("autoapprovaltime", "")), e) for e in pending]
    dated = sorted((t, e.values["autoapprovaltime"].strip()) for t, e in times if t is not None)
    when = f"; MTurk auto-approves them from {dated[0][1]}" if dated else ""
    return f" ({len(pending)} pending in the review{when})"


def write_approved(
    path: Path,
    entries: Sequence[ResultsEntry],
    decisions: Mapping[str, AssignmentDecision],
    batch: str,
) -> None:
    """Write the ``.approved`` projection: every decided assignment of the batch (those in
    ``entries`` and those the ledger records under ``batch``), sorted by hitid, then by submit
    time (the order of ``entries``, which getResults writes by submit time)."""
    from mturkmake.formats.tabfile import write_row

    position = {e.assignment_id: n for n, e in enumerate(entries)}
    known = {e.assignment_id: e for e in entries}
    chosen = [
        d
        for a, d in decisions.items()
        if d.decision != "pending" and (a in known or d.batch == batch)
    ]

    def key(d: AssignmentDecision) -> tuple[str, int, str, str]:
        hit = known[d.assignment_id].hit_id if d.assignment_id in known else d.hit_id
        return (hit, position.get(d.assignment_id, len(position)), d.decided_at, d.assignment_id)

    with path.open("w", encoding="utf-8", newline="") as stream:
        write_row(stream, APPROVED_HEADER, quote="needed")
        for d in sorted(chosen, key=key):
            entry = known.get(d.assignment_id)
            write_row(
                stream,
                (
                    d.assignment_id,
                    entry.hit_id if entry else d.hit_id,
                    entry.worker_id if entry else d.worker_id,
                    d.decision,
                    d.feedback,
                    d.evaluator,
                    d.decided_at,
                ),
                quote="needed",
            )


# --------------------------------------------------------------------------------------------
# -n
# --------------------------------------------------------------------------------------------


def _read_state(config: Config, results_rel: str) -> tuple[dict[str, AssignmentDecision], bool]:
    """The ledger's decisions and whether ``results_rel`` is final, read-only (``-n``)."""
    import sqlite3

    from mturkmake.mturk.decisions import read_decisions
    from mturkmake.mturk.settings import settings

    path = config.state_dir / "state.db"
    if not path.exists():
        return {}, True
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        decided = read_decisions(conn, settings(config).identity)
        try:
            row = conn.execute(
                "SELECT complete FROM build WHERE target = ?", (results_rel,)
            ).fetchone()
        except sqlite3.OperationalError:  # no build table yet
            row = None
        return decided, row is None or bool(row[0])
    finally:
        conn.close()


def preview_approved(job: Job) -> None:
    """``-n``: print every verdict the evaluators would give; call nothing, write nothing."""
    ctx = job.context
    results_rel = f"{job.stem}.results"
    if not (ctx.root / results_rel).exists():
        ctx.report(Event("info", f"would review {results_rel} once it is fetched", job.target))
        return
    decided, final = _read_state(ctx.config, results_rel)
    batch = _read(job, final=final)
    todo = _assignments(batch, decided, {})
    verdicts = _evaluate(ctx, batch, todo) if final else {}
    by_id = {a.assignment_id: a for a in todo}
    for assignment_id, verdict in verdicts.items():
        a = by_id[assignment_id]
        who = f"{assignment_id} (worker {a.worker_id}, HIT {a.hit_id})"
        detail = f": {verdict.feedback}" if verdict.decision == "reject" else ""
        ctx.report(
            Event(
                "info", f"would {verdict.decision} {who} [{verdict.evaluator}]{detail}", job.target
            )
        )
    rejects = sum(1 for v in verdicts.values() if v.decision == "reject")
    approvals = {a for a, v in verdicts.items() if v.decision == "approve"}
    if approvals:
        from mturkmake.mturk import money

        money.report_cost(ctx, _approval_cost(batch.entries, approvals))
    line = (
        f"{len(todo)} undecided submitted assignments: {len(verdicts) - rejects} would be "
        f"approved, {rejects} rejected ({len(decided)} decided before)"
    )
    if not final:
        line = f"{results_rel} is not final: nothing would be decided yet"
    ctx.report(Event("info", line, job.target))


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.approved`` from ``%.results`` [+ ``%.review``, ``%.gold``]."""
    return (
        Rule(
            "%.approved",
            ("%.results",),
            build_approved,
            optional_prerequisites=("%.review", "%.gold"),
            name="reviewResults",
            preview=preview_approved,
        ),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for(operation) for operation in ("ApproveAssignment", "RejectAssignment")]
