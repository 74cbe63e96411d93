"""extendHITs, updateHITs and deleteHITs in a copied folder (a fork with its own project_id)
refuse the HITs of the project it was copied from: the marker in their RequesterAnnotation
says whose they are. Asserted on the local marketplace the fork shares with its origin."""

from __future__ import annotations

import shutil
from collections import Counter

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import marketplace, properties
from tests.plugins.test_extend_hits import hit, loaded
from tests.plugins.test_load_hits import delete_ledger


def _fork(project: Project) -> Project:
    """A copy of the folder (its local marketplace too: one account) without the ledger and
    without the project_id: a project of its own that sees the origin's HITs."""
    target = project.root.parent / "fork"
    shutil.copytree(project.root, target)
    delete_ledger(target)
    toml = target / "mturkmake.toml"
    lines = toml.read_text(encoding="utf-8").splitlines(True)
    toml.write_text("".join(line for line in lines if "project_id" not in line), "utf-8")
    return Project(target, project._capsys, project._monkeypatch)


def side_effects(project: Project) -> Counter[str]:
    """Every operation the marketplace was asked that is not a read."""
    with marketplace(project) as market:
        return Counter(e[0] for e in market.request_log() if not e[0].startswith(("Get", "List")))


def _one_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_extend_hits_refuses_another_projects_hits_before_any_change(
    mturkmake_project: Project,
) -> None:
    hits = loaded(mturkmake_project, rows=2)
    before = [hit(mturkmake_project, h) for h in hits]
    fork = _fork(mturkmake_project)
    effects = side_effects(fork)
    result = fork.run("extendHITs", "-successfile", "survey.success", "-assignments", "2")
    assert result.exit_code == 2
    line = _one_error(result.stderr)
    assert line.startswith("mturkmake: survey.success: HIT ")
    assert "belongs to another mturkmake project" in line
    assert "nothing was changed" in line
    assert [hit(fork, h) for h in hits] == before  # same MaxAssignments, same Expiration
    assert side_effects(fork) == effects


def test_update_hits_refuses_another_projects_hits_before_any_change(
    mturkmake_project: Project,
) -> None:
    hits = loaded(mturkmake_project, rows=2)
    fork = _fork(mturkmake_project)
    fork.write({"new.properties": properties(reward="0.10")})
    effects = side_effects(fork)
    result = fork.run("updateHITs", "-success", "survey.success", "-properties", "new.properties")
    assert result.exit_code == 2
    assert "belongs to another mturkmake project" in _one_error(result.stderr)
    assert [hit(fork, h)["Reward"] for h in hits] == ["0.05", "0.05"]
    assert side_effects(fork) == effects
    assert not fork.path("survey.success.success").exists()


def test_delete_hits_leaves_another_projects_hits_alone(mturkmake_project: Project) -> None:
    hits = loaded(mturkmake_project, rows=2)
    fork = _fork(mturkmake_project)
    effects = side_effects(fork)
    result = fork.run("deleteHITs", "-successfile", "survey.success", "-expire", "-force")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if "Error deleting HIT" in line]
    assert len(errors) == 2
    assert all("belongs to another mturkmake project" in line for line in errors)
    assert [hit(fork, h)["HITStatus"] for h in hits] == ["Assignable", "Assignable"]
    assert side_effects(fork) == effects
    # the origin itself still deletes them
    done = mturkmake_project.run(
        "deleteHITs", "-successfile", "survey.success", "-expire", "-force"
    )
    assert done.exit_code == 0, done.output
    assert [hit(mturkmake_project, h)["HITStatus"] for h in hits] == ["Disposed", "Disposed"]


def test_grant_bonus_and_bonused_refuse_another_projects_work(mturkmake_project: Project) -> None:
    from tests.plugins.test_grant_bonus import bonus_payments, one_assignment

    aid, worker = one_assignment(mturkmake_project)
    fork = _fork(mturkmake_project)
    result = fork.run(
        "grantBonus", "-workerid", worker, "-assignment", aid, "-amount", "1.00", "-reason", "x"
    )
    assert result.exit_code == 2
    line = _one_error(result.stderr)
    assert "belongs to another mturkmake project" in line
    assert "nothing was paid" in line
    # a .bonus without .results beside it: every row is looked up (GetAssignment)
    fork.write({"extra.bonus": f"assignmentid\tworkerid\tamount\treason\n{aid}\t{worker}\t1\tx\n"})
    result = fork.run("extra.bonused")
    assert result.exit_code == 2
    assert "extra.bonus:2:" in _one_error(result.stderr)
    assert bonus_payments(fork, aid) == []
    assert not fork.path("extra.bonused").exists()


def test_results_refuse_another_projects_hits_in_make_and_clt_mode(
    mturkmake_project: Project,
) -> None:
    loaded(mturkmake_project, rows=2)
    fork = _fork(mturkmake_project)
    result = fork.run("survey.results")  # the copied .success is adopted as it is
    assert result.exit_code == 2
    line = _one_error(result.stderr)
    assert line.startswith("mturkmake: 'survey.results': survey.success: HIT ")
    assert "belongs to another mturkmake project" in line
    assert not fork.path("survey.results").exists()
    clt = fork.run("getResults", "-successfile", "survey.success", "-outputfile", "out.results")
    assert clt.exit_code == 2
    assert "belongs to another mturkmake project" in clt.stderr
    assert not fork.path("out.results").exists()
    assert mturkmake_project.run("survey.results").exit_code == 0  # the origin fetches them
