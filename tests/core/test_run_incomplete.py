"""Incomplete targets as GNU make sees them (issue #18): aged 2 s before their newest
prerequisite, what is built from them incomplete and aged too, and their content hashed
again rather than trusted on size and mtime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mturkmake.core.fsio import fingerprint
from mturkmake.core.run import INCOMPLETE_AGE_NS
from mturkmake.errors import ExitCode
from mturkmake.hookspecs import Job, Outcome, Rule
from tests.core.test_run import Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.write("x.a", b"hello")
    return p


def _pending_b(project: Project, pending: list[bool]) -> None:
    def action(job: Job) -> Outcome:
        project.calls.append(job.target)
        job.outputs[job.target].write_bytes(job.path(job.prerequisites[0]).read_bytes().upper())
        return Outcome(complete=not pending[0], message="1/2 HITs final")

    project.rules[0] = Rule("%.b", ("%.a",), action, name="upper")


def test_an_incomplete_target_and_its_downstream_are_older_than_their_prerequisites(
    project: Project,
) -> None:
    pending = [True]
    _pending_b(project, pending)
    assert project.run("x.c") == ExitCode.OK
    assert project.recorder.lines("target.incomplete") == [
        "mturkmake: 'x.b' is incomplete: 1/2 HITs final",
        "mturkmake: 'x.c' is incomplete (built from incomplete 'x.b')",
    ]
    assert project.mtime("x.b") == project.mtime("x.a") - INCOMPLETE_AGE_NS
    assert project.mtime("x.c") == project.mtime("x.b") - INCOMPLETE_AGE_NS
    assert project.run("x.c", question=True) == ExitCode.WORK_PENDING
    # Once final, both are ordinary targets again, no older than what they are made from.
    pending[0] = False
    assert project.run("x.c") == ExitCode.OK
    assert project.calls == ["x.b", "x.c"]
    assert project.mtime("x.c") >= project.mtime("x.b") >= project.mtime("x.a")
    assert project.run("x.c", question=True) == ExitCode.OK


def test_a_target_marked_incomplete_from_outside_ages_what_was_built_from_it(
    project: Project,
) -> None:
    assert project.run("x.c") == ExitCode.OK
    assert project.mtime("x.c") >= project.mtime("x.b")
    project.state.mark_incomplete("x.b")  # a review changed the batch remotely
    _pending_b(project, [True])
    assert project.run("x.b") == ExitCode.OK  # x.c is not part of this run's plan
    assert project.mtime("x.b") == project.mtime("x.a") - INCOMPLETE_AGE_NS
    # x.c was recorded as built from x.b: make must see it out of date as well.
    assert project.mtime("x.c") == project.mtime("x.b") - INCOMPLETE_AGE_NS


def test_an_incomplete_prerequisite_is_hashed_again(project: Project) -> None:
    assert project.run("x.c") == ExitCode.OK
    aged = project.mtime("x.a") - INCOMPLETE_AGE_NS
    os.utime(project.root / "x.b", ns=(aged, aged))
    fp = fingerprint(project.root / "x.b")
    assert fp is not None
    project.state.refresh_prerequisite("x.c", "x.b", fp)
    project.state.mark_incomplete("x.b")
    # x.b is rebuilt incomplete with new bytes of the same size: aged, its size and mtime are
    # exactly what x.c's record holds, so only its content tells the change.
    project.write("x.a", b"jelly")
    os.utime(project.root / "x.a", ns=(aged + INCOMPLETE_AGE_NS,) * 2)
    _pending_b(project, [True])
    project.run("x.b")
    assert project.mtime("x.b") == aged
    assert project.read("x.b") == b"JELLY"
    project.run("x.c")
    assert project.calls == ["x.b", "x.c"]
    assert project.read("x.c") == b"JELLY!"


def test_an_interrupted_run_still_ages_what_it_left_incomplete(project: Project) -> None:
    assert project.run("x.c") == ExitCode.OK
    project.write("x.a", b"again")

    def interrupted(job: Job) -> Outcome:
        project.state.mark_incomplete(job.target)  # as a poll does on Ctrl-C
        raise KeyboardInterrupt

    project.rules[0] = Rule("%.b", ("%.a",), interrupted)
    with pytest.raises(KeyboardInterrupt):
        project.run("x.c")
    assert project.read("x.b") == b"HELLO"  # the old target, never half a new one
    assert project.mtime("x.b") == project.mtime("x.a") - INCOMPLETE_AGE_NS
    assert project.mtime("x.c") == project.mtime("x.b") - INCOMPLETE_AGE_NS
