"""The crowd's answers keep every constraint of the question (checked with the formats parser)."""

from __future__ import annotations

import random
import re

import pytest

from mturkmake.formats.answers import parse_answer_records
from mturkmake.formats.question import (
    FreeTextSpec,
    HTMLQuestion,
    QuestionForm,
    RegexConstraint,
    SelectionSpec,
    parse_question,
)
from mturkmake.marketplace.answering import CrowdWorker, answer_xml, free_text, regex_samples

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd"


def question(qid: str, answer: str) -> str:
    return (
        f"<Question><QuestionIdentifier>{qid}</QuestionIdentifier><IsRequired>true"
        f"</IsRequired><QuestionContent><Text>{qid}?</Text></QuestionContent>"
        f"<AnswerSpecification>{answer}</AnswerSpecification></Question>"
    )


def selections(style: str, ids: str, extra: str = "", other: str = "") -> str:
    choices = "".join(
        f"<Selection><SelectionIdentifier>{i}</SelectionIdentifier><Text>Choice "
        f"{i}</Text></Selection>"
        for i in ids
    )
    return (
        f"<SelectionAnswer>{extra}<StyleSuggestion>{style}</StyleSuggestion><Selections>"
        f"{choices}{other}</Selections></SelectionAnswer>"
    )


def constraints(inner: str) -> str:
    return f"<FreeTextAnswer><Constraints>{inner}</Constraints></FreeTextAnswer>"


EVERY_CONSTRAINT = (
    f'<QuestionForm xmlns="{NS}">'
    + question("radio", selections("radiobutton", "abc"))
    + question(
        "checks",
        selections(
            "checkbox",
            "abcde",
            "<MinSelectionCount>2</MinSelectionCount><MaxSelectionCount>3</MaxSelectionCount>",
        ),
    )
    + question(
        "optional", selections("multichooser", "xyz", "<MinSelectionCount>0</MinSelectionCount>")
    )
    + question(
        "listed",
        selections(
            "list",
            "pq",
            other=(
                "<OtherSelection><Constraints><Length minLength='3' maxLength='8'/></Constraints>"
                "</OtherSelection>"
            ),
        ),
    )
    + question(
        "dropdown",
        selections(
            "dropdown",
            "uvw",
            "<MinSelectionCount>1</MinSelectionCount><MaxSelectionCount>2</MaxSelectionCount>",
            other="<OtherSelection/>",
        ),
    )
    + question(
        "code",
        constraints('<AnswerFormatRegex regex="^[A-Z]{2}-\\d{3,5}$" errorText="like AB-123"/>'),
    )
    + question(
        "word",
        constraints('<Length minLength="5" maxLength="12"/><AnswerFormatRegex regex="^[a-z ]+$"/>'),
    )
    + question("caseless", constraints('<AnswerFormatRegex regex="^(yes|no)$" flags="i"/>'))
    + question("number", constraints('<IsNumeric minValue="10" maxValue="99"/>'))
    + question("negative", constraints('<IsNumeric minValue="-20" maxValue="-5"/>'))
    + question(
        "email", constraints('<AnswerFormatRegex regex="^[a-z0-9._]+@[a-z0-9]+\\.(com|org)$"/>')
    )
    + question("long", constraints('<Length minLength="40" maxLength="60"/>'))
    + question("free", "<FreeTextAnswer/>")
    + question(
        "upload",
        "<FileUploadAnswer><MaxFileSizeInBytes>5000</MaxFileSizeInBytes>"
        "<MinFileSizeInBytes>10</MinFileSizeInBytes></FileUploadAnswer>",
    )
    + "</QuestionForm>"
)


