"""Question XML: the three types, their constraints, and every CLT sample question."""

from __future__ import annotations

import re
from pathlib import Path

import airspeed
import pytest

from mturkmake.errors import FormatError
from mturkmake.formats.question import (
    ExternalQuestion,
    FileUploadSpec,
    FormQuestion,
    FreeTextSpec,
    HTMLField,
    HTMLQuestion,
    QuestionForm,
    RegexConstraint,
    SelectionSpec,
    parse_question,
    question_identifiers,
)
from mturkmake.formats.question_writer import build_question
from tests.reference import REFERENCE

FIXTURES = Path(__file__).parent / "fixtures_xml"
SAMPLES = REFERENCE / "clt-samples"
QF_2005 = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd"
)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def form(body: str, ns: str = QF_2005) -> str:
    return f'<QuestionForm xmlns="{ns}">{body}</QuestionForm>'


def free_text_question(constraints: str = "", identifier: str = "q") -> str:
    return (
        f"<Question><QuestionIdentifier>{identifier}</QuestionIdentifier>"
        "<QuestionContent><Text>?</Text></QuestionContent>"
        f"<AnswerSpecification><FreeTextAnswer>{constraints}</FreeTextAnswer>"
        "</AnswerSpecification></Question>"
    )


def constraint(inner: str) -> str:
    return f"<Constraints>{inner}</Constraints>"


def test_question_form_2017_exposes_every_constraint() -> None:
    q = parse_question(fixture("questionform_2017.xml"), source="f.xml")
    assert isinstance(q, QuestionForm)
    assert q.version == "2017-11-06"
    assert question_identifiers(q) == ("age", "zip", "colors", "pet", "photo")
    assert q.overview == ("Survey\nAnswer every question.", "<p>Thanks!</p>")

    age = q.question("age")
    assert age.is_required
    assert age.display_name == "Age"
    assert age.text == "How old are you?"
    assert age.line == 7
    assert age.answer == FreeTextSpec(
        min_length=1,
        max_length=3,
        is_numeric=True,
        min_value=18,
        max_value=120,
        default_text="30",
        number_of_lines=1,
    )
    assert isinstance(age.answer, FreeTextSpec)
    assert age.answer.problem("42") is None
    assert age.answer.problem("17") == "must be at least 18"
    assert age.answer.problem("abc") == "must be a whole number"
    assert age.answer.problem("1000") == "must be at most 3 characters"

    zip_spec = q.question("zip").answer
    assert isinstance(zip_spec, FreeTextSpec)
    assert [r.pattern for r in zip_spec.regexes] == ["^[0-9]{5}$", "^abc|^[0-9]"]
    assert zip_spec.regexes[1].flags == "i"
    assert zip_spec.problem("12345") is None
    assert zip_spec.problem("1234") == "Five digits, please."
    assert not q.question("zip").is_required

    colors = q.question("colors").answer
    assert isinstance(colors, SelectionSpec)
    assert colors.identifiers == ("red", "blue", "img")
    assert colors.selections[2].text == "Green swatch"
    assert (colors.style, colors.min_count, colors.max_count) == ("checkbox", 2, 3)
    assert colors.other == FreeTextSpec(max_length=10)
    assert colors.problem(("red", "blue")) is None
    assert colors.problem(("red",)) == "needs 2 to 3 selections, not 1"
    assert colors.problem(("red",), "purple") is None
    assert colors.problem(("red",), "far too long text") == "must be at most 10 characters"
    assert colors.problem(("pink", "red")) == "'pink' is not one of the selections"

    pet = q.question("pet").answer
    assert isinstance(pet, SelectionSpec)
    assert (pet.min_count, pet.max_count, pet.style) == (1, 1, "dropdown")
    assert pet.selections[1].text == "Dog & co"
    assert pet.problem(("cat",), "x") == "needs 1 to 1 selections, not 2"

    assert q.question("photo").answer == FileUploadSpec(min_bytes=10, max_bytes=2_000_000)
    with pytest.raises(KeyError):
        q.question("nope")


