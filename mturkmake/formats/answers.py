"""``QuestionFormAnswers``: what a worker submitted (Assignment.Answer), read and written.

Each ``<Answer>`` holds a ``QuestionIdentifier`` and one of: a ``FreeText``; zero or more
``SelectionIdentifier`` plus an optional ``OtherSelectionText``; or an uploaded file
(``UploadedFileSizeInBytes`` + ``UploadedFileKey``). HTMLQuestion and ExternalQuestion answers
use ``FreeText`` for every form field. :class:`Answer` keeps which kind each value was;
:func:`parse_answers` gives the plain ``{question id: value or values}`` view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from mturkmake.formats.question import NS_PREFIX
from mturkmake.formats.safexml import children, local_name, parse_xml, required_text

ANSWERS_NS = NS_PREFIX + "2005-10-01/QuestionFormAnswers.xsd"

AnswerKind = Literal["FreeText", "SelectionIdentifier", "OtherSelectionText", "UploadedFileKey"]
AnswerValue: TypeAlias = str | tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """One answered question.

    :param free_text: the ``FreeText``, verbatim (``None`` if the answer is not free text).
    :param selections: the ``SelectionIdentifier`` values, in order.
    :param other_selection_text: the ``OtherSelectionText``, verbatim.
    :param uploaded_file_key: the ``UploadedFileKey`` of a file-upload answer.
    :param uploaded_file_size: its ``UploadedFileSizeInBytes``.
    """

    question_id: str
    free_text: str | None = None
    selections: tuple[str, ...] = ()
    other_selection_text: str | None = None
    uploaded_file_key: str | None = None
    uploaded_file_size: int | None = None

    @property
    def kind(self) -> AnswerKind:
        """What the answer is; an ``OtherSelectionText`` wins over selections, as in the CLT."""
        if self.free_text is not None:
            return "FreeText"
        if self.uploaded_file_key is not None:
            return "UploadedFileKey"
        if self.other_selection_text is not None:
            return "OtherSelectionText"
        return "SelectionIdentifier"

    @property
    def value(self) -> AnswerValue:
        """A string (free text, other text, file key) or the tuple of selection ids."""
        kind = self.kind
        if kind == "FreeText":
            return self.free_text or ""
        if kind == "UploadedFileKey":
            return self.uploaded_file_key or ""
        if kind == "OtherSelectionText":
            return self.other_selection_text or ""
        return self.selections

    @property
    def clt_value(self) -> str:
        """The CLT's ``.results`` cell: selections joined by ``|``, other text winning."""
        value = self.value
        return value if isinstance(value, str) else "|".join(value)


def _first(parts: Mapping[str, list[str]], name: str) -> str | None:
    values = parts.get(name)
    return values[0] if values else None


