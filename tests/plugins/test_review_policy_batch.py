"""A batch with MTurk review policies (`assignmentreviewpolicy.*`), built to `.approved` on the
local marketplace: the policy's decisions are respected, recorded once, never repeated (#21)."""

from __future__ import annotations

from mturkmake.testing import Project
from tests.plugins.test_approved_rule import (
    LABEL,
    PLANTED,
    PLANTED_CROWD,
    PLANTED_PLUGIN,
    approved_rows,
    assignments,
    project_toml,
    properties,
)

POLICY = (
    "assignmentreviewpolicy.name:ScoreMyKnownAnswers/2011-09-01\n"
    "assignmentreviewpolicy.parameter.1.key:AnswerKey\n"
    "assignmentreviewpolicy.parameter.1.mapentry.1.key:label\n"
    "assignmentreviewpolicy.parameter.1.mapentry.1.value:${gold}\n"
    "assignmentreviewpolicy.parameter.2.key:ApproveIfKnownAnswerScoreIsAtLeast\n"
    "assignmentreviewpolicy.parameter.2.value:100\n"
    "assignmentreviewpolicy.parameter.3.key:RejectIfKnownAnswerScoreIsLessThan\n"
    "assignmentreviewpolicy.parameter.3.value:100\n"
    "assignmentreviewpolicy.parameter.4.key:RejectReason\n"
    "assignmentreviewpolicy.parameter.4.value:The label does not match the known answer\n"
)
EXTENDING = (
    "assignmentreviewpolicy.name:ScoreMyKnownAnswers/2011-09-01\n"
    "assignmentreviewpolicy.parameter.1.key:AnswerKey\n"
    "assignmentreviewpolicy.parameter.1.mapentry.1.key:label\n"
    "assignmentreviewpolicy.parameter.1.mapentry.1.value:${gold}\n"
    "assignmentreviewpolicy.parameter.2.key:ExtendIfKnownAnswerScoreIsLessThan\n"
    "assignmentreviewpolicy.parameter.2.value:100\n"
    "assignmentreviewpolicy.parameter.3.key:ExtendMaximumAssignments\n"
    "assignmentreviewpolicy.parameter.3.value:6\n"
)


def _write(project: Project, policy: str, extra: str = "") -> None:
    rows = ["text\tgold"] + [f"Picture {n}\t{'cat' if n % 2 else 'dog'}" for n in range(12)]
    project.write(
        {
            "mturkmake.toml": project_toml(
                'evaluators = ["approve-all"]\ngold_columns = { label = "gold" }\n'
                + extra
                + PLANTED_CROWD
            ),
            "pets.input": "\n".join(rows) + "\n",
            "pets.question": LABEL,
            "pets.properties": properties(assignments=3) + policy,
            "mturkmake_plugins.py": PLANTED_PLUGIN,
        }
    )


def test_the_policys_decisions_are_respected_recorded_and_never_repeated(
    mturkmake_project: Project,
) -> None:
    project = mturkmake_project
    _write(project, POLICY)
    built = project.run("--wait", "pets.approved")
    assert built.exit_code == 0, built.output
    remote = assignments(project)
    rejected = {a for a, x in remote.items() if x["AssignmentStatus"] == "Rejected"}
    # The planted worker is wrong on every other item: the policy rejected those, and only.
    assert rejected
    assert {remote[a]["WorkerId"] for a in rejected} == {PLANTED}
    rows = {r["assignmentid"]: r for r in approved_rows(project.path("pets.approved"))}
    assert set(rows) == set(remote)
    for aid in rejected:
        assert rows[aid]["decision"] == "rejected"
        assert rows[aid]["evaluator"] == "review policy ScoreMyKnownAnswers/2011-09-01"
        assert "known answer" in rows[aid]["feedback"]
    policy_approved = [r for r in rows.values() if r["evaluator"].startswith("review policy")]
    assert len(policy_approved) == len(remote)  # the policy decided every assignment
    # Nothing is decided twice: a rebuild sends nothing and changes nothing.
    again = project.run("-B", "pets.approved")
    assert again.exit_code == 0, again.output
    assert assignments(project) == remote
    assert {r["assignmentid"]: r for r in approved_rows(project.path("pets.approved"))} == rows


def test_the_budget_commits_what_a_policy_may_extend(mturkmake_project: Project) -> None:
    project = mturkmake_project
    # 12 HITs × 3 assignments × $0.06 = $2.16 fits; extended to 6 each ($4.32) does not.
    _write(project, EXTENDING, extra="budget = 3.00\n")
    refused = project.run("pets.success")
    assert refused.exit_code == 2, refused.output
    assert "budget" in refused.stderr
    assert not project.path("pets.success").exists()
    _write(project, POLICY, extra="budget = 3.00\n")
    made = project.run("pets.success")
    assert made.exit_code == 0, made.output


def test_a_hit_is_not_final_until_its_policies_have_reported() -> None:
    from mturkmake.mturk.review_policies import policies_reported

    submitted = [
        {"AssignmentId": "A1", "AssignmentStatus": "Approved"},
        {"AssignmentId": "A2", "AssignmentStatus": "Submitted"},
    ]
    one = {"AssignmentReviewReport": {"ReviewResults": [{"SubjectId": "A1"}]}}
    both = {"AssignmentReviewReport": {"ReviewResults": [{"SubjectId": "A1"}, {"SubjectId": "A2"}]}}
    assert not policies_reported([one], frozenset({"Assignment"}), submitted)
    assert policies_reported(
        [one, {"AssignmentReviewReport": {"ReviewResults": [{"SubjectId": "A2"}]}}],
        frozenset({"Assignment"}),
        submitted,
    )
    assert policies_reported([both], frozenset({"Assignment"}), submitted)
    assert not policies_reported([both], frozenset({"Assignment", "HIT"}), submitted)
    hit_report = {"HITReviewReport": {"ReviewActions": [{"ActionName": "extend"}]}}
    assert policies_reported([both, hit_report], frozenset({"Assignment", "HIT"}), submitted)
    assert policies_reported([], frozenset(), submitted)  # no policy: nothing to wait for


def test_results_wait_for_a_policy_the_marketplace_has_not_run(
    mturkmake_project: Project,
) -> None:
    """A Fetcher told a HIT has a HIT-level policy keeps it open until a report exists."""
    from mturkmake.mturk.results_fetch import Fetcher
    from tests.plugins.test_approved_rule import marketplace

    project = mturkmake_project
    _write(project, POLICY)
    assert project.run("--wait", "pets.results").exit_code == 0
    with marketplace(project) as market:
        hit_id = market.call("ListHITs", {"MaxResults": 1})["HITs"][0]["HITId"]
    from mturkmake.mturk.endpoint import make_endpoint
    from mturkmake.mturk.settings import mturk_config

    client = make_endpoint(mturk_config(project.root, "local")).client
    assert Fetcher(client).fetch_hit(hit_id).final
    # The assignment-level policy reported on every assignment: final with it too.
    assert Fetcher(client, policies={hit_id: frozenset({"Assignment"})}).fetch_hit(hit_id).final
    # No HIT-level policy ran on it, so one claimed to exist keeps it open.
    assert not Fetcher(client, policies={hit_id: frozenset({"HIT"})}).fetch_hit(hit_id).final
