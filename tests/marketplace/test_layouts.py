"""HIT layouts: registered with ``mturkmake marketplace layout add``, merged at CreateHIT with
HITLayoutParameters (escaped, none missing), answered by the crowd like any HTMLQuestion."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mturkmake.formats.answers import parse_answers
from mturkmake.marketplace.service import Marketplace, MarketplaceSettings

from .conftest import inprocess_client
from .test_awscli import mturkmake_cli, offline_env

LAYOUT = (
    '<!DOCTYPE html><html><body><h1>${title}</h1><img src="${image_url}" alt="${title}"/>'
    '<form name="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">'
    '<input type="hidden" name="assignmentId" value=""/>'
    '<input type="radio" name="animal" value="cat"/><input type="radio" name="animal" '
    'value="dog"/><input type="submit"/></form></body></html>'
)
PARAMETERS = [
    {"Name": "title", "Value": 'Cats & "dogs" <b>'},
    {"Name": "image_url", "Value": "https://example.com/pic.jpg?a=1&b=2"},
]


def create(client: Any, layout_id: str, parameters: list[dict[str, str]]) -> dict[str, Any]:
    hit: dict[str, Any] = client.create_hit(
        Title="Which animal?",
        Description="Pick one",
        Reward="0.10",
        LifetimeInSeconds=3600,
        AssignmentDurationInSeconds=600,
        MaxAssignments=2,
        HITLayoutId=layout_id,
        HITLayoutParameters=parameters,
    )["HIT"]
    return hit


def test_a_layout_hit_renders_its_parameters_and_is_answered(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db", MarketplaceSettings(workers=5))
    client = inprocess_client(market)
    layout_id = market.register_layout("animals", LAYOUT)
    hit = create(client, layout_id, PARAMETERS)
    assert hit["HITLayoutId"] == layout_id
    question = client.get_hit(HITId=hit["HITId"])["HIT"]["Question"]
    assert question.startswith("<HTMLQuestion")
    assert "<h1>Cats &amp; &quot;dogs&quot; &lt;b&gt;</h1>" in question
    assert 'src="https://example.com/pic.jpg?a=1&amp;b=2"' in question
    assert "${" not in question
    market.advance(3600)
    listed = client.list_assignments_for_hit(HITId=hit["HITId"])["Assignments"]
    assert len(listed) == 2
    for assignment in listed:
        answers = parse_answers(assignment["Answer"], source="test")
        assert answers["animal"] in ("cat", "dog")
        fetched = client.get_assignment(AssignmentId=assignment["AssignmentId"])
        assert fetched["Assignment"]["Answer"] == assignment["Answer"]
        assert fetched["HIT"]["HITLayoutId"] == layout_id


def test_a_missing_parameter_and_an_unknown_layout_are_refused(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db", MarketplaceSettings(workers=0))
    client = inprocess_client(market)
    layout_id = market.register_layout("animals", LAYOUT)
    with pytest.raises(ClientError) as missing:
        create(client, layout_id, PARAMETERS[:1])
    assert missing.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert "needs a value for image_url" in missing.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as unknown:
        create(client, "3NOSUCHLAYOUT0000000000000000", PARAMETERS)
    assert unknown.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidParameterValue"
    assert "does not exist" in unknown.value.response["Error"]["Message"]
    assert client.list_hits()["NumResults"] == 0


def test_the_layout_add_command_registers_a_layout(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "mturkmake.toml").write_text('endpoint = "local"\n', encoding="utf-8")
    template = project / "animals.html"
    template.write_text(LAYOUT, encoding="utf-8")
    added = subprocess.run(
        mturkmake_cli("marketplace", "layout", "add", "animals", "animals.html"),
        cwd=project,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    layout_id = added.stdout.strip()
    assert layout_id.isalnum()
    assert layout_id.isupper()
    market = Marketplace(project / ".mturkmake" / "local-marketplace.db")
    assert market.layouts() == [
        {"HITLayoutId": layout_id, "Name": "animals", "Parameters": ["title", "image_url"]}
    ]
    hit = create(inprocess_client(market), layout_id, PARAMETERS)
    assert hit["HITLayoutId"] == layout_id
    missing = subprocess.run(
        mturkmake_cli("marketplace", "layout", "add", "animals", "nowhere.html"),
        cwd=project,
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
    assert "nowhere.html" in missing.stderr


def test_a_layout_hit_of_an_existing_hit_type(tmp_path: Path) -> None:
    market = Marketplace(tmp_path / "m.db", MarketplaceSettings(workers=3))
    client = inprocess_client(market)
    layout_id = market.register_layout("animals", LAYOUT)
    type_id = client.create_hit_type(
        Title="Which animal?",
        Description="Pick one",
        Reward="0.10",
        AssignmentDurationInSeconds=600,
    )["HITTypeId"]
    hit = client.create_hit_with_hit_type(
        HITTypeId=type_id,
        LifetimeInSeconds=3600,
        MaxAssignments=1,
        HITLayoutId=layout_id,
        HITLayoutParameters=PARAMETERS,
    )["HIT"]
    assert hit["HITLayoutId"] == layout_id
    assert "<h1>Cats &amp; &quot;dogs&quot; &lt;b&gt;</h1>" in hit["Question"]
    market.advance(3600)
    (assignment,) = client.list_assignments_for_hit(HITId=hit["HITId"])["Assignments"]
    assert parse_answers(assignment["Answer"], source="test")["animal"] in ("cat", "dog")
