"""The ``%.labels`` target: the crowd's aggregated answer for every input row.

``mturkmake survey.labels`` (after, or together with, ``survey.results``) writes one row per
HIT — that is, per input row — in the order of ``survey.results``: the ``hitid``, the input
columns (from the ``Input.*`` columns of the results), then for each aggregated question
``Answer.<question>`` (the label), ``Confidence.<question>`` (the method's probability of
it, 0 to 1, six decimals) and ``Votes.<question>`` (how many answers were aggregated). A HIT
without answers has empty cells. It is a tab file in the CLT dialect, like ``.results``.

The method and the questions are the ``crowdkit`` evaluator's (``[tool.mturkmake.crowdkit]``);
rejected assignments are left out. While ``%.results`` is not final (some HIT still has
available or pending assignments) the target is *incomplete*, so the next run makes it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from mturkmake.hookspecs import Assignment, Job, Outcome, Rule

__all__ = ["LABELS_RULE", "build_labels", "label_columns"]


def label_columns(input_columns: Sequence[str], questions: Sequence[str]) -> list[str]:
    """The ``.labels`` header."""
    columns = ["hitid", *input_columns]
    for question in questions:
        columns += [f"Answer.{question}", f"Confidence.{question}", f"Votes.{question}"]
    return columns


def build_labels(job: Job) -> Outcome:
    """The ``%.labels`` action (module docstring)."""
    # Aggregation loads when a .labels file is made: every other run only needs the rule.
    from mturkmake.formats.results import open_results
    from mturkmake.formats.tabfile import write_row
    from mturkmake_crowdkit.aggregate import aggregate, votes_for
    from mturkmake_crowdkit.evaluator import chosen_questions
    from mturkmake_crowdkit.settings import read_settings

    settings = read_settings(job.context.config)
    results = open_results(job.path(job.prerequisites[0]))
    entries = list(results.entries())
    hits: dict[str, dict[str, str]] = {}
    final = True
    for entry in entries:
        if entry.hit_id:
            hits.setdefault(entry.hit_id, entry.inputs())
        for column in ("numavailable", "numpending"):
            if entry.values.get(column, "0").strip() not in ("", "0"):
                final = False
    assignments = [
        Assignment(
            assignment_id=e.assignment_id,
            hit_id=e.hit_id,
            worker_id=e.worker_id,
            status=e.status,
            answers=e.answers(),
            inputs=e.inputs(),
        )
        for e in entries
        if e.assignment_id and e.status != "Rejected"
    ]
    questions, _skipped = chosen_questions(settings, assignments)
    labels = {
        q: aggregate(votes_for(assignments, q), settings.method, settings.iterations)
        for q in questions
    }
    input_columns = [c[len("Input.") :] for c in results.header if c.startswith("Input.")]
    with job.outputs[job.target].open("w", encoding="utf-8", newline="") as stream:
        write_row(stream, label_columns(input_columns, questions), quote="needed")
        for hit_id, inputs in hits.items():
            row = [hit_id, *(inputs.get(c, "") for c in input_columns)]
            for question in questions:
                label = labels[question].get(hit_id)
                if label is None:
                    row += ["", "", "0"]
                else:
                    row += [label.value, f"{label.confidence:.6f}", str(label.votes)]
            write_row(stream, row, quote="needed")
    return Outcome(
        complete=final,
        message=f"{len(hits)} rows labelled by {settings.method}"
        + ("" if final else f"; {job.prerequisites[0]} is not final yet"),
    )


LABELS_RULE = Rule(
    target="%.labels",
    prerequisites=("%.results",),
    action=build_labels,
    name="crowdkit-labels",
)
