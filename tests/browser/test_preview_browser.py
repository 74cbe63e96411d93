"""The preview page in a real headless Chromium: the questions work as controls, a cell is
text, the page fits a phone, frames show HTML and external pages (loopback only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mturkmake.testing import Project
from tests.browser.conftest import CIRCLE_SVG, PHONE, screenshot

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
PROPERTIES = (
    "title:Label the picture of ${word}\n"
    "description:Look at the picture and say what it shows (${word})\n"
    "keywords:image, label\n"
    "reward:0.05\n"
    "assignments:1\n"
    "assignmentduration:1800\n"
    "hitlifetime:86400\n"
)


def form_question(image: str) -> str:
    return (
        f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
        "<Overview><Title>Label the picture</Title><Text>The company: ${word}</Text>"
        "<Binary><MimeType><Type>image</Type><SubType>svg+xml</SubType></MimeType>"
        f"<DataURL>{image}</DataURL><AltText>a brown circle</AltText></Binary></Overview>\n"
        "<Question><QuestionIdentifier>kind</QuestionIdentifier><IsRequired>true</IsRequired>"
        "<QuestionContent><Text>What does it show?</Text></QuestionContent>"
        "<AnswerSpecification><SelectionAnswer><StyleSuggestion>radiobutton</StyleSuggestion>"
        "<Selections><Selection><SelectionIdentifier>ball</SelectionIdentifier><Text>A ball"
        "</Text></Selection><Selection><SelectionIdentifier>${word}</SelectionIdentifier>"
        "<Text>${word}</Text></Selection></Selections></SelectionAnswer>"
        "</AnswerSpecification></Question>\n"
        "<Question><QuestionIdentifier>tags</QuestionIdentifier><QuestionContent><Text>Tags"
        "</Text></QuestionContent><AnswerSpecification><SelectionAnswer>"
        "<StyleSuggestion>checkbox</StyleSuggestion><Selections><Selection>"
        "<SelectionIdentifier>round</SelectionIdentifier><Text>round</Text></Selection>"
        "<Selection><SelectionIdentifier>brown</SelectionIdentifier><Text>brown</Text>"
        "</Selection></Selections></SelectionAnswer></AnswerSpecification></Question>\n"
        "<Question><QuestionIdentifier>note</QuestionIdentifier><QuestionContent><Text>"
        "Anything else?</Text></QuestionContent><AnswerSpecification><FreeTextAnswer>"
        '<Constraints><Length maxLength="200"/></Constraints><NumberOfLinesSuggestion>3'
        "</NumberOfLinesSuggestion></FreeTextAnswer></AnswerSpecification></Question>\n"
        "</QuestionForm>\n"
    )


HTML_QUESTION = (
    f'<HTMLQuestion xmlns="{NS}/2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA['
    "<!DOCTYPE html><html><body><p id='cell'>${word}</p><p id='js'>no script</p>"
    "<form method='post' action='https://www.mturk.com/mturk/externalSubmit'>"
    "<input type='hidden' name='assignmentId' value=''><input id='label' name='label'>"
    "<input type='submit'></form>"
    "<script>document.getElementById('js').textContent = 'scripts run';</script>"
    "</body></html>]]></HTMLContent><FrameHeight>300</FrameHeight></HTMLQuestion>\n"
)


def external_question(page: str) -> str:
    return (
        f'<ExternalQuestion xmlns="{NS}/2006-07-14/ExternalQuestion.xsd">'
        f"<ExternalURL>{page}/task?w=$helper.urlencode($word_raw)</ExternalURL>"
        "<FrameHeight>300</FrameHeight></ExternalQuestion>\n"
    )


def _write(project: Project, name: str, question: str, rows: list[str]) -> None:
    project.write(
        {
            f"{name}.input": "word\n" + "".join(f"{r}\n" for r in rows),
            f"{name}.question": question,
            f"{name}.properties": PROPERTIES,
        }
    )


def _by(name: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, name)


def test_preview_in_chromium(browser: Any, mturkmake_project: Project, tmp_path: Path) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n', "circle.svg": CIRCLE_SVG})
    image = project.path("circle.svg").as_uri()
    _write(project, "form", form_question(image), ["AT&T <b>", "Acme & Sons"])
    result = project.run("form.preview.html")
    assert result.exit_code == 0, result.output
    browser.get(project.path("form.preview.html").as_uri())
    css = _by("CSS_SELECTOR")
    assert browser.find_elements(_by("TAG_NAME"), "b") == []  # the cell is not markup
    articles = browser.find_elements(css, "article.mm-hit")
    assert len(articles) == 2
    assert "The company: AT&T <b>" in articles[0].text
    radios = articles[0].find_elements(css, "input[type=radio]")
    assert [r.get_attribute("value") for r in radios] == ["ball", "AT&T <b>"]
    # each HIT's controls are its own: choosing in one leaves the other alone
    radios[1].click()
    other = articles[1].find_elements(css, "input[type=radio]")
    other[0].click()
    assert radios[1].is_selected()
    assert other[0].is_selected()
    assert len(articles[0].find_elements(css, "input[type=checkbox]")) == 2
    assert articles[0].find_element(css, "textarea").get_attribute("maxlength") == "200"
    image_width = browser.execute_script(
        "return document.querySelector('article img').naturalWidth"
    )
    assert image_width == 240  # the batch's own image, by reference
    # readable on a phone: nothing wider than the window
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "the page scrolls sideways on a phone-sized window"
    assert browser.execute_script("return window.innerWidth") <= PHONE[0]
    shot = screenshot(browser, tmp_path, "preview-form.png")
    assert shot.stat().st_size > 10_000


def test_preview_frames_in_chromium(
    browser: Any, mturkmake_project: Project, page_server: str, tmp_path: Path
) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    _write(project, "page", HTML_QUESTION, ["AT&T <b>"])
    _write(project, "ext", external_question(page_server), ["AT&T <b>"])
    assert project.run("page.preview.html", "ext.preview.html").exit_code == 0
    css = _by("CSS_SELECTOR")
    browser.get(project.path("page.preview.html").as_uri())
    frame = browser.find_element(css, "iframe")
    assert "allow-same-origin" not in (frame.get_attribute("sandbox") or "")
    browser.switch_to.frame(frame)
    assert browser.find_element(_by("ID"), "cell").text == "AT&T <b>"
    assert browser.find_element(_by("ID"), "js").text == "scripts run"
    assert browser.find_element(_by("ID"), "label").is_displayed()
    browser.switch_to.default_content()
    screenshot(browser, tmp_path, "preview-html.png")
    browser.get(project.path("ext.preview.html").as_uri())
    browser.switch_to.frame(browser.find_element(css, "iframe"))
    assert browser.find_element(_by("ID"), "assignment").text == "ASSIGNMENT_ID_NOT_AVAILABLE"
    assert not browser.find_element(_by("ID"), "submitButton").is_enabled()
    assert browser.execute_script("return new URLSearchParams(location.search).get('w')") == (
        "AT&T <b>"
    )
    browser.switch_to.default_content()
    screenshot(browser, tmp_path, "preview-external.png")
