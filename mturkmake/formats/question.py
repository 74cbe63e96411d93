"""MTurk question XML: QuestionForm, HTMLQuestion and ExternalQuestion, told apart by namespace.

:func:`parse_question` checks what MTurk would refuse (well-formedness, the namespace, required
elements, the 65,535-byte limit) and exposes what the preview, the preflight and the local
crowd need: question identifiers, selection ids and every answer constraint. All XML goes
through defusedxml with document type declarations forbidden, so entity bombs and external
entities are refused before any expansion. Errors name the file and the line.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from mturkmake.errors import FormatError
from mturkmake.formats.html_form import SUBMIT_PATH, HTMLField, check_submittable, html_fields
from mturkmake.formats.javaprops import read_text
from mturkmake.formats.question_content import ContentBlock, Overview, content_blocks
from mturkmake.formats.safexml import (
    MAX_XML_BYTES,
    XmlDocument,
    attr_int,
    child,
    child_text,
    children,
    int_text,
    local_name,
    parse_xml,
    required_text,
)

NS_PREFIX = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
QUESTION_FORM_NAMESPACES = {
    NS_PREFIX + "2005-10-01/QuestionForm.xsd": "2005-10-01",
    NS_PREFIX + "2017-11-06/QuestionForm.xsd": "2017-11-06",
}
HTML_QUESTION_NS = NS_PREFIX + "2011-11-11/HTMLQuestion.xsd"
EXTERNAL_QUESTION_NS = NS_PREFIX + "2006-07-14/ExternalQuestion.xsd"
STYLES = ("radiobutton", "checkbox", "list", "dropdown", "combobox", "multichooser")


# ------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegexConstraint:
    """``<AnswerFormatRegex regex=… errorText=… flags=…/>``: the answer must match (search)."""

    pattern: str
    error_text: str | None = None
    flags: str = ""

    def compiled(self) -> re.Pattern[str]:
        """The pattern as a Python regex (``flags="i"`` ignores case)."""
        return re.compile(self.pattern, re.IGNORECASE if "i" in self.flags.lower() else 0)


@dataclass(frozen=True)
class FreeTextSpec:
    """A ``FreeTextAnswer`` (or an ``OtherSelection``) and its constraints."""

    regexes: tuple[RegexConstraint, ...] = ()
    min_length: int | None = None
    max_length: int | None = None
    is_numeric: bool = False
    min_value: int | None = None
    max_value: int | None = None
    default_text: str | None = None
    number_of_lines: int | None = None

    def problem(self, value: str) -> str | None:
        """Why ``value`` breaks a constraint (MTurk's wording where it has one), else ``None``."""
        if self.min_length is not None and len(value) < self.min_length:
            return f"must be at least {self.min_length} characters"
        if self.max_length is not None and len(value) > self.max_length:
            return f"must be at most {self.max_length} characters"
        if self.is_numeric:
            try:
                number = int(value.strip())
            except ValueError:
                return "must be a whole number"
            if self.min_value is not None and number < self.min_value:
                return f"must be at least {self.min_value}"
            if self.max_value is not None and number > self.max_value:
                return f"must be at most {self.max_value}"
        for regex in self.regexes:
            if not regex.compiled().search(value):
                return regex.error_text or f"must match {regex.pattern}"
        return None


@dataclass(frozen=True)
class Selection:
    """One choice: its identifier and its text (``AltText`` for a binary choice)."""

    identifier: str
    text: str
    #: what the worker sees (a text, formatted content or an image); see question_content.
    content: tuple[ContentBlock, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class SelectionSpec:
    """A ``SelectionAnswer``: choices, style, how many may be picked, an optional other field."""

    selections: tuple[Selection, ...]
    style: str | None = None
    min_count: int = 1
    max_count: int = 1
    other: FreeTextSpec | None = None

    @property
    def identifiers(self) -> tuple[str, ...]:
        """The selection identifiers in document order."""
        return tuple(s.identifier for s in self.selections)

    def problem(self, chosen: tuple[str, ...], other_text: str | None = None) -> str | None:
        """Why this choice is invalid (unknown id, count out of range, bad other text)."""
        unknown = [c for c in chosen if c not in self.identifiers]
        if unknown:
            return f"'{unknown[0]}' is not one of the selections"
        count = len(chosen) + (1 if other_text is not None else 0)
        if count < self.min_count or count > self.max_count:
            return f"needs {self.min_count} to {self.max_count} selections, not {count}"
        if other_text is not None:
            if self.other is None:
                return "this question has no 'other' field"
            return self.other.problem(other_text)
        return None


@dataclass(frozen=True)
class FileUploadSpec:
    """A ``FileUploadAnswer`` (deprecated by MTurk) and its size bounds in bytes."""

    min_bytes: int
    max_bytes: int


AnswerSpec: TypeAlias = FreeTextSpec | SelectionSpec | FileUploadSpec


@dataclass(frozen=True)
class FormQuestion:
    """One ``<Question>`` of a QuestionForm.

    :param text: the plain text of its ``QuestionContent`` (titles, texts, list items).
    :param line: where the ``<Question>`` starts, for later error messages.
    """

    identifier: str
    is_required: bool
    answer: AnswerSpec
    display_name: str | None = None
    text: str = ""
    line: int = field(default=0, compare=False)
    #: the QuestionContent's blocks, for display (:mod:`mturkmake.formats.question_html`).
    content: tuple[ContentBlock, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class QuestionForm:
    """A QuestionForm: its schema version, its questions and its overview texts."""

    version: str
    questions: tuple[FormQuestion, ...]
    overview: tuple[str, ...] = ()
    #: Overviews and questions in document order, for display.
    sections: tuple[Overview | FormQuestion, ...] = field(default=(), compare=False)

    def question(self, identifier: str) -> FormQuestion:
        """The question with this identifier (``KeyError`` if none)."""
        for question in self.questions:
            if question.identifier == identifier:
                return question
        raise KeyError(identifier)


@dataclass(frozen=True)
class HTMLQuestion:
    """An HTMLQuestion: the page, its frame height (0 = automatic) and its form fields."""

    html: str
    frame_height: int
    fields: tuple[HTMLField, ...] = ()


@dataclass(frozen=True)
class ExternalQuestion:
    """An ExternalQuestion: the page URL and the frame height in pixels."""

    url: str
    frame_height: int

    @property
    def scheme(self) -> str:
        """``https``, ``http`` or ``file`` — the preflight decides which an endpoint allows."""
        return self.url.split(":", 1)[0].lower()


Question: TypeAlias = QuestionForm | HTMLQuestion | ExternalQuestion


# ------------------------------------------------------------------------------------------
# QuestionForm
# ------------------------------------------------------------------------------------------


def _plain_text(element: ET.Element) -> str:
    """The readable text of a content block, one line per Title/Text/ListItem/…."""
    parts: list[str] = []
    for node in element.iter():
        name = local_name(node)
        if name in ("Title", "Text", "ListItem", "FormattedContent", "AltText") and node.text:
            parts.append(" ".join(node.text.split()))
    return "\n".join(p for p in parts if p)


def _free_text(doc: XmlDocument, element: ET.Element) -> FreeTextSpec:
    regexes: list[RegexConstraint] = []
    min_length = max_length = min_value = max_value = None
    is_numeric = False
    constraints = child(element, "Constraints")
    if constraints is not None:
        numeric = child(constraints, "IsNumeric")
        if numeric is not None:
            is_numeric = True
            min_value = attr_int(doc, numeric, "minValue", None)
            max_value = attr_int(doc, numeric, "maxValue", None)
            if min_value is not None and max_value is not None and min_value > max_value:
                raise doc.error(numeric, "IsNumeric minValue is above maxValue", "swap them")
        length = child(constraints, "Length")
        if length is not None:
            min_length = attr_int(doc, length, "minLength", 0)
            max_length = attr_int(doc, length, "maxLength", 1)
            if min_length is not None and max_length is not None and min_length > max_length:
                raise doc.error(length, "Length minLength is above maxLength", "swap them")
        for node in children(constraints, "AnswerFormatRegex"):
            pattern = node.get("regex")
            if pattern is None:
                raise doc.error(node, "AnswerFormatRegex needs a regex attribute", 'add regex="…"')
            regex = RegexConstraint(pattern, node.get("errorText"), node.get("flags") or "")
            try:
                regex.compiled()
            except re.error as exc:
                raise doc.error(
                    node,
                    f"the regex '{pattern}' does not compile: {exc}",
                    "use a regular expression that JavaScript and Python both accept",
                ) from None
            regexes.append(regex)
    return FreeTextSpec(
        regexes=tuple(regexes),
        min_length=min_length,
        max_length=max_length,
        is_numeric=is_numeric,
        min_value=min_value,
        max_value=max_value,
        default_text=child_text(element, "DefaultText"),
        number_of_lines=int_text(doc, element, "NumberOfLinesSuggestion", minimum=1),
    )


def _selection_answer(doc: XmlDocument, element: ET.Element) -> SelectionSpec:
    style = child_text(element, "StyleSuggestion")
    if style is not None and style not in STYLES:
        raise doc.error(
            element, f"unknown StyleSuggestion '{style}'", f"use one of: {', '.join(STYLES)}"
        )
    container = child(element, "Selections")
    if container is None:
        raise doc.error(element, "<SelectionAnswer> needs <Selections>", "add the choices")
    selections: list[Selection] = []
    for node in children(container, "Selection"):
        identifier = required_text(doc, node, "SelectionIdentifier")
        if identifier in (s.identifier for s in selections):
            raise doc.error(
                node, f"SelectionIdentifier '{identifier}' is repeated", "make each id unique"
            )
        selections.append(Selection(identifier, _plain_text(node), content_blocks(node)))
    other_node = child(container, "OtherSelection")
    other = _free_text(doc, other_node) if other_node is not None else None
    if not selections:
        raise doc.error(container, "<Selections> has no <Selection>", "add at least one choice")
    choices = len(selections) + (1 if other is not None else 0)
    multiple = style in ("checkbox", "multichooser")
    # MTurk defaults both counts to 1; for check boxes we allow every choice, as workers expect.
    min_count = int_text(doc, element, "MinSelectionCount", minimum=0)
    max_count = int_text(doc, element, "MaxSelectionCount", minimum=1)
    min_count = 1 if min_count is None else min_count
    max_count = (choices if multiple else 1) if max_count is None else max_count
    if min_count > max_count or min_count > choices:
        raise doc.error(
            element,
            f"MinSelectionCount {min_count} cannot be met (max {max_count}, {choices} choices)",
            "lower MinSelectionCount or add choices",
        )
    return SelectionSpec(tuple(selections), style, min_count, max_count, other)


def _answer_spec(doc: XmlDocument, question: ET.Element) -> AnswerSpec:
    spec = child(question, "AnswerSpecification")
    kinds = children(spec) if spec is not None else []
    if spec is None or len(kinds) != 1:
        raise doc.error(
            question if spec is None else spec,
            "a <Question> needs an <AnswerSpecification> with exactly one answer type",
            "use <FreeTextAnswer>, <SelectionAnswer> or <FileUploadAnswer>",
        )
    kind = kinds[0]
    name = local_name(kind)
    if name == "FreeTextAnswer":
        return _free_text(doc, kind)
    if name == "SelectionAnswer":
        return _selection_answer(doc, kind)
    if name == "FileUploadAnswer":
        max_bytes = int_text(doc, kind, "MaxFileSizeInBytes", minimum=1)
        min_bytes = int_text(doc, kind, "MinFileSizeInBytes", minimum=0)
        if max_bytes is None or min_bytes is None or min_bytes > max_bytes:
            raise doc.error(
                kind, "FileUploadAnswer needs Min/MaxFileSizeInBytes, min ≤ max", "add both"
            )
        return FileUploadSpec(min_bytes, max_bytes)
    raise doc.error(
        kind,
        f"unknown answer type <{name}>",
        "use <FreeTextAnswer>, <SelectionAnswer> or <FileUploadAnswer>",
    )


def _question_form(doc: XmlDocument, version: str) -> QuestionForm:
    questions: list[FormQuestion] = []
    overview: list[str] = []
    sections: list[Overview | FormQuestion] = []
    for node in doc.root:
        name = local_name(node)
        if name == "Overview":
            overview.append(_plain_text(node))
            sections.append(Overview(content_blocks(node)))
            continue
        if name != "Question":
            raise doc.error(
                node, f"unexpected <{name}> in <QuestionForm>", "use <Overview> or <Question>"
            )
        identifier = required_text(doc, node, "QuestionIdentifier")
        if any(q.identifier == identifier for q in questions):
            raise doc.error(
                node,
                f"QuestionIdentifier '{identifier}' is repeated",
                "make each identifier unique",
            )
        required = (child_text(node, "IsRequired") or "false").lower()
        if required not in ("true", "false", "1", "0"):
            raise doc.error(node, f"IsRequired must be true or false, not '{required}'", "fix it")
        content = child(node, "QuestionContent")
        if content is None:
            raise doc.error(node, "<Question> needs <QuestionContent>", "add the question text")
        questions.append(
            FormQuestion(
                identifier=identifier,
                is_required=required in ("true", "1"),
                answer=_answer_spec(doc, node),
                display_name=child_text(node, "DisplayName"),
                text=_plain_text(content),
                line=doc.line(node),
                content=content_blocks(content),
            )
        )
        sections.append(questions[-1])
    if not questions:
        raise doc.error(doc.root, "the QuestionForm has no <Question>", "add at least one")
    return QuestionForm(version, tuple(questions), tuple(overview), tuple(sections))


# ------------------------------------------------------------------------------------------
# HTMLQuestion and ExternalQuestion
# ------------------------------------------------------------------------------------------


def _frame_height(doc: XmlDocument) -> int:
    height = int_text(doc, doc.root, "FrameHeight", minimum=0)
    if height is None:
        raise doc.error(
            doc.root, "<FrameHeight> is missing", "add <FrameHeight>0</FrameHeight> (0 = auto)"
        )
    return height


def _html_question(doc: XmlDocument) -> HTMLQuestion:
    html = child_text(doc.root, "HTMLContent")
    if not html:
        raise doc.error(
            doc.root,
            "<HTMLQuestion> needs a non-empty <HTMLContent>",
            "put the page in <HTMLContent><![CDATA[…]]></HTMLContent>",
        )
    return HTMLQuestion(html, _frame_height(doc), html_fields(html))


def _external_question(doc: XmlDocument) -> ExternalQuestion:
    url = required_text(doc, doc.root, "ExternalURL")
    if not re.match(r"(?i)(https?|file):", url):
        raise doc.error(
            doc.root, f"ExternalURL '{url}' is not a web address", "use an https:// URL"
        )
    return ExternalQuestion(url, _frame_height(doc))


def parse_question(text: str, *, source: str) -> Question:
    """Parse a (merged) question: QuestionForm, HTMLQuestion or ExternalQuestion.

    :param text: the XML text, after template merging.
    :param source: the file name for error messages (e.g. ``survey.question (row 3)``).
    :raises FormatError: bad XML, a DTD, an unknown root or namespace, a missing required
        element, an unusable constraint, or more than 65,535 bytes.
    """
    doc = parse_xml(text, source=source)
    name, namespace = local_name(doc.root), doc.namespace
    if name == "QuestionForm" and namespace in QUESTION_FORM_NAMESPACES:
        return _question_form(doc, QUESTION_FORM_NAMESPACES[namespace])
    if name == "HTMLQuestion" and namespace == HTML_QUESTION_NS:
        return _html_question(doc)
    if name == "ExternalQuestion" and namespace == EXTERNAL_QUESTION_NS:
        return _external_question(doc)
    expected = {
        "QuestionForm": next(iter(QUESTION_FORM_NAMESPACES)),
        "HTMLQuestion": HTML_QUESTION_NS,
        "ExternalQuestion": EXTERNAL_QUESTION_NS,
    }
    if name in expected:
        raise doc.error(
            doc.root,
            f"<{name}> has namespace '{namespace}', which MTurk does not know",
            f'write <{name} xmlns="{expected[name]}">',
        )
    raise doc.error(
        doc.root,
        f"<{name}> is not a question type",
        "the root must be <QuestionForm>, <HTMLQuestion> or <ExternalQuestion>",
    )


def load_question(path: str | Path) -> Question:
    """Read a UTF-8 question file without template syntax and :func:`parse_question` it."""
    return parse_question(read_text(path), source=str(path))


def check_html_submit(
    question: Question, *, source: str, template_text: str = "", row_at: str = ""
) -> list[str]:
    """Refuse an HTMLQuestion no worker could submit; return its warnings (preflight).

    See :func:`~mturkmake.formats.html_form.check_submittable`. Other question types pass.

    :param source: the question file's name; ``template_text`` (its text) finds the line.
    :param row_at: the input row merged in (``survey.input:3``), named in the error.
    :raises FormatError: neither a ``<crowd-form>`` nor a form posting to externalSubmit.
    """
    if not isinstance(question, HTMLQuestion):
        return []
    result = check_submittable(question.html)
    lines = template_text.splitlines()
    line = next((n for n, t in enumerate(lines, 1) if "<form" in t.lower()), None) or next(
        (n for n, t in enumerate(lines, 1) if "HTMLContent" in t), None
    )
    if result.error is not None:
        merged = f" (merged with {row_at})" if row_at else ""
        raise FormatError(
            result.error + merged,
            file=source,
            line=line,
            hint=f'wrap the answers in <form method="post" action="https://www.mturk.com'
            f'{SUBMIT_PATH}"> or use <crowd-form>',
        )
    where = f"{source}:{line}" if line else source
    return [f"{where}: warning: {text}" for text in result.warnings]


def question_identifiers(question: Question) -> tuple[str, ...]:
    """The answer names a question produces, in document order (none for ExternalQuestion)."""
    if isinstance(question, QuestionForm):
        return tuple(q.identifier for q in question.questions)
    if isinstance(question, HTMLQuestion):
        return tuple(f.name for f in question.fields)
    return ()


__all__ = [
    "EXTERNAL_QUESTION_NS",
    "HTML_QUESTION_NS",
    "MAX_XML_BYTES",
    "NS_PREFIX",
    "QUESTION_FORM_NAMESPACES",
    "AnswerSpec",
    "ExternalQuestion",
    "FileUploadSpec",
    "FormQuestion",
    "FreeTextSpec",
    "HTMLField",
    "HTMLQuestion",
    "Question",
    "QuestionForm",
    "RegexConstraint",
    "Selection",
    "SelectionSpec",
    "check_html_submit",
    "html_fields",
    "load_question",
    "parse_question",
    "question_identifiers",
]
