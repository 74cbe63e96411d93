"""assignQualification, revokeQualification and updateQualificationScore through the CLI."""

from __future__ import annotations

import pytest

from mturkmake.testing import Project
from tests.plugins.qualification_helpers import WORKERS, created, log, score

W1, W2, W3 = WORKERS


def test_seed_003s_single_assignment(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = created(project)
    result = project.run(
        "assignQualification", "-qualtypeid", type_id, "-workerid", W1, "-score", "100"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Assigned qualification {type_id} to {W1} with value 100"
    ]
    assert score(project, type_id, W1) == 100


def test_score_file_with_input_and_default_score(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = created(project)
    project.write({"workers.txt": f"workerid\tscore\n{W1}\t70\n{W2}\t\n"})
    result = project.run(
        "assignQualification",
        "-input",
        "skill.properties.success",
        "-scorefile",
        "workers.txt",
        "-donotnotify",
    )
    assert result.exit_code == 0, result.output
    assert score(project, type_id, W1) == 70
    assert score(project, type_id, W2) == 1  # no score and no -score: the CLT's 1
    assert log(project, "AssociateQualificationWithWorker") == {
        ("AssociateQualificationWithWorker", f"{type_id}/{W1}"): 1,
        ("AssociateQualificationWithWorker", f"{type_id}/{W2}"): 1,
    }


def test_revoke_then_update_score(mturkmake_project: Project) -> None:
    project = mturkmake_project
    type_id = created(project)
    assert (
        project.run("assignQualification", "-qualtypeid", type_id, "-workerid", W1).exit_code == 0
    )
    assert (
        project.run("assignQualification", "-qualtypeid", type_id, "-workerid", W2).exit_code == 0
    )
    result = project.run(
        "updateQualificationScore", "-qualtypeid", type_id, "-workerid", W1, "-score", "50"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"Successfully updated {W1} score to 50"]
    assert score(project, type_id, W1) == 50
    result = project.run(
        "revokeQualification", "-qualtypeid", type_id, "-workerid", W2, "-reason", "Sorry."
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"Revoked qual {type_id} from {W2} with reason: Sorry."]
    assert score(project, type_id, W2) is None
    # A score update never grants: W2 no longer holds it, so nothing is changed.
    project.write({"scores.txt": f"workerid\tscore\n{W1}\t60\n{W2}\t60\n"})
    result = project.run("updateQualificationScore", "-qualtypeid", type_id, "-input", "scores.txt")
    assert result.exit_code == 2
    assert W2 in result.stderr
    assert score(project, type_id, W1) == 50
    assert score(project, type_id, W2) is None


@pytest.mark.parametrize(
    ("args", "files", "expected"),
    [
        (
            ["assignQualification", "-qualtypeid", "NOSUCHTYPE0000000000", "-workerid", W1],
            {},
            "qualification type NOSUCHTYPE0000000000 does not exist",
        ),
        (
            ["assignQualification", "-qualtypeid", "{type}", "-workerid", "bob"],
            {},
            "-workerid 'bob' is not a worker id",
        ),
        (
            ["assignQualification", "-qualtypeid", "{type}", "-workerid", W1, "-score", "ten"],
            {},
            "-score needs a whole number, not 'ten'",
        ),
        (
            ["assignQualification", "-qualtypeid", "{type}", "-scorefile", "s.txt"],
            {"s.txt": f"workerid\tscore\n{W1}\t5\n{W2}\t6\textra\n"},
            "s.txt:3:",
        ),
        (
            ["assignQualification", "-qualtypeid", "{type}", "-scorefile", "s.txt"],
            {"s.txt": f"workerid\tscore\n{W1}\t5\n{W2}\t6.5\n"},
            "s.txt:3: column 'score': '6.5' is not a whole number",
        ),
        (
            ["assignQualification", "-qualtypeid", "{type}", "-scorefile", "s.txt"],
            {"s.txt": f"workerid\n{W1}\nnot-a-worker\n"},
            "s.txt:3: 'not-a-worker' is not a worker id",
        ),
        (
            ["revokeQualification", "-qualtypeid", "bad id", "-workerid", W1],
            {},
            "-qualtypeid 'bad id' is not a qualification type id",
        ),
        (
            ["updateQualificationScore", "-qualtypeid", "{type}", "-workerid", W1, "-score", "x"],
            {},
            "-score needs a whole number",
        ),
        (
            ["updateQualificationScore", "-qualtypeid", "{type}", "-input", "s.txt"],
            {"s.txt": f"workerid\tscore\n{W1}\t\n"},
            "s.txt:2: column 'score': the row has no score",
        ),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    mturkmake_project: Project, args: list[str], files: dict[str, str], expected: str
) -> None:
    project = mturkmake_project
    type_id = created(project)
    project.write(files)
    result = project.run(*[a.replace("{type}", type_id) for a in args])
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (
        log(project, "AssociateQualificationWithWorker", "DisassociateQualificationFromWorker")
        == {}
    )


def test_a_grant_interrupted_by_a_crash_is_resolved_by_lookup(mturkmake_project: Project) -> None:
    """The call reached MTurk, the process died before the outcome: the next run finds the
    grant with GetQualificationScore and records it, without sending it again."""
    import sqlite3

    from mturkmake.mturk.ledger import open_ledger
    from mturkmake.mturk.recovery import Recoveries
    from tests.plugins.test_approved_rule import marketplace

    project = mturkmake_project
    type_id = created(project)
    params = {"QualificationTypeId": type_id, "WorkerId": W1, "IntegerValue": 7}
    ledger = open_ledger(project.path(".mturkmake"), "local")
    ledger.recover(None, Recoveries())
    intent = ledger._record(  # what ledger.intent() records before the call
        "AssociateQualificationWithWorker",
        f"qualification:{type_id}",
        f"{W1}@crashed",
        params,
        cents=0,
        budget=None,
    )
    with marketplace(project) as market:
        market.call("AssociateQualificationWithWorker", params)
    ledger.close()  # the run dies: no outcome
    assert intent.status is None
    result = project.run("assignQualification", "-qualtypeid", type_id, "-workerid", W2)
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(project.path(".mturkmake/state.db"))
    try:
        rows = conn.execute(
            "SELECT o.status, o.resolved_by FROM ledger_intent i JOIN ledger_outcome o "
            "ON o.intent_id = i.id WHERE i.subject = ?",
            (f"{W1}@crashed",),
        ).fetchall()
    finally:
        conn.close()
    assert rows == [("done", "lookup")]
    assert (
        log(project, "AssociateQualificationWithWorker")[
            ("AssociateQualificationWithWorker", f"{type_id}/{W1}")
        ]
        == 1
    )
