"""A ``.results`` file from fetched HITs (DESIGN §2; clt-formats.md §2): the API's HIT and
Assignment structures as the format's records, the CLT's closing statistics, and where the
pieces come from — the ``.success`` file's HITs and the input rows the ledger recorded.

Used by getResults and the ``%.results`` rule (:mod:`mturkmake.plugins.get_results`). Loaded
only when a fetch runs: everything heavy is imported inside the functions that need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import FormatError, UsageError
from mturkmake.hookspecs import Config
from mturkmake.mturk.settings import settings

if TYPE_CHECKING:
    from mturkmake.formats.results import AssignmentRecord, HitRecord, ResultsRow
    from mturkmake.formats.success import SuccessRow
    from mturkmake.mturk.results_cache import Fetched, Snapshot

__all__ = [
    "STATE_FILE",
    "BatchInputs",
    "assignment_record",
    "batch_inputs",
    "completion_lines",
    "hit_record",
    "question_ids",
    "read_success_file",
    "render_results",
    "requester_url",
    "results_rows",
    "results_timezone",
]

#: The project's state database in ``.mturkmake/``.
STATE_FILE = "state.db"

# --------------------------------------------------------------------------------------------
# From the API's structures to .results rows
# --------------------------------------------------------------------------------------------


def results_timezone(config: Config) -> str | None:
    """The configured zone for ``.results`` times; ``None`` = the machine's zone."""
    value = config.get("results_timezone")
    if value is None or str(value).strip().lower() in ("", "local"):
        return None
    return str(value).strip()


def requester_url(config: Config) -> str:
    """The requester site ``viewhit`` links to: the sandbox's on sandbox."""
    from mturkmake.formats.results import PRODUCTION_REQUESTER_URL, SANDBOX_REQUESTER_URL

    return (
        SANDBOX_REQUESTER_URL
        if settings(config).endpoint == "sandbox"
        else PRODUCTION_REQUESTER_URL
    )


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def hit_record(hit: Mapping[str, Any]) -> HitRecord:
    """The ``.results`` HIT part of an API HIT structure (times aware)."""
    from decimal import Decimal

    from mturkmake.formats.results import HitRecord
    from mturkmake.mturk.project import strip_marker

    return HitRecord(
        hit_id=str(hit["HITId"]),
        hit_type_id=str(hit.get("HITTypeId", "")),
        title=str(hit.get("Title", "")),
        description=str(hit.get("Description", "")),
        keywords=str(hit.get("Keywords", "")),
        reward=Decimal(str(hit.get("Reward") or "0")),
        creation_time=hit["CreationTime"],
        max_assignments=_int(hit.get("MaxAssignments")),
        num_available=_int(hit.get("NumberOfAssignmentsAvailable")),
        num_pending=_int(hit.get("NumberOfAssignmentsPending")),
        num_completed=_int(hit.get("NumberOfAssignmentsCompleted")),
        hit_status=str(hit.get("HITStatus", "")),
        review_status=str(hit.get("HITReviewStatus", "")),
        annotation=strip_marker(hit.get("RequesterAnnotation")),  # the user's, not ours
        assignment_duration=_int(hit.get("AssignmentDurationInSeconds")),
        auto_approval_delay=_int(hit.get("AutoApprovalDelayInSeconds")),
        expiration=hit["Expiration"],
    )


def assignment_record(assignment: Mapping[str, Any]) -> AssignmentRecord:
    """The ``.results`` assignment part of an API Assignment structure.

    :raises FormatError: its Answer is not a QuestionFormAnswers document.
    """
    from mturkmake.formats.answers import parse_answer_records
    from mturkmake.formats.results import AssignmentRecord

    assignment_id = str(assignment["AssignmentId"])
    text = assignment.get("Answer")
    answers = (
        {a.question_id: a for a in parse_answer_records(text, source=f"assignment {assignment_id}")}
        if text
        else {}
    )
    return AssignmentRecord(
        assignment_id=assignment_id,
        worker_id=str(assignment.get("WorkerId", "")),
        status=str(assignment.get("AssignmentStatus", "")),
        answers=answers,
        auto_approval_time=assignment.get("AutoApprovalTime"),
        accept_time=assignment.get("AcceptTime"),
        submit_time=assignment.get("SubmitTime"),
        approval_time=assignment.get("ApprovalTime"),
        rejection_time=assignment.get("RejectionTime"),
        deadline=assignment.get("Deadline"),
        feedback=assignment.get("RequesterFeedback"),
    )


def question_ids(snapshot: Snapshot) -> tuple[str, ...]:
    """The QuestionIdentifiers of the first retrieved HIT's question, in document order
    (as the CLT); answers to other identifiers get columns after them, first-seen."""
    from mturkmake.formats.question import parse_question, question_identifiers

    for hit_id in snapshot.hit_ids:
        entry = snapshot.entries.get(hit_id)
        if entry is None:
            continue
        text = entry.hit.get("Question")
        if not text:
            return ()
        try:
            return question_identifiers(parse_question(str(text), source=f"HIT {hit_id}"))
        except FormatError:
            return ()  # the answers still get their columns, first-seen
    return ()


