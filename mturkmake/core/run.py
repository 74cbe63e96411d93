"""Executes a plan as make does: ``-n``, ``-q``, ``-B``, ``-k``, ``-j``; atomic targets.

For each step, in dependency order: fingerprint the prerequisites and outputs, :func:`decide`,
then either settle an up-to-date target (refresh touched prerequisites, adopt a target that
has no record, fix an mtime older than a prerequisite's) or run the rule's action. Actions
write temporary files next to their targets; the runner commits them with
:func:`~mturkmake.core.fsio.commit_output` (identical bytes leave the target and its mtime
alone) and records fingerprints in ``state.db``.

Incomplete targets and GNU make: an incomplete target's mtime is set
:data:`INCOMPLETE_AGE_NS` older than its newest prerequisite, so a Makefile calling mturkmake
runs its rule again on the next ``make`` until the target is final. A target built from an
incomplete target is incomplete too. Since an aged file can keep its size and mtime while its
content changes, prerequisites made by an incomplete step are hashed again, never trusted on
size and mtime.

The runner does not take the project lock; whoever starts a side-effecting run does
(:class:`~mturkmake.core.fsio.ProjectLock`).
"""

from __future__ import annotations

import contextlib
import enum
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mturkmake.core import graph
from mturkmake.core.decide import Decision, decide
from mturkmake.core.fsio import (
    Fingerprint,
    commit_output,
    fingerprint,
    set_mtime_now,
    temp_path_for,
)
from mturkmake.core.graph import Plan, Step
from mturkmake.core.state import BuildRecord, StateDB
from mturkmake.errors import ExitCode, MturkmakeError
from mturkmake.hookspecs import Context, Event, Job, Outcome, Rule

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

PREFIX = "mturkmake: "
#: How much older than its newest prerequisite an incomplete target is made: 2 s, so that
#: file systems with coarse mtimes (FAT keeps 2 s) still show make an out-of-date target.
INCOMPLETE_AGE_NS = 2_000_000_000


class Status(enum.Enum):
    """What became of a step in this run."""

    UP_TO_DATE = "up-to-date"
    MADE = "made"
    INCOMPLETE = "incomplete"
    WOULD_RUN = "would-run"
    FAILED = "failed"
    SKIPPED = "skipped"


_BLOCKING = (Status.FAILED, Status.SKIPPED)