def parse_answer_records(text: str, *, source: str) -> tuple[Answer, ...]:
    """Parse a ``QuestionFormAnswers`` document into :class:`Answer` records, in order.

    :raises FormatError: bad XML, another root element or namespace, an ``<Answer>`` without
        ``QuestionIdentifier``, mixed answer kinds, or a question answered twice.
    """
    # Answers come from the service (or our crowd): no size limit is documented for them.
    doc = parse_xml(text, source=source, max_bytes=None)
    root = doc.root
    if local_name(root) != "QuestionFormAnswers" or doc.namespace not in (ANSWERS_NS, ""):
        raise doc.error(
            root,
            f"expected <QuestionFormAnswers>, found <{local_name(root)}> in '{doc.namespace}'",
            f'the root must be <QuestionFormAnswers xmlns="{ANSWERS_NS}">',
        )
    records: list[Answer] = []
    seen: set[str] = set()
    for node in children(root, "Answer"):
        question_id = required_text(doc, node, "QuestionIdentifier")
        if question_id in seen:
            raise doc.error(
                node, f"question '{question_id}' is answered twice", "keep one <Answer>"
            )
        seen.add(question_id)
        parts: dict[str, list[str]] = {}
        for part in node:
            name = local_name(part)
            if name != "QuestionIdentifier":
                parts.setdefault(name, []).append(part.text or "")
        unknown = set(parts) - {
            "FreeText",
            "SelectionIdentifier",
            "OtherSelectionText",
            "UploadedFileKey",
            "UploadedFileSizeInBytes",
        }
        free = parts.get("FreeText")
        mixed = free is not None and len(parts) > 1
        repeated = any(len(v) > 1 for k, v in parts.items() if k != "SelectionIdentifier")
        if unknown or mixed or repeated:
            raise doc.error(
                node,
                f"the answer to '{question_id}' mixes or repeats answer elements",
                "give one FreeText, or SelectionIdentifier(s) [+ OtherSelectionText], or one file",
            )
        size_text = _first(parts, "UploadedFileSizeInBytes")
        try:
            size = int(size_text) if size_text is not None else None
        except ValueError:
            raise doc.error(
                node, f"UploadedFileSizeInBytes '{size_text}' is not a number", "write digits"
            ) from None
        records.append(
            Answer(
                question_id=question_id,
                free_text=free[0] if free is not None else None,
                selections=tuple(s.strip() for s in parts.get("SelectionIdentifier", [])),
                other_selection_text=_first(parts, "OtherSelectionText"),
                uploaded_file_key=(_first(parts, "UploadedFileKey") or "").strip()
                if "UploadedFileKey" in parts
                else None,
                uploaded_file_size=size,
            )
        )
    return tuple(records)


def parse_answers(text: str, *, source: str) -> dict[str, AnswerValue]:
    """``{question id: value}``: a string for free text, other text and file keys, a tuple of
    selection ids for selections (see :class:`Answer` to tell the kinds apart)."""
    return {a.question_id: a.value for a in parse_answer_records(text, source=source)}


def _escape(text: str) -> str:
    for invalid in (ch for ch in text if ord(ch) < 0x20 and ch not in "\t\n\r"):
        raise ValueError(f"character U+{ord(invalid):04X} cannot appear in XML 1.0")
    # \r is written as a reference because XML parsers turn a literal CR into LF.
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _element(name: str, text: str) -> str:
    return f"<{name}>{_escape(text)}</{name}>"


def build_answers(answers: Iterable[Answer] | Mapping[str, str | Sequence[str]]) -> str:
    """Write a ``QuestionFormAnswers`` document (what MTurk returns as Assignment.Answer).

    :param answers: :class:`Answer` records, or a mapping where a string is ``FreeText`` and
        a sequence of strings is ``SelectionIdentifier`` values.
    :raises ValueError: a value holds a character XML cannot carry (a programming error).
    """
    records: list[Answer] = []
    if isinstance(answers, Mapping):
        for question_id, value in answers.items():
            if isinstance(value, str):
                records.append(Answer(question_id, free_text=value))
            else:
                records.append(Answer(question_id, selections=tuple(value)))
    else:
        records = list(answers)
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="no"?>']
    out.append(f'<QuestionFormAnswers xmlns="{ANSWERS_NS}">')
    for answer in records:
        out.append("<Answer>")
        out.append(_element("QuestionIdentifier", answer.question_id))
        if answer.free_text is not None:
            out.append(_element("FreeText", answer.free_text))
        elif answer.uploaded_file_key is not None:
            out.append(_element("UploadedFileSizeInBytes", str(answer.uploaded_file_size or 0)))
            out.append(_element("UploadedFileKey", answer.uploaded_file_key))
        else:
            out.extend(_element("SelectionIdentifier", s) for s in answer.selections)
            if answer.other_selection_text is not None:
                out.append(_element("OtherSelectionText", answer.other_selection_text))
        out.append("</Answer>")
    out.append("</QuestionFormAnswers>")
    return "".join(out)


__all__ = [
    "ANSWERS_NS",
    "Answer",
    "AnswerKind",
    "AnswerValue",
    "build_answers",
    "parse_answer_records",
    "parse_answers",
]
