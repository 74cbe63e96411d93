"""loadHITs and the ``%.success`` rule: one HIT per input row, at most once, ever (DESIGN §2).

Both ways in — ``mturkmake loadHITs -input survey.input …`` and ``mturkmake survey.success`` —
run :func:`load`: the preflight (:mod:`.preflight`), then the reconciliation against the
ledger (:mod:`.batch`), then the cost line, the budget and (production) the confirmation, then
one ledger intent per HIT, each CreateHITWithHITType carrying its intent's token. ``.success``
is written as the projection of the ledger's records of the batch, never of "what this run
did", so a crashed or partial run heals on the next one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import (
    BuildError,
    ConfirmationRefused,
    MturkmakeError,
    UsageError,
)
from mturkmake.hookspecs import (
    CommandSpec,
    ConfigKey,
    Event,
    Job,
    Outcome,
    Recovery,
    Rule,
    hookimpl,
)
from mturkmake.mturk.settings import settings
from mturkmake.plugins.reporter import Tracked

if TYPE_CHECKING:
    import argparse

    from mturkmake.hookspecs import Config, Context, TemplateEngine
    from mturkmake.mturk.batch import BatchRow
    from mturkmake.mturk.client import Client
    from mturkmake.mturk.ledger import Ledger
    from mturkmake.mturk.preflight import PreparedHIT, SourceFile
    from mturkmake.mturk.preflight_stream import StreamedBatch

# The batch and preflight modules load when a load or its preview runs: a no-op run only
# needs this module's rule, command and keys (issue #17).
WORKER_SITES = {
    "production": "https://www.mturk.com",
    "sandbox": "https://workersandbox.mturk.com",
}


@dataclass(frozen=True)
class LoadRequest:
    """One load: the three files, where the projection goes, and the user's permissions.

    :param input_rel: the input's path relative to the root: the batch's identity.
    :param success_rel: the ``.success`` path relative to the root (label check, records).
    :param limit: ``-maxhits``.
    :param clt: print the CLT's console output (command mode) rather than make's lines.
    """

    input: SourceFile
    question: SourceFile
    properties: SourceFile
    input_rel: str
    success_rel: str
    success_path: Path
    limit: int | None = None
    replace_edited: bool = False
    new_batch: bool = False
    assume_yes: bool = False
    clt: bool = False


@dataclass
class LoadResult:
    """What a load did; ``rows`` is the batch as the ledger now knows it: each HIT's
    ``(HITId, HITTypeId)``, in input order (what ``.success`` lists), read from the ledger
    when iterated (:class:`~mturkmake.mturk.batch.Projection`)."""

    header: tuple[str, ...] = ()
    rows: Iterable[tuple[str, str]] = field(default_factory=list)
    created: int = 0
    skipped: int = 0
    failed: list[tuple[PreparedHIT, str]] = field(default_factory=list)
    hit_types: list[str] = field(default_factory=list)
    error: str | None = None


class _Console:
    """The load's lines: the CLT's output in command mode, quieter lines in make mode."""

    def __init__(self, ctx: Context, clt: bool) -> None:
        self.ctx = ctx
        self.clt = clt

    def say(self, message: str, *, detail: bool = False, kind: str = "info") -> None:
        """Report ``message``; ``detail`` lines are shown in make mode only with ``-v``."""
        if detail and not self.clt:
            kind = "debug"
        self.ctx.report(Event(kind, message))


# --------------------------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------------------------


def _engine(ctx: Context) -> TemplateEngine:
    from mturkmake.mturk.preflight import template_engine

    return template_engine(ctx)


def _client(ctx: Context) -> Any:
    from mturkmake.mturk.endpoint import run_client

    return run_client(ctx)


def _streamed_batch(ctx: Context, request: LoadRequest, *, limit: int | None) -> StreamedBatch:
    from mturkmake.mturk.preflight_stream import StreamedBatch

    return StreamedBatch(
        request.input,
        request.question,
        request.properties,
        engine=_engine(ctx),
        endpoint_kind=settings(ctx.config).kind,
        strict=str(ctx.config.get("strict_references", "formal") or "formal"),
        limit=limit,
    )


def load(ctx: Context, request: LoadRequest) -> LoadResult:
    """Preflight, reconcile and create the missing HITs of one batch.

    The input is read as a stream (issue #17), one row held at a time: the preflight in one
    pass, then the reconciliation's passes, then the sending pass, which merges each row as
    it is sent (:mod:`mturkmake.mturk.load_plan`). An input that changes between the passes
    stops the run.

    :returns: what happened; ``result.error`` is set when some HITs were made and then the
        load failed (the caller writes the projection and exits 2).
    :raises MturkmakeError: a failure before any side effect (nothing was sent).
    """
    from mturkmake.mturk import money as spending
    from mturkmake.mturk.batch import (
        Projection,
        batch_rows,
        choose_key_columns,
        edited_error,
        frozen_key_columns,
        growth_limit,
        known_batches,
        pick_batch,
    )
    from mturkmake.mturk.endpoint import open_run_ledger, run_endpoint
    from mturkmake.mturk.hits import truth_marketplace
    from mturkmake.mturk.load_plan import LoadPlan, MarkerRoom, Streamed
    from mturkmake.mturk.recovery import Recoveries

    config = ctx.config
    console = _Console(ctx, request.clt)
    _ensure_qualification_files(ctx, request)
    stream = _streamed_batch(ctx, request, limit=request.limit)
    room = MarkerRoom(request.properties, request.input.name)
    checked = stream.check(on_hit=room, learn_keys=True)
    room.raise_first()
    for warning in checked.warnings:
        ctx.report(Event("warning", warning))
    endpoint = run_endpoint(ctx)
    client = endpoint.client
    marketplace = truth_marketplace(config, endpoint.marketplace)
    ledger = open_run_ledger(config, endpoint)
    result = LoadResult(header=checked.header)
    try:
        ledger.recover(client, Recoveries.of(ctx.host.recoveries()))
        _ = ledger.project  # read or written (or refused) before any cost line or adoption
        requirements = _exclusion_requirements(ctx, endpoint, ledger, request)
        known = known_batches(ledger, request.input_rel)
        batch = pick_batch(
            request.input_rel, request.success_rel, known, new_batch=request.new_batch
        )
        records = batch_rows(ledger, batch, values=False)
        key_columns = choose_key_columns(
            frozen_key_columns(records),
            config.get("key_columns"),
            referenced=checked.referenced,
            header=checked.header,
            source=config.sources.get("key_columns"),
        )
        plan = LoadPlan(
            stream, records, key_columns, limit=request.limit, requirements=requirements
        )
        if not records and request.success_path.exists():
            adopted = _adopt(
                ledger, client, stream, plan, batch=batch, request=request, key_columns=key_columns
            )
            console.say(f"Adopted {adopted} HITs listed in {request.success_rel}.")
            records = batch_rows(ledger, batch, values=False)
            plan = LoadPlan(
                stream, records, key_columns, limit=request.limit, requirements=requirements
            )
        survey = plan.survey()
        if survey.edited and not request.replace_edited:
            raise edited_error(request.input.name, survey.edited, key_columns)
        if records and survey.additions > growth_limit(len(records)) and not request.assume_yes:
            raise ConfirmationRefused(
                f"this run would add {survey.additions} HITs to {batch}, which has "
                f"{len(records)}; nothing was sent",
                hint="check the input file, then run again with --yes to add them",
            )
        if survey.older:
            console.say(
                f"{survey.older} existing HITs were made from an earlier "
                ".question/.properties; they are left as they are (updateHITs changes live HITs)",
                kind="warning",
            )
        result.skipped = survey.skip
        del records  # the sending pass needs none of them (the planner keeps what it needs)
        if survey.todo:
            # Cost line, budget, confirmation (production), then the account's balance
            # (GetAccountBalance): all before the first call that spends.
            spending.begin_money_step(ctx, ledger, survey.cost(), balance_client=client)
            jobs = max(1, int(ctx.options.get("jobs") or 1))
            todo = Streamed(plan.todo(), survey.todo, keep=2 * jobs + 16)
            try:
                _send(
                    ctx,
                    ledger,
                    client,
                    Tracked(ctx, todo, "creating HITs", "HIT", plain=not request.clt),
                    batch=batch,
                    request=request,
                    key_columns=key_columns,
                    result=result,
                    marketplace=marketplace,
                    planned=checked.checked,
                )
            finally:
                todo.close()
            if result.created == 0 and result.failed:
                raise _nothing_created(request, result)
        result.rows = Projection(Path(ledger.db.path), ledger.endpoint, batch)
    except MturkmakeError as exc:
        if result.created == 0:
            raise
        result.rows = Projection(Path(ledger.db.path), ledger.endpoint, batch)
        result.error = exc.one_line()
    finally:
        ledger.close()
    return result


def _adopt(
    ledger: Ledger,
    client: Any,
    stream: StreamedBatch,
    plan: Any,
    *,
    batch: str,
    request: LoadRequest,
    key_columns: Sequence[str],
) -> int:
    """Adopt the HITs of a ``.success`` the ledger does not know (a fresh clone, a deleted
    ``.mturkmake/``): the one step that holds every row's HIT, as adoption matches them
    by their merged questions; it runs once per batch."""
    from mturkmake.mturk.hits import adopt_success

    key = plan.keys.counter()
    keys: list[str] = []
    hits: list[PreparedHIT] = []
    limit = request.limit
    for index, row in enumerate(stream.rows()):
        keys.append(key(row.values))
        if limit is None or index < max(0, limit):
            hits.append(plan._hit(index, row))
    return adopt_success(
        ledger,
        client,
        batch=batch,
        success=request.success_path,
        success_rel=request.success_rel,
        hits=hits,
        keys=keys,
        key_columns=key_columns,
    )


def _ensure_qualification_files(ctx: Context, request: LoadRequest) -> None:
    """Issue 15: make the ``<name>.properties.success`` files the properties name, first."""
    from mturkmake.mturk.exclusion import check_exclusions, ensure_type_files

    check_exclusions(ctx, this_batch=request.input_rel, this_success=request.success_rel)
    for made in ensure_type_files(ctx, request.properties.path):
        _Console(ctx, request.clt).say(f"Made qualification file {made} first.")


def _exclusion_requirements(
    ctx: Context, endpoint: Any, ledger: Ledger, request: LoadRequest
) -> list[dict[str, Any]]:
    """Issue 15: ``exclude_workers_of`` — grant the exclusion qualifications; the
    requirements every HIT of the load gets."""
    from mturkmake.mturk.endpoint import Session
    from mturkmake.mturk.exclusion import EXCLUDE_KEY, exclusion_requirements

    if not ctx.config.get(EXCLUDE_KEY):
        return []
    return exclusion_requirements(
        ctx,
        Session(endpoint, ledger),
        this_batch=request.input_rel,
        this_success=request.success_rel,
    )


def _send(
    ctx: Context,
    ledger: Ledger,
    client: Client,
    todo: Sequence[tuple[PreparedHIT, str, BatchRow | None]],
    *,
    batch: str,
    request: LoadRequest,
    key_columns: Sequence[str],
    result: LoadResult,
    marketplace: Any,
    planned: int,
) -> None:
    """One ledger intent per HIT; a failed row is recorded and the others go on (CLT).

    An error every call would hit (no credentials, no connection, access denied: see
    :func:`~mturkmake.mturk.endpoint.affects_every_call`) stops the loop instead: raised, it
    is one line, and before the first HIT nothing is written (:func:`load` re-raises).
    """
    from mturkmake.errors import ServiceError
    from mturkmake.mturk import calls
    from mturkmake.mturk.endpoint import affects_every_call
    from mturkmake.mturk.hits import HitTypes, create_hit, register_truth
    from mturkmake.mturk.money import budget_of

    console = _Console(ctx, request.clt)
    types = HitTypes(client)
    budget = budget_of(ctx.config)
    first_column = result.header[0] if result.header else ""

    def create(item: tuple[PreparedHIT, str, BatchRow | None]) -> str:
        hit, key, old = item
        return create_hit(
            ledger,
            client,
            types,
            batch=batch,
            hit=hit,
            key=key,
            replaces=old,
            key_columns=key_columns,
            success_rel=request.success_rel,
            budget=budget,
            planned=planned,
        )

    # -j N: up to N calls at once, the first alone, results in input order (issue #17)
    for (hit, _key, _old), done in calls.each(ctx, client, todo, create, ledger=ledger):
        try:
            hit_id = str(done.get())
        except ServiceError as exc:
            if affects_every_call(exc):
                raise
            result.failed.append((hit, exc.one_line()))
            value = hit.values.get(first_column, "")
            console.say(
                f"[ERROR] Error creating HIT {hit.index + 1} ({value}): {exc.one_line()}",
                kind="error",
            )
            continue
        result.created += 1
        register_truth(ctx.config, marketplace, hit_id, hit.values)
        console.say(f"Created HIT {hit.index + 1}: HITId={hit_id}", detail=True)
    result.hit_types = types.ids


def _nothing_created(request: LoadRequest, result: LoadResult) -> BuildError:
    """Every row this run tried failed: the step had no side effect, so it leaves the
    targets as they were (no header-only ``.success``, no ``.failure``), like any step that
    fails before its first side effect; the next run tries the same rows again."""
    hit, message = result.failed[0]
    return BuildError(
        f"no HIT was created: all {len(result.failed)} rows tried failed "
        f"(first, line {hit.line}: {message})",
        file=request.input.name,
    )


# --------------------------------------------------------------------------------------------
# The projection: .success and .failure
# --------------------------------------------------------------------------------------------


def write_projection(result: LoadResult, success: Path, failure: Path | None) -> None:
    """Write ``.success`` (every HIT of the batch, input order) and ``.failure`` (failed rows).

    ``failure`` is written only when rows failed; the caller removes an old one otherwise
    (the CLT deleted it after a run without failures).
    """
    from mturkmake.formats.success import SuccessRow, write_failure, write_success

    with success.open("w", encoding="utf-8", newline="") as stream:
        write_success(stream, (SuccessRow(hit_id, type_id) for hit_id, type_id in result.rows))
    if failure is not None and result.failed:
        with failure.open("w", encoding="utf-8", newline="") as stream:
            write_failure(stream, result.header, [hit.values for hit, _ in result.failed])


def _summary(result: LoadResult) -> str:
    parts = [f"{result.created} HITs created", f"{result.skipped} already existed"]
    if result.failed:
        parts.append(f"{len(result.failed)} failed")
    return ", ".join(parts)


def _failure_line(result: LoadResult, request: LoadRequest) -> str | None:
    if result.error is not None:
        return result.error
    if result.failed:
        hit, message = result.failed[0]
        more = (
            f" (and {len(result.failed) - 1} more; see the .failure file)"
            if len(result.failed) > 1
            else ""
        )
        return f"{request.input.name}:{hit.line}: {message}{more}"
    return None


# --------------------------------------------------------------------------------------------
# Make mode: the %.success rule
# --------------------------------------------------------------------------------------------


def _option(options: Mapping[str, Any], name: str) -> bool:
    return bool(options.get(name.replace("-", "_")) or options.get(name))


def _make_request(job: Job) -> LoadRequest:
    from mturkmake.mturk.preflight import SourceFile

    root = job.context.root
    stem = job.stem
    names = {suffix: f"{stem}.{suffix}" for suffix in ("input", "question", "properties")}
    options = job.context.options
    return LoadRequest(
        input=SourceFile(root / names["input"], names["input"]),
        question=SourceFile(root / names["question"], names["question"]),
        properties=SourceFile(root / names["properties"], names["properties"]),
        input_rel=names["input"],
        success_rel=job.target,
        success_path=root / job.target,
        replace_edited=_option(options, "replace-edited"),
        new_batch=_option(options, "new-batch"),
        assume_yes=_option(options, "yes"),
    )


def build_success(job: Job) -> Outcome:
    """The ``%.success`` action: load the batch, write the projection to the job's outputs."""
    request = _make_request(job)
    result = load(job.context, request)
    failure = job.outputs.get(f"{job.stem}.failure")
    write_projection(result, job.outputs[job.target], failure)
    error = _failure_line(result, request)
    if error is not None:
        return Outcome(complete=False, error=error, message=_summary(result))
    return Outcome(message=_summary(result))


def preview_success(job: Job) -> None:
    """``-n``: preflight, reconcile with the ledger (read-only), print the cost line and
    check the budget, as the real run would — no client, no call, no write. The input is
    read as a stream, as the real run reads it (issue #17)."""
    from mturkmake.mturk.load_plan import MarkerRoom
    from mturkmake.mturk.rehearsal import rehearse_load

    request = _make_request(job)
    ctx = job.context
    stream = _streamed_batch(ctx, request, limit=None)
    room = MarkerRoom(request.properties, request.input.name)
    checked = stream.check(on_hit=room, learn_keys=True)
    room.raise_first()
    for warning in checked.warnings:
        ctx.report(Event("warning", warning, target=job.target))
    rehearsal = rehearse_load(
        ctx,
        stream,
        checked,
        input_rel=request.input_rel,
        success_rel=request.success_rel,
        replace_edited=request.replace_edited,
        new_batch=request.new_batch,
    )
    replaced = f", {rehearsal.replace} to replace" if rehearsal.replace else ""
    ctx.report(
        Event(
            "info",
            f"would reconcile '{job.target}' with {checked.checked} input rows: "
            f"{rehearsal.create} HITs to create, {rehearsal.existing} exist already{replaced} "
            "(loadHITs)",
            target=job.target,
        )
    )


# --------------------------------------------------------------------------------------------
# CLT mode: loadHITs
# --------------------------------------------------------------------------------------------


def _relative(root: Path, path: Path, flag: str) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            f"-{flag} {path} is outside the project root {root}",
            hint="run loadHITs from inside the project (the batch is named by its input path)",
        ) from None


