"""getResults: the CLT command and the ``%.results`` rule, on the local marketplace.

End-to-end tests run the real CLI in-process (``mturkmake_project``); calls are counted by a
project-local plugin whose client factory registers a botocore event handler.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mturkmake.formats.results import ASSIGNMENT_COLUMNS, HIT_COLUMNS, open_results
from mturkmake.formats.success import SuccessRow, write_success
from mturkmake.mturk.results_fetch import Fetcher
from mturkmake.mturk.results_render import (
    BatchInputs,
    completion_lines,
    render_results,
)
from mturkmake.testing import Project
from tests.mturk.test_results_cache import Local, open_local
from tests.reference import REFERENCE

SHARED = REFERENCE
CLT_RESULTS = SHARED / "clt-samples" / "samples" / "external_hit" / "external_hit.results"
GOLDEN = Path(__file__).parent / "golden" / "survey.results"
HEAVY = ("boto3", "botocore", "airspeed", "defusedxml", "tqdm")

TOML = 'endpoint = "local"\nresults_timezone = "UTC"\n'
QUESTION = """<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd">
<Question><QuestionIdentifier>answer</QuestionIdentifier>
<QuestionContent><Text>Where is ${company} based? ${city}</Text></QuestionContent>
<AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>
<Question><QuestionIdentifier>color</QuestionIdentifier><QuestionContent><Text>Pick</Text>
</QuestionContent><AnswerSpecification><SelectionAnswer><StyleSuggestion>checkbox</StyleSuggestion>
<Selections><Selection><SelectionIdentifier>red</SelectionIdentifier><Text>Red</Text></Selection>
<Selection><SelectionIdentifier>blue</SelectionIdentifier><Text>Blue</Text></Selection>
</Selections></SelectionAnswer></AnswerSpecification></Question>
</QuestionForm>
"""
PROPERTIES = """title:Company city
description:Tell us where the company is
keywords:company, city
reward:0.05
assignments:3
annotation:${company}
assignmentduration:600
hitlifetime:86400
autoapprovaldelay:259200
"""
#: Counts every API call of the run's clients in calls.log (one operation name per line).
COUNTING_PLUGIN = """
from mturkmake import hookimpl

@hookimpl(tryfirst=True)
def mturkmake_make_client(config):
    from mturkmake.mturk.endpoint import make_client
    client = make_client(config)
    log = config.root / "calls.log"

    def record(model, **kwargs):
        with open(log, "a", encoding="utf-8") as stream:
            stream.write(model.name + "\\n")

    client.meta.events.register("before-parameter-build.mturk", record)
    return client
"""
READS = {"GetHIT", "ListAssignmentsForHIT", "ListReviewableHITs"}


def survey_input(rows: int = 12) -> str:
    lines = ["company\tcity"] + [f'AT&T {n}\t<Dallas> & "{n}"' for n in range(rows)]
    return "\n".join(lines) + "\n"


def make_survey(project: Project, rows: int = 12, **extra: str) -> None:
    project.write(
        {
            "mturkmake.toml": TOML,
            "survey.input": survey_input(rows),
            "survey.question": QUESTION,
            "survey.properties": PROPERTIES,
            "mturkmake_plugins.py": COUNTING_PLUGIN,
            **extra,
        }
    )


def calls(project: Project) -> list[str]:
    log = project.path("calls.log")
    names = log.read_text(encoding="utf-8").split() if log.exists() else []
    log.unlink(missing_ok=True)
    return names


@pytest.fixture
def market(mturkmake_project: Project) -> Iterator[Local]:
    """The project's local marketplace, to create HITs and move its clock from the test."""
    mturkmake_project.write({"mturkmake.toml": TOML})
    it = open_local(mturkmake_project.root)
    yield it
    it.market.close()


# --------------------------------------------------------------------------------------------
# Make mode
# --------------------------------------------------------------------------------------------


