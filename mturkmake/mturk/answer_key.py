"""The ``answer-key`` evaluator: reject workers whose answers disagree with known answers.

Known answers ("gold") come from two places, merged per item (the gold file wins where both
give an answer to the same question):

- ``gold_columns = {question = "input column"}``: the true answer to ``question`` is the value
  of that column of the HIT's input row. A blank cell means "no known answer for this item",
  so an input can mix gold items with ordinary ones.
- a ``%.gold`` file, for answers that are not in the input (see :func:`read_gold_file`).

Grading is per worker across the whole batch: every answer to a question with a known answer
is one *checked answer*; a worker's accuracy is correct / checked. Workers below
``min_accuracy`` have **all** their assignments rejected, with feedback stating their accuracy
and the threshold; everyone else is approved. A worker with fewer than
``min_checked_answers`` (default 3) checked answers is approved: one or two misses are not
evidence enough to reject all of someone's work (and hurt their approval rate), and MTurk would
auto-approve the work anyway.

Comparison: both values are split on ``|`` (how ``.results`` joins multiple selections), each
part stripped, inner whitespace collapsed and case-folded, empty parts dropped; the two *sets*
must be equal. So ``Red|blue`` matches ``blue | red``; a missing or empty answer matches nothing.

The ``%.gold`` file is a tab file in the CLT dialect (header row, ``"`` quoting)::

    image_url<TAB>Answer.category<TAB>Answer.tags
    http://x/1.jpg<TAB>cat<TAB>indoor|pet

- ``Answer.<question>`` columns hold the known answers; a blank cell means "unknown".
- Every other column is a *key column*, matched (values stripped) against the input column of
  the same name; the column ``hitid`` is matched against the HIT id instead. A key column that
  is not an input column is an error, as is a row whose key repeats an earlier row's.

The ``%.approved`` rule hands the gold file to the evaluator by putting its path in
``ctx.options[GOLD_FILE_OPTION]`` (relative paths are relative to the project root); code that
already holds the answers passes them to the constructor instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mturkmake.errors import ConfigError, FormatError
from mturkmake.hookspecs import Assignment, Context, Verdict
from mturkmake.mturk.evaluation import DEFAULT_MIN_ACCURACY, DEFAULT_MIN_CHECKED

if TYPE_CHECKING:
    from fractions import Fraction  # imported where used: a no-op run declares keys only

__all__ = [
    "ANSWER_PREFIX",
    "DEFAULT_MIN_ACCURACY",
    "GOLD_FILE_OPTION",
    "HIT_ID_COLUMN",
    "AnswerKeyEvaluator",
    "GoldAnswers",
    "WorkerScore",
    "answers_match",
    "normalise_answer",
    "read_gold_file",
    "rejection_feedback",
    "score_workers",
    "truth_for",
]

#: The prefix of answer columns, as in ``.results``.
ANSWER_PREFIX = "Answer."
#: A gold-file key column matched against the HIT id rather than an input column.
HIT_ID_COLUMN = "hitid"
#: The ``ctx.options`` entry holding the path of the batch's ``%.gold`` file.
GOLD_FILE_OPTION = "gold_file"


def normalise_answer(value: str) -> frozenset[str]:
    """The comparable form of an answer: its ``|``-separated parts, trimmed and case-folded."""
    parts = (" ".join(part.split()).casefold() for part in value.split("|"))
    return frozenset(part for part in parts if part)


def answers_match(given: str, truth: str) -> bool:
    """Whether ``given`` equals ``truth`` as sets of normalised selections."""
    return normalise_answer(given) == normalise_answer(truth)


# --------------------------------------------------------------------------------------------
# The gold file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldAnswers:
    """Known answers read from a ``%.gold`` file.

    :param source: the file name, for messages.
    :param key_columns: the key columns, in file order.
    :param items: key values (stripped, in ``key_columns`` order) → {question: answer}.
    """

    source: str
    key_columns: tuple[str, ...]
    items: Mapping[tuple[str, ...], Mapping[str, str]]

    def key_of(self, assignment: Assignment) -> tuple[str, ...] | None:
        """The key of ``assignment``'s item, or ``None`` when its input lacks a key column."""
        values: list[str] = []
        for column in self.key_columns:
            if column == HIT_ID_COLUMN:
                values.append(assignment.hit_id.strip())
            elif column in assignment.inputs:
                values.append(assignment.inputs[column].strip())
            else:
                return None
        return tuple(values)

    def truth_for(self, assignment: Assignment) -> Mapping[str, str]:
        """The known answers of ``assignment``'s item (empty when the file does not list it)."""
        key = self.key_of(assignment)
        return self.items.get(key, {}) if key is not None else {}


