"""AnswerKey XML (parse, build, score) and the CLT answer key file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import airspeed
import pytest

from mturkmake.errors import FormatError
from mturkmake.formats.answerkey import (
    AnswerKey,
    AnswerOption,
    KeyQuestion,
    PercentageMapping,
    RangeMapping,
    ScaleMapping,
    ScoreRange,
    build_answer_key,
    build_clt_answer_key,
    check_answer_key,
    parse_answer_key,
    parse_clt_answer_key,
    passes_clt_answer_key,
    score,
)
from mturkmake.formats.answers import Answer, AnswerValue, build_answers, parse_answers
from mturkmake.formats.question import parse_question
from tests.reference import REFERENCE

FIXTURES = Path(__file__).parent / "fixtures_xml"
SAMPLES = REFERENCE / "clt-samples"


def test_parse_options_defaults_and_range_mapping() -> None:
    key = parse_answer_key(
        (FIXTURES / "answerkey_mappings.xml").read_text(encoding="utf-8"), source="k.xml"
    )
    assert key.questions[0] == KeyQuestion(
        "colors",
        (AnswerOption(("red", "blue"), 10), AnswerOption(("red",), 5)),
        default_score=-2,
    )
    assert key.mapping == RangeMapping(
        (ScoreRange(0, 9, 1), ScoreRange(10, 15, 100)), out_of_range_value=0
    )
    mixed: dict[str, AnswerValue] = {"colors": ("blue", "red"), "capital": "olympia"}
    assert score(key, mixed) == 100  # 15
    assert score(key, {"colors": ("red",), "capital": ("olympia",)}) == 100  # 10
    assert score(key, {"colors": ("red",)}) == 1  # 5
    assert score(key, {"colors": ("green",)}) == 0  # -2: out of range
    records = [Answer("colors", selections=("red", "blue")), Answer("capital", free_text="x")]
    assert score(key, records) == 100  # 10


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (None, 2),
        (PercentageMapping(3), 66),  # 2/3 rounded down
        (ScaleMapping(Decimal("2.5")), 5),
        (ScaleMapping(Decimal("0.7")), 1),
    ],
)
def test_mappings(mapping: PercentageMapping | ScaleMapping | None, expected: int) -> None:
    key = AnswerKey(
        tuple(KeyQuestion(f"q{i}", (AnswerOption(("yes",), 1),)) for i in range(3)), mapping
    )
    assert score(key, {"q0": ("yes",), "q1": ("yes",), "q2": ("no",)}) == expected


@pytest.mark.parametrize(
    "key",
    [
        AnswerKey((KeyQuestion("a & b", (AnswerOption(("x<y",), 3),)),)),
        AnswerKey(
            (KeyQuestion("q", (AnswerOption(("1", "2"), 4),), default_score=1),),
            PercentageMapping(4),
        ),
        AnswerKey((KeyQuestion("q"),), ScaleMapping(Decimal("1.5"))),
        AnswerKey((KeyQuestion("q"),), RangeMapping((ScoreRange(-5, 5, 7),), 9)),
    ],
)
def test_build_round_trips(key: AnswerKey) -> None:
    assert parse_answer_key(build_answer_key(key), source="built") == key


def test_clt_sample_answer_keys_parse_and_score() -> None:
    quiz = parse_answer_key(
        (SAMPLES / "samples/quiz_qual/qualification.answer").read_text(encoding="utf-8"),
        source="quiz",
    )
    assert [q.identifier for q in quiz.questions] == ["question1", "question2", "question3"]
    assert score(quiz, {"question1": ("1b",), "question2": ("2c",), "question3": ("3b",)}) == 20
    test_key = parse_answer_key(
        (SAMPLES / "etc/test/testAnswerKey.xml").read_text(encoding="utf-8"), source="t"
    )
    assert (
        score(test_key, parse_answers(build_answers({"ConfirmRequest": ["yes"]}), source="a"))
        == 100
    )
    templated = SAMPLES / "samples/site_filter_qual/site_filter_qual.answer"
    merged = str(airspeed.Template(templated.read_text(encoding="utf-8")).merge({}))
    site = parse_answer_key(merged, source=str(templated))
    assert len(site.questions) == 10
    assert site.mapping == PercentageMapping(10)
    right = {q.identifier: q.options[0].selections for q in site.questions}
    assert score(site, right) == 100
    assert score(site, {**right, "http://www.hustler.com": ("no",)}) == 90


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        ("<AnswerKey/>", "AnswerKey namespace"),
        (
            build_answer_key(AnswerKey((KeyQuestion("q"),))).replace(
                "<QuestionIdentifier>q", "<QuestionIdentifier>"
            ),
            "QuestionIdentifier",
        ),
        (
            build_answer_key(AnswerKey((KeyQuestion("q", (AnswerOption(("a",), 1),)),))).replace(
                ">1<", ">one<"
            ),
            "whole number",
        ),
        (
            build_answer_key(AnswerKey((KeyQuestion("q"),), PercentageMapping(1))).replace(
                ">1<", ">0<"
            ),
            "at least 1",
        ),
        (build_answer_key(AnswerKey((KeyQuestion("q"), KeyQuestion("q")))), "appears twice"),
    ],
)
def test_bad_answer_keys(xml: str, fragment: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_answer_key(xml, source="k.answer")
    assert fragment in info.value.message
    assert info.value.line is not None
    assert info.value.hint


def test_clt_answer_key_file_sample_and_verdicts() -> None:
    path = SAMPLES / "samples/java_qual_test/qualification.answerkey"
    key = parse_clt_answer_key(path.read_text(encoding="utf-8"), source=str(path))
    assert {k: p.value for k, p in key.expected.items()} == {
        "question1": "false",
        "question2": "true",
        "question3": "1",
        "question4": "true",
        "question5": "0",
    }
    right = [Answer(q, selections=(p.value,)) for q, p in key.expected.items()]
    assert passes_clt_answer_key(key, right)
    assert passes_clt_answer_key(key, [Answer("question1", selections=("FALSE",))])
    assert not passes_clt_answer_key(key, [Answer("question1", selections=("true",))])
    with pytest.raises(FormatError, match="not in the answer key"):
        passes_clt_answer_key(key, [Answer("question9", selections=("x",))])


def test_clt_answer_key_empty_answer_and_joined_selections() -> None:
    key = parse_clt_answer_key(
        build_clt_answer_key({"a": "emptyanswer", "b": "Red|Blue"}), source="k"
    )
    assert passes_clt_answer_key(key, [Answer("a"), Answer("b", selections=("red", "blue"))])
    assert not passes_clt_answer_key(key, [Answer("b", selections=("blue", "red"))])
    with pytest.raises(FormatError, match="empty"):
        parse_clt_answer_key("# nothing\n", source="k")


def test_check_answer_key_against_its_test() -> None:
    test = parse_question(
        (SAMPLES / "samples/quiz_qual/qualification.question").read_text(encoding="utf-8"),
        source="quiz.question",
    )
    key_text = (SAMPLES / "samples/quiz_qual/qualification.answer").read_text(encoding="utf-8")
    check_answer_key(parse_answer_key(key_text, source="quiz.answer"), test, source="quiz.answer")
    wrong_choice = parse_answer_key(key_text.replace(">2c<", ">2z<"), source="k")
    with pytest.raises(FormatError, match="no selection '2z'") as info:
        check_answer_key(wrong_choice, test, source="k")
    assert info.value.line == 10
    wrong_question = parse_answer_key(key_text.replace(">question3<", ">question9<"), source="k")
    with pytest.raises(FormatError, match="'question9'"):
        check_answer_key(wrong_question, test, source="k")
    external = parse_question(
        (FIXTURES / "externalquestion.xml").read_text(encoding="utf-8"), source="e"
    )
    with pytest.raises(FormatError, match="must be a QuestionForm"):
        check_answer_key(wrong_question, external, source="k")