def test_wait_gets_every_answer_of_a_12_row_batch(mturkmake_project: Project) -> None:
    project = mturkmake_project
    make_survey(project)
    result = project.run("survey.results", "--wait")
    assert result.exit_code == 0, result.output
    assert "made 'survey.results': 36/36 assignments, 12/12 HITs final" in result.stdout
    results = open_results(project.path("survey.results"))
    entries = list(results.assignments())
    assert len(entries) == 36
    assert results.header[-2:] == ("Input.company", "Input.city")
    for entry in entries:
        assert set(entry.answers()) == {"answer", "color"}
        assert entry.status == "Submitted"  # nothing was auto-approved
        n = entry.inputs()["company"].removeprefix("AT&T ")
        assert entry.inputs() == {"company": f"AT&T {n}", "city": f'<Dallas> & "{n}"'}
        assert entry.values["annotation"] == f"AT&T {n}"
    status = project.run("marketplace", "status")
    assert "assignments: Submitted 36" in status.stdout

    calls(project)
    before = project.mtime("survey.results")
    again = project.run("-B", "survey.results")
    assert again.exit_code == 0, again.output
    assert not READS & set(calls(project))  # every HIT was final: nothing fetched
    assert "made 'survey.results' (unchanged)" in again.stdout
    assert project.mtime("survey.results") == before


def test_results_stay_incomplete_until_final(mturkmake_project: Project) -> None:
    project = mturkmake_project
    make_survey(project, rows=2)
    first = project.run("survey.results")
    assert first.exit_code == 0, first.output
    assert "'survey.results' is incomplete: 0/6 assignments, 0/2 HITs final" in first.stdout
    rows = list(open_results(project.path("survey.results")))
    assert [r.assignment_id for r in rows] == ["", ""]  # one row per HIT without work
    assert project.run("-q", "survey.results").exit_code == 1

    assert project.run("marketplace", "advance", "1h").exit_code == 0
    calls(project)
    second = project.run("survey.results")
    assert "made 'survey.results': 6/6 assignments, 2/2 HITs final" in second.stdout
    assert set(calls(project)) & READS
    assert project.run("-q", "survey.results").exit_code == 0


def test_ctrl_c_during_wait_exits_130_and_leaves_no_target(mturkmake_project: Project) -> None:
    interrupting = COUNTING_PLUGIN + (
        "\n@hookimpl\ndef mturkmake_simulate_answer(question, worker, truth):\n"
        "    raise KeyboardInterrupt\n"
    )
    make_survey(mturkmake_project, rows=2, **{"mturkmake_plugins.py": interrupting})
    result = mturkmake_project.run("survey.results", "--wait")
    assert result.exit_code == 130
    assert not mturkmake_project.path("survey.results").exists()
    from mturkmake.core.state import StateDB

    record = StateDB(mturkmake_project.path(".mturkmake/state.db")).last_build("survey.results")
    assert record is not None
    assert not record.complete


def test_noop_results_run_imports_nothing_heavy(mturkmake_project: Project) -> None:
    make_survey(mturkmake_project, rows=1)
    assert mturkmake_project.run("survey.results", "--wait").exit_code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MTURKMAKE_", "AWS_"))}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mturkmake", "survey.results"],
        cwd=mturkmake_project.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "is up to date" in proc.stdout
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "mturkmake" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


# --------------------------------------------------------------------------------------------
# The golden file
# --------------------------------------------------------------------------------------------


