"""Aggregating the answers of a batch with crowd-kit, and scoring workers against the result.

crowd-kit (with pandas and scikit-learn) is imported inside :func:`aggregate` only: loading
the plugin, or any run that aggregates nothing, never pays for it.

Answers are compared as the ``answer-key`` evaluator compares them: split on ``|``,
trimmed, case-folded, as sets (:func:`label_of` is the canonical text of that set).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mturkmake.hookspecs import Assignment

__all__ = [
    "Label",
    "Vote",
    "aggregate",
    "categorical_questions",
    "label_of",
    "votes_for",
]


@dataclass(frozen=True, order=True)
class Vote:
    """One worker's answer to one question of one HIT (``task`` is the HIT id)."""

    task: str
    worker: str
    label: str


@dataclass(frozen=True)
class Label:
    """The aggregated answer of one task.

    :param value: the label (canonical text, see :func:`label_of`).
    :param confidence: the method's probability of ``value`` (majority vote: its share of
        the votes), from 0 to 1.
    :param votes: how many answers were aggregated.
    """

    value: str
    confidence: float
    votes: int


def label_of(answer: str) -> str:
    """The canonical text of an answer: its ``|``-separated parts, normalised, sorted."""
    from mturkmake.mturk.answer_key import normalise_answer

    return "|".join(sorted(normalise_answer(answer)))


def votes_for(assignments: Iterable[Assignment], question: str) -> list[Vote]:
    """Every non-empty answer to ``question``, one per (HIT, worker), sorted."""
    found: dict[tuple[str, str], Vote] = {}
    for assignment in assignments:
        label = label_of(assignment.answers.get(question, ""))
        if label:
            key = (assignment.hit_id, assignment.worker_id)
            found.setdefault(key, Vote(assignment.hit_id, assignment.worker_id, label))
    return sorted(found.values())


def categorical_questions(assignments: Sequence[Assignment]) -> tuple[list[str], list[str]]:
    """``(aggregated, skipped)``: the questions whose answers repeat, and the others.

    A question is aggregated when its distinct answers are at most half its answers: a
    choice among labels. Free text, where every answer differs, has no consensus to score
    anyone by, so it is skipped unless ``questions`` names it.
    """
    answered = sorted({q for a in assignments for q, v in a.answers.items() if v.strip()})
    chosen: list[str] = []
    skipped: list[str] = []
    for question in answered:
        votes = votes_for(assignments, question)
        distinct = len({v.label for v in votes})
        (chosen if distinct * 2 <= len(votes) else skipped).append(question)
    return chosen, skipped


def _model(method: str, iterations: int) -> Any:
    from crowdkit import aggregation

    if method == "majority-vote":
        return aggregation.MajorityVote()
    if method == "dawid-skene":
        return aggregation.DawidSkene(n_iter=iterations)
    if method == "glad":
        return aggregation.GLAD(n_iter=iterations, silent=True)
    raise ValueError(f"unknown aggregation method {method!r}")


def aggregate(votes: Sequence[Vote], method: str, iterations: int = 100) -> dict[str, Label]:
    """The aggregated label of each task, by crowd-kit's ``method``.

    Majority vote breaks ties (three workers, three different answers) by the workers'
    agreement with the majority on the other tasks: the tied label whose voters agree more
    often wins (crowd-kit's skill-weighted majority vote), then the first in sorted order.
    So the result depends only on the votes, never on their order.

    :param method: ``majority-vote``, ``dawid-skene`` or ``glad``.
    """
    if not votes:
        return {}
    import pandas as pd

    frame = pd.DataFrame(
        [(v.task, v.worker, v.label) for v in sorted(votes)], columns=["task", "worker", "label"]
    )
    model: Any = _model(method, iterations)
    with warnings.catch_warnings():
        # crowd-kit's own deprecation warnings (pandas, scikit-learn) tell our users nothing
        warnings.simplefilter("ignore", category=Warning)
        proba = model.fit_predict_proba(frame)
        weights: Any = None
        if method == "majority-vote":
            weights = _skill_weighted(frame, proba)
    counts: Mapping[str, int] = frame.groupby("task").size().to_dict()
    labels: dict[str, Label] = {}
    for task, row in proba.iterrows():
        shares = {str(label): float(p) for label, p in row.items()}
        top = max(shares.values())
        tied = sorted(label for label, p in shares.items() if p == top)
        best = tied[0]
        if len(tied) > 1 and weights is not None:
            weighted = weights.loc[task]
            best = max(
                tied, key=lambda label: (float(weighted.get(label, 0.0)), -tied.index(label))
            )
        labels[str(task)] = Label(best, round(top, 6), int(counts[task]))
    return labels


def _skill_weighted(frame: Any, proba: Any) -> Any:
    """Majority vote weighted by each worker's agreement with the plain majority."""
    from crowdkit.aggregation import MajorityVote

    majority = proba.idxmax(axis=1)
    agrees = frame["label"] == frame["task"].map(majority)
    skills = agrees.groupby(frame["worker"]).mean()
    return MajorityVote().fit_predict_proba(frame, skills=skills)
