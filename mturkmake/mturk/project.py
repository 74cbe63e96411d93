"""A project's identity on MTurk: its ``project_id`` and the marker its HITs carry (DESIGN §3).

Two project folders on one requester account must never share a request token, adopt each
other's HITs or decide each other's work. The endpoint, the input path and the row key are
the same in two folders with the same batch files, so a random ``project_id`` is written to
the project's config file before its first intent (:func:`project_id`) and enters

- every intent id, hence every ``UniqueRequestToken`` (:func:`mturkmake.mturk.ledger.intent_uid`);
- every HIT's RequesterAnnotation, as the marker ``mturkmake:<first 12 characters>``
  (:func:`mark_annotation`), which adoption, the CreateHIT lookup and deciding check, and
  which ``.results`` never shows (:func:`strip_marker`).

The id lives in the config file, not in ``.mturkmake/``, so a fresh clone carries it and
adopts its own ``.success``; a copied folder is the same project until the line is deleted.

Where it is written: ``mturkmake.toml`` when the project has one (or has no config file at
all: one is created at the root); ``[tool.mturkmake]`` of ``pyproject.toml`` when that is the
project's config — never a new ``mturkmake.toml`` beside it, which would hide the pyproject
table from config discovery.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mturkmake.core.config import PROJECT_FILE, read_project_table
from mturkmake.errors import ConfigError, FormatError

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config

#: The config key.
PROJECT_KEY = "project_id"
#: What starts a marker in a RequesterAnnotation.
MARKER_PREFIX = "mturkmake:"
#: How many characters of the id a marker carries (48 random bits: collisions are moot).
MARKER_CHARS = 12
#: The characters a marker takes in an annotation: a separating space and the marker.
MARKER_ROOM = 1 + len(MARKER_PREFIX) + MARKER_CHARS
#: MTurk's limit on RequesterAnnotation.
MAX_ANNOTATION = 255
#: The lock file that serialises creating the id (threads of ``-j`` and other processes).
LOCK_NAME = "project-id.lock"

_ID = re.compile(r"[A-Za-z0-9_-]{12,64}")
_MARKER = re.compile(r"(?:^|\s)" + re.escape(MARKER_PREFIX) + r"([A-Za-z0-9_-]{12})\s*\Z")
_TOOL_HEADER = re.compile(r"^\s*\[\s*tool\s*\.\s*mturkmake\s*\]\s*(?:#.*)?$")
_COMMENT = (
    "# project_id: this project's identity on MTurk (request tokens, HIT markers). "
    "A copy with it is the same project; delete the line to fork."
)

Ownership = Literal["ours", "foreign", "unmarked"]


def project_id(config: Config, *, recorded: str | None = None) -> str:
    """The project's id: from the config, else from its file, else one written there —
    ``recorded`` (the id the project's ledger already holds: the line was lost, e.g. by a
    checkout of the file) or a new random one.

    The id is written (and fsynced, file and directory) before it is returned, under a lock
    in ``.mturkmake/`` so two threads or processes of one project never write two ids; the
    caller's project lock (side-effecting runs hold one) is held around all of it.

    :raises ConfigError: the configured id is malformed, or the config file cannot take the
        new line safely (the user is told what to write).
    """
    configured = config.get(PROJECT_KEY)
    if configured is not None:
        return _checked(configured, config.sources.get(PROJECT_KEY))
    with _id_lock(config.state_dir):
        table = read_project_table(config.root)
        written = table.values.get(PROJECT_KEY)
        if written is not None:
            return _checked(written, str(table.source) if table.source else None)
        new = recorded if recorded and _ID.fullmatch(recorded) else secrets.token_hex(16)
        write_project_id(config.root, new)
        return new


def _checked(value: Any, source: str | None) -> str:
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise ConfigError(
        f"project_id {value!r} is not 12 to 64 letters, digits, '-' or '_'",
        file=source if source and source != "default" else None,
        hint="delete the line (mturkmake writes a new id: a new project on MTurk) or restore "
        "the id the project's HITs were made with",
    )


@contextlib.contextmanager
def _id_lock(state_dir: Path) -> Iterator[None]:
    # flock locks belong to the open file description, so this also orders the threads of
    # one process (each opens the file anew), not only processes.
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOCK_NAME).open("a", encoding="utf-8") as stream:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(stream.fileno(), fcntl.LOCK_UN)


def write_project_id(root: Path, new: str) -> Path:
    """Write ``project_id = "<new>"`` into the project's config file; returns the file.

    The edit is textual (comments and layout stay) and is checked by parsing the result:
    the table must hold exactly what it held plus the id, else nothing is written.

    :raises ConfigError: the file cannot take the line safely (e.g. ``[tool.mturkmake]``
        written as an inline table); the hint says what to add by hand.
    """
    table = read_project_table(root)
    line = f'project_id = "{new}"'
    if table.source is None:
        path, text = root / PROJECT_FILE, ""
    else:
        path, text = table.source, table.text
    newline = "\r\n" if "\r\n" in text else "\n"
    if path.name == PROJECT_FILE:
        updated = _insert_top_level(text, [_COMMENT, line], newline)
    else:
        updated = _insert_in_tool_table(text, [_COMMENT, line], newline)
    _verify(path, updated, dict(table.values), new, line)
    _write_synced(path, updated.encode("utf-8"))
    return path


def _insert_top_level(text: str, lines: list[str], newline: str) -> str:
    """After the file's leading comment lines: still the top-level table (keys written
    after a ``[table]`` header would belong to that table)."""
    existing = text.splitlines(keepends=True)
    at = 0
    while at < len(existing) and existing[at].strip().startswith("#"):
        at += 1
    block = "".join(f"{item}{newline}" for item in lines)
    if existing and at == len(existing) and not existing[-1].endswith(("\n", "\r")):
        existing[-1] += newline
    return "".join(existing[:at]) + block + "".join(existing[at:])


def _insert_in_tool_table(text: str, lines: list[str], newline: str) -> str:
    """Right after the ``[tool.mturkmake]`` header, else a new header at the end (valid when
    the table exists only through its sub-tables, ``[tool.mturkmake.local]``)."""
    existing = text.splitlines(keepends=True)
    block = "".join(f"{item}{newline}" for item in lines)
    for number, current in enumerate(existing):
        if _TOOL_HEADER.match(current.rstrip("\r\n")):
            if not current.endswith(("\n", "\r")):
                existing[number] += newline
            return "".join(existing[: number + 1]) + block + "".join(existing[number + 1 :])
    tail = "" if not text or text.endswith(("\n", "\r")) else newline
    return f"{text}{tail}{newline}[tool.mturkmake]{newline}{block}"


def _verify(path: Path, updated: str, before: dict[str, Any], new: str, line: str) -> None:
    from mturkmake.core.config import _parse_toml

    problem = None
    try:
        parsed = _parse_toml(updated, path)
        table = parsed if path.name == PROJECT_FILE else parsed.get("tool", {}).get("mturkmake")
        if not isinstance(table, dict) or table != {**before, PROJECT_KEY: new}:
            problem = "the edited file would not hold the same table plus the id"
    except ConfigError as error:
        problem = error.message
    if problem is not None:
        raise ConfigError(
            f"cannot add this project's id to the config file safely ({problem}); nothing was sent",
            file=str(path),
            hint=f"add the line {line} to the project's table yourself, then run again",
        )


def _write_synced(path: Path, data: bytes) -> None:
    """Write atomically, keeping the file's mode; fsync the file and its directory."""
    from mturkmake.core.fsio import atomic_write

    try:
        mode: int | None = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    atomic_write(path, data)  # temporary file, fsync, os.replace, fsync of the directory
    if mode is not None:
        os.chmod(path, mode)


