"""The ``%.approved`` rule end to end, through the CLI, on the local marketplace.

Every "decided once" is asserted on the marketplace's request log (the accepted
side-effecting calls), never only on the ledger. The helpers at the top are shared with the
CLT command tests, the crash test and the examples test.
"""

from __future__ import annotations

import io
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.plugins import BUILTIN_PLUGINS
from mturkmake.formats.results import open_results
from mturkmake.testing import Project

#: The plugins these tests need; those not built in yet are loaded through the config.
PLUGINS = (
    "mturkmake.plugins.load_hits",
    "mturkmake.plugins.get_results",
    "mturkmake.plugins.approved_rule",
    "mturkmake.plugins.approve_work",
    "mturkmake.plugins.reject_work",
    "mturkmake.plugins.review_results",
    "mturkmake.plugins.unreject",
)
NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas"
FREE_TEXT = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
    "  <Question><QuestionIdentifier>answer</QuestionIdentifier>\n"
    "    <QuestionContent><Text>${question}</Text></QuestionContent>\n"
    "    <AnswerSpecification><FreeTextAnswer/></AnswerSpecification></Question>\n"
    "</QuestionForm>\n"
)
LABEL = (
    f'<QuestionForm xmlns="{NS}/2005-10-01/QuestionForm.xsd">\n'
    "  <Question><QuestionIdentifier>label</QuestionIdentifier>\n"
    "    <QuestionContent><Text>${text}</Text></QuestionContent>\n"
    "    <AnswerSpecification><SelectionAnswer><Selections>\n"
    "      <Selection><SelectionIdentifier>cat</SelectionIdentifier><Text>Cat</Text></Selection>\n"
    "      <Selection><SelectionIdentifier>dog</SelectionIdentifier><Text>Dog</Text></Selection>\n"
    "    </Selections></SelectionAnswer></AnswerSpecification></Question>\n"
    "</QuestionForm>\n"
)


def properties(assignments: int = 1, reward: str = "0.05") -> str:
    """HIT properties (a week's auto-approval delay)."""
    return (
        "title:Answer a question\n"
        "description:Please provide a short answer.\n"
        f"reward:{reward}\n"
        f"assignments:{assignments}\n"
        "assignmentduration:3600\n"
        "hitlifetime:259200\n"
        "autoapprovaldelay:604800\n"
    )


def project_toml(extra: str = "") -> str:
    """``mturkmake.toml`` for the local endpoint, loading the plugins not built in."""
    lines = ['endpoint = "local"']
    missing = [p for p in PLUGINS if p not in BUILTIN_PLUGINS]
    if missing:
        lines.append("plugins = [" + ", ".join(f'"{p}"' for p in missing) + "]")
    return "\n".join(lines) + "\n" + extra


def overlap_calls(root: Path, jobs: str) -> None:
    """Above ``-j 1``, give the project's in-process calls a latency so that they really
    overlap: with nothing injected they wait on nothing and go one at a time
    (``mturkmake.mturk.calls.call_jobs``), and a ``-j 16`` test would test ``-j 1``."""
    if jobs != "1":
        with (root / "mturkmake.toml").open("a", encoding="utf-8") as toml:
            toml.write('\n[local.faults]\nlatency = "1ms"\n')


def batch_files(
    rows: int, *, name: str = "survey", extra: str = "", assignments: int = 1
) -> dict[str, str]:
    """A free-text batch of ``rows`` questions plus the project file."""
    lines = ["question"] + [f"Question number {n}?" for n in range(rows)]
    return {
        "mturkmake.toml": project_toml(extra),
        f"{name}.input": "\n".join(lines) + "\n",
        f"{name}.question": FREE_TEXT,
        f"{name}.properties": properties(assignments),
    }


@contextmanager
def marketplace(project: Project) -> Iterator[Any]:
    """The project's local marketplace (its own connection)."""
    from mturkmake.marketplace.service import Marketplace

    market = Marketplace(project.path(".mturkmake/local-marketplace.db"))
    try:
        yield market
    finally:
        market.close()


def calls(project: Project) -> Counter[tuple[str, str]]:
    """How many times each (operation, assignment) was accepted by the marketplace."""
    with marketplace(project) as market:
        return Counter(
            entry
            for entry in market.request_log()
            if entry[0] in ("ApproveAssignment", "RejectAssignment")
        )


