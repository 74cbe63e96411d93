"""One batch as the report and the review page show it: every assignment of ``%.results``,
the evaluators' verdicts as ``mturkmake -n BATCH.approved`` would make them, the ledger's
decisions, the money, and per-worker statistics.

Read only: the ledger is opened read-only (as ``-n`` does), nothing is sent to MTurk and no
file is written, so a report can be made at any time without moving a cent.

- Verdicts are computed only on a *final* ``%.results`` (the evaluators judge the whole batch,
  as ``.approved`` does), for the Submitted assignments the ledger has not decided.
- Each evaluator's verdicts are kept apart (the report shows who would reject what, and why)
  beside the combination ``.approved`` would send (:func:`~.evaluation.combine`).
- Agreement: for every HIT with at least two answers, each answer to a question is compared
  with every other worker's answer to it (as sets of ``|``-separated parts, like
  ``answer-key``); free-text and file questions (by the question's type, or where that is
  unknown, more distinct answers than half the answers) are left out: two honest workers
  rarely write the same sentence.
- Money: *committed* is the ledger's exposure for the batch's HITs (what they may still
  cost), *spent* the reward and fee of the approved work (by the ledger, or by MTurk itself),
  *to pay* what the proposed approvals would cost, and *left* the budget less the endpoint's
  committed exposure.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from mturkmake import fees
from mturkmake.errors import MturkmakeError, UsageError
from mturkmake.formats.results import ResultsEntry, open_results
from mturkmake.hookspecs import Assignment, Context, Verdict
from mturkmake.mturk.answer_key import GOLD_FILE_OPTION, normalise_answer, score_workers
from mturkmake.mturk.batch import CREATE_OPERATION, ROW_NOTE
from mturkmake.mturk.decisions import AssignmentDecision, read_decisions
from mturkmake.mturk.evaluation import combine, select_evaluators
from mturkmake.mturk.exposure import committed_cents, from_cents
from mturkmake.mturk.ledger import select_records
from mturkmake.mturk.settings import settings

if TYPE_CHECKING:
    from mturkmake.formats.question import Question

__all__ = [
    "BatchView",
    "Item",
    "Money",
    "WorkerStats",
    "batch_stem",
    "load_view",
    "parse_clt_date",
]

#: The time zones the CLT's date format names that a JVM commonly wrote (UTC offsets, hours).
_ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
          "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "CET": 1, "CEST": 2, "BST": 1}  # fmt: skip


def parse_clt_date(text: str) -> datetime | None:
    """``Thu Jan 08 00:00:10 UTC 2026`` (the CLT's date format) → an aware datetime.

    An unknown zone is read as UTC (the report shows the text as written beside it);
    anything unreadable gives ``None``.
    """
    parts = text.split()
    if len(parts) != 6:
        return None
    zone = parts.pop(4)
    try:
        moment = datetime.strptime(" ".join(parts), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    offset = _ZONES.get(zone.upper(), 0)
    return moment.replace(tzinfo=timezone(timedelta(hours=offset)))


def batch_stem(name: str) -> str:
    """``survey``, ``survey.results``, ``survey.review`` … → ``survey``."""
    for suffix in (".results", ".review", ".input", ".success", ".approved", ".report.html"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class Item:
    """One assignment of the results file.

    :param decided: the ledger's decision (``approved``/``rejected``; ``pending`` while an
        intent has no outcome), or ``None`` when undecided.
    :param verdicts: each evaluator's verdict on it, in the configured order (only for the
        Submitted, undecided assignments of a final batch).
    :param combined: what ``.approved`` would send (``None``: left undecided).
    """

    entry: ResultsEntry
    answers: Mapping[str, str]
    inputs: Mapping[str, str]
    decided: AssignmentDecision | None = None
    verdicts: tuple[Verdict, ...] = ()
    combined: Verdict | None = None

    @property
    def assignment_id(self) -> str:
        return self.entry.assignment_id

    @property
    def open(self) -> bool:
        """Submitted and not decided by the ledger: what a review decides."""
        return self.entry.status == "Submitted" and self.decided is None


@dataclass(frozen=True)
class WorkerStats:
    """One worker across the batch.

    :param agreement: the share of compared answers equal to another worker's answer to the
        same question of the same HIT (``None``: nothing to compare).
    :param accuracy: correct / checked against the known answers (``None``: none known).
    """

    worker_id: str
    assignments: int
    median_seconds: float | None
    agreement: float | None
    compared: int
    accuracy: Fraction | None
    checked: int
    correct: int = 0
    proposed_rejections: int = 0


@dataclass(frozen=True)
class Money:
    """The batch's money, in dollars (``None`` where unknown)."""

    committed: Decimal
    endpoint_committed: Decimal
    spent: Decimal
    to_pay: Decimal
    budget: Decimal | None

    @property
    def left(self) -> Decimal | None:
        """What the budget leaves on this endpoint."""
        return None if self.budget is None else self.budget - self.endpoint_committed


