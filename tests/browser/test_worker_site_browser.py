"""The local worker site in a real headless Chromium: a person accepts a QuestionForm HIT, an
HTMLQuestion HIT and an ExternalQuestion HIT (a loopback page), does and submits each, and
``getResults`` lists exactly those answers under ``Answer.*``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from mturkmake.marketplace.server import MarketplaceServer
from mturkmake.marketplace.service import Marketplace
from mturkmake.testing import Project
from tests.browser.conftest import screenshot
from tests.browser.test_preview_browser import (
    HTML_QUESTION,
    PROPERTIES,
    external_question,
    form_question,
)

NOTE = "AT&T <b> & more"
#: Readable on a phone: nothing wider than the (phone-sized) viewport.
NO_SIDEWAYS = "return document.documentElement.scrollWidth <= window.innerWidth"


def _by(name: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, name)


def _results(project: Project, name: str) -> dict[str, str]:
    with project.path(f"{name}.results").open(encoding="utf-8", newline="") as stream:
        (row,) = list(csv.DictReader(stream, delimiter="\t"))
    return {k: v for k, v in row.items() if k.startswith("Answer.")}


def _open_hit(browser: Any, base: str, title: str) -> None:
    browser.get(f"{base}/worker/")
    browser.find_element(_by("LINK_TEXT"), title).click()
    browser.find_element(_by("ID"), "accept").click()
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    # the click posts a form; the work page follows its redirect
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("/worker/assignments/"))
    _wait_for(browser, "return")


def _wait_for(browser: Any, element_id: str) -> Any:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 10).until(
        expected_conditions.presence_of_element_located((_by("ID"), element_id))
    )


def test_a_person_does_three_hits(
    browser: Any, mturkmake_project: Project, page_server: str, tmp_path: Path
) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    questions = {
        "form": form_question(f"{page_server}/circle.svg"),
        "page": HTML_QUESTION,
        "ext": external_question(page_server),
    }
    words = {"form": "cat", "page": "dog", "ext": "fox"}
    for name, question in questions.items():
        project.write(
            {
                f"{name}.input": f"word\n{words[name]}\n",
                f"{name}.question": question,
                f"{name}.properties": PROPERTIES,
            }
        )
    made = project.run("form.success", "page.success", "ext.success")
    assert made.exit_code == 0, made.output
    css, by_id = _by("CSS_SELECTOR"), _by("ID")
    marketplace = Marketplace(project.root / ".mturkmake" / "local-marketplace.db")
    with MarketplaceServer(marketplace, "127.0.0.1", 0) as server:
        base = server.url
        browser.get(f"{base}/worker/")
        assert len(browser.find_elements(css, "table.mm-list tbody tr")) == 3
        assert browser.execute_script(NO_SIDEWAYS), "the HIT list scrolls sideways"
        screenshot(browser, tmp_path, "worker-list.png")

        # A QuestionForm HIT: the site's own form
        _open_hit(browser, base, "Label the picture of cat")
        browser.find_element(css, "input[type=radio][value=ball]").click()
        for tag in ("round", "brown"):
            browser.find_element(css, f"input[type=checkbox][value={tag}]").click()
        browser.find_element(css, "textarea[name=note]").send_keys(NOTE)
        width = browser.execute_script("return document.querySelector('article img').naturalWidth")
        assert width == 240  # the batch's image, from where the requester put it
        assert browser.execute_script(NO_SIDEWAYS), "the work page scrolls sideways"
        screenshot(browser, tmp_path, "worker-form.png")
        browser.find_element(by_id, "submit").click()
        assert "was submitted" in _wait_for(browser, "submitted").text

        # An HTMLQuestion HIT: its page in a sandboxed frame, posting to /mturk/externalSubmit
        _open_hit(browser, base, "Label the picture of dog")
        frame = browser.find_element(css, "iframe")
        assert "allow-same-origin" not in (frame.get_attribute("sandbox") or "")
        browser.switch_to.frame(frame)
        assert browser.find_element(by_id, "js").text == "scripts run"
        browser.find_element(by_id, "label").send_keys("a sleepy dog")
        browser.find_element(css, "input[type=submit]").click()
        assert "was submitted" in _wait_for(browser, "submitted").text
        browser.switch_to.default_content()

        # An ExternalQuestion HIT: the requester's loopback page, given turkSubmitTo
        _open_hit(browser, base, "Label the picture of fox")
        accepted = browser.current_url.rsplit("/", 1)[1]
        browser.switch_to.frame(browser.find_element(css, "iframe"))
        assert browser.find_element(by_id, "assignment").text == accepted
        browser.find_element(by_id, "rating").send_keys("5")
        for tag in ("warm", "cosy"):
            browser.find_element(css, f"input[type=checkbox][value={tag}]").click()
        browser.find_element(by_id, "submitButton").click()
        assert "was submitted" in _wait_for(browser, "submitted").text
        browser.switch_to.default_content()

        browser.get(f"{base}/worker/")
        assert browser.find_elements(css, "table.mm-list tbody tr") == []
        screenshot(browser, tmp_path, "worker-done.png")

    fetched = project.run("form.results", "page.results", "ext.results")
    assert fetched.exit_code == 0, fetched.output
    assert _results(project, "form") == {
        "Answer.kind": "ball",
        "Answer.tags": "round|brown",
        "Answer.note": NOTE,
    }
    assert _results(project, "page") == {"Answer.label": "a sleepy dog"}
    assert _results(project, "ext") == {"Answer.rating": "5", "Answer.tags": "warm|cosy"}
