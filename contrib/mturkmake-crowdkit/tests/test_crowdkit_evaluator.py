"""The ``crowdkit`` evaluator and aggregation on assignments made with the testing kit.

Runs only where mturkmake-crowdkit (and so crowd-kit) is installed; elsewhere it skips,
unless ``MTURKMAKE_REQUIRE_CONTRIB=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable

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

import mturkmake_crowdkit  # noqa: E402
from mturkmake_crowdkit.aggregate import Vote, aggregate, label_of  # noqa: E402
from mturkmake_crowdkit.evaluator import CrowdkitEvaluator  # noqa: E402

from mturkmake.errors import ConfigError  # noqa: E402
from mturkmake.hookspecs import Context  # noqa: E402
from mturkmake.testing import AssignmentBuilder, Project, make_host  # noqa: E402

LABELS = ("positive", "negative", "neutral")
ContextFactory = Callable[..., Context]


def _context(factory: ContextFactory, **crowdkit: object) -> Context:
    return factory(
        {"evaluators": ["crowdkit"], "crowdkit": dict(crowdkit)}, plugins=[mturkmake_crowdkit]
    )


def _batch(build: AssignmentBuilder, hits: int, careless: bool = True) -> None:
    """``hits`` HITs answered by two agreeing workers and, if ``careless``, one who always
    gives another label."""
    for n in range(hits):
        truth = LABELS[n % 3]
        answers = {"AGOOD1": {"sentiment": truth}, "AGOOD2": {"sentiment": truth}}
        if careless:
            answers["ACARELESS"] = {"sentiment": LABELS[(n + 1) % 3]}
        build.hit(answers, inputs={"text": f"review {n}", "truth": truth})


def test_the_entry_point_registers_evaluator_and_rule() -> None:
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="mturkmake")}
    assert names.get("crowdkit") == "mturkmake_crowdkit"
    host = make_host(entrypoints=True)
    assert isinstance(host.evaluators()["crowdkit"], CrowdkitEvaluator)


def test_importing_the_plugin_loads_no_crowd_kit() -> None:
    """The entry point is loaded on every run: crowd-kit must wait until it is needed."""
    import subprocess
    import sys

    code = (
        "import sys, mturkmake_crowdkit; "
        "print(sorted(m for m in ('crowdkit', 'pandas', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("method", ["majority-vote", "dawid-skene", "glad"])
def test_aggregation_finds_the_majority(method: str) -> None:
    votes = [
        Vote(f"T{n}", worker, LABELS[n % 3] if worker != "AC" else LABELS[(n + 1) % 3])
        for n in range(12)
        for worker in ("AA", "AB", "AC")
    ]
    labels = aggregate(votes, method)
    assert {task: label.value for task, label in labels.items()} == {
        f"T{n}": LABELS[n % 3] for n in range(12)
    }
    assert all(label.votes == 3 for label in labels.values())
    assert all(0.5 < label.confidence <= 1.0 for label in labels.values())
    if method == "majority-vote":
        assert {label.confidence for label in labels.values()} == {0.666667}


def test_majority_vote_breaks_ties_by_the_workers_agreement() -> None:
    # AA and AB agree on T1..T6; AC never agrees. On T0 all three differ: AA's label wins
    # because AA agrees with the majority elsewhere (AB too, but AB voted "c").
    votes = [Vote("T0", "AA", "b"), Vote("T0", "AB", "c"), Vote("T0", "AC", "a")]
    for n in range(1, 7):
        votes += [Vote(f"T{n}", "AA", "x"), Vote(f"T{n}", "AB", "x"), Vote(f"T{n}", "AC", "y")]
    votes += [Vote("T7", "AA", "x"), Vote("T7", "AC", "y"), Vote("T7", "AD", "y")]
    labels = aggregate(votes, "majority-vote")
    assert labels["T0"].value in ("b", "c")
    assert labels["T0"].value != "a"  # sorted order alone would pick "a"
    assert labels["T0"].confidence == pytest.approx(1 / 3, abs=1e-6)


def test_answers_compare_as_sets_of_normalised_selections() -> None:
    assert label_of(" Red | blue") == label_of("BLUE|red") == "blue|red"
    assert label_of("") == ""


def test_the_careless_worker_is_rejected_with_a_reason(
    mturkmake_assignments: AssignmentBuilder, mturkmake_context: ContextFactory
) -> None:
    _batch(mturkmake_assignments, 9)
    verdicts = CrowdkitEvaluator().evaluate(
        mturkmake_assignments.assignments, _context(mturkmake_context)
    )
    by_worker = {
        (a.worker_id, verdicts[a.assignment_id].decision) for a in mturkmake_assignments.assignments
    }
    assert by_worker == {
        ("AGOOD1", "approve"),
        ("AGOOD2", "approve"),
        ("ACARELESS", "reject"),
    }
    rejected = [v for v in verdicts.values() if v.decision == "reject"]
    assert len(rejected) == 9
    assert rejected[0].evaluator == "crowdkit"
    assert rejected[0].feedback == (
        "Your answers matched 0 of 9 answers the other workers agreed on (0% overall); "
        "this task required at least 50%."
    )


def test_gold_is_the_reference_where_known(
    mturkmake_assignments: AssignmentBuilder, mturkmake_context: ContextFactory
) -> None:
    # Everyone agrees, but on rows 0-3 the known answer is another label: all are wrong there.
    for n in range(8):
        truth = LABELS[n % 3]
        gold = LABELS[(n + 1) % 3] if n < 4 else truth
        mturkmake_assignments.hit(
            {w: {"sentiment": truth} for w in ("AW1", "AW2", "AW3")},
            inputs={"text": f"r{n}", "gold": gold},
        )
    context = mturkmake_context(
        {"evaluators": ["crowdkit"], "gold_columns": {"sentiment": "gold"}},
        plugins=[mturkmake_crowdkit],
    )
    verdicts = CrowdkitEvaluator().evaluate(mturkmake_assignments.assignments, context)
    assert {v.decision for v in verdicts.values()} == {"approve"}  # 4/8 = 50%: at the limit
    context = mturkmake_context(
        {
            "evaluators": ["crowdkit"],
            "gold_columns": {"sentiment": "gold"},
            "crowdkit": {"min_accuracy": 0.6},
        },
        plugins=[mturkmake_crowdkit],
    )
    verdicts = CrowdkitEvaluator().evaluate(mturkmake_assignments.assignments, context)
    assert {v.decision for v in verdicts.values()} == {"reject"}
    assert next(iter(verdicts.values())).feedback.startswith(
        "Your answers matched 4 of 8 known answers (50% overall)"
    )
    context = mturkmake_context(
        {
            "evaluators": ["crowdkit"],
            "gold_columns": {"sentiment": "gold"},
            "crowdkit": {"min_accuracy": 0.6, "use_gold": False},
        },
        plugins=[mturkmake_crowdkit],
    )
    verdicts = CrowdkitEvaluator().evaluate(mturkmake_assignments.assignments, context)
    assert {v.decision for v in verdicts.values()} == {"approve"}


def test_too_little_evidence_judges_nobody(
    mturkmake_assignments: AssignmentBuilder, mturkmake_context: ContextFactory
) -> None:
    _batch(mturkmake_assignments, 2)
    verdicts = CrowdkitEvaluator().evaluate(
        mturkmake_assignments.assignments, _context(mturkmake_context)
    )
    assert {v.decision for v in verdicts.values()} == {"approve"}  # 2 checked < 3
    verdicts = CrowdkitEvaluator().evaluate(
        mturkmake_assignments.assignments, _context(mturkmake_context, min_checked_answers=2)
    )
    assert sorted(v.decision for v in verdicts.values()) == ["approve"] * 4 + ["reject"] * 2


def test_free_text_is_not_aggregated_unless_named(
    mturkmake_assignments: AssignmentBuilder, mturkmake_context: ContextFactory
) -> None:
    for n in range(6):
        mturkmake_assignments.hit(
            {w: {"sentiment": "positive", "comment": f"{w} says {n}"} for w in ("AX", "AY")}
        )
    verdicts = CrowdkitEvaluator().evaluate(
        mturkmake_assignments.assignments, _context(mturkmake_context)
    )
    assert {v.decision for v in verdicts.values()} == {"approve"}
    verdicts = CrowdkitEvaluator().evaluate(
        mturkmake_assignments.assignments, _context(mturkmake_context, questions=["comment"])
    )
    # every comment differs: whoever loses each tie disagrees with "the crowd" every time
    assert "reject" in {v.decision for v in verdicts.values()}
    with pytest.raises(ConfigError, match="no assignment answers a question 'sentimnet'"):
        CrowdkitEvaluator().evaluate(
            mturkmake_assignments.assignments,
            _context(mturkmake_context, questions=["sentimnet"]),
        )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('method = "em"', "crowdkit.method 'em' is not known — use one of: majority-vote"),
        ("min_accuracy = 2", "crowdkit.min_accuracy must be a number from 0 to 1"),
        ("min_checked_answers = 0", "crowdkit.min_checked_answers must be a whole number"),
        ('questions = "q"', "crowdkit.questions must be a list"),
        ("threshold = 0.5", "crowdkit.threshold is not a setting of the crowdkit evaluator"),
    ],
)
def test_a_bad_setting_stops_the_run_naming_the_file(
    mturkmake_local_project: Project, table: str, message: str
) -> None:
    project = mturkmake_local_project
    toml = project.read("mturkmake.toml")
    project.write({"mturkmake.toml": f"{toml}\n[crowdkit]\n{table}\n"})
    result = project.run("plugins")
    assert result.exit_code == 2
    assert "mturkmake.toml" in result.stderr
    assert message in result.stderr
