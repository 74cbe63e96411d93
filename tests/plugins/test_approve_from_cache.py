"""``%.approved`` decides the work this project fetched as Submitted without a GetAssignment
first (issue #17): the results cache in ``state.db`` already holds the assignment, its HIT
and its status. The outcome must be what asking first gives: each comparison copies one
fetched project, makes the cache unusable in the copy (marked changed, as after a remote
change: every decision then asks GetAssignment, as before), runs the same step in both and
compares what each printed and wrote.

The calls are counted on the real client, in a plugin's botocore ``before-call`` hook (so
refused calls count too); the marketplace's request log shows the accepted ones.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from mturkmake.core.state import StateDB
from mturkmake.mturk.results_cache import ResultsCache
from mturkmake.testing import CliResult, Project
from tests.plugins.test_approved_rule import (
    approved_rows,
    assignments,
    balance,
    batch_files,
    calls,
    exposure,
    fetched,
    marketplace,
    results_with_marks,
)

HITS = 4  # × 3 assignments

COUNT_PLUGIN = """
from mturkmake import hookimpl


@hookimpl(tryfirst=True)
def mturkmake_make_client(config):
    from mturkmake.mturk.endpoint import make_endpoint

    endpoint = make_endpoint(config)
    log = config.root / "sent.log"

    def count(model, params, **kwargs):
        with open(log, "a", encoding="utf-8") as stream:
            stream.write(f"{model.name}\\t{params.get('AssignmentId', '')}\\n")

    endpoint.client.meta.events.register("before-call.mturk", count)
    return endpoint
"""


def sent(project: Project) -> Counter[str]:
    """How many calls of each operation the project's client sent (refused ones too)."""
    log = project.path("sent.log")
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return Counter(line.split("\t")[0] for line in lines)


def forget_cache(project: Project) -> None:
    """Mark every cached HIT changed remotely: the decisions ask GetAssignment, as before."""
    assert ResultsCache(StateDB(project.path(".mturkmake/state.db")), "local").invalidate() > 0


@pytest.fixture
def twins(
    mturkmake_project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Project, Project]:
    """A fetched batch of 4 HITs × 3 assignments (one in three marked for rejection), and a
    copy whose results cache is unusable; both count their calls."""
    project = mturkmake_project
    project.write(batch_files(HITS, assignments=3, extra="max_reject_share = 0.5\n"))
    fetched(project)
    ids = sorted(assignments(project))
    marks = {aid: f"Off topic {n}" for n, aid in enumerate(ids) if n % 3 == 1}
    project.write(
        {
            "survey.review": results_with_marks(project.read("survey.results"), marks),
            "mturkmake_plugins.py": COUNT_PLUGIN,
        }
    )
    twin = project.root.parent / "twin"
    shutil.copytree(project.root, twin)
    asking = Project(twin, capsys, monkeypatch)
    forget_cache(asking)
    return project, asking


def same_state(twins: tuple[Project, Project], *names: str) -> None:
    """Both projects hold the same files ``names``, made the same calls (each once), and left
    the marketplace, the exposure and the balance the same."""
    one, other = twins
    for name in names:
        assert one.path(name).read_bytes() == other.path(name).read_bytes(), name
    assert calls(one) == calls(other)
    assert set(calls(one).values()) <= {1}, "an assignment was decided by two calls"
    assert {a: r["AssignmentStatus"] for a, r in assignments(one).items()} == {
        a: r["AssignmentStatus"] for a, r in assignments(other).items()
    }
    assert exposure(one) == exposure(other)
    assert balance(one) == balance(other)


def _same(twins: tuple[Project, Project], first: CliResult, second: CliResult) -> None:
    assert first.exit_code == second.exit_code, (first.output, second.output)
    assert first.stdout == second.stdout
    assert first.stderr == second.stderr
    same_state(twins, "survey.approved")


def test_cached_submitted_work_is_decided_without_get_assignment_and_the_same_file(
    twins: tuple[Project, Project],
) -> None:
    cached, asking = twins
    first = cached.run("-j", "16", "-v", "survey.approved")
    second = asking.run("-j", "16", "-v", "survey.approved")
    assert first.exit_code == 0, first.output
    _same(twins, first, second)
    rows = approved_rows(cached.path("survey.approved"))
    assert Counter(r["decision"] for r in rows) == {"approved": 8, "rejected": 4}
    assert sent(cached)["GetAssignment"] == 0
    assert sent(asking)["GetAssignment"] == HITS * 3
    decisions = ("ApproveAssignment", "RejectAssignment")
    assert {op: sent(cached)[op] for op in decisions} == {op: sent(asking)[op] for op in decisions}
    # A rebuild decides nothing and writes the same bytes.
    before = cached.read("survey.approved")
    again = cached.run("survey.approved")
    assert again.exit_code == 0, again.output
    assert cached.read("survey.approved") == before