def assignments(project: Project) -> dict[str, dict[str, Any]]:
    """Every visible assignment of the marketplace, by id."""
    found: dict[str, dict[str, Any]] = {}
    with marketplace(project) as market:
        hits: list[dict[str, Any]] = []
        params: dict[str, Any] = {"MaxResults": 100}
        while True:
            listed = market.call("ListHITs", params)
            hits += listed["HITs"]
            if not listed.get("NextToken"):
                break
            params["NextToken"] = listed["NextToken"]
        for hit in hits:
            page = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"], "MaxResults": 100})
            found.update({a["AssignmentId"]: a for a in page["Assignments"]})
    return found


def balance(project: Project) -> Decimal:
    """The marketplace's AvailableBalance."""
    with marketplace(project) as market:
        return Decimal(market.call("GetAccountBalance", {})["AvailableBalance"])


def exposure(project: Project) -> Decimal:
    """The ledger's committed exposure on the local endpoint."""
    conn = sqlite3.connect(project.path(".mturkmake/state.db"))
    try:
        (cents,) = conn.execute(
            "SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_exposure "
            "WHERE endpoint = 'local' AND archived_at IS NULL"
        ).fetchone()
    finally:
        conn.close()
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def approved_rows(path: Path) -> list[dict[str, str]]:
    """The ``.approved`` file's rows as dicts (header checked)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    assert header == [
        "assignmentid",
        "hitid",
        "workerid",
        "decision",
        "feedback",
        "evaluator",
        "decidedat",
    ]
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def results_with_marks(text: str, marks: dict[str, str]) -> str:
    """A ``.results`` text with ``reject`` set to ``x`` and ``feedback`` to the given reason
    on the rows of the assignments in ``marks``."""
    lines = text.splitlines()
    header = [cell.strip('"') for cell in lines[0].split("\t")]
    aid, reject, feedback = (header.index(n) for n in ("assignmentid", "reject", "feedback"))
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split("\t")
        if cells[aid].strip('"') in marks:
            cells[reject] = '"x"'
            cells[feedback] = f'"{marks[cells[aid].strip(chr(34))]}"'
        out.append("\t".join(cells))
    return "\n".join(out) + "\n"


class Terminal(io.StringIO):
    """Typed input on a terminal: what the prompts read."""

    def isatty(self) -> bool:
        return True


def on_terminal(monkeypatch: pytest.MonkeyPatch, typed: str) -> None:
    """Make the next runs interactive, with ``typed`` as the keyboard input."""
    monkeypatch.setattr(sys, "stdin", Terminal(typed))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)


def fetched(project: Project, name: str = "survey") -> None:
    """Create the batch's HITs and wait until every assignment is submitted."""
    result = project.run(f"{name}.results", "--wait")
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------------------------
# reject-column (the default)
# --------------------------------------------------------------------------------------------


def test_unmarked_work_is_approved_once_and_a_rebuild_decides_nothing(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(4))
    result = project.run("survey.approved", "--wait")
    assert result.exit_code == 0, result.output
    assert "Cost: 4 approvals = $0.20 + $0.04 fees = $0.24" in result.stdout
    rows = approved_rows(project.path("survey.approved"))
    assert [r["decision"] for r in rows] == ["approved"] * 4
    assert {r["evaluator"] for r in rows} == {"reject-column"}
    assert [r["hitid"] for r in rows] == sorted(r["hitid"] for r in rows)
    assert all(r["decidedat"].endswith("Z") for r in rows)
    first = calls(project)
    assert len(first) == 4
    assert set(first.values()) == {1}
    before = project.read("survey.approved")
    again = project.run("survey.approved", "--wait")
    assert again.exit_code == 0, again.output
    assert "0 approved, 0 rejected" in again.stdout or "up to date" in again.stdout
    assert calls(project) == first
    assert project.read("survey.approved") == before
    assert {a["AssignmentStatus"] for a in assignments(project).values()} == {"Approved"}
    assert balance(project) == Decimal("10000") - exposure(project)


def test_a_review_with_one_mark_rejects_exactly_that_assignment(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(5, extra="max_reject_share = 0.5\n"))
    fetched(project)
    victim = sorted(assignments(project))[2]
    project.write(
        {
            "survey.review": results_with_marks(
                project.read("survey.results"), {victim: "Answered another question"}
            )
        }
    )
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    rows = {r["assignmentid"]: r for r in approved_rows(project.path("survey.approved"))}
    assert rows[victim]["decision"] == "rejected"
    assert rows[victim]["feedback"] == "Answered another question"
    assert [r["decision"] for a, r in rows.items() if a != victim] == ["approved"] * 4
    remote = assignments(project)
    assert remote[victim]["AssignmentStatus"] == "Rejected"
    assert remote[victim]["RequesterFeedback"] == "Answered another question"
    assert sum(1 for a in remote.values() if a["AssignmentStatus"] == "Approved") == 4
    assert calls(project)[("RejectAssignment", victim)] == 1
    # The rejected slot's reward and fee are released: the ledger agrees with the balance.
    assert balance(project) == Decimal("10000") - exposure(project)


