"""Table-driven bad input for properties files and MTurk XML.

Each case writes a real file in ``tmp_path``, reads it with the real reader, and expects one
:class:`FormatError` naming the file and the line (and the key where it helps), with a hint
saying what to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats.answerkey import load_answer_key
from mturkmake.formats.answers import parse_answer_records
from mturkmake.formats.hit_properties import load_hit_properties
from mturkmake.formats.javaprops import read_text
from mturkmake.formats.mturk_properties import load_mturk_properties
from mturkmake.formats.qualification_properties import load_qualification_properties
from mturkmake.formats.question import load_question

GOOD_HIT = (
    "title:T\n"
    "description:D\n"
    "reward:0.05\n"
    "assignmentduration:3600\n"
    "hitlifetime:86400\n"
)  # lines 1-5; a case's extra lines start at line 6
QF = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/'
    'AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd">'
)
GOOD_QUESTION = (
    "<Question><QuestionIdentifier>q</QuestionIdentifier><QuestionContent><Text>?</Text>"
    "</QuestionContent><AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>"
)


def _hit(path: Path) -> object:
    return load_hit_properties(path, endpoint_kind="sandbox")


def _answers(path: Path) -> object:
    return parse_answer_records(read_text(path), source=str(path))


@dataclass(frozen=True)
class Case:
    name: str
    content: str | bytes
    reader: Callable[[Path], object]
    line: int
    fragment: str  # expected in the message
    suffix: str = ".properties"


def qual(n: int, comparator: str, value: str = "") -> str:
    text = f"qualification.{n}:000000000000000000L0\nqualification.comparator.{n}:{comparator}\n"
    return text + (f"qualification.value.{n}:{value}\n" if value else "")


def replace(key: str, value: str) -> str:
    lines = [line for line in GOOD_HIT.splitlines() if not line.startswith(key + ":")]
    return "\n".join([*lines, f"{key}:{value}"]) + "\n"


BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
    "<QuestionForm>&lol2;</QuestionForm>\n"
)
XXE = (
    '<?xml version="1.0"?>\n\n<!DOCTYPE q [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    f"{QF}<Overview><Text>&xxe;</Text></Overview>{GOOD_QUESTION}</QuestionForm>\n"
)

CASES = [
    # --- HIT properties: syntax -----------------------------------------------------------
    Case("bad reward", replace("reward", "five cents"), _hit, 5, "reward"),
    Case("reward fractions of a cent", replace("reward", "0.055"), _hit, 5, "two decimals"),
    Case("unknown comparator", GOOD_HIT + qual(1, "biggerthan", "5"), _hit, 7, "comparator"),
    Case("non-integer value", GOOD_HIT + qual(1, "greaterthan", "1.5"), _hit, 8, "whole number"),
    Case("non-integer assignments", GOOD_HIT + "assignments:three\n", _hit, 6, "assignments"),
    Case("unknown key", GOOD_HIT + "asignments:3\n", _hit, 6, "'asignments'"),
    Case("repeated reward", GOOD_HIT + "reward:5.00\n", _hit, 6, "'reward' repeats line 3"),
    Case(
        "repeated qualification name",
        "name=Q\ndescription=D\nname=Other\n",
        load_qualification_properties,
        3,
        "'name' repeats line 1",
    ),
    Case(
        "mturk.properties unknown key",
        "retry_attempts=6\nservice_ulr=x\n",
        load_mturk_properties,
        2,
        "unknown key 'service_ulr'",
    ),
    Case(
        "mturk.properties repeated key",
        "service_url=a\nservice_url=b\n",
        load_mturk_properties,
        2,
        "'service_url' repeats line 1",
    ),
    Case(
        "bad locale",
        GOOD_HIT + "qualification.1:locale\nqualification.comparator.1:equalto\n"
        "qualification.locale.1:USA\n",
        _hit,
        8,
        "not a locale",
    ),
    Case(
        "orphan comparator",
        GOOD_HIT + "qualification.comparator.3:exists\n",
        _hit,
        6,
        "no qualification.3",
    ),
    Case(
        "private not boolean",
        GOOD_HIT + qual(1, "exists") + "qualification.private.1:yes\n",
        _hit,
        8,
        "true or false",
    ),
    Case(
        "missing required key",
        GOOD_HIT.replace("hitlifetime:86400\n", ""),
        _hit,
        1,
        "'hitlifetime' is missing",
    ),
    Case("empty properties file", "", _hit, 1, "empty"),
    Case("non-UTF-8 properties", GOOD_HIT.encode() + b"keywords:caf\xe9\n", _hit, 6, "UTF-8"),
    Case("malformed unicode escape", GOOD_HIT + "keywords:\\u00zz\n", _hit, 6, "\\uxxxx"),
    # --- HIT properties: every API limit just exceeded -------------------------------------
    Case("title too long", replace("title", "t" * 129), _hit, 5, "title"),
    Case("description too long", replace("description", "d" * 2001), _hit, 5, "description"),
    Case("keywords too long", GOOD_HIT + "keywords:" + "k" * 1001 + "\n", _hit, 6, "keywords"),
    Case("annotation too long", GOOD_HIT + "annotation:" + "a" * 256 + "\n", _hit, 6, "annotation"),
    Case("no assignments", GOOD_HIT + "assignments:0\n", _hit, 6, "assignments"),
    Case("duration too short", replace("assignmentduration", "29"), _hit, 5, "assignmentduration"),
    Case("lifetime too long", replace("hitlifetime", "31536001"), _hit, 5, "hitlifetime"),
    Case(
        "auto-approval too long",
        GOOD_HIT + "autoapprovaldelay:2592001\n",
        _hit,
        6,
        "autoapprovaldelay",
    ),
    Case("negative reward", replace("reward", "-0.01"), _hit, 5, "negative"),
    Case(
        "eleven requirements",
        GOOD_HIT + "".join(qual(n, "exists") for n in range(1, 12)),
        _hit,
        26,
        "11 qualification requirements",
    ),
    Case(
        "In with 16 values",
        GOOD_HIT + qual(1, "In", ",".join(str(i) for i in range(16))),
        _hit,
        8,
        "at most 15",
    ),
    Case("value with Exists", GOOD_HIT + qual(1, "exists", "1"), _hit, 8, "takes no value"),
    # --- other properties files ------------------------------------------------------------
    Case(
        "mturk.properties retry",
        "access_key=AKIA\nretry_attempts=lots\n",
        load_mturk_properties,
        2,
        "retry_attempts",
    ),
    Case(
        "qualification without name", "description=D\n", load_qualification_properties, 1, "'name'"
    ),
    # --- XML -------------------------------------------------------------------------------
    Case(
        "invalid XML",
        f"{QF}\n<Question>\n</QuestionForm>",
        load_question,
        3,
        "well-formed",
        ".question",
    ),
    Case("entity-expansion bomb", BOMB, load_question, 2, "DOCTYPE", ".question"),
    Case("external entity", XXE, load_question, 3, "DOCTYPE", ".question"),
    Case("empty question file", "  \n", load_question, 1, "empty", ".question"),
    Case(
        "non-UTF-8 question",
        (QF + "\n<Question>\xe9").encode("latin-1"),
        load_question,
        2,
        "UTF-8",
        ".question",
    ),
    Case(
        "missing QuestionIdentifier",
        f"{QF}\n\n<Question><QuestionContent/></Question></QuestionForm>",
        load_question,
        3,
        "QuestionIdentifier",
        ".question",
    ),
    Case(
        "unknown namespace",
        '<QuestionForm xmlns="urn:x"/>',
        load_question,
        1,
        "namespace",
        ".question",
    ),
    Case(
        "question over 65,535 bytes",
        f"{QF}{GOOD_QUESTION}<!--{'x' * 65_600}--></QuestionForm>",
        load_question,
        1,
        "65,535",
        ".question",
    ),
    Case(
        "answer key without score",
        '<AnswerKey xmlns="http://mechanicalturk.amazonaws.com/'
        'AWSMechanicalTurkDataSchemas/2005-10-01/AnswerKey.xsd">\n<Question><QuestionIdentifier>'
        "q</QuestionIdentifier>\n<AnswerOption><SelectionIdentifier>a</SelectionIdentifier>"
        "</AnswerOption></Question></AnswerKey>",
        load_answer_key,
        3,
        "AnswerScore",
        ".answer",
    ),
    Case(
        "answers mismatched tag",
        "<QuestionFormAnswers>\n<Answer></Answr>",
        _answers,
        2,
        "well-formed",
        ".xml",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_names_file_line_and_hint(case: Case, tmp_path: Path) -> None:
    path = tmp_path / f"bad{case.suffix}"
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    with pytest.raises(FormatError) as info:
        case.reader(path)
    error = info.value
    assert error.file == str(path)
    assert error.line == case.line
    assert case.fragment in error.message
    assert error.hint
    one_line = str(error)
    assert one_line.startswith(f"{path}:{case.line}")
    assert "\n" not in one_line
    assert " — " in one_line


def test_suite_is_large_enough() -> None:
    assert len(CASES) >= 22
