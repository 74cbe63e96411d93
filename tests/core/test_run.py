"""The runner on real files: a → b → c chains, make's flags, atomic commits, -j."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from mturkmake.core.plugins import PluginHost, make_plugin_manager
from mturkmake.core.run import Runner
from mturkmake.core.state import StateDB
from mturkmake.errors import BuildError, ExitCode
from mturkmake.hookspecs import Config, Context, Event, Job, Outcome, Rule, hookimpl

SECOND = 10**9


class Recorder:
    """A real reporter plugin: keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def mturkmake_report(self, event: Event) -> None:
        self.events.append(event)

    def lines(self, kind: str | None = None) -> list[str]:
        return [e.message for e in self.events if kind is None or e.kind == kind]


class Project:
    """A tmp_path project with rules x.a → x.b (upper-case) → x.c (append '!')."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.recorder = Recorder()
        self.state = StateDB(root / ".mturkmake" / "state.db")
        self.rules: list[Rule] = [
            Rule("%.b", ("%.a",), self.transform(bytes.upper), name="upper"),
            Rule("%.c", ("%.b",), self.transform(lambda d: d + b"!"), name="bang"),
        ]

    def transform(self, fn: Callable[[bytes], bytes]) -> Callable[[Job], Outcome]:
        def action(job: Job) -> Outcome:
            with self.lock:
                self.calls.append(job.target)
            data = job.path(job.prerequisites[0]).read_bytes()
            job.outputs[job.target].write_bytes(fn(data))
            return Outcome()

        return action

    def context(self) -> Context:
        pm = make_plugin_manager(builtins=(), entrypoints=False, extra=[(self.recorder, "rec")])
        config = Config(root=self.root, values={}, sources={})
        return Context(root=self.root, config=config, host=PluginHost(pm))

    def run(self, *goals: str, **flags: Any) -> ExitCode:
        self.calls.clear()
        self.recorder.events.clear()
        return Runner(self.context(), self.state, self.rules, **flags).build(goals)

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def mtime(self, name: str) -> int:
        return (self.root / name).stat().st_mtime_ns

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.root.rglob("*mturkmake-tmp"))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.write("x.a", b"hello")
    return p


def test_first_build_then_up_to_date(project: Project) -> None:
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == ["x.b", "x.c"]
    assert project.read("x.c") == b"HELLO!"
    assert project.recorder.lines("target.start") == [
        "mturkmake: making 'x.b' (upper)",
        "mturkmake: making 'x.c' (bang)",
    ]
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == []
    assert project.recorder.lines() == ["mturkmake: 'x.c' is up to date."]
    assert project.leftovers() == []


def test_content_change_rebuilds_chain(project: Project) -> None:
    project.run("x.c")
    project.write("x.a", b"bye")
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == ["x.b", "x.c"]
    assert project.read("x.c") == b"BYE!"


def test_touch_without_change_rebuilds_nothing_and_fixes_mtimes(project: Project) -> None:
    project.run("x.c")
    future = project.mtime("x.c") + 100 * SECOND
    os.utime(project.root / "x.a", ns=(future, future))
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == []
    # GNU make would now agree too: no target older than its prerequisite.
    assert project.mtime("x.b") >= project.mtime("x.a")
    assert project.mtime("x.c") >= project.mtime("x.b")
    assert project.recorder.lines() == ["mturkmake: 'x.c' is up to date."]
    # The refreshed record takes the cheap path next time and still changes nothing.
    b_mtime = project.mtime("x.b")
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == []
    assert project.mtime("x.b") == b_mtime


def test_content_change_to_identical_output_stops_downstream(project: Project) -> None:
    project.run("x.c")
    project.write("x.a", b"HELLO")  # upper-cases to the same x.b
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == ["x.b"]  # x.c is not rebuilt: x.b's content did not change
    assert "mturkmake: made 'x.b' (unchanged)" in project.recorder.lines("target.done")
    assert project.read("x.c") == b"HELLO!"
    # x.b kept its bytes but was older than the new x.a: its mtime moved so make agrees.
    assert project.mtime("x.c") >= project.mtime("x.b") >= project.mtime("x.a")


def test_identical_output_not_rewritten(project: Project) -> None:
    project.run("x.c")
    b_mtime, c_mtime = project.mtime("x.b"), project.mtime("x.c")
    b_inode = (project.root / "x.b").stat().st_ino
    assert project.run("x.c", always_make=True) == ExitCode.OK
    assert project.calls == ["x.b", "x.c"]  # -B runs every rule
    assert project.mtime("x.b") == b_mtime
    assert project.mtime("x.c") == c_mtime
    assert (project.root / "x.b").stat().st_ino == b_inode
    assert project.leftovers() == []


def test_dry_run_changes_no_file_and_no_state(project: Project) -> None:
    assert project.run("x.c", dry_run=True) == ExitCode.OK
    assert project.calls == []
    assert project.recorder.lines() == [
        "mturkmake: would make 'x.b' (upper)",
        "mturkmake: would make 'x.c' (bang)",
    ]
    assert sorted(p.name for p in project.root.iterdir()) == ["x.a"]
    project.run("x.c")
    project.write("x.a", b"changed")
    before = {n: (project.read(n), project.mtime(n)) for n in ("x.b", "x.c")}
    state_before = project.state.last_build("x.b")
    assert project.run("x.c", dry_run=True) == ExitCode.OK
    assert project.calls == []
    assert {n: (project.read(n), project.mtime(n)) for n in ("x.b", "x.c")} == before
    assert project.state.last_build("x.b") == state_before


def test_dry_run_calls_preview(project: Project) -> None:
    seen: list[str] = []

    def preview(job: Job) -> None:
        seen.append(f"{job.target} from {job.prerequisites}")
        job.outputs[job.target].write_bytes(b"must not stay")

    project.rules[0] = Rule("%.b", ("%.a",), project.transform(bytes.upper), preview=preview)
    assert project.run("x.b", dry_run=True) == ExitCode.OK
    assert seen == ["x.b from ('x.a',)"]
    assert not (project.root / "x.b").exists()
    assert project.leftovers() == []


def test_question_mode(project: Project) -> None:
    assert project.run("x.c", question=True) == ExitCode.WORK_PENDING
    assert not (project.root / "x.b").exists()
    project.run("x.c")
    assert project.run("x.c", question=True) == ExitCode.OK
    assert project.recorder.lines() == []  # -q is silent, as make's
    project.write("x.a", b"new")
    assert project.run("x.c", question=True) == ExitCode.WORK_PENDING
    assert project.calls == []
    assert project.read("x.c") == b"HELLO!"


def test_failing_action_leaves_no_target(project: Project) -> None:
    def fail(job: Job) -> Outcome:
        job.outputs[job.target].write_bytes(b"partial")
        raise BuildError("x.b: cannot upper-case", hint="fix x.a")

    project.rules[0] = Rule("%.b", ("%.a",), fail)
    assert project.run("x.c") == ExitCode.ERROR
    assert not (project.root / "x.b").exists()
    assert not (project.root / "x.c").exists()
    assert project.leftovers() == []
    assert project.recorder.lines("target.failed") == [
        "mturkmake: 'x.b': x.b: cannot upper-case — fix x.a"
    ]


def test_keep_going_builds_independent_targets(project: Project) -> None:
    project.write("y.a", b"yes")
    upper = project.transform(bytes.upper)

    def fail_x(job: Job) -> Outcome:
        if job.stem == "x":
            raise BuildError("x is broken")
        return upper(job)

    project.rules[0] = Rule("%.b", ("%.a",), fail_x)
    assert project.run("x.c", "y.c") == ExitCode.ERROR
    assert not (project.root / "y.c").exists()  # stopped at the first failure

    assert project.run("x.c", "y.c", keep_going=True) == ExitCode.ERROR
    assert project.read("y.c") == b"YES!"
    assert not (project.root / "x.c").exists()
    assert "mturkmake: Target 'x.c' not remade because of errors." in project.recorder.lines(
        "target.failed"
    )


def test_explain_reasons(project: Project) -> None:
    project.run("x.c")
    project.write("x.a", b"other")
    project.run("x.c", explain=True)
    lines = project.recorder.lines("explain")
    assert (
        "mturkmake: 'x.b' is stale: prerequisite 'x.a' changed (content differs from last build)"
        in lines
    )
    assert (
        "mturkmake: 'x.c' is stale: prerequisite 'x.b' changed (content differs from last build)"
        in lines
    )
    project.run("x.c", explain=True)
    assert project.recorder.lines("explain") == [
        "mturkmake: 'x.b' is up to date: no prerequisite changed since its last build",
        "mturkmake: 'x.c' is up to date: no prerequisite changed since its last build",
    ]


def test_explain_under_dry_run_shows_remade_prerequisite(project: Project) -> None:
    project.run("x.c")
    project.write("x.a", b"other")
    project.run("x.c", dry_run=True, explain=True)
    assert "mturkmake: 'x.c' is stale: prerequisite 'x.b' is remade" in project.recorder.lines(
        "explain"
    )


def test_incomplete_rebuilds_next_run(project: Project) -> None:
    pending = [True]

    def results(job: Job) -> Outcome:
        project.calls.append(job.target)
        job.outputs[job.target].write_bytes(job.path(job.prerequisites[0]).read_bytes())
        return Outcome(complete=not pending[0], message="9/12 HITs done")

    project.rules[1] = Rule("%.c", ("%.b",), results)
    assert project.run("x.c") == ExitCode.OK
    assert project.recorder.lines("target.incomplete") == [
        "mturkmake: 'x.c' is incomplete: 9/12 HITs done"
    ]
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == ["x.c"]
    pending[0] = False
    project.run("x.c")
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == []


def test_mark_incomplete_from_outside_rebuilds(project: Project) -> None:
    project.run("x.c")
    project.state.mark_incomplete("x.c")
    project.run("x.c")
    assert project.calls == ["x.c"]


def test_outcome_error_commits_and_marks_incomplete(project: Project) -> None:
    def partial(job: Job) -> Outcome:
        project.calls.append(job.target)
        job.outputs[job.target].write_bytes(b"2 of 3 HITs")
        return Outcome(error="CreateHIT: throttled after 2 HITs")

    project.rules[0] = Rule("%.b", ("%.a",), partial)
    assert project.run("x.c") == ExitCode.ERROR
    assert project.read("x.b") == b"2 of 3 HITs"
    assert not (project.root / "x.c").exists()
    assert project.recorder.lines("target.failed")[0] == (
        "mturkmake: 'x.b': CreateHIT: throttled after 2 HITs (target kept, marked incomplete)"
    )
    record = project.state.last_build("x.b")
    assert record is not None
    assert not record.complete
    project.run("x.b")
    assert project.calls == ["x.b"]


def test_output_not_written_removes_old_file(project: Project) -> None:
    def load(job: Job) -> Outcome:
        job.outputs[job.target].write_bytes(b"hits")
        if job.path("x.a").read_bytes() == b"bad rows":
            job.outputs[job.also_makes[0]].write_bytes(b"row 2")
        return Outcome()

    project.rules = [Rule("%.success", ("%.a",), load, also_makes=("%.failure",))]
    project.write("x.a", b"bad rows")
    assert project.run("x.failure", "x.success") == ExitCode.OK
    assert project.read("x.failure") == b"row 2"
    project.write("x.a", b"good rows")
    assert project.run("x.success") == ExitCode.OK
    assert not (project.root / "x.failure").exists()
    # The absent output was not written by the last build: asking for it makes nothing.
    assert project.run("x.failure") == ExitCode.OK
    assert project.recorder.lines() == ["mturkmake: 'x.failure' is up to date."]


def test_multi_target_runs_once(project: Project) -> None:
    runs: list[str] = []

    def load(job: Job) -> Outcome:
        runs.append(job.target)
        for temp in job.outputs.values():
            temp.write_bytes(b"x")
        return Outcome()

    project.rules = [Rule("%.success", ("%.a",), load, also_makes=("%.failure",))]
    assert project.run("x.success", "x.failure") == ExitCode.OK
    assert runs == ["x.success"]
    (project.root / "x.failure").unlink()
    project.run("x.failure", explain=True)
    assert runs == ["x.success", "x.success"]
    assert any("'x.failure', made by the same rule" in m for m in project.recorder.lines())


def test_target_without_record_is_adopted_like_make(project: Project) -> None:
    a_mtime = project.mtime("x.a")
    project.write("x.b", b"MADE BY HAND")
    os.utime(project.root / "x.b", ns=(a_mtime + SECOND, a_mtime + SECOND))
    assert project.run("x.b") == ExitCode.OK
    assert project.calls == []
    assert project.read("x.b") == b"MADE BY HAND"
    assert project.state.last_build("x.b") is not None
    # Older than its prerequisite, with no record: rebuilt as make would.
    project.write("y.a", b"y")
    project.write("y.b", b"OLD")
    os.utime(project.root / "y.b", ns=(a_mtime - SECOND, a_mtime - SECOND))
    os.utime(project.root / "y.a", ns=(a_mtime, a_mtime))
    assert project.run("y.b") == ExitCode.OK
    assert project.calls == ["y.b"]
    assert project.read("y.b") == b"Y"


def test_optional_prerequisite_appearing_rebuilds(project: Project) -> None:
    project.rules[1] = Rule(
        "%.c", ("%.b",), project.transform(lambda d: d + b"!"), optional_prerequisites=("%.r",)
    )
    project.run("x.c")
    project.write("x.r", b"review")
    project.run("x.c", explain=True)
    assert project.calls == ["x.c"]
    assert "mturkmake: 'x.c' is stale: optional prerequisite 'x.r' appeared" in (
        project.recorder.lines("explain")
    )


def test_goal_that_is_a_leaf(project: Project) -> None:
    assert project.run("x.a") == ExitCode.OK
    assert project.recorder.lines() == ["mturkmake: Nothing to be done for 'x.a'."]


def test_unexpected_exception_propagates_and_cleans_temp(project: Project) -> None:
    def buggy(job: Job) -> Outcome:
        job.outputs[job.target].write_bytes(b"half")
        raise KeyError("bug")

    project.rules[0] = Rule("%.b", ("%.a",), buggy)
    with pytest.raises(KeyError):
        project.run("x.b")
    assert project.leftovers() == []
    assert not (project.root / "x.b").exists()


def test_jobs_build_a_diamond(project: Project) -> None:
    order: list[str] = []
    started = threading.Barrier(2, timeout=10)

    def side(name: bytes) -> Callable[[Job], Outcome]:
        def action(job: Job) -> Outcome:
            started.wait()  # both sides run at the same time, or this times out
            with project.lock:
                order.append(job.target)
            data = job.path(job.prerequisites[0]).read_bytes()
            job.outputs[job.target].write_bytes(name + data)
            return Outcome()

        return action

    def top(job: Job) -> Outcome:
        with project.lock:
            order.append(job.target)
        parts: Sequence[bytes] = [job.path(p).read_bytes() for p in job.prerequisites]
        job.outputs[job.target].write_bytes(b"+".join(parts))
        return Outcome()

    project.rules = [
        Rule("%.left", ("%.a",), side(b"L:")),
        Rule("%.right", ("%.a",), side(b"R:")),
        Rule("%.top", ("%.left", "%.right"), top),
    ]
    assert project.run("x.top", jobs=4) == ExitCode.OK
    assert project.read("x.top") == b"L:hello+R:hello"
    assert order[-1] == "x.top"
    assert sorted(order[:2]) == ["x.left", "x.right"]
    assert project.run("x.top", jobs=4) == ExitCode.OK
    assert project.recorder.lines() == ["mturkmake: 'x.top' is up to date."]


def test_jobs_keep_going_with_failure(project: Project) -> None:
    for stem in ("y", "z", "w"):
        project.write(f"{stem}.a", stem.encode())
    upper = project.transform(bytes.upper)

    def fail_x(job: Job) -> Outcome:
        if job.stem == "x":
            raise BuildError("x is broken")
        return upper(job)

    project.rules[0] = Rule("%.b", ("%.a",), fail_x)
    code = project.run("x.c", "y.c", "z.c", "w.c", jobs=3, keep_going=True)
    assert code == ExitCode.ERROR
    assert [project.read(f"{s}.c") for s in ("y", "z", "w")] == [b"Y!", b"Z!", b"W!"]
    assert not (project.root / "x.c").exists()
