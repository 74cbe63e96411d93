"""The pytest plugin's kit (``mturkmake.testing``): builders, a real Context, a local project."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mturkmake.errors import ConfigError
from mturkmake.hookspecs import ConfigKey, Context, hookimpl
from mturkmake.testing import AssignmentBuilder, Project, make_context, toml_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_the_builder_makes_distinct_deterministic_assignments() -> None:
    first, second = AssignmentBuilder(), AssignmentBuilder()
    for build in (first, second):
        build.hit({"AW1": {"q": "a"}, "AW2": {"q": "b|c"}}, inputs={"text": "x"})
        build.hit({"AW1": {"q": "c"}})
        build.assignment("AW3", {"q": "d"}, status="Approved")
    assert first.assignments == second.assignments
    ids = [a.assignment_id for a in first.assignments]
    assert len(set(ids)) == 4
    hits = [a.hit_id for a in first.assignments]
    assert hits[0] == hits[1] != hits[2]
    one = first.assignments[1]
    assert (one.worker_id, one.answers, one.inputs, one.status) == (
        "AW2",
        {"q": "b|c"},
        {"text": "x"},
        "Submitted",
    )
    assert one.row["Answer.q"] == "b|c"
    assert one.row["Input.text"] == "x"
    assert one.row["assignmentid"] == one.assignment_id
    assert first.assignments[3].status == "Approved"


class _Plugin:
    """A plugin declaring a key and recording the configuration it was given."""

    def __init__(self) -> None:
        self.seen: object = None

    @hookimpl
    def mturkmake_config_keys(self) -> list[ConfigKey]:
        return [ConfigKey("colour", str, "red", "a colour")]

    @hookimpl
    def mturkmake_configure(self, config: object) -> None:
        self.seen = config


def test_make_context_builds_a_real_configuration(tmp_path: Path) -> None:
    plugin = _Plugin()
    ctx = make_context(tmp_path, {"colour": "blue"}, plugins=[plugin], options={"yes": True})
    assert ctx.config.get("colour") == "blue"
    assert ctx.config.get("endpoint") == "local"
    assert ctx.config.sources["colour"] == str(tmp_path / "mturkmake.toml")
    assert plugin.seen is ctx.config
    assert ctx.options["yes"] is True
    assert "answer-key" in ctx.host.evaluators()  # the built-ins are there
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        make_context(tmp_path, {"colour": "blue"})  # without the plugin, nobody declares it


def test_the_context_fixture(mturkmake_context: Callable[..., Context]) -> None:
    ctx = mturkmake_context({"evaluators": ["approve-all"]})
    assert ctx.config.get("evaluators") == ["approve-all"]
    assert ctx.root.is_dir()


def test_toml_text_round_trips() -> None:
    values = {
        "endpoint": "local",
        "evaluators": ["a", "b"],
        "gold_columns": {"q": "gold col"},
        "min_accuracy": 0.75,
        "yes": True,
        "note": 'say "hi"\\now',
        "local": {"workers": 5, "planted": [{"id": "AX", "share": 1.0}]},
    }
    assert tomllib.loads(toml_text(values)) == values


def test_a_local_project_loads_and_reads_back(mturkmake_local_project: Project) -> None:
    project = mturkmake_local_project
    assert tomllib.loads(project.read("mturkmake.toml")) == {"endpoint": "local"}
    project.configure(max_reject_share=0.5)
    assert tomllib.loads(project.read("mturkmake.toml")) == {
        "endpoint": "local",
        "max_reject_share": 0.5,
    }
    project.write(
        {
            "a.input": "text\nfirst\nsecond\n",
            "a.question": (
                '<?xml version="1.0" encoding="UTF-8"?>\n<QuestionForm xmlns="http://'
                "mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
                'QuestionForm.xsd"><Question><QuestionIdentifier>q</QuestionIdentifier>'
                "<QuestionContent><Text>${text}</Text></QuestionContent><AnswerSpecification>"
                "<FreeTextAnswer/></AnswerSpecification></Question></QuestionForm>\n"
            ),
            "a.properties": "title:T\ndescription:D\nreward:0.01\nassignments:1\n"
            "assignmentduration:600\nhitlifetime:3600\nautoapprovaldelay:3600\n",
        }
    )
    result = project.run("a.success")
    assert result.exit_code == 0, result.output
    rows = project.table("a.success")
    assert len(rows) == 2
    hits = project.hits()
    assert sorted(h["HITId"] for h in hits) == sorted(r["hitid"] for r in rows)
    assert project.marketplace_call("GetHIT", {"HITId": rows[0]["hitid"]})["HIT"]["Title"] == "T"