def results_rows(
    snapshot: Snapshot, inputs: Mapping[str, Mapping[str, str]] | None = None
) -> list[ResultsRow]:
    """The rows of a ``.results`` file: HITs in ``.success`` order, each HIT's assignments
    oldest submission first, one row for a HIT without assignments; a HIT that could not be
    fetched gets no row (as in the CLT)."""
    from mturkmake.formats.results import ResultsRow

    rows: list[ResultsRow] = []
    for hit_id in snapshot.hit_ids:
        entry: Fetched | None = snapshot.entries.get(hit_id)
        if entry is None:
            continue
        hit = hit_record(entry.hit)
        values = (inputs or {}).get(hit_id, {})
        if not entry.assignments:
            rows.append(ResultsRow(hit, None, values))
        for assignment in entry.assignments:
            rows.append(ResultsRow(hit, assignment_record(assignment), values))
    return rows


def render_results(
    snapshot: Snapshot,
    config: Config,
    *,
    answer_prefix: str = "Answer.",
    namevaluepairs: bool = False,
    inputs: BatchInputs | None = None,
) -> bytes:
    """The bytes of a ``.results`` file for ``snapshot`` (UTF-8, LF line endings)."""
    import io

    from mturkmake.formats.results import write_results

    stream = io.StringIO(newline="")
    write_results(
        stream,
        results_rows(snapshot, inputs.values if inputs is not None else None),
        question_ids=question_ids(snapshot),
        tz=results_timezone(config),
        answer_prefix=answer_prefix,
        namevaluepairs=namevaluepairs,
        input_columns=list(inputs.columns) if inputs is not None else None,
        requester_url=requester_url(config),
    )
    return stream.getvalue().encode("utf-8")


def completion_lines(snapshot: Snapshot) -> list[str]:
    """The CLT's closing statistics (seed 003's getResults Output).

    Time elapsed runs from the batch's first HIT creation to its last submission; the
    average submit time is the mean of (submit − accept) over the submitted assignments.
    """
    done, total = snapshot.done, snapshot.total
    percent = done * 100 // total if total else 0
    created = [e.hit["CreationTime"] for e in snapshot.entries.values() if "CreationTime" in e.hit]
    works = [a for e in snapshot.entries.values() for a in e.assignments if a.get("SubmitTime")]
    elapsed = timedelta(0)
    if created and works:
        elapsed = max(a["SubmitTime"] for a in works) - min(created)
    spans = [
        (a["SubmitTime"] - a["AcceptTime"]).total_seconds() for a in works if a.get("AcceptTime")
    ]
    average = sum(spans) / len(spans) if spans else 0.0
    seconds = max(int(elapsed.total_seconds()), 0)
    clock = f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return [
        f"Assignments completed: {done}/{total} ({percent}%)",
        f"         Time elapsed: {clock} (h:mm:ss)",
        f"  Average submit time: {average:.1f} seconds",
    ]


# --------------------------------------------------------------------------------------------
# Where the pieces come from
# --------------------------------------------------------------------------------------------


def read_success_file(path: Path, *, shown: str) -> list[SuccessRow]:
    """The HITs of a ``.success`` file (mturkmake's or the CLT's), in file order.

    :raises UsageError: the file does not exist.
    :raises FormatError: it is not a ``.success`` file.
    """
    from mturkmake.formats.diskfile import open_regular
    from mturkmake.formats.success import read_success

    if not path.exists() and not path.is_symlink():
        raise UsageError(
            f"{shown}: no such file",
            hint="give the .success file loadHITs wrote (-successfile survey.success)",
        )
    with open_regular(path, source=shown) as stream:  # refuses a FIFO, which would hang
        return list(read_success(stream, source=shown))


@dataclass(frozen=True)
class BatchInputs:
    """The input rows of a batch's HITs, as the ledger recorded them.

    :param values: HIT id → the row's raw values by column.
    :param columns: every column, in the input's order.
    """

    values: Mapping[str, Mapping[str, str]]
    columns: tuple[str, ...]


def batch_inputs(config: Config, input_rel: str, success_rel: str) -> BatchInputs:
    """The input rows behind the HITs of ``success_rel`` (make mode's ``Input.*`` columns).

    The batch is the one made from ``input_rel`` whose ``.success`` is ``success_rel``;
    a ``.success`` the ledger does not know (made by the CLT) gives no rows.
    """
    if not (config.state_dir / STATE_FILE).exists():
        return BatchInputs({}, ())
    from mturkmake.mturk.batch import batch_rows, known_batches
    from mturkmake.mturk.ledger import open_ledger

    with open_ledger(config.state_dir, settings(config).identity) as ledger:
        known = known_batches(ledger, input_rel)
        batch = next((b for b, s in known.items() if s == success_rel), None)
        if batch is None and input_rel in known:
            batch = input_rel
        rows = batch_rows(ledger, batch) if batch is not None else []
    # The ledger keeps a row's values by name, not in the input's order: take the order
    # from the input's header, then any column only older rows had.
    recorded = sorted({c for row in rows for c in row.values})
    columns = dict.fromkeys(c for c in _input_header(config.root / input_rel) if c in recorded)
    columns.update(dict.fromkeys(recorded))
    return BatchInputs({row.hit_id: row.values for row in rows}, tuple(columns))


def _input_header(path: Path) -> tuple[str, ...]:
    from mturkmake.formats.inputfile import open_input

    try:
        return tuple(open_input(path, require_rows=False).header)
    except (OSError, FormatError):
        return ()  # the order is a nicety; the values come from the ledger