def read_gold_file(path: str | Path) -> GoldAnswers:
    """Read a ``%.gold`` file (format in the module docstring).

    :raises FormatError: naming the file and line: unreadable or malformed tab file, no
        ``Answer.*`` column, no key column, an empty question name, a row without any key
        value, a key that repeats an earlier row's.
    """
    from mturkmake.formats.inputfile import open_input

    table = open_input(path)
    source = table.source
    answer_columns = [c for c in table.header if c.startswith(ANSWER_PREFIX)]
    key_columns = tuple(c for c in table.header if not c.startswith(ANSWER_PREFIX))
    if not answer_columns:
        raise FormatError(
            "a gold file needs at least one Answer.<question> column",
            file=source,
            line=1,
            hint="name the columns of known answers Answer.<question identifier>, "
            "as in the .results file",
        )
    for column in answer_columns:
        if not column[len(ANSWER_PREFIX) :].strip():
            raise FormatError(
                f"column {column!r} names no question",
                file=source,
                line=1,
                column=column,
                hint="write the question identifier after 'Answer.'",
            )
    if not key_columns:
        raise FormatError(
            "a gold file needs a key column to find each item",
            file=source,
            line=1,
            hint="add input columns that identify the item (e.g. the image URL), "
            f"or a {HIT_ID_COLUMN!r} column",
        )
    items: dict[tuple[str, ...], dict[str, str]] = {}
    first_line: dict[tuple[str, ...], int] = {}
    for row in table.rows():
        key = tuple(row.values[c].strip() for c in key_columns)
        if not any(key):
            raise FormatError(
                "the row has no key value",
                file=source,
                line=row.line,
                hint=f"fill in at least one of: {', '.join(key_columns)}",
            )
        if key in first_line:
            raise FormatError(
                f"the row has the same key as line {first_line[key]}",
                file=source,
                line=row.line,
                hint="keep one row per item",
            )
        first_line[key] = row.line
        items[key] = {
            column[len(ANSWER_PREFIX) :]: row.values[column]
            for column in answer_columns
            if row.values[column].strip()
        }
    return GoldAnswers(source, key_columns, items)


# --------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerScore:
    """A worker's checked answers across the batch."""

    worker_id: str
    correct: int
    checked: int

    @property
    def accuracy(self) -> Fraction:
        """correct / checked, exactly (1 when nothing was checked)."""
        from fractions import Fraction

        return Fraction(self.correct, self.checked) if self.checked else Fraction(1)

    def passes(self, min_accuracy: float, min_checked: int = 1) -> bool:
        """Whether the accuracy reaches ``min_accuracy`` (a decimal, compared exactly), or
        there are fewer than ``min_checked`` checked answers to judge by."""
        from fractions import Fraction

        if self.checked < max(1, min_checked):
            return True
        return self.accuracy >= Fraction(str(min_accuracy))


def _percent(value: float) -> str:
    """``0.8`` → ``80%``, ``0.675`` → ``67.5%`` (for thresholds, as the user wrote them)."""
    return f"{value * 100:.10g}%"


def rejection_feedback(score: WorkerScore, min_accuracy: float) -> str:
    """The sentence a rejected worker sees.

    The accuracy is rounded *down*, so that it never reads as reaching the threshold.
    """
    shown = score.correct * 100 // score.checked
    return (
        f"Your answers matched the known answers on {score.correct} of {score.checked} "
        f"checked questions ({shown}%); this task required at least {_percent(min_accuracy)}."
    )


class AnswerKeyEvaluator:
    """``answer-key``: per-worker accuracy against known answers, checked against
    ``min_accuracy`` (module docstring).

    :param gold: known answers from a gold file; when ``None``, the file named by
        ``ctx.options[GOLD_FILE_OPTION]`` is read if that is set.
    """

    name = "answer-key"

    def __init__(self, gold: GoldAnswers | None = None) -> None:
        self.gold = gold

    def evaluate(self, assignments: Sequence[Assignment], ctx: Context) -> dict[str, Verdict]:
        """Approve every assignment, except all those of workers below ``min_accuracy``.

        :raises ConfigError: no known answers configured; a ``gold_columns`` entry naming an
            input column that does not exist or a question no assignment answers.
        :raises FormatError: a bad gold file, or a gold key column that is not an input column.
        """
        gold = self.gold if self.gold is not None else _gold_from_options(ctx)
        gold_columns = _gold_columns(ctx)
        min_accuracy = float(ctx.config.get("min_accuracy", DEFAULT_MIN_ACCURACY))
        min_checked = int(ctx.config.get("min_checked_answers", DEFAULT_MIN_CHECKED))
        if not gold_columns and gold is None:
            raise ConfigError(
                "the answer-key evaluator has no known answers",
                hint='set gold_columns = {question = "input column"}, '
                "or add a .gold file next to the .results file",
            )
        _check_columns(assignments, gold_columns, gold, ctx)
        scores = score_workers(assignments, gold_columns, gold)
        verdicts: dict[str, Verdict] = {}
        for assignment in sorted(assignments, key=lambda a: a.assignment_id):
            score = scores[assignment.worker_id]
            if not score.passes(min_accuracy, min_checked):
                feedback = rejection_feedback(score, min_accuracy)
                verdicts[assignment.assignment_id] = Verdict("reject", feedback, self.name)
            else:
                verdicts[assignment.assignment_id] = Verdict("approve", "", self.name)
        return verdicts


