"""loadHITs and the ``%.success`` rule: one HIT per input row, at most once, ever (DESIGN §2).

Both ways in — ``mturkmake loadHITs -input survey.input …`` and ``mturkmake survey.success`` —
run :func:`mturkmake.mturk.load.load` (the preflight, the reconciliation against the ledger,
the cost line, the budget and the confirmation, one ledger intent per HIT), then write the
projection: ``.success`` lists the ledger's records of the batch, never "what this run did",
so a crashed or partial run heals on the next one. This module holds the hooks, the rule,
the CLT command's console and the projection.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import UsageError
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

    from mturkmake.hookspecs import Config, Context
    from mturkmake.mturk.load import LoadRequest, LoadResult

# The batch and preflight modules load when a load or its preview runs: a no-op run only
# needs this module's rule, command and keys (issue #17).
WORKER_SITES = {
    "production": "https://www.mturk.com",
    "sandbox": "https://workersandbox.mturk.com",
}


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


def _progress(ctx: Context, request: LoadRequest) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """The creations' progress: a bar on a terminal, plain lines otherwise (make mode)."""
    return lambda todo: Tracked(ctx, todo, "creating HITs", "HIT", plain=not request.clt)


def _option(options: Mapping[str, Any], name: str) -> bool:
    return bool(options.get(name.replace("-", "_")) or options.get(name))


def _make_request(job: Job) -> LoadRequest:
    from mturkmake.mturk.load import LoadRequest
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
    from mturkmake.mturk.load import load

    request = _make_request(job)
    result = load(job.context, request, progress=_progress(job.context, request))
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
    from mturkmake.mturk.load import streamed_batch
    from mturkmake.mturk.load_plan import MarkerRoom
    from mturkmake.mturk.rehearsal import rehearse_load

    request = _make_request(job)
    ctx = job.context
    stream = streamed_batch(ctx, request, limit=None)
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
    from mturkmake.mturk.load import LoadConsole, LoadRequest, load
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
    say = LoadConsole(ctx, clt=True).say
    say("--[Initializing]----------")
    say(f" Input: {files['input']}")
    say(f" Properties: {files['properties']}")
    say(f" Question File: {files['question']}")
    say(" Preview mode disabled")
    say("--[Loading HITs]----------")
    say(f"  Start time: {JavaDate(default_today())}")
    started = time.monotonic()
    result = load(ctx, request, progress=_progress(ctx, request))
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
    from mturkmake.mturk.load import LoadConsole
    from mturkmake.plugins.templating import JavaDate, default_today

    say = LoadConsole(ctx, clt=True).say
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
    "build_success",
    "handle_load_hits",
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
