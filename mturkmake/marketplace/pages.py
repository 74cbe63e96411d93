"""ExternalQuestion pages for the simulated crowd, read without touching the network.

A page is read from, in order: ``local.external_pages`` (a URL mapped to a file, relative to
the project root), a ``file:`` URL, or an ``http(s)`` URL on a loopback address (``localhost``,
``127.0.0.0/8``, ``::1``) — with proxies ignored and redirects refused, so nothing leaves the
machine. Any other host is never contacted — unless the requester sets
``local.fetch_external_pages = true`` to rehearse their own remote task page: then an
``https://`` page is fetched with ``requests`` (redirects refused, 5 s timeout, 2 MB at most).
Otherwise the crowd answers ``local.external_fields``.
Pages are read once per marketplace object and cached (the workers of a batch share them).
"""

from __future__ import annotations

import ipaddress
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from mturkmake.formats.html_form import HTMLField, html_fields

TIMEOUT = 5.0  # seconds; a loopback test server answers at once
MAX_PAGE_BYTES = 2_000_000


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine without a DNS lookup."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost: never resolved, never contacted


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A loopback page must not send the crowd elsewhere."""

    def redirect_request(  # noqa: PLR0917 - urllib's signature
        self, req: Any, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class PageReader:
    """Reads and caches ExternalQuestion pages' form fields.

    :param pages: ``local.external_pages``: URL (with or without its query) → file path.
    :param base: the directory relative page paths start from (the project root).
    """

    def __init__(
        self,
        pages: Mapping[str, str] | None = None,
        base: Path | None = None,
        *,
        fetch_remote: bool = False,
    ) -> None:
        self.pages = dict(pages or {})
        self.base = base or Path.cwd()
        self.fetch_remote = fetch_remote
        self._cache: dict[str, tuple[HTMLField, ...] | None] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str) -> tuple[HTMLField, ...] | None:
        """The page's fields, or None when it cannot (or may not) be read."""
        with self._lock:
            if url in self._cache:
                return self._cache[url]
        html = self.read(url)
        fields = html_fields(html) if html is not None else None
        with self._lock:
            self._cache[url] = fields
        return fields

    def read(self, url: str) -> str | None:
        """The page's HTML, or None (unknown host, missing file, error)."""
        mapped = self.pages.get(url) or self.pages.get(url.split("?", 1)[0])
        if mapped is not None:
            return _read_file(self.base / mapped)
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "file":
            return _read_file(Path(urllib.request.url2pathname(parts.path)))
        if scheme in ("http", "https") and is_loopback(parts.hostname):
            try:
                with _OPENER.open(url, timeout=TIMEOUT) as response:
                    if response.status != 200:
                        return None
                    body: bytes = response.read(MAX_PAGE_BYTES)
                    charset = response.headers.get_content_charset() or "utf-8"
                    return body.decode(charset, errors="replace")
            except (urllib.error.URLError, OSError, ValueError):
                return None
        if scheme == "https" and self.fetch_remote:
            return _fetch_remote(url)
        return None


def _fetch_remote(url: str) -> str | None:
    """The requester's own remote task page (``local.fetch_external_pages``), or None."""
    import requests

    try:
        response = requests.get(url, timeout=TIMEOUT, allow_redirects=False, stream=True)
        if response.status_code != 200:
            return None
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_PAGE_BYTES:
                break
    except (requests.RequestException, OSError, ValueError):
        return None
    return b"".join(chunks)[:MAX_PAGE_BYTES].decode(response.encoding or "utf-8", errors="replace")


def _read_file(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
