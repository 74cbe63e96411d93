"""The ``crowdkit`` evaluator: each worker scored against the crowd's aggregate and the gold.

For every aggregated question (``questions``, default: those whose answers repeat, see
:func:`~mturkmake_crowdkit.aggregate.categorical_questions`), the answers of all assignments
of each HIT are aggregated by crowd-kit (``method``). Each answer is then *checked* against a
reference: the known answer where one exists (``gold_columns`` or the batch's ``%.gold``
file, exactly as the ``answer-key`` evaluator reads them; not with ``use_gold = false``),
otherwise the aggregated label —
but only when at least two workers answered that HIT, since a lone answer always agrees with
itself. A worker whose share of matching checked answers is under ``min_accuracy`` has all
their assignments rejected, with feedback saying so; everyone else is approved. A worker
with fewer than ``min_checked_answers`` checked answers is approved (too little evidence).

The core's ``max_reject_share`` guard applies as to every evaluator: more rejections than
that share of the run's decisions stop the run unless ``--yes``.

The evaluator sees the assignments the ``%.approved`` rule gives it: the submitted ones
not yet decided (on a first review, the whole batch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from mturkmake.errors import ConfigError
from mturkmake.hookspecs import Assignment, Context, Event, Verdict
from mturkmake_crowdkit.aggregate import (
    Label,
    aggregate,
    categorical_questions,
    label_of,
    votes_for,
)
from mturkmake_crowdkit.settings import CrowdkitSettings, read_settings

__all__ = ["CrowdkitEvaluator", "Score", "chosen_questions", "score_workers"]


@dataclass(frozen=True)
class Score:
    """A worker's checked answers: against gold, and against the aggregate elsewhere."""

    worker_id: str
    gold_correct: int = 0
    gold_checked: int = 0
    crowd_correct: int = 0
    crowd_checked: int = 0

    @property
    def correct(self) -> int:
        """Matching checked answers."""
        return self.gold_correct + self.crowd_correct

    @property
    def checked(self) -> int:
        """Checked answers."""
        return self.gold_checked + self.crowd_checked

    def passes(self, min_accuracy: float, min_checked: int) -> bool:
        """Whether correct / checked reaches ``min_accuracy`` (compared exactly), or there
        are fewer than ``min_checked`` checked answers."""
        if self.checked < max(1, min_checked):
            return True
        return Fraction(self.correct, self.checked) >= Fraction(str(min_accuracy))


def feedback(score: Score, min_accuracy: float) -> str:
    """What a rejected worker reads (accuracy rounded down, never shown as passing)."""
    shown = score.correct * 100 // score.checked
    parts = []
    if score.gold_checked:
        parts.append(f"{score.gold_correct} of {score.gold_checked} known answers")
    if score.crowd_checked:
        parts.append(
            f"{score.crowd_correct} of {score.crowd_checked} answers the other workers agreed on"
        )
    return (
        f"Your answers matched {' and '.join(parts)} ({shown}% overall); "
        f"this task required at least {min_accuracy * 100:.10g}%."
    )


def chosen_questions(
    settings: CrowdkitSettings, assignments: Sequence[Assignment]
) -> tuple[list[str], list[str]]:
    """``(aggregated, skipped)`` questions; ``questions`` in the settings wins.

    :raises ConfigError: a configured question that no assignment answers.
    """
    if not settings.questions:
        return categorical_questions(assignments)
    answered = {q for a in assignments for q in a.answers}
    for question in settings.questions:
        if assignments and question not in answered:
            raise ConfigError(
                f"crowdkit.questions: no assignment answers a question {question!r}",
                hint=f"questions answered: {', '.join(sorted(answered)) or '(none)'}",
            )
    return list(settings.questions), []


def score_workers(
    assignments: Sequence[Assignment],
    labels: Mapping[str, Mapping[str, Label]],
    truth: Mapping[str, Mapping[str, str]],
) -> dict[str, Score]:
    """Each worker's :class:`Score`.

    :param labels: question → HIT id → aggregated label.
    :param truth: assignment id → the known answers of its item (question → answer).
    """
    from mturkmake.mturk.answer_key import answers_match

    counts: dict[str, list[int]] = {}
    for assignment in assignments:
        tally = counts.setdefault(assignment.worker_id, [0, 0, 0, 0])
        known = truth.get(assignment.assignment_id, {})
        for question, by_task in labels.items():
            answer = assignment.answers.get(question, "")
            if question in known:
                tally[1] += 1
                tally[0] += answers_match(answer, known[question])
                continue
            label = by_task.get(assignment.hit_id)
            if label is None or label.votes < 2 or not label_of(answer):
                continue
            tally[3] += 1
            tally[2] += label_of(answer) == label.value
    return {w: Score(w, *tally) for w, tally in sorted(counts.items())}


class CrowdkitEvaluator:
    """``crowdkit`` (module docstring)."""

    name = "crowdkit"

    def evaluate(self, assignments: Sequence[Assignment], ctx: Context) -> dict[str, Verdict]:
        """Approve every assignment, except all those of workers under ``min_accuracy``."""
        settings = read_settings(ctx.config)
        questions, skipped = chosen_questions(settings, assignments)
        labels = {
            q: aggregate(votes_for(assignments, q), settings.method, settings.iterations)
            for q in questions
        }
        truth = _truth(assignments, ctx) if settings.use_gold else {}
        scores = score_workers(assignments, labels, truth)
        verdicts: dict[str, Verdict] = {}
        for assignment in sorted(assignments, key=lambda a: a.assignment_id):
            score = scores[assignment.worker_id]
            if score.passes(settings.min_accuracy, settings.min_checked_answers):
                verdicts[assignment.assignment_id] = Verdict("approve", "", self.name)
            else:
                text = feedback(score, settings.min_accuracy)
                verdicts[assignment.assignment_id] = Verdict("reject", text, self.name)
        failing = [
            s
            for s in scores.values()
            if not s.passes(settings.min_accuracy, settings.min_checked_answers)
        ]
        ctx.report(
            Event(
                "info",
                f"crowdkit ({settings.method}): {len(questions)} question(s) aggregated"
                + (f", {', '.join(skipped)} skipped (free text)" if skipped else "")
                + f"; {len(scores)} workers scored, {len(failing)} under "
                f"{settings.min_accuracy * 100:.10g}%",
                data={
                    "scores": {
                        s.worker_id: {"correct": s.correct, "checked": s.checked}
                        for s in scores.values()
                    }
                },
            )
        )
        return verdicts


def _truth(assignments: Sequence[Assignment], ctx: Context) -> dict[str, Mapping[str, str]]:
    """The known answers of each assignment's item, as ``answer-key`` finds them."""
    from mturkmake.mturk.answer_key import GOLD_FILE_OPTION, read_gold_file, truth_for

    gold = None
    value: Any = ctx.options.get(GOLD_FILE_OPTION)
    if value:
        path = Path(value)
        gold = read_gold_file(path if path.is_absolute() else ctx.root / path)
    columns: Any = ctx.config.get("gold_columns") or {}
    if not isinstance(columns, Mapping):
        raise ConfigError(
            "gold_columns must map question identifiers to input column names",
            hint='write gold_columns = {question = "input column"}',
        )
    gold_columns = {str(k): str(v) for k, v in columns.items()}
    if gold is None and not gold_columns:
        return {}
    return {a.assignment_id: truth_for(a, gold_columns, gold) for a in assignments}