@dataclass(frozen=True)
class BatchView:
    """Everything the report and the review page show about one batch."""

    stem: str
    endpoint: str
    final: bool
    review_file: str | None
    evaluators: tuple[str, ...]
    items: tuple[Item, ...]
    hits: int
    expected: int
    workers: tuple[WorkerStats, ...]
    money: Money
    questions: Mapping[str, Question | None] = field(default_factory=dict)

    @property
    def open_items(self) -> list[Item]:
        """The Submitted assignments nothing decided yet."""
        return [i for i in self.items if i.open]

    def deadline(self) -> tuple[datetime, str] | None:
        """The earliest auto-approval time of the open assignments, and its text."""
        times = []
        for item in self.open_items:
            text = item.entry.values.get("autoapprovaltime", "").strip()
            moment = parse_clt_date(text)
            if moment is not None:
                times.append((moment, text))
        return min(times) if times else None


# --------------------------------------------------------------------------------------------
# The ledger, read-only
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LedgerFacts:
    decisions: Mapping[str, AssignmentDecision]
    final: bool
    inputs: Mapping[str, Mapping[str, str]]
    committed: Decimal
    endpoint_committed: Decimal


def _read_ledger(ctx: Context, results_rel: str, hit_ids: set[str]) -> _LedgerFacts:
    endpoint = settings(ctx.config).identity
    path = ctx.config.state_dir / "state.db"
    if not path.exists():
        zero = Decimal("0.00")
        return _LedgerFacts({}, True, {}, zero, zero)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        decisions = read_decisions(conn, endpoint)
        try:
            row = conn.execute(
                "SELECT complete FROM build WHERE target = ?", (results_rel,)
            ).fetchone()
        except sqlite3.OperationalError:
            row = None
        inputs: dict[str, Mapping[str, str]] = {}
        batches: set[str] = set()
        for made in select_records(conn, endpoint, [CREATE_OPERATION]):
            if made.remote_id not in hit_ids:
                continue
            batches.add(made.batch)
            record = made.result.get("row") or made.params.get(ROW_NOTE, {})
            values = record.get("values", {})
            inputs[str(made.remote_id)] = {str(k): str(v) for k, v in values.items()}
        return _LedgerFacts(
            decisions=decisions,
            final=row is None or bool(row[0]),
            inputs=inputs,
            committed=from_cents(committed_cents(conn, endpoint, sorted(batches))),
            endpoint_committed=from_cents(committed_cents(conn, endpoint)),
        )
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Evaluators, questions, statistics
# --------------------------------------------------------------------------------------------


def _read_review(path: Path, name: str) -> dict[str, Mapping[str, str]]:
    from mturkmake.errors import FormatError

    rows: dict[str, Mapping[str, str]] = {}
    for entry in open_results(path).assignments():
        if entry.assignment_id in rows:
            raise FormatError(
                f"assignment {entry.assignment_id} appears twice",
                file=name,
                line=entry.line,
                hint="keep one row per assignment",
            )
        rows[entry.assignment_id] = entry.values
    return rows


def _evaluate(
    ctx: Context, todo: Sequence[Assignment], gold: Path | None
) -> tuple[tuple[str, ...], dict[str, tuple[Verdict, ...]], dict[str, Verdict]]:
    evaluators = select_evaluators(ctx.config, ctx.host.evaluators())
    names = tuple(e.name for e in evaluators)
    if not todo:
        return names, {}, {}
    if gold is not None:
        ctx = replace(ctx, options={**ctx.options, GOLD_FILE_OPTION: str(gold)})
    maps = [(e.name, e.evaluate(todo, ctx)) for e in evaluators]
    ids = [a.assignment_id for a in todo]
    combined = combine(maps, ids)
    each = {a: tuple(v[a] for _, v in maps if a in v) for a in ids}
    return names, each, combined


