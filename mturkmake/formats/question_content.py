"""The content blocks of a QuestionForm: what a worker reads in an Overview, a QuestionContent
or a Selection — titles, texts, lists, binaries (images, audio, video, links), applications
and formatted (XHTML) content, in document order.

:mod:`mturkmake.formats.question` keeps these next to each question's plain text so the
preview, the worker site and the review page (:mod:`mturkmake.formats.question_html`) can show
the question as MTurk's worker site does. Pure: the elements come from the question parser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from mturkmake.formats.safexml import child, child_text, children, local_name

BlockKind = Literal["title", "text", "list", "binary", "application", "formatted"]


@dataclass(frozen=True)
class ContentBlock:
    """One block of question content.

    :param kind: ``title``, ``text``, ``list`` (``items``), ``binary`` (``url``, MIME type,
        ``text`` is the AltText), ``application`` (a Java applet or Flash movie: ``url``) or
        ``formatted`` (``text`` is the requester's XHTML, to be sanitised before display).
    """

    kind: BlockKind
    text: str = ""
    items: tuple[str, ...] = ()
    url: str = ""
    mime_type: str = ""
    mime_subtype: str = ""
    width: str = ""
    height: str = ""


@dataclass(frozen=True)
class Overview:
    """An ``<Overview>`` between questions: content only, no answer."""

    content: tuple[ContentBlock, ...]


def _text(element: ET.Element) -> str:
    return "".join(element.itertext()).strip()


def _mime(element: ET.Element | None) -> tuple[str, str]:
    if element is None:
        return "", ""
    return (child_text(element, "Type") or "").strip(), (
        child_text(element, "SubType") or ""
    ).strip()


def _binary(node: ET.Element, mime_name: str) -> ContentBlock:
    kind, subtype = _mime(child(node, mime_name))
    return ContentBlock(
        "binary",
        text=(child_text(node, "AltText") or "").strip(),
        url=(child_text(node, "DataURL") or "").strip(),
        mime_type=kind.lower(),
        mime_subtype=subtype.lower(),
        width=(child_text(node, "Width") or "").strip(),
        height=(child_text(node, "Height") or "").strip(),
    )


def _application(node: ET.Element) -> ContentBlock:
    for app in children(node):
        name = local_name(app)
        if name == "JavaApplet":
            path = (child_text(app, "AppletPath") or "").strip()
            file = (child_text(app, "AppletFilename") or "").strip()
            url = path + ("" if path.endswith("/") or not path else "/") + file
        else:  # Flash
            url = (child_text(app, "FlashMovieURL") or "").strip()
        return ContentBlock(
            "application",
            text=name,
            url=url,
            width=(child_text(app, "Width") or "").strip(),
            height=(child_text(app, "Height") or "").strip(),
        )
    return ContentBlock("application")


def content_blocks(element: ET.Element) -> tuple[ContentBlock, ...]:
    """The blocks of a content element (Overview, QuestionContent, Selection), in order.

    Elements that are not content (``SelectionIdentifier``…) are skipped.
    """
    blocks: list[ContentBlock] = []
    for node in children(element):
        name = local_name(node)
        if name == "Title":
            blocks.append(ContentBlock("title", _text(node)))
        elif name == "Text":
            blocks.append(ContentBlock("text", _text(node)))
        elif name == "List":
            blocks.append(
                ContentBlock("list", items=tuple(_text(i) for i in children(node, "ListItem")))
            )
        elif name == "Binary":
            blocks.append(_binary(node, "MimeType"))
        elif name == "EmbeddedBinary":
            blocks.append(_binary(node, "EmbeddedMimeType"))
        elif name == "Application":
            blocks.append(_application(node))
        elif name == "FormattedContent":
            blocks.append(ContentBlock("formatted", node.text or ""))
    return tuple(blocks)


__all__ = ["BlockKind", "ContentBlock", "Overview", "content_blocks"]