class Runner:
    """Brings goals up to date.

    :param context: the run's context (root, config, host for reporting).
    :param state: the project's state database.
    :param rules: the pattern rules (from ``mturkmake_rules``).
    :param dry_run: ``-n``: preview or report what would be made; change no file or state.
    :param question: ``-q``: run nothing; :meth:`build` returns 1 if anything is stale.
    :param always_make: ``-B``: every step is stale.
    :param keep_going: ``-k``: after a failure, go on with targets that do not depend on it.
    :param jobs: ``-j``: how many steps may run at once.
    :param explain: report every decision's reasons.
    """

    def __init__(
        self,
        context: Context,
        state: StateDB,
        rules: Sequence[Rule],
        *,
        dry_run: bool = False,
        question: bool = False,
        always_make: bool = False,
        keep_going: bool = False,
        jobs: int = 1,
        explain: bool = False,
    ) -> None:
        self.context = context
        self.root = context.root
        self.state = state
        self.rules = tuple(rules)
        self.dry_run = dry_run
        self.question = question
        self.always_make = always_make
        self.keep_going = keep_going
        self.jobs = max(1, jobs)
        self.explain = explain
        self._report_lock = threading.Lock()
        self._rebuilt_lock = threading.Lock()
        self._rebuilt: set[str] = set()
        #: output name → the target of the step that makes it (this run's plan)
        self._producer: dict[str, str] = {}

    @property
    def _simulating(self) -> bool:
        return self.dry_run or self.question

    def report(self, kind: str, message: str, target: str | None = None) -> None:
        """Send one event; serialised, since steps may report from worker threads."""
        with self._report_lock:
            self.context.report(Event(kind=kind, message=message, target=target))

    # -- the run ----------------------------------------------------------------------

    def build(self, goals: Sequence[str]) -> ExitCode:
        """Bring ``goals`` up to date (or say what would happen, under ``-n``/``-q``).

        :returns: 0 done, 1 under ``-q`` when something is stale, 2 when a step failed.
        :raises MturkmakeError: the plan cannot be made (no rule, a cycle).
        """
        self._rebuilt = set()
        the_plan = graph.plan(goals, self.rules, self.root)
        self._producer = {name: step.target for step in the_plan.steps for name in step.outputs}
        try:
            status = self._schedule(the_plan)
        except BaseException:  # Ctrl-C too: what it left incomplete must look out of date
            if not self._simulating:
                with contextlib.suppress(MturkmakeError):  # the first error is the one to say
                    self._age_incomplete_targets(the_plan)
            raise
        failed = any(s is Status.FAILED for s in status.values())
        if not self._simulating:
            try:
                self._age_incomplete_targets(the_plan)
            except MturkmakeError:
                if not failed:
                    raise
                # A failed step already said what is wrong (a full disk fails here again).
        if failed:
            return ExitCode.ERROR
        if self.question:
            stale = any(s is Status.WOULD_RUN for s in status.values())
            return ExitCode.WORK_PENDING if stale else ExitCode.OK
        self._report_goals(the_plan, status)
        return ExitCode.OK

    def _report_goals(self, the_plan: Plan, status: Mapping[str, Status]) -> None:
        for goal in dict.fromkeys(the_plan.goals):
            if goal in the_plan.leaves:
                self.report("target.uptodate", f"{PREFIX}Nothing to be done for '{goal}'.", goal)
            elif status.get(the_plan.producer[goal].target) is Status.UP_TO_DATE:
                self.report("target.uptodate", f"{PREFIX}'{goal}' is up to date.", goal)

    def _schedule(self, the_plan: Plan) -> dict[str, Status]:
        """Run steps as their prerequisites finish; at most ``jobs`` at a time."""
        status: dict[str, Status] = {}
        remaining = list(the_plan.steps)
        stop = False
        executor = _pool(self.jobs) if self.jobs > 1 else None
        running: dict[Future[Status], Step] = {}
        try:
            while remaining or running:
                launched = False
                for step in list(remaining):
                    if stop or len(running) >= self.jobs:
                        break
                    deps = the_plan.dependencies(step)
                    if any(status.get(d.target) in _BLOCKING for d in deps):
                        remaining.remove(step)
                        status[step.target] = Status.SKIPPED
                        self.report(
                            "target.failed",
                            f"{PREFIX}Target '{step.target}' not remade because of errors.",
                            step.target,
                        )
                        continue
                    if not all(d.target in status for d in deps):
                        continue
                    remaining.remove(step)
                    launched = True
                    if executor is None:
                        status[step.target] = self._process(step)
                        stop = stop or (
                            status[step.target] is Status.FAILED and not self.keep_going
                        )
                    else:
                        running[executor.submit(self._process, step)] = step
                if not running:
                    if stop or not remaining:
                        break
                    if not launched:
                        # The plan is in dependency order, so this cannot happen.
                        raise RuntimeError(f"no step can start: {[s.target for s in remaining]}")
                    continue
                done, _ = _first_done(running)
                for future in done:
                    step = running.pop(future)
                    # A bug in an action propagates here, after the others finish.
                    status[step.target] = future.result()
                    if status[step.target] is Status.FAILED and not self.keep_going:
                        stop = True
        finally:
            if executor is not None:
                executor.shutdown(wait=True)
                # Pool threads are gone; close their connections rather than leave them to GC.
                self.state.close_all()
        return status

    # -- one step ---------------------------------------------------------------------

    def _fingerprints(
        self, step: Step, record: BuildRecord | None
    ) -> dict[str, Fingerprint | None]:
        current: dict[str, Fingerprint | None] = {}
        for name in step.inputs:
            before = record.prerequisites.get(name) if record else None
            if self._incomplete_input(name):
                before = None  # an aged file may change without changing size or mtime
            current[name] = fingerprint(self.root / name, before)
        for name in step.outputs:
            before = record.outputs.get(name) if record else None
            current[name] = fingerprint(self.root / name, before)
        return current

    def _incomplete_input(self, name: str) -> bool:
        """Whether ``name`` is made by a step of this plan whose last build is incomplete."""
        producer = self._producer.get(name)
        if producer is None:
            return False
        record = self.state.last_build(producer)
        return record is not None and not record.complete

    def _age_incomplete_targets(self, the_plan: Plan) -> None:
        """Age every incomplete target of the plan — also those another step marked
        incomplete (a review changes its batch remotely) — with what was built from them."""
        stale: dict[str, Sequence[str]] = {}
        for step in the_plan.steps:
            record = self.state.last_build(step.target)
            if record is not None and not record.complete:
                stale.update(dict.fromkeys(step.outputs, step.inputs))
        age_incomplete(self.root, self.state, stale)

    def _process(self, step: Step) -> Status:
        record = self.state.last_build(step.target)
        current = self._fingerprints(step, record)
        with self._rebuilt_lock:
            upstream = {n for n in step.inputs if n in self._rebuilt}
        decision = decide(
            step,
            record,
            current,
            forced=self.always_make,
            target_exists=(self.root / step.target).exists(),
            upstream_rebuilt=upstream if self._simulating else set(),
        )
        if self.explain:
            self._explain(step, decision)
        if not decision.needs_run:
            if not self._simulating:
                self._settle(step, record, current, decision)
            return Status.UP_TO_DATE
        if self._simulating:
            with self._rebuilt_lock:
                self._rebuilt.update(step.outputs)
            if self.question:
                return Status.WOULD_RUN
            return self._preview(step)
        built_from_incomplete = [n for n in step.inputs if self._incomplete_input(n)]
        return self._execute(step, current, built_from_incomplete)

    def _explain(self, step: Step, decision: Decision) -> None:
        if not decision.needs_run:
            self.report(
                "explain",
                f"{PREFIX}'{step.target}' is up to date: no prerequisite changed since its "
                "last build",
                step.target,
            )
        for reason in decision.reasons:
            self.report("explain", PREFIX + reason.text, step.target)

    def _settle(
        self,
        step: Step,
        record: BuildRecord | None,
        current: Mapping[str, Fingerprint | None],
        decision: Decision,
    ) -> None:
        """Bookkeeping for an up-to-date step; never changes a target's content."""
        inputs = _present(current, step.inputs)
        outputs = _present(current, step.outputs)
        if record is None:
            # Made elsewhere (the CLT, GNU make, a fresh clone): adopt it as it is.
            outputs = self._fix_mtimes(outputs, inputs)
            self.state.record_build(step.target, inputs, True, outputs)
            return
        for name in decision.refresh:
            fp = current[name]
            if fp is not None:
                self.state.refresh_prerequisite(step.target, name, fp)
        fixed = self._fix_mtimes(outputs, inputs)
        for name, fp in fixed.items():
            if fp != outputs[name] and name in record.outputs:
                self.state.refresh_output(step.target, name, fp)

    def _fix_mtimes(
        self, outputs: Mapping[str, Fingerprint], inputs: Mapping[str, Fingerprint]
    ) -> dict[str, Fingerprint]:
        """Make every output at least as new as its newest prerequisite, so make agrees."""
        newest = max((fp.mtime_ns for fp in inputs.values()), default=0)
        fixed: dict[str, Fingerprint] = {}
        for name, fp in outputs.items():
            fixed[name] = fp
            if fp.mtime_ns < newest:
                path = self.root / name
                set_mtime_now(path, newest)
                fixed[name] = Fingerprint(fp.size, path.stat().st_mtime_ns, fp.sha256)
        return fixed

    def _job(self, step: Step) -> Job:
        temps: dict[str, Path] = {}
        for name in step.outputs:
            temp = temp_path_for(self.root / name)
            temp.parent.mkdir(parents=True, exist_ok=True)
            temp.unlink(missing_ok=True)  # a leftover from a crashed run
            temps[name] = temp
        return Job(
            rule=step.rule,
            target=step.target,
            also_makes=step.also_makes,
            stem=step.stem,
            prerequisites=step.prerequisites,
            optional_prerequisites=step.optional_prerequisites,
            outputs=temps,
            context=self.context,
        )

    def _preview(self, step: Step) -> Status:
        name = f" ({step.rule.name})" if step.rule.name else ""
        if step.rule.preview is None:
            self.report("info", f"{PREFIX}would make '{step.target}'{name}", step.target)
            return Status.WOULD_RUN
        job = self._job(step)
        try:
            step.rule.preview(job)
        except MturkmakeError as exc:
            self.report("target.failed", f"{PREFIX}'{step.target}': {exc.one_line()}", step.target)
            return Status.FAILED
        finally:
            # A preview must not write; drop whatever it wrote anyway.
            for temp in job.outputs.values():
                temp.unlink(missing_ok=True)
        return Status.WOULD_RUN

    def _execute(
        self,
        step: Step,
        current: Mapping[str, Fingerprint | None],
        built_from_incomplete: Sequence[str] = (),
    ) -> Status:
        target = step.target
        label = f" ({step.rule.name})" if step.rule.name else ""
        self.report("target.start", f"{PREFIX}making '{target}'{label}", target)
        job = self._job(step)
        try:
            outcome = step.rule.action(job)
            if not isinstance(outcome, Outcome):
                raise TypeError(
                    f"rule '{step.rule.name or step.rule.target}' returned {outcome!r}, "
                    "not an Outcome"
                )
        except MturkmakeError as exc:
            _remove(job.outputs.values())
            self.report("target.failed", f"{PREFIX}'{target}': {exc.one_line()}", target)
            return Status.FAILED
        except BaseException:
            _remove(job.outputs.values())
            raise
        changed = self._commit(job.outputs)
        inputs = _present(current, step.inputs)
        committed = {n: fp for n in step.outputs if (fp := fingerprint(self.root / n)) is not None}
        complete = outcome.complete and outcome.error is None and not built_from_incomplete
        if complete:
            outputs = self._fix_mtimes(committed, inputs)
        else:
            outputs = _age(self.root, committed, inputs)
        self.state.record_build(target, inputs, complete, outputs)
        with self._rebuilt_lock:
            self._rebuilt.update(step.outputs)
        detail = f": {outcome.message}" if outcome.message else ""
        if outcome.error is not None:
            self.report(
                "target.failed",
                f"{PREFIX}'{target}': {outcome.error} (target kept, marked incomplete)",
                target,
            )
            return Status.FAILED
        if not complete:
            if outcome.complete and built_from_incomplete:
                detail += f" (built from incomplete '{built_from_incomplete[0]}')"
            self.report("target.incomplete", f"{PREFIX}'{target}' is incomplete{detail}", target)
            return Status.INCOMPLETE
        unchanged = "" if changed else " (unchanged)"
        self.report("target.done", f"{PREFIX}made '{target}'{unchanged}{detail}", target)
        return Status.MADE

    def _commit(self, temps: Mapping[str, Path]) -> bool:
        """Commit every output; remove a target the action did not write. True if any changed."""
        changed = False
        for name, temp in temps.items():
            final = self.root / name
            if temp.exists():
                changed = commit_output(temp, final) or changed
            elif final.exists():
                final.unlink()
                changed = True
        return changed


