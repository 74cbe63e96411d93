"""The built-in evaluators, and how their verdicts combine (DESIGN §5 "Evaluators").

Evaluators decide which submitted assignments of a batch are approved and which rejected. This
module is pure: it calls no MTurk operation. The ``%.approved`` rule (elsewhere) builds the
:class:`~mturkmake.hookspecs.Assignment` list, runs :func:`select_evaluators`' choice, merges the
verdicts with :func:`combine`, checks :func:`check_reject_share`, then approves and rejects.

Built-ins (config ``evaluators``, default ``["reject-column"]``):

- ``reject-column`` (:class:`RejectColumnEvaluator`): the CLT's reviewResults marks. The caller
  fills ``Assignment.row`` from ``%.review`` (a hand-edited copy of the results) when it exists,
  else from a final ``%.results``. A non-blank ``reject`` cell rejects, with the ``feedback`` cell
  as the reason; unmarked approves.
- ``answer-key`` (:class:`~mturkmake.mturk.answer_key.AnswerKeyEvaluator`): per-worker accuracy
  against known answers (``gold_columns`` or a ``%.gold`` file) checked against ``min_accuracy``.
- ``approve-all`` (:class:`ApproveAllEvaluator`).

Combining: any rejection rejects (reasons joined with ``"; "``), otherwise approve; an assignment
no evaluator decided stays undecided. A rejection always carries non-empty feedback: a blank
reason is replaced by :data:`DEFAULT_REJECT_FEEDBACK`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ConfigError, ConfirmationRefused, PluginError
from mturkmake.hookspecs import Assignment, ConfigKey, Context, Verdict

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config, Evaluator

__all__ = [
    "DEFAULT_EVALUATORS",
    "DEFAULT_MAX_REJECT_SHARE",
    "DEFAULT_REJECT_FEEDBACK",
    "MAX_FEEDBACK_CHARS",
    "PENDING_MARK",
    "ApproveAllEvaluator",
    "RejectColumnEvaluator",
    "check_reject_share",
    "combine",
    "evaluate_batch",
    "evaluator_names",
    "is_pending",
    "select_evaluators",
]

#: ``evaluators`` when nothing sets it: the CLT's reviewResults behaviour.
DEFAULT_EVALUATORS = ("reject-column",)
#: ``min_checked_answers`` when nothing sets it: fewer checked answers judge nobody. The
#: answer key's defaults live with the keys: declaring them must not load the answer key
#: (a run that finds everything up to date only declares keys, #17).
DEFAULT_MIN_CHECKED = 3
#: ``min_accuracy`` when nothing sets it.
DEFAULT_MIN_ACCURACY = 0.8
#: ``max_reject_share`` when nothing sets it.
DEFAULT_MAX_REJECT_SHARE = 0.2
#: The reason a worker sees when a rejection was given none (MTurk requires one, DESIGN §5).
DEFAULT_REJECT_FEEDBACK = (
    "Your submission did not meet the requirements stated in the task instructions."
)
#: MTurk's limit on RequesterFeedback (ApproveAssignment / RejectAssignment documentation).
MAX_FEEDBACK_CHARS = 1024

#: The CLT's column names in ``.results`` (reference/clt-formats.md §2).
REJECT_COLUMN = "reject"
FEEDBACK_COLUMN = "feedback"
#: The ``reject`` mark of an assignment a review has not reached: no decision yet.
PENDING_MARK = "pending"


def is_pending(row: Mapping[str, str]) -> bool:
    """Whether ``row``'s ``reject`` cell says the review has not decided it yet."""
    return any(c.strip().casefold() == PENDING_MARK for c in _cells(row, REJECT_COLUMN))


# --------------------------------------------------------------------------------------------
# The simple evaluators
# --------------------------------------------------------------------------------------------


def _cells(row: Mapping[str, str], name: str) -> list[str]:
    """The cells of every column named ``name``, ignoring case and surrounding spaces.

    The CLT looked up the exact name; a spreadsheet user who titles the column ``Reject``
    would then have every assignment approved, which cannot be undone. The exact column
    comes first.
    """
    exact = [row[name]] if name in row else []
    return exact + [v for k, v in row.items() if k != name and k.strip().casefold() == name]


class RejectColumnEvaluator:
    """``reject-column``: the ``reject`` and ``feedback`` marks of each assignment's row.

    - Any non-blank ``reject`` cell rejects (the CLT took any character; a cell of spaces
      only is not a decision to withhold pay). The reason is the ``feedback`` cell, or
      :data:`DEFAULT_REJECT_FEEDBACK` when it is blank.
    - An unmarked row approves, passing on its ``feedback`` cell (workers see it).
    - An assignment with an empty ``row`` (the caller found no row for it) is left undecided:
      approving on no information could not be undone.
    - A ``reject`` cell of :data:`PENDING_MARK` (``mturkmake review`` writes it for work the
      reviewer has not reached) is left undecided too: a partial review is no mass approval.
    """

    name = "reject-column"

    def evaluate(self, assignments: Sequence[Assignment], ctx: Context) -> dict[str, Verdict]:
        """A verdict for every assignment that has a row."""
        verdicts: dict[str, Verdict] = {}
        for assignment in sorted(assignments, key=lambda a: a.assignment_id):
            row = assignment.row
            if not row or is_pending(row):
                continue
            feedback = next((c.strip() for c in _cells(row, FEEDBACK_COLUMN) if c.strip()), "")
            if any(c.strip() for c in _cells(row, REJECT_COLUMN)):
                verdict = Verdict("reject", feedback or DEFAULT_REJECT_FEEDBACK, self.name)
            else:
                verdict = Verdict("approve", feedback, self.name)
            verdicts[assignment.assignment_id] = verdict
        return verdicts


