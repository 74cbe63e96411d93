"""decide(): staleness as a pure function of plan step, record and fingerprints."""

from __future__ import annotations

from collections.abc import Mapping

from mturkmake.core.decide import Decision, ReasonKind, decide
from mturkmake.core.fsio import Fingerprint
from mturkmake.core.graph import Step
from mturkmake.core.state import BuildRecord
from mturkmake.hookspecs import Job, Outcome, Rule


def act(job: Job) -> Outcome:
    return Outcome()


def step(
    target: str = "x.b",
    prereqs: tuple[str, ...] = ("x.a",),
    optional: tuple[str, ...] = (),
    candidates: tuple[str, ...] = (),
    also: tuple[str, ...] = (),
) -> Step:
    return Step(
        rule=Rule("%.b", ("%.a",), act),
        rule_index=0,
        stem="x",
        target=target,
        also_makes=also,
        prerequisites=prereqs,
        optional_prerequisites=optional,
        optional_candidates=candidates,
    )


A = Fingerprint(3, 1_000, "a" * 64)
B = Fingerprint(5, 2_000, "b" * 64)


def run(
    s: Step,
    record: BuildRecord | None,
    current: Mapping[str, Fingerprint | None],
    *,
    forced: bool = False,
    upstream: frozenset[str] = frozenset(),
) -> Decision:
    return decide(
        s,
        record,
        current,
        forced=forced,
        target_exists=current.get(s.target) is not None,
        upstream_rebuilt=upstream,
    )


def kinds(d: Decision) -> list[ReasonKind]:
    return [r.kind for r in d.reasons]


RECORD = BuildRecord("x.b", True, {"x.a": A}, {"x.b": B})


def test_unchanged_is_up_to_date() -> None:
    d = run(step(), RECORD, {"x.a": A, "x.b": B})
    assert not d
    assert d.reasons == ()
    assert d.refresh == ()


def test_missing_target() -> None:
    d = run(step(), RECORD, {"x.a": A, "x.b": None})
    assert kinds(d) == [ReasonKind.MISSING_TARGET]
    assert d.reasons[0].text == "'x.b' is stale: it does not exist"


def test_content_change_is_a_reason_with_explain_text() -> None:
    changed = Fingerprint(3, 1_000, "c" * 64)  # same size and mtime, new content
    d = run(step(), RECORD, {"x.a": changed, "x.b": B})
    assert kinds(d) == [ReasonKind.PREREQ_CHANGED]
    assert d.reasons[0].text == (
        "'x.b' is stale: prerequisite 'x.a' changed (content differs from last build)"
    )


def test_touch_without_change_only_refreshes() -> None:
    touched = Fingerprint(3, 9_999_999, A.sha256)
    d = run(step(), RECORD, {"x.a": touched, "x.b": B})
    assert not d.needs_run
    assert d.refresh == ("x.a",)


def test_older_prerequisite_with_new_content_is_still_a_reason() -> None:
    # Not mtime order: an older file with other bytes (e.g. restored from a backup).
    older = Fingerprint(3, 10, "d" * 64)
    assert kinds(run(step(), RECORD, {"x.a": older, "x.b": B})) == [ReasonKind.PREREQ_CHANGED]


def test_forced_and_incomplete() -> None:
    assert kinds(run(step(), RECORD, {"x.a": A, "x.b": B}, forced=True)) == [ReasonKind.FORCED]
    incomplete = BuildRecord("x.b", False, {"x.a": A}, {"x.b": B})
    d = run(step(), incomplete, {"x.a": A, "x.b": B})
    assert kinds(d) == [ReasonKind.INCOMPLETE]
    assert "incomplete" in d.reasons[0].text


def test_upstream_rebuilt_is_a_reason() -> None:
    d = run(step(), RECORD, {"x.a": A, "x.b": B}, upstream=frozenset({"x.a"}))
    assert kinds(d) == [ReasonKind.PREREQ_REBUILT]
    d = run(step(), None, {"x.a": None, "x.b": None}, upstream=frozenset({"x.a"}))
    assert kinds(d) == [ReasonKind.MISSING_TARGET, ReasonKind.PREREQ_REBUILT]


def test_no_record_judged_by_mtime_like_make() -> None:
    old_target = Fingerprint(5, 500, B.sha256)
    d = run(step(), None, {"x.a": A, "x.b": old_target})
    assert kinds(d) == [ReasonKind.NO_RECORD]
    assert "'x.a' is newer" in d.reasons[0].text
    new_target = Fingerprint(5, 1_000, B.sha256)  # same mtime: make calls it up to date
    assert not run(step(), None, {"x.a": A, "x.b": new_target})
    assert kinds(run(step(), None, {"x.a": A, "x.b": None})) == [ReasonKind.MISSING_TARGET]


def test_optional_appeared_and_disappeared() -> None:
    review = Fingerprint(1, 5, "e" * 64)
    s = step(optional=("x.review",), candidates=("x.review",))
    d = run(s, RECORD, {"x.a": A, "x.review": review, "x.b": B})
    assert kinds(d) == [ReasonKind.OPTIONAL_APPEARED]
    with_review = BuildRecord("x.b", True, {"x.a": A, "x.review": review}, {"x.b": B})
    d = run(step(candidates=("x.review",)), with_review, {"x.a": A, "x.b": B})
    assert kinds(d) == [ReasonKind.OPTIONAL_DISAPPEARED]
    assert d.reasons[0].text == "'x.b' is stale: optional prerequisite 'x.review' disappeared"


def test_prerequisite_added_by_rule_change() -> None:
    s = step(prereqs=("x.a", "x.c"))
    c = Fingerprint(1, 1, "f" * 64)
    assert kinds(run(s, RECORD, {"x.a": A, "x.c": c, "x.b": B})) == [ReasonKind.PREREQ_ADDED]


def test_missing_prerequisite() -> None:
    assert kinds(run(step(), RECORD, {"x.a": None, "x.b": B})) == [ReasonKind.PREREQ_MISSING]


def test_multi_target_outputs() -> None:
    s = step(target="x.success", also=("x.failure",))
    fail = Fingerprint(2, 2_000, "9" * 64)
    both = BuildRecord("x.success", True, {"x.a": A}, {"x.success": B, "x.failure": fail})
    d = run(s, both, {"x.a": A, "x.success": B, "x.failure": None})
    assert kinds(d) == [ReasonKind.MISSING_TARGET]
    assert d.reasons[0].file == "x.failure"
    # An output the last build did not write is legitimately absent.
    only = BuildRecord("x.success", True, {"x.a": A}, {"x.success": B})
    assert not run(s, only, {"x.a": A, "x.success": B, "x.failure": None})
