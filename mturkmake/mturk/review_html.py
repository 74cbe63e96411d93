"""The review page: every open assignment of a batch, readable, with approve / reject.

Each assignment is a card: who did it, its input row, its answers (selections by their text,
free text as written, uploaded files by name), the evaluators' proposal, a feedback box and
the buttons. The script (inline, with the server's per-response nonce) posts each click to
``decide`` next to the page's URL — the per-run token is part of that path — and shows what the
server saved; it writes only through ``textContent``, so no answer is ever parsed as HTML.

Keys: ``a`` approve, ``r`` reject (the feedback box first when it is empty), ``u`` undo (back
to pending), ``j``/``n`` next, ``k``/``p`` previous, ``Escape`` leaves the feedback box.
Everything from the batch goes through :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mturkmake.formats.html_page import page
from mturkmake.formats.html_sanitize import esc
from mturkmake.formats.question import (
    FileUploadSpec,
    FormQuestion,
    FreeTextSpec,
    Question,
    QuestionForm,
    SelectionSpec,
)
from mturkmake.mturk.review_data import BatchView, Item
from mturkmake.mturk.review_session import Mark

__all__ = ["render_answer", "render_review_page"]

REVIEW_STYLE = """
.mm-review{scroll-margin-top:70px}
.mm-review h2,.mm-review td,.mm-review th,.mm-review dd{overflow-wrap:anywhere}
.mm-review.mm-current{outline:3px solid #0b5cad}
.mm-review[data-state=approve]{border-left:6px solid #1b6e20}
.mm-review[data-state=reject]{border-left:6px solid #b00020}
.mm-bar{position:sticky;top:0;background:#f3f4f6;padding:8px 0;z-index:1;
border-bottom:1px solid #d6d9de}
.mm-answer{white-space:pre-wrap;overflow-wrap:anywhere;background:#f8fafc;padding:4px 6px;
border-radius:4px;margin:.2em 0 .6em}
.mm-proposal{margin:.4em 0}.mm-reject{color:#b00020;font-weight:600}
.mm-approve{color:#1b6e20;font-weight:600}
.mm-msg{min-height:1.4em;color:#b00020}
.mm-state{font-weight:600}
kbd{border:1px solid #9aa1aa;border-radius:3px;padding:0 4px;font-size:.85em}
textarea{width:100%;font:inherit;padding:8px;border:1px solid #9aa1aa;border-radius:4px}
"""

SCRIPT = r"""
(function () {
  var cards = Array.prototype.slice.call(document.querySelectorAll('article.mm-review'));
  var current = 0;
  var names = {approve: 'approved', reject: 'rejected', pending: 'pending'};
  function show(i) {
    if (i < 0 || i >= cards.length) { return; }
    cards[current].classList.remove('mm-current');
    current = i;
    cards[i].classList.add('mm-current');
    cards[i].scrollIntoView({block: 'start'});
  }
  function next(from) {
    for (var i = from + 1; i < cards.length; i++) {
      if (cards[i].dataset.state === 'pending') { return i; }
    }
    return Math.min(from + 1, cards.length - 1);
  }
  function counts(c) {
    ['approve', 'reject', 'pending'].forEach(function (k) {
      document.getElementById('mm-count-' + k).textContent = String(c[k]);
    });
  }
  function decide(card, decision) {
    var box = card.querySelector('textarea');
    var msg = card.querySelector('.mm-msg');
    if (decision === 'reject' && !box.value.trim()) {
      msg.textContent = 'Write the reason first: a rejection needs feedback.';
      box.focus();
      return;
    }
    msg.textContent = 'saving…';
    fetch('decide', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({assignment: card.dataset.assignment, decision: decision,
                            feedback: box.value})})
      .then(function (r) { return r.json().then(function (d) { return [r.ok, d]; }); })
      .then(function (res) {
        var ok = res[0], data = res[1];
        if (!ok) { msg.textContent = data.error; return; }
        card.dataset.state = data.decision;
        card.querySelector('.mm-state').textContent = names[data.decision];
        msg.textContent = '';
        card.querySelector('.mm-saved').textContent = 'saved to ' + data.file;
        counts(data.counts);
        if (decision !== 'pending' && cards.indexOf(card) === current) { show(next(current)); }
      })
      .catch(function (e) { msg.textContent = 'not saved: ' + e; });
  }
  cards.forEach(function (card, i) {
    card.addEventListener('click', function () { if (i !== current) { show(i); } });
    card.querySelectorAll('button[data-decision]').forEach(function (b) {
      b.addEventListener('click', function (ev) {
        ev.stopPropagation(); show(i); decide(card, b.dataset.decision);
      });
    });
  });
  document.addEventListener('keydown', function (ev) {
    var typing = ev.target && (ev.target.tagName === 'TEXTAREA' || ev.target.tagName === 'INPUT');
    if (typing) { if (ev.key === 'Escape') { ev.target.blur(); } return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !cards.length) { return; }
    var card = cards[current];
    if (ev.key === 'a') { decide(card, 'approve'); }
    else if (ev.key === 'r') { decide(card, 'reject'); }
    else if (ev.key === 'u') { decide(card, 'pending'); }
    else if (ev.key === 'j' || ev.key === 'n') { show(current + 1); }
    else if (ev.key === 'k' || ev.key === 'p') { show(current - 1); }
    else { return; }
    ev.preventDefault();
  });
  var stop = document.getElementById('mm-stop');
  if (stop) {
    stop.addEventListener('click', function () {
      fetch('finish', {method: 'POST', headers: {'Content-Type': 'application/json'},
                       body: '{}'}).then(function () {
        document.getElementById('mm-stopped').textContent =
          'The review server stopped. Your decisions are in the review file.';
      });
    });
  }
  if (cards.length) { cards[0].classList.add('mm-current'); }
})();
"""


def render_answer(question: FormQuestion | None, value: str) -> str:
    """One answer, readable: a selection by its text, free text as written, a file by name."""
    if question is not None and isinstance(question.answer, SelectionSpec):
        texts = {s.identifier: s.text or s.identifier for s in question.answer.selections}
        parts = [p for p in value.split("|") if p] if value else []
        if parts and all(p in texts for p in parts):
            shown = "; ".join(texts[p] for p in parts)
            return f'<div class="mm-answer" title="{esc(value)}">{esc(shown)}</div>'
        if parts and question.answer.other is not None:
            return f'<div class="mm-answer">other: {esc(value)}</div>'
    if question is not None and isinstance(question.answer, FileUploadSpec):
        # mturkmake's results hold the UploadedFileKey; its last part is the file's name
        name = value.rsplit("/", 1)[-1] if value and "?" not in value else value
        return (
            f'<div class="mm-answer" title="{esc(value)}">uploaded file: '
            f"{esc(name or '(none)')}</div>"
        )
    if not value:
        return '<div class="mm-answer mm-note">(no answer)</div>'
    return f'<div class="mm-answer">{esc(value)}</div>'


def _question_of(question: Question | None, identifier: str) -> FormQuestion | None:
    if isinstance(question, QuestionForm):
        try:
            return question.question(identifier)
        except KeyError:
            return None
    return None


def _answers(item: Item, question: Question | None) -> str:
    out = []
    for identifier, value in item.answers.items():
        form = _question_of(question, identifier)
        label = identifier
        if form is not None:
            label = form.display_name or form.text.strip() or identifier
            if isinstance(form.answer, FreeTextSpec):
                label = form.display_name or form.text.strip() or identifier
        out.append(
            f'<div class="mm-q" data-question="{esc(identifier)}"><b>{esc(label)}</b>'
            f"{render_answer(form, value)}</div>"
        )
    return "".join(out) or '<p class="mm-note">(no answers)</p>'


def _inputs(item: Item) -> str:
    if not item.inputs:
        return '<p class="mm-note">(input row not known)</p>'
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in item.inputs.items())
    return f'<table class="mm-list mm-input">{rows}</table>'


def _proposal(item: Item, final: bool) -> str:
    if not final:
        return "the results are not final: the evaluators judge the whole batch once it is"
    if item.combined is None:
        return "no evaluator decides it: your decision is the only one"
    verdict = item.combined
    cls = "mm-reject" if verdict.decision == "reject" else "mm-approve"
    reason = f" — {esc(verdict.feedback)}" if verdict.feedback else ""
    return (
        f'<span class="{cls}">{esc(verdict.decision)}</span> by {esc(verdict.evaluator)}'
        f"{reason}"
        + (
            " (it rejects even if you approve: any evaluator's rejection rejects)"
            if verdict.decision == "reject"
            else ""
        )
    )


def _card(item: Item, view: BatchView, mark: Mark, number: int) -> str:
    entry = item.entry
    question = view.questions.get(entry.hit_id)
    state = {"approve": "approved", "reject": "rejected", "pending": "pending"}[mark.decision]
    return (
        f'<article class="mm-hit mm-review" id="a-{esc(entry.assignment_id)}" '
        f'data-assignment="{esc(entry.assignment_id)}" data-state="{esc(mark.decision)}">'
        f'<header class="mm-hit-header"><h2>{number}. Assignment {esc(entry.assignment_id)}'
        f'</h2><dl class="mm-facts"><div><dt>Worker</dt><dd>{esc(entry.worker_id)}</dd></div>'
        f"<div><dt>HIT</dt><dd>{esc(entry.hit_id)}</dd></div><div><dt>Auto-approved</dt>"
        f"<dd>{esc(entry.values.get('autoapprovaltime', '') or '—')}</dd></div>"
        f'<div><dt>Your decision</dt><dd class="mm-state">{state}</dd></div></dl></header>'
        f"<h3>Input</h3>{_inputs(item)}<h3>Answers</h3>{_answers(item, question)}"
        f'<p class="mm-proposal">Proposed: {_proposal(item, view.final)}</p>'
        f'<label>Feedback (the worker sees it; required to reject)<textarea rows="2" '
        f'maxlength="1024">{esc(mark.feedback)}</textarea></label>'
        '<div class="mm-actions"><button type="button" data-decision="approve">Approve '
        '<kbd>a</kbd></button><button type="button" class="mm-secondary" '
        'data-decision="reject">Reject <kbd>r</kbd></button><button type="button" '
        'class="mm-secondary" data-decision="pending">Undo <kbd>u</kbd></button></div>'
        '<p class="mm-msg" role="status"></p><p class="mm-note mm-saved"></p></article>'
    )


def render_review_page(
    view: BatchView, marks: Mapping[str, Mark], order: Sequence[str], *, nonce: str
) -> str:
    """The review page of ``order``'s assignments with their current ``marks`` (pure)."""
    items = {i.assignment_id: i for i in view.items}
    counts = {d: sum(1 for a in order if marks[a].decision == d) for d in marks_kinds()}
    cards = "".join(
        _card(items[a], view, marks[a], n) for n, a in enumerate(order, start=1) if a in items
    )
    deadline = view.deadline()
    when = f" MTurk approves anything still undecided from {esc(deadline[1])}." if deadline else ""
    bar = (
        '<div class="mm-bar">'
        f'<span class="mm-approve">approved <b id="mm-count-approve">{counts["approve"]}</b>'
        f'</span> · <span class="mm-reject">rejected <b id="mm-count-reject">'
        f'{counts["reject"]}</b></span> · pending <b id="mm-count-pending">'
        f'{counts["pending"]}</b> <button type="button" class="mm-secondary" id="mm-stop">'
        'Stop the server</button> <span id="mm-stopped"></span></div>'
    )
    intro = (
        f"<h1>Review of {esc(view.stem)}</h1>"
        f'<p class="mm-note">{len(order)} submitted assignments nobody decided yet. Each click '
        f"is saved to {esc(view.stem)}.review at once; nothing is sent to MTurk until "
        f"<code>mturkmake {esc(view.stem)}.approved</code> runs. Assignments left pending "
        f"stay undecided.{when} Keys: <kbd>a</kbd> approve, <kbd>r</kbd> reject, "
        "<kbd>u</kbd> undo, <kbd>j</kbd>/<kbd>k</kbd> next/previous.</p>"
    )
    head = f"<style>{REVIEW_STYLE}</style>"
    body = intro + bar + cards + f'<script nonce="{esc(nonce)}">{SCRIPT}</script>'
    return page(f"Review of {view.stem}", body, head=head)


def marks_kinds() -> tuple[str, ...]:
    """The decisions a reviewer can make, in display order."""
    return ("approve", "reject", "pending")
