"""getResults: the CLT command and the ``%.results`` make rule (DESIGN §2; clt-formats.md §2).

- ``mturkmake getResults -successfile F -outputfile O [-namevaluepairs] [-answerPrefix P]``
  fetches every HIT of ``F`` (a ``.success`` made by mturkmake or by the CLT) and writes
  exactly the CLT's columns, printing seed 003's console output.
- ``mturkmake survey.results`` (rule ``%.results: %.success``) writes the CLT's columns
  plus ``Input.<column>`` (the raw input values the ledger recorded for each HIT's row).
  The HITs fetched are every HIT the ledger knows for the batch, whatever ``.success``
  says: a stale or hand-edited ``.success`` never narrows what is fetched (and so what
  ``%.approved`` reviews); it is reported in one warning line (:mod:`mturkmake.mturk.coverage`).
  Assignments are cached in ``state.db``; a poll fetches only the HITs not yet final
  (:mod:`mturkmake.mturk.results_cache`). The target is *incomplete* until every HIT is
  final. ``--wait[=TIMEOUT]`` / ``--poll SECONDS`` poll until final
  (:mod:`mturkmake.mturk.waiting`); Ctrl-C leaves the target incomplete, never partial.

Before either exits, unreviewed work that MTurk approves automatically within 24 hours is
warned about, on every endpoint (:func:`mturkmake.mturk.waiting.auto_approval_warning`).

Times are written in config ``results_timezone`` (an IANA name; unset or ``local``: the
machine's zone, as the CLT did). This module is loaded on every run: everything heavy
(boto3, defusedxml, tqdm) is imported inside the functions that need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake import hookimpl
from mturkmake.core.fsio import atomic_write
from mturkmake.core.state import StateDB
from mturkmake.errors import ExitCode, ServiceError, UsageError
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
from mturkmake.mturk.settings import settings

# The results and success formats, the cache and the coverage load when a fetch runs: a
# no-op run only needs this module's rule and command (issue #17).
if TYPE_CHECKING:
    from mturkmake.formats.success import SuccessRow
    from mturkmake.mturk.endpoint import Endpoint
    from mturkmake.mturk.results_cache import ResultsCache, Snapshot
    from mturkmake.mturk.results_fetch import Fetcher
    from mturkmake.mturk.waiting import WaitSettings

__all__ = [
    "ANSWER_PREFIX_FLAG",
    "build_results",
    "get_results_command",
]

#: The CLT's ``-answerPrefix`` (GetResults.java), missing from seed 003's table.
ANSWER_PREFIX_FLAG = Flag(
    "answerPrefix", "PREFIX", "prefix of the answer columns (default 'Answer.')", default="Answer."
)


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
    from mturkmake.plugins import clt_catalog

    return (
        clt_catalog.command("getResults").spec(
            get_results_command, extra_flags=(ANSWER_PREFIX_FLAG,)
        ),
    )


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.results: %.success``."""
    return (
        Rule(
            "%.results", ("%.success",), build_results, name="getResults", preview=preview_results
        ),
    )


