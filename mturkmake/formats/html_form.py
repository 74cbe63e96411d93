"""Form fields of an HTML page (HTMLQuestion), found without running it.

The local crowd answers an HTMLQuestion by filling its named fields; the preview lists them.
We read ``input``, ``select`` (with its ``option`` values), ``textarea`` and the ``crowd-*``
elements of MTurk's Crowd HTML Elements with the standard library's HTML parser. Fields MTurk
adds itself (``assignmentId``, …) and buttons are not answers and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

#: Form fields MTurk adds to HTML and external pages itself; they are not answers.
RESERVED_FIELDS = frozenset({"assignmentId", "hitId", "turkSubmitTo", "workerId"})


@dataclass(frozen=True)
class HTMLField:
    """A form field found in an HTMLQuestion.

    :param kind: ``text``, ``textarea``, ``select``, ``radio``, ``checkbox``, ``hidden``,
        ``number``, ``email``… (the input ``type``), or the ``crowd-*`` element name.
    :param options: the values a radio group, checkbox group or select offers; for other
        fields, the default value if there is one.
    """

    name: str
    kind: str
    options: tuple[str, ...] = ()
    required: bool = False


class _FieldFinder(HTMLParser):
    """Collects named form fields (input, select, textarea, crowd-* elements) in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, HTMLField] = {}
        self._select: str | None = None
        # An <option> without a value attribute submits its text (HTML): collect the text.
        self._option_text: list[str] | None = None

    def _add(self, name: str, kind: str, option: str | None, required: bool) -> None:
        old = self.fields.get(name)
        options = old.options if old else ()
        if option is not None and option not in options:
            options = (*options, option)
        self.fields[name] = HTMLField(
            name, old.kind if old else kind, options, required or bool(old and old.required)
        )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        name = a.get("name")
        required = "required" in a
        if tag == "option":
            self._end_option()  # an unclosed previous <option> ends here
        if tag == "option" and self._select is not None:
            if "value" in a:
                self._add(self._select, "select", a["value"], False)
            else:
                self._option_text = []
        if not name or name in RESERVED_FIELDS:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind not in ("submit", "button", "reset", "image"):
                self._add(name, kind, a.get("value"), required)
        elif tag == "textarea":
            self._add(name, "textarea", None, required)
        elif tag == "select":
            self._select = name
            self._add(name, "select", None, required)
        elif tag.startswith("crowd-"):
            self._add(name, tag, a.get("value"), required)

    def handle_data(self, data: str) -> None:
        if self._option_text is not None:
            self._option_text.append(data)

    def _end_option(self) -> None:
        if self._option_text is not None and self._select is not None:
            text = " ".join("".join(self._option_text).split())
            self._add(self._select, "select", text, False)
        self._option_text = None

    def handle_endtag(self, tag: str) -> None:
        if tag in ("option", "select"):
            self._end_option()  # </option> is optional in HTML: </select> ends it too
        if tag == "select":
            self._select = None


def html_fields(html: str) -> tuple[HTMLField, ...]:
    """The named form fields of an HTML page (MTurk's reserved fields excluded), in order."""
    finder = _FieldFinder()
    finder.feed(html)
    finder.close()
    return tuple(finder.fields.values())


# --------------------------------------------------------------------------------------------
# Can a worker submit it?
# --------------------------------------------------------------------------------------------

#: The path every HTMLQuestion form must post to (MTurk's, the sandbox's, or ours).
SUBMIT_PATH = "/mturk/externalSubmit"


class _FormFinder(HTMLParser):
    """Forms (their ``action``), ``crowd-form`` elements, assignmentId fields and scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.actions: list[str] = []
        self.crowd_form = False
        self.assignment_id_field = False
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.actions.append(a.get("action", ""))
        elif tag == "crowd-form":
            self.crowd_form = True
        elif tag == "input" and a.get("name") == "assignmentId":
            self.assignment_id_field = True
        elif tag == "script":
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


@dataclass(frozen=True)
class SubmitCheck:
    """Whether a worker could submit an HTMLQuestion page.

    :param error: why no worker could submit it (no usable form), or ``None``.
    :param warnings: what would go wrong after submitting (no ``assignmentId`` field).
    """

    error: str | None
    warnings: tuple[str, ...] = ()


def check_submittable(html: str) -> SubmitCheck:
    """Check that an HTMLQuestion can be submitted: a ``<crowd-form>``, or a ``<form>``
    posting to ``…/mturk/externalSubmit`` (directly, or with the action set by a script that
    names that path, as MTurk's own templates do). A form without an ``assignmentId`` field
    is a warning: MTurk cannot tell which assignment the answers belong to.
    """
    finder = _FormFinder()
    finder.feed(html)
    finder.close()
    if finder.crowd_form:
        return SubmitCheck(None)
    posting = [a for a in finder.actions if SUBMIT_PATH.lower() in a.lower()]
    scripted = bool(finder.actions) and SUBMIT_PATH.lower() in "".join(finder.script_text).lower()
    if not posting and not scripted:
        if finder.actions:
            where = ", ".join(repr(a) for a in finder.actions[:3])
            return SubmitCheck(
                f"no form posts to {SUBMIT_PATH} (the form's action is {where}), "
                "so no worker could submit it"
            )
        return SubmitCheck(
            "the page has no <form> and no <crowd-form>, so no worker could submit it"
        )
    if not finder.assignment_id_field:
        return SubmitCheck(
            None,
            (
                "the form has no assignmentId field; MTurk needs it to accept the answers "
                '(add <input type="hidden" name="assignmentId">)',
            ),
        )
    return SubmitCheck(None)


__all__ = [
    "RESERVED_FIELDS",
    "SUBMIT_PATH",
    "HTMLField",
    "SubmitCheck",
    "check_submittable",
    "html_fields",
]