def test_too_many_rejections_without_a_terminal_stop_before_any_call(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(4))
    fetched(project)
    marked = sorted(assignments(project))[:2]
    project.write(
        {
            "survey.review": results_with_marks(
                project.read("survey.results"), dict.fromkeys(marked, "no")
            )
        }
    )
    stopped = project.run("survey.approved")
    assert stopped.exit_code == 2
    assert "max_reject_share" in stopped.stderr
    assert "--yes" in stopped.stderr
    assert calls(project) == Counter()
    assert not project.path("survey.approved").exists()
    confirmed = project.run("--yes", "survey.approved")
    assert confirmed.exit_code == 0, confirmed.output
    log = calls(project)
    assert sorted(a for (op, a) in log if op == "RejectAssignment") == marked
    assert sum(log.values()) == 4


def test_too_many_rejections_on_a_terminal_ask_first(
    mturkmake_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    marked = sorted(assignments(project))[:1]
    project.write(
        {
            "survey.review": results_with_marks(
                project.read("survey.results"), dict.fromkeys(marked, "no")
            )
        }
    )
    on_terminal(monkeypatch, "n\n")
    declined = project.run("survey.approved")
    assert declined.exit_code == 2
    assert "1 of 2 assignments (50%) would be rejected" in declined.stdout
    assert calls(project) == Counter()
    on_terminal(monkeypatch, "y\n")
    accepted = project.run("survey.approved")
    assert accepted.exit_code == 0, accepted.output
    assert calls(project)[("RejectAssignment", marked[0])] == 1


def test_work_decided_outside_mturkmake_is_recorded_as_such(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    first, second = sorted(assignments(project))
    with marketplace(project) as market:  # the requester site, say
        market.call("RejectAssignment", {"AssignmentId": first, "RequesterFeedback": "Spam"})
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    rows = {r["assignmentid"]: r for r in approved_rows(project.path("survey.approved"))}
    assert (rows[first]["decision"], rows[first]["evaluator"]) == ("rejected", "outside mturkmake")
    assert rows[first]["feedback"] == "Spam"
    assert (rows[second]["decision"], rows[second]["evaluator"]) == ("approved", "reject-column")
    assert calls(project) == Counter(
        {("RejectAssignment", first): 1, ("ApproveAssignment", second): 1}
    )


def test_dry_run_prints_every_verdict_and_calls_nothing(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3, extra="max_reject_share = 0.5\n"))
    fetched(project)
    victim = sorted(assignments(project))[0]
    project.write(
        {
            "survey.review": results_with_marks(
                project.read("survey.results"), {victim: "Blank answer"}
            )
        }
    )
    result = project.run("-n", "survey.approved")
    assert result.exit_code == 0, result.output
    assert f"would reject {victim}" in result.stdout
    assert "Blank answer" in result.stdout
    assert result.stdout.count("would approve ") == 2
    assert "3 undecided submitted assignments: 2 would be approved, 1 rejected" in result.stdout
    assert calls(project) == Counter()
    assert not project.path("survey.approved").exists()


def test_incomplete_while_the_results_are(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3))
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    assert "'survey.approved' is incomplete" in result.stdout
    assert "waiting for survey.results to be final" in result.stdout
    assert approved_rows(project.path("survey.approved")) == []
    assert calls(project) == Counter()
    done = project.run("survey.approved", "--wait")
    assert done.exit_code == 0, done.output
    assert len(approved_rows(project.path("survey.approved"))) == 3


