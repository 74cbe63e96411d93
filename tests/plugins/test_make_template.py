"""makeTemplate and init: templates copied, scripts that call mturkmake, and they run."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import approved_rows
from tests.plugins.test_delete_hits import remote_hits
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples" / "samples"
HIT_TEMPLATES = ["helloworld", "survey", "image_category", "external_hit"]


def script_command(path: Path) -> list[str]:
    """The mturkmake command line of a generated script, without ``"$@"``."""
    (line,) = [
        x for x in path.read_text(encoding="utf-8").splitlines() if x.startswith("mturkmake ")
    ]
    return [word for word in shlex.split(line)[1:] if word != "$@"]


@pytest.mark.parametrize("template", HIT_TEMPLATES)
def test_a_builtin_template_copies_and_its_scripts_run(
    mturkmake_project: Project, template: str
) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run("makeTemplate", "-template", template, "-target", "mine")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Copying resource file: mine/mine.question",
        "Copying resource file: mine/mine.properties",
        "Copying resource file: mine/mine.input",
        "Generating script: mine/run.sh",
        "Generating script: mine/getResults.sh",
        "Generating script: mine/approveAndDeleteResults.sh",
    ]
    folder = project.path("mine")
    for script in ("run.sh", "getResults.sh", "approveAndDeleteResults.sh"):
        assert (folder / script).stat().st_mode & 0o111
    load = project.run(*script_command(folder / "run.sh"), cwd=folder)
    assert load.exit_code == 0, load.output
    rows = len((folder / "mine.input").read_text(encoding="utf-8").strip().splitlines()) - 1
    assert f"Successfully loaded {rows} HITs." in load.stdout
    assert len(remote_hits(project)) == rows
    assert project.run("marketplace", "advance", "2h").exit_code == 0
    results = project.run(*script_command(folder / "getResults.sh"), cwd=folder)
    assert results.exit_code == 0, results.output
    assert (folder / "mine.results").is_file()
    cleanup = project.run(
        *script_command(folder / "approveAndDeleteResults.sh"), "-force", cwd=folder
    )
    assert cleanup.exit_code == 0, cleanup.output
    assert remote_hits(project) == {}


def test_an_existing_target_is_refused(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n', "mine/keep.txt": "mine"})
    result = project.run("makeTemplate", "-template", "helloworld", "-target", "mine")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "mine already exists; nothing was copied" in line
    assert sorted(p.name for p in project.path("mine").iterdir()) == ["keep.txt"]


def test_an_unknown_template_names_the_available_ones(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run("makeTemplate", "-template", "nosuch", "-target", "mine")
    assert result.exit_code == 2
    assert "helloworld" in result.stderr
    assert "survey" in result.stderr
    assert not project.path("mine").exists()


def test_the_clt_samples_and_dos_scripts(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run(
        "makeTemplate",
        "-template",
        "simple_survey",
        "-target",
        "my_survey",
        "-os",
        "Dos",
        "-templateRootDir",
        str(SAMPLES),
        "-targetRootDir",
        "hits",
    )
    assert result.exit_code == 0, result.output
    folder = project.path("hits/my_survey")
    assert (folder / "my_survey.question").read_bytes() == (
        SAMPLES / "simple_survey" / "simple_survey.question"
    ).read_bytes()
    run = (folder / "run.cmd").read_bytes()
    assert b"mturkmake loadHITs %* -label my_survey -input my_survey.input" in run
    assert b"\r\n" in run


def test_a_qualification_template(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run(
        "makeTemplate", "-template", "qualification", "-target", "skill", "-type", "Qual"
    )
    assert result.exit_code == 0, result.output
    folder = project.path("skill")
    assert sorted(p.name for p in folder.iterdir()) == [
        "createQualification.sh",
        "skill.answer",
        "skill.properties",
        "skill.question",
    ]
    assert script_command(folder / "createQualification.sh") == [
        "createQualificationType",
        "-properties",
        "skill.properties",
        "-question",
        "skill.question",
        "-answer",
        "skill.answer",
    ]


def test_script_templates_are_filled_as_the_clt_did(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(
        {
            "mturkmake.toml": 'endpoint = "local"\n',
            "scripts/run.Unix.template": (
                "cd ../../bin\n./loadHITs.sh $@ -label ../hits/${target}/${target}\n"
            ),
            "scripts/getResults.Unix.template": "x ${target}\n",
            "scripts/approveAndDeleteResults.Unix.template": "y ${target}\n",
        }
    )
    result = project.run(
        "makeTemplate", "-template", "helloworld", "-target", "t1", "-scriptTemplateDir", "scripts"
    )
    assert result.exit_code == 0, result.output
    assert project.read("t1/run.sh") == "cd ../../bin\n./loadHITs.sh $@ -label ../hits/t1/t1\n"


def test_init_makes_a_make_style_project_that_builds(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run("init", "poll", "--template", "survey")
    assert result.exit_code == 0, result.output
    folder = project.path("poll")
    assert sorted(p.name for p in folder.iterdir()) == [
        "mturkmake.toml",
        "poll.input",
        "poll.properties",
        "poll.question",
    ]
    assert 'endpoint = "local"' in (folder / "mturkmake.toml").read_text(encoding="utf-8")
    built = project.run("poll.approved", "--wait", cwd=folder)
    assert built.exit_code == 0, built.output
    rows = approved_rows(folder / "poll.approved")
    assert len(rows) == 9  # 3 questions × 3 assignments
    again = project.run("init", "poll")
    assert again.exit_code == 2


@pytest.mark.parametrize("sample", ["quiz_qual", "site_filter_qual"])
def test_the_clt_qualification_samples(mturkmake_project: Project, sample: str) -> None:
    project = mturkmake_project
    project.write({"mturkmake.toml": 'endpoint = "local"\n'})
    result = project.run(
        "makeTemplate",
        "-template",
        sample,
        "-target",
        "myqual",
        "-type",
        "Qual",
        "-templateRootDir",
        str(SAMPLES),
    )
    assert result.exit_code == 0, result.output
    folder = project.path("myqual")
    for suffix in (".properties", ".question", ".answer"):
        assert (folder / f"myqual{suffix}").is_file()
    assert script_command(folder / "createQualification.sh")[-2:] == ["-answer", "myqual.answer"]
