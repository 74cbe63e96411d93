"""This project's own rule: ``%.bonus`` from ``%.results`` — a $0.05 bonus for every
assignment whose answer matches the input's ``gold`` column.

mturkmake loads ``mturkmake_plugins.py`` from the project root by itself. The built-in
``%.bonused`` rule then pays each row of ``quiz.bonus`` exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence

from mturkmake.formats.results import open_results
from mturkmake.formats.tabfile import write_row
from mturkmake.hookspecs import Config, Job, Outcome, Rule, hookimpl

BONUS = "0.05"
REASON = "Right answer - thank you!"


def make_bonus(job: Job) -> Outcome:
    """One row per assignment that answered right."""
    table = open_results(job.path(job.prerequisites[0]))
    with job.outputs[job.target].open("w", encoding="utf-8", newline="") as out:
        write_row(out, ("assignmentid", "workerid", "amount", "reason"), quote="needed")
        for entry in table.assignments():
            answer = entry.values.get("Answer.choice", "")
            if answer and answer == entry.values.get("Input.gold"):
                write_row(
                    out, (entry.assignment_id, entry.worker_id, BONUS, REASON), quote="needed"
                )
    return Outcome()


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.bonus`` from ``%.results``."""
    return (Rule("%.bonus", ("%.results",), make_bonus, name="bonus rule"),)