def check_form_answer(form: QuestionForm, xml: str) -> dict[str, object]:
    """Every answer satisfies its question (the parser's own rules); returns the values."""
    records = {r.question_id: r for r in parse_answer_records(xml, source="answer")}
    assert set(records) == {q.identifier for q in form.questions}
    for q in form.questions:
        record = records[q.identifier]
        if isinstance(q.answer, SelectionSpec):
            assert q.answer.problem(record.selections, record.other_selection_text) is None, (
                q.identifier,
                record,
            )
        elif isinstance(q.answer, FreeTextSpec):
            assert record.free_text is not None
            assert q.answer.problem(record.free_text) is None, (q.identifier, record.free_text)
        else:
            assert record.uploaded_file_key
            assert 10 <= (record.uploaded_file_size or 0) <= 5000
    return {k: r.value for k, r in records.items()}


def test_a_thousand_answers_keep_every_constraint() -> None:
    form = parse_question(EVERY_CONSTRAINT, source="form")
    assert isinstance(form, QuestionForm)
    seen: dict[str, set[object]] = {}
    for n in range(1000):
        worker = CrowdWorker(f"AWORKER{n % 20:07d}", 0.9)
        values = check_form_answer(
            form, answer_xml(3, f"HIT{n:06d}", EVERY_CONSTRAINT, worker, truth=None)
        )
        for key, value in values.items():
            seen.setdefault(key, set()).add(value)
    # the answers vary: the crowd is not one worker answering one thing
    assert len(seen["radio"]) == 3
    assert len(seen["checks"]) > 10
    assert () in seen["optional"]  # MinSelectionCount 0: sometimes no selection at all
    assert len(seen["optional"]) > 4
    assert any(isinstance(v, str) for v in seen["listed"])  # an OtherSelection answer
    assert len(seen["number"]) > 30
    assert len(seen["code"]) > 100


def test_truths_are_given_when_they_fit_and_wrong_answers_differ() -> None:
    truth = {
        "radio": "b",
        "checks": "a|c",
        "listed": "Choice q",
        "code": "ZZ-9999",
        "number": "42",
        "word": "hello world",
        "dropdown": "something else",
    }
    form = parse_question(EVERY_CONSTRAINT, source="form")
    assert isinstance(form, QuestionForm)
    honest = check_form_answer(
        form, answer_xml(0, "H", EVERY_CONSTRAINT, CrowdWorker("AHONEST", 1.0), truth=truth)
    )
    assert honest["radio"] == ("b",)
    assert honest["checks"] == ("a", "c")  # the .results form "a|c"
    assert honest["listed"] == ("q",)  # a selection's text names it
    assert honest["dropdown"] == "something else"  # no such choice: the OtherSelection text
    assert (honest["code"], honest["number"], honest["word"]) == ("ZZ-9999", "42", "hello world")
    for n in range(50):
        wrong = check_form_answer(
            form, answer_xml(0, f"H{n}", EVERY_CONSTRAINT, CrowdWorker("ALIAR", 0.0), truth=truth)
        )
        assert wrong["radio"] != ("b",)
        assert wrong["checks"] != ("a", "c")
        assert wrong["code"] != "ZZ-9999"
        assert wrong["number"] != "42"
        assert wrong["word"] != "hello world"


HTML_FORM = """<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/\
AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA[
<!DOCTYPE html><html><body><form name="mturk_form" method="post">
<input type="hidden" name="assignmentId" value=""/>
<input type="hidden" name="row" value="17"/>
<input type="text" name="caption"/>
<textarea name="notes"></textarea>
<select name="animal"><option value="">Choose…</option><option value="cat">Cat</option>
<option value="dog">Dog</option></select>
<input type="radio" name="size" value="small"/><input type="radio" name="size" value="large"/>
<input type="checkbox" name="tags" value="red"/><input type="checkbox" name="tags" value="blue"/>
<input type="checkbox" name="tags" value="green"/>
<input type="checkbox" name="agree"/>
<input type="number" name="count"/><input type="email" name="mail"/>
<input type="url" name="link"/><input type="date" name="day"/><input type="time" name="at"/>
<input type="range" name="level"/><input type="color" name="shade"/><input type="tel" name="phone"/>
<input name="untyped"/>
<crowd-input name="nickname" required></crowd-input>
<crowd-slider name="score"></crowd-slider>
<input type="submit" value="Submit"/></form></body></html>]]></HTMLContent>
<FrameHeight>0</FrameHeight></HTMLQuestion>"""

