"""Staleness as a pure function: :func:`decide` → :class:`Decision` with reasons (DESIGN §2).

A target is rebuilt when it is missing, forced (``-B``), incomplete, or when a prerequisite's
fingerprint (size, mtime_ns, sha256) differs in *content* from the one recorded at the
target's last build — not by mtime order. A prerequisite touched without a content change is
not a reason; the decision lists it in :attr:`Decision.refresh` so the runner updates the
record. A target with no record (made by the CLT, by GNU make, or in a fresh clone) is judged
as make would: stale only if a prerequisite is newer by mtime.

``--explain`` prints each :attr:`Reason.text`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Set
from typing import NamedTuple

from mturkmake.core.fsio import Fingerprint
from mturkmake.core.graph import Step
from mturkmake.core.state import BuildRecord


class ReasonKind(enum.Enum):
    """Why a target needs its rule run."""

    MISSING_TARGET = "missing-target"
    FORCED = "forced"
    INCOMPLETE = "incomplete"
    NO_RECORD = "no-record"
    PREREQ_CHANGED = "prerequisite-changed"
    PREREQ_MISSING = "prerequisite-missing"
    PREREQ_REBUILT = "prerequisite-rebuilt"
    PREREQ_ADDED = "prerequisite-added"
    OPTIONAL_APPEARED = "optional-appeared"
    OPTIONAL_DISAPPEARED = "optional-disappeared"


class Reason(NamedTuple):
    """One reason, with the file it concerns and the line ``--explain`` prints."""

    kind: ReasonKind
    target: str
    file: str
    text: str


class Decision(NamedTuple):
    """The verdict on one step.

    :param needs_run: whether the rule must run.
    :param reasons: why (empty when up to date).
    :param refresh: prerequisites touched without a content change; their recorded
        fingerprints should be refreshed (only meaningful when ``needs_run`` is false).
    """

    needs_run: bool
    reasons: tuple[Reason, ...] = ()
    refresh: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.needs_run


def _reason(kind: ReasonKind, target: str, file: str, detail: str) -> Reason:
    return Reason(kind, target, file, f"'{target}' is stale: {detail}")


def _without_record(
    step: Step, current: Mapping[str, Fingerprint | None], target_fp: Fingerprint | None
) -> list[Reason]:
    # make's own rule: older than any prerequisite means out of date.
    target = step.target
    if target_fp is None:
        return []
    return [
        _reason(
            ReasonKind.NO_RECORD,
            target,
            name,
            f"no build record, and prerequisite '{name}' is newer",
        )
        for name in step.inputs
        if (fp := current.get(name)) is not None and fp.mtime_ns > target_fp.mtime_ns
    ]


def _against_record(
    step: Step,
    record: BuildRecord,
    current: Mapping[str, Fingerprint | None],
    upstream_rebuilt: Set[str],
) -> tuple[list[Reason], list[str]]:
    target = step.target
    reasons: list[Reason] = []
    refresh: list[str] = []
    recorded = record.prerequisites
    for name in step.inputs:
        optional = name not in step.prerequisites
        if name in upstream_rebuilt:
            reasons.append(
                _reason(ReasonKind.PREREQ_REBUILT, target, name, f"prerequisite '{name}' is remade")
            )
            continue
        now = current.get(name)
        before = recorded.get(name)
        if before is None:
            if optional:
                reasons.append(
                    _reason(
                        ReasonKind.OPTIONAL_APPEARED,
                        target,
                        name,
                        f"optional prerequisite '{name}' appeared",
                    )
                )
            else:
                reasons.append(
                    _reason(
                        ReasonKind.PREREQ_ADDED,
                        target,
                        name,
                        f"prerequisite '{name}' was not part of its last build",
                    )
                )
        elif now is None:
            reasons.append(
                _reason(
                    ReasonKind.PREREQ_MISSING, target, name, f"prerequisite '{name}' is missing"
                )
            )
        elif now.size != before.size or now.sha256 != before.sha256:
            reasons.append(
                _reason(
                    ReasonKind.PREREQ_CHANGED,
                    target,
                    name,
                    f"prerequisite '{name}' changed (content differs from last build)",
                )
            )
        elif now.mtime_ns != before.mtime_ns:
            refresh.append(name)
    present = set(step.inputs)
    for name in recorded:
        if name in present:
            continue
        if name in step.optional_candidates:
            reasons.append(
                _reason(
                    ReasonKind.OPTIONAL_DISAPPEARED,
                    target,
                    name,
                    f"optional prerequisite '{name}' disappeared",
                )
            )
        # A recorded name that is no prerequisite any more means the rule changed; the
        # remaining prerequisites decide, as make would (no reason of its own).
    return reasons, refresh


def decide(
    step: Step,
    record: BuildRecord | None,
    current: Mapping[str, Fingerprint | None],
    *,
    forced: bool,
    target_exists: bool,
    upstream_rebuilt: Set[str],
) -> Decision:
    """Decide whether ``step`` must run. Pure: reads nothing but its arguments.

    :param step: the planned step.
    :param record: the build record of ``step.target``, or ``None``.
    :param current: fingerprints now (``None`` = missing) of the step's prerequisites
        (required and present optional ones) and of its outputs (``step.outputs``).
    :param forced: ``-B``.
    :param target_exists: whether ``step.target`` exists.
    :param upstream_rebuilt: names of prerequisites that are (or, under ``-n``/``-q``,
        would be) remade in this run; each is a reason by itself.
    """
    target = step.target
    reasons: list[Reason] = []
    if forced:
        reasons.append(_reason(ReasonKind.FORCED, target, target, "forced (-B)"))
    if not target_exists and (record is None or target in record.outputs):
        reasons.append(_reason(ReasonKind.MISSING_TARGET, target, target, "it does not exist"))
    if record is not None:
        # An output of a multi-target rule that the last build wrote but is gone now.
        for name in step.also_makes:
            if name in record.outputs and current.get(name) is None:
                reasons.append(
                    _reason(
                        ReasonKind.MISSING_TARGET,
                        target,
                        name,
                        f"'{name}', made by the same rule, does not exist",
                    )
                )
        if not record.complete:
            reasons.append(
                _reason(ReasonKind.INCOMPLETE, target, target, "its last build is incomplete")
            )
        found, refresh = _against_record(step, record, current, upstream_rebuilt)
        reasons.extend(found)
    else:
        refresh = []
        reasons.extend(
            _reason(ReasonKind.PREREQ_REBUILT, target, name, f"prerequisite '{name}' is remade")
            for name in step.inputs
            if name in upstream_rebuilt
        )
        if target_exists:
            reasons.extend(_without_record(step, current, current.get(target)))
    if reasons:
        return Decision(True, tuple(reasons))
    return Decision(False, (), tuple(refresh))