def _questions(ctx: Context, stem: str, items: Sequence[Item]) -> dict[str, Question | None]:
    """Each HIT's question, merged from today's ``%.question`` with its input row (for the
    selections' texts); ``None`` where that cannot be done."""
    from mturkmake.formats import javaprops
    from mturkmake.formats.question import parse_question

    path = ctx.root / f"{stem}.question"
    found: dict[str, Question | None] = {}
    if not path.exists():
        return found
    try:
        engines = ctx.host.template_engines()
        engine = engines[str(ctx.config.get("template_engine", "velocity") or "velocity")]
        template = engine.compile(javaprops.read_text(path), source=path.name)
    except (MturkmakeError, KeyError, OSError):
        return found
    cache: dict[tuple[tuple[str, str], ...], Question | None] = {}
    for item in items:
        hit = item.entry.hit_id
        if hit in found:
            continue
        key = tuple(sorted(item.inputs.items()))
        if key not in cache:
            try:
                text = template.render(dict(item.inputs))
                cache[key] = parse_question(text, source=path.name)
            except Exception:
                # Display only: today's template may no longer fit the row it was sent with
                # (edited, columns renamed); the answers are then shown as stored.
                cache[key] = None
        found[hit] = cache[key]
    return found


def _free_text(answers: Sequence[str]) -> bool:
    return len(set(answers)) > len(answers) / 2


def _free_text_questions(questions: Mapping[str, Question | None]) -> set[str]:
    """The identifiers of the QuestionForms' free-text and file questions."""
    from mturkmake.formats.question import QuestionForm, SelectionSpec

    found: set[str] = set()
    for question in questions.values():
        if isinstance(question, QuestionForm):
            found |= {
                q.identifier for q in question.questions if not isinstance(q.answer, SelectionSpec)
            }
    return found


def _agreement(items: Sequence[Item], free: set[str]) -> dict[str, tuple[int, int]]:
    """Worker → (agreeing, compared) answer pairs with other workers of the same HITs.

    :param free: free-text questions, left out (others are judged by their answers).
    """
    by_question: dict[str, list[str]] = defaultdict(list)
    for item in items:
        for question, answer in item.answers.items():
            by_question[question].append(answer.strip())
    graded = {q for q, answers in by_question.items() if q not in free and not _free_text(answers)}
    by_hit: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_hit[item.entry.hit_id].append(item)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for group in by_hit.values():
        for item in group:
            worker = item.entry.worker_id
            for other in group:
                if other is item or other.entry.worker_id == worker:
                    continue
                for question in graded:
                    mine = item.answers.get(question, "")
                    theirs = other.answers.get(question, "")
                    if not mine.strip() or not theirs.strip():
                        continue
                    counts[worker][1] += 1
                    if normalise_answer(mine) == normalise_answer(theirs):
                        counts[worker][0] += 1
    return {w: (c[0], c[1]) for w, c in counts.items()}


def _seconds(entry: ResultsEntry) -> float | None:
    start = parse_clt_date(entry.values.get("assignmentaccepttime", ""))
    end = parse_clt_date(entry.values.get("assignmentsubmittime", ""))
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _workers(
    ctx: Context, items: Sequence[Item], gold: Path | None, free: set[str]
) -> tuple[WorkerStats, ...]:
    agreement = _agreement(items, free)
    accuracy: dict[str, tuple[int, int]] = {}
    gold_columns = ctx.config.get("gold_columns") or {}
    if gold_columns or gold is not None:
        from mturkmake.mturk.answer_key import read_gold_file

        try:
            answers = read_gold_file(gold) if gold is not None else None
            scores = score_workers([_as_assignment(i) for i in items], gold_columns, answers)
            accuracy = {w: (s.correct, s.checked) for w, s in scores.items()}
        except MturkmakeError:
            accuracy = {}
    by_worker: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_worker[item.entry.worker_id].append(item)
    stats = []
    for worker, own in by_worker.items():
        times = [s for s in (_seconds(i.entry) for i in own) if s is not None]
        agreed, compared = agreement.get(worker, (0, 0))
        correct, checked = accuracy.get(worker, (0, 0))
        stats.append(
            WorkerStats(
                worker_id=worker,
                assignments=len(own),
                median_seconds=statistics.median(times) if times else None,
                agreement=agreed / compared if compared else None,
                compared=compared,
                accuracy=Fraction(correct, checked) if checked else None,
                checked=checked,
                correct=correct,
                proposed_rejections=sum(
                    1 for i in own if i.combined is not None and i.combined.decision == "reject"
                ),
            )
        )
    # the least agreeing first: that is whom a reviewer should look at
    return tuple(
        sorted(stats, key=lambda s: (s.agreement is None, s.agreement or 0.0, s.worker_id))
    )


def _as_assignment(item: Item, row: Mapping[str, str] | None = None) -> Assignment:
    entry = item.entry
    return Assignment(
        assignment_id=entry.assignment_id,
        hit_id=entry.hit_id,
        worker_id=entry.worker_id,
        status=entry.status,
        answers=dict(item.answers),
        inputs=dict(item.inputs),
        row=dict(row if row is not None else {}),
    )