def test_golden_results_are_byte_identical(tmp_path: Path) -> None:
    local = open_local(tmp_path / "golden")
    try:
        rows = local.create_batch(3, assignments=2)
        local.settle()
        first, second = local.client.list_assignments_for_hit(HITId=rows[0].hit_id)["Assignments"]
        local.client.approve_assignment(
            AssignmentId=first["AssignmentId"], RequesterFeedback="Thanks"
        )
        local.client.reject_assignment(
            AssignmentId=second["AssignmentId"], RequesterFeedback='Wrong "city"\tsorry'
        )
        rows += local.create_batch(1, assignments=2, first=3)  # no work yet: one row
        snapshot = Fetcher(local.client, local.cache()).poll(rows)
        inputs = BatchInputs(
            {
                row.hit_id: {"word": f"AT&T <{n}>", "note": 'say "hi"\tthere'}
                for n, row in enumerate(rows)
            },
            ("word", "note"),
        )
        data = render_results(snapshot, local.config, inputs=inputs)
    finally:
        local.market.close()
    if os.environ.get("MTURKMAKE_REGENERATE_GOLDEN"):
        GOLDEN.write_bytes(data)
    assert data == GOLDEN.read_bytes()
    lines = data.split(b"\n")
    assert len(lines) == 9  # header, 6 assignments, 1 HIT without work, final newline
    assert lines[-1] == b""
    assert b'"AT&T <1>"\t"say ""hi""\tthere"' in lines[3]
    assert b'"Approved"' in lines[1]
    assert b'"Thanks"\t""' in lines[1]  # feedback, then an empty reject cell
    assert b'"Rejected"' in lines[2]
    assert b'"Wrong ""city""\tsorry"\t"y"' in lines[2]
    assert b'"Assignable"' in lines[7]
    assert b'\t\t\t""\t""' in lines[7]  # null assignment and worker ids


# --------------------------------------------------------------------------------------------
# The CLT command
# --------------------------------------------------------------------------------------------


def _write_success(project: Project, name: str, rows: list[SuccessRow]) -> None:
    with project.path(name).open("w", encoding="utf-8", newline="") as stream:
        write_success(stream, rows)


