"""updateQualificationType: change a qualification type's properties, test or status.

``(-qualtypeid ID | -input FILE) [-properties F] [-question Q] [-answer A]
[-status Active|Inactive]`` (seed 003; ``-input`` as assignQualification's). The properties
file sends only the keys it sets (MTurk cannot change the name); ``-status`` overrides its
``status``; a new test gets the CLT's default duration when the file gives none. Files are
checked before the call. Output as seed 003::

    Updated qualification type RWFZTKZ55ZPZXN1C8TDZ
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mturkmake.errors import UsageError
from mturkmake.hookspecs import CommandSpec, Context, Flag, Recovery, hookimpl
from mturkmake.mturk.prompts import say

__all__ = ["handle_update_qualification_type"]

STATUSES = {"active": "Active", "inactive": "Inactive"}


def _optional(args: Mapping[str, Any], flag: str, cwd: Path) -> tuple[Path, str] | None:
    value = args.get(flag)
    return None if not value else (cwd / str(value), str(value))


def handle_update_qualification_type(args: Mapping[str, Any], ctx: Context) -> int:
    """Send one UpdateQualificationType with what the flags and files give."""
    from mturkmake.mturk.endpoint import open_session
    from mturkmake.mturk.qualification_types import (
        TypeFiles,
        engine_of,
        type_files_params,
        update_type,
    )
    from mturkmake.mturk.qualifications import require_type, type_id_of

    if not args.get("qualtypeid") and not args.get("input"):
        raise UsageError(
            "updateQualificationType: give -qualtypeid or -input",
            hint="see 'mturkmake updateQualificationType -help'",
        )
    type_id, source = type_id_of(args)
    cwd = Path.cwd()
    files = TypeFiles(
        _optional(args, "properties", cwd),
        _optional(args, "question", cwd),
        _optional(args, "answer", cwd),
    )
    params = type_files_params(files, engine_of(ctx), for_create=False)
    if args.get("status"):
        status = STATUSES.get(str(args["status"]).strip().lower())
        if status is None:
            raise UsageError(
                f"-status must be Active or Inactive, not '{args['status']}'",
                hint="e.g. -status Inactive",
            )
        params["QualificationTypeStatus"] = status
    if not params:
        raise UsageError(
            "updateQualificationType: nothing to update",
            hint="give -properties, -question, -answer or -status",
        )
    with open_session(ctx) as session:
        require_type(session.client, type_id, source=source)
        update_type(session, type_id, params)
    say(ctx, f"Updated qualification type {type_id}")
    return 0


def command_spec() -> CommandSpec:
    """The catalogue's spec, with ``-qualtypeid`` optional and ``-input`` added: the CLT
    also read the id from a qualification id file (the reference's table omits it)."""
    import dataclasses

    from mturkmake.plugins import clt_catalog

    spec = clt_catalog.command("updateQualificationType").spec(
        handle_update_qualification_type,
        extra_flags=(
            Flag(
                "input",
                "FILE",
                "the Qualification ID file, createQualificationType's .success "
                "(required unless -qualtypeid is given)",
            ),
        ),
    )
    flags = tuple(
        dataclasses.replace(
            flag, required=False, help=f"{flag.help} (required unless -input is given)"
        )
        if flag.name == "qualtypeid"
        else flag
        for flag in spec.flags
    )
    return dataclasses.replace(spec, flags=flags)


@hookimpl
def mturkmake_commands() -> Sequence[CommandSpec]:
    """``updateQualificationType`` (and ``update_qualification_type``)."""
    return (command_spec(),)


@hookimpl
def mturkmake_recoveries() -> Sequence[Recovery]:
    """A pending update is resolved by GetQualificationType (its values are there or not)."""
    from mturkmake.mturk.qualification_types import update_type_recovery

    return [update_type_recovery()]
