"""The local worker site: a person does the local marketplace's HITs in a browser (DESIGN §8).

``mturkmake marketplace serve`` answers these paths besides the API (loopback only):

- ``GET /worker/?worker=ID`` — the open HITs the worker qualifies for, and its own work.
  The worker is one of the local crowd (default: the first); the page offers the others.
- ``GET /worker/hits/HITID`` — the HIT as a worker previews it, with *Accept*.
- ``POST /worker/hits/HITID/accept`` — accept one assignment (then the work page).
- ``GET /worker/assignments/ID`` — the work page, framed as MTurk's worker site frames it:
  a QuestionForm as a form posting to ``…/submit``; an HTMLQuestion in a sandboxed frame
  loading ``…/content``; an ExternalQuestion in a frame on its URL with ``assignmentId``,
  ``hitId``, ``turkSubmitTo`` and ``workerId``.
- ``POST /worker/assignments/ID/submit`` and ``…/return``.
- ``POST /mturk/externalSubmit`` — what HTML and external pages post to: the assignment id is
  checked (known, accepted, before its deadline), every other field becomes a ``FreeText``
  answer (several values of one name joined with ``|``, as MTurk does).

Submissions go through the marketplace's own transitions (:mod:`.assignments`), so the work is
the crowd's like any other: ListAssignmentsForHIT returns it, approval pays it. Accepting
leaves no planned submission, so the crowd never answers for the person; a deadline that
passes abandons the assignment as it would a crowd worker's.

Every page is built by :mod:`mturkmake.formats.question_html` (escaped with ``html.escape``)
and served with a Content-Security-Policy that allows no script on the site's own pages, and
on an HTMLQuestion's page only its inline scripts (no remote script), in a sandbox.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mturkmake.formats.answers import Answer, build_answers
from mturkmake.formats.html_form import RESERVED_FIELDS
from mturkmake.formats.question import FileUploadSpec, HTMLQuestion, QuestionForm
from mturkmake.formats.question_html import (
    FrameParams,
    esc,
    form_answers,
    hit_header,
    page,
    render_external_question,
    render_html_question,
    render_question,
    render_question_form,
)
from mturkmake.marketplace import assignments, hits, ids
from mturkmake.marketplace.answering import parsed_question
from mturkmake.marketplace.clock import from_epoch
from mturkmake.marketplace.eligibility import qualifies
from mturkmake.marketplace.errors import RequestError
from mturkmake.marketplace.store import Row, Tx, get_meta, loads
from mturkmake.marketplace.worker_forms import SUBMIT_PATH, parse_body, point_forms_here
from mturkmake.marketplace.workers import is_blocked

_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
SITE_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'unsafe-inline'; img-src * data:; "
    "media-src *; frame-src *; form-action 'self'; base-uri 'none'; object-src 'none'"
)
#: An HTMLQuestion's own page: its inline scripts run, no remote script loads, and it stays in
#: a sandbox even when opened outside the frame.
CONTENT_CSP = (
    "default-src * data: blob: 'unsafe-inline'; script-src 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; sandbox allow-scripts allow-forms allow-popups "
    "allow-top-navigation-by-user-activation"
)


@dataclass(frozen=True)
class WebResponse:
    """One HTTP answer of the worker site."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    files: dict[str, bytes]
    base: str  # http://host:port, as the browser reached us

    def one(self, name: str) -> str | None:
        values = self.form.get(name) or self.query.get(name)
        return values[0] if values else None


def is_worker_path(target: str) -> bool:
    """Whether a request target belongs to the worker site (not to the API)."""
    path = urllib.parse.urlsplit(target).path
    return path in ("/worker", SUBMIT_PATH) or path.startswith("/worker/")