class ApproveAllEvaluator:
    """``approve-all``: approves every assignment."""

    name = "approve-all"

    def evaluate(self, assignments: Sequence[Assignment], ctx: Context) -> dict[str, Verdict]:
        """Approve each assignment."""
        return {
            a.assignment_id: Verdict("approve", "", self.name)
            for a in sorted(assignments, key=lambda a: a.assignment_id)
        }


# --------------------------------------------------------------------------------------------
# Choosing, combining, confirming
# --------------------------------------------------------------------------------------------


def _source_file(config: Config, key: str) -> str | None:
    source = config.sources.get(key)
    return source if source and source != "default" else None


def evaluator_names(config: Config) -> list[str]:
    """The names in config ``evaluators``, duplicates dropped, in order.

    :raises ConfigError: not a non-empty list of names.
    """
    value: Any = config.get("evaluators")
    if value is None:
        return list(DEFAULT_EVALUATORS)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(
            "evaluators must be a list of evaluator names",
            file=_source_file(config, "evaluators"),
            hint='write evaluators = ["reject-column"] (the default)',
        )
    if not value:
        raise ConfigError(
            "evaluators is empty, so nothing would decide any assignment",
            file=_source_file(config, "evaluators"),
            hint='name at least one, e.g. evaluators = ["reject-column"]',
        )
    return list(dict.fromkeys(v.strip() for v in value))


def select_evaluators(config: Config, available: Mapping[str, Evaluator]) -> list[Evaluator]:
    """The evaluators config ``evaluators`` names, in its order.

    :param available: every registered evaluator by name (``PluginHost.evaluators()``).
    :raises ConfigError: a name no plugin provides, listing the available ones.
    """
    chosen: list[Evaluator] = []
    for name in evaluator_names(config):
        if name not in available:
            raise ConfigError(
                f"unknown evaluator {name!r}",
                file=_source_file(config, "evaluators"),
                hint=f"available: {', '.join(sorted(available)) or '(none)'}; "
                "an evaluator from a plugin needs that plugin loaded",
            )
        chosen.append(available[name])
    return chosen


def _limit(text: str) -> str:
    if len(text) <= MAX_FEEDBACK_CHARS:
        return text
    return text[: MAX_FEEDBACK_CHARS - 1].rstrip() + "…"


def _join(texts: Iterable[str]) -> str:
    """Non-blank texts, stripped, each once, in order, joined with ``"; "``."""
    return "; ".join(dict.fromkeys(t.strip() for t in texts if t.strip()))


def combine(
    verdict_maps: Sequence[tuple[str, Mapping[str, Verdict]]], assignment_ids: Iterable[str]
) -> dict[str, Verdict]:
    """Merge the verdicts of several evaluators.

    Per assignment: any rejection rejects, with the rejecting evaluators' reasons joined by
    ``"; "`` (or :data:`DEFAULT_REJECT_FEEDBACK` if all were blank) and their names by ``"+"``;
    otherwise, if some evaluator approved, approve (approval messages joined likewise). An id
    that no evaluator decided is absent from the result. Feedback is cut to
    :data:`MAX_FEEDBACK_CHARS`.

    :param verdict_maps: ``(evaluator name, its verdicts)`` in the configured order.
    :param assignment_ids: the batch's assignment ids; the result follows their order.
    :raises PluginError: an evaluator decided an assignment that is not in the batch, or
        returned a decision other than ``approve``/``reject``.
    """
    ids = list(dict.fromkeys(assignment_ids))
    batch = set(ids)
    for name, verdicts in verdict_maps:
        for assignment_id, verdict in verdicts.items():
            if assignment_id not in batch:
                raise PluginError(
                    f"evaluator {name!r} decided assignment {assignment_id!r}, "
                    "which is not in this batch",
                    hint="fix the evaluator: return verdicts only for the assignments given",
                )
            if verdict.decision not in ("approve", "reject"):
                raise PluginError(
                    f"evaluator {name!r} returned the decision {verdict.decision!r} "
                    f"for assignment {assignment_id!r}",
                    hint='a decision is "approve" or "reject"',
                )
    combined: dict[str, Verdict] = {}
    for assignment_id in ids:
        decided = [(n, v[assignment_id]) for n, v in verdict_maps if assignment_id in v]
        if not decided:
            continue
        rejecting = [(n, v) for n, v in decided if v.decision == "reject"]
        if rejecting:
            feedback = _join(v.feedback for _, v in rejecting) or DEFAULT_REJECT_FEEDBACK
            names = "+".join(dict.fromkeys(n for n, _ in rejecting))
            combined[assignment_id] = Verdict("reject", _limit(feedback), names)
        else:
            feedback = _join(v.feedback for _, v in decided)
            names = "+".join(dict.fromkeys(n for n, _ in decided))
            combined[assignment_id] = Verdict("approve", _limit(feedback), names)
    return combined