def success_base(input_arg: str, label: str | None) -> str:
    """The base name of ``.success``/``.failure``: the label, else the input path with a
    trailing ``.input`` removed (``MyHITs.input`` → ``MyHITs``, ``data.tab`` → ``data.tab``)."""
    if label:
        return label
    return input_arg[: -len(".input")] if input_arg.endswith(".input") else input_arg


def _maxhits(value: Any) -> int | None:
    if value in (None, "", False):
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise UsageError(f"-maxhits needs a whole number, not '{value}'", hint="e.g. -maxhits 1")
    return int(text)


def handle_load_hits(args: Mapping[str, Any], ctx: Context) -> int:
    """``loadHITs -input … -question … -properties … [-label] [-maxhits] [-sandbox]``."""
    from mturkmake.core.fsio import temp_path_for
    from mturkmake.mturk.preflight import SourceFile
    from mturkmake.plugins.templating import JavaDate, default_today

    if args.get("preview"):  # the page only: no client, no ledger (plugins/preview.py)
        from mturkmake.plugins.preview import handle_preview

        return handle_preview(args, ctx)
    cwd = Path.cwd()
    files = {flag: str(args[flag]) for flag in ("input", "question", "properties")}
    paths = {flag: cwd / value for flag, value in files.items()}
    base = success_base(files["input"], args.get("label"))
    success_path, failure_path = cwd / f"{base}.success", cwd / f"{base}.failure"
    request = LoadRequest(
        input=SourceFile(paths["input"], files["input"]),
        question=SourceFile(paths["question"], files["question"]),
        properties=SourceFile(paths["properties"], files["properties"]),
        input_rel=_relative(ctx.root, paths["input"], "input"),
        success_rel=_relative(ctx.root, success_path, "label"),
        success_path=success_path,
        limit=_maxhits(args.get("maxhits")),
        replace_edited=_option(ctx.options, "replace-edited"),
        new_batch=_option(ctx.options, "new-batch"),
        assume_yes=_option(ctx.options, "yes") or _option(ctx.options, "force"),
        clt=True,
    )
    say = _Console(ctx, clt=True).say
    say("--[Initializing]----------")
    say(f" Input: {files['input']}")
    say(f" Properties: {files['properties']}")
    say(f" Question File: {files['question']}")
    say(" Preview mode disabled")
    say("--[Loading HITs]----------")
    say(f"  Start time: {JavaDate(default_today())}")
    started = time.monotonic()
    result = load(ctx, request)
    temps = (temp_path_for(success_path), temp_path_for(failure_path))
    try:
        write_projection(result, temps[0], temps[1])
        os.replace(temps[0], success_path)
        if temps[1].exists():
            os.replace(temps[1], failure_path)
        else:
            failure_path.unlink(missing_ok=True)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    _clt_summary(ctx, result, started)
    error = _failure_line(result, request)
    if error is not None:
        ctx.report(Event("error", f"mturkmake: {error}"))
        return 2
    return 0


