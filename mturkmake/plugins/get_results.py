"""getResults: the CLT command and the ``%.results`` make rule (DESIGN §2; clt-formats.md §2).

- ``mturkmake getResults -successfile F -outputfile O [-namevaluepairs] [-answerPrefix P]``
  fetches every HIT of ``F`` (a ``.success`` made by mturkmake or by the CLT) and writes
  exactly the CLT's columns, printing seed 003's console output.
- ``mturkmake survey.results`` (rule ``%.results: %.success``) writes the CLT's columns
  plus ``Input.<column>`` (the raw input values the ledger recorded for each HIT's row).
  Assignments are cached in ``state.db``; a poll fetches only the HITs not yet final
  (:mod:`mturkmake.mturk.results_cache`). The target is *incomplete* until every HIT is
  final. ``--wait[=TIMEOUT]`` / ``--poll SECONDS`` poll until final
  (:mod:`mturkmake.mturk.waiting`); Ctrl-C leaves the target incomplete, never partial.

Times are written in config ``results_timezone`` (an IANA name; unset or ``local``: the
machine's zone, as the CLT did). This module is loaded on every run: everything heavy
(boto3, defusedxml, tqdm) is imported inside the functions that need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from mturkmake import hookimpl
from mturkmake.core.fsio import atomic_write
from mturkmake.core.state import StateDB
from mturkmake.errors import ExitCode, FormatError, UsageError
from mturkmake.formats.results import (
    PRODUCTION_REQUESTER_URL,
    SANDBOX_REQUESTER_URL,
    AssignmentRecord,
    HitRecord,
    ResultsRow,
    write_results,
)
from mturkmake.formats.success import SuccessRow, read_success
from mturkmake.hookspecs import (
    CommandSpec,
    Config,
    ConfigKey,
    Context,
    Event,
    Flag,
    Job,
    Outcome,
    Rule,
)
from mturkmake.mturk.results_cache import Fetched, Fetcher, ResultsCache, Snapshot
from mturkmake.mturk.settings import settings
from mturkmake.plugins import clt_catalog

__all__ = [
    "ANSWER_PREFIX_FLAG",
    "BatchInputs",
    "batch_inputs",
    "build_results",
    "completion_lines",
    "get_results_command",
    "question_ids",
    "results_rows",
    "results_timezone",
]

#: The CLT's ``-answerPrefix`` (GetResults.java), missing from seed 003's table.
ANSWER_PREFIX_FLAG = Flag(
    "answerPrefix", "PREFIX", "prefix of the answer columns (default 'Answer.')", default="Answer."
)
STATE_FILE = "state.db"


@hookimpl
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """``results_timezone``: the zone of the times in ``.results`` files."""
    return (
        ConfigKey(
            "results_timezone",
            str,
            None,
            "time zone of .results times: an IANA name such as 'UTC'; unset or 'local' = "
            "this machine's zone (as the CLT)",
        ),
    )


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """The CLT's getResults."""
    return (
        clt_catalog.command("getResults").spec(
            get_results_command, extra_flags=(ANSWER_PREFIX_FLAG,)
        ),
    )


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.results: %.success``."""
    return (Rule("%.results", ("%.success",), build_results, name="getResults"),)


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
    return (
        SANDBOX_REQUESTER_URL
        if settings(config).endpoint == "sandbox"
        else PRODUCTION_REQUESTER_URL
    )


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def hit_record(hit: Mapping[str, Any]) -> HitRecord:
    """The ``.results`` HIT part of an API HIT structure (times aware)."""
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
        annotation=hit.get("RequesterAnnotation"),
        assignment_duration=_int(hit.get("AssignmentDurationInSeconds")),
        auto_approval_delay=_int(hit.get("AutoApprovalDelayInSeconds")),
        expiration=hit["Expiration"],
    )


def assignment_record(assignment: Mapping[str, Any]) -> AssignmentRecord:
    """The ``.results`` assignment part of an API Assignment structure.

    :raises FormatError: its Answer is not a QuestionFormAnswers document.
    """
    from mturkmake.formats.answers import parse_answer_records

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


def make_client(ctx: Context) -> Any:
    """The run's MTurk client (:func:`mturkmake.mturk.endpoint.run_client`)."""
    from mturkmake.mturk.endpoint import run_client

    return run_client(ctx)


def _say(ctx: Context, message: str, target: str | None = None, kind: str = "info") -> None:
    ctx.report(Event(kind=kind, message=message, target=target))


# --------------------------------------------------------------------------------------------
# The CLT command
# --------------------------------------------------------------------------------------------


