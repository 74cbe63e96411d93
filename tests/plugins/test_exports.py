"""Exports as targets: ``%.results.csv`` (RFC 4180, UTF-8) and ``%.results.jsonl`` from
``%.results``, incomplete with it, and ``pseudonymize_workers`` (issue #18).

The simulated workers answer with free text that breaks naive writers — ``AT&T``, double
quotes, a tab, newlines, a comma, non-ASCII — and the export must give it back intact through
Python's :mod:`csv` and :mod:`json`.
"""

from __future__ import annotations

import csv
import io
import json
import stat

from mturkmake.formats.exports import BASE_COLUMNS, export_table, pseudonym, write_csv
from mturkmake.formats.results import ResultsEntry
from mturkmake.testing import Project
from tests.plugins.test_approved_rule import batch_files

TRICKY = 'AT&T said "hello",\tthen left.\nSecond line — café ✓\r\nThird line'
ANSWERING = f"""
from mturkmake import hookimpl

@hookimpl
def mturkmake_simulate_answer(question, worker, truth):
    return {{"answer": {TRICKY!r}}}
"""


def _project(project: Project, rows: int = 3) -> None:
    files = batch_files(rows, assignments=2)
    files["survey.input"] = "question\n" + "".join(
        f"Où est la gare n°{n}, AT&T?\n" for n in range(rows)
    )
    project.write({**files, "mturkmake_plugins.py": ANSWERING})


def test_csv_export_round_trips_every_answer_through_the_csv_module(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    _project(project)
    result = project.run("survey.results.csv", "--wait")
    assert result.exit_code == 0, result.output
    assert "mturkmake: made 'survey.results.csv': 6 assignments" in result.stdout
    raw = project.path("survey.results.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without a byte-order mark
    assert raw.split(b"\r\n", 1)[0].decode("utf-8").split(",") == [
        *BASE_COLUMNS,
        "Input.question",
        "Answer.answer",
    ]
    with project.path("survey.results.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    results = [r for r in project.table("survey.results") if r["assignmentid"]]
    assert len(rows) == len(results) == 6
    for row, source in zip(rows, results, strict=True):
        assert row["Answer.answer"] == TRICKY
        assert row["Input.question"] == source["Input.question"]
        assert row["Input.question"].startswith("Où est la gare n°")
        for column in BASE_COLUMNS:
            assert row[column] == source[column]


def test_jsonl_export_has_one_object_per_assignment(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _project(project, rows=2)
    assert project.run("survey.results.jsonl", "--wait").exit_code == 0
    lines = project.read("survey.results.jsonl").splitlines()
    records = [json.loads(line) for line in lines]
    results = [r for r in project.table("survey.results") if r["assignmentid"]]
    assert [r["assignmentid"] for r in records] == [r["assignmentid"] for r in results]
    for record in records:
        assert record["answers"] == {"answer": TRICKY}
        assert record["input"]["question"].endswith(", AT&T?")
        assert set(record) == {*BASE_COLUMNS, "input", "answers"}


def test_an_export_of_incomplete_results_is_incomplete_too(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _project(project, rows=2)
    first = project.run("survey.results.csv")
    assert first.exit_code == 0, first.output
    assert (
        "mturkmake: 'survey.results.csv' is incomplete: 0 assignments "
        "(built from incomplete 'survey.results')"
    ) in first.stdout
    assert project.mtime("survey.results.csv") < project.mtime("survey.results")
    assert project.run("-q", "survey.results.csv").exit_code == 1
    assert project.run("survey.results.csv", "--wait").exit_code == 0
    assert project.run("-q", "survey.results.csv").exit_code == 0
    with project.path("survey.results.csv").open(encoding="utf-8", newline="") as stream:
        assert len(list(csv.reader(stream))) == 1 + 4


def test_pseudonymized_exports_hide_worker_ids_behind_a_kept_key(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    _project(project, rows=2)
    assert project.run("survey.results", "--wait").exit_code == 0
    real = {r["workerid"] for r in project.table("survey.results") if r["assignmentid"]}
    project.configure(pseudonymize_workers=True)
    assert project.run("survey.results.csv", "survey.results.jsonl").exit_code == 0
    key_file = project.path(".mturkmake/pseudonym.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = bytes.fromhex(key_file.read_text(encoding="ascii"))
    csv_text = project.read("survey.results.csv")
    jsonl_text = project.read("survey.results.jsonl")
    for text in (csv_text, jsonl_text):
        assert not any(worker in text for worker in real)
        assert key.hex() not in text
    with project.path("survey.results.csv").open(encoding="utf-8", newline="") as stream:
        shown = [row["workerid"] for row in csv.DictReader(stream)]
    assert set(shown) == {pseudonym(key, worker) for worker in real}
    assert [json.loads(line)["workerid"] for line in jsonl_text.splitlines()] == shown
    # The same key next time: the same pseudonyms, in exports and in status.
    assert project.run("-B", "survey.results.csv").exit_code == 0
    assert project.read("survey.results.csv") == csv_text
    status = json.loads(project.run("status", "--json").stdout)
    assert set(status["batches"][0]["workers"]) == set(shown)


def test_a_bad_pseudonymize_setting_is_one_line(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _project(project, rows=1)
    project.configure(pseudonymize_workers="yes")
    result = project.run("survey.results.csv")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"mturkmake: {project.path('mturkmake.toml')}:2: 'pseudonymize_workers' must be of "
        "type boolean"
    )
    assert result.stderr.count("\n") == 1
    assert not project.path(".mturkmake/pseudonym.key").exists()


def test_the_writer_quotes_as_rfc_4180_says() -> None:
    entries = [
        ResultsEntry(
            2,
            {
                "hitid": "H1",
                "assignmentid": "A1",
                "workerid": "W1",
                "Input.text": 'say "x", y',
                "Answer.a": "line1\nline2",
            },
        ),
        ResultsEntry(3, {"hitid": "H2", "assignmentid": ""}),  # a HIT without assignments
    ]
    table = export_table(entries, alias=lambda worker: f"anon-{worker}")
    stream = io.StringIO(newline="")
    write_csv(stream, table)
    text = stream.getvalue()
    empty = "," * 5
    assert text == (
        ",".join([*BASE_COLUMNS, "Input.text", "Answer.a"])
        + "\r\n"
        + f'H1,,A1,anon-W1{empty},"say ""x"", y","line1\nline2"\r\n'
    )
