"""The preview: ``%.preview.html`` and ``loadHITs -preview`` on real files, with the CLI run as
a user runs it (DESIGN §2: the first ``preview_rows`` rows, no API call)."""

from __future__ import annotations

import re
import shutil

import pytest

from mturkmake.formats.question import (
    ExternalQuestion,
    FreeTextSpec,
    HTMLQuestion,
    QuestionForm,
    SelectionSpec,
    parse_question,
)
from mturkmake.formats.question_content import ContentBlock, Overview
from mturkmake.mturk.preflight import SourceFile, preflight
from mturkmake.plugins.templating import VelocityEngine
from mturkmake.testing import Project
from tests.html_elements import Element, own_remote_assets, read_page
from tests.reference import ABSENT, REFERENCE

SAMPLES = REFERENCE / "clt-samples" / "samples"
BATCHES = [
    "helloworld",
    "simple_survey",
    "best_image",
    "image_category",
    "image_tagging",
    "external_hit",
    "site_filter",
]
NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
PROPERTIES = (
    "title:Label ${word}\n"
    "description:Say what ${word} is\n"
    "keywords:label, ${word}\n"
    "reward:0.05\n"
    "assignments:1\n"
    "assignmentduration:5400\n"
    "hitlifetime:86400\n"
)
FORM = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
    "<Question><QuestionIdentifier>label</QuestionIdentifier>\n"
    "<QuestionContent><Text>What is ${word}?</Text></QuestionContent>\n"
    "<AnswerSpecification><SelectionAnswer><Selections>\n"
    "<Selection><SelectionIdentifier>${word}</SelectionIdentifier><Text>${word}</Text>"
    "</Selection>\n"
    "<Selection><SelectionIdentifier>other</SelectionIdentifier><Text>other</Text></Selection>\n"
    "</Selections></SelectionAnswer></AnswerSpecification></Question>\n"
    "</QuestionForm>\n"
)
HTML = (
    f'<HTMLQuestion xmlns="{NS}/2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA[\n'
    "<!DOCTYPE html><html><body><p>${word}</p>"
    "<form method='post' action='https://www.mturk.com/mturk/externalSubmit'>"
    "<input type='hidden' name='assignmentId' value=''><input name='label'>"
    "<input type='submit'></form></body></html>\n"
    "]]></HTMLContent><FrameHeight>400</FrameHeight></HTMLQuestion>\n"
)
EXTERNAL = (
    f'<ExternalQuestion xmlns="{NS}/2006-07-14/ExternalQuestion.xsd">\n'
    "<ExternalURL>https://example.com/task?w=$helper.urlencode($word_raw)&amp;n=${word}"
    "</ExternalURL>\n<FrameHeight>500</FrameHeight></ExternalQuestion>\n"
)
NASTY = "AT&T <b>"


def _toml(extra: str = "") -> str:
    return 'endpoint = "local"\n' + extra


def _batch(
    project: Project, question: str, rows: list[str], extra: str = "", props: str = PROPERTIES
) -> None:
    project.write(
        {
            "mturkmake.toml": _toml(extra),
            "s.input": "word\n" + "".join(f"{r}\n" for r in rows),
            "s.question": question,
            "s.properties": props,
        }
    )


def _rows(elements: list[Element]) -> dict[int, list[Element]]:
    """The page's elements, split by the ``<article data-row=N>`` they fall in."""
    rows: dict[int, list[Element]] = {}
    current: int | None = None
    for element in elements:
        if element.tag == "article" and "data-row" in element.attrs:
            current = int(element.attrs["data-row"])
            rows[current] = []
        elif current is not None:
            rows[current].append(element)
    return rows


def _no_api_call(project: Project) -> None:
    assert not (project.root / ".mturkmake" / "local-marketplace.db").exists()


def _blocks(question: QuestionForm) -> list[ContentBlock]:
    blocks: list[ContentBlock] = []
    for section in question.sections:
        blocks += section.content
        if not isinstance(section, Overview) and isinstance(section.answer, SelectionSpec):
            for choice in section.answer.selections:
                blocks += choice.content
    return blocks


