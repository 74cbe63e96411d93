"""QuestionFormAnswers: parse, kinds, CLT cell values, build and round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats.answers import (
    ANSWERS_NS,
    Answer,
    build_answers,
    parse_answer_records,
    parse_answers,
)

FIXTURES = Path(__file__).parent / "fixtures_xml"


def test_parse_keeps_each_kind() -> None:
    text = (FIXTURES / "answers.xml").read_text(encoding="utf-8")
    records = parse_answer_records(text, source="a.xml")
    assert [(r.question_id, r.kind) for r in records] == [
        ("age", "FreeText"),
        ("colors", "SelectionIdentifier"),
        ("pet", "OtherSelectionText"),
        ("photo", "UploadedFileKey"),
        ("empty", "FreeText"),
    ]
    assert records[0].free_text == '  42 years, "roughly" & more\nsecond line'  # verbatim
    assert records[2].selections == ("cat",)
    assert records[3].uploaded_file_size == 2048
    assert parse_answers(text, source="a.xml") == {
        "age": '  42 years, "roughly" & more\nsecond line',
        "colors": ("red", "blue"),
        "pet": "a hamster",
        "photo": "key/abc.png",
        "empty": "",
    }


def test_clt_value_joins_selections_and_lets_other_win() -> None:
    assert Answer("c", selections=("red", "blue")).clt_value == "red|blue"
    assert Answer("c", selections=("red",), other_selection_text="x").clt_value == "x"
    assert Answer("c").clt_value == ""
    assert Answer("t", free_text="hi").clt_value == "hi"


@pytest.mark.parametrize(
    "records",
    [
        (Answer("q1", free_text="Say \"hi\" <b> & 'bye'\r\nnext\tTab"),),
        (Answer("colors", selections=("red", "blue")), Answer("none", selections=())),
        (Answer("pet", selections=("cat",), other_selection_text="hamster & co"),),
        (Answer("pet", other_selection_text="only other"),),
        (Answer("file", uploaded_file_key="k/1", uploaded_file_size=12),),
        (Answer("ünï", free_text="中文 é"), Answer("blank", free_text="")),
    ],
)
def test_build_then_parse_round_trips(records: tuple[Answer, ...]) -> None:
    xml = build_answers(records)
    assert ANSWERS_NS in xml
    assert parse_answer_records(xml, source="built") == records


def test_build_from_plain_mapping() -> None:
    xml = build_answers({"comment": "nice", "colors": ["red", "blue"], "one": ("x",)})
    assert parse_answers(xml, source="m") == {
        "comment": "nice",
        "colors": ("red", "blue"),
        "one": ("x",),
    }


def test_build_refuses_characters_xml_cannot_carry() -> None:
    with pytest.raises(ValueError, match="U\\+0001"):
        build_answers({"q": "bad\x01"})


def test_answers_without_namespace_are_accepted() -> None:
    xml = (
        "<QuestionFormAnswers><Answer><QuestionIdentifier>a</QuestionIdentifier>"
        "<FreeText>x</FreeText></Answer></QuestionFormAnswers>"
    )
    assert parse_answers(xml, source="s") == {"a": "x"}


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        ("<Other/>", "expected <QuestionFormAnswers>"),
        (
            "<QuestionFormAnswers><Answer><FreeText>x</FreeText></Answer></QuestionFormAnswers>",
            "QuestionIdentifier",
        ),
        (
            "<QuestionFormAnswers><Answer><QuestionIdentifier>a</QuestionIdentifier>"
            "<FreeText>x</FreeText><SelectionIdentifier>y</SelectionIdentifier></Answer>"
            "</QuestionFormAnswers>",
            "mixes",
        ),
        (
            "<QuestionFormAnswers><Answer><QuestionIdentifier>a</QuestionIdentifier></Answer>\n"
            "<Answer><QuestionIdentifier>a</QuestionIdentifier></Answer></QuestionFormAnswers>",
            "answered twice",
        ),
        (
            "<QuestionFormAnswers><Answer><QuestionIdentifier>a</QuestionIdentifier>"
            "<UploadedFileSizeInBytes>big</UploadedFileSizeInBytes><UploadedFileKey>k"
            "</UploadedFileKey></Answer></QuestionFormAnswers>",
            "not a number",
        ),
    ],
)
def test_bad_answers_raise_format_error(xml: str, fragment: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_answer_records(xml, source="assignment A1")
    assert info.value.file == "assignment A1"
    assert info.value.line is not None
    assert fragment in info.value.message
    assert info.value.hint


def test_long_answers_are_not_limited_like_questions() -> None:
    long_text = "x" * 70_000  # questions stop at 65,535 bytes; answers come from the service
    assert parse_answers(build_answers({"essay": long_text}), source="s") == {"essay": long_text}
