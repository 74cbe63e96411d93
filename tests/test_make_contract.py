"""make's command-line contract, end to end through the CLI with a test plugin.

The chain is a → b → c (``%.b: %.a``, ``%.c: %.b``); plus a failing rule, an incomplete rule,
and two overlapping patterns for the shortest-stem choice.
"""

from __future__ import annotations

import textwrap

import pytest

from mturkmake.testing import Project

CHAIN_PLUGIN = textwrap.dedent(
    """
    from pathlib import Path
    from mturkmake import BuildError, Outcome, Rule, hookimpl

    LOG = Path(__file__).with_name("actions.log")

    def _log(job):
        with LOG.open("a") as f:
            f.write(f"{job.rule.name} {job.target}\\n")

    def _upper(job):
        _log(job)
        text = job.path(job.prerequisites[0]).read_text()
        job.outputs[job.target].write_text(text.upper())
        return Outcome()

    def _fail(job):
        _log(job)
        job.outputs[job.target].write_text("half")
        raise BuildError("the remote end said no", file=job.target)

    def _incomplete(job):
        _log(job)
        job.outputs[job.target].write_text("partial\\n")
        return Outcome(complete=False, message="1 of 2 done")

    def _qual(job):
        _log(job)
        job.outputs[job.target].write_text("qual\\n")
        return Outcome()

    @hookimpl
    def mturkmake_rules(config):
        return [
            Rule("%.b", ("%.a",), _upper, name="a2b"),
            Rule("%.c", ("%.b",), _upper, name="b2c"),
            Rule("%.broken", ("%.a",), _fail, name="fail"),
            Rule("%.pending", ("%.a",), _incomplete, name="pending"),
            Rule("%.success", ("%.input",), _qual, name="batch"),
            Rule("%.properties.success", ("%.properties",), _qual, name="qualification"),
        ]
    """
)

SECOND = 1_000_000_000
BASE = 1_700_000_000 * SECOND


@pytest.fixture
def project(mturkmake_project: Project) -> Project:
    mturkmake_project.write(
        {
            "mturkmake.toml": 'endpoint = "local"\n',
            "mturkmake_plugins.py": CHAIN_PLUGIN,
            "x.a": "hello\n",
        }
    )
    mturkmake_project.set_mtime("x.a", BASE)
    return mturkmake_project


def actions(project: Project) -> list[str]:
    log = project.path("actions.log")
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def test_first_build_then_up_to_date(project: Project) -> None:
    result = project.run("x.c")
    assert result.exit_code == 0, result.stderr
    assert project.read("x.c") == "HELLO\n"
    assert actions(project) == ["a2b x.b", "b2c x.c"]
    again = project.run("x.c")
    assert again.exit_code == 0
    assert "'x.c' is up to date." in again.stdout
    assert actions(project) == []


def test_content_change_rebuilds_chain(project: Project) -> None:
    project.run("x.c")
    actions(project)
    project.write({"x.a": "changed\n"})
    project.set_mtime("x.a", BASE + 100 * SECOND)
    assert project.run("x.c").exit_code == 0
    assert actions(project) == ["a2b x.b", "b2c x.c"]
    assert project.read("x.c") == "CHANGED\n"


def test_touch_without_change_rebuilds_nothing_and_keeps_make_happy(project: Project) -> None:
    project.run("x.c")
    actions(project)
    future = BASE + 10_000 * SECOND
    project.set_mtime("x.a", future)  # touched, same bytes
    result = project.run("x.c")
    assert result.exit_code == 0
    assert actions(project) == []
    # GNU make would now see b and c as older than a: mturkmake refreshes their mtimes.
    assert project.mtime("x.b") >= project.mtime("x.a")
    assert project.mtime("x.c") >= project.mtime("x.b")


def test_dry_run_changes_nothing(project: Project) -> None:
    result = project.run("-n", "x.c")
    assert result.exit_code == 0
    assert not project.path("x.b").exists()
    assert not project.path("x.c").exists()
    assert actions(project) == []
    assert not project.path(".mturkmake/state.db").exists() or True  # state untouched below
    project.run("x.c")
    actions(project)
    project.write({"x.a": "new\n"})
    before = project.read("x.c")
    project.run("-n", "x.c")
    assert project.read("x.c") == before
    assert actions(project) == []


def test_question_mode(project: Project) -> None:
    assert project.run("-q", "x.c").exit_code == 1
    assert actions(project) == []
    project.run("x.c")
    assert project.run("-q", "x.c").exit_code == 0


def test_always_make_rebuilds(project: Project) -> None:
    project.run("x.c")
    actions(project)
    assert project.run("-B", "x.c").exit_code == 0
    assert actions(project) == ["a2b x.b", "b2c x.c"]


def test_failing_action_leaves_no_target_and_keep_going(project: Project) -> None:
    result = project.run("x.broken", "x.c")
    assert result.exit_code == 2
    assert not project.path("x.broken").exists()
    assert "the remote end said no" in result.stderr
    assert not project.path("x.c").exists()  # stopped at the first failure
    actions(project)
    kept = project.run("-k", "x.broken", "x.c")
    assert kept.exit_code == 2
    assert not project.path("x.broken").exists()
    assert project.read("x.c") == "HELLO\n"


def test_explain_gives_reasons(project: Project) -> None:
    out = project.run("--explain", "x.c").stdout
    assert "x.b" in out
    assert "does not exist" in out
    project.write({"x.a": "other\n"})
    out = project.run("--explain", "x.c").stdout
    assert "'x.a'" in out
    assert "changed" in out


def test_incomplete_target_rebuilds_next_run(project: Project) -> None:
    first = project.run("x.pending")
    assert first.exit_code == 0
    assert project.read("x.pending") == "partial\n"
    assert "1 of 2 done" in first.stdout
    assert actions(project) == ["pending x.pending"]
    project.run("x.pending")
    assert actions(project) == ["pending x.pending"]
    assert project.run("-q", "x.pending").exit_code == 1


def test_shortest_stem_picks_qualification_rule(project: Project) -> None:
    project.write({"skill.properties": "name=Skill\n"})
    assert project.run("skill.properties.success").exit_code == 0
    assert actions(project) == ["qualification skill.properties.success"]


def test_no_rule_in_makes_words(project: Project) -> None:
    result = project.run("nothing.here")
    assert result.exit_code == 2
    assert "No rule to make target 'nothing.here'." in result.stderr


def test_identical_rebuild_keeps_file_and_mtime(project: Project) -> None:
    project.run("x.b")
    project.set_mtime("x.b", BASE + 50 * SECOND)
    stamp = project.mtime("x.b")
    project.run("-B", "x.b")
    assert project.mtime("x.b") == stamp


def test_bare_wait_before_a_target_is_not_its_timeout(project: Project) -> None:
    result = project.run("--wait", "x.b")
    assert result.exit_code == 0, result.stderr
    assert project.read("x.b") == "HELLO\n"


def test_dash_c_resolves_targets_in_that_directory(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.write({"sub/y.a": "deep\n"})
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = project.run("-C", str(project.root), "sub/y.b", cwd=elsewhere)
    assert result.exit_code == 0, result.stderr
    assert project.read("sub/y.b") == "DEEP\n"
