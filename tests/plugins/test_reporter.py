"""The terminal reporter: progress bars on a terminal, plain lines when piped, warnings above
a bar and never through it (issue #18); and a make-mode run that creates HITs reports them."""

from __future__ import annotations

import io
import re

from mturkmake.hookspecs import Event
from mturkmake.plugins.reporter import PROGRESS, TerminalReporter
from mturkmake.testing import Project
from tests.plugins.test_approved_rule import batch_files


class Terminal(io.StringIO):
    """Output that says it is a terminal, as a shell's would."""

    def isatty(self) -> bool:
        return True


def _step(done: int, total: int, *, plain: bool = True) -> Event:
    data = {"task": "creating HITs", "done": done, "total": total, "unit": "HIT", "plain": plain}
    return Event(PROGRESS, "", data=data)


def test_piped_progress_is_a_plain_line_per_tenth() -> None:
    out, err = io.StringIO(), io.StringIO()
    reporter = TerminalReporter(stdout=out, stderr=err)
    for done in range(501):
        reporter.mturkmake_report(_step(done, 500))
    assert out.getvalue().splitlines() == [
        f"creating HITs: {n}/500 HITs" for n in range(50, 501, 50)
    ]
    assert err.getvalue() == ""


def test_a_small_piped_step_reports_every_item_and_clt_steps_stay_quiet() -> None:
    out = io.StringIO()
    reporter = TerminalReporter(stdout=out, stderr=io.StringIO())
    for done in range(4):
        reporter.mturkmake_report(_step(done, 3))
    for done in range(4):
        reporter.mturkmake_report(_step(done, 3, plain=False))
    assert out.getvalue().splitlines() == [
        "creating HITs: 1/3 HITs",
        "creating HITs: 2/3 HITs",
        "creating HITs: 3/3 HITs",
    ]


def test_on_a_terminal_a_bar_is_drawn_and_a_warning_goes_above_it() -> None:
    out, err = Terminal(), Terminal()
    reporter = TerminalReporter(stdout=out, stderr=err)
    reporter.mturkmake_report(_step(0, 4))
    reporter.mturkmake_report(_step(1, 4))
    reporter.mturkmake_report(Event("warning", "survey.input:3: a warning mid-way"))
    for done in (2, 3, 4):
        reporter.mturkmake_report(_step(done, 4))
    reporter.mturkmake_report(Event("info", "after the bar"))
    drawn = err.getvalue()
    assert re.search(r"creating HITs: 100%\|[^|]*\| 4/4 \[", drawn), drawn
    # The warning is a whole line of its own: the bar is cleared, the line written, the bar
    # drawn again below it.
    pieces = re.split(r"[\r\n]", drawn)
    assert "survey.input:3: a warning mid-way" in pieces
    assert not any("warning mid-way" in p and "creating" in p for p in pieces)
    assert out.getvalue() == "after the bar\n"  # the bar was closed: plain print again


def test_make_mode_reports_creating_hits_when_piped(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1:4] == [
        "creating HITs: 1/3 HITs",
        "creating HITs: 2/3 HITs",
        "creating HITs: 3/3 HITs",
    ]
    polled = project.run("survey.results")
    assert polled.stdout.splitlines()[:3] == [
        "polling survey.results: 1/3 HITs",
        "polling survey.results: 2/3 HITs",
        "polling survey.results: 3/3 HITs",
    ]


def test_a_second_step_in_one_run_gets_its_own_lines() -> None:
    out = io.StringIO()
    reporter = TerminalReporter(stdout=out, stderr=io.StringIO())
    for done in range(3):
        reporter.mturkmake_report(_step(done, 2))
    for done in (1, 2):  # a poll reports no start event
        data = {"task": "polling", "done": done, "total": 20, "unit": "HIT"}
        reporter.mturkmake_report(Event(PROGRESS, "", data=data))
    assert out.getvalue().splitlines() == [
        "creating HITs: 1/2 HITs",
        "creating HITs: 2/2 HITs",
        "polling: 2/20 HITs",
    ]
