"""``mturkmake status``: a half-done batch on the local marketplace, reported as the
marketplace itself shows it — HITs and assignments by state, money committed and spent —
served from the ledger and the results cache without a call; ``--json`` for scripts; the
24-hour auto-approval warning; accuracy under answer-key; pseudonymized workers."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from typing import Any

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import batch_files, marketplace


def _marketplace_view(project: Project) -> dict[str, Any]:
    """What the marketplace shows: HITs and assignments by status, balance and spending."""
    with marketplace(project) as market:
        hits = market.call("ListHITs", {"MaxResults": 100})["HITs"]
        states: Counter[str] = Counter()
        workers: Counter[str] = Counter()
        for hit in hits:
            page = market.call("ListAssignmentsForHIT", {"HITId": hit["HITId"], "MaxResults": 100})
            for a in page["Assignments"]:
                states[a["AssignmentStatus"]] += 1
                workers[a["WorkerId"]] += 1
        report = market.status()
        balance = Decimal(market.call("GetAccountBalance", {})["AvailableBalance"])
        log = len(market.request_log())
    return {
        "hits": Counter(h["HITStatus"] for h in hits),
        "asked": sum(h["MaxAssignments"] for h in hits),
        "states": states,
        "workers": workers,
        "committed": Decimal("10000.00") - balance,
        "spent": Decimal(report["spent"]),
        "log": log,
    }


def _half_done(project: Project) -> None:
    """A batch of 4 HITs × 2 assignments with some, not all, of the work submitted."""
    project.write(batch_files(4, assignments=2, extra="budget = 5\n[local]\nspeed = 0.02\n"))
    assert project.run("survey.success").exit_code == 0
    for _ in range(200):
        assert project.run("marketplace", "advance", "2m").exit_code == 0
        with marketplace(project) as market:
            submitted = market.status()["assignments"].get("Submitted", 0)
        if 2 <= submitted <= 6:
            break
    else:
        raise AssertionError("the crowd never got half way")
    assert project.run("survey.results").exit_code == 0


def test_status_of_a_half_done_batch_matches_the_marketplace(mturkmake_project: Project) -> None:
    project = mturkmake_project
    _half_done(project)
    # The first row with work: HIT ids (hence the crowd's order) vary with the project's id.
    first = next(r["assignmentid"] for r in project.table("survey.results") if r["assignmentid"])
    assert project.run("approveWork", "-assignment", first, "-force").exit_code == 0
    assert project.run("survey.results").exit_code == 0  # the cache sees the approval
    seen = _marketplace_view(project)
    assert 0 < sum(seen["states"].values()) < seen["asked"]
    assert seen["states"]["Approved"] == 1

    result = project.run("status", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (batch,) = report["batches"]
    assert batch["batch"] == "survey.input"
    assert batch["success"] == "survey.success"
    hits = dict(batch["hits"])
    assert hits.pop("total") == 4
    assert hits == dict(seen["hits"])
    work = dict(batch["assignments"])
    assert work.pop("asked") == seen["asked"] == 8
    assert work.pop("submitted") == sum(seen["states"].values())
    assert work.pop("to_come") == 8 - sum(seen["states"].values())
    assert work == dict(seen["states"])
    assert Decimal(batch["money"]["committed"]) == seen["committed"] == Decimal("0.48")
    assert Decimal(batch["money"]["spent"]) == seen["spent"] == Decimal("0.06")
    assert report["money"] == {"committed": "0.48", "budget": "5.00", "left": "4.52"}
    assert {w: sum(c.values()) for w, c in batch["workers"].items()} == dict(seen["workers"])
    assert batch["unreviewed"] == seen["states"]["Submitted"]
    # Served from the ledger and the cache: status itself calls nothing.
    assert _marketplace_view(project)["log"] == seen["log"]

    text = project.run("status", "survey")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert re.fullmatch(
        r"local: \$0\.48 committed of a \$5\.00 budget, \$4\.52 left \(as of \S+Z\)", lines[0]
    )
    submitted = sum(seen["states"].values())
    assert lines[1:5] == [
        "survey.input → survey.success",
        f"  HITs: 4 ({', '.join(f'{k} {v}' for k, v in sorted(seen['hits'].items()))})",
        f"  assignments: 8 asked for, {submitted} submitted (Approved 1, Submitted "
        f"{submitted - 1}), {8 - submitted} to come",
        "  money: $0.48 committed, $0.06 spent",
    ]


def test_status_warns_when_unreviewed_work_is_paid_within_a_day(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    files = batch_files(2)
    files["survey.properties"] = files["survey.properties"].replace(
        "autoapprovaldelay:604800", "autoapprovaldelay:7200"
    )
    project.write(files)
    # The local crowd's timing derives from the project id: pinned, one exact batch. When its
    # last work comes in decides how long is left (under or over an hour): both are right.
    project.configure(project_id="status-auto-approval-test")
    assert project.run("survey.results", "--wait").exit_code == 0
    result = project.run("status")
    assert result.exit_code == 0, result.output
    report = json.loads(project.run("status", "--json").stdout)
    when = report["batches"][0]["auto_approval"]
    assert when is not None
    assert re.fullmatch(
        rf"survey\.input: 2 submitted assignment\(s\) not reviewed; the first is approved and "
        rf"paid automatically at {re.escape(when)} \(in (?:1 h )?\d+ min\) — review them before "
        r"then\n",
        result.stderr,
    ), result.stderr


def test_status_reports_accuracy_with_pseudonymized_workers(mturkmake_project: Project) -> None:
    project = mturkmake_project
    lines = ["text\tgold"] + [f"Item {n}\t{'cat' if n % 2 else 'dog'}" for n in range(4)]
    from tests.plugins.test_approved_rule import LABEL, project_toml, properties

    project.write(
        {
            "mturkmake.toml": project_toml(
                'evaluators = ["answer-key"]\ngold_columns = { label = "gold" }\n'
                "pseudonymize_workers = true\n"
            ),
            "survey.input": "\n".join(lines) + "\n",
            "survey.question": LABEL,
            "survey.properties": properties(2),
        }
    )
    assert project.run("survey.results", "--wait").exit_code == 0
    report = json.loads(project.run("status", "--json").stdout)
    (batch,) = report["batches"]
    workers = set(batch["workers"])
    assert workers
    assert all(re.fullmatch(r"W[0-9A-F]{20}", w) for w in workers)
    real = set(_marketplace_view(project)["workers"])
    assert not workers & real
    accuracy = batch["accuracy"]
    assert set(accuracy) == workers
    assert sum(s["checked"] for s in accuracy.values()) == 8  # 4 items × 2 workers, all gold
    for score in accuracy.values():
        assert 0 <= score["correct"] <= score["checked"]
    text = project.run("status").stdout
    assert any(line.startswith("  accuracy W") for line in text.splitlines())
    assert not any(worker in text for worker in real)


def test_status_refresh_polls_what_the_cache_lacks(mturkmake_project: Project) -> None:
    project = mturkmake_project
    project.write(batch_files(3, assignments=2))
    assert project.run("survey.success").exit_code == 0
    plain = project.run("status")
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.splitlines()[1:] == [
        "survey.input → survey.success",
        "  HITs: 3 (not fetched yet 3)",
        "  assignments: 6 asked for, 0 submitted, 6 to come",
        "  money: $0.36 committed, $0.00 spent",
        "  (not fetched yet: build survey.results or run 'mturkmake status --refresh')",
    ]
    fresh = json.loads(project.run("status", "--refresh", "--json").stdout)
    seen = _marketplace_view(project)
    (batch,) = fresh["batches"]
    assert batch["hits"] == {"total": 3, **dict(seen["hits"])}
    assert batch["assignments"]["asked"] == seen["asked"] == 6
    unknown = project.run("status", "nosuch")
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "mturkmake: status: no batch 'nosuch' on local — name its input, its .success or its "
        "stem; batches: survey.input\n"
    )