def _clt_summary(ctx: Context, result: LoadResult, started: float) -> None:
    from mturkmake.plugins.templating import JavaDate, default_today

    say = _Console(ctx, clt=True).say
    if result.skipped:
        say(f"Skipped {result.skipped} rows that already have HITs.")
    for type_id in result.hit_types:
        site = WORKER_SITES.get(settings(ctx.config).kind)
        say("")
        say(f"You may see your HIT(s) with HITTypeId '{type_id}' here: ")
        say("")
        if site is None:
            say("  (local marketplace: no worker site; try 'mturkmake marketplace status')")
        else:
            say(f"  {site}/mturk/preview?groupId={type_id} ")
    say("")
    # seed 003's closing lines
    say(f"  End time: {JavaDate(default_today())}")
    say("--[Done Loading HITs]----------")
    say(f"  Total load time: {int(time.monotonic() - started)} seconds.")
    say(f"  Successfully loaded {result.created} HITs.")
    if result.failed:
        say(f"  Failed to load {len(result.failed)} HITs.")


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------


def _command_spec() -> CommandSpec:
    from mturkmake.plugins import clt_catalog

    return clt_catalog.command("loadHITs").spec(handle_load_hits)


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``loadHITs`` (and its alias ``load_hits``)."""
    return (_command_spec(),)


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.success`` (also ``%.failure``) from ``%.input %.question %.properties``."""
    return (
        Rule(
            "%.success",
            ("%.input", "%.question", "%.properties"),
            build_success,
            also_makes=("%.failure",),
            name="loadHITs",
            preview=preview_success,
        ),
    )


@hookimpl
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """``key_columns``: the input columns that identify a row (DESIGN §2)."""
    return (
        ConfigKey(
            "key_columns",
            list,
            None,
            "input columns that identify a row (default: those the templates reference, "
            "frozen with a batch's first HIT)",
            env=False,
        ),
    )


@hookimpl
def mturkmake_add_options(parser: argparse.ArgumentParser) -> None:
    """``--replace-edited`` and ``--new-batch`` for make mode."""
    parser.add_argument(
        "--replace-edited",
        action="store_true",
        help="expire and replace the HITs of input rows whose key columns changed",
    )
    parser.add_argument(
        "--new-batch",
        action="store_true",
        help="allow posting an input again under a new label (its cost is shown first)",
    )


__all__ = [
    "LoadRequest",
    "LoadResult",
    "build_success",
    "handle_load_hits",
    "load",
    "success_base",
    "write_projection",
]


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """How this command's pending intents are resolved after a crash (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [
        recovery_for(operation)
        for operation in ("CreateHIT", "CreateHITWithHITType", "UpdateExpirationForHIT")
    ]