def truth_for(
    assignment: Assignment, gold_columns: Mapping[str, str], gold: GoldAnswers | None
) -> dict[str, str]:
    """The known answers for ``assignment``'s item: question → answer (blank ones dropped)."""
    truth = {
        question: assignment.inputs[column]
        for question, column in gold_columns.items()
        if assignment.inputs.get(column, "").strip()
    }
    if gold is not None:
        truth.update(gold.truth_for(assignment))
    return truth


def score_workers(
    assignments: Sequence[Assignment],
    gold_columns: Mapping[str, str],
    gold: GoldAnswers | None,
) -> dict[str, WorkerScore]:
    """Each worker's correct and checked answers across ``assignments``."""
    correct: dict[str, int] = {}
    checked: dict[str, int] = {}
    for assignment in assignments:
        worker = assignment.worker_id
        correct.setdefault(worker, 0)
        checked.setdefault(worker, 0)
        for question, answer in truth_for(assignment, gold_columns, gold).items():
            checked[worker] += 1
            if answers_match(assignment.answers.get(question, ""), answer):
                correct[worker] += 1
    return {w: WorkerScore(w, correct[w], checked[w]) for w in sorted(checked)}


def _gold_from_options(ctx: Context) -> GoldAnswers | None:
    value = ctx.options.get(GOLD_FILE_OPTION)
    if not value:
        return None
    path = Path(value)
    return read_gold_file(path if path.is_absolute() else ctx.root / path)


def _config_file(ctx: Context, key: str) -> str | None:
    source = ctx.config.sources.get(key)
    return source if source and source != "default" else None


def _gold_columns(ctx: Context) -> dict[str, str]:
    value = ctx.config.get("gold_columns") or {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) and v for v in value.values()):
        raise ConfigError(
            "gold_columns must map question identifiers to input column names",
            file=_config_file(ctx, "gold_columns"),
            hint='write gold_columns = {question = "input column"}',
        )
    return {str(k): v for k, v in value.items()}


def _check_columns(
    assignments: Sequence[Assignment],
    gold_columns: Mapping[str, str],
    gold: GoldAnswers | None,
    ctx: Context,
) -> None:
    """Refuse names that match nothing: a typo would otherwise grade nobody and approve all."""
    if not assignments:
        return
    with_inputs = [a for a in assignments if a.inputs]
    questions = sorted({q for a in assignments for q in a.answers})
    if gold is not None:
        for question in sorted({q for answers in gold.items.values() for q in answers}):
            if question not in questions:
                raise FormatError(
                    f"no assignment answers the question {question!r}",
                    file=gold.source,
                    line=1,
                    column=ANSWER_PREFIX + question,
                    hint=f"questions answered: {', '.join(questions) or '(none)'}",
                )
    if not with_inputs:
        if gold_columns:
            raise ConfigError(
                "gold_columns needs the input rows of the HITs, and none are known",
                file=_config_file(ctx, "gold_columns"),
                hint="review the batch in make mode (mturkmake NAME.approved), "
                "or give the known answers in a .gold file keyed by hitid",
            )
        return
    columns = sorted({c for a in with_inputs for c in a.inputs})
    known = ", ".join(columns)
    for question, column in gold_columns.items():
        if column not in columns:
            raise ConfigError(
                f"gold_columns: {question} = {column!r} is not an input column",
                file=_config_file(ctx, "gold_columns"),
                hint=f"use one of: {known}",
            )
    for question in gold_columns:
        if question not in questions:
            raise ConfigError(
                f"gold_columns: no assignment answers a question {question!r}",
                file=_config_file(ctx, "gold_columns"),
                hint=f"questions answered: {', '.join(questions) or '(none)'}",
            )
    if gold is not None:
        for column in gold.key_columns:
            if column != HIT_ID_COLUMN and column not in columns:
                raise FormatError(
                    f"key column {column!r} is not an input column",
                    file=gold.source,
                    line=1,
                    column=column,
                    hint=f"rename it to one of: {known}, or {HIT_ID_COLUMN}",
                )
