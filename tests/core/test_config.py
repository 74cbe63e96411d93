"""Configuration: project root, precedence, types, and one-line errors naming the file."""

from __future__ import annotations

import textwrap

import pytest

from mturkmake.testing import Project

SHOW = textwrap.dedent(
    """
    from mturkmake import CommandSpec, hookimpl
    from mturkmake.mturk.settings import settings
    def _show(args, ctx):
        c = ctx.config
        s = settings(c)
        print(f"endpoint={s.endpoint} kind={s.kind} from={c.sources['endpoint']}")
        print(f"budget={c.get('budget')!r} root={c.root.name}")
        return 0
    @hookimpl
    def mturkmake_commands():
        return [CommandSpec("show", (), _show)]
    """
)


@pytest.fixture
def project(mturkmake_project: Project) -> Project:
    mturkmake_project.write({"mturkmake_plugins.py": SHOW})
    return mturkmake_project


def test_default_is_sandbox(project: Project) -> None:
    out = project.run("show").stdout
    assert "endpoint=sandbox kind=sandbox from=default" in out


def test_precedence_end_to_end(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.write(
        {
            "mturk.properties": "service_url=https://mechanicalturk.sandbox.amazonaws.com/?Service=AWSMechanicalTurkRequester\n",
        }
    )
    assert "endpoint=sandbox kind=sandbox from=mturk.properties" in project.run("show").stdout

    project.write({"mturkmake.toml": 'endpoint = "local"\nbudget = 12.5\n'})
    out = project.run("show").stdout
    assert "endpoint=local kind=local" in out
    assert "mturkmake.toml" in out
    assert "budget=12.5" in out

    monkeypatch.setenv("MTURKMAKE_ENDPOINT", "production")
    monkeypatch.setenv("MTURKMAKE_BUDGET", "3")
    out = project.run("show").stdout
    assert "endpoint=production kind=production from=MTURKMAKE_ENDPOINT" in out
    assert "budget=3" in out

    out = project.run("--endpoint", "http://127.0.0.1:8765/", "show").stdout
    assert "endpoint=http://127.0.0.1:8765/ kind=local from=--endpoint" in out

    out = project.run("--sandbox", "show").stdout
    assert "endpoint=sandbox kind=sandbox from=--endpoint" in out


def test_non_sandbox_service_url_without_endpoint_is_an_error(project: Project) -> None:
    project.write({"mturk.properties": "service_url=https://mechanicalturk.amazonaws.com/\n"})
    result = project.run("show")
    assert result.exit_code == 2
    assert "mturk.properties" in result.stderr
    assert 'endpoint = "production"' in result.stderr
    # Saying which endpoint explicitly settles it.
    project.write({"mturkmake.toml": 'endpoint = "production"\n'})
    assert project.run("show").exit_code == 0


def test_pyproject_table_and_root_from_subdirectory(project: Project) -> None:
    project.write(
        {
            "pyproject.toml": '[project]\nname = "x"\n\n[tool.mturkmake]\nendpoint = "local"\n',
            "batches/deep/keep.txt": "",
        }
    )
    result = project.run("-C", str(project.path("batches/deep")), "show")
    assert result.exit_code == 0, result.stderr
    assert "endpoint=local" in result.stdout
    assert f"root={project.root.name}" in result.stdout


def test_malformed_toml_is_one_line_naming_file_and_line(project: Project) -> None:
    project.write({"mturkmake.toml": 'endpoint = "local"\nbudget = = 3\n'})
    result = project.run("show")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "mturkmake.toml:2:" in lines[0]
    assert "malformed TOML" in lines[0]


def test_wrong_type_names_file_and_key(project: Project) -> None:
    project.write({"mturkmake.toml": 'budget = "lots"\n'})
    result = project.run("show")
    assert result.exit_code == 2
    assert "mturkmake.toml:1: 'budget' must be of type integer or number, not str" in result.stderr


def test_bad_environment_value(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTURKMAKE_BUDGET", "ten")
    result = project.run("show")
    assert result.exit_code == 2
    assert "MTURKMAKE_BUDGET='ten'" in result.stderr
