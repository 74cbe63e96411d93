"""The batch report in a real headless Chromium: the careless worker first, the proposed
rejections, a worker's markup shown as text (no dialog), nothing loaded from anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mturkmake.testing import Project
from tests.browser.conftest import PHONE, screenshot
from tests.plugins.test_review_page import HOSTILE_NOTE, PLANTED, labelling_batch


def _no_dialog(browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = browser.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a dialog opened: {text!r}")


def test_the_report_in_a_browser(mturkmake_project: Project, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    project = mturkmake_project
    labelling_batch(project)
    result = project.run("pets.report.html")
    assert result.exit_code == 0, result.output
    browser.get(project.path("pets.report.html").as_uri())
    _no_dialog(browser)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert HOSTILE_NOTE in body, "the worker's note is shown as the text it is"
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    # the least agreeing worker comes first, with the rejections proposed for their work
    first = browser.find_element(By.CSS_SELECTOR, "#mm-workers tr[data-worker]")
    assert first.get_attribute("data-worker") == PLANTED
    assert "0%" in first.text
    assert first.text.split()[-1] == "10"
    rejection = browser.find_element(By.CSS_SELECTOR, "#mm-combined tr[data-decision]")
    assert rejection.get_attribute("data-decision") == "reject"
    assert PLANTED in rejection.text
    assert "known answers" in rejection.text
    assert browser.find_element(By.ID, "mm-rejections").text == "10"
    # it fits a phone: only the wide tables scroll, inside their own boxes
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    screenshot(browser, tmp_path, "report.png")
