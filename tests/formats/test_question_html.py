"""The question → HTML renderer: every question type as a worker sees it, escaped right, and
posted fields back to MTurk's answers (mturkmake.formats.question_html)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.formats.answers import build_answers, parse_answer_records
from mturkmake.formats.question import (
    ExternalQuestion,
    HTMLQuestion,
    QuestionForm,
    load_question,
    parse_question,
)
from mturkmake.formats.question_html import (
    OTHER_CHOICE,
    OTHER_SUFFIX,
    FrameParams,
    form_answers,
    frame_url,
    hit_header,
    page,
    render_question,
    render_question_form,
    sanitize_html,
)
from tests.html_elements import own_remote_assets, read_page
from tests.reference import ABSENT, REFERENCE

QF = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd"
HQ = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
EQ = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/"
    "ExternalQuestion.xsd"
)
#: What a cell holding ``AT&T <b>`` becomes in XML after the template's escaping.
NASTY_XML = "AT&amp;T &lt;b&gt;"
NASTY = "AT&T <b>"


def form(body: str) -> QuestionForm:
    parsed = parse_question(f'<QuestionForm xmlns="{QF}">{body}</QuestionForm>', source="t")
    assert isinstance(parsed, QuestionForm)
    return parsed


def selection_question(qid: str, style: str | None, *, other: bool = False, n: int = 3) -> str:
    choices = "".join(
        f"<Selection><SelectionIdentifier>c{i}</SelectionIdentifier><Text>Choice {i}</Text>"
        "</Selection>"
        for i in range(n)
    )
    if other:
        choices += "<OtherSelection/>"
    styled = f"<StyleSuggestion>{style}</StyleSuggestion>" if style else ""
    counts = (
        "<MinSelectionCount>1</MinSelectionCount><MaxSelectionCount>2</MaxSelectionCount>"
        if style in ("checkbox", "multichooser")
        else ""
    )
    return (
        f"<Question><QuestionIdentifier>{qid}</QuestionIdentifier><IsRequired>true"
        "</IsRequired><QuestionContent><Text>Pick</Text></QuestionContent><AnswerSpecification>"
        f"<SelectionAnswer>{counts}{styled}<Selections>{choices}</Selections></SelectionAnswer>"
        "</AnswerSpecification></Question>"
    )


def free_text_question(qid: str, constraints: str = "", lines: int | None = None) -> str:
    extra = f"<NumberOfLinesSuggestion>{lines}</NumberOfLinesSuggestion>" if lines else ""
    return (
        f"<Question><QuestionIdentifier>{qid}</QuestionIdentifier><QuestionContent>"
        f"<Text>Say</Text></QuestionContent><AnswerSpecification><FreeTextAnswer>"
        f"{constraints}{extra}</FreeTextAnswer></AnswerSpecification></Question>"
    )


# ------------------------------------------------------------------------------------------
# QuestionForm controls
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "tag", "kind"),
    [
        ("radiobutton", "input", "radio"),
        (None, "input", "radio"),
        ("checkbox", "input", "checkbox"),
        ("list", "option", None),
        ("dropdown", "option", None),
        ("combobox", "option", None),
        ("multichooser", "option", None),
    ],
)
def test_selections_follow_the_style_suggestion(
    style: str | None, tag: str, kind: str | None
) -> None:
    doc = read_page(render_question_form(form(selection_question("q", style))))
    if kind is not None:
        controls = doc.find("input", type=kind)
        assert [c.attrs["value"] for c in controls] == ["c0", "c1", "c2"]
        assert all(c.attrs["name"] == "q" for c in controls)
        assert not doc.find("select")
    else:
        (select,) = doc.find("select")
        assert select.attrs["name"] == "q"
        assert ("multiple" in select.attrs) == (style == "multichooser")
        values = [o.attrs["value"] for o in doc.find("option") if o.attrs["value"]]
        assert values == ["c0", "c1", "c2"]


def test_other_selection_adds_a_choice_and_a_text_field() -> None:
    doc = read_page(render_question_form(form(selection_question("q", None, other=True))))
    values = [c.attrs["value"] for c in doc.find("input", type="radio")]
    assert values == ["c0", "c1", "c2", OTHER_CHOICE]
    assert doc.find("input", type="text", name="q" + OTHER_SUFFIX)


def test_free_text_carries_its_constraints() -> None:
    body = (
        free_text_question(
            "age", '<Constraints><IsNumeric minValue="18" maxValue="99"/></Constraints>'
        )
        + free_text_question(
            "name", '<Constraints><Length minLength="2" maxLength="20"/></Constraints>'
        )
        + free_text_question("essay", "", lines=5)
        + free_text_question(
            "zip",
            '<Constraints><AnswerFormatRegex regex="^[0-9]{5}$" errorText="Five digits"/>'
            "</Constraints>",
        )
    )
    doc = read_page(render_question_form(form(body)))
    (age,) = doc.find("input", name="age")
    assert (age.attrs["type"], age.attrs["min"], age.attrs["max"]) == ("number", "18", "99")
    (name,) = doc.find("input", name="name")
    assert (name.attrs["minlength"], name.attrs["maxlength"]) == ("2", "20")
    (essay,) = doc.find("textarea", name="essay")
    assert essay.attrs["rows"] == "5"
    assert "Five digits" in doc.text
    assert "A whole number from 18 to 99." in doc.text


def test_binary_images_and_links_are_references() -> None:
    body = (
        "<Overview><Title>Look</Title><List><ListItem>one</ListItem><ListItem>two</ListItem>"
        "</List><Binary><MimeType><Type>image</Type><SubType>png</SubType></MimeType>"
        "<DataURL>https://example.com/a.png</DataURL><AltText>a cat</AltText></Binary>"
        "<Binary><MimeType><Type>application</Type><SubType>pdf</SubType></MimeType>"
        "<DataURL>https://example.com/doc.pdf</DataURL><AltText>the rules</AltText></Binary>"
        "</Overview>" + free_text_question("x")
    )
    doc = read_page(render_question_form(form(body)))
    (img,) = doc.find("img")
    assert (img.attrs["src"], img.attrs["alt"]) == ("https://example.com/a.png", "a cat")
    assert doc.find("a", href="https://example.com/doc.pdf")
    assert [e.tag for e in doc.elements].count("li") == 2
    assert "Look" in doc.text


def test_file_upload_is_a_file_field() -> None:
    body = (
        "<Question><QuestionIdentifier>up</QuestionIdentifier><QuestionContent><Text>File"
        "</Text></QuestionContent><AnswerSpecification><FileUploadAnswer><MaxFileSizeInBytes>"
        "1000</MaxFileSizeInBytes><MinFileSizeInBytes>10</MinFileSizeInBytes></FileUploadAnswer>"
        "</AnswerSpecification></Question>"
    )
    doc = read_page(render_question_form(form(body)))
    assert doc.find("input", type="file", name="up")
    assert "10 to 1,000 bytes" in doc.text


def test_prefix_keeps_two_hits_radio_groups_apart() -> None:
    parsed = form(selection_question("q", "radiobutton"))
    text = render_question_form(parsed, prefix="row1:") + render_question_form(
        parsed, prefix="row2:"
    )
    names = {e.attrs["name"] for e in read_page(text).find("input", type="radio")}
    assert names == {"row1:q", "row2:q"}


# ------------------------------------------------------------------------------------------
# Escaping: a cell holding "AT&T <b>" is text in every question type
# ------------------------------------------------------------------------------------------


def test_question_form_cell_is_text_everywhere() -> None:
    body = (
        f"<Overview><Title>{NASTY_XML}</Title><FormattedContent><![CDATA[<p>{NASTY_XML}</p>]]>"
        "</FormattedContent></Overview>"
        f"<Question><QuestionIdentifier>q</QuestionIdentifier><DisplayName>{NASTY_XML}"
        f"</DisplayName><QuestionContent><Text>{NASTY_XML}</Text></QuestionContent>"
        "<AnswerSpecification><SelectionAnswer><Selections><Selection><SelectionIdentifier>"
        f"{NASTY_XML}</SelectionIdentifier><Text>{NASTY_XML}</Text></Selection></Selections>"
        "</SelectionAnswer></AnswerSpecification></Question>"
        + free_text_question("t", "<Constraints><Length maxLength='9'/></Constraints>")
    )
    rendered = render_question_form(form(body))
    doc = read_page(rendered)
    assert not doc.find("b"), rendered
    assert doc.text.count(NASTY) == 5  # title, formatted, display name, text, choice
    (radio,) = doc.find("input", type="radio")
    assert radio.attrs["value"] == NASTY


def test_html_question_is_a_sandboxed_srcdoc_frame() -> None:
    html = f"<html><body><p>{NASTY_XML}</p><form><input name='a'></form></body></html>"
    question = parse_question(
        f'<HTMLQuestion xmlns="{HQ}"><HTMLContent><![CDATA[{html}]]></HTMLContent>'
        "<FrameHeight>450</FrameHeight></HTMLQuestion>",
        source="t",
    )
    assert isinstance(question, HTMLQuestion)
    doc = read_page(render_question(question, FrameParams(hit_id="H")))
    (frame,) = doc.find("iframe")
    assert frame.attrs["srcdoc"] == html  # the requester's page, exactly, as an attribute
    assert "allow-same-origin" not in frame.attrs["sandbox"]
    assert "allow-scripts" in frame.attrs["sandbox"]
    assert frame.attrs["height"] == "450"
    assert not doc.find("p")
    assert not doc.find("form")


def test_external_question_frame_gets_mturk_parameters() -> None:
    question = parse_question(
        f'<ExternalQuestion xmlns="{EQ}"><ExternalURL>https://example.com/t?x=AT%26T'
        "&amp;y=1#frag</ExternalURL><FrameHeight>0</FrameHeight></ExternalQuestion>",
        source="t",
    )
    assert isinstance(question, ExternalQuestion)
    doc = read_page(render_question(question, FrameParams(hit_id="3ABC")))
    (frame,) = doc.find("iframe")
    assert frame.attrs["src"] == (
        "https://example.com/t?x=AT%26T&y=1&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE"
        "&hitId=3ABC#frag"
    )


def test_frame_url_while_working() -> None:
    params = FrameParams(
        hit_id="H1", assignment_id="A1", turk_submit_to="http://127.0.0.1:9", worker_id="W"
    )
    assert frame_url("http://127.0.0.1:5/p", params) == (
        "http://127.0.0.1:5/p?assignmentId=A1&hitId=H1&turkSubmitTo=http%3A%2F%2F127.0.0.1%3A9"
        "&workerId=W"
    )


def test_header_escapes_and_states_the_terms() -> None:
    doc = read_page(
        hit_header(title=NASTY, description=NASTY, reward="0.05", duration=5400, keywords=NASTY)
    )
    assert not doc.find("b")
    assert doc.text.count(NASTY) == 3
    assert "$0.05" in doc.text
    assert "1 hour 30 minutes" in doc.text


# ------------------------------------------------------------------------------------------
# The requester's formatted content
# ------------------------------------------------------------------------------------------


def test_sanitizer_drops_scripts_handlers_and_bad_urls() -> None:
    dirty = (
        '<p onclick="x()">hi <script>alert(1)</script><a href="javascript:alert(1)">j</a>'
        '<a href="https://ok.example/">ok</a><img src="https://ok.example/i.png" onerror="x()">'
        "<iframe src='https://evil.example/'></iframe><style>body{}</style></div></div>tail"
    )
    clean = sanitize_html(dirty)
    doc = read_page(clean)
    assert not doc.find("script")
    assert not doc.find("iframe")
    assert not doc.find("style")
    assert all("onclick" not in e.attrs and "onerror" not in e.attrs for e in doc.elements)
    assert [a.attrs.get("href") for a in doc.find("a")] == [None, "https://ok.example/"]
    assert "alert" not in doc.text
    assert "</div>" not in clean  # a stray close tag cannot close the page's own elements
    assert clean.endswith("tail</p>")


# ------------------------------------------------------------------------------------------
# Posted fields back to answers
# ------------------------------------------------------------------------------------------


def test_form_answers_round_trip() -> None:
    parsed = form(
        selection_question("pick", "checkbox", other=True)
        + free_text_question("age", '<Constraints><IsNumeric minValue="1"/></Constraints>')
        + free_text_question("note")
    )
    answers, problems = form_answers(
        parsed,
        {
            "pick": ["c1", OTHER_CHOICE],
            "pick" + OTHER_SUFFIX: ["mine & yours"],
            "age": ["42"],
            "note": [""],
        },
    )
    assert problems == {}
    xml = build_answers(answers)
    records = {a.question_id: a for a in parse_answer_records(xml, source="x")}
    assert records["pick"].selections == ("c1",)
    assert records["pick"].other_selection_text == "mine & yours"
    assert records["age"].free_text == "42"
    assert "note" not in records  # an optional question left blank has no answer


def test_form_answers_report_problems() -> None:
    parsed = form(
        selection_question("pick", "radiobutton")
        + free_text_question("age", '<Constraints><IsNumeric minValue="1"/></Constraints>')
    )
    answers, problems = form_answers(parsed, {"age": ["0"]})
    assert answers == ()
    assert problems == {
        "pick": "This question needs an answer.",
        "age": "The answer must be at least 1.",
    }
    _, unknown = form_answers(parsed, {"pick": ["nope"], "age": ["3"]})
    assert "not one of the selections" in unknown["pick"]


def test_page_is_self_contained_and_phone_ready() -> None:
    text = page(NASTY, "<p>x</p>")
    doc = read_page(text)
    assert own_remote_assets(doc) == []
    assert doc.find("meta", name="viewport")
    assert not doc.find("b")


# ------------------------------------------------------------------------------------------
# The CLT samples' qualification tests (their questions have no templates)
# ------------------------------------------------------------------------------------------


def _sample_tests() -> list[Path]:
    samples = REFERENCE / "clt-samples" / "samples"
    if not samples.is_dir():
        return []
    return sorted(
        p
        for p in samples.glob("*/*.question")
        if not (p.parent / f"{p.stem}.input").exists() and "$" not in p.read_text("utf-8")
    )


@pytest.mark.parametrize("path", _sample_tests() or [None], ids=lambda p: p and p.parent.name)
def test_sample_qualification_tests_render(path: Path | None) -> None:
    if path is None:
        pytest.skip(ABSENT)
    parsed = load_question(path)
    assert isinstance(parsed, QuestionForm)
    doc = read_page(render_question_form(parsed))
    for q in parsed.questions:
        fields = [e for e in doc.elements if e.attrs.get("data-qid") == q.identifier]
        assert fields, q.identifier
    assert own_remote_assets(doc) == []