def test_clt_get_results_prints_seed_003_output(mturkmake_project: Project, market: Local) -> None:
    rows = market.create_batch(3, assignments=2)
    market.settle()
    _write_success(mturkmake_project, "survey.success", rows)
    result = mturkmake_project.run(
        "getResults", "-successfile", "survey.success", "-outputfile", "survey.results"
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "--[Retrieving Results]----------"
    assert lines[1:4] == [f"Retrieved HIT {n}/3, {r.hit_id}" for n, r in enumerate(rows, 1)]
    assert lines[4:8] == [
        "--[Done Retrieving Results]----------",
        "",
        "Results have been written to file 'survey.results'.",
        "",
    ]
    assert lines[8] == "Assignments completed: 6/6 (100%)"
    assert lines[9].startswith("         Time elapsed: 0:")
    assert lines[9].endswith(" (h:mm:ss)")
    assert lines[10].startswith("  Average submit time: ")
    assert lines[10].endswith(" seconds")
    results = open_results(mturkmake_project.path("survey.results"))
    assert len(list(results.assignments())) == 6
    assert not any(c.startswith("Input.") for c in results.header)


def test_clt_header_matches_the_clt_made_file_up_to_the_answers(
    mturkmake_project: Project, market: Local
) -> None:
    if not CLT_RESULTS.exists():
        pytest.skip("shared/clt-samples is not beside the checkout")
    rows = market.create_batch(1, assignments=1)
    market.settle()
    _write_success(mturkmake_project, "x.success", rows)
    assert (
        mturkmake_project.run(
            "getResults", "-successfile", "x.success", "-outputfile", "x.results"
        ).exit_code
        == 0
    )
    ours = mturkmake_project.path("x.results").read_bytes().split(b"\n", 1)[0].split(b"\t")
    theirs = CLT_RESULTS.read_bytes().split(b"\n", 1)[0].rstrip(b"\r").split(b"\t")
    fixed = len(HIT_COLUMNS) + len(ASSIGNMENT_COLUMNS)
    assert ours[:fixed] == theirs[:fixed]
    assert theirs[fixed:] == [b'"Answer.score"']
    assert ours[fixed:] == [b'"Answer.answer"', b'"Answer.color"']


def test_namevaluepairs_and_answer_prefix(mturkmake_project: Project, market: Local) -> None:
    worked = market.create_batch(1, assignments=2)
    market.settle()
    idle = market.create_batch(1, assignments=1, first=1)
    _write_success(mturkmake_project, "s.success", worked + idle)
    result = mturkmake_project.run(
        "getResults", "-successfile", "s.success", "-outputfile", "nv.results", "-namevaluepairs"
    )
    assert result.exit_code == 0, result.output
    text = mturkmake_project.read("nv.results")
    header = text.splitlines()[0].split("\t")
    assert header[-3:] == ['"feedback"', '"answers[question_id answer_value]"', '"reject"']
    entries = list(open_results(mturkmake_project.path("nv.results")))
    assert len(entries) == 3
    for entry in entries[:2]:
        cell = entry.values["answers[question_id answer_value]"]
        assert cell.startswith("answer=")
        assert "\tcolor=" in cell
        assert set(entry.answers()) == {"answer", "color"}
    assert entries[2].values["answers[question_id answer_value]"] == "none"
    assert entries[2].assignment_id == ""

    prefixed = mturkmake_project.run(
        "getResults",
        "-successfile",
        "s.success",
        "-outputfile",
        "p.results",
        "--answerPrefix",
        "A:",
    )
    assert prefixed.exit_code == 0, prefixed.output
    head = open_results(mturkmake_project.path("p.results")).header
    assert head[-2:] == ("A:answer", "A:color")


def test_reads_a_clt_made_success_file(mturkmake_project: Project, market: Local) -> None:
    rows = market.create_batch(2, assignments=1)
    market.settle()
    # CRLF, a repeated header (updateHITs appended it), no hittypeid column.
    text = "hitid\r\n" + "".join(f"{r.hit_id}\r\n" for r in rows[:1]) + "HITID\r\n"
    text += f"{rows[1].hit_id}\r\n"
    mturkmake_project.write({"clt.success": text})
    result = mturkmake_project.run(
        "getResults", "-successfile", "clt.success", "-outputfile", "clt.results"
    )
    assert result.exit_code == 0, result.output
    assert "Retrieved HIT 2/2" in result.stdout
    assert len(list(open_results(mturkmake_project.path("clt.results")).assignments())) == 2


def test_a_hit_that_cannot_be_fetched_is_reported_and_skipped(
    mturkmake_project: Project, market: Local
) -> None:
    rows = market.create_batch(1, assignments=1)
    market.settle()
    bad = SuccessRow("3NOSUCHHIT0000000000000000000A", rows[0].hit_type_id)
    _write_success(mturkmake_project, "b.success", [bad, *rows])
    result = mturkmake_project.run(
        "getResults", "-successfile", "b.success", "-outputfile", "b.results"
    )
    assert result.exit_code == 2
    assert f"Error retrieving HIT {bad.hit_id}" in result.stderr
    assert "Retrieved HIT 2/2" in result.stdout
    entries = list(open_results(mturkmake_project.path("b.results")))
    assert [e.hit_id for e in entries] == [rows[0].hit_id]


def test_missing_success_file_is_one_line_exit_2(mturkmake_project: Project) -> None:
    mturkmake_project.write({"mturkmake.toml": TOML})
    result = mturkmake_project.run(
        "getResults", "-successfile", "nope.success", "-outputfile", "x.results"
    )
    assert result.exit_code == 2
    assert "nope.success: no such file" in result.stderr
    assert "Traceback" not in result.output
    assert not mturkmake_project.path("x.results").exists()


def test_completion_lines_without_work() -> None:
    from mturkmake.mturk.results_cache import Snapshot

    assert completion_lines(Snapshot(())) == [
        "Assignments completed: 0/0 (0%)",
        "         Time elapsed: 0:00:00 (h:mm:ss)",
        "  Average submit time: 0.0 seconds",
    ]


def test_unwritable_output_is_one_line_exit_2(mturkmake_project: Project, market: Local) -> None:
    rows = market.create_batch(1, assignments=1)
    _write_success(mturkmake_project, "u.success", rows)
    mturkmake_project.path("taken.results").mkdir()  # a directory where the file should go
    result = mturkmake_project.run(
        "getResults", "-successfile", "u.success", "-outputfile", "taken.results"
    )
    assert result.exit_code == 2
    assert "taken.results: cannot write the results" in result.stderr
    assert "Traceback" not in result.output
