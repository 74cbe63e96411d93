"""Qualifications a HIT batch needs before it is loaded (issue 15).

Two things happen here, each called once from the load (``mturk/load.py``):

**Qualification files.** A HIT properties file may name a qualification by its id file,
``qualification.1:skill.properties.success``. :func:`ensure_type_files` creates each such
type first when its file is missing and ``skill.properties`` exists (the same code as the
``%.properties.success`` rule: once ever, through the ledger), and :func:`resolve_type_files`
puts the id in place of the file name before the properties are parsed (the preflight).

**Never the same worker twice.** ``exclude_workers_of = ["pilot", …]`` names earlier batches
of this project. For each, mturkmake keeps a project-private qualification type
("mturkmake: worked on pilot (…)"), grants it to every worker who did an assignment of that
batch — once per worker, through the ledger, with notifications off — and adds a
``DoesNotExist`` requirement on it, guarding discovery, preview and accept, to every HIT of
the batch being loaded. It costs nothing: qualification types and grants are free. Limits:
only the workers known when the batch is loaded are excluded (a load that adds HITs later
grants the newcomers first); a worker can see the qualification's name (not its purpose)
among their qualifications; MTurk allows at most 10 requirements per HIT.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ConfigError, FormatError
from mturkmake.formats.javaprops import Property
from mturkmake.hookspecs import ConfigKey, Context

if TYPE_CHECKING:  # the endpoint loads when a load runs, not with the config key (#17)
    from mturkmake.mturk.endpoint import Session

__all__ = [
    "EXCLUDE_KEY",
    "apply_exclusions",
    "check_exclusions",
    "ensure_type_files",
    "exclusion_config_key",
    "exclusion_requirements",
    "resolve_type_files",
    "with_requirements",
    "workers_of",
]

EXCLUDE_KEY = "exclude_workers_of"
_TYPE_KEY = re.compile(r"qualification\.[0-9]+")
_ASSIGNMENT_STATUSES = ("Submitted", "Approved", "Rejected")
MAX_REQUIREMENTS = 10
#: The id a preview shows for a qualification type the load will create first.
NOT_YET_CREATED = "NOTYETCREATED"


def exclusion_config_key() -> ConfigKey:
    """``exclude_workers_of``: batches whose workers may not work on this project's loads."""
    return ConfigKey(
        EXCLUDE_KEY,
        list,
        [],
        "batches of this project (by name, e.g. pilot) whose workers may not take part in "
        "the batches loaded now",
    )


# --------------------------------------------------------------------------------------------
# qualification.N:<file>.success
# --------------------------------------------------------------------------------------------


def _is_file_reference(prop: Property) -> bool:
    return bool(_TYPE_KEY.fullmatch(prop.key)) and prop.value.strip().endswith(".success")


def resolve_type_files(props: Sequence[Property], base: Path, source: str) -> list[Property]:
    """``qualification.N:<id file>`` → ``qualification.N:<its qualtypeid>``.

    :raises FormatError: the id file is missing or is not a qualification id file.
    """
    from mturkmake.formats.workfiles import read_qualification_id

    resolved: list[Property] = []
    for prop in props:
        if not _is_file_reference(prop):
            resolved.append(prop)
            continue
        name = prop.value.strip()
        path = base / name
        makeable = name.endswith(".properties.success") and (base / name[:-8]).is_file()
        if not path.is_file() and makeable:
            # The load makes it first (ensure_type_files); a preview (-n) only checks.
            resolved.append(Property(prop.key, NOT_YET_CREATED, prop.line))
            continue
        if not path.is_file():
            raise FormatError(
                f"{prop.key}: the qualification file '{name}' does not exist",
                file=source,
                line=prop.line,
                hint=f"make it first: mturkmake {name}",
            )
        with path.open("rb") as stream:
            type_id = read_qualification_id(stream, name)
        resolved.append(Property(prop.key, type_id, prop.line))
    return resolved


def ensure_type_files(ctx: Context, properties: Path) -> list[str]:
    """Create the qualification types a HIT properties file names by a missing
    ``<name>.properties.success`` whose ``<name>.properties`` exists; returns their files."""
    from mturkmake.formats import javaprops
    from mturkmake.mturk.qualification_types import TypeFiles, build_type, write_type_id

    if not properties.is_file():
        return []
    made: list[str] = []
    for prop in javaprops.parse(javaprops.read_text(properties), source=str(properties)):
        name = prop.value.strip()
        if not _is_file_reference(prop) or not name.endswith(".properties.success"):
            continue
        target = properties.parent / name
        source = properties.parent / name[: -len(".success")]
        if target.exists() or not source.is_file():
            continue
        stem = str(source)[: -len(".properties")]

        def optional(suffix: str, stem: str = stem) -> tuple[Path, str] | None:
            path = Path(f"{stem}.{suffix}")
            return (path, path.name) if path.is_file() else None

        files = TypeFiles((source, source.name), optional("question"), optional("answer"))
        created = build_type(ctx, files)
        write_type_id(target, created.type_id)
        made.append(name)
    return made


# --------------------------------------------------------------------------------------------
# exclude_workers_of
# --------------------------------------------------------------------------------------------


def _project_tag(session: Session) -> str:
    # The project's id (as in its HIT markers), not its path: a clone elsewhere finds the
    # types it made by name, and two projects never share one.
    from mturkmake.mturk.project import MARKER_CHARS

    return session.ledger.project[:MARKER_CHARS]


