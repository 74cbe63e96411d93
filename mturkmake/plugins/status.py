"""``mturkmake status [BATCH…] [--json] [--refresh]``: where each batch stands.

Per batch: HITs and assignments by state, money committed and spent, what is left under the
``budget``, the earliest automatic approval of unreviewed work (a warning under 24 hours:
MTurk pays it then, whatever its quality), per-worker counts and, where the ``answer-key``
evaluator is configured, each worker's accuracy on the known answers.

Served from the ledger (batches, HITs, decisions, committed exposure) and the results cache
that ``%.results`` polls fill — no call at all, on any endpoint; ``--refresh`` first polls the
HITs that are not final, exactly as building ``.results`` would. Worker ids are pseudonyms
when ``pseudonymize_workers`` is on.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ExitCode, MturkmakeError, UsageError
from mturkmake.hookspecs import CommandSpec, Context, Event, Flag, hookimpl

if TYPE_CHECKING:
    from mturkmake.mturk.batch import BatchRow
    from mturkmake.mturk.decisions import AssignmentDecision
    from mturkmake.mturk.rehearsal import ReadOnlyLedger
    from mturkmake.mturk.results_cache import Fetched

#: Unreviewed work closer than this to its automatic approval gets a warning.
SOON = timedelta(hours=24)


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``status``."""
    return (
        CommandSpec(
            "status",
            (
                Flag("json", None, "print the status as JSON (for scripts)"),
                Flag("refresh", None, "poll the HITs that are not final first (as .results)"),
            ),
            handle_status,
            help="show each batch: HITs and assignments by state, money, deadlines, workers",
            positionals=(
                Flag(
                    "batch",
                    "BATCH",
                    "a batch: its input (survey.input), .success or name (survey); "
                    "default: every batch",
                    repeat=True,
                ),
            ),
        ),
    )


def handle_status(args: Mapping[str, Any], ctx: Context) -> int:
    """Print the status of the chosen batches (every batch of the endpoint by default)."""
    names = args.get("batch") or []
    if isinstance(names, str):
        names = [names]
    report = collect(ctx, [str(n) for n in names], refresh=bool(args.get("refresh")))
    for warning in report.pop("_warnings"):
        ctx.report(Event("warning", warning))
    if args.get("json"):
        print(json.dumps(report, indent=2))
    else:
        for line in render(report):
            print(line)
    return int(ExitCode.OK)


# --------------------------------------------------------------------------------------------
# Gathering
# --------------------------------------------------------------------------------------------


def collect(ctx: Context, names: Sequence[str], *, refresh: bool = False) -> dict[str, Any]:
    """The status as a JSON-ready dict (plus ``_warnings``: lines for the reporter)."""
    from mturkmake.mturk.money import budget_of
    from mturkmake.mturk.rehearsal import read_only_ledger
    from mturkmake.mturk.settings import settings
    from mturkmake.plugins.exports import worker_alias

    config = ctx.config
    identity = settings(config).identity
    budget = budget_of(config)
    alias = worker_alias(config) or (lambda worker: worker)
    now = _now(ctx)
    report: dict[str, Any] = {"endpoint": identity, "now": _iso(now), "batches": []}
    warnings: list[str] = []
    with read_only_ledger(config) as ledger:
        known = _known(ledger)
        chosen = _select(known, names, identity)
        committed = ledger.committed() if ledger is not None else Decimal("0.00")
        decisions = _decisions(ledger)
        for batch in chosen:
            assert ledger is not None  # a batch was found, so there is a ledger
            item = _batch(
                ctx,
                ledger,
                batch,
                known[batch],
                decisions=decisions,
                now=now,
                alias=alias,
                refresh=refresh,
            )
            warnings += item.pop("_warnings")
            report["batches"].append(item)
    report["money"] = {
        "committed": str(committed),
        "budget": None if budget is None else str(budget),
        "left": None if budget is None else str(budget - committed),
    }
    report["_warnings"] = warnings
    return report


def _known(ledger: ReadOnlyLedger | None) -> dict[str, str]:
    from mturkmake.mturk.batch import known_batches

    if ledger is None:
        return {}
    try:
        return known_batches(ledger)  # type: ignore[arg-type]
    except sqlite3.OperationalError:  # state.db without a ledger yet
        return {}


def _decisions(ledger: ReadOnlyLedger | None) -> dict[str, AssignmentDecision]:
    from mturkmake.mturk.decisions import read_decisions

    return {} if ledger is None else read_decisions(ledger.db.connection(), ledger.endpoint)


def _select(known: Mapping[str, str], names: Sequence[str], endpoint: str) -> list[str]:
    """The batches named (by input, ``.success`` or stem), in the ledger's order."""
    if not names:
        return list(known)
    chosen: list[str] = []
    for name in names:
        found = [
            batch
            for batch, success in known.items()
            if name in (batch, success, success.removesuffix(".success"))
        ]
        if not found:
            listed = ", ".join(known) or "none yet"
            raise UsageError(
                f"status: no batch '{name}' on {endpoint}",
                hint=f"name its input, its .success or its stem; batches: {listed}",
            )
        chosen += [b for b in found if b not in chosen]
    return chosen