def _present(
    current: Mapping[str, Fingerprint | None], names: Sequence[str]
) -> dict[str, Fingerprint]:
    return {n: fp for n in names if (fp := current.get(n)) is not None}


def _age(
    root: Path, outputs: Mapping[str, Fingerprint], inputs: Mapping[str, Fingerprint]
) -> dict[str, Fingerprint]:
    """Set each output's mtime :data:`INCOMPLETE_AGE_NS` before its newest prerequisite's
    (when it is not that old already), so GNU make sees it out of date."""
    if not inputs:
        return dict(outputs)
    stamp = max(fp.mtime_ns for fp in inputs.values()) - INCOMPLETE_AGE_NS
    aged: dict[str, Fingerprint] = {}
    for name, fp in outputs.items():
        aged[name] = fp
        if fp.mtime_ns > stamp:
            path = root / name
            os.utime(path, ns=(stamp, stamp))
            aged[name] = Fingerprint(fp.size, stamp, fp.sha256)
    return aged


def age_incomplete(root: Path, state: StateDB, targets: Mapping[str, Sequence[str]]) -> None:
    """Make incomplete ``targets`` (name → its prerequisites) out of date for GNU make: each
    gets an mtime :data:`INCOMPLETE_AGE_NS` before its newest prerequisite's, and every
    target recorded (in ``state``) as built from one gets one older still — a downstream
    target set up to date a moment ago would otherwise stay newer than its aged prerequisite.

    Commands that change a batch remotely (``approveWork`` …) call it too, so ``make``
    agrees with ``mturkmake -q`` without a make-mode run in between.
    """
    aged: dict[str, int] = {}
    for name, prerequisites in targets.items():
        newest = max(
            (m for n in prerequisites if (m := _mtime(root / n)) is not None), default=None
        )
        if newest is not None:
            stamp = _set_older(root / name, newest - INCOMPLETE_AGE_NS)
            if stamp is not None:
                aged[name] = stamp
    seen = set(aged)
    while aged:
        name, stamp = aged.popitem()
        for output in _built_from(state, name):
            if output not in seen:
                seen.add(output)
                older = _set_older(root / output, stamp - INCOMPLETE_AGE_NS)
                if older is not None:
                    aged[output] = older