def preview_results(job: Job) -> None:
    """``-n``: say how many HITs a poll would fetch (those not final in the cache)."""
    import sqlite3

    from mturkmake.mturk.results_render import STATE_FILE, read_success_file

    ctx = job.context
    success_rel = job.prerequisites[0]
    if not job.path(success_rel).exists():
        _say(ctx, f"would fetch the work of the HITs {success_rel} will list", job.target)
        return
    hit_ids = [r.hit_id for r in read_success_file(job.path(success_rel), shown=success_rel)]
    final: set[str] = set()
    path = ctx.config.state_dir / STATE_FILE
    if path.exists():  # read-only: a dry run writes nothing, not even a schema
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT hit_id FROM results_hit WHERE endpoint = ? AND final = 1",
                (settings(ctx.config).identity,),
            ).fetchall()
            final = {str(r[0]) for r in rows} & set(hit_ids)
        except sqlite3.OperationalError:  # no cache yet
            final = set()
        finally:
            conn.close()
    _say(
        ctx,
        f"would poll {len(hit_ids) - len(final)} of the {len(hit_ids)} HITs in {success_rel} "
        f"({len(final)} final already) and write {job.target} (getResults)",
        job.target,
    )


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
    from mturkmake.mturk.coverage import batch_policies, ledger_batch, ledger_first, reading_project
    from mturkmake.mturk.endpoint import run_endpoint
    from mturkmake.mturk.results_fetch import Fetcher
    from mturkmake.mturk.results_render import completion_lines, read_success_file, render_results

    success_arg = str(args["successfile"])
    output_arg = str(args["outputfile"])
    listed = read_success_file(Path(success_arg), shown=success_arg)
    success_rel = _relative_to_root(ctx.root, Path(success_arg))
    hits = ledger_first(
        listed,
        ledger_batch(ctx.config, success_rel) if success_rel is not None else None,
        shown=success_arg,
        target=output_arg,
        rebuild="delete it and run the same loadHITs command again",
    )
    if hits.warning is not None:
        _say(ctx, hits.warning, kind="warning")
    rows = list(hits.rows)
    endpoint = run_endpoint(ctx)
    policies = batch_policies(ctx.config, success_rel) if success_rel is not None else {}
    fetcher = Fetcher(
        endpoint.client,
        _cache(ctx.config),
        policies=policies,
        jobs=_jobs(ctx, endpoint.client),
        project=reading_project(ctx.config),
        source=success_arg,
    )

    def retrieved(n: int, total: int, hit_id: str) -> None:
        _say(ctx, f"Retrieved HIT {n}/{total}, {hit_id}", kind="progress")

    _say(ctx, "--[Retrieving Results]----------", kind="progress")
    snapshot = fetcher.poll(rows, refresh=True, keep_going=True, progress=retrieved)
    _say(ctx, "--[Done Retrieving Results]----------", kind="progress")
    for hit_id, error in snapshot.failures.items():
        _say(ctx, f"Error retrieving HIT {hit_id}: {error}", kind="error")
    if (
        rows
        and len(snapshot.failures) == len(snapshot.hit_ids)
        and all(HIT_UNKNOWN in error for error in snapshot.failures.values())
    ):  # none of them: a copied folder or a reset marketplace, not a passing fault
        unknown = unknown_hits_error(success_arg, len(rows), settings(ctx.config).endpoint)
        _say(ctx, f"mturkmake: {unknown.one_line()}", kind="error")
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
    _warn_auto_approval(ctx, snapshot, endpoint, output_arg)
    return int(ExitCode.ERROR if snapshot.failures else ExitCode.OK)


def _relative_to_root(root: Path, path: Path) -> str | None:
    """``path`` relative to the project root, as the ledger names ``.success`` files;
    ``None`` outside the root (no batch of this project writes there)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def _endpoint_now(ctx: Context, endpoint: Endpoint, market: Any = None) -> datetime:
    """The endpoint's time: the local marketplace's virtual clock on ``local`` (the client
    factory may hand out a bare client, whose :class:`Endpoint` runs on wall time)."""
    if endpoint.marketplace is not None:
        return endpoint.marketplace.now()  # type: ignore[no-any-return]
    if market is None:
        market = _local_market(ctx)
    if market is not None:
        return market.now()  # type: ignore[no-any-return]
    return endpoint.clock()


def _warn_auto_approval(
    ctx: Context,
    snapshot: Snapshot,
    endpoint: Endpoint,
    label: str,
    *,
    target: str | None = None,
    market: Any = None,
) -> bool:
    """Warn when unreviewed work auto-approves within 24 h, on the endpoint's clock (the
    local marketplace's virtual one); returns whether it warned."""
    from mturkmake.mturk.waiting import auto_approval_warning

    if not snapshot.unreviewed():
        return False  # nothing to warn about: no need to read a clock
    warning = auto_approval_warning(snapshot, _endpoint_now(ctx, endpoint, market), label)
    if warning is None:
        return False
    _say(ctx, warning, target, "warning")
    return True