@pytest.mark.parametrize("how", ["auto-approval", "requester site"])
def test_work_decided_between_the_fetch_and_the_decision_is_recorded_as_today(
    twins: tuple[Project, Project], how: str
) -> None:
    ids = sorted(assignments(twins[0]))
    for project in twins:
        if how == "auto-approval":
            advanced = project.run("marketplace", "advance", "8d")  # past AutoApprovalTime
            assert advanced.exit_code == 0, advanced.output
        else:
            with marketplace(project) as market:  # half the batch; 1, 4: marked to reject
                for aid in ids[1:7:2]:
                    market.call("ApproveAssignment", {"AssignmentId": aid})
                for aid in ids[2:7:2]:
                    market.call(
                        "RejectAssignment", {"AssignmentId": aid, "RequesterFeedback": "No"}
                    )
    cached, asking = twins
    first = cached.run("-j", "4", "survey.approved")
    second = asking.run("-j", "4", "survey.approved")
    _same(twins, first, second)
    rows = {r["assignmentid"]: r for r in approved_rows(cached.path("survey.approved"))}
    assert len(rows) == HITS * 3
    if how == "auto-approval":
        assert {(r["decision"], r["evaluator"]) for r in rows.values()} == {
            ("approved", "auto-approved")
        }
        assert calls(cached) == Counter()
        # Past its AutoApprovalTime, cached work is asked for first: no call is refused.
        assert sent(cached)["GetAssignment"] == HITS * 3
    else:
        assert (rows[ids[1]]["decision"], rows[ids[1]]["evaluator"]) == (
            "approved",
            "outside mturkmake",
        )
        assert (rows[ids[2]]["decision"], rows[ids[2]]["evaluator"]) == (
            "rejected",
            "outside mturkmake",
        )
        assert f"{ids[1]}: it was already approved (outside mturkmake); recorded as decided " in (
            first.stdout + first.stderr
        )
        # Only the six decided on the site were asked for.
        assert sent(cached)["GetAssignment"] == 6
    assert sent(asking)["GetAssignment"] == HITS * 3
    # Each call the cache's record made MTurk refuse is one asking first never sent.
    refused = 6 if how == "requester site" else 0
    assert _decisions_sent(cached) == _decisions_sent(asking) + refused


def _decisions_sent(project: Project) -> int:
    return sent(project)["ApproveAssignment"] + sent(project)["RejectAssignment"]


def test_a_hand_edited_row_the_cache_does_not_hold_is_asked_for_and_its_marker_checked(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    project.write(batch_files(2))
    fetched(project)
    # Work on a HIT of another mturkmake project, on the same marketplace.
    with marketplace(project) as market:
        hit = market.call(
            "CreateHIT",
            {
                "Title": "Someone else's",
                "Description": "Another project's HIT",
                "Reward": "0.05",
                "AssignmentDurationInSeconds": 3600,
                "LifetimeInSeconds": 86400,
                "MaxAssignments": 1,
                "Question": project.read("survey.question").replace("${question}", "Hi?"),
                "RequesterAnnotation": "mturkmake:OTHERPROJECT",
            },
        )["HIT"]
        market.advance(3600)
        foreign = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"]})["Assignments"]
    assert len(foreign) == 1
    stranger = foreign[0]["AssignmentId"]
    # The row of a HIT of this batch, naming the other project's assignment instead.
    lines = project.read("survey.results").splitlines()
    header = [cell.strip('"') for cell in lines[0].split("\t")]
    column = header.index("assignmentid")
    cells = lines[1].split("\t")
    cells[column] = f'"{stranger}"'
    project.write(
        {
            "survey.results": "\n".join([*lines, "\t".join(cells)]) + "\n",
            "mturkmake_plugins.py": COUNT_PLUGIN,
        }
    )
    result = project.run("survey.approved")
    assert result.exit_code != 0, result.output
    assert f"HIT {hit['HITId']} belongs to another mturkmake project" in result.output
    assert sent(project)["GetAssignment"] == 1, "only the row the cache does not hold"
    assert ("ApproveAssignment", stranger) not in calls(project)
    statuses = {a: r["AssignmentStatus"] for a, r in assignments(project).items()}
    assert statuses[stranger] == "Submitted"
    assert Counter(calls(project).values()) == {1: 2}  # this batch's two, once each


def test_the_cache_is_read_from_state_db_not_from_results(tmp_path: Path) -> None:
    """Only final entries count, and only under the HIT that holds the assignment."""
    from mturkmake.mturk.results_cache import Fetched

    cache = ResultsCache(StateDB(tmp_path / "state.db"), "local")
    done = {"AssignmentId": "A1", "HITId": "H1", "AssignmentStatus": "Submitted"}
    open_one = {"AssignmentId": "A2", "HITId": "H2", "AssignmentStatus": "Submitted"}
    cache.store(
        {
            "H1": Fetched({"HITId": "H1"}, (done,), final=True),
            "H2": Fetched({"HITId": "H2"}, (open_one,), final=False),
        }
    )
    found = cache.assignments_of(["H1", "H2", "H3"])
    assert set(found) == {"A1"}
    assert found["A1"][1]["HITId"] == "H1"
    cache.invalidate(["H1"])
    assert cache.assignments_of(["H1"]) == {}