# --------------------------------------------------------------------------------------------
# The marker in RequesterAnnotation
# --------------------------------------------------------------------------------------------


def marker(project: str) -> str:
    """The marker of ``project``'s HITs: ``mturkmake:`` and the id's first 12 characters."""
    return MARKER_PREFIX + project[:MARKER_CHARS]


def mark_annotation(annotation: str | None, project: str) -> str:
    """``annotation`` with ``project``'s marker appended (the marker alone when empty).

    The preflight keeps the user's annotation within ``255 - MARKER_ROOM`` characters
    (:func:`check_annotation_room`), so the result fits MTurk's limit.
    """
    return f"{annotation} {marker(project)}" if annotation else marker(project)


def marker_of(annotation: Any) -> str | None:
    """The marker id (12 characters) at the end of ``annotation``, or ``None``."""
    if not isinstance(annotation, str):
        return None
    found = _MARKER.search(annotation)
    return found.group(1) if found else None


def strip_marker(annotation: Any) -> Any:
    """``annotation`` as the user wrote it: the marker removed (``None`` when only the
    marker was there — the CLT's null for a HIT without annotation); other values as given."""
    if not isinstance(annotation, str):
        return annotation
    found = _MARKER.search(annotation)
    if found is None:
        return annotation
    text = annotation[: found.start()]
    return text if text else None


def ownership(annotation: Any, project: str) -> Ownership:
    """Whose HIT this annotation says it is: ``ours``, another project's (``foreign``), or
    ``unmarked`` (made by the CLT or by hand)."""
    found = marker_of(annotation)
    if found is None:
        return "unmarked"
    return "ours" if found == project[:MARKER_CHARS] else "foreign"


def foreign_reason(hit_id: str, hit: Mapping[str, Any], project: str) -> str:
    """Why ``project`` must not act on ``hit`` (another mturkmake project's marker in its
    RequesterAnnotation), or ``""``; unmarked HITs (made by the CLT or by hand) may be."""
    annotation = hit.get("RequesterAnnotation")
    if ownership(annotation, project) != "foreign":
        return ""
    return (
        f"HIT {hit_id} belongs to another mturkmake project "
        f"({MARKER_PREFIX}{marker_of(annotation)}, not {marker(project)})"
    )


def check_annotation_room(annotation: str | None, *, source: str, line: int | None) -> None:
    """Refuse a user's annotation that leaves no room for the marker (preflight, before any
    call): MTurk takes 255 characters, the marker takes :data:`MARKER_ROOM` of them.

    :raises FormatError: naming the annotation's file and line.
    """
    if annotation is None or len(annotation) <= MAX_ANNOTATION - MARKER_ROOM:
        return
    raise FormatError(
        f"annotation: {len(annotation)} characters; with the {MARKER_ROOM}-character project "
        f"marker mturkmake adds it exceeds MTurk's {MAX_ANNOTATION}",
        file=source,
        line=line,
        hint=f"shorten the annotation to {MAX_ANNOTATION - MARKER_ROOM} characters",
    )


__all__ = [
    "MARKER_CHARS",
    "MARKER_PREFIX",
    "MARKER_ROOM",
    "PROJECT_KEY",
    "check_annotation_room",
    "foreign_reason",
    "mark_annotation",
    "marker",
    "marker_of",
    "ownership",
    "project_id",
    "strip_marker",
    "write_project_id",
]