def _jobs(ctx: Context, client: Any) -> int:
    """How many HITs a poll fetches at once (issue #17): ``-j``, one at a time where calls
    wait on nothing (:func:`~mturkmake.mturk.calls.call_jobs`)."""
    from mturkmake.mturk.calls import call_jobs

    return call_jobs(ctx, client)


def _cache(config: Config) -> ResultsCache:
    from mturkmake.mturk.results_cache import ResultsCache
    from mturkmake.mturk.results_render import STATE_FILE

    return ResultsCache(StateDB(config.state_dir / STATE_FILE), settings(config).identity)


# --------------------------------------------------------------------------------------------
# The make rule
# --------------------------------------------------------------------------------------------


def build_results(job: Job) -> Outcome:
    """The action of ``%.results``: fetch what is not final, wait if asked, write the file.

    Incomplete until every HIT is final. A service error raises (nothing is written; what
    was fetched stays cached, so the next run resumes). Ctrl-C marks the target incomplete.
    """
    from mturkmake.mturk.coverage import ledger_batch, ledger_first
    from mturkmake.mturk.results_render import (
        STATE_FILE,
        batch_inputs,
        read_success_file,
        render_results,
    )

    ctx = job.context
    config = ctx.config
    success_rel = job.prerequisites[0]
    listed = read_success_file(job.path(success_rel), shown=success_rel)
    hits = ledger_first(
        listed,
        ledger_batch(config, success_rel),
        shown=success_rel,
        target=job.target,
        rebuild=f"delete it and run 'mturkmake {success_rel}'",
    )
    if hits.warning is not None:
        _say(ctx, hits.warning, job.target, "warning")
    inputs = batch_inputs(config, f"{job.stem}.input", success_rel)
    try:
        snapshot, timed_out = _fetch_and_wait(job, list(hits.rows))
    except ServiceError as exc:
        if exc.turk_error_code != HIT_UNKNOWN:
            raise
        raise unknown_hits_error(success_rel, len(hits.rows), settings(config).endpoint) from None
    except KeyboardInterrupt:
        StateDB(config.state_dir / STATE_FILE).mark_incomplete(job.target)
        raise
    data = render_results(snapshot, config, inputs=inputs)
    job.outputs[job.target].write_bytes(data)
    message = (
        f"{snapshot.done}/{snapshot.total} assignments, "
        f"{snapshot.final_hits}/{len(snapshot.hit_ids)} HITs final"
    )
    if timed_out is not None:  # make must not carry on as if the work were done
        return Outcome(complete=False, error=timed_out, message=message)
    return Outcome(complete=snapshot.final, message=message)


#: MTurk's error code for a HIT it does not know.
HIT_UNKNOWN = "AWS.MechanicalTurk.HITDoesNotExist"


def unknown_hits_error(success_rel: str, hits: int, endpoint: str) -> UsageError:
    """A ``.success`` listing HITs the endpoint does not know: copied, or the marketplace
    was reset. Says so, and what to do, instead of MTurk's bare "does not exist"."""
    return UsageError(
        f"the {endpoint} endpoint does not know the HITs this file lists ({hits} HITs): it was "
        "made elsewhere (a copied folder, another endpoint, a reset marketplace)",
        file=success_rel,
        hint=f"set 'endpoint' to where they were created, or remove {success_rel} to post "
        "the batch again",
    )


def pending_line(snapshot: Snapshot, waited: float | None) -> str:
    """What a ``--wait=TIMEOUT`` that ran out leaves pending, naming the first HITs."""
    pending = snapshot.open_hit_ids
    shown = ", ".join(pending[:3]) + (f" and {len(pending) - 3} more" if len(pending) > 3 else "")
    return (
        f"--wait timed out after {waited or 0:g} s: {len(pending)} of {len(snapshot.hit_ids)} "
        f"HITs not final ({shown}), {snapshot.done}/{snapshot.total} assignments submitted; "
        "run it again to poll on"
    )


