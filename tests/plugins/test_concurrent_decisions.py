"""Approvals, rejections and bonuses overlap under ``-j N`` (issue #17,
:mod:`mturkmake.mturk.decide_many`): the same lines and files for every N, each assignment
decided once and each bonus paid once, throttling absorbed.

Each comparison builds one fetched project, copies it (its ledger and its local marketplace
live in ``.mturkmake/``), runs the step at ``-j 1`` in one copy and at ``-j 16`` in the other,
and compares what each printed and wrote."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mturkmake.marketplace.faults import FaultSettings
from mturkmake.marketplace.server import MarketplaceServer
from mturkmake.marketplace.service import Marketplace
from mturkmake.testing import CliResult, Project
from tests.plugins.test_approve_from_cache import forget_cache, same_state
from tests.plugins.test_approved_rule import (
    assignments,
    balance,
    batch_files,
    calls,
    exposure,
    fetched,
    overlap_calls,
    results_with_marks,
)
from tests.plugins.test_fail_once import denied, deny, write_batch

HITS = 8  # × 3 assignments


@pytest.fixture
def twins(
    mturkmake_project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Project, Project]:
    """A fetched batch of 8 HITs × 3 assignments, and a copy of the project."""
    project = mturkmake_project
    project.write(batch_files(HITS, assignments=3, extra="max_reject_share = 0.5\n"))
    fetched(project)
    overlap_calls(project.root, "16")  # both twins: the -j 16 one's calls really overlap
    twin = project.root.parent / "twin"
    shutil.copytree(project.root, twin)
    return project, Project(twin, capsys, monkeypatch)


def _both(twins: tuple[Project, Project], *args: str) -> tuple[CliResult, CliResult]:
    one, sixteen = twins
    return one.run("-j", "1", *args), sixteen.run("-j", "16", *args)


def test_approved_at_j1_and_j16_is_the_same_file_and_output(
    twins: tuple[Project, Project],
) -> None:
    ids = sorted(assignments(twins[0]))
    marks = {ids[n]: f"Off topic {n}" for n in (1, 5, 17)}
    for project in twins:
        project.write({"survey.review": results_with_marks(project.read("survey.results"), marks)})
    one, sixteen = _both(twins, "-v", "survey.approved")
    assert one.exit_code == 0, one.output
    assert sixteen.exit_code == 0, sixteen.output
    assert one.stdout == sixteen.stdout
    assert one.stderr == sixteen.stderr
    # -v prints one line per decision, in the batch's order whatever finished first
    decided = [
        line for line in one.stdout.splitlines() if line.startswith(("approved", "rejected"))
    ]
    assert len(decided) == HITS * 3
    # the progress lines (output piped) count finished decisions, up to the whole batch
    shown = [
        int(line.split(": ")[1].split("/")[0])
        for line in sixteen.stdout.splitlines()
        if line.startswith("deciding: ")
    ]
    assert shown == sorted(set(shown))
    assert shown[-1] == HITS * 3
    assert len(shown) >= 5
    same_state(twins, "survey.approved")
    rows = twins[1].read("survey.approved").splitlines()[1:]
    assert len(rows) == HITS * 3
    assert sorted(r.split("\t")[0] for r in rows if "\trejected\t" in r) == sorted(marks)
    assert calls(twins[1]) == Counter(
        {("RejectAssignment" if a in marks else "ApproveAssignment", a): 1 for a in ids}
    )


def test_approve_work_at_j16_prints_what_j1_prints(twins: tuple[Project, Project]) -> None:
    ids = sorted(assignments(twins[0]))
    # a repeated assignment, an unknown one and a comment among them
    listed = [*ids[:10], ids[3], "NOSUCHASSIGNMENT0000000000000", *ids[10:]]
    text = "assignmentIdToApprove\tassignmentIdToApproveComment\n" + "".join(
        f"{aid}\t{'Thanks' if n % 4 == 0 else ''}\n" for n, aid in enumerate(listed)
    )
    for project in twins:
        project.write({"approve.txt": text})
    one, sixteen = _both(twins, "approveWork", "-approvefile", "approve.txt", "-force")
    assert one.exit_code == sixteen.exit_code == 2  # the unknown assignment
    assert one.stdout == sixteen.stdout
    assert one.stderr == sixteen.stderr
    assert f"[{ids[3]}] Assignment already approved by approveWork" in sixteen.stdout
    assert f"  {len(ids)} assignments approved." in sixteen.stdout
    assert "  1 assignments were already approved." in sixteen.stdout
    same_state(twins)
    assert len(calls(twins[1])) == len(ids)


def test_reject_work_and_review_results_at_j16_match_j1(twins: tuple[Project, Project]) -> None:
    ids = sorted(assignments(twins[0]))
    rejected = ids[:12]
    text = "assignmentIdToReject\tassignmentIdToRejectComment\n" + "".join(
        f"{aid}\tNot an answer {n}\n" for n, aid in enumerate(rejected)
    )
    marks = {aid: "Copied" for aid in ids[12:15]}
    for project in twins:
        project.write(
            {
                "reject.txt": text,
                "marked.results": results_with_marks(project.read("survey.results"), marks),
            }
        )
    committed = exposure(twins[0])
    one, sixteen = _both(twins, "rejectWork", "-rejectfile", "reject.txt", "-force")
    assert one.exit_code == sixteen.exit_code == 0, sixteen.output
    assert one.stdout == sixteen.stdout
    # each rejected slot's reward and fee ($0.05 + $0.01) is released once, after the calls
    assert exposure(twins[1]) == committed - Decimal("0.06") * len(rejected)
    same_state(twins)
    one, sixteen = _both(twins, "reviewResults", "-resultsfile", "marked.results", "-force")
    assert one.exit_code == sixteen.exit_code == 2  # the rejected ones marked approved fail
    assert one.stdout == sixteen.stdout
    assert one.stderr == sixteen.stderr
    assert "Assignments rejected: 3/24 (12%)" in sixteen.stdout
    same_state(twins)
    assert sum(calls(twins[1]).values()) == len(ids)


def test_bonused_at_j16_pays_and_writes_what_j1_does(twins: tuple[Project, Project]) -> None:
    work = sorted((aid, str(a["WorkerId"])) for aid, a in assignments(twins[0]).items())
    rows = [
        (aid, worker, f"0.{10 + n:02d}", f"Reason {n % 3}") for n, (aid, worker) in enumerate(work)
    ]
    rows.append(rows[0])  # the same bonus twice: two rows, two payments
    text = "assignmentid\tworkerid\tamount\treason\n" + "".join("\t".join(r) + "\n" for r in rows)
    for project in twins:
        project.write({"survey.bonus": text})
    one, sixteen = _both(twins, "survey.bonused")
    assert one.exit_code == sixteen.exit_code == 0, sixteen.output
    assert one.stdout == sixteen.stdout
    assert f"paying bonuses: {len(rows)}/{len(rows)} payments" in sixteen.stdout
    assert twins[0].path("survey.bonused").read_bytes() == (
        twins[1].path("survey.bonused").read_bytes()
    )
    assert balance(twins[0]) == balance(twins[1])
    for project in twins:
        sent = _sent_bonuses(project.path(".mturkmake/local-marketplace.db"))
        assert sum(sent.values()) == len(rows)
        assert twins[1].read("survey.bonused").count("\n") == len(rows) + 1
    again = twins[1].run("-j", "16", "survey.bonused")
    assert again.exit_code == 0, again.output
    assert sum(_sent_bonuses(twins[1].path(".mturkmake/local-marketplace.db")).values()) == len(
        rows
    )


def _sent_bonuses(path: Path) -> Counter[str]:
    market = Marketplace(path)
    try:
        return Counter(s for op, s in market.request_log() if op == "SendBonus")
    finally:
        market.close()


# --------------------------------------------------------------------------------------------
# Throttled: a served marketplace answering 30 % of the requests ThrottlingException
# --------------------------------------------------------------------------------------------


@pytest.fixture
def throttling_server(tmp_path: Path) -> Iterator[MarketplaceServer]:
    faults = FaultSettings(throttle_rate=0.3, seed=11)
    server = MarketplaceServer(Marketplace(tmp_path / "served.db"), port=0, faults=faults)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.close()


def _served_assignments(market: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for hit in market.call("ListHITs", {"MaxResults": 100})["HITs"]:
        page = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"], "MaxResults": 100})
        found.update({a["AssignmentId"]: a["WorkerId"] for a in page["Assignments"]})
    return found


def test_throttled_approvals_and_bonuses_complete_silently_each_once(
    mturkmake_project: Project, throttling_server: MarketplaceServer
) -> None:
    project = mturkmake_project
    files = batch_files(6, assignments=3)
    served = f'endpoint = "{throttling_server.url}"'
    files["mturkmake.toml"] = files["mturkmake.toml"].replace('endpoint = "local"', served)
    project.write(files)
    loaded = project.run("-j", "8", "survey.success")
    assert loaded.exit_code == 0, loaded.output
    market = throttling_server.marketplace
    market.advance(24 * 3600)  # the local crowd submits every assignment
    work = _served_assignments(market)
    assert len(work) == 18
    approved = project.run("-j", "8", "approveWork", "-successfile", "survey.success", "-force")
    assert approved.exit_code == 0, approved.output
    assert "  18 assignments approved." in approved.stdout
    text = "assignmentid\tworkerid\tamount\treason\n" + "".join(
        f"{aid}\t{worker}\t0.25\tThanks\n" for aid, worker in sorted(work.items())
    )
    project.write({"survey.bonus": text})
    paid = project.run("-j", "8", "survey.bonused")
    assert paid.exit_code == 0, paid.output
    for result in (loaded, approved, paid):
        shown = result.stdout + result.stderr
        assert "Throttl" not in shown
        assert "Rate exceeded" not in shown
    log = Counter(market.request_log())
    approvals = {s: n for (op, s), n in log.items() if op == "ApproveAssignment"}
    bonuses = {s: n for (op, s), n in log.items() if op == "SendBonus"}
    assert approvals == dict.fromkeys(work, 1)
    assert bonuses == dict.fromkeys(work, 1)
    assert project.read("survey.bonused").count("\n") == 19


# --------------------------------------------------------------------------------------------
# An error every call would hit, at -j 16 (tests/plugins/test_fail_once.py at -j 1)
# --------------------------------------------------------------------------------------------


# Fetched work is decided without a GetAssignment first (the results cache); a HIT changed
# since its fetch is asked for first (tests/plugins/test_approve_from_cache.py).
@pytest.mark.parametrize("operation", ["ApproveAssignment", "GetAssignment"])
def test_access_denied_at_j16_stops_at_the_first_call_with_one_line(
    mturkmake_project: Project, operation: str
) -> None:
    project = mturkmake_project
    write_batch(project, "local", 12)
    assert project.run("survey.results", "--wait").exit_code == 0
    if operation == "GetAssignment":
        forget_cache(project)
    deny(project, operation)
    overlap_calls(project.root, "16")
    result = project.run("-j", "16", "survey.approved")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    assert f"{operation}: not authorized" in errors[0]
    assert denied(project) == 1, "the first call goes alone"
    assert not project.path("survey.approved").exists()


def test_access_lost_midway_at_j16_writes_what_was_decided(mturkmake_project: Project) -> None:
    project = mturkmake_project
    write_batch(project, "local", 12)
    assert project.run("survey.results", "--wait").exit_code == 0
    deny(project, "ApproveAssignment", allow=2)
    overlap_calls(project.root, "16")
    result = project.run("-j", "16", "survey.approved")
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 1, result.stderr
    assert "ApproveAssignment: not authorized" in errors[0]
    assert "(target kept, marked incomplete)" in errors[0]
    # The projection holds the decisions whose outcome was recorded: those let through.
    # (The denial answers after the in-process marketplace took the call, as a lost answer
    # would: those intents stay pending, and the next run resolves them by lookup.)
    approved = {a for a, r in assignments(project).items() if r["AssignmentStatus"] == "Approved"}
    rows = project.read("survey.approved").splitlines()[1:]
    assert len(rows) >= 2
    assert {row.split("\t")[0] for row in rows} <= approved
    project.path("mturkmake_plugins.py").unlink()
    result = project.run("-j", "16", "survey.approved")
    assert result.exit_code == 0, result.output
    rows = project.read("survey.approved").splitlines()[1:]
    assert len({row.split("\t")[0] for row in rows}) == 12
    assert set(calls(project).values()) == {1}
    assert len(calls(project)) == 12