def _batch_named(ledger: Any, name: str) -> str | None:
    from mturkmake.mturk.batch import known_batches

    known = known_batches(ledger)
    for batch, success in known.items():
        if _names_this(name, batch, success):
            return batch
    return None


def _unknown(name: str) -> ConfigError:
    return ConfigError(
        f"{EXCLUDE_KEY}: no batch named '{name}' has HITs in this project on this "
        "endpoint; nothing was sent",
        hint=f"load {name} first, or remove it from {EXCLUDE_KEY}",
    )


def check_exclusions(ctx: Context, *, this_batch: str, this_success: str) -> None:
    """Refuse an ``exclude_workers_of`` name that is no batch of this project, before the
    load sends anything (even the qualification types it makes first)."""
    from mturkmake.mturk.endpoint import open_run_ledger, run_endpoint

    names = [str(n) for n in (ctx.config.get(EXCLUDE_KEY) or [])]
    names = [n for n in names if not _names_this(n, this_batch, this_success)]
    if not names:
        return
    ledger = open_run_ledger(ctx.config, run_endpoint(ctx))
    try:
        for name in names:
            if _batch_named(ledger, name) is None:
                raise _unknown(name)
    finally:
        ledger.close()


def workers_of(session: Session, batch: str) -> list[str]:
    """Every worker with a submitted, approved or rejected assignment of ``batch``."""
    from mturkmake.mturk.batch import batch_rows
    from mturkmake.mturk.lookups import _paginate

    workers: dict[str, None] = {}
    for row in batch_rows(session.ledger, batch):
        for assignment in _paginate(
            session.client,
            "ListAssignmentsForHIT",
            "Assignments",
            HITId=row.hit_id,
            AssignmentStatuses=list(_ASSIGNMENT_STATUSES),
        ):
            workers[str(assignment["WorkerId"])] = None
    return list(workers)


def _exclusion_type(ctx: Context, session: Session, name: str) -> str:
    from mturkmake.mturk.qualification_types import create_type

    params = {
        "Name": f"mturkmake: worked on {name} ({_project_tag(session)})",
        "Description": (
            f"Kept by mturkmake: workers who did work in the batch '{name}', so that later "
            "batches of the same study are done by other workers."
        ),
        "QualificationTypeStatus": "Active",
    }
    return create_type(session, f"exclusion:{name}", params).type_id


def _names_this(name: str, batch: str, success: str) -> bool:
    return name in (batch, success) or f"{name}.input" == batch or f"{name}.success" == success


def apply_exclusions(
    ctx: Context, session: Session, prepared: Any, *, this_batch: str, this_success: str
) -> Any:
    """Grant each excluded batch's workers its exclusion type and require ``DoesNotExist``
    on it in every HIT of ``prepared`` (a :class:`~mturkmake.mturk.preflight.Prepared`).

    :raises ConfigError: an ``exclude_workers_of`` name that is no batch of this project.
    """
    requirements = exclusion_requirements(
        ctx, session, this_batch=this_batch, this_success=this_success
    )
    if not requirements:
        return prepared
    hits = [with_requirements(hit, requirements) for hit in prepared.hits]
    return dataclasses.replace(prepared, hits=tuple(hits))


def exclusion_requirements(
    ctx: Context, session: Session, *, this_batch: str, this_success: str
) -> list[dict[str, Any]]:
    """:func:`apply_exclusions`' first half: grant each excluded batch's workers its
    exclusion type; the ``DoesNotExist`` requirements every HIT of the load gets."""
    from mturkmake.mturk.qualifications import grant

    names = [str(n) for n in (ctx.config.get(EXCLUDE_KEY) or [])]
    requirements: list[dict[str, Any]] = []
    for name in names:
        if _names_this(name, this_batch, this_success):
            continue  # a batch never excludes its own workers
        batch = _batch_named(session.ledger, name)
        if batch is None:
            raise _unknown(name)
        type_id = _exclusion_type(ctx, session, name)
        for worker in workers_of(session, batch):
            grant(
                session,
                type_id,
                worker,
                1,
                notify=False,
                run="",
                batch=f"exclusion:{name}",
                subject=worker,
            )
        requirements.append(
            {
                "QualificationTypeId": type_id,
                "Comparator": "DoesNotExist",
                "ActionsGuarded": "DiscoverPreviewAndAccept",
            }
        )
    return requirements


def with_requirements(hit: Any, requirements: Sequence[dict[str, Any]]) -> Any:
    """A :class:`~mturkmake.mturk.preflight.PreparedHIT` that also requires
    ``requirements`` (:func:`exclusion_requirements`).

    :raises ConfigError: the HIT would have more requirements than MTurk allows.
    """
    if not requirements:
        return hit
    params = dict(hit.type_params)
    existing = list(params.get("QualificationRequirements", []))
    combined = existing + [r for r in requirements if r not in existing]
    if len(combined) > MAX_REQUIREMENTS:
        raise ConfigError(
            f"{EXCLUDE_KEY} adds {len(requirements)} requirements to HITs that have "
            f"{len(existing)}; MTurk allows {MAX_REQUIREMENTS}",
            hint="exclude fewer batches or remove qualification lines",
        )
    params["QualificationRequirements"] = combined
    return dataclasses.replace(hit, type_params=params)
