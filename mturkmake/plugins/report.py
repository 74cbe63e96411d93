"""``%.report.html``: the batch at a glance before any money moves.

Made from ``%.results`` (and ``%.review`` / ``%.gold`` when they exist), with the verdicts
``mturkmake -n BATCH.approved`` would print (:mod:`mturkmake.mturk.review_data`). One
self-contained page — inline style and inline SVG, no script, stylesheet or font from
anywhere — with:

- progress (HITs, assignments submitted, approved, rejected, open) and money (committed,
  spent, what the proposed approvals cost, what the budget leaves);
- the auto-approval deadline of the open work (MTurk pays it then, whatever anyone thinks);
- the proposed verdicts, rejections first, grouped by evaluator and feedback, then what each
  evaluator says on its own;
- per question, the answers' distribution; per worker, assignments, median work time,
  agreement with the other workers of the same HITs and accuracy on known answers, the least
  agreeing first.

Verdicts are grouped (the assignment ids listed once, in the combined table) so the page stays
small: about 160 kB for 1,000 HITs of three assignments. Every value from the batch goes through
:func:`html.escape`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from mturkmake.hookspecs import Job, Outcome, Rule, hookimpl

if TYPE_CHECKING:
    from mturkmake.formats.question import Question
    from mturkmake.hookspecs import Config
    from mturkmake.mturk.review_data import BatchView, Item, WorkerStats

#: Answers shown per question before the rest are summed up as "other answers".
TOP_ANSWERS = 10

REPORT_STYLE = """
.mm-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px}
.mm-fact{background:#fff;border:1px solid #d6d9de;border-radius:8px;padding:8px 10px}
.mm-fact b{display:block;font-size:1.25em}
section{background:#fff;border:1px solid #d6d9de;border-radius:8px;margin:16px 0;padding:10px 14px}
section h2{font-size:1.15em;margin:.2em 0 .5em}
.mm-reject{color:#b00020;font-weight:600}.mm-approve{color:#1b6e20;font-weight:600}
.mm-ids{font-family:ui-monospace,monospace;font-size:.8em;overflow-wrap:anywhere}
.mm-scroll{overflow-x:auto}
.mm-scroll table{min-width:640px}
td.mm-num,th.mm-num{text-align:right;white-space:nowrap}
"""


def _money(value: Decimal | None) -> str:
    return "no budget set" if value is None else f"${value:.2f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _bar(share: float, *, width: int = 120, color: str = "#0b5cad") -> str:
    """A horizontal bar of ``share`` (0..1) as inline SVG."""
    filled = max(0.0, min(1.0, share)) * width
    return (
        f'<svg width="{width}" height="12" role="img" aria-label="{share * 100:.0f}%">'
        f'<rect width="{width}" height="12" fill="#e5e7eb"/>'
        f'<rect width="{filled:.1f}" height="12" fill="{color}"/></svg>'
    )


def _progress_svg(parts: Sequence[tuple[str, int, str]], total: int) -> str:
    """One stacked bar: ``(label, count, colour)`` parts of ``total``."""
    from mturkmake.formats.html_sanitize import esc

    width, x = 600.0, 0.0
    rects = []
    for label, count, color in parts:
        w = width * count / total if total else 0.0
        if w:
            rects.append(
                f'<rect x="{x:.1f}" width="{w:.1f}" height="22" fill="{color}">'
                f"<title>{esc(label)}: {count}</title></rect>"
            )
        x += w
    legend = " · ".join(
        f'<span style="color:{c}">■</span> {esc(label)} {n}' for label, n, c in parts
    )
    return (
        f'<svg viewBox="0 0 {width:.0f} 22" width="100%" height="22" '
        'preserveAspectRatio="none" role="img" aria-label="progress">'
        f'<rect width="{width:.0f}" height="22" fill="#e5e7eb"/>'
        f'{"".join(rects)}</svg><p class="mm-note">{legend}</p>'
    )


def _fact(label: str, value: str, ident: str) -> str:
    from mturkmake.formats.html_sanitize import esc

    return f'<div class="mm-fact" id="{ident}">{esc(label)}<b>{esc(value)}</b></div>'


def _overview(view: BatchView) -> str:
    from mturkmake.formats.html_sanitize import esc

    statuses = Counter(i.entry.status for i in view.items)
    open_count = len(view.open_items)
    decided_here = sum(1 for i in view.items if i.open is False and i.entry.status == "Submitted")
    submitted = len(view.items)
    parts = [
        ("approved", statuses.get("Approved", 0), "#1b6e20"),
        ("rejected", statuses.get("Rejected", 0), "#b00020"),
        ("decided, status not fetched yet", decided_here, "#6b7280"),
        ("open", open_count, "#0b5cad"),
        ("not submitted yet", max(0, view.expected - submitted), "#e5e7eb"),
    ]
    money = view.money
    deadline = view.deadline()
    facts = [
        _fact("HITs", str(view.hits), "mm-hits"),
        _fact("Assignments", f"{submitted} of {view.expected}", "mm-assignments"),
        _fact("Open (undecided)", str(open_count), "mm-open"),
        _fact("Committed", _money(money.committed), "mm-committed"),
        _fact("Spent", _money(money.spent), "mm-spent"),
        _fact("Proposed approvals cost", _money(money.to_pay), "mm-to-pay"),
        _fact("Left under the budget", _money(money.left), "mm-left"),
        _fact(
            "Auto-approval deadline",
            deadline[1] if deadline else "—",
            "mm-deadline",
        ),
    ]
    note = (
        ""
        if view.final
        else f'<p class="mm-problem">{esc(view.stem)}.results is not final: the evaluators '
        "judge the whole batch, so no verdict is proposed yet.</p>"
    )
    return (
        f'<section id="progress"><h2>Progress and money</h2>{note}'
        f'<div class="mm-grid">{"".join(facts)}</div>{_progress_svg(parts, view.expected)}'
        f'<p class="mm-note">Endpoint {esc(view.endpoint)}. Committed is what the batch\'s '
        "HITs may still cost (the ledger's exposure); spent is the approved work's reward and "
        "fee. MTurk approves open work by itself at its auto-approval time.</p></section>"
    )


def _decision(verdict_decision: str) -> str:
    from mturkmake.formats.html_sanitize import esc

    cls = "mm-reject" if verdict_decision == "reject" else "mm-approve"
    return f'<span class="{cls}">{esc(verdict_decision)}</span>'


def _verdict_rows(groups: dict[tuple[str, str, str], list[Item]], *, ids: bool) -> str:
    from mturkmake.formats.html_sanitize import esc

    rows = []
    order = sorted(groups, key=lambda k: (k[0] != "reject", -len(groups[k]), k))
    for decision, evaluator, feedback in order:
        members = groups[(decision, evaluator, feedback)]
        workers = sorted({i.entry.worker_id for i in members})
        listed = " ".join(i.assignment_id for i in members) if ids else ""
        rows.append(
            f'<tr data-decision="{esc(decision)}"><td>{_decision(decision)}</td>'
            f'<td class="mm-num">{len(members)}</td><td>{esc(evaluator)}</td>'
            f"<td>{esc(feedback) or '—'}</td><td>{esc(', '.join(workers[:12]))}"
            f"{' …' if len(workers) > 12 else ''}</td><td>"
            + (
                f'<details><summary>ids</summary><div class="mm-ids">{esc(listed)}</div></details>'
                if ids
                else ""
            )
            + "</td></tr>"
        )
    return "".join(rows)


def _verdicts(view: BatchView) -> str:
    from mturkmake.formats.html_sanitize import esc

    combined: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
    each: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
    undecided = []
    for item in view.open_items:
        if item.combined is None:
            undecided.append(item)
            continue
        verdict = item.combined
        combined[(verdict.decision, verdict.evaluator, verdict.feedback)].append(item)
        for own in item.verdicts:
            each[(own.decision, own.evaluator, own.feedback)].append(item)
    head = (
        "<tr><th>verdict</th><th class='mm-num'>assignments</th><th>evaluator</th>"
        "<th>feedback (the worker sees it)</th><th>workers</th><th></th></tr>"
    )
    rejections = sum(len(v) for k, v in combined.items() if k[0] == "reject")
    left = (
        f'<p id="mm-undecided">{len(undecided)} open assignments no evaluator decides: '
        "they stay undecided (MTurk approves them at their auto-approval time).</p>"
        if undecided
        else ""
    )
    source = f" (with the marks of {esc(view.review_file)})" if view.review_file else ""
    return (
        f'<section id="verdicts"><h2>What {esc(view.stem)}.approved would do</h2>'
        f"<p>Evaluators: {esc(', '.join(view.evaluators))}{source}. "
        f'<span id="mm-rejections">{rejections}</span> rejections proposed, rejections first. '
        "Nothing is sent until <code>mturkmake "
        f"{esc(view.stem)}.approved</code> runs.</p>{left}"
        f'<div class="mm-scroll"><table class="mm-list" id="mm-combined">{head}'
        f"{_verdict_rows(combined, ids=True)}</table></div>"
        "<h3>Each evaluator on its own</h3>"
        f'<div class="mm-scroll"><table class="mm-list" id="mm-each">{head}'
        f"{_verdict_rows(each, ids=False)}</table></div></section>"
    )


def _selection_texts(questions: dict[str, Question | None]) -> dict[str, dict[str, str]]:
    from mturkmake.formats.question import QuestionForm, SelectionSpec

    texts: dict[str, dict[str, str]] = defaultdict(dict)
    for question in questions.values():
        if not isinstance(question, QuestionForm):
            continue
        for q in question.questions:
            if isinstance(q.answer, SelectionSpec):
                for s in q.answer.selections:
                    texts[q.identifier].setdefault(s.identifier, s.text or s.identifier)
    return texts


def _questions(view: BatchView) -> str:
    from mturkmake.formats.html_sanitize import esc
    from mturkmake.mturk.review_data import answer_counts

    texts = _selection_texts(dict(view.questions))
    blocks = []
    for question, counts in sorted(answer_counts(view.items).items()):
        total = sum(counts.values())
        top = counts.most_common(TOP_ANSWERS)
        rest = total - sum(n for _, n in top)
        rows = []
        for value, n in top:
            label = texts.get(question, {}).get(value, value)
            shown = label if label == value else f"{label} ({value})"
            rows.append(
                f"<tr><td>{esc(shown)}</td><td class='mm-num'>{n}</td>"
                f"<td>{_bar(n / total)}</td></tr>"
            )
        if rest:
            others = len(counts) - len(top)
            rows.append(
                f"<tr><td><i>{others} other answers</i></td><td class='mm-num'>{rest}</td>"
                f"<td>{_bar(rest / total, color='#9aa1aa')}</td></tr>"
            )
        blocks.append(
            f'<h3>{esc(question)}</h3><table class="mm-list" data-question="{esc(question)}">'
            f"{''.join(rows)}</table>"
        )
    return f'<section id="questions"><h2>Answers per question</h2>{"".join(blocks)}</section>'


def _worker_row(stats: WorkerStats) -> str:
    from mturkmake.formats.html_sanitize import esc

    accuracy = (
        "—"
        if stats.accuracy is None
        else f"{float(stats.accuracy) * 100:.0f}% ({stats.correct}/{stats.checked})"
    )
    agreement = (
        "—"
        if stats.agreement is None
        else f"{_bar(stats.agreement, width=80)} {_percent(stats.agreement)} of {stats.compared}"
    )
    cls = ' class="mm-reject"' if stats.proposed_rejections else ""
    return (
        f'<tr data-worker="{esc(stats.worker_id)}" data-agreement="'
        f'{"" if stats.agreement is None else f"{stats.agreement:.4f}"}">'
        f"<td>{esc(stats.worker_id)}</td><td class='mm-num'>{stats.assignments}</td>"
        f"<td class='mm-num'>{_duration(stats.median_seconds)}</td>"
        f"<td>{agreement}</td><td>{accuracy}</td>"
        f"<td class='mm-num'><span{cls}>{stats.proposed_rejections}</span></td></tr>"
    )


def _workers(view: BatchView) -> str:
    head = (
        "<tr><th>worker</th><th class='mm-num'>assignments</th><th class='mm-num'>median "
        "work time</th><th>agreement with others</th><th>accuracy on known answers</th>"
        "<th class='mm-num'>proposed rejections</th></tr>"
    )
    rows = "".join(_worker_row(s) for s in view.workers)
    return (
        '<section id="workers"><h2>Workers, the least agreeing first</h2>'
        "<p class=\"mm-note\">Agreement: how often a worker's answer equals another worker's "
        "answer to the same question of the same HIT (free-text questions left out).</p>"
        f'<div class="mm-scroll"><table class="mm-list" id="mm-workers">{head}{rows}'
        "</table></div></section>"
    )


def render_report(view: BatchView) -> str:
    """The whole report page (pure: reads only ``view``)."""
    from mturkmake.formats.html_page import page
    from mturkmake.formats.html_sanitize import esc

    intro = (
        f"<h1>Batch report: {esc(view.stem)}</h1>"
        '<p class="mm-note">Made from the results and the evaluators\' verdicts as '
        f"<code>mturkmake -n {esc(view.stem)}.approved</code> would make them. Nothing was "
        "sent to MTurk.</p>"
    )
    body = intro + _overview(view) + _verdicts(view) + _questions(view) + _workers(view)
    return page(f"Report on {view.stem}", body, head=f"<style>{REPORT_STYLE}</style>")


def build_report(job: Job) -> Outcome:
    """The ``%.report.html`` action: read, judge as ``-n`` would, write the page."""
    from mturkmake.mturk.review_data import load_view

    view = load_view(job.context, job.stem)
    text = render_report(view)
    job.outputs[job.target].write_text(text, encoding="utf-8")
    rejections = sum(
        1 for i in view.open_items if i.combined is not None and i.combined.decision == "reject"
    )
    message = (
        f"{len(view.open_items)} open assignments, {rejections} rejections proposed; "
        "nothing was sent"
    )
    # a report on unfinished work is made again on the next run
    return Outcome(complete=view.final, message=message)


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.report.html`` from ``%.results`` [+ ``%.review``, ``%.gold``]."""
    return (
        Rule(
            "%.report.html",
            ("%.results",),
            build_report,
            optional_prerequisites=("%.review", "%.gold"),
            name="report",
        ),
    )


__all__ = ["build_report", "render_report"]