def test_html_question_discovers_form_fields() -> None:
    q = parse_question(fixture("htmlquestion.xml"), source="h.xml")
    assert isinstance(q, HTMLQuestion)
    assert q.frame_height == 450
    assert "<!DOCTYPE html>" in q.html  # a DOCTYPE inside CDATA is page content, not XML
    assert q.fields == (
        HTMLField("sentiment", "radio", ("positive", "negative"), required=True),
        HTMLField("flags", "checkbox", ("spam", "offensive")),
        HTMLField("confidence", "select", ("low", "high")),
        HTMLField("comment", "textarea"),
        HTMLField("age", "number"),
        HTMLField("batch", "hidden", ("b7",)),
        HTMLField("nickname", "crowd-input", required=True),
    )
    assert question_identifiers(q) == (
        "sentiment",
        "flags",
        "confidence",
        "comment",
        "age",
        "batch",
        "nickname",
    )


def test_external_question() -> None:
    q = parse_question(fixture("externalquestion.xml"), source="e.xml")
    assert q == ExternalQuestion("https://example.com/task?id=7&lang=en", 0)
    assert isinstance(q, ExternalQuestion)
    assert q.scheme == "https"
    assert question_identifiers(q) == ()


def test_selection_defaults_single_choice_and_checkbox_all() -> None:
    selections = (
        "<Selections><Selection><SelectionIdentifier>a</SelectionIdentifier><Text>A</Text>"
        "</Selection><Selection><SelectionIdentifier>b</SelectionIdentifier><Text>B</Text>"
        "</Selection></Selections>"
    )

    def spec(style: str) -> SelectionSpec:
        xml = form(
            "<Question><QuestionIdentifier>s</QuestionIdentifier><QuestionContent><Text>?</Text>"
            "</QuestionContent><AnswerSpecification><SelectionAnswer>"
            f"<StyleSuggestion>{style}</StyleSuggestion>{selections}"
            "</SelectionAnswer></AnswerSpecification></Question>"
        )
        q = parse_question(xml, source="s.xml")
        assert isinstance(q, QuestionForm)
        answer = q.questions[0].answer
        assert isinstance(answer, SelectionSpec)
        return answer

    assert (spec("radiobutton").min_count, spec("radiobutton").max_count) == (1, 1)
    assert (spec("checkbox").min_count, spec("checkbox").max_count) == (1, 2)