def _now(ctx: Context) -> datetime:
    """The endpoint's clock: the local marketplace's virtual time, else UTC now."""
    from mturkmake.mturk.settings import settings
    from mturkmake.mturk.times import utc_now

    if settings(ctx.config).endpoint == "local":
        from mturkmake.marketplace.inprocess import LOCAL_DB_NAME, open_local_marketplace

        if (ctx.config.state_dir / LOCAL_DB_NAME).exists():
            return open_local_marketplace(ctx.config).now()
    return utc_now()


def _entries(ctx: Context, rows: Sequence[BatchRow], refresh: bool) -> dict[str, Fetched]:
    from mturkmake.core.state import StateDB
    from mturkmake.formats.success import SuccessRow
    from mturkmake.mturk.results_cache import ResultsCache
    from mturkmake.mturk.results_fetch import Fetcher
    from mturkmake.mturk.settings import settings

    cache = ResultsCache(StateDB(ctx.config.state_dir / "state.db"), settings(ctx.config).identity)
    if refresh:
        from mturkmake.mturk.endpoint import run_client

        success = [SuccessRow(r.hit_id, r.hit_type_id) for r in rows]
        return dict(Fetcher(run_client(ctx), cache).poll(success).entries)
    return cache.load([r.hit_id for r in rows])


def _batch(
    ctx: Context,
    ledger: ReadOnlyLedger,
    batch: str,
    success: str,
    *,
    decisions: Mapping[str, AssignmentDecision],
    now: datetime,
    alias: Callable[[str], str],
    refresh: bool,
) -> dict[str, Any]:
    from mturkmake.mturk.batch import batch_rows
    from mturkmake.mturk.decisions import assignment_price

    rows = batch_rows(ledger, batch)  # type: ignore[arg-type]
    entries = _entries(ctx, rows, refresh)
    hits: Counter[str] = Counter()
    states: Counter[str] = Counter()
    workers: dict[str, Counter[str]] = {}
    asked = 0
    spent = Decimal("0.00")
    unreviewed: list[datetime] = []
    recorded = _recorded_assignments(ledger, batch)
    for row in rows:
        entry = entries.get(row.hit_id)
        if entry is None:
            hits["not fetched yet"] += 1
            asked += recorded.get(row.hit_id, 0)  # as created; no work known yet
            continue
        hits[str(entry.hit.get("HITStatus", "unknown"))] += 1
        asked += int(entry.hit.get("MaxAssignments") or 0)
        reward, fee = assignment_price(entry.hit)
        for assignment in entry.assignments:
            status = _status(assignment, decisions)
            states[status] += 1
            worker = alias(str(assignment.get("WorkerId", "")))
            workers.setdefault(worker, Counter())[status] += 1
            if status == "Approved":
                spent += reward + fee
            elif status == "Submitted" and assignment.get("AutoApprovalTime"):
                unreviewed.append(assignment["AutoApprovalTime"])
    submitted = sum(states.values())
    item: dict[str, Any] = {
        "batch": batch,
        "success": success,
        "hits": {"total": len(rows), **dict(sorted(hits.items()))},
        "assignments": {
            "asked": asked,
            "submitted": submitted,
            "to_come": max(asked - submitted, 0),
            **dict(sorted(states.items())),
        },
        "money": {"committed": str(_committed(ledger, batch)), "spent": str(spent)},
        "unreviewed": len(unreviewed),
        "auto_approval": _iso(min(unreviewed)) if unreviewed else None,
        "workers": {w: dict(sorted(c.items())) for w, c in sorted(workers.items())},
        "_warnings": [],
    }
    if unreviewed and min(unreviewed) - now < SOON:
        item["_warnings"].append(
            f"{batch}: {len(unreviewed)} submitted assignment(s) not reviewed; the first is "
            f"approved and paid automatically at {_iso(min(unreviewed))} "
            f"(in {_span(min(unreviewed) - now)}) — review them before then"
        )
    accuracy = _accuracy(ctx, rows, entries, success, alias)
    if accuracy is not None:
        item["accuracy"] = accuracy
    return item


def _recorded_assignments(ledger: ReadOnlyLedger, batch: str) -> dict[str, int]:
    """HITId → the MaxAssignments it was created with, from the ledger's create intents."""
    from mturkmake.mturk.batch import CREATE_OPERATION
    from mturkmake.mturk.ledger import select_records

    found: dict[str, int] = {}
    made = select_records(ledger.db.connection(), ledger.endpoint, [CREATE_OPERATION], batch=batch)
    try:
        for record in made:
            found[str(record.remote_id)] = int(record.params.get("MaxAssignments") or 0)
    except ValueError:
        return {}
    return found


