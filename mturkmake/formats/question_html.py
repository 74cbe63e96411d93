"""A parsed question as a worker sees it, in HTML: the renderer shared by the preview page,
the local worker site and the review page.

- A QuestionForm becomes its content blocks (titles, texts, lists, images and links by
  reference, the requester's formatted content through an allow-list) and one form control
  per question: radio buttons, check boxes or a list per ``StyleSuggestion`` with the
  ``SelectionIdentifier`` as value, a text box (or area) carrying its constraints, or a file
  field. :func:`form_answers` is the inverse: the posted fields back to MTurk's answers.
- An HTMLQuestion becomes a sandboxed frame (``srcdoc``, or a URL that serves the page).
- An ExternalQuestion becomes a frame on its URL with the parameters MTurk adds
  (``assignmentId``, ``hitId``, and while working ``turkSubmitTo`` and ``workerId``).

Everything from the batch is escaped with :func:`html.escape`: a cell holding ``AT&T <b>``
shows as text. The page around questions (inline style, the HIT's header) is
:mod:`mturkmake.formats.html_page`, the allow-list for formatted content
:mod:`mturkmake.formats.html_sanitize`; both are re-exported here. Pure: no network, no files,
no script, stylesheet or font of its own from elsewhere.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mturkmake.formats.answers import Answer
from mturkmake.formats.html_page import STYLE, duration_text, hit_header, page, reward_text
from mturkmake.formats.html_sanitize import esc, safe_url, sanitize_html
from mturkmake.formats.question import (
    ExternalQuestion,
    FileUploadSpec,
    FormQuestion,
    FreeTextSpec,
    HTMLQuestion,
    Question,
    QuestionForm,
    SelectionSpec,
)
from mturkmake.formats.question_content import ContentBlock, Overview

#: The assignment id MTurk gives a frame while the worker only previews the HIT.
PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"
#: The value of the "other" choice, and the suffix of its text field's name.
OTHER_CHOICE = "::other"
OTHER_SUFFIX = "::other"
#: An HTMLQuestion's FrameHeight of 0 means "fit the page"; a frame needs some height.
AUTO_FRAME_HEIGHT = 600
#: Sandbox of HTMLQuestion frames: the requester's scripts and forms run, in an opaque origin
#: that cannot reach the page around it.
HTML_SANDBOX = "allow-scripts allow-forms allow-popups allow-top-navigation-by-user-activation"

_LIST_STYLES = frozenset({"list", "dropdown", "combobox", "multichooser"})


@dataclass(frozen=True)
class FrameParams:
    """What MTurk appends to a HIT's frame URL.

    While the worker previews, ``assignment_id`` is :data:`PREVIEW_ASSIGNMENT_ID` and only
    ``hitId`` follows; once accepted, ``turkSubmitTo`` and ``workerId`` come too.
    """

    hit_id: str
    assignment_id: str = PREVIEW_ASSIGNMENT_ID
    turk_submit_to: str | None = None
    worker_id: str | None = None

    def query(self) -> list[tuple[str, str]]:
        """The parameters in MTurk's order."""
        pairs = [("assignmentId", self.assignment_id), ("hitId", self.hit_id)]
        if self.turk_submit_to is not None:
            pairs.append(("turkSubmitTo", self.turk_submit_to))
        if self.worker_id is not None:
            pairs.append(("workerId", self.worker_id))
        return pairs


def frame_url(url: str, params: FrameParams) -> str:
    """``url`` with MTurk's parameters added to its query (before any ``#fragment``)."""
    base, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        joiner = ""
    return base + joiner + urllib.parse.urlencode(params.query()) + hash_ + fragment


# ------------------------------------------------------------------------------------------
# Content blocks
# ------------------------------------------------------------------------------------------


def _size_attrs(block: ContentBlock) -> str:
    out = ""
    if block.width.isdigit():
        out += f' width="{block.width}"'
    if block.height.isdigit():
        out += f' height="{block.height}"'
    return out


def _binary(block: ContentBlock) -> str:
    url = safe_url(block.url)
    label = block.text or block.url
    if url is None:
        return f'<p class="mm-text">{esc(label)}</p>'
    if block.mime_type == "image":
        return f'<img src="{esc(url)}" alt="{esc(block.text)}"{_size_attrs(block)}>'
    link = f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{esc(label)}</a>'
    if block.mime_type in ("audio", "video"):
        return (
            f'<{block.mime_type} controls preload="none" src="{esc(url)}"'
            f"{_size_attrs(block)}></{block.mime_type}><br>{link}"
        )
    return f"<p>{link}</p>"