def _price(entry: ResultsEntry) -> Decimal:
    """One assignment's reward plus MTurk's fee, from the row's ``reward`` and
    ``assignments`` cells (``0`` for a hand-edited cell that is not a price)."""
    reward = entry.values.get("reward", "0").strip().lstrip("$") or "0"
    try:
        maximum = int(entry.values.get("assignments", "1") or 1)
        return fees.to_money(reward) + fees.assignment_fee(reward, max_assignments=maximum)
    except (ArithmeticError, ValueError):
        return Decimal("0.00")


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal("0.00"))


# --------------------------------------------------------------------------------------------
# The view
# --------------------------------------------------------------------------------------------


def load_view(ctx: Context, stem: str, *, reviewer_marks: bool = True) -> BatchView:
    """Read one batch and compute what ``-n`` would decide.

    :param reviewer_marks: give the evaluators the ``%.review`` rows (as ``.approved`` does);
        ``False`` hides them, so that ``reject-column`` abstains and the verdicts are the
        *other* evaluators' proposals (what the review page shows next to each assignment).
    :raises UsageError: no ``%.results`` yet.
    """
    from mturkmake.mturk.money import budget_of

    results_rel = f"{stem}.results"
    results_path = ctx.root / results_rel
    if not results_path.exists():
        raise UsageError(
            f"{results_rel} does not exist yet",
            hint=f"fetch the work first: mturkmake {results_rel}",
        )
    all_entries = list(open_results(results_path).entries())
    entries = [e for e in all_entries if e.assignment_id]
    facts = _read_ledger(ctx, results_rel, {e.hit_id for e in all_entries})
    review_rel = f"{stem}.review"
    review = (
        _read_review(ctx.root / review_rel, review_rel)
        if (ctx.root / review_rel).exists()
        else None
    )
    gold_path = ctx.root / f"{stem}.gold"
    gold = gold_path if gold_path.exists() else None
    items = [
        Item(
            entry=e,
            answers=e.answers(),
            inputs=e.inputs() or dict(facts.inputs.get(e.hit_id, {})),
            decided=facts.decisions.get(e.assignment_id),
        )
        for e in entries
    ]
    todo = []
    for item in items:
        if item.entry.status != "Submitted" or item.decided is not None:
            continue
        if not reviewer_marks:
            row: Mapping[str, str] = {}
        elif review is not None:
            row = review.get(item.assignment_id, {})
        else:
            row = item.entry.values
        todo.append(_as_assignment(item, row))
    names, each, combined = _evaluate(ctx, todo, gold) if facts.final else (_names(ctx), {}, {})
    items = [
        replace(i, verdicts=each.get(i.assignment_id, ()), combined=combined.get(i.assignment_id))
        for i in items
    ]
    hits = {e.hit_id for e in all_entries if e.hit_id}
    expected = 0
    for hit in hits:
        first = next(e for e in all_entries if e.hit_id == hit)
        try:
            expected += int(first.values.get("assignments", "1") or 1)
        except ValueError:
            expected += 1
    approvals = {a for a, v in combined.items() if v.decision == "approve"}
    money = Money(
        committed=facts.committed,
        endpoint_committed=facts.endpoint_committed,
        spent=_sum(_price(i.entry) for i in items if _approved(i)),
        to_pay=_sum(_price(i.entry) for i in items if i.assignment_id in approvals),
        budget=budget_of(ctx.config),
    )
    questions = _questions(ctx, stem, items)
    return BatchView(
        stem=stem,
        endpoint=settings(ctx.config).identity,
        final=facts.final,
        review_file=review_rel if review is not None else None,
        evaluators=names,
        items=tuple(items),
        hits=len(hits),
        expected=expected,
        workers=_workers(ctx, items, gold, _free_text_questions(questions)),
        money=money,
        questions=questions,
    )


def _approved(item: Item) -> bool:
    """Paid: the ledger approved it, or MTurk did (auto-approval, the requester site) and
    the ledger has not adopted that yet — as ``mturkmake status`` counts it."""
    if item.decided is not None and item.decided.decision in ("approved", "rejected"):
        return item.decided.decision == "approved"
    return item.entry.status == "Approved"


def _names(ctx: Context) -> tuple[str, ...]:
    return tuple(e.name for e in select_evaluators(ctx.config, ctx.host.evaluators()))


def answer_counts(items: Sequence[Item]) -> dict[str, Counter[str]]:
    """Question → how often each answer was given (multiple selections count each part)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        for question, answer in item.answers.items():
            parts = [p.strip() for p in answer.split("|") if p.strip()] or ["(no answer)"]
            counts[question].update(parts)
    return dict(counts)
