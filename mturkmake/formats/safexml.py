"""Safe XML parsing with line numbers, shared by the question, answer and answer-key readers.

Every MTurk XML document goes through :func:`parse_xml`: defusedxml with document type
declarations forbidden (so entity bombs and external entities never expand), a size limit,
and a tree builder that remembers the line where each element starts, so later checks can
say ``file:line: what is wrong — what to do``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from mturkmake.errors import FormatError

#: Question, Test and AnswerKey are each limited to 65,535 bytes (UTF-8) by the API.
MAX_XML_BYTES = 65_535

_XML_HINT = "escape '&' as '&amp;' and '<' as '&lt;', or wrap HTML in <![CDATA[…]]>"
#: Hints for expat's commonest messages; anything else gets the escaping hint.
_XML_HINTS = {
    "mismatched tag": "close every element in the order it was opened",
    "no element found": "the document ends early: close every element",
    "unclosed token": "the document ends early: close every element",
    "junk after document element": "keep a single root element",
    "undefined entity": "XML knows only &amp; &lt; &gt; &quot; &apos;: write &#160; for "
    "&nbsp;, or wrap HTML in <![CDATA[…]]>",
}


class _LineTreeBuilder(ET.TreeBuilder):
    """A tree builder that remembers the line where each element starts."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[int, int] = {}
        self.expat: Any = None

    def start(self, tag: str, attrs: dict[str, str], /) -> ET.Element:
        element = super().start(tag, attrs)
        self.lines[id(element)] = int(self.expat.CurrentLineNumber) if self.expat else 0
        return element


@dataclass(frozen=True)
class XmlDocument:
    """A parsed document: its root, its source name, and each element's starting line."""

    root: ET.Element
    source: str
    _lines: dict[int, int]

    @property
    def namespace(self) -> str:
        """The root element's namespace URI ('' when it has none)."""
        return self.root.tag[1:].split("}", 1)[0] if self.root.tag.startswith("{") else ""

    def line(self, element: ET.Element) -> int:
        """The 1-based line where ``element`` starts."""
        return self._lines.get(id(element), 1)

    def error(self, element: ET.Element, message: str, hint: str) -> FormatError:
        """A :class:`FormatError` at ``element``'s line."""
        return FormatError(message, file=self.source, line=self.line(element), hint=hint)


def parse_xml(text: str, *, source: str, max_bytes: int | None = MAX_XML_BYTES) -> XmlDocument:
    """Parse ``text`` with defusedxml (no DTD, no entities), or raise :class:`FormatError`.

    :param max_bytes: the API's size limit for the document kind (``None``: no limit).
    """
    if not text.strip():
        raise FormatError("the file is empty", file=source, line=1, hint="write the XML document")
    size = len(text.encode("utf-8")) if max_bytes is not None else 0
    if max_bytes is not None and size > max_bytes:
        raise FormatError(
            f"the XML is {size:,} bytes; MTurk accepts at most {max_bytes:,}",
            file=source,
            line=1,
            hint="shorten it, e.g. move long instructions or images to a web page",
        )
    # Imported here: a no-op run must not import defusedxml (DESIGN §9).
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    builder = _LineTreeBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.expat = parser.parser
    try:
        parser.feed(text.removeprefix("\ufeff"))
        root = parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        message = str(exc).split(": line ")[0]
        raise FormatError(
            f"not well-formed XML: {message}",
            file=source,
            line=line,
            column=column + 1,
            hint=_XML_HINTS.get(message, _XML_HINT),
        ) from None
    except DefusedXmlException:
        raise FormatError(
            "a <!DOCTYPE …> declaration is not allowed (it can hide entity bombs or read files)",
            file=source,
            line=int(parser.parser.CurrentLineNumber),
            hint="remove the DOCTYPE and any entity declarations; MTurk XML needs neither",
        ) from None
    return XmlDocument(root, source, builder.lines)


def local_name(element: ET.Element) -> str:
    """The tag without its ``{namespace}``."""
    return element.tag.rsplit("}", 1)[-1]


def children(element: ET.Element, name: str | None = None) -> list[ET.Element]:
    """Direct children, optionally only those with local name ``name`` (any namespace)."""
    return [c for c in element if name is None or local_name(c) == name]


def child(element: ET.Element, name: str) -> ET.Element | None:
    """The first direct child named ``name``, if any."""
    found = children(element, name)
    return found[0] if found else None


def child_text(element: ET.Element, name: str) -> str | None:
    """The stripped text of the first child ``name`` (``''`` when empty), ``None`` if absent."""
    found = child(element, name)
    return None if found is None else (found.text or "").strip()


def required_text(doc: XmlDocument, element: ET.Element, name: str) -> str:
    """The text of child ``name``; a missing or empty child is a :class:`FormatError`."""
    text = child_text(element, name)
    if not text:
        raise doc.error(
            element,
            f"<{local_name(element)}> needs a non-empty <{name}>",
            f"add <{name}>…</{name}> inside <{local_name(element)}>",
        )
    return text


def int_text(doc: XmlDocument, element: ET.Element, name: str, *, minimum: int = 0) -> int | None:
    """The integer in child ``name`` (``None`` if absent), at least ``minimum``."""
    found = child(element, name)
    if found is None:
        return None
    return _to_int(doc, found, (found.text or "").strip(), f"<{name}>", minimum)


def _to_int(doc: XmlDocument, at: ET.Element, text: str, what: str, minimum: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise doc.error(
            at, f"{what} must be a whole number, not '{text}'", "write digits only"
        ) from None
    if minimum is not None and value < minimum:
        raise doc.error(at, f"{what} must be at least {minimum}, not {value}", "raise the value")
    return value


def attr_int(doc: XmlDocument, element: ET.Element, name: str, minimum: int | None) -> int | None:
    """The integer attribute ``name`` of ``element`` (``None`` if absent)."""
    text = element.get(name)
    if text is None:
        return None
    return _to_int(doc, element, text.strip(), f"{local_name(element)}/@{name}", minimum)


__all__ = [
    "MAX_XML_BYTES",
    "XmlDocument",
    "attr_int",
    "child",
    "child_text",
    "children",
    "int_text",
    "local_name",
    "parse_xml",
    "required_text",
]
