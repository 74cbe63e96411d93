"""The ledger, not ``.success``, says which HITs a batch has (issue #12, item 2).

A stale or hand-edited ``.success`` must never narrow what ``%.results`` fetches or what
``%.approved`` reviews: work left out would be approved and paid automatically, unseen. Every
test runs the real CLI on the project's local marketplace, in ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.formats.results import open_results
from mturkmake.testing import Project

TOML = 'endpoint = "local"\nresults_timezone = "UTC"\n'
QUESTION = """<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionForm.xsd">
<Question><QuestionIdentifier>answer</QuestionIdentifier>
<QuestionContent><Text>Where is ${company} based?</Text></QuestionContent>
<AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>
</QuestionForm>
"""


def properties(delay: int = 259200) -> str:
    return (
        "title:Company city\ndescription:Tell us where\nkeywords:company\nreward:0.05\n"
        f"assignments:1\nassignmentduration:600\nhitlifetime:86400\nautoapprovaldelay:{delay}\n"
    )


def make_batch(project: Project, stem: str = "survey", rows: int = 30, delay: int = 259200) -> None:
    lines = ["company"] + [f"{stem} company {n}" for n in range(rows)]
    project.write(
        {
            "mturkmake.toml": TOML,
            f"{stem}.input": "\n".join(lines) + "\n",
            f"{stem}.question": QUESTION,
            f"{stem}.properties": properties(delay),
        }
    )
    result = project.run(f"{stem}.success")
    assert result.exit_code == 0, result.output
    assert len(success_ids(project, f"{stem}.success")) == rows


def success_ids(project: Project, name: str) -> list[str]:
    return [line.split("\t")[0] for line in project.read(name).splitlines()[1:] if line]


def cut_success(project: Project, keep: int, name: str = "survey.success") -> list[str]:
    """Keep the header and the first ``keep`` HITs, as a hand edit would; the dropped ids."""
    lines = project.read(name).splitlines(keepends=True)
    project.write({name: "".join(lines[: keep + 1])})
    return [line.split("\t")[0] for line in lines[keep + 1 :]]


def results_hits(path: Path) -> set[str]:
    return {entry.hit_id for entry in open_results(path).entries()}


def warnings_naming(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def test_a_cut_success_still_gives_results_for_every_hit_the_ledger_knows(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project)
    everything = set(success_ids(project, "survey.success"))
    dropped = cut_success(project, 20)
    result = project.run("survey.results", "--wait")
    assert result.exit_code == 0, result.output
    assert "30/30 assignments, 30/30 HITs final" in result.stdout
    assert results_hits(project.path("survey.results")) == everything
    assert set(dropped) <= results_hits(project.path("survey.results"))
    warned = warnings_naming(result.output, "survey.success disagrees with the ledger")
    assert len(warned) == 1, result.output
    assert "10 of the 30 HITs the ledger knows" in warned[0]
    assert "delete it and run 'mturkmake survey.success'" in warned[0]


def test_the_approved_rule_decides_every_submitted_assignment_after_a_cut_success(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project)
    cut_success(project, 20)
    assert project.run("survey.results", "--wait").exit_code == 0
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    assert "30 approved, 0 rejected" in result.stdout
    approved = project.read("survey.approved").splitlines()[1:]
    assert len(approved) == 30
    assert {line.split("\t")[3] for line in approved} == {"approved"}
    # Nothing is left for MTurk to approve behind the requester's back.
    again = project.run("survey.results")
    assert again.exit_code == 0, again.output
    statuses = {e.status for e in open_results(project.path("survey.results")).assignments()}
    assert statuses == {"Approved"}


def test_restoring_the_success_from_the_ledger_creates_nothing(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project)
    everything = success_ids(project, "survey.success")
    cut_success(project, 20)
    project.path("survey.success").unlink()  # the warning's advice
    result = project.run("survey.success")
    assert result.exit_code == 0, result.output
    assert "0 HITs created, 30 already existed" in result.stdout
    assert success_ids(project, "survey.success") == everything


def test_hits_the_ledger_does_not_know_are_fetched_too_and_reported(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project, rows=6)
    make_batch(project, stem="other", rows=2)
    strangers = success_ids(project, "other.success")
    with project.path("survey.success").open("a", encoding="utf-8") as stream:
        stream.write("".join(project.read("other.success").splitlines(keepends=True)[1:]))
    result = project.run("survey.results", "--wait")
    assert result.exit_code == 0, result.output
    assert results_hits(project.path("survey.results")) >= set(strangers)
    assert len(results_hits(project.path("survey.results"))) == 8
    warned = warnings_naming(result.output, "survey.success disagrees with the ledger")
    assert len(warned) == 1, result.output
    assert "it lists 2 HIT(s) the ledger does not know" in warned[0]


def test_clt_get_results_covers_the_ledger_batch_of_a_cut_success(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project, rows=12)
    everything = set(success_ids(project, "survey.success"))
    assert project.run("survey.results", "--wait").exit_code == 0
    cut_success(project, 5)
    result = project.run(
        "getResults", "-successfile", "survey.success", "-outputfile", "clt.results"
    )
    assert result.exit_code == 0, result.output
    assert results_hits(project.path("clt.results")) == everything
    assert "Assignments completed: 12/12 (100%)" in result.stdout
    warned = warnings_naming(result.output, "survey.success disagrees with the ledger")
    assert len(warned) == 1, result.output
    assert "7 of the 12 HITs" in warned[0]


def test_a_success_in_agreement_with_the_ledger_gives_no_warning(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project, rows=4)
    result = project.run("survey.results", "--wait")
    assert result.exit_code == 0, result.output
    assert "disagrees" not in result.output
    assert "not yet reviewed" not in result.output  # auto-approval is 3 days away


def test_a_cut_results_leaves_the_approved_rule_incomplete_and_says_why(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project, rows=6)
    assert project.run("survey.results", "--wait").exit_code == 0
    lines = project.read("survey.results").splitlines(keepends=True)
    project.write({"survey.results": "".join(lines[:4])})  # 3 of the 6 HITs
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    assert "'survey.approved' is incomplete" in result.stdout
    warned = warnings_naming(result.output, "survey.results lacks 3 of the 6 HITs")
    assert len(warned) == 1, result.output
    project.path("survey.results").unlink()  # the warning's advice
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    assert "made 'survey.approved'" in result.stdout
    assert len(project.read("survey.approved").splitlines()) == 1 + 6


# --------------------------------------------------------------------------------------------
# Unreviewed work close to its automatic approval is warned about, on every endpoint
# --------------------------------------------------------------------------------------------


def test_make_mode_warns_on_local_when_unreviewed_work_auto_approves_within_a_day(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project, rows=5, delay=3600)
    result = project.run("survey.results", "--wait")
    assert result.exit_code == 0, result.output
    assert "5/5 HITs final" in result.stdout
    warned = warnings_naming(result.output, "not yet reviewed")
    assert len(warned) == 1, result.output
    assert warned[0].startswith("survey.results: 5 submitted assignment(s)")


def test_clt_get_results_warns_on_local_when_unreviewed_work_auto_approves_within_a_day(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    make_batch(project, rows=3, delay=3600)
    assert project.run("survey.results", "--wait").exit_code == 0
    result = project.run(
        "getResults", "-successfile", "survey.success", "-outputfile", "clt.results"
    )
    assert result.exit_code == 0, result.output
    warned = warnings_naming(result.output, "not yet reviewed")
    assert len(warned) == 1, result.output
    assert warned[0].startswith("clt.results: 3 submitted assignment(s)")
    # Once reviewed, nothing is left to warn about.
    assert project.run("survey.approved").exit_code == 0
    result = project.run(
        "getResults", "-successfile", "survey.success", "-outputfile", "clt.results"
    )
    assert "not yet reviewed" not in result.output


@pytest.mark.slow
def test_the_issue_as_reported_300_hits_cut_to_200(mturkmake_project: Project) -> None:
    # Issue #12, item 2, as reported: a 300-HIT .success cut to 200 rows.
    project = mturkmake_project
    make_batch(project, rows=300)
    everything = set(success_ids(project, "survey.success"))
    cut_success(project, 200)
    result = project.run("survey.results", "--wait")
    assert result.exit_code == 0, result.output
    assert "300/300 assignments, 300/300 HITs final" in result.stdout
    assert results_hits(project.path("survey.results")) == everything
    assert len(warnings_naming(result.output, "100 of the 300 HITs the ledger knows")) == 1
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    assert "300 approved, 0 rejected" in result.stdout
    assert len(project.read("survey.approved").splitlines()) == 1 + 300


def test_ledger_first_keeps_ledger_order_then_unknown_hits_and_counts_both() -> None:
    from mturkmake.formats.success import SuccessRow
    from mturkmake.mturk.batch import BatchRow
    from mturkmake.mturk.coverage import ledger_first

    known = [BatchRow(f"k{n}", n, n + 2, {}, f"H{n}", "T") for n in range(4)]
    listed = [SuccessRow("H2", "T"), SuccessRow("X1", "U"), SuccessRow("H0", "T")]
    listed.append(SuccessRow("X1", "U"))  # listed twice: fetched once
    hits = ledger_first(listed, known, shown="s.success", target="s.results", rebuild="redo")
    assert [r.hit_id for r in hits.rows] == ["H0", "H1", "H2", "H3", "X1"]
    assert hits.warning is not None
    assert "2 of the 4 HITs the ledger knows for the batch are missing" in hits.warning
    assert "it lists 1 HIT(s) the ledger does not know" in hits.warning
    agreeing = ledger_first(
        [SuccessRow(f"H{n}", "T") for n in range(4)], known, shown="s", target="t", rebuild="r"
    )
    assert agreeing.warning is None
    assert len(agreeing.rows) == 4
    unknown_batch = ledger_first(listed, None, shown="s", target="t", rebuild="r")
    assert unknown_batch.warning is None
    assert len(unknown_batch.rows) == 4