def _fetch_and_wait(job: Job, rows: Sequence[SuccessRow]) -> tuple[Snapshot, str | None]:
    """Poll (and wait, with ``--wait``); before returning, warn about unreviewed work that
    auto-approves within 24 h — on every endpoint, unless the wait already said so. The
    second value is the line saying what is pending when ``--wait=TIMEOUT`` ran out."""
    from mturkmake.mturk.coverage import batch_policies, reading_project
    from mturkmake.mturk.endpoint import run_endpoint
    from mturkmake.mturk.results_fetch import Fetcher
    from mturkmake.mturk.waiting import wait_settings

    ctx = job.context
    wait = wait_settings(ctx.options)  # a bad --wait stops before any call
    endpoint = run_endpoint(ctx)
    policies = batch_policies(ctx.config, job.prerequisites[0])
    market = endpoint.marketplace
    fetcher = Fetcher(
        endpoint.client,
        _cache(ctx.config),
        policies=policies,
        jobs=_jobs(ctx, endpoint.client),
        exact_counts=market is not None,  # the in-process local marketplace
        project=reading_project(ctx.config),
        source=job.prerequisites[0],
    )
    if wait is not None and market is None:
        market = _local_market(ctx)
    # Before the first poll: a local wait then fetches only the HITs changed after it.
    since = market.change_mark() if wait is not None and market is not None else None
    snapshot = fetcher.poll(rows, progress=_poll_progress(ctx, job.target))
    warned = False
    timed_out: str | None = None
    if wait is not None and not snapshot.final:
        snapshot, warned, timed_out = _wait(
            job, fetcher, rows, snapshot, wait=wait, market=market, since=since
        )
    if not warned:
        _warn_auto_approval(ctx, snapshot, endpoint, job.target, target=job.target, market=market)
    return snapshot, timed_out


def _wait(
    job: Job,
    fetcher: Fetcher,
    rows: Sequence[SuccessRow],
    snapshot: Snapshot,
    *,
    wait: WaitSettings,
    market: Any,
    since: int | None = None,
) -> tuple[Snapshot, bool, str | None]:
    """``--wait``: poll until final; the last snapshot, whether a warning about
    auto-approval was given on the way, and the pending line if the timeout ran out.

    :param since: the local marketplace's change mark before ``snapshot`` was polled: the
        wait then fetches only the HITs that change (issue #17).
    """
    from mturkmake.mturk.waiting import ProgressView, Tracked, wait_until_final

    ctx = job.context
    warned: list[str] = []

    def warn(line: str) -> None:
        warned.append(line)
        _say(ctx, line, job.target, "warning")

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
        warn=warn,
        market=market,
        became_final=fetcher.all_final_now,
        tracked=None
        if since is None
        else Tracked(
            since,
            lambda snapshot, changed: fetcher.refresh(snapshot, rows, changed),
            fetcher.first_open,
        ),
    )
    if result.reason == "timeout":
        return result.snapshot, bool(warned), pending_line(result.snapshot, wait.timeout)
    if result.message:
        _say(ctx, result.message, job.target, "warning")
    # A local wait that stopped before an auto-approval said so in its message.
    return result.snapshot, bool(warned) or result.reason == "auto-approval", None


def _poll_progress(ctx: Context, target: str) -> Any:
    """A bar (or plain lines when piped) while the first poll fetches each open HIT."""
    from mturkmake.plugins.reporter import PROGRESS

    def progress(done: int, total: int, hit_id: str) -> None:
        data = {"task": f"polling {target}", "done": done, "total": total, "unit": "HIT"}
        ctx.report(Event(PROGRESS, "", target=target, data=data))

    return progress


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
