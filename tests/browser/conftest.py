"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) through selenium,
able to reach loopback only.

The tests skip with a reason when selenium, chromium or chromedriver is missing, unless
``MTURKMAKE_REQUIRE_BROWSER=1``: then they fail. Nothing but 127.0.0.1 can be reached: every
other host name resolves to nothing, and any other request goes to a proxy that is not there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = ("/usr/bin/chromium", "chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
#: A phone-sized viewport (CSS pixels): MTurk's workers use these pages on phones too.
PHONE = (390, 844)
# Read once at import: the project fixtures clear every MTURKMAKE_* variable for the test.
REQUIRE_BROWSER = os.environ.get("MTURKMAKE_REQUIRE_BROWSER") == "1"
SCREENSHOTS = os.environ.get("MTURKMAKE_SCREENSHOTS")


def _missing(reason: str) -> NoReturn:
    if REQUIRE_BROWSER:
        pytest.fail(f"MTURKMAKE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _find(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        found = candidate if Path(candidate).is_file() else shutil.which(candidate)
        if found and os.access(found, os.X_OK):
            return found
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium WebDriver in a phone-sized window, loopback only."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the browser tests need selenium (pip install selenium)")
    chromium = _find(CHROMIUM)
    driver_path = _find(CHROMEDRIVER)
    if chromium is None:
        _missing("the browser tests need chromium (apt-get install chromium)")
    if driver_path is None:
        _missing("the browser tests need chromedriver (apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # containers run as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=600,900",  # headless windows are at least 500 wide: see PHONE below
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        # only loopback: other names resolve to nothing, other requests meet a dead proxy
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--allow-file-access-from-files",
    ):
        options.add_argument(argument)
    service = Service(executable_path=driver_path, log_output=str(tmp_path / "chromedriver.log"))
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except Exception as exc:  # any start-up failure means "no usable browser"
        _missing(f"the browser did not start: {str(exc).splitlines()[0]}")
    driver.set_page_load_timeout(30)
    # A phone's viewport, as the browser's device emulation gives it (a window cannot be
    # made that narrow).
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        yield driver
    finally:
        driver.quit()


#: A requester's external page, written as MTurk's docs show: it reads ``assignmentId`` and
#: ``turkSubmitTo`` from its URL, posts to ``turkSubmitTo + /mturk/externalSubmit``, and
#: disables its button while the worker only previews.
EXTERNAL_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<p id="assignment"></p>
<form id="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">
<input type="hidden" id="assignmentId" name="assignmentId" value="">
<label>Rating <input id="rating" name="rating" type="text"></label>
<label><input type="checkbox" name="tags" value="warm"> warm</label>
<label><input type="checkbox" name="tags" value="cosy"> cosy</label>
<input id="submitButton" type="submit" value="Submit"></form>
<script>
var p = new URLSearchParams(location.search);
document.getElementById('assignment').textContent = p.get('assignmentId');
document.getElementById('assignmentId').value = p.get('assignmentId');
if (p.get('turkSubmitTo')) {
  document.getElementById('mturk_form').action = p.get('turkSubmitTo') + '/mturk/externalSubmit';
}
if (p.get('assignmentId') == 'ASSIGNMENT_ID_NOT_AVAILABLE') {
  document.getElementById('submitButton').disabled = true;
}
</script></body></html>"""


#: The batch's image (240×120), served at ``/circle.svg``.
CIRCLE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="120"><rect width="240" '
    'height="120" fill="#e8b04a"/><circle cx="60" cy="60" r="40" fill="#7a4b12"/></svg>'
)


@pytest.fixture
def page_server() -> Iterator[str]:
    """A requester's server on 127.0.0.1 serving :data:`EXTERNAL_PAGE` at ``/task`` and
    :data:`CIRCLE_SVG` at ``/circle.svg``; yields its base URL."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/task"):
                body, kind = EXTERNAL_PAGE.encode("utf-8"), "text/html; charset=utf-8"
            elif self.path == "/circle.svg":
                body, kind = CIRCLE_SVG.encode("utf-8"), "image/svg+xml"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    """Save a full-page screenshot to ``tmp_path`` (and to ``$MTURKMAKE_SCREENSHOTS`` when
    set, to look at it)."""
    import base64

    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path = tmp_path / name
    path.write_bytes(base64.b64decode(shot["data"]))
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SCREENSHOTS) / name)
    return path
