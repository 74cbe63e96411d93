"""Writes question XML, so that ``parse_question(build_question(q)) == q``.

For tests, examples and the local marketplace, which need well-formed QuestionForm,
HTMLQuestion and ExternalQuestion documents built from the records of
:mod:`mturkmake.formats.question`.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

from mturkmake.formats.question import (
    EXTERNAL_QUESTION_NS,
    HTML_QUESTION_NS,
    QUESTION_FORM_NAMESPACES,
    AnswerSpec,
    ExternalQuestion,
    FileUploadSpec,
    FreeTextSpec,
    HTMLQuestion,
    Question,
)


def _esc(text: str) -> str:
    # \r is written as a reference because XML parsers turn a literal CR into LF.
    return escape(text).replace("\r", "&#13;")


def _el(name: str, text: object, attrs: Mapping[str, object] | None = None) -> str:
    pairs = "".join(
        f" {key}={quoteattr(str(value))}"
        for key, value in (attrs or {}).items()
        if value is not None
    )
    return f"<{name}{pairs}>{_esc(str(text))}</{name}>"


def _texts(text: str) -> str:
    return "".join(_el("Text", line) for line in text.split("\n")) if text else "<Text></Text>"


def _free_text_xml(spec: FreeTextSpec, name: str) -> str:
    constraints = ""
    if spec.is_numeric:
        constraints += _el(
            "IsNumeric", "", {"minValue": spec.min_value, "maxValue": spec.max_value}
        )
    if spec.min_length is not None or spec.max_length is not None:
        constraints += _el(
            "Length", "", {"minLength": spec.min_length, "maxLength": spec.max_length}
        )
    for regex in spec.regexes:
        attrs = {
            "regex": regex.pattern,
            "errorText": regex.error_text,
            "flags": regex.flags or None,
        }
        constraints += _el("AnswerFormatRegex", "", attrs)
    body = f"<Constraints>{constraints}</Constraints>" if constraints else ""
    if spec.default_text is not None:
        body += _el("DefaultText", spec.default_text)
    if spec.number_of_lines is not None:
        body += _el("NumberOfLinesSuggestion", spec.number_of_lines)
    return f"<{name}>{body}</{name}>"


def _answer_xml(spec: AnswerSpec) -> str:
    if isinstance(spec, FreeTextSpec):
        return _free_text_xml(spec, "FreeTextAnswer")
    if isinstance(spec, FileUploadSpec):
        sizes = _el("MaxFileSizeInBytes", spec.max_bytes) + _el(
            "MinFileSizeInBytes", spec.min_bytes
        )
        return f"<FileUploadAnswer>{sizes}</FileUploadAnswer>"
    body = _el("MinSelectionCount", spec.min_count) + _el("MaxSelectionCount", spec.max_count)
    if spec.style is not None:
        body += _el("StyleSuggestion", spec.style)
    choices = "".join(
        f"<Selection>{_el('SelectionIdentifier', s.identifier)}{_el('Text', s.text)}</Selection>"
        for s in spec.selections
    )
    if spec.other is not None:
        choices += _free_text_xml(spec.other, "OtherSelection")
    return f"<SelectionAnswer>{body}<Selections>{choices}</Selections></SelectionAnswer>"


def build_question(question: Question) -> str:
    """Write a question as XML that :func:`parse_question` reads back equal.

    Overviews come first; content is written as one ``<Text>`` per line of ``text``.
    """
    if isinstance(question, ExternalQuestion):
        body = _el("ExternalURL", question.url) + _el("FrameHeight", question.frame_height)
        return f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">{body}</ExternalQuestion>'
    if isinstance(question, HTMLQuestion):
        # "]]>" cannot appear inside CDATA: split it across two sections.
        html = question.html.replace("]]>", "]]]]><![CDATA[>")
        body = f"<HTMLContent><![CDATA[{html}]]></HTMLContent>"
        body += _el("FrameHeight", question.frame_height)
        return f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}">{body}</HTMLQuestion>'
    namespace = next(ns for ns, v in QUESTION_FORM_NAMESPACES.items() if v == question.version)
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<QuestionForm xmlns="{namespace}">']
    out += [f"<Overview>{_texts(text)}</Overview>" for text in question.overview]
    for q in question.questions:
        out.append("<Question>" + _el("QuestionIdentifier", q.identifier))
        if q.display_name is not None:
            out.append(_el("DisplayName", q.display_name))
        out.append(_el("IsRequired", "true" if q.is_required else "false"))
        out.append(f"<QuestionContent>{_texts(q.text)}</QuestionContent>")
        out.append(f"<AnswerSpecification>{_answer_xml(q.answer)}</AnswerSpecification>")
        out.append("</Question>")
    out.append("</QuestionForm>")
    return "\n".join(out) + "\n"


__all__ = ["build_question"]