def get_results_command(args: Mapping[str, Any], ctx: Context) -> int:
    """``getResults -successfile F -outputfile O [-namevaluepairs] [-answerPrefix P]``.

    Every HIT is fetched (the CLT always did; the cache is refreshed on the way). A HIT
    that cannot be fetched is reported and gets no row; the others are written and the
    command exits 2 (DESIGN §8).
    """
    success_arg = str(args["successfile"])
    output_arg = str(args["outputfile"])
    rows = read_success_file(Path(success_arg), shown=success_arg)
    client = make_client(ctx)
    fetcher = Fetcher(client, _cache(ctx.config))

    def retrieved(n: int, total: int, hit_id: str) -> None:
        _say(ctx, f"Retrieved HIT {n}/{total}, {hit_id}", kind="progress")

    _say(ctx, "--[Retrieving Results]----------", kind="progress")
    snapshot = fetcher.poll(rows, refresh=True, keep_going=True, progress=retrieved)
    _say(ctx, "--[Done Retrieving Results]----------", kind="progress")
    for hit_id, error in snapshot.failures.items():
        _say(ctx, f"Error retrieving HIT {hit_id}: {error}", kind="error")
    data = render_results(
        snapshot,
        ctx.config,
        answer_prefix=str(args.get("answerPrefix") or "Answer."),
        namevaluepairs=bool(args.get("namevaluepairs")),
    )
    try:
        atomic_write(Path(output_arg), data)
    except OSError as exc:
        raise UsageError(
            f"{output_arg}: cannot write the results: {exc.strerror or exc}",
            hint="give -outputfile a path in a directory that exists and is writable",
        ) from None
    # Blank lines around it, as the CLT printed (a reporter skips empty messages).
    _say(ctx, f"\nResults have been written to file '{output_arg}'.\n")
    for line in completion_lines(snapshot):
        _say(ctx, line)
    return int(ExitCode.ERROR if snapshot.failures else ExitCode.OK)


def _cache(config: Config) -> ResultsCache:
    return ResultsCache(StateDB(config.state_dir / STATE_FILE), settings(config).identity)


# --------------------------------------------------------------------------------------------
# The make rule
# --------------------------------------------------------------------------------------------


def build_results(job: Job) -> Outcome:
    """The action of ``%.results``: fetch what is not final, wait if asked, write the file.

    Incomplete until every HIT is final. A service error raises (nothing is written; what
    was fetched stays cached, so the next run resumes). Ctrl-C marks the target incomplete.
    """
    ctx = job.context
    config = ctx.config
    success_rel = job.prerequisites[0]
    rows = read_success_file(job.path(success_rel), shown=success_rel)
    inputs = batch_inputs(config, f"{job.stem}.input", success_rel)
    try:
        snapshot = _fetch_and_wait(job, rows)
    except KeyboardInterrupt:
        StateDB(config.state_dir / STATE_FILE).mark_incomplete(job.target)
        raise
    data = render_results(snapshot, config, inputs=inputs)
    job.outputs[job.target].write_bytes(data)
    message = (
        f"{snapshot.done}/{snapshot.total} assignments, "
        f"{snapshot.final_hits}/{len(snapshot.hit_ids)} HITs final"
    )
    return Outcome(complete=snapshot.final, message=message)


def _fetch_and_wait(job: Job, rows: Sequence[SuccessRow]) -> Snapshot:
    from mturkmake.mturk.times import utc_now
    from mturkmake.mturk.waiting import (
        ProgressView,
        auto_approval_warning,
        wait_settings,
        wait_until_final,
    )

    ctx = job.context
    wait = wait_settings(ctx.options)  # a bad --wait stops before any call
    fetcher = Fetcher(make_client(ctx), _cache(ctx.config))
    snapshot = fetcher.poll(rows)
    if wait is None or snapshot.final:
        if settings(ctx.config).kind != "local":
            warning = auto_approval_warning(snapshot, utc_now(), job.target)
            if warning is not None:
                _say(ctx, warning, job.target, "warning")
        return snapshot
    market = _local_market(ctx)
    if settings(ctx.config).kind == "local" and market is None:
        _say(
            ctx,
            f"{job.target}: the marketplace at {settings(ctx.config).endpoint} runs in another "
            "process; "
            f"--wait polls it every {wait.poll:g} s of wall time (move its clock with "
            "'mturkmake marketplace advance', or serve it with --realtime)",
            job.target,
            "warning",
        )
    result = wait_until_final(
        snapshot,
        lambda: fetcher.poll(rows),
        wait,
        view=ProgressView(job.target, lambda line: _say(ctx, line, job.target, "progress")),
        warn=lambda line: _say(ctx, line, job.target, "warning"),
        market=market,
        became_final=fetcher.all_final_now,
    )
    if result.message:
        _say(ctx, result.message, job.target, "warning")
    return result.snapshot


def _local_market(ctx: Context) -> Any:
    """The project's local marketplace, to advance its clock (``endpoint = "local"``).

    ``None`` for a loopback URL (``marketplace serve`` in another process owns that clock;
    a wait there sleeps like on sandbox). Simulated answers come from the
    ``mturkmake_simulate_answer`` hook, as the events are played in this process.
    """
    if settings(ctx.config).endpoint != "local":
        return None
    try:
        from mturkmake.marketplace.inprocess import open_local_marketplace
    except ImportError:
        return None
    return open_local_marketplace(ctx.config, answer_fn=ctx.host.simulate_answer)
