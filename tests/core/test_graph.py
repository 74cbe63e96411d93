"""Pattern rules → plan: rule choice, chains, optional and multi-target rules, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mturkmake.core.graph import Plan, match, normalize_goal, plan, substitute
from mturkmake.errors import CycleError, NoRuleError, UsageError
from mturkmake.hookspecs import Job, Outcome, Rule


def act(job: Job) -> Outcome:
    return Outcome()


def rule(
    target: str,
    *prereqs: str,
    optional: tuple[str, ...] = (),
    also: tuple[str, ...] = (),
    name: str = "",
) -> Rule:
    return Rule(target, prereqs, act, optional_prerequisites=optional, also_makes=also, name=name)


def files(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def targets(p: Plan) -> list[str]:
    return [s.target for s in p.steps]


HIT_RULES = [
    rule("%.success", "%.input", "%.question", "%.properties", also=("%.failure",), name="load"),
    rule("%.results", "%.success", name="get"),
    rule("%.approved", "%.results", optional=("%.review", "%.gold"), name="review"),
    rule("%.properties.success", "%.properties", optional=("%.question",), name="qual"),
]


def test_match_and_substitute() -> None:
    assert match("%.success", "skill.properties.success") == "skill.properties"
    assert match("%.properties.success", "skill.properties.success") == "skill"
    assert match("%.success", ".success") is None  # empty stem
    assert match("%.success", "sub/x.success") == "sub/x"
    assert match("out/%.txt", "out/a.txt") == "a"
    assert match("pre_%", "dir/pre_x") == "dir/x"
    assert substitute("pre_%.in", "dir/x") == "dir/pre_x.in"
    assert substitute("out/%.in", "x") == "out/x.in"


def test_chain_in_dependency_order(tmp_path: Path) -> None:
    files(tmp_path, "s.input", "s.question", "s.properties")
    p = plan(["s.approved"], HIT_RULES, tmp_path)
    assert targets(p) == ["s.success", "s.results", "s.approved"]
    assert p.leaves == {"s.input", "s.question", "s.properties"}
    approved = p.steps[2]
    assert approved.optional_prerequisites == ()
    assert approved.optional_candidates == ("s.review", "s.gold")
    assert p.dependencies(approved) == (p.steps[1],)


def test_shortest_stem_wins(tmp_path: Path) -> None:
    files(tmp_path, "skill.properties", "skill.question", "skill.properties.input")
    files(tmp_path, "skill.properties.question", "skill.properties.properties")
    # Both rules can apply; %.properties.success has the shorter stem.
    p = plan(["skill.properties.success"], HIT_RULES, tmp_path)
    (step,) = p.steps
    assert step.rule.name == "qual"
    assert step.stem == "skill"
    assert step.optional_prerequisites == ("skill.question",)


def test_longer_stem_used_when_shorter_rule_cannot_apply(tmp_path: Path) -> None:
    files(tmp_path, "skill.properties.input", "skill.properties.question")
    files(tmp_path, "skill.properties.properties")
    # skill.properties does not exist, so the qualification rule cannot apply.
    p = plan(["skill.properties.success"], HIT_RULES, tmp_path)
    assert p.steps[0].rule.name == "load"
    assert p.steps[0].stem == "skill.properties"


def test_equal_stems_earlier_rule_wins(tmp_path: Path) -> None:
    files(tmp_path, "x.a", "x.b")
    rules = [rule("%.out", "%.a", name="first"), rule("%.out", "%.b", name="second")]
    assert plan(["x.out"], rules, tmp_path).steps[0].rule.name == "first"
    assert plan(["x.out"], rules[::-1], tmp_path).steps[0].rule.name == "second"


def test_prerequisite_makeable_through_chain(tmp_path: Path) -> None:
    files(tmp_path, "x.a")
    rules = [rule("%.c", "%.b"), rule("%.b", "%.a"), rule("%.c", "%.z")]
    assert targets(plan(["x.c"], rules, tmp_path)) == ["x.b", "x.c"]


def test_optional_prerequisite_present_or_makeable(tmp_path: Path) -> None:
    files(tmp_path, "s.results", "s.gold")
    rules = [*HIT_RULES, rule("%.review", "%.draft")]
    p = plan(["s.approved"], rules, tmp_path)
    assert p.steps[-1].optional_prerequisites == ("s.gold",)
    files(tmp_path, "s.draft")
    p = plan(["s.approved"], rules, tmp_path)
    assert targets(p) == ["s.review", "s.approved"]
    assert p.steps[-1].optional_prerequisites == ("s.review", "s.gold")


def test_multi_target_rule_runs_once(tmp_path: Path) -> None:
    files(tmp_path, "s.input", "s.question", "s.properties")
    p = plan(["s.failure", "s.success"], HIT_RULES, tmp_path)
    (step,) = p.steps
    assert step.target == "s.success"
    assert step.also_makes == ("s.failure",)
    assert p.producer["s.failure"] is step
    assert p.goals == ("s.failure", "s.success")


def test_existing_file_without_applicable_rule_is_leaf(tmp_path: Path) -> None:
    # A fresh clone: s.success exists, its inputs do not.
    files(tmp_path, "s.success")
    p = plan(["s.results"], HIT_RULES, tmp_path)
    assert targets(p) == ["s.results"]
    assert "s.success" in p.leaves


def test_goal_that_is_leaf(tmp_path: Path) -> None:
    files(tmp_path, "notes.txt")
    p = plan(["notes.txt"], HIT_RULES, tmp_path)
    assert p.steps == ()
    assert p.leaves == {"notes.txt"}


def test_no_rule_for_goal(tmp_path: Path) -> None:
    with pytest.raises(NoRuleError) as info:
        plan(["nothing.here"], HIT_RULES, tmp_path)
    assert str(info.value) == "No rule to make target 'nothing.here'."


def test_no_rule_names_deepest_missing_file(tmp_path: Path) -> None:
    files(tmp_path, "s.question", "s.properties")
    with pytest.raises(NoRuleError) as info:
        plan(["s.approved"], HIT_RULES, tmp_path)
    assert str(info.value) == "No rule to make target 's.input', needed by 's.success'."


def test_missing_optional_prerequisite_is_no_error(tmp_path: Path) -> None:
    files(tmp_path, "s.results")
    p = plan(["s.approved"], [*HIT_RULES, rule("%.review", "%.draft")], tmp_path)
    assert targets(p) == ["s.approved"]


def test_cycle_is_named(tmp_path: Path) -> None:
    rules = [rule("%.a", "%.b"), rule("%.b", "%.a")]
    with pytest.raises(CycleError) as info:
        plan(["x.a"], rules, tmp_path)
    assert "'x.a' -> 'x.b' -> 'x.a'" in str(info.value)


def test_subdirectory_targets(tmp_path: Path) -> None:
    files(tmp_path, "batches/s.success")
    p = plan(["./batches/s.results"], HIT_RULES, tmp_path)
    assert p.steps[0].target == "batches/s.results"
    assert p.steps[0].prerequisites == ("batches/s.success",)
    assert p.goals == ("batches/s.results",)


def test_bad_pattern_and_outside_goal(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="exactly one '%'"):
        plan(["x"], [rule("x.out", "x.in")], tmp_path)
    with pytest.raises(UsageError, match="outside the project root"):
        normalize_goal("../x", tmp_path)
    assert normalize_goal(str(tmp_path / "a" / "b"), tmp_path) == "a/b"


def test_rule_used_once_per_chain_keeps_search_finite(tmp_path: Path) -> None:
    # Without make's once-per-chain rule this would search x.z.z, x.z.z.z, … forever.
    with pytest.raises(NoRuleError):
        plan(["x.z"], [rule("%.z", "%.z.z")], tmp_path)
