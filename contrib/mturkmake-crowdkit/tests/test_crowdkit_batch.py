"""Batches on the local marketplace reviewed by the ``crowdkit`` evaluator, and ``%.labels``.

Runs only where mturkmake-crowdkit (and so crowd-kit) is installed; elsewhere it skips,
unless ``MTURKMAKE_REQUIRE_CONTRIB=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import importlib.metadata
import os
import random
from collections import Counter
from pathlib import Path

import pytest

DIST = "mturkmake-crowdkit"


def _require_installed() -> None:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        reason = f"{DIST} is not installed (pip install -e contrib/{DIST})"
        if os.environ.get("MTURKMAKE_REQUIRE_CONTRIB") == "1":
            pytest.fail(f"{reason}; MTURKMAKE_REQUIRE_CONTRIB=1 forbids skipping", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


_require_installed()

from mturkmake.testing import Project  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "labelling"
LABELS = ("positive", "negative", "neutral")
CARELESS = "ACARELESS00001"


def _batch(project: Project, rows: int, seed: int) -> list[str]:
    """A ``s`` batch of ``rows`` reviews (the labelling example's question and properties,
    three assignments each) whose ``truth`` column the simulated workers know; returns the
    truths in input order."""
    rng = random.Random(seed)
    truths = [rng.choice(LABELS) for _ in range(rows)]
    lines = ["text\ttruth", *(f"Review number {n}\t{t}" for n, t in enumerate(truths))]
    project.write(
        {
            "s.input": "\n".join(lines) + "\n",
            "s.question": (EXAMPLE / "reviews.question").read_text(encoding="utf-8"),
            "s.properties": (EXAMPLE / "reviews.properties").read_text(encoding="utf-8"),
        }
    )
    # gold_columns makes the local marketplace's workers answer `truth` as accurately as
    # they are; use_gold = false makes crowdkit score against the crowd's aggregate only.
    project.configure(gold_columns={"sentiment": "truth"})
    return truths


def _decisions(project: Project) -> Counter[tuple[str, str]]:
    return Counter((r["workerid"], r["decision"]) for r in project.table("s.approved"))


def test_a_planted_careless_worker_is_rejected_and_the_others_approved(
    mturkmake_local_project: Project,
) -> None:
    project = mturkmake_local_project
    _batch(project, 30, seed=1)
    # The local crowd's work derives from the project id: pinned, one exact outcome.
    project.configure(
        project_id="crowdkit-careless-test",
        evaluators=["crowdkit"],
        crowdkit={"use_gold": False},
        local={
            "workers": 6,
            "accuracy": [0.8, 1.0],
            "planted": [{"id": CARELESS, "accuracy": 0.1, "share": 1.0}],
        },
    )
    # A third of the decisions would be rejections: more than max_reject_share (0.2).
    refused = project.run("s.approved", "--wait")
    assert refused.exit_code != 0
    assert "more than max_reject_share" in refused.output
    assert not project.path("s.approved").exists()
    assert all(a["AssignmentStatus"] == "Submitted" for a in _assignments(project))

    result = project.run("--yes", "s.approved", "--wait")
    assert result.exit_code == 0, result.output
    decisions = _decisions(project)
    assert decisions[(CARELESS, "rejected")] == 30
    assert {w for w, d in decisions if d == "rejected"} == {CARELESS}
    assert sum(n for (_w, d), n in decisions.items() if d == "approved") == 60
    rows = project.table("s.approved")
    reasons = {r["feedback"] for r in rows if r["decision"] == "rejected"}
    assert len(reasons) == 1
    assert "answers the other workers agreed on" in reasons.pop()
    assert {r["evaluator"] for r in rows} == {"crowdkit"}
    remote = Counter(a["AssignmentStatus"] for a in _assignments(project))
    assert remote == Counter({"Approved": 60, "Rejected": 30})


def _assignments(project: Project) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for hit in project.hits():
        page = project.marketplace_call(
            "ListAssignmentsForHIT", {"HITId": hit["HITId"], "MaxResults": 100}
        )
        found += page["Assignments"]
    return found


def test_gold_rows_grade_the_careless_worker_of_the_labelling_example(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    for path in EXAMPLE.iterdir():
        if path.is_file():
            project.write({path.name: path.read_text(encoding="utf-8")})
    project.configure(evaluators=["crowdkit"])
    result = project.run("--yes", "reviews.approved", "--wait")
    assert result.exit_code == 0, result.output
    rows = project.table("reviews.approved")
    assert {r["workerid"] for r in rows if r["decision"] == "rejected"} == {CARELESS}
    feedback = {r["feedback"] for r in rows if r["decision"] == "rejected"}
    assert all("known answers" in f for f in feedback)


def test_labels_match_the_simulated_truth(mturkmake_local_project: Project) -> None:
    """50 rows, 3 assignments each, the crowd at its default accuracy: majority vote."""
    project = mturkmake_local_project
    truths = _batch(project, 50, seed=2)
    # The local crowd's work derives from the project's id (random by default): a fixed id
    # makes this measurement the same on every run.
    project.configure(project_id="crowdkit-labels-test")
    result = project.run("s.labels", "--wait")
    assert result.exit_code == 0, result.output
    assert "made 's.labels': 50 rows labelled by majority-vote" in result.stdout
    labels = project.table("s.labels")
    assert list(labels[0]) == [
        "hitid",
        "text",
        "truth",
        "Answer.sentiment",
        "Confidence.sentiment",
        "Votes.sentiment",
    ]
    assert [r["text"] for r in labels] == [f"Review number {n}" for n in range(50)]
    right = sum(r["Answer.sentiment"] == t for r, t in zip(labels, truths, strict=True))
    assert right >= 45, f"{right}/50 labels match the truth"
    assert all(r["Votes.sentiment"] == "3" for r in labels)
    assert all(0.33 <= float(r["Confidence.sentiment"]) <= 1 for r in labels)
    # a second run has nothing to do
    again = project.run("s.labels")
    assert again.exit_code == 0
    assert "up to date" in again.output


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dawid-skene", "glad"])
def test_other_methods_label_the_batch(mturkmake_local_project: Project, method: str) -> None:
    project = mturkmake_local_project
    truths = _batch(project, 50, seed=2)
    project.configure(crowdkit={"method": method})
    result = project.run("s.labels", "--wait")
    assert result.exit_code == 0, result.output
    assert f"labelled by {method}" in result.stdout
    labels = project.table("s.labels")
    right = sum(r["Answer.sentiment"] == t for r, t in zip(labels, truths, strict=True))
    assert right >= 40, f"{right}/50 labels match the truth"
