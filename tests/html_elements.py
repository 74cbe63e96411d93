"""Read an HTML page with the standard library's parser: its elements and its visible text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Element:
    """A start tag and its attributes (``None`` values become ``""``)."""

    tag: str
    attrs: dict[str, str]


@dataclass
class Page:
    """Every start tag in document order, the text outside ``<style>``, and style blocks."""

    elements: list[Element] = field(default_factory=list)
    text: str = ""
    styles: list[str] = field(default_factory=list)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        """The elements with this tag whose attributes include ``attrs``."""
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._in_style = False
        self._texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.elements.append(Element(tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.page.styles.append(data)
        else:
            self._texts.append(data)


def read_page(text: str) -> Page:
    """Parse ``text`` with :class:`html.parser.HTMLParser`."""
    reader = _Reader()
    reader.feed(text)
    reader.close()
    reader.page.text = "".join(reader._texts)
    return reader.page


def own_remote_assets(page: Page) -> list[str]:
    """Scripts, stylesheets and fonts the page loads from elsewhere (should be none)."""
    found = [f"script {e.attrs['src']}" for e in page.find("script") if e.attrs.get("src")]
    found += [
        f"link {e.attrs.get('href')}"
        for e in page.find("link")
        if "stylesheet" in e.attrs.get("rel", "") or "preload" in e.attrs.get("rel", "")
    ]
    for style in page.styles:
        for marker in ("@import", "@font-face", "url("):
            if marker in style:
                found.append(f"style {marker}")
    return found