def _check_row(question: object, elements: list[Element]) -> None:
    """The row shows the question as a worker sees it: one control per choice of the right
    type, an <img> per image, a text box per free-text question, a frame per page."""
    frames = [e for e in elements if e.tag == "iframe"]
    if isinstance(question, HTMLQuestion):
        assert len(frames) == 1
        assert frames[0].attrs["srcdoc"] == question.html
        assert "sandbox" in frames[0].attrs
        return
    if isinstance(question, ExternalQuestion):
        assert len(frames) == 1
        src = frames[0].attrs["src"]
        assert "assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=" in src
        assert src.startswith(question.url.split("#", 1)[0])
        return
    assert isinstance(question, QuestionForm)
    assert frames == []
    for q in question.questions:
        mine = [e for e in elements if e.attrs.get("data-qid") == q.identifier]
        spec = q.answer
        if isinstance(spec, SelectionSpec):
            style = spec.style or ("checkbox" if spec.max_count > 1 else "radiobutton")
            pictures = any(b.kind != "text" for s in spec.selections for b in s.content)
            if style in ("list", "dropdown", "combobox", "multichooser") and not pictures:
                (select,) = mine
                assert select.tag == "select"
                # the options follow the select up to the next question's controls
                at = elements.index(select)
                options = [e.attrs["value"] for e in elements[at + 1 :] if e.tag == "option"]
                assert options[: len(spec.selections)] == list(spec.identifiers)
            else:
                kind = "checkbox" if style in ("checkbox", "multichooser") else "radio"
                assert [(e.tag, e.attrs["type"]) for e in mine] == [("input", kind)] * len(
                    spec.selections
                ) + [("input", kind)] * (spec.other is not None)
                assert [e.attrs["value"] for e in mine][: len(spec.selections)] == list(
                    spec.identifiers
                )
        elif isinstance(spec, FreeTextSpec):
            assert len(mine) == 1
            assert mine[0].tag == "textarea" or mine[0].attrs["type"] in ("text", "number")
    blocks = _blocks(question)
    images = sum(b.kind == "binary" and b.mime_type == "image" for b in blocks)
    images += sum(len(re.findall(r"<img\b", b.text)) for b in blocks if b.kind == "formatted")
    assert len([e for e in elements if e.tag == "img"]) == images


@pytest.mark.parametrize("name", BATCHES)
def test_every_clt_sample_batch_previews(mturkmake_project: Project, name: str) -> None:
    source = SAMPLES / name
    if not source.is_dir():
        pytest.skip(ABSENT)
    project = mturkmake_project
    for path in source.iterdir():
        if path.suffix in (".input", ".question", ".properties"):
            shutil.copy(path, project.root / path.name)
    project.write({"mturkmake.toml": _toml()})
    result = project.run(f"{name}.preview.html")
    assert result.exit_code == 0, result.output
    text = project.read(f"{name}.preview.html")
    doc = read_page(text)
    assert own_remote_assets(doc) == []
    assert doc.find("meta", name="viewport")
    files = [
        SourceFile(project.root / f"{name}.{s}", f"{name}.{s}")
        for s in ("input", "question", "properties")
    ]
    prepared = preflight(*files, engine=VelocityEngine(), endpoint_kind="local", limit=10)
    rows = _rows(doc.elements)
    assert sorted(rows) == [hit.index + 1 for hit in prepared.hits]
    assert len(rows) == min(10, len(prepared.rows))
    for hit in prepared.hits:
        question = parse_question(hit.question, source=name)
        _check_row(question, rows[hit.index + 1])
        assert str(hit.type_params["Title"]) in doc.text
    _no_api_call(project)
    assert not project.path(f"{name}.success").exists()