def render_blocks(blocks: Iterable[ContentBlock]) -> str:
    """Content blocks as HTML, in order."""
    out: list[str] = []
    for block in blocks:
        if block.kind == "title":
            out.append(f'<h3 class="mm-title">{esc(block.text)}</h3>')
        elif block.kind == "text":
            out.append(f'<p class="mm-text">{esc(block.text)}</p>')
        elif block.kind == "list":
            items = "".join(f"<li>{esc(item)}</li>" for item in block.items)
            out.append(f"<ul>{items}</ul>")
        elif block.kind == "binary":
            out.append(_binary(block))
        elif block.kind == "application":
            url = safe_url(block.url)
            what = esc(block.text or "application")
            shown = (
                f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{esc(url)}</a>'
                if url
                else esc(block.url)
            )
            out.append(f'<p class="mm-note">An embedded {what} (not shown): {shown}</p>')
        elif block.kind == "formatted":
            out.append(f'<div class="mm-formatted">{sanitize_html(block.text)}</div>')
    return "".join(out)


# ------------------------------------------------------------------------------------------
# QuestionForm
# ------------------------------------------------------------------------------------------


def field_name(identifier: str, prefix: str = "") -> str:
    """The form field that carries question ``identifier``'s answer."""
    return prefix + identifier


def _free_text_hints(spec: FreeTextSpec) -> list[str]:
    hints: list[str] = []
    if spec.is_numeric:
        if spec.min_value is not None and spec.max_value is not None:
            hints.append(f"A whole number from {spec.min_value} to {spec.max_value}.")
        elif spec.min_value is not None:
            hints.append(f"A whole number of at least {spec.min_value}.")
        elif spec.max_value is not None:
            hints.append(f"A whole number of at most {spec.max_value}.")
        else:
            hints.append("A whole number.")
    if spec.min_length and spec.max_length is not None:
        hints.append(f"{spec.min_length} to {spec.max_length} characters.")
    elif spec.min_length:
        hints.append(f"At least {spec.min_length} characters.")
    elif spec.max_length is not None:
        hints.append(f"At most {spec.max_length} characters.")
    for regex in spec.regexes:
        hints.append(regex.error_text or f"Must match the pattern {regex.pattern}")
    return hints


def _text_box(
    spec: FreeTextSpec, name: str, qid: str, *, value: str | None, required: bool, label: str
) -> str:
    shown = spec.default_text if value is None else value
    attrs = f' name="{esc(name)}" data-qid="{esc(qid)}" aria-label="{esc(label)}"'
    if required:
        attrs += " required"
    if spec.min_length:
        attrs += f' minlength="{spec.min_length}"'
    if spec.max_length is not None:
        attrs += f' maxlength="{spec.max_length}"'
    if (spec.number_of_lines or 1) > 1 and not spec.is_numeric:
        return f'<textarea rows="{spec.number_of_lines}"{attrs}>{esc(shown or "")}</textarea>'
    kind = "text"
    if spec.is_numeric:
        kind = "number"
        attrs += ' step="1" inputmode="numeric"'
        if spec.min_value is not None:
            attrs += f' min="{spec.min_value}"'
        if spec.max_value is not None:
            attrs += f' max="{spec.max_value}"'
    value_attr = f' value="{esc(shown)}"' if shown else ""
    return f'<input type="{kind}"{attrs}{value_attr}>'


