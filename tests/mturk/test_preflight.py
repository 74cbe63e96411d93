"""DESIGN §6's preflight, step by step, on real files with the real Velocity engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.errors import FormatError
from mturkmake.formats.qualification_requirements import EndpointKind
from mturkmake.mturk.preflight import Prepared, SourceFile, preflight
from mturkmake.plugins.templating import VelocityEngine

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
FORM = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
    "  <Question><QuestionIdentifier>answer</QuestionIdentifier>\n"
    "    <QuestionContent><Text>${question}</Text></QuestionContent>\n"
    "    <AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>\n"
    "</QuestionForm>\n"
)
PROPERTIES = (
    "title:Answer a question\n"
    "description:Please answer.\n"
    "reward:0.02\n"
    "assignments:1\n"
    "annotation:${question}\n"
    "assignmentduration:3600\n"
    "hitlifetime:259200\n"
)
INPUT = "question\nWhat?\nWhy?\n"


def _files(
    tmp_path: Path, *, input: str = INPUT, question: str = FORM, properties: str = PROPERTIES
) -> tuple[SourceFile, SourceFile, SourceFile]:
    out = []
    for name, text in (("s.input", input), ("s.question", question), ("s.properties", properties)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        out.append(SourceFile(tmp_path / name, name))
    return out[0], out[1], out[2]


def _run(
    tmp_path: Path, endpoint: EndpointKind = "local", limit: int | None = None, **files: str
) -> Prepared:
    return preflight(
        *_files(tmp_path, **files), engine=VelocityEngine(), endpoint_kind=endpoint, limit=limit
    )


def test_merges_every_row(tmp_path: Path) -> None:
    prepared = _run(tmp_path)
    assert [hit.line for hit in prepared.hits] == [2, 3]
    assert "<Text>Why?</Text>" in prepared.hits[1].question
    assert prepared.hits[0].hit_params["RequesterAnnotation"] == "What?"
    assert prepared.hits[0].type_params == prepared.hits[1].type_params
    assert prepared.referenced == ("question",)


def test_values_are_escaped_in_questions_and_raw_in_properties(tmp_path: Path) -> None:
    prepared = _run(tmp_path, input="question\nA & B <c>\n")
    assert "A &amp; B &lt;c&gt;" in prepared.hits[0].question
    assert prepared.hits[0].hit_params["RequesterAnnotation"] == "A & B <c>"


def test_limit_keeps_every_row_for_keys(tmp_path: Path) -> None:
    prepared = _run(tmp_path, "local", 1)
    assert len(prepared.hits) == 1
    assert len(prepared.rows) == 2


def _error(tmp_path: Path, endpoint: EndpointKind = "local", **files: str) -> FormatError:
    with pytest.raises(FormatError) as caught:
        _run(tmp_path, endpoint, None, **files)
    return caught.value


def test_step1_the_input_comes_first(tmp_path: Path) -> None:
    # Both the input and the properties are wrong: the input is reported.
    error = _error(tmp_path, input="question\tother\nonly-one\n", properties="bogus:1\n")
    assert (error.file, error.line) == ("s.input", 2)


def test_step2_properties_syntax(tmp_path: Path) -> None:
    error = _error(tmp_path, properties=PROPERTIES + "titel:x\n")
    assert (error.file, error.line) == ("s.properties", 8)
    assert "titel" in error.message


def test_step2_limits_of_a_templated_value_name_the_row(tmp_path: Path) -> None:
    error = _error(tmp_path, input="question\nshort\n" + "x" * 300 + "\n")
    assert (error.file, error.line) == ("s.properties", 5)
    assert "s.input:3" in error.one_line()


def test_step2_comes_before_the_template_check(tmp_path: Path) -> None:
    error = _error(
        tmp_path,
        properties=PROPERTIES.replace("3600", "5"),
        question=FORM.replace("${question}", "${nope}"),
    )
    assert error.file == "s.properties"


def test_step3_unknown_formal_reference(tmp_path: Path) -> None:
    error = _error(tmp_path, question=FORM.replace("${question}", "${questoin}"))
    assert (error.file, error.line) == ("s.question", 3)
    assert "question" in error.one_line()  # the existing columns are named


def test_step3_references_in_xml_comments_are_not_errors(tmp_path: Path) -> None:
    question = FORM.replace("<Question>", "<!-- ${not_a_column} --><Question>", 1)
    assert len(_run(tmp_path, question=question).hits) == 2


def test_step3_velocity_directives_and_helpers(tmp_path: Path) -> None:
    question = (
        f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
        "#set( $tags = [1..3] )\n"
        "#foreach( $n in $tags )\n"
        "  <Question><QuestionIdentifier>tag${n}_$velocityCount</QuestionIdentifier>\n"
        "    <QuestionContent><Text>$helper.urlencode($question_raw)</Text></QuestionContent>\n"
        "    <AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>\n"
        "#end\n"
        "</QuestionForm>\n"
    )
    prepared = _run(tmp_path, question=question, input="question\na b&c\n")
    text = prepared.hits[0].question
    assert "<QuestionIdentifier>tag3_3</QuestionIdentifier>" in text
    assert "a+b%26c" in text


def test_step4_a_merged_question_that_is_not_xml(tmp_path: Path) -> None:
    error = _error(tmp_path, question=FORM.replace("</Text>", "</Txt>"))
    assert "s.question merged with s.input:2" in error.one_line()


def test_step4_a_question_over_65535_bytes(tmp_path: Path) -> None:
    error = _error(
        tmp_path,
        input="question\nshort\n" + "y" * 70_000 + "\n",
        properties=PROPERTIES.replace("annotation:${question}\n", ""),
    )
    assert "s.input:3" in error.one_line()
    assert "65,535" in error.one_line() or "65535" in error.one_line()


def test_step4_unknown_question_type(tmp_path: Path) -> None:
    error = _error(tmp_path, question="<Survey><q/></Survey>\n")
    assert "not a question type" in error.message


EXTERNAL = (
    f'<ExternalQuestion xmlns="{NS}/2006-07-14/ExternalQuestion.xsd">\n'
    "  <ExternalURL>http://example.com/page?u=$helper.urlencode($question)</ExternalURL>\n"
    "  <FrameHeight>400</FrameHeight>\n"
    "</ExternalQuestion>\n"
)


def test_step4_http_external_url_is_a_warning_on_local(tmp_path: Path) -> None:
    prepared = _run(tmp_path, question=EXTERNAL)
    assert len(prepared.hits) == 2
    assert len(prepared.warnings) == 1  # once for the batch, not once per row
    assert prepared.warnings[0].startswith("s.question:2: warning:")


@pytest.mark.parametrize("endpoint", ["sandbox", "production"])
def test_step4_http_external_url_is_refused_off_local(
    tmp_path: Path, endpoint: EndpointKind
) -> None:
    error = _error(tmp_path, question=EXTERNAL, endpoint=endpoint)
    assert (error.file, error.line) == ("s.question", 2)
    assert "https" in error.one_line()


def test_templated_hit_type_properties_make_distinct_types(tmp_path: Path) -> None:
    properties = PROPERTIES.replace("title:Answer a question", "title:Answer about ${topic}")
    prepared = _run(
        tmp_path, properties=properties, input="question\ttopic\na\tcats\nb\tdogs\nc\tcats\n"
    )
    titles = [hit.type_params["Title"] for hit in prepared.hits]
    assert titles == ["Answer about cats", "Answer about dogs", "Answer about cats"]
    assert prepared.referenced == ("question", "topic")


def test_property_text_that_is_not_a_template_is_sent_as_written(tmp_path: Path) -> None:
    properties = PROPERTIES + "keywords:C#, F##, earn $0.05\n"
    prepared = _run(tmp_path, properties=properties)
    assert prepared.hits[0].type_params["Keywords"] == "C#, F##, earn $0.05"