@pytest.mark.parametrize("question", [FORM, HTML, EXTERNAL], ids=["form", "html", "external"])
def test_a_cell_is_text_never_markup(mturkmake_project: Project, question: str) -> None:
    project = mturkmake_project
    _batch(project, question, [NASTY])
    result = project.run("s.preview.html")
    assert result.exit_code == 0, result.output
    doc = read_page(project.read("s.preview.html"))
    assert not doc.find("b")
    assert f"Label {NASTY}" in doc.text  # the header (title), as text
    if question is FORM:
        assert [e.attrs["value"] for e in doc.find("input", type="radio")] == [NASTY, "other"]
        assert doc.text.count(NASTY) >= 4  # title, description, question, choice
    elif question is HTML:
        (frame,) = doc.find("iframe")
        assert "<p>AT&amp;T &lt;b&gt;</p>" in frame.attrs["srcdoc"]
    else:
        (frame,) = doc.find("iframe")
        assert frame.attrs["src"].startswith(
            "https://example.com/task?w=AT%26T+%3Cb%3E&n=AT&T <b>&assignmentId="
        )


def test_preview_rows_limits_the_page(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _batch(project, FORM, [f"w{i}" for i in range(15)])
    assert project.run("s.preview.html").exit_code == 0
    assert sorted(_rows(read_page(project.read("s.preview.html")).elements)) == list(range(1, 11))
    _batch(project, FORM, [f"w{i}" for i in range(15)], extra="preview_rows = 3\n")
    # the config is not a prerequisite (as make's variables are not): -B remakes the page
    assert project.run("-B", "s.preview.html").exit_code == 0
    page = read_page(project.read("s.preview.html"))
    assert sorted(_rows(page.elements)) == [1, 2, 3]
    assert "The first 3 of 15 rows" in page.text


def test_loadhits_preview_writes_the_page_and_creates_nothing(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    _batch(project, FORM, ["cat", "dog"])
    args = (
        "loadHITs",
        "-input",
        "s.input",
        "-question",
        "s.question",
        "-properties",
        "s.properties",
        "-preview",
    )
    result = project.run(*args, "-previewfile", "look.html")
    assert result.exit_code == 0, result.output
    assert " Preview mode enabled" in result.stdout
    assert "Wrote a preview of 2 HITs to look.html; nothing was sent." in result.stdout
    doc = read_page(project.read("look.html"))
    assert sorted(_rows(doc.elements)) == [1, 2]
    assert "Label dog" in doc.text
    result = project.run(*args)
    assert result.exit_code == 0, result.output
    assert project.path("preview.html").exists()  # the CLT's default name
    _no_api_call(project)
    assert not project.path("s.success").exists()
    result = project.run(*args, "-previewfile", "no/such/folder.html")
    assert result.exit_code == 2
    assert "-previewfile no/such/folder.html: the folder" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("mode", ["make", "clt"])
@pytest.mark.parametrize(
    ("question", "rows", "expected"),
    [
        (FORM.replace("${word}?", "${nosuch}?"), ["cat"], "s.question:3:"),
        (FORM, ["cat", "x" * 70_000], "s.question merged with s.input:3"),
    ],
    ids=["unknown-column", "over-long-question"],
)
def test_a_bad_row_fails_the_preview_as_it_would_fail_the_load(
    mturkmake_project: Project, mode: str, question: str, rows: list[str], expected: str
) -> None:
    project = mturkmake_project
    # fixed properties: the long cell must reach the question, not the title first
    _batch(project, question, rows, props=PROPERTIES.replace("${word}", "words"))
    if mode == "make":
        result = project.run("s.preview.html")
        page = project.path("s.preview.html")
    else:
        result = project.run(
            "loadHITs",
            "-input",
            "s.input",
            "-question",
            "s.question",
            "-properties",
            "s.properties",
            "-preview",
        )
        page = project.path("preview.html")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert expected in errors[0]
    assert "Traceback" not in result.output
    assert not page.exists()
    assert not list(project.root.glob(".*mturkmake-tmp"))
    _no_api_call(project)


def test_the_rule_is_listed_and_dry_run_writes_nothing(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _batch(project, FORM, ["cat"])
    result = project.run("-n", "s.preview.html")
    assert result.exit_code == 0, result.output
    assert not project.path("s.preview.html").exists()
    assert project.run("s.preview.html").exit_code == 0
    assert project.run("-q", "s.preview.html").exit_code == 0  # up to date
