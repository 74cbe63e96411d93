"""The report and the review page in a real headless Chromium, end to end: a 30-assignment
batch with a planted careless worker; the report puts that worker first with the proposed
rejections; on the review page the reviewer rejects one assignment with feedback and approves
another from the keyboard; the server is killed; ``pets.review`` holds exactly those two
decisions, and ``pets.approved`` sends them plus the evaluators' verdicts for the rest, once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mturkmake.testing import Project
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_report_browser import _no_dialog
from tests.plugins.test_approved_rule import approved_rows, assignments, calls
from tests.plugins.test_review_page import (
    HOSTILE_NOTE,
    PLANTED,
    labelling_batch,
    review_marks,
    review_server,
)

REASON = "The label does not match the picture."


def _state(browser: Any, card: Any, state: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda _: card.get_attribute("data-state") == state)


def test_review_in_a_browser_then_pay_exactly_once(
    mturkmake_project: Project, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    project = mturkmake_project
    labelling_batch(project)
    results = project.table("pets.results")
    planted = {r["assignmentid"] for r in results if r["workerid"] == PLANTED}

    # first the report: the planted worker agrees least, and their work would be rejected
    assert project.run("pets.report.html").exit_code == 0
    browser.get(project.path("pets.report.html").as_uri())
    _no_dialog(browser)
    first = browser.find_element(By.CSS_SELECTOR, "#mm-workers tr[data-worker]")
    assert first.get_attribute("data-worker") == PLANTED
    rejection = browser.find_element(By.CSS_SELECTOR, "#mm-combined tr[data-decision]")
    assert rejection.get_attribute("data-decision") == "reject"
    assert (
        set(rejection.find_element(By.CSS_SELECTOR, ".mm-ids").get_attribute("textContent").split())
        == planted
    )
    assert HOSTILE_NOTE in browser.find_element(By.TAG_NAME, "body").text

    with review_server(project) as server:
        browser.get(server.url)
        _no_dialog(browser)
        body = browser.find_element(By.TAG_NAME, "body").text
        assert HOSTILE_NOTE in body, "the worker's note is shown as the text it is"
        assert "A cat" in body or "A dog" in body, "selections show their text"
        # it fits a phone (long ids wrap), so taps land where they are aimed
        assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
        cards = browser.find_elements(By.CSS_SELECTOR, "article.mm-review")
        assert len(cards) == 30
        ids = [c.get_attribute("data-assignment") for c in cards]
        assert set(ids[:10]) == planted, "the proposed rejections come first"
        assert "reject by answer-key" in cards[0].text

        # reject an honest worker's assignment: the feedback box is required first
        victim, keeper = cards[10], cards[11]
        victim.find_element(By.CSS_SELECTOR, "button[data-decision=reject]").click()
        message = victim.find_element(By.CSS_SELECTOR, ".mm-msg")
        assert "needs feedback" in message.text
        assert review_marks(project)[ids[10]] == ("pending", "")
        victim.find_element(By.TAG_NAME, "textarea").send_keys(REASON, Keys.ESCAPE)
        victim.find_element(By.CSS_SELECTOR, "button[data-decision=reject]").click()
        _state(browser, victim, "reject")
        assert "saved to pets.review" in victim.text

        # the next card is current now: approve it from the keyboard
        assert "mm-current" in (keeper.get_attribute("class") or "")
        browser.find_element(By.TAG_NAME, "body").send_keys("a")
        _state(browser, keeper, "approve")
        assert browser.find_element(By.ID, "mm-count-pending").text == "28"
        # j/k move between cards without deciding anything
        browser.find_element(By.TAG_NAME, "body").send_keys("k")
        assert "mm-current" in (keeper.get_attribute("class") or "")
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        screenshot(browser, tmp_path, "review.png")

        server.process.kill()  # mid-session, without a chance to save anything more
        server.process.wait(timeout=10)

    marks = review_marks(project)
    decided = {a: m for a, m in marks.items() if m[0] != "pending"}
    assert decided == {ids[10]: ("y", REASON), ids[11]: ("", "")}
    assert len(marks) == 30
    assert calls(project) == Counter(), "nothing was sent while reviewing"

    result = project.run("pets.approved")
    assert result.exit_code == 0, result.output
    log = calls(project)
    assert sum(log.values()) == 30
    assert set(log.values()) == {1}
    rejected = {a for op, a in log if op == "RejectAssignment"}
    assert rejected == planted | {ids[10]}
    rows = {r["assignmentid"]: r for r in approved_rows(project.path("pets.approved"))}
    assert rows[ids[10]]["feedback"] == REASON
    assert rows[ids[10]]["evaluator"] == "reject-column"
    assert rows[ids[11]]["decision"] == "approved"
    assert {rows[a]["evaluator"] for a in planted} == {"answer-key"}
    assert assignments(project)[ids[10]]["RequesterFeedback"] == REASON
    again = project.run("pets.approved")
    assert again.exit_code == 0, again.output
    assert calls(project) == log