def test_auto_approved_work_is_recorded_as_such_and_never_sent(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    advanced = project.run("marketplace", "advance", "8d")
    assert advanced.exit_code == 0, advanced.output
    result = project.run("survey.approved")
    assert result.exit_code == 0, result.output
    rows = approved_rows(project.path("survey.approved"))
    assert [(r["decision"], r["evaluator"]) for r in rows] == [("approved", "auto-approved")] * 2
    assert calls(project) == Counter()


# --------------------------------------------------------------------------------------------
# answer-key with a planted careless worker
# --------------------------------------------------------------------------------------------

PLANTED = "APLANTEDHALF01"
PLANTED_CROWD = f'[local]\nplanted = [{{ id = "{PLANTED}", share = 1.0 }}]\n'
PLANTED_PLUGIN = f'''
"""Workers answer the known label, except the planted worker {PLANTED} (a slot in every HIT,
from [local] planted) who is wrong on every other item, the first included: 50 % accuracy."""
from mturkmake import hookimpl

STATE = {{"count": 0}}


@hookimpl
def mturkmake_simulate_answer(question, worker, truth):
    if not truth:
        return None
    if worker.id != "{PLANTED}":
        return dict(truth)
    STATE["count"] += 1
    if STATE["count"] % 2 == 0:
        return dict(truth)
    return {{q: ("dog" if v == "cat" else "cat") for q, v in truth.items()}}
'''


def test_answer_key_rejects_exactly_the_planted_workers_assignments(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    rows = ["text\tgold"] + [f"Picture {n}\t{'cat' if n % 2 else 'dog'}" for n in range(12)]
    extra = (
        'evaluators = ["answer-key"]\n'
        'gold_columns = { label = "gold" }\n'
        "max_reject_share = 0.5\n" + PLANTED_CROWD
    )
    project.write(
        {
            "mturkmake.toml": project_toml(extra),
            "pets.input": "\n".join(rows) + "\n",
            "pets.question": LABEL,
            "pets.properties": properties(assignments=3),
            "mturkmake_plugins.py": PLANTED_PLUGIN,
        }
    )
    result = project.run("pets.approved", "--wait")
    assert result.exit_code == 0, result.output
    planted = PLANTED
    decided = approved_rows(project.path("pets.approved"))
    assert len(decided) == 36
    theirs = [r for r in decided if r["workerid"] == planted]
    assert len(theirs) == 12, "the planted worker takes a slot in every HIT"
    assert {r["decision"] for r in theirs} == {"rejected"}
    assert all("known answers" in r["feedback"] for r in theirs)
    assert {r["decision"] for r in decided if r["workerid"] != planted} == {"approved"}
    remote = assignments(project)
    assert {a["AssignmentStatus"] for a in remote.values() if a["WorkerId"] == planted} == {
        "Rejected"
    }
    log = calls(project)
    assert sum(log.values()) == 36
    assert set(log.values()) == {1}
    again = project.run("pets.approved", "--wait")
    assert again.exit_code == 0, again.output
    assert calls(project) == log
    assert balance(project) == Decimal("10000") - exposure(project)


ALWAYS_CAT = """
from mturkmake import hookimpl


@hookimpl
def mturkmake_simulate_answer(question, worker, truth):
    return {"label": "cat"}
"""


def test_a_gold_file_grades_answers_not_in_the_input(mturkmake_project: Project) -> None:
    project = mturkmake_project
    rows = ["text"] + [f"Picture {n}" for n in range(4)]
    project.write(
        {
            # each worker does one item here: judge from a single checked answer
            "mturkmake.toml": project_toml(
                'evaluators = ["answer-key"]\nmin_checked_answers = 1\n'
            ),
            "pets.input": "\n".join(rows) + "\n",
            "pets.question": LABEL,
            "pets.properties": properties(),
            "mturkmake_plugins.py": ALWAYS_CAT,
            # Every worker answers "cat": right on two known items, wrong on one (2/3 < 80 %).
            "pets.gold": "text\tAnswer.label\nPicture 0\tcat\nPicture 1\tcat\nPicture 2\tdog\n",
        }
    )
    result = project.run("--yes", "pets.approved", "--wait")
    assert result.exit_code == 0, result.output
    item = {
        e.assignment_id: e.inputs()["text"]
        for e in open_results(project.path("pets.results")).assignments()
    }
    rows = {r["assignmentid"]: r for r in approved_rows(project.path("pets.approved"))}
    assert len(rows) == 4
    assert {r["evaluator"] for r in rows.values()} == {"answer-key"}
    (wrong,) = (a for a, text in item.items() if text == "Picture 2")
    assert rows[wrong]["decision"] == "rejected"
    assert "known answers" in rows[wrong]["feedback"]
    careless = rows[wrong]["workerid"]
    assert {r["decision"] for r in rows.values() if r["workerid"] != careless} == {"approved"}
    assert {r["decision"] for r in rows.values() if r["workerid"] == careless} == {"rejected"}
