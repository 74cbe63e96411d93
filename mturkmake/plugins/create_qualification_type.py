"""createQualificationType and the ``%.properties.success`` rule (seed 003; DESIGN §2).

``createQualificationType -properties F [-question Q] [-answer A] [-noretry]`` reads the
qualification properties, Velocity-merges the test and the answer key without an input row
(as the CLT did: ``site_filter_qual``'s key is a ``#foreach``), checks the key against the
test, then creates the type through the ledger and writes ``F.success`` (``qualtypeid`` and
the id). Output as seed 003::

    Created qualification type: KYJ4GZZ5G3M6TDCEWYF0
    You can take the test here:
    https://workersandbox.mturk.com/mturk/requestqualification?qualificationId=KYJ4…

In make mode, ``mturkmake skill.properties.success`` does the same from ``skill.properties``
(+ ``skill.question`` and ``skill.answer`` when present); the graph prefers this rule over
``%.success`` (shorter stem). A second run, or a lost ``.success``, never creates a second
type: the ledger (or, on a fresh clone, the type's unique name on MTurk) gives the id back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.hookspecs import (
    CommandSpec,
    Config,
    Context,
    Event,
    Job,
    Outcome,
    Recovery,
    Rule,
    hookimpl,
)
from mturkmake.mturk.prompts import say
from mturkmake.mturk.qualification_types import (
    TypeFiles,
    build_type,
    engine_of,
    write_type_id,
)

__all__ = ["build_properties_success", "handle_create_qualification_type"]


def _optional(args: Mapping[str, Any], flag: str, cwd: Path) -> tuple[Path, str] | None:
    value = args.get(flag)
    return None if not value else (cwd / str(value), str(value))


def handle_create_qualification_type(args: Mapping[str, Any], ctx: Context) -> int:
    """``createQualificationType -properties F [-question Q] [-answer A] [-noretry]``."""
    from mturkmake.mturk.qualifications import test_site

    cwd = Path.cwd()
    name = str(args["properties"])
    files = TypeFiles(
        (cwd / name, name), _optional(args, "question", cwd), _optional(args, "answer", cwd)
    )
    created = build_type(ctx, files, no_retry=bool(args.get("noretry")))
    write_type_id(cwd / f"{name}.success", created.type_id)
    if created.created:
        say(ctx, f"Created qualification type: {created.type_id}")
    else:
        say(
            ctx,
            f"Qualification type {created.type_id} was {created.how}; not created again",
        )
    site = test_site(ctx, created.type_id)
    if site is not None and files.question is not None:
        say(ctx, "You can take the test here: ")
        say(ctx, site)
    return 0


# --------------------------------------------------------------------------------------------
# Make mode: %.properties.success
# --------------------------------------------------------------------------------------------


def _job_files(job: Job) -> TypeFiles:
    root = job.context.root
    present = set(job.optional_prerequisites)
    stem = job.stem

    def maybe(suffix: str) -> tuple[Path, str] | None:
        name = f"{stem}.{suffix}"
        return (root / name, name) if name in present else None

    name = f"{stem}.properties"
    return TypeFiles((root / name, name), maybe("question"), maybe("answer"))


def build_properties_success(job: Job) -> Outcome:
    """The ``%.properties.success`` action."""
    created = build_type(job.context, _job_files(job))
    write_type_id(job.outputs[job.target], created.type_id)
    if created.created:
        return Outcome(message=f"qualification type {created.type_id} created")
    # As with HITs, changed files change nothing remote by themselves: say so.
    return Outcome(
        message=f"qualification type {created.type_id} {created.how}; not created again "
        "(updateQualificationType changes it)"
    )


def preview_properties_success(job: Job) -> None:
    """``-n``: check the files only."""
    from mturkmake.mturk.qualification_types import type_files_params

    params = type_files_params(_job_files(job), engine_of(job.context), for_create=True)
    job.context.report(
        Event(
            "info",
            f"would create qualification type '{params['Name']}' once "
            "(createQualificationType; an existing one is reused)",
            target=job.target,
        )
    )


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``createQualificationType`` (and ``create_qualification_type``)."""
    from mturkmake.plugins import clt_catalog

    return (clt_catalog.command("createQualificationType").spec(handle_create_qualification_type),)


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.properties.success`` from ``%.properties`` [+ ``%.question``, ``%.answer``]."""
    return (
        Rule(
            "%.properties.success",
            ("%.properties",),
            build_properties_success,
            optional_prerequisites=("%.question", "%.answer"),
            name="createQualificationType",
            preview=preview_properties_success,
        ),
    )


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """A crash between the call and the file is resolved by the type's name (DESIGN §3)."""
    from mturkmake.mturk.lookups import recovery_for

    return [recovery_for("CreateQualificationType")]
