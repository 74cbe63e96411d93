"""One load: one HIT per input row, at most once, ever (DESIGN §2) — what loadHITs and the
``%.success`` rule run (:mod:`mturkmake.plugins.load_hits`).

:func:`load` runs the preflight (:mod:`.preflight_stream`), then the reconciliation against
the ledger (:mod:`.batch`, :mod:`.load_plan`), then the cost line, the budget and
(production) the confirmation, then one ledger intent per HIT, each CreateHITWithHITType
carrying its intent's token. ``.success`` is written as the projection of the ledger's
records of the batch, never of "what this run did", so a crashed or partial run heals on the
next one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import BuildError, ConfirmationRefused, MturkmakeError
from mturkmake.hookspecs import Event
from mturkmake.mturk.settings import settings

if TYPE_CHECKING:
    from mturkmake.hookspecs import Context, TemplateEngine
    from mturkmake.mturk.batch import BatchRow
    from mturkmake.mturk.client import Client
    from mturkmake.mturk.ledger import Ledger
    from mturkmake.mturk.preflight import PreparedHIT, SourceFile
    from mturkmake.mturk.preflight_stream import StreamedBatch

__all__ = ["LoadConsole", "LoadRequest", "LoadResult", "load", "streamed_batch"]


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


class LoadConsole:
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


def streamed_batch(ctx: Context, request: LoadRequest, *, limit: int | None) -> StreamedBatch:
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


def load(
    ctx: Context,
    request: LoadRequest,
    *,
    progress: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
) -> LoadResult:
    """Preflight, reconcile and create the missing HITs of one batch.

    The input is read as a stream (issue #17), one row held at a time: the preflight in one
    pass, then the reconciliation's passes, then the sending pass, which merges each row as
    it is sent (:mod:`mturkmake.mturk.load_plan`). An input that changes between the passes
    stops the run.

    :param progress: wraps the rows to create (the reporter's ``Tracked``): iterated once per
        finished creation, so a bar counts HITs made.
    :returns: what happened; ``result.error`` is set when some HITs were made and then the
        load failed (the caller writes the projection and exits 2).
    :raises MturkmakeError: a failure before any side effect (nothing was sent).
    """
    from mturkmake.mturk import money as spending
    from mturkmake.mturk.batch import (
        Projection,
        batch_key_columns,
        batch_rows,
        edited_error,
        growth_limit,
        known_batches,
        pick_batch,
    )
    from mturkmake.mturk.endpoint import open_run_ledger, run_endpoint
    from mturkmake.mturk.hits import truth_marketplace
    from mturkmake.mturk.load_plan import LoadPlan, MarkerRoom, Streamed
    from mturkmake.mturk.recovery import Recoveries

    config = ctx.config
    console = LoadConsole(ctx, request.clt)
    _ensure_qualification_files(ctx, request)
    stream = streamed_batch(ctx, request, limit=request.limit)
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
        key_columns = batch_key_columns(
            config, records, referenced=checked.referenced, header=checked.header
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
                    progress(todo) if progress is not None else todo,
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
        LoadConsole(ctx, request.clt).say(f"Made qualification file {made} first.")


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

    console = LoadConsole(ctx, request.clt)
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