def evaluate_batch(
    evaluators: Sequence[Evaluator], assignments: Sequence[Assignment], ctx: Context
) -> dict[str, Verdict]:
    """Run each evaluator on the whole batch and :func:`combine` their verdicts."""
    maps = [(e.name, e.evaluate(assignments, ctx)) for e in evaluators]
    return combine(maps, (a.assignment_id for a in assignments))


def _share(value: float) -> str:
    # One decimal at most: 17/60 is "28.3%", not "28.33333333%".
    return f"{round(value * 100, 1):g}%"


def check_reject_share(
    verdicts: Mapping[str, Verdict],
    *,
    max_share: float,
    assume_yes: bool,
    interactive: bool,
    ask: Callable[[str], bool],
) -> None:
    """Stop before the first call when too many of this run's decisions are rejections.

    Passes when the rejections are at most ``max_share`` of ``verdicts``, or with
    ``assume_yes`` (``--yes``). Otherwise asks on a terminal (``ask(question)`` returns whether
    the user said yes) and refuses without one.

    :param verdicts: this run's decisions only (not assignments decided on an earlier run).
    :raises ConfirmationRefused: the user said no, or there was no terminal to ask.
    """
    from fractions import Fraction

    total = len(verdicts)
    rejected = sum(1 for v in verdicts.values() if v.decision == "reject")
    # Exact arithmetic: 0.1 * 3 is not 0.3 in floating point, and the limit is the user's decimal.
    if total == 0 or Fraction(rejected, total) <= Fraction(str(max_share)):
        return
    what = (
        f"{rejected} of {total} assignments ({_share(rejected / total)}) would be rejected, "
        f"more than max_reject_share ({_share(max_share)})"
    )
    if assume_yes:
        return
    hint = (
        "check the reject marks and the evaluators; to reject them anyway, run again with "
        "--yes, or raise max_reject_share"
    )
    if not interactive:
        raise ConfirmationRefused(f"{what}; no terminal to confirm", hint=hint)
    if not ask(f"{what}. Reject them? [y/N] "):
        raise ConfirmationRefused(f"{what}; not confirmed", hint=hint)


def builtin_evaluators() -> list[Evaluator]:
    """``reject-column``, ``answer-key`` and ``approve-all``."""
    from mturkmake.mturk.answer_key import AnswerKeyEvaluator

    return [RejectColumnEvaluator(), AnswerKeyEvaluator(), ApproveAllEvaluator()]


def evaluation_keys() -> list[ConfigKey]:
    """``evaluators``, ``gold_columns``, ``min_accuracy``, ``min_checked_answers`` and
    ``max_reject_share``."""
    return [
        ConfigKey(
            "evaluators",
            list,
            list(DEFAULT_EVALUATORS),
            "evaluators that decide each assignment (reject-column, answer-key, approve-all)",
        ),
        ConfigKey(
            "gold_columns",
            dict,
            {},
            'answer-key: {question = "input column"} holding each item\'s known answer',
        ),
        ConfigKey(
            "min_accuracy",
            float,
            DEFAULT_MIN_ACCURACY,
            "answer-key: share of known answers a worker must match (0 to 1)",
        ),
        ConfigKey(
            "min_checked_answers",
            int,
            DEFAULT_MIN_CHECKED,
            "answer-key: a worker with fewer checked answers than this is not judged (approved)",
        ),
        ConfigKey(
            "max_reject_share",
            float,
            DEFAULT_MAX_REJECT_SHARE,
            "ask before rejecting more than this share of a run's decisions (0 to 1)",
        ),
    ]


def check_evaluation_settings(config: Config) -> None:
    """Refuse malformed evaluator settings before anything runs."""
    evaluator_names(config)
    for key in ("min_accuracy", "max_reject_share"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(
                f"{key} must be a number from 0 to 1, not {value!r}",
                file=_source_file(config, key),
                hint=f"write a share, e.g. {key} = 0.8 for 80%",
            )
    checked = config.get("min_checked_answers")
    if isinstance(checked, bool) or not isinstance(checked, int) or checked < 1:
        raise ConfigError(
            f"min_checked_answers must be a whole number of at least 1, not {checked!r}",
            file=_source_file(config, "min_checked_answers"),
            hint="e.g. min_checked_answers = 3",
        )
    gold_columns = config.get("gold_columns") or {}
    bad = [q for q, c in gold_columns.items() if not isinstance(c, str) or not c.strip()]
    if bad:
        raise ConfigError(
            f"gold_columns: {bad[0]} must name an input column",
            file=_source_file(config, "gold_columns"),
            hint='write gold_columns = {question = "input column"}',
        )