def _built_from(state: StateDB, name: str) -> list[str]:
    """The outputs of every recorded build that had ``name`` as a prerequisite."""
    try:
        rows = (
            state.connection()
            .execute(
                "SELECT o.name FROM build_file p JOIN build_file o ON o.target = p.target "
                "WHERE p.role = 'prerequisite' AND p.name = ? AND o.role = 'output'",
                (name,),
            )
            .fetchall()
        )
    except sqlite3.OperationalError:  # no build table yet
        return []
    return sorted({str(row[0]) for row in rows})


def _set_older(path: Path, stamp: int) -> int | None:
    """Set ``path``'s mtime to ``stamp`` if it is newer; its mtime after, ``None`` if absent."""
    mtime = _mtime(path)
    if mtime is None:
        return None
    if mtime > stamp:
        os.utime(path, ns=(stamp, stamp))
        return stamp
    return mtime


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


# concurrent.futures (with logging and queue, ~2 ms) only for -j N > 1: a no-op never starts
# a thread.
def _pool(jobs: int) -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(jobs)


def _first_done(running: Mapping[Future[Status], Step]) -> tuple[set[Future[Status]], object]:
    from concurrent.futures import FIRST_COMPLETED, wait

    done, pending = wait(running, return_when=FIRST_COMPLETED)
    return done, pending
