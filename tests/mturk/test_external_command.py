"""A side-effecting command from a plugin outside mturkmake gets intents, a request token and
crash recovery through the public requester interface, with no change to mturkmake's files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mturkmake.testing import Project
from tests.plugins.test_load_hits import project_toml

#: The plugin a third party would write: ``tipWorkers -successfile F -amount A`` pays every
#: submitted assignment of a batch a bonus, once. It dies between the call and its outcome
#: when TIP_DIE is set, as a crash would.
PLUGIN = textwrap.dedent(
    """
    import os, signal
    from mturkmake import hookimpl
    from mturkmake.hookspecs import CommandSpec, Flag, Recovery
    from mturkmake.formats.success import read_success
    from mturkmake.mturk.endpoint import ledger_call, open_session, service_call, token_retry

    def _tip(args, ctx):
        path = ctx.root / args["successfile"]
        with open(path, encoding="utf-8") as stream:
            hits = [row.hit_id for row in read_success(stream, source=str(path))]
        with open_session(ctx) as session:
            for hit_id in hits:
                found = service_call(session.client, "ListAssignmentsForHIT", HITId=hit_id)
                for assignment in found["Assignments"]:
                    subject = assignment["AssignmentId"]
                    if session.ledger.is_done("SendBonus", "tips", subject):
                        continue
                    params = {
                        "WorkerId": assignment["WorkerId"],
                        "AssignmentId": subject,
                        "BonusAmount": args["amount"],
                        "Reason": "thank you",
                    }
                    with session.ledger.intent("SendBonus", "tips", subject, params) as intent:
                        ledger_call(intent, session.client)
                        if os.environ.get("TIP_DIE"):
                            os.kill(os.getpid(), signal.SIGKILL)
                        intent.done()
                    print("tipped", subject)
        return 0

    @hookimpl
    def mturkmake_commands():
        flags = (Flag("successfile", "FILE", required=True), Flag("amount", "USD", required=True))
        return [CommandSpec("tipWorkers", flags, _tip, spends_money=True)]

    @hookimpl
    def mturkmake_recoveries():
        return [Recovery("SendBonus", retry=token_retry(lambda reply: None))]
    """
)

QUESTION = textwrap.dedent(
    """\
    <HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd">
    <HTMLContent><![CDATA[<!DOCTYPE html><html><body>
    <form name="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">
    <input type="hidden" name="assignmentId" value="">
    <p>${word}</p><input type="text" name="answer"><input type="submit"></form>
    </body></html>]]></HTMLContent><FrameHeight>400</FrameHeight></HTMLQuestion>
    """
)
PROPERTIES = (
    "title:Say a word\ndescription:One word\nkeywords:word\nreward:0.05\nassignments:1\n"
    "annotation:\nassignmentduration:3600\nhitlifetime:86400\nautoapprovaldelay:86400\n"
)


def _bonuses(project: Project) -> list[tuple[str, str]]:
    db = project.path(".mturkmake/local-marketplace.db")
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        table = next(t for t in tables if "bonus" in t.lower())
        rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    return [tuple(map(str, row[:2])) for row in rows]  # type: ignore[misc]


def _ledger(project: Project, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(project.path(".mturkmake/state.db")) as conn:
        return conn.execute(sql).fetchall()


def _run(
    project: Project, lib: Path, *args: str, die: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(lib), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("TIP_DIE", None)
    if die:
        env["TIP_DIE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "mturkmake", *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_a_third_party_command_is_recovered_after_sigkill(
    mturkmake_project: Project, tmp_path: Path
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "tip_plugin.py").write_text(PLUGIN, encoding="utf-8")
    project = mturkmake_project
    project.write(
        {
            "mturkmake.toml": project_toml('plugins = ["tip_plugin"]\n'),
            "words.input": "word\napple\npear\n",
            "words.question": QUESTION,
            "words.properties": PROPERTIES,
        }
    )
    loaded = _run(project, lib, "--wait", "words.results")
    assert loaded.returncode == 0, loaded.stderr

    killed = _run(
        project, lib, "tipWorkers", "-successfile", "words.success", "-amount", "0.50", die=True
    )
    assert killed.returncode == -9, killed.stderr
    pending = _ledger(
        project,
        "SELECT subject, token FROM ledger_intent WHERE operation = 'SendBonus' "
        "AND id NOT IN (SELECT intent_id FROM ledger_outcome)",
    )
    assert len(pending) == 1, "the kill left the intent without an outcome"
    subject, token = pending[0]
    assert len(str(token)) == 64  # the intent carried a request token
    assert len(_bonuses(project)) == 1  # the call itself went through before the kill

    again = _run(project, lib, "tipWorkers", "-successfile", "words.success", "-amount", "0.50")
    assert again.returncode == 0, again.stderr
    resolved = _ledger(
        project,
        "SELECT i.subject, o.resolved_by, o.status FROM ledger_intent i JOIN ledger_outcome o "
        "ON o.intent_id = i.id WHERE i.operation = 'SendBonus' ORDER BY i.id",
    )
    assert resolved[0] == (subject, "retry", "done"), resolved
    assert [r[0] for r in resolved].count(subject) == 1
    # one bonus per assignment, the killed one included: the retry re-sent the same token
    assert len(_bonuses(project)) == 2
    assert f"tipped {subject}" not in again.stdout

    third = _run(project, lib, "tipWorkers", "-successfile", "words.success", "-amount", "0.50")
    assert third.returncode == 0, third.stderr
    assert len(_bonuses(project)) == 2
    assert json.loads(json.dumps(resolved))  # plain data