def _status(assignment: Mapping[str, Any], decisions: Mapping[str, AssignmentDecision]) -> str:
    """The assignment's status; the ledger's decision wins over an older cached copy."""
    known = decisions.get(str(assignment.get("AssignmentId", "")))
    if known is not None and known.decision in ("approved", "rejected"):
        return known.decision.capitalize()
    return str(assignment.get("AssignmentStatus", "Submitted"))


def _committed(ledger: ReadOnlyLedger, batch: str) -> Decimal:
    from mturkmake.mturk.exposure import committed_cents, from_cents

    return from_cents(committed_cents(ledger.db.connection(), ledger.endpoint, [batch]))


def _accuracy(
    ctx: Context,
    rows: Sequence[BatchRow],
    entries: Mapping[str, Fetched],
    success: str,
    alias: Callable[[str], str],
) -> dict[str, dict[str, Any]] | None:
    """Each worker's checked answers, when ``answer-key`` is among the evaluators."""
    from mturkmake.formats.answers import parse_answer_records
    from mturkmake.hookspecs import Assignment
    from mturkmake.mturk.answer_key import read_gold_file, score_workers

    evaluators = ctx.config.get("evaluators") or []
    if "answer-key" not in evaluators:
        return None
    gold_columns = dict(ctx.config.get("gold_columns") or {})
    gold_path = ctx.root / f"{success.removesuffix('.success')}.gold"
    inputs = {r.hit_id: r.values for r in rows}
    work: list[Assignment] = []
    try:
        gold = read_gold_file(gold_path) if gold_path.exists() else None
        for hit_id, entry in entries.items():
            for a in entry.assignments:
                text = a.get("Answer")
                answers = (
                    {
                        r.question_id: r.clt_value
                        for r in parse_answer_records(str(text), source=str(a["AssignmentId"]))
                    }
                    if text
                    else {}
                )
                work.append(
                    Assignment(
                        assignment_id=str(a["AssignmentId"]),
                        hit_id=hit_id,
                        worker_id=str(a.get("WorkerId", "")),
                        status=str(a.get("AssignmentStatus", "")),
                        answers=answers,
                        inputs=dict(inputs.get(hit_id, {})),
                    )
                )
        scores = score_workers(work, gold_columns, gold)
    except MturkmakeError:
        return None  # the evaluator will say what is wrong when it runs
    return {
        alias(s.worker_id): {
            "correct": s.correct,
            "checked": s.checked,
            "accuracy": round(float(s.accuracy), 3) if s.checked else None,
        }
        for s in scores.values()
    }


def _iso(moment: datetime) -> str:
    from mturkmake.mturk.times import as_utc

    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {rest // 60} min"
    return f"{rest // 60} min"


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


def _counts(counts: Mapping[str, Any], skip: Sequence[str]) -> str:
    shown = [f"{k} {v}" for k, v in counts.items() if k not in skip]
    return f" ({', '.join(shown)})" if shown else ""


def render(report: Mapping[str, Any]) -> list[str]:
    """The lines ``mturkmake status`` prints."""
    money = report["money"]
    if money["budget"] is None:
        head = f"{report['endpoint']}: ${money['committed']} committed, no budget set"
    else:
        head = (
            f"{report['endpoint']}: ${money['committed']} committed of a ${money['budget']} "
            f"budget, ${money['left']} left"
        )
    lines = [f"{head} (as of {report['now']})"]
    if not report["batches"]:
        lines.append("no batches yet")
    for item in report["batches"]:
        hits, work = item["hits"], item["assignments"]
        lines += [
            f"{item['batch']} → {item['success']}",
            f"  HITs: {hits['total']}{_counts(hits, ('total',))}",
            f"  assignments: {work['asked']} asked for, {work['submitted']} submitted"
            f"{_counts(work, ('asked', 'submitted', 'to_come'))}, {work['to_come']} to come",
            f"  money: ${item['money']['committed']} committed, ${item['money']['spent']} spent",
        ]
        if hits.get("not fetched yet"):
            lines.append(
                f"  (not fetched yet: build {item['success'].removesuffix('.success')}.results "
                "or run 'mturkmake status --refresh')"
            )
        if item["unreviewed"]:
            lines.append(
                f"  unreviewed: {item['unreviewed']}, the first approved automatically at "
                f"{item['auto_approval']}"
            )
        if item["workers"]:
            shown = [f"{w} {sum(c.values())}{_counts(c, ())}" for w, c in item["workers"].items()]
            lines.append(f"  workers: {'; '.join(shown)}")
        for worker, score in (item.get("accuracy") or {}).items():
            if score["checked"]:
                percent = f"{round(score['correct'] * 100 / score['checked'], 1):g}%"
                lines.append(
                    f"  accuracy {worker}: {score['correct']}/{score['checked']} ({percent})"
                )
    return lines