FIELD_PATTERNS = {
    "row": r"17",
    "caption": r".+",
    "notes": r".+",
    "animal": r"cat|dog",
    "size": r"small|large",
    "tags": r"(red|blue|green)(\|(red|blue|green))*",
    "agree": r"on",
    "count": r"\d+",
    "mail": r"[^@\s]+@[^@\s]+\.\w+",
    "link": r"https://\S+",
    "day": r"\d{4}-\d\d-\d\d",
    "at": r"\d\d:\d\d",
    "level": r"\d+",
    "shade": r"#[0-9a-f]{6}",
    "phone": r"[\d-]+",
    "untyped": r".+",
    "nickname": r".+",
    "score": r"\d+",
}


def test_html_forms_get_a_value_for_every_field_kind() -> None:
    parsed = parse_question(HTML_FORM, source="html")
    assert isinstance(parsed, HTMLQuestion)
    assert {f.name for f in parsed.fields} == set(FIELD_PATTERNS)
    tag_sets = set()
    for n in range(200):
        xml = answer_xml(1, f"HIT{n}", HTML_FORM, CrowdWorker(f"AW{n % 7}", 0.8), truth=None)
        records = {r.question_id: r for r in parse_answer_records(xml, source="answer")}
        assert set(records) == set(FIELD_PATTERNS)  # reserved fields and buttons left out
        for name, pattern in FIELD_PATTERNS.items():
            assert records[name].kind == "FreeText"
            assert re.fullmatch(pattern, records[name].free_text or ""), (name, records[name])
        tag_sets.add(records["tags"].free_text)
    assert len(tag_sets) == 7  # every non-empty subset of three check boxes, in page order


def test_html_truth_and_a_different_option_when_wrong() -> None:
    truth = {"animal": "dog", "caption": "two dogs"}
    for n in range(30):
        right = parse_answer_records(
            answer_xml(0, f"H{n}", HTML_FORM, CrowdWorker("A1", 1.0), truth=truth), source="a"
        )
        wrong = parse_answer_records(
            answer_xml(0, f"H{n}", HTML_FORM, CrowdWorker("A1", 0.0), truth=truth), source="a"
        )
        assert {r.question_id: r.free_text for r in right}["animal"] == "dog"
        assert {r.question_id: r.free_text for r in right}["caption"] == "two dogs"
        assert {r.question_id: r.free_text for r in wrong}["animal"] == "cat"
        assert {r.question_id: r.free_text for r in wrong}["caption"] != "two dogs"


@pytest.mark.parametrize(
    "pattern",
    [
        r"^\d{5}(-\d{4})?$",
        r"^[A-Fa-f0-9]{8}$",
        r"^(?:https?)://[a-z]+\.(com|net)/\w*$",
        r"^[^\s@]+@[^\s@]+$",
        r"(\w+)-\1",
        r"^[^a-z0-9]{2}x$",
        r"^(?=.*\d)[a-z\d]{6,10}$",
        r"\bcolou?r\b",
    ],
)
def test_regex_samples_match_their_pattern(pattern: str) -> None:
    spec = FreeTextSpec(regexes=(RegexConstraint(pattern),))
    for seed in range(20):
        text = free_text(spec, random.Random(seed), None, True)
        assert spec.problem(text) is None, (pattern, text)


def test_regex_samples_are_generated_from_the_pattern() -> None:
    samples = list(regex_samples(r"^[A-Z]{3}\d{2}$", 0, random.Random(1)))
    assert samples
    assert all(re.fullmatch(r"[A-Z]{3}\d{2}", s) for s in samples)
    assert list(regex_samples("(unclosed", 0, random.Random(1))) == []
