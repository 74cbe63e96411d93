"""Every CLT 1.3.1 sample batch loads unchanged on the local marketplace (DESIGN §1, §8).

The samples' own scripts ran ``loadHITs -label NAME -input NAME.input -question NAME.question
-properties NAME.properties``; so does each test, in a copy of the sample's directory that
holds only an ``mturkmake.toml`` more. They use ``#foreach``/``#set``, ``$helper.urlencode``,
``$velocityCount``, ``${x}`` inside XML comments and ``http://`` ExternalURLs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mturkmake.testing import Project
from tests.plugins.test_load_hits import marketplace_hits, project_toml, success_ids
from tests.reference import REFERENCE

SAMPLES = REFERENCE / "clt-samples" / "samples"

BATCHES = [
    "helloworld",
    "simple_survey",
    "best_image",
    pytest.param("image_category", marks=pytest.mark.slow),
    pytest.param("image_tagging", marks=pytest.mark.slow),
    "external_hit",
    "site_filter",
]


def _rows(path: Path) -> int:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    return len(lines)


@pytest.mark.parametrize("name", BATCHES)
def test_sample_loads_unchanged(mturkmake_project: Project, name: str) -> None:
    project = mturkmake_project
    source = SAMPLES / name
    for path in source.iterdir():
        if path.suffix in (".input", ".question", ".properties", ".htm"):
            shutil.copy(path, project.root / path.name)
    project.write({"mturkmake.toml": project_toml()})
    args = (
        "loadHITs",
        "-label",
        name,
        "-input",
        f"{name}.input",
        "-question",
        f"{name}.question",
        "-properties",
        f"{name}.properties",
    )
    result = project.run(*args)
    assert result.exit_code == 0, result.output
    rows = _rows(source / f"{name}.input")
    hits = marketplace_hits(project.root)
    assert len(hits) == rows
    assert sorted(success_ids(project.path(f"{name}.success"))) == sorted(h["HITId"] for h in hits)
    assert f"Successfully loaded {rows} HITs." in result.stdout
    # The sample's input, question and properties are untouched.
    for suffix in (".input", ".question", ".properties"):
        assert (project.root / f"{name}{suffix}").read_bytes() == (
            source / f"{name}{suffix}"
        ).read_bytes()
    # Running the sample's script again posts nothing.
    assert project.run(*args).exit_code == 0
    assert len(marketplace_hits(project.root)) == rows


def test_a_clt_made_success_is_adopted_not_reposted(mturkmake_project: Project) -> None:
    # external_hit ships the .success the real CLT wrote: its HIT is adopted, never re-created.
    project = mturkmake_project
    source = SAMPLES / "external_hit"
    for path in source.iterdir():
        shutil.copy(path, project.root / path.name)
    project.write({"mturkmake.toml": project_toml()})
    listed = success_ids(project.path("external_hit.success"))
    result = project.run(
        "loadHITs",
        "-label",
        "external_hit",
        "-input",
        "external_hit.input",
        "-question",
        "external_hit.question",
        "-properties",
        "external_hit.properties",
    )
    assert result.exit_code == 0, result.output
    rows = _rows(source / "external_hit.input")
    assert len(marketplace_hits(project.root)) == rows - len(listed)
    after = success_ids(project.path("external_hit.success"))
    assert set(listed) <= set(after)
    assert len(after) == max(rows, len(listed))
    assert "Adopted" in result.stdout
