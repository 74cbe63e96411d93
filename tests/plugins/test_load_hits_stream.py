"""The load reads its input as a stream (issue #17): several passes over the file, one row
held at a time; a file that changes between the passes stops the run with one line, exit 2.

The file is changed by a real template engine plugin (``editing``): Velocity, whose question
template appends a row to the input when it merges a chosen row for the second time — in
the middle of a pass after the preflight, as an editor saving the file would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.testing import Project
from tests.plugins.test_load_hits import batch_files, marketplace_hits, project_toml, success_ids

EDITING_PLUGIN = '''
from pathlib import Path

import pytest

from mturkmake.hookspecs import hookimpl
from mturkmake.plugins.templating import VelocityEngine

INPUT = Path(__file__).parent / "survey.input"
TRIGGER = {trigger!r}


class _Editing:
    """A compiled question that appends a row to the input on TRIGGER's second merge."""

    def __init__(self, inner):
        self.inner = inner
        self.merges = {{}}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def render(self, row):
        value = row.get("question", "")
        self.merges[value] = self.merges.get(value, 0) + 1
        if value == TRIGGER and self.merges[value] == 2:
            with INPUT.open("a", encoding="utf-8") as stream:
                stream.write("A late question?\\tlate\\n")
        return self.inner.render(row)


class EditingEngine(VelocityEngine):
    name = "editing"

    def compile(self, text, **kwargs):
        template = super().compile(text, **kwargs)
        return _Editing(template) if "QuestionForm" in text else template


@hookimpl
def mturkmake_template_engines():
    return [EditingEngine()]
'''


def _editing(project: Project, rows: int, trigger: str) -> None:
    files = batch_files(rows)
    files["mturkmake.toml"] = project_toml('template_engine = "editing"\n')
    files["mturkmake_plugins.py"] = EDITING_PLUGIN.format(trigger=trigger)
    project.write(files)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "changed while" in line]


def test_an_input_changed_while_sending_stops_the_run(mturkmake_project: Project) -> None:
    """Row 4 (index 3) is merged a second time by the sending pass: the rows read before
    the change are created, the run stops before the next one, and the next run (with the
    file as it now is) creates the rest."""
    project = mturkmake_project
    _editing(project, 10, "Question number 3?")
    result = project.run("-j", "1", "survey.success")
    assert result.exit_code == 2, result.stdout + result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert "survey.input: the file changed while the load read it" in errors[0]
    made = marketplace_hits(project.root)
    assert len(made) == 4
    assert len(success_ids(project.path("survey.success"))) == 4
    project.write({"mturkmake.toml": project_toml()})  # plain Velocity: no more edits
    again = project.run("survey.success")
    assert again.exit_code == 0, again.stderr
    ids = success_ids(project.path("survey.success"))
    assert len(ids) == 11 == len(set(ids)) == len(marketplace_hits(project.root))


def test_an_input_changed_after_the_preflight_stops_a_dry_run(
    mturkmake_project: Project,
) -> None:
    """``-n`` on a batch with HITs: the reconciliation's pass merges the first new row
    again (for the cost), the file changes, and the pass ends with one line and exit 2;
    nothing is made. (A new batch needs no pass after the preflight.)"""
    project = mturkmake_project
    project.write(batch_files(5))
    assert project.run("survey.success").exit_code == 0
    _editing(project, 7, "Question number 5?")
    result = project.run("-n", "survey.success")
    assert result.exit_code == 2, result.stdout + result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert "survey.input: the file changed while the preflight read it" in errors[0]
    assert "would reconcile" not in result.stdout
    assert len(success_ids(project.path("survey.success"))) == 5
    assert len(marketplace_hits(project.root)) == 5


def test_many_calls_at_once_over_a_streamed_input(
    tmp_path: Path, mturkmake_project: Project
) -> None:
    """-j 4 over 90 rows (more than the window of rows held): every row once, in order."""
    project = mturkmake_project
    project.write(batch_files(90))
    result = project.run("-j", "4", "survey.success")
    assert result.exit_code == 0, result.stderr
    ids = success_ids(project.path("survey.success"))
    hits = {hit["HITId"]: hit for hit in marketplace_hits(project.root)}
    assert len(ids) == 90 == len(set(ids)) == len(hits)
    texts = [hits[hit_id]["Question"] for hit_id in ids]
    assert all(f"Question number {n}?" in text for n, text in enumerate(texts))


@pytest.mark.slow
def test_load_scale_benchmark_shows_flat_memory() -> None:
    """benchmarks/load_scale.py, small: the peak RSS of a load and of ``-n`` does not grow
    with the rows (before issue #17, ``-n`` held 3.4 KB a row: 20,000 rows added ~65 MiB)."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "load_scale.py"
    args = ["--rows", "50", "500", "--dry-rows", "2000", "20000", "--check"]
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ratios = [
        float(line.rsplit(" ", 1)[1].rstrip("x"))
        for line in done.stdout.splitlines()
        if line.startswith("peak RSS ratio")
    ]
    assert len(ratios) == 2, done.stdout
    assert all(ratio <= 1.3 for ratio in ratios), done.stdout