def _selection(
    spec: SelectionSpec,
    name: str,
    qid: str,
    *,
    chosen: Sequence[str],
    other_text: str | None,
    required: bool,
) -> str:
    multiple = spec.max_count > 1
    style = spec.style or ("checkbox" if multiple else "radiobutton")
    pictures = any(b.kind != "text" for s in spec.selections for b in s.content)
    other_name = name + OTHER_SUFFIX
    out: list[str] = []
    if style in _LIST_STYLES and not pictures:
        many = style == "multichooser" or (multiple and style == "list")
        size = f' size="{min(len(spec.selections) + 1, 8)}"' if style == "list" or many else ""
        attrs = f' name="{esc(name)}" data-qid="{esc(qid)}"{size}'
        attrs += " multiple" if many else ""
        attrs += " required" if required else ""
        options = [] if many or style == "list" else ['<option value="">— choose —</option>']
        for s in spec.selections:
            picked = " selected" if s.identifier in chosen else ""
            options.append(f'<option value="{esc(s.identifier)}"{picked}>{esc(s.text)}</option>')
        if spec.other is not None:
            picked = " selected" if OTHER_CHOICE in chosen else ""
            options.append(f'<option value="{OTHER_CHOICE}"{picked}>Other (type below)</option>')
        out.append(f"<select{attrs}>{''.join(options)}</select>")
    else:
        kind = "checkbox" if style in ("checkbox", "multichooser") else "radio"
        req = " required" if required and kind == "radio" else ""
        for s in spec.selections:
            picked = " checked" if s.identifier in chosen else ""
            content = render_blocks(s.content) if s.content else esc(s.text)
            out.append(
                f'<label class="mm-choice"><input type="{kind}" name="{esc(name)}" '
                f'value="{esc(s.identifier)}" data-qid="{esc(qid)}"{picked}{req}>'
                f"<span>{content}</span></label>"
            )
        if spec.other is not None:
            picked = " checked" if OTHER_CHOICE in chosen else ""
            out.append(
                f'<label class="mm-choice"><input type="{kind}" name="{esc(name)}" '
                f'value="{OTHER_CHOICE}" data-qid="{esc(qid)}" data-other="1"{picked}{req}>'
                "<span>Other:</span></label>"
            )
    if spec.other is not None:
        out.append(
            f'<input type="text" name="{esc(other_name)}" data-other-of="{esc(qid)}" '
            f'aria-label="Other answer" value="{esc(other_text or "")}">'
        )
        out += [f'<p class="mm-hint">{esc(h)}</p>' for h in _free_text_hints(spec.other)]
    if multiple and (spec.min_count > 1 or spec.max_count < len(spec.selections)):
        out.append(f'<p class="mm-hint">Choose {spec.min_count} to {spec.max_count}.</p>')
    return "".join(out)


def _form_question(
    q: FormQuestion,
    prefix: str,
    values: Mapping[str, Sequence[str]],
    problems: Mapping[str, str],
) -> str:
    name = field_name(q.identifier, prefix)
    label = q.display_name or q.text.split("\n", 1)[0] or q.identifier
    content = render_blocks(q.content) if q.content else f'<p class="mm-text">{esc(q.text)}</p>'
    head = '<span class="mm-required" title="required">*</span> ' if q.is_required else ""
    out = [f'<section class="mm-question" data-question="{esc(q.identifier)}">']
    if q.display_name:
        out.append(f'<h3 class="mm-title">{head}{esc(q.display_name)}</h3>')
    out.append(content)
    if head and not q.display_name:
        out.append(f'<p class="mm-note">{head}required</p>')
    given = values.get(name)
    spec = q.answer
    if isinstance(spec, SelectionSpec):
        other = values.get(name + OTHER_SUFFIX)
        out.append(
            _selection(
                spec,
                name,
                q.identifier,
                chosen=tuple(given or ()),
                other_text=other[0] if other else None,
                required=q.is_required,
            )
        )
    elif isinstance(spec, FileUploadSpec):
        out.append(
            f'<input type="file" name="{esc(name)}" data-qid="{esc(q.identifier)}"'
            f"{' required' if q.is_required else ''}>"
            f'<p class="mm-hint">A file of {spec.min_bytes:,} to {spec.max_bytes:,} bytes.</p>'
        )
    else:
        out.append(
            _text_box(
                spec,
                name,
                q.identifier,
                value=given[0] if given else None,
                required=q.is_required,
                label=label,
            )
        )
        out += [f'<p class="mm-hint">{esc(h)}</p>' for h in _free_text_hints(spec)]
    problem = problems.get(q.identifier)
    if problem:
        out.append(f'<p class="mm-problem" role="alert">{esc(problem)}</p>')
    out.append("</section>")
    return "".join(out)


def render_question_form(
    form: QuestionForm,
    *,
    prefix: str = "",
    values: Mapping[str, Sequence[str]] | None = None,
    problems: Mapping[str, str] | None = None,
) -> str:
    """The overviews and questions of ``form`` with one control per question (no ``<form>``
    element: the caller decides where it posts).

    :param prefix: prepended to every field name (a page showing several HITs keeps each
        HIT's radio groups apart).
    :param values: posted values by field name, shown again (after a refused submission).
    :param problems: a message per question identifier, shown under the question.
    """
    sections = form.sections or form.questions
    parts: list[str] = []
    for section in sections:
        if isinstance(section, Overview):
            parts.append(f'<div class="mm-overview">{render_blocks(section.content)}</div>')
        else:
            parts.append(_form_question(section, prefix, values or {}, problems or {}))
    return "".join(parts)


# ------------------------------------------------------------------------------------------
# HTMLQuestion, ExternalQuestion, any question
# ------------------------------------------------------------------------------------------


def _height(frame_height: int) -> int:
    return frame_height if frame_height > 0 else AUTO_FRAME_HEIGHT


