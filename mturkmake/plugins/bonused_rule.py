"""The ``%.bonused`` rule: pay the bonuses of ``%.bonus`` [+ ``%.results``], each row exactly
once (DESIGN §2). When ``%.results`` is there, a row's assignment and worker are checked
against it without a call; other rows are checked with GetAssignment.

Two phases: ``mturkmake -n survey.bonused`` prints every payment still to make and the total
with fees, calling nothing; the real run checks every row (amount, reason, that the worker did
the assignment) before the first payment, prints the cost line, checks the budget (and asks on
production), then pays each unpaid row as one ledger intent with a request token. A re-run
pays nothing, appended rows pay only themselves, and an edited paid row stops the run naming
it (:mod:`mturkmake.mturk.bonus_file`). ``.bonused`` lists what was paid.

Before paying, each row's assignment is looked up on MTurk (ListBonusPayments): a payment the
ledger does not know (a clone without ``.mturkmake/``, a day after its tokens expired) is
recorded as the row's and not paid again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mturkmake.errors import FormatError, MturkmakeError
from mturkmake.hookspecs import Config, Context, Event, Job, Outcome, Recovery, Rule, hookimpl
from mturkmake.plugins.reporter import Tracked

if TYPE_CHECKING:
    from mturkmake.mturk.bonuses import Bonus, PaidBonus
    from mturkmake.mturk.hit_commands import CommandSession

__all__ = ["build_bonused", "preview_bonused"]


def build_bonused(job: Job) -> Outcome:
    """Pay the unpaid rows of ``%.bonus``, then write ``%.bonused``."""
    from mturkmake.mturk import calls
    from mturkmake.mturk import money as spending
    from mturkmake.mturk.bonus_file import plan_rows, read_bonus_file, write_bonused
    from mturkmake.mturk.bonuses import check_assignment, ledger_bonuses, pay
    from mturkmake.mturk.hit_commands import open_command_session

    ctx = job.context
    source = job.prerequisites[0]
    rows = read_bonus_file(job.path(source), source)
    failure: MturkmakeError | None = None
    with open_command_session(ctx) as run:
        ledger, client = run.ledger, run.client
        conn, endpoint = ledger.db.connection(), ledger.endpoint
        before = ledger_bonuses(conn, endpoint, batch=source)
        plan = plan_rows(rows, before, source)
        known = _results_workers(job)
        asked: list[Bonus] = []
        for bonus, _ in plan.todo:
            if bonus.assignment_id in known:  # .results answers without a call
                _check_worker(bonus, known[bonus.assignment_id], source)
            else:
                asked.append(bonus)

        def check(bonus: Bonus) -> None:
            check_assignment(client, bonus, file=source, what="assignment", project=ledger.project)

        # -j N: the checks overlap too; the first bad row in the file's order is the one named
        checks = calls.each(ctx, client, asked, check)
        try:
            for _, done in checks:
                done.get()
        finally:
            getattr(checks, "close")()  # noqa: B009 - waits for the calls in flight
        todo = _found_paid(ctx, run, source, plan.todo, job.target)
        if todo:
            cost = spending.bonuses_cost([bonus.amount for bonus, _ in todo])
            budget = spending.begin_money_step(ctx, ledger, cost)

            def send(item: tuple[Bonus, str]) -> None:
                bonus, subject = item
                pay(ledger, client, source, subject, bonus, budget=budget)

            tracked = Tracked(ctx, todo, "paying bonuses", "payment", job.target)
            # -j N: up to N payments at once, each one ledger intent (issue #17); the first
            # failure in the file's order stops the loop (the payments in flight finish).
            payments_made = calls.each(ctx, client, tracked, send, ledger=ledger)
            try:
                for (bonus, _), done in payments_made:
                    try:
                        done.get()
                    except MturkmakeError as error:
                        failure = error
                        break
                    ctx.report(
                        Event(
                            "debug",
                            f"paid ${bonus.amount} to {bonus.worker_id} for {bonus.assignment_id}",
                            job.target,
                        )
                    )
            finally:
                getattr(payments_made, "close")()  # noqa: B009 - waits for the calls in flight
        payments = ledger_bonuses(conn, endpoint, batch=source)
        if failure is not None and not any(p.status == "done" for p in payments):
            raise failure
        write_bonused(job.outputs[job.target], rows, payments)
        # Counted in the ledger: a payment in flight when a failure stopped the loop counts.
        paid_now = _done(payments) - _done(before)
    message = f"{paid_now} bonuses paid, {len(plan.paid)} paid before"
    if failure is not None:
        return Outcome(complete=False, error=failure.one_line(), message=message)
    return Outcome(message=message)


def _found_paid(
    ctx: Context,
    run: CommandSession,
    source: str,
    todo: Sequence[tuple[Bonus, str]],
    target: str,
) -> Sequence[tuple[Bonus, str]]:
    """The rows still to pay once those MTurk shows paid without this ledger knowing (a
    clone without ``.mturkmake/``, a day later: the tokens are forgotten) are recorded as
    paid (:func:`~mturkmake.mturk.bonuses.paid_outside_ledger`); says how many."""
    from mturkmake.mturk import calls
    from mturkmake.mturk.bonuses import adopt_payment, paid_outside_ledger, remote_bonuses

    if not todo:
        return todo
    client = run.client
    assignments = list(dict.fromkeys(bonus.assignment_id for bonus, _ in todo))
    remote: dict[str, list[dict[str, Any]]] = {}
    listed = calls.each(ctx, client, assignments, lambda aid: remote_bonuses(client, aid))
    try:
        for assignment_id, done in listed:
            remote[assignment_id] = done.get()
    finally:
        getattr(listed, "close")()  # noqa: B009 - waits for the calls in flight
    found = paid_outside_ledger(run.ledger, todo, remote)
    if not found:
        return todo
    for bonus, subject, payment in found:
        adopt_payment(run.ledger, source, subject, bonus, payment)
    ctx.report(
        Event(
            "warning",
            f"{len(found)} found paid on MTurk but not in this project's ledger (first: "
            f"{found[0][0].assignment_id}, line {found[0][0].line}): recorded as paid, not "
            "paid again",
            target,
        )
    )
    adopted = {id(bonus) for bonus, _, _ in found}
    return [(bonus, subject) for bonus, subject in todo if id(bonus) not in adopted]


def _done(payments: Sequence[PaidBonus]) -> int:
    return sum(1 for p in payments if p.status == "done")


def _results_workers(job: Job) -> dict[str, str]:
    """Assignment → worker from ``%.results``, when it is there (optional prerequisite)."""
    from mturkmake.formats.results import open_results

    if not job.optional_prerequisites:
        return {}
    table = open_results(job.path(job.optional_prerequisites[0]))
    return {entry.assignment_id: entry.worker_id for entry in table.assignments()}


def _check_worker(bonus: Bonus, worker: str, source: str) -> None:
    if worker != bonus.worker_id:
        raise FormatError(
            f"assignment {bonus.assignment_id} was done by worker {worker}, not {bonus.worker_id}",
            file=source,
            line=bonus.line,
            hint="a bonus goes to the worker who did the assignment",
        )


def preview_bonused(job: Job) -> None:
    """``-n``: print every payment a real run would make and the total with fees."""
    from mturkmake.mturk.bonus_file import plan_rows, read_bonus_file
    from mturkmake.mturk.bonuses import ledger_bonuses
    from mturkmake.mturk.money import bonuses_cost, cost_line
    from mturkmake.mturk.settings import settings

    ctx = job.context
    source = job.prerequisites[0]
    if not job.path(source).exists():
        ctx.report(Event("info", f"would pay the rows of {source} once it is made", job.target))
        return
    rows = read_bonus_file(job.path(source), source)
    mturk = settings(ctx.config)
    payments = []
    path = ctx.config.state_dir / "state.db"
    if path.exists():
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            payments = ledger_bonuses(conn, mturk.identity, batch=source)
        finally:
            conn.close()
    plan = plan_rows(rows, payments, source)
    for bonus, subject in plan.todo:
        ctx.report(
            Event(
                "info",
                f"would pay ${bonus.amount} (+ fee) to {bonus.worker_id} for assignment "
                f"{bonus.assignment_id} [{subject}]: {bonus.reason}",
                job.target,
            )
        )
    ctx.report(Event("info", cost_line(bonuses_cost(plan.amounts), mturk.kind), job.target))
    ctx.report(
        Event(
            "info",
            f"{len(plan.todo)} bonuses would be paid; {len(plan.paid)} rows were paid before",
            job.target,
        )
    )


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.bonused`` from ``%.bonus``."""
    return (
        Rule(
            "%.bonused",
            ("%.bonus",),
            build_bonused,
            optional_prerequisites=("%.results",),
            name="grantBonus",
            preview=preview_bonused,
        ),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """SendBonus's recovery (:func:`mturkmake.mturk.bonuses.recovery`)."""
    from mturkmake.mturk.bonuses import recovery

    return [recovery()]