@pytest.mark.parametrize(
    ("xml", "line", "fragment"),
    [
        (form(free_text_question() + "\n" + free_text_question()), 2, "repeated"),
        (form(""), 1, "no <Question>"),
        (form("\n<Question><QuestionIdentifier> </QuestionIdentifier></Question>"), 2, "Question"),
        (form(free_text_question(constraint('<Length minLength="5" maxLength="2"/>'))), 1, "min"),
        (form(free_text_question(constraint('<IsNumeric minValue="x"/>'))), 1, "whole number"),
        (form(free_text_question(constraint('\n<AnswerFormatRegex regex="(["/>'))), 2, "compile"),
        (form("<Bogus/>"), 1, "unexpected <Bogus>"),
        ('<QuestionForm xmlns="urn:other"/>', 1, "namespace"),
        ("<QuestionForm/>", 1, "namespace"),
        ("<Survey/>", 1, "not a question type"),
        (
            '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
            '2006-07-14/ExternalQuestion.xsd"><ExternalURL>https://x</ExternalURL></ExternalQuestion>',
            1,
            "FrameHeight",
        ),
        (
            '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
            '2006-07-14/ExternalQuestion.xsd"><ExternalURL>javascript:alert(1)</ExternalURL>'
            "<FrameHeight>1</FrameHeight></ExternalQuestion>",
            1,
            "not a web address",
        ),
        (
            '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
            '2011-11-11/HTMLQuestion.xsd"><FrameHeight>1</FrameHeight></HTMLQuestion>',
            1,
            "HTMLContent",
        ),
    ],
)
def test_invalid_questions_name_line_and_hint(xml: str, line: int, fragment: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_question(xml, source="bad.question")
    assert info.value.file == "bad.question"
    assert info.value.line == line
    assert fragment in info.value.message
    assert info.value.hint


class _Helper:
    def urlencode(self, value: str) -> str:
        return value


def _render(path: Path) -> str:
    """Merge a CLT template with sample values, as loadHITs would (Velocity via airspeed)."""
    text = path.read_text(encoding="utf-8")
    names = set(re.findall(r"\$!?\{?([A-Za-z][A-Za-z0-9_]*)", text))
    context: dict[str, object] = {name: f"sample_{name}" for name in names}
    context["helper"] = _Helper()
    for name in ("urls", "tagNum", "category", "url", "count", "answer", "categories"):
        context.pop(name, None)  # set by the templates themselves
    return str(airspeed.Template(text).merge(context))


QUESTION_FILES = sorted(
    [
        *SAMPLES.rglob("*.question"),
        SAMPLES / "etc/test/testQuestion.txt",
        SAMPLES / "etc/test/testQualificationTest.xml",
    ]
)


@pytest.mark.parametrize("path", QUESTION_FILES, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_every_clt_sample_question_parses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if "$" not in text and "#" not in text.replace("#!", ""):
        q = parse_question(text, source=str(path))  # no template syntax: parse as is
    else:
        q = parse_question(_render(path), source=str(path))
    assert isinstance(q, (QuestionForm, ExternalQuestion))
    if isinstance(q, QuestionForm):
        assert question_identifiers(q)


def test_sample_details_survive_templating() -> None:
    tagging = parse_question(
        _render(SAMPLES / "samples/image_tagging/image_tagging.question"), source="t"
    )
    assert question_identifiers(tagging) == ("tag1", "tag2", "tag3", "tag4", "tag5")
    assert isinstance(tagging, QuestionForm)
    assert [q.is_required for q in tagging.questions] == [True, True, True, False, False]
    tag = tagging.questions[0].answer
    assert isinstance(tag, FreeTextSpec)
    assert tag.max_length == 25
    assert tag.problem("two words") == "Each tag must be a single word (and cannot contain spaces)."
    survey = parse_question(
        _render(SAMPLES / "samples/simple_survey/simple_survey.question"), source="s"
    )
    assert isinstance(survey, QuestionForm)
    spec = survey.questions[0].answer
    assert isinstance(spec, SelectionSpec)
    assert spec.identifiers == ("sample_choice1", "sample_choice2", "noneoftheabove")
    external = parse_question(
        _render(SAMPLES / "samples/external_hit/external_hit.question"), source="e"
    )
    assert isinstance(external, ExternalQuestion)
    assert external.frame_height == 700
    assert external.scheme == "http"


@pytest.mark.parametrize(
    "name", ["questionform_2017.xml", "htmlquestion.xml", "externalquestion.xml"]
)
def test_build_then_parse_round_trips_fixtures(name: str) -> None:
    original = parse_question(fixture(name), source=name)
    rebuilt = build_question(original)
    assert parse_question(rebuilt, source="rebuilt") == original


@pytest.mark.parametrize("path", QUESTION_FILES, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_build_then_parse_round_trips_samples(path: Path) -> None:
    original = parse_question(_render(path), source=str(path))
    assert parse_question(build_question(original), source="rebuilt") == original


def test_build_escapes_awkward_text() -> None:
    question = QuestionForm(
        "2005-10-01",
        (
            FormQuestion(
                identifier='a&b<"c">',
                is_required=True,
                answer=FreeTextSpec(
                    regexes=(RegexConstraint('^"[<&>]"$', 'say "no" & <go>', "i"),),
                    default_text="line1\r\nline2 ]]>",
                ),
                display_name="Ünïcode 中",
                text="first line\nsecond & <third>",
            ),
        ),
        overview=("",),
    )
    html = HTMLQuestion("<p>a ]]> b</p><input name='x'>", 0, (HTMLField("x", "text"),))
    assert parse_question(build_question(question), source="q") == question
    assert parse_question(build_question(html), source="h") == html
