"""What the worker site reads from and changes in pages: posted bodies (urlencoded or
multipart, with uploaded files) and an HTMLQuestion's forms, pointed at the local
``/mturk/externalSubmit`` (:mod:`mturkmake.marketplace.worker_site`)."""

from __future__ import annotations

import email.parser
import email.policy
import urllib.parse
from collections.abc import Mapping
from html.parser import HTMLParser

from mturkmake.formats.html_sanitize import esc

#: Where MTurk's HTML and external pages post their answers (after ``turkSubmitTo``).
SUBMIT_PATH = "/mturk/externalSubmit"


def parse_body(
    headers: Mapping[str, str], body: bytes
) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    """The posted fields (urlencoded or multipart) and any uploaded files' contents."""
    lower = {k.lower(): v for k, v in headers.items()}
    ctype = lower.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body
        )
        fields: dict[str, list[str]] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename() is not None:
                if data:
                    files[str(name)] = data
            else:
                fields.setdefault(str(name), []).append(data.decode("utf-8", "replace"))
        return fields, files
    text = body.decode("utf-8", "replace")
    return urllib.parse.parse_qs(text, keep_blank_values=True), {}


class _FormRewriter(HTMLParser):
    """Finds the start tags to change: forms posting to ``…/mturk/externalSubmit`` and the
    ``assignmentId`` field, with their places in the text."""

    def __init__(self, submit_to: str, assignment_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.submit_to = submit_to
        self.assignment_id = assignment_id
        self.edits: list[tuple[tuple[int, int], str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        changed = False
        if tag == "form":
            action = values.get("action") or ""
            if urllib.parse.urlsplit(action).path.endswith(SUBMIT_PATH):
                values["action"], changed = self.submit_to, True
        elif tag == "input" and values.get("name") == "assignmentId":
            values["value"], changed = self.assignment_id, True
        original = self.get_starttag_text()
        if changed and original is not None:
            rebuilt = "".join(
                f" {k}" if v is None else f' {k}="{esc(v)}"' for k, v in values.items()
            )
            closing = "/>" if original.rstrip().endswith("/>") else ">"
            self.edits.append((self.getpos(), original, f"<{tag}{rebuilt}{closing}"))

    handle_startendtag = handle_starttag


def point_forms_here(text: str, submit_to: str, assignment_id: str) -> str:
    """``text`` with forms posting to MTurk's ``/mturk/externalSubmit`` posting to
    ``submit_to`` instead, and ``assignmentId`` fields filled in (for pages whose script
    would have done it with MTurk's remote helper)."""
    finder = _FormRewriter(submit_to, assignment_id)
    finder.feed(text)
    finder.close()
    # HTMLParser counts lines by "\n" only
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    out: list[str] = []
    done = 0
    for (line, column), original, new in finder.edits:
        at = starts[line - 1] + column
        if text[at : at + len(original)] != original:
            continue  # the parser's position did not match the text: leave it alone
        out += [text[done:at], new]
        done = at + len(original)
    out.append(text[done:])
    return "".join(out)


__all__ = ["SUBMIT_PATH", "parse_body", "point_forms_here"]
