"""The requester's FormattedContent, made safe to show: an allow-list of tags and attributes.

MTurk accepts a restricted XHTML subset in ``<FormattedContent>``; what a worker sees must never
run a script, load a frame, post a form or escape its place on the page. The allow-list keeps
text formatting, lists, tables, links and images (with ``http``/``https``/``ftp``/``mailto``/
``file`` URLs only), escapes all text with :func:`html.escape`, and keeps the nesting balanced.
Pure: the standard library's HTML parser only.
"""

from __future__ import annotations

import html
import urllib.parse
from html.parser import HTMLParser

_SAFE_SCHEMES = frozenset({"", "http", "https", "ftp", "mailto", "file"})


def esc(value: object) -> str:
    """``value`` as HTML text or attribute value (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def safe_url(url: str) -> str | None:
    """``url`` when its scheme may be linked or loaded (never ``javascript:``), else None."""
    text = url.strip()
    try:
        scheme = urllib.parse.urlsplit(text).scheme.lower()
    except ValueError:
        return None
    return text if scheme in _SAFE_SCHEMES else None


# ------------------------------------------------------------------------------------------
# Formatted content: the requester's XHTML, through an allow-list
# ------------------------------------------------------------------------------------------

_TAG_WORDS = (
    "a abbr address b big blockquote br caption center cite code col colgroup dd del dfn "
    "div dl dt em font h1 h2 h3 h4 h5 h6 hr i img ins kbd li ol p pre q s samp small span "
    "strike strong sub sup table tbody td tfoot th thead tr tt u ul var"
)
_ALLOWED_TAGS = frozenset(_TAG_WORDS.split())
_VOID_TAGS = frozenset({"br", "col", "hr", "img"})
#: Elements dropped with everything inside them.
_DROPPED = frozenset(
    {"script", "style", "iframe", "object", "embed", "applet", "form", "textarea", "select"}
    | {"title", "head", "noscript", "template", "svg", "math"}
)
_ATTR_WORDS = (
    "abbr align alt bgcolor border cellpadding cellspacing color colspan dir face headers "
    "height href hspace lang rowspan scope size span src start summary title type valign "
    "vspace width"
)
_ALLOWED_ATTRS = frozenset(_ATTR_WORDS.split())


class _Sanitizer(HTMLParser):
    """Re-emits allowed tags and attributes, escapes all text, keeps the nesting balanced
    (a stray ``</div>`` cannot close the page's own elements)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping:
            if tag == self.dropping[-1] and tag not in _VOID_TAGS:
                self.dropping.append(tag)
            return
        if tag in _DROPPED:
            self.dropping.append(tag)
            return
        if tag not in _ALLOWED_TAGS:
            return
        kept: list[str] = []
        for name, value in attrs:
            if name not in _ALLOWED_ATTRS or value is None:
                continue
            shown = safe_url(value) if name in ("href", "src") else value
            if shown is not None:
                kept.append(f' {name}="{esc(shown)}"')
        if tag == "a":
            kept.append(' target="_blank" rel="noopener noreferrer"')
        self.out.append(f"<{tag}{''.join(kept)}>")
        if tag not in _VOID_TAGS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS and self.open and self.open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag == self.dropping[-1]:
                self.dropping.pop()
            return
        if tag not in self.open:
            return
        while self.open:
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def sanitize_html(fragment: str) -> str:
    """The requester's FormattedContent, keeping only harmless markup (no scripts, frames,
    forms, styles or event handlers; links and images with safe URLs only)."""
    sanitizer = _Sanitizer()
    sanitizer.feed(fragment)
    return sanitizer.result()


__all__ = ["esc", "safe_url", "sanitize_html"]