def _html(status: int, title: str, body: str) -> WebResponse:
    return WebResponse(
        status,
        page(title, body).encode("utf-8"),
        {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": SITE_CSP},
    )


def _redirect(location: str) -> WebResponse:
    return WebResponse(303, b"", {"Location": location})


def _problem(status: int, message: str, worker: str | None = None) -> WebResponse:
    back = f"/worker/?worker={urllib.parse.quote(worker)}" if worker else "/worker/"
    return _html(
        status,
        "Problem",
        f'<p class="mm-problem" role="alert">{esc(message)}</p>'
        f'<p><a href="{esc(back)}" target="_top">Back to the HITs</a></p>',
    )


def respond(
    marketplace: Any, method: str, target: str, headers: Mapping[str, str], body: bytes
) -> WebResponse:
    """Answer one worker-site request (``marketplace``: the engine the server serves)."""
    store = getattr(marketplace, "store", None)
    if store is None:
        return _problem(404, "This marketplace has no worker site.")
    parts = urllib.parse.urlsplit(target)
    form, files = parse_body(headers, body) if method == "POST" else ({}, {})
    host = {k.lower(): v for k, v in headers.items()}.get("host", "")
    if not _HOST.fullmatch(host):  # turkSubmitTo is built from it: no odd characters
        host = "127.0.0.1"
    request = _Request(
        method,
        parts.path,
        urllib.parse.parse_qs(parts.query, keep_blank_values=True),
        form,
        files,
        f"http://{host}",
    )
    site = _Site(marketplace)
    try:
        return site.route(request)
    except RequestError as exc:
        missing = (exc.turk_error_code or "").endswith("DoesNotExist")
        worker = request.one("worker") or request.one("workerId")
        return _problem(404 if missing else 409, exc.message, worker)


class _Site:
    """The pages and actions, each in one marketplace transaction."""

    def __init__(self, marketplace: Any) -> None:
        self.marketplace = marketplace
        self.store = marketplace.store

    def _tx(self, conn: Any) -> Tx:
        return Tx(conn, float(get_meta(conn, "clock")), int(get_meta(conn, "seed")))

    def route(self, r: _Request) -> WebResponse:
        path = r.path.rstrip("/")
        # ["worker", "hits", ID, "accept"]
        segments = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        if path == SUBMIT_PATH:
            fields = {**r.query, **r.form} if r.method == "GET" else r.form
            return self.external_submit(fields)
        if path == "/worker":
            if r.method != "GET":
                return _problem(405, "Use GET for this page.")
            if not r.path.endswith("/"):
                return _redirect("/worker/" + (f"?{urllib.parse.urlencode(r.query, True)}"))
            return self.listing(r.one("worker"))
        if len(segments) >= 3 and segments[1] == "hits":
            hit_id = segments[2]
            if len(segments) == 3 and r.method == "GET":
                return self.hit_page(hit_id, r.one("worker"))
            if segments[3:] == ["accept"] and r.method == "POST":
                return self.accept(hit_id, r.one("worker"))
        if len(segments) >= 3 and segments[1] == "assignments":
            aid = segments[2]
            action = segments[3:]
            if not action and r.method == "GET":
                return self.work_page(aid, r.base)
            if action == ["content"] and r.method == "GET":
                return self.content(aid, r.base)
            if action == ["submit"] and r.method == "POST":
                return self.submit_form(aid, r)
            if action == ["return"] and r.method == "POST":
                return self.give_back(aid)
        return _problem(404, f"There is no page {r.path} on the worker site.")

    # ------------------------------------------------------------------ who works

    def _worker(self, tx: Tx, wanted: str | None) -> tuple[str, dict[str, Any]]:
        if wanted:
            row = tx.one("SELECT id, profile FROM workers WHERE id = ?", (wanted,))
            if row is None:
                raise RequestError(f"There is no worker {wanted} in the local crowd.")
        else:
            row = tx.one("SELECT id, profile FROM workers ORDER BY idx, id LIMIT 1")
            if row is None:
                raise RequestError("The local crowd has no workers.")
        return str(row["id"]), dict(loads(row["profile"]) or {})

    @staticmethod
    def _requirements(hit: hits.Hit) -> list[Mapping[str, Any]]:
        return list(hit.props.get("QualificationRequirements") or [])

    def _refusal(self, tx: Tx, hit: hits.Hit, worker: str, prof: Mapping[str, Any]) -> str | None:
        """Why ``worker`` may not accept ``hit`` now (None: it may)."""
        if hits.available(hit, hits.count_of(tx, hit.id), tx.now) <= 0:
            return "This HIT has no assignment left to accept."
        if tx.one("SELECT 1 FROM assignments WHERE hit_id = ? AND worker_id = ?", (hit.id, worker)):
            return "You have already worked on this HIT."
        if is_blocked(tx, worker):
            return "The requester has blocked you."
        if not qualifies(tx, worker, prof, self._requirements(hit)):
            return "You do not meet this HIT's qualification requirements."
        return None

    # ------------------------------------------------------------------ pages

    def listing(self, wanted: str | None) -> WebResponse:
        with self.store.read() as conn:
            tx = self._tx(conn)
            worker, prof = self._worker(tx, wanted)
            tally = hits.counts(tx)
            rows: list[str] = []
            for hit in hits.all_hits(tx):
                counts = tally.get(hit.id, hits.Counts())
                if hits.available(hit, counts, tx.now) <= 0:
                    continue
                if self._refusal(tx, hit, worker, prof) is not None:
                    continue
                link = f"/worker/hits/{urllib.parse.quote(hit.id)}?worker={worker}"
                rows.append(
                    f'<tr><td><a href="{esc(link)}">{esc(hit.props.get("Title", hit.id))}</a>'
                    f'<br><span class="mm-note">{esc(hit.props.get("Description", ""))}</span>'
                    f"</td><td>${esc(hit.props.get('Reward', ''))}</td>"
                    f"<td>{hits.available(hit, counts, tx.now)}</td></tr>"
                )
            mine = tx.all(
                "SELECT a.id, a.state, a.hit_id FROM assignments a WHERE a.worker_id = ? "
                "ORDER BY a.accept_time DESC, a.id LIMIT 50",
                (worker,),
            )
            crowd = [r["id"] for r in tx.all("SELECT id FROM workers ORDER BY idx, id")]
            clock = from_epoch(tx.now).isoformat().replace("+00:00", "Z")
        options = "".join(
            f'<option value="{esc(w)}"{" selected" if w == worker else ""}>{esc(w)}</option>'
            for w in crowd
        )
        body = [
            "<h1>Local worker site</h1>",
            f'<p class="mm-note">Working as <strong>{esc(worker)}</strong> on the local '
            f"marketplace (virtual clock {esc(clock)}). Nothing here reaches MTurk.</p>",
            '<form method="get" action="/worker/" class="mm-actions">'
            f'<label>Worker <select name="worker">{options}</select></label>'
            '<button type="submit" class="mm-secondary">Switch</button></form>',
            "<h2>HITs you can accept</h2>",
        ]
        if rows:
            body.append(
                '<table class="mm-list"><thead><tr><th>HIT</th><th>Reward</th>'
                f"<th>Available</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
        else:
            body.append("<p>No open HIT you qualify for.</p>")
        if mine:
            items = "".join(
                f'<li><a href="/worker/assignments/{esc(a["id"])}">{esc(a["id"])}</a> '
                f"({esc(a['state'])}, HIT {esc(a['hit_id'])})</li>"
                for a in mine
            )
            body.append(f"<h2>Your assignments</h2><ul>{items}</ul>")
        return _html(200, "Local worker site", "".join(body))

    def _header(self, hit: hits.Hit, extra: Sequence[tuple[str, str]] = ()) -> str:
        props = hit.props
        return hit_header(
            title=str(props.get("Title", "")),
            description=str(props.get("Description", "")),
            reward=props.get("Reward", ""),
            duration=props.get("AssignmentDurationInSeconds", ""),
            keywords=str(props.get("Keywords", "") or ""),
            extra=extra,
        )

    def hit_page(self, hit_id: str, wanted: str | None) -> WebResponse:
        with self.store.read() as conn:
            tx = self._tx(conn)
            worker, prof = self._worker(tx, wanted)
            hit = hits.load_hit(tx, hit_id)
            refusal = self._refusal(tx, hit, worker, prof)
        question = parsed_question(hit.question or "")
        if question is None:
            return _problem(500, f"HIT {hit_id} has a question this site cannot read.", worker)
        shown = render_question(question, FrameParams(hit_id=hit.id), prefix="preview:")
        action = (
            f'<form method="post" action="/worker/hits/{esc(hit.id)}/accept" class="mm-actions">'
            f'<input type="hidden" name="worker" value="{esc(worker)}">'
            '<button type="submit" id="accept">Accept</button>'
            f'<a class="mm-button mm-secondary" href="/worker/?worker={esc(worker)}">Skip</a>'
            "</form>"
            if refusal is None
            else f'<p class="mm-problem">{esc(refusal)}</p>'
        )
        body = (
            f'<article class="mm-hit">{self._header(hit)}{action}'
            f'<p class="mm-note">Preview: accept the HIT to work on it.</p>{shown}</article>'
        )
        return _html(200, str(hit.props.get("Title", hit.id)), body)

    def _assignment(self, tx: Tx, aid: str) -> tuple[Row, hits.Hit]:
        row = tx.one("SELECT * FROM assignments WHERE id = ?", (aid,))
        if row is None:
            raise RequestError(f"Assignment {aid} does not exist.", assignments.ASSIGNMENT_MISSING)
        return row, hits.load_hit(tx, str(row["hit_id"]))

    def work_page(
        self,
        aid: str,
        base: str,
        *,
        values: Mapping[str, Sequence[str]] | None = None,
        problems: Mapping[str, str] | None = None,
    ) -> WebResponse:
        with self.store.read() as conn:
            tx = self._tx(conn)
            row, hit = self._assignment(tx, aid)
            now = tx.now
        worker = str(row["worker_id"])
        question = parsed_question(hit.question or "")
        if question is None:
            return _problem(500, f"HIT {hit.id} has a question this site cannot read.", worker)
        deadline = from_epoch(float(row["deadline"])).isoformat().replace("+00:00", "Z")
        header = self._header(hit, (("Assignment", aid), ("Due (virtual clock)", deadline)))
        if row["state"] != "Accepted" or now > float(row["deadline"]):
            state = row["state"] if row["state"] != "Accepted" else "past its deadline"
            body = (
                f'<article class="mm-hit">{header}<p>This assignment is {esc(state)}.</p>'
                f'<p><a href="/worker/?worker={esc(worker)}">Back to the HITs</a></p></article>'
            )
            return _html(200, "Assignment", body)
        back = (
            f'<form method="post" action="/worker/assignments/{esc(aid)}/return">'
            '<button type="submit" id="return" class="mm-secondary">Return this HIT</button>'
            "</form>"
        )
        if isinstance(question, QuestionForm):
            enctype = (
                ' enctype="multipart/form-data"'
                if any(isinstance(q.answer, FileUploadSpec) for q in question.questions)
                else ""
            )
            work = (
                f'<form method="post" action="/worker/assignments/{esc(aid)}/submit"{enctype}>'
                f"{render_question_form(question, values=values, problems=problems)}"
                '<div class="mm-actions"><button type="submit" id="submit">Submit</button></div>'
                "</form>"
            )
        else:
            params = FrameParams(
                hit_id=hit.id, assignment_id=aid, turk_submit_to=base, worker_id=worker
            )
            if isinstance(question, HTMLQuestion):
                content = f"/worker/assignments/{urllib.parse.quote(aid)}/content"
                src = content + "?" + urllib.parse.urlencode(params.query())
                work = render_html_question(question, src=src)
            else:
                work = render_external_question(question, params)
        body = f'<article class="mm-hit">{header}{work}<div class="mm-actions">{back}</div>'
        body += "</article>"
        status = 400 if problems else 200
        return _html(status, str(hit.props.get("Title", hit.id)), body)

    def content(self, aid: str, base: str) -> WebResponse:
        """An HTMLQuestion's page, its externalSubmit forms pointed at this marketplace."""
        with self.store.read() as conn:
            _, hit = self._assignment(self._tx(conn), aid)
        question = parsed_question(hit.question or "")
        if not isinstance(question, HTMLQuestion):
            return _problem(404, f"Assignment {aid} is not an HTMLQuestion.")
        text = point_forms_here(question.html, base + SUBMIT_PATH, aid)
        return WebResponse(
            200,
            text.encode("utf-8"),
            {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CONTENT_CSP},
        )

    # ------------------------------------------------------------------ actions

    def accept(self, hit_id: str, wanted: str | None) -> WebResponse:
        with self.store.write() as conn:
            tx = self._tx(conn)
            worker, prof = self._worker(tx, wanted)
            hit = hits.load_hit(tx, hit_id)
            refusal = self._refusal(tx, hit, worker, prof)
            if refusal is not None:
                raise RequestError(refusal)
            duration = float(hit.props["AssignmentDurationInSeconds"])
            aid = assignments.accept(tx, hit, worker, duration)
            # A person submits when done: no planned submission for the crowd to play; the
            # deadline abandons it as it would a crowd worker's forgotten tab.
            tx.conn.execute("UPDATE assignments SET planned_submit = NULL WHERE id = ?", (aid,))
        return _redirect(f"/worker/assignments/{urllib.parse.quote(aid)}")

    def _submit(self, aid: str, answer: str) -> str:
        """Record ``answer`` for ``aid`` (accepted, in time); returns the worker id."""
        with self.store.write() as conn:
            tx = self._tx(conn)
            row, hit = self._assignment(tx, aid)
            if row["state"] != "Accepted":
                raise RequestError(
                    f"Assignment {aid} is {row['state']}, not in progress: it cannot be submitted.",
                    assignments.BAD_STATE,
                )
            if tx.now > float(row["deadline"]):
                raise RequestError(f"Assignment {aid} is past its deadline.", assignments.BAD_STATE)
            assignments.submit(tx, row, answer, hit=hit)
            return str(row["worker_id"])

    def submit_form(self, aid: str, r: _Request) -> WebResponse:
        with self.store.read() as conn:
            tx = self._tx(conn)
            _, hit = self._assignment(tx, aid)
        question = parsed_question(hit.question or "")
        if not isinstance(question, QuestionForm):
            return _problem(400, "This HIT is answered in its own page, not with this form.")
        key = ids.derive(int(self.marketplace.seed), "file", hit.id, aid)
        answers, problems = form_answers(question, r.form, r.files, file_key=key + "/")
        if problems:
            return self.work_page(aid, r.base, values=r.form, problems=problems)
        worker = self._submit(aid, build_answers(answers))
        return _done(aid, worker)

    def external_submit(self, fields: Mapping[str, Sequence[str]]) -> WebResponse:
        aid = (fields.get("assignmentId") or [""])[0]
        if not aid or aid == "ASSIGNMENT_ID_NOT_AVAILABLE":
            return _problem(400, "The form has no assignmentId: accept the HIT first.")
        answers = [
            Answer(name, free_text="|".join(values))
            for name, values in fields.items()
            if name not in RESERVED_FIELDS
        ]
        worker = self._submit(aid, build_answers(answers))
        return _done(aid, worker)

    def give_back(self, aid: str) -> WebResponse:
        with self.store.write() as conn:
            tx = self._tx(conn)
            row, _ = self._assignment(tx, aid)
            if row["state"] != "Accepted":
                raise RequestError(f"Assignment {aid} is {row['state']}: it cannot be returned.")
            assignments.abandon(tx, row, "Returned")
        return _redirect(f"/worker/?worker={urllib.parse.quote(str(row['worker_id']))}")


def _done(aid: str, worker: str) -> WebResponse:
    return _html(
        200,
        "Submitted",
        f'<p id="submitted" role="status">Assignment {esc(aid)} was submitted.</p>'
        f'<p><a href="/worker/?worker={esc(worker)}" target="_top">Find more HITs</a></p>',
    )


__all__ = [
    "CONTENT_CSP",
    "SITE_CSP",
    "SUBMIT_PATH",
    "WebResponse",
    "is_worker_path",
    "point_forms_here",
    "respond",
]