def render_html_question(question: HTMLQuestion, *, src: str | None = None) -> str:
    """A sandboxed frame holding the HTMLQuestion's page: inline (``srcdoc``), or loaded from
    ``src`` (the worker site serves the page so MTurk's URL parameters reach its scripts)."""
    where = f'src="{esc(src)}"' if src is not None else f'srcdoc="{esc(question.html)}"'
    return (
        f'<iframe class="mm-frame" title="HIT" sandbox="{HTML_SANDBOX}" {where} '
        f'height="{_height(question.frame_height)}"></iframe>'
    )


def render_external_question(question: ExternalQuestion, params: FrameParams) -> str:
    """A frame on the ExternalURL with MTurk's parameters."""
    url = safe_url(question.url)
    if url is None:
        return f'<p class="mm-problem">Cannot show {esc(question.url)}</p>'
    return (
        f'<iframe class="mm-frame" title="HIT" src="{esc(frame_url(url, params))}" '
        f'height="{_height(question.frame_height)}"></iframe>'
    )


def render_question(
    question: Question,
    params: FrameParams,
    *,
    prefix: str = "",
    html_src: str | None = None,
) -> str:
    """Any question as a worker sees it (QuestionForm controls are not inside a ``<form>``).

    :param params: the frame parameters of an ExternalQuestion.
    :param html_src: where an HTMLQuestion's page is served (None: inline ``srcdoc``).
    """
    if isinstance(question, QuestionForm):
        return render_question_form(question, prefix=prefix)
    if isinstance(question, HTMLQuestion):
        return render_html_question(question, src=html_src)
    return render_external_question(question, params)


# ------------------------------------------------------------------------------------------
# Posted fields back to answers
# ------------------------------------------------------------------------------------------


def form_answers(
    form: QuestionForm,
    fields: Mapping[str, Sequence[str]],
    files: Mapping[str, bytes] | None = None,
    *,
    prefix: str = "",
    file_key: str = "",
) -> tuple[tuple[Answer, ...], dict[str, str]]:
    """The answers a worker's posted ``fields`` give, checked as MTurk checks them.

    :param files: uploaded files by field name (file-upload questions).
    :param file_key: the start of an uploaded file's key (the question id is appended).
    :returns: the answers in question order, and a problem per question id (empty when all
        answers are valid). An optional question left blank has no answer.
    """
    answers: list[Answer] = []
    problems: dict[str, str] = {}
    for q in form.questions:
        name = field_name(q.identifier, prefix)
        spec = q.answer
        if isinstance(spec, SelectionSpec):
            chosen = [v for v in fields.get(name, ()) if v]
            other = OTHER_CHOICE in chosen
            picked = tuple(v for v in chosen if v != OTHER_CHOICE)
            other_values = fields.get(name + OTHER_SUFFIX) or ()
            other_text = other_values[0] if other and other_values else ("" if other else None)
            if not picked and other_text is None:
                if q.is_required:
                    problems[q.identifier] = "This question needs an answer."
                continue
            problem = spec.problem(picked, other_text)
            if problem:
                problems[q.identifier] = problem
                continue
            answers.append(Answer(q.identifier, selections=picked, other_selection_text=other_text))
        elif isinstance(spec, FileUploadSpec):
            data = (files or {}).get(name)
            if not data:
                if q.is_required:
                    problems[q.identifier] = "This question needs a file."
                continue
            if not spec.min_bytes <= len(data) <= spec.max_bytes:
                problems[q.identifier] = (
                    f"The file must be {spec.min_bytes:,} to {spec.max_bytes:,} bytes."
                )
                continue
            answers.append(
                Answer(
                    q.identifier,
                    uploaded_file_key=file_key + q.identifier,
                    uploaded_file_size=len(data),
                )
            )
        else:
            values = fields.get(name) or ("",)
            text = values[0]
            if not text.strip():
                if q.is_required:
                    problems[q.identifier] = "This question needs an answer."
                continue
            problem = spec.problem(text)
            if problem:
                problems[q.identifier] = (
                    f"The answer {problem}." if problem.startswith("must") else problem
                )
                continue
            answers.append(Answer(q.identifier, free_text=text))
    return tuple(answers), problems


__all__ = [
    "AUTO_FRAME_HEIGHT",
    "HTML_SANDBOX",
    "OTHER_CHOICE",
    "OTHER_SUFFIX",
    "PREVIEW_ASSIGNMENT_ID",
    "STYLE",
    "FrameParams",
    "duration_text",
    "esc",
    "field_name",
    "form_answers",
    "frame_url",
    "hit_header",
    "page",
    "render_blocks",
    "render_external_question",
    "render_html_question",
    "render_question",
    "render_question_form",
    "reward_text",
    "safe_url",
    "sanitize_html",
]
