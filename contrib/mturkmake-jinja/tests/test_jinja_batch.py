"""A batch on the local marketplace with ``template_engine = "jinja"``: its HITs are
byte-identical to those of its Velocity twin, and an undefined name stops the load in
preflight, before any HIT exists.

Runs only where mturkmake-jinja is installed; elsewhere it skips, unless
``MTURKMAKE_REQUIRE_CONTRIB=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

import pytest

DIST = "mturkmake-jinja"


def _require_installed() -> None:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        reason = f"{DIST} is not installed (pip install -e contrib/{DIST})"
        if os.environ.get("MTURKMAKE_REQUIRE_CONTRIB") == "1":
            pytest.fail(f"{reason}; MTURKMAKE_REQUIRE_CONTRIB=1 forbids skipping", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


_require_installed()

from mturkmake.hookspecs import TemplateEngine  # noqa: E402
from mturkmake.testing import Project  # noqa: E402

INPUT = (
    "text\turl\tid\n"
    "Tom & Jerry <3\thttp://x.test/a?b=1&c=2\t1\n"
    '"A ""quoted"" review, é and ~tilde"\thttp://x.test/é\t2\n'
    "plain\thttp://x.test/\t3\n"
)
QUESTION = """<?xml version="1.0" encoding="UTF-8"?>
<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd">
  <Overview>
    <Text>{text}</Text>
    <Text>Raw: {text_raw}</Text>
    <Text>Link: {link}</Text>
    <Text>Made on {today}</Text>
  </Overview>
  <Question>
    <QuestionIdentifier>label</QuestionIdentifier>
    <QuestionContent><Text>Is it positive?</Text></QuestionContent>
    <AnswerSpecification>
      <SelectionAnswer>
        <Selections>
          <Selection><SelectionIdentifier>yes</SelectionIdentifier><Text>Yes</Text></Selection>
          <Selection><SelectionIdentifier>no</SelectionIdentifier><Text>No</Text></Selection>
        </Selections>
      </SelectionAnswer>
    </AnswerSpecification>
  </Question>
</QuestionForm>
"""
VELOCITY = {
    "text": "${text}",
    "text_raw": "${text_raw.replace('&', 'and').replace('<', 'lt')}",
    "link": "https://x.test/?u=$helper.urlencode(${url_raw})",
    "today": "$today",
}
JINJA = {
    "text": "{{ text }}",
    "text_raw": "{{ text_raw.replace('&', 'and').replace('<', 'lt') }}",
    "link": "https://x.test/?u={{ helper.urlencode(url_raw) }}",
    "today": "{{ today }}",
}
PROPERTIES = """title:Label a short text
description:Say whether the text is positive.
keywords:label, text
reward:0.02
assignments:1
assignmentduration:600
hitlifetime:3600
autoapprovaldelay:3600
"""
#: HIT fields that differ between any two loads (ids, times), not what a template makes.
VOLATILE = {"HITId", "HITTypeId", "HITGroupId", "CreationTime", "Expiration"}


def _project(root: Path, engine: str, values: dict[str, str], properties: str, **kw: Any) -> None:
    project = Project(root, kw["capsys"], kw["monkeypatch"])
    project.configure(endpoint="local", template_engine=engine)
    project.write(
        {
            "t.input": INPUT,
            "t.question": QUESTION.format(**values),
            "t.properties": properties,
        }
    )


def _own(key: str, value: Any) -> Any:
    """A HIT field without what differs between two project folders: the project marker
    mturkmake adds to RequesterAnnotation (each folder is a project of its own)."""
    if key != "RequesterAnnotation":
        return value
    try:
        from mturkmake.mturk.project import strip_marker
    except ImportError:  # an mturkmake from before project ids
        return value
    return strip_marker(value)


def _load(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    properties: tuple[str, str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # $today / {{ today }} fixed
    loaded = []
    for engine, values, props in (
        ("velocity", VELOCITY, properties[0]),
        ("jinja", JINJA, properties[1]),
    ):
        root = tmp_path / engine
        root.mkdir()
        _project(root, engine, values, props, capsys=capsys, monkeypatch=monkeypatch)
        project = Project(root, capsys, monkeypatch)
        result = project.run("t.success")
        assert result.exit_code == 0, result.output
        assert len(project.table("t.success")) == 3
        hits = [
            {k: _own(k, v) for k, v in hit.items() if k not in VOLATILE} for hit in project.hits()
        ]
        loaded.append(sorted(hits, key=lambda hit: str(hit["Question"])))
    return loaded[0], loaded[1]


def test_a_jinja_question_makes_the_hits_of_its_velocity_twin(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mturkmake_env: None,
) -> None:
    velocity, jinja = _load(tmp_path, capsys, monkeypatch, (PROPERTIES, PROPERTIES))
    assert len(jinja) == 3
    assert [h["Question"] for h in jinja] == [h["Question"] for h in velocity]
    assert jinja == velocity
    first = next(h["Question"] for h in jinja if "Tom" in h["Question"]).encode("utf-8")
    assert b"<Text>Tom &amp; Jerry &lt;3</Text>" in first
    assert b"Raw: Tom and Jerry lt3" in first
    assert b"u=http%3A%2F%2Fx.test%2Fa%3Fb%3D1%26c%3D2" in first


@pytest.mark.skipif(
    not hasattr(TemplateEngine, "is_template"),
    reason="preflight finds templated properties with TemplateEngine.is_template, "
    "which this mturkmake does not have yet",
)
def test_templated_properties_merge_like_velocitys(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mturkmake_env: None,
) -> None:
    extra = "annotation:row ${id} of ${url_raw}\ntitle:Label text ${id}\n"
    twin = extra.replace("${id}", "{{ id }}").replace("${url_raw}", "{{ url_raw }}")
    # The templated title replaces the plain one: a repeated key is an error (issue #12).
    base = PROPERTIES.replace("title:Label a short text\n", "")
    velocity, jinja = _load(tmp_path, capsys, monkeypatch, (base + extra, base + twin))
    assert jinja == velocity
    assert "row 1 of http://x.test/a?b=1&c=2" in {h["RequesterAnnotation"] for h in jinja}
    assert {h["Title"] for h in jinja} == {"Label text 1", "Label text 2", "Label text 3"}


def test_an_undefined_name_stops_the_load_before_any_hit(
    mturkmake_local_project: Project,
) -> None:
    project = mturkmake_local_project
    project.configure(template_engine="jinja")
    question = QUESTION.format(**JINJA).replace("{{ text }}", "{{ txet }}")
    project.write({"t.input": INPUT, "t.question": question, "t.properties": PROPERTIES})
    result = project.run("t.success")
    assert result.exit_code == 2
    line = question.splitlines().index("    <Text>{{ txet }}</Text>") + 1
    assert f"t.question:{line}: {{{{ txet }}}} is not an input column" in result.stderr
    assert "did you mean {{ text }}?" in result.stderr
    assert not project.path("t.success").exists()
    assert not project.path(".mturkmake/local-marketplace.db").exists() or project.hits() == []
