"""updateHITs on the local marketplace, through the CLI in CLT syntax."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import balance, batch_files, marketplace, properties
from tests.plugins.test_extend_hits import hit, loaded


def updates(project: Project) -> Counter[str]:
    with marketplace(project) as market:
        return Counter(e[1] for e in market.request_log() if e[0] == "UpdateHITTypeOfHIT")


def new_properties(reward: str = "0.10") -> str:
    return properties(reward=reward).replace("title:Answer a question", "title:A better title")


def test_moves_hits_to_the_new_type_with_seed_003s_output(mturkmake_project: Project) -> None:
    project = mturkmake_project
    hits = loaded(project, rows=2)
    project.write({"new.properties": new_properties()})
    money = balance(project)
    result = project.run(
        "updateHITs", "-success", "survey.success", "-properties", "new.properties"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    type_id = hit(project, hits[0])["HITTypeId"]
    assert lines[:4] == [
        "--[Initializing]----------",
        " Success File: survey.success",
        " Properties: new.properties",
        "Cost: 2 HITs, reward $0.05 → $0.10 on 2 open assignments = $0.10 + $0.02 fees = $0.12 "
        "(local marketplace: no real money)",
    ]
    assert lines[4] == "--[Updating HITs]----------"
    assert lines[5].startswith("  Start time: ")
    assert lines[6:8] == ["  Input: 2 hitids", f"  New HITTypeId: {type_id}"]
    assert lines[8:10] == [
        f"Updated HIT #{n} ({h}) to new HITTypeId {type_id}" for n, h in enumerate(hits)
    ]
    assert lines[10].startswith("  End time: ")
    assert lines[11:14] == [
        "--[Done Updating HITs]----------",
        "2 HITS were processed",
        "2 HITS were updated",
    ]
    assert lines[14].startswith("  Total load time: ")
    for h in hits:
        after = hit(project, h)
        assert after["Title"] == "A better title"
        assert Decimal(after["Reward"]) == Decimal("0.10")
    assert project.read("survey.success.success") == (
        "hitid\thittypeid\n" + "".join(f"{h}\t{type_id}\n" for h in hits)
    )
    assert money - balance(project) == Decimal("0.12")
    again = project.run("updateHITs", "-success", "survey.success", "-properties", "new.properties")
    assert again.exit_code == 0, again.output
    assert updates(project) == Counter({h: 1 for h in hits})
    # the CLT's writer appends, header included
    assert project.read("survey.success.success").count("hitid\thittypeid\n") == 2


def test_a_reward_increase_over_the_budget_stops_before_any_call(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write({**batch_files(2), "new.properties": new_properties("5.00")})
    project.write({"mturkmake.toml": project.read("mturkmake.toml") + "budget = 2\n"})
    assert project.run("survey.success").exit_code == 0
    result = project.run(
        "updateHITs", "-success", "survey.success", "-properties", "new.properties"
    )
    assert result.exit_code == 2
    assert "budget" in result.stderr
    assert updates(project) == Counter()
    assert not project.path("survey.success.success").exists()


def test_missing_files_exit_2_naming_them(mturkmake_project: Project) -> None:
    project = mturkmake_project
    loaded(project, rows=1)
    result = project.run(
        "updateHITs", "-success", "nope.success", "-properties", "survey.properties"
    )
    assert result.exit_code == 2
    assert "nope.success: no such file (given as -success)" in result.stderr


def test_an_unknown_hit_fails_alone_and_goes_to_the_failure_file(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    (only,) = loaded(project, rows=1)
    project.write(
        {
            "mixed.success": f"hitid\thittypeid\nNOSUCHHIT0000000000\tOLDTYPE\n{only}\tX\n",
            "new.properties": new_properties("0.05"),
        }
    )
    result = project.run("updateHITs", "-success", "mixed.success", "-properties", "new.properties")
    assert result.exit_code == 2
    assert "Failed to update HIT #0 (NOSUCHHIT0000000000)" in result.stderr
    type_id = hit(project, only)["HITTypeId"]
    assert f"Updated HIT #1 ({only}) to new HITTypeId {type_id}" in result.stdout
    assert "2 HITS were processed" in result.stdout
    assert "1 HITS were updated" in result.stdout
    assert (
        project.read("mixed.success.failure") == "hitid\thittypeid\nNOSUCHHIT0000000000\tOLDTYPE\n"
    )
    assert project.read("mixed.success.success") == f"hitid\thittypeid\n{only}\t{type_id}\n"
    assert hit(project, only)["Title"] == "A better title"
