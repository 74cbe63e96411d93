"""The preview: ``%.preview.html`` and ``loadHITs -preview [-previewfile FILE]`` (DESIGN §2).

The first ``preview_rows`` rows (default 10) of a batch, each as a worker would see its HIT:
a header (title, description, reward, time allotted, keywords) and the question, rendered by
:mod:`mturkmake.formats.question_html`. The preflight runs first, exactly as for a load, so
a row that would fail the load fails the preview (one line, exit 2, no page). No client is
made and nothing is sent.

The page is one self-contained file: its style is inline and it has no script, stylesheet or
font from elsewhere. The batch's own images and URLs stay as the requester wrote them.
HTMLQuestion pages sit in sandboxed ``srcdoc`` frames; ExternalQuestion pages in frames on
their URL with ``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE`` and a ``hitId``, as MTurk frames a
HIT a worker previews. There is no Content-Security-Policy on this page: a ``srcdoc`` frame
would inherit it and the requester's own page could not run as it will on MTurk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ConfigError, UsageError
from mturkmake.hookspecs import ConfigKey, Event, Job, Outcome, Rule, hookimpl
from mturkmake.mturk.settings import settings

if TYPE_CHECKING:
    from mturkmake.hookspecs import Config, Context, TemplateEngine
    from mturkmake.mturk.preflight import Prepared, SourceFile

DEFAULT_ROWS = 10
DEFAULT_FILE = "preview.html"
#: The hitId a previewed row's frame gets: no HIT exists yet.
PREVIEW_HIT_PREFIX = "PREVIEW_HIT_"


def preview_rows(config: Config) -> int:
    """``preview_rows``: how many rows the preview shows (≥ 1)."""
    value = config.get("preview_rows", DEFAULT_ROWS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"preview_rows must be a whole number ≥ 1, not {value!r}",
            file=config.sources.get("preview_rows"),
            hint="e.g. preview_rows = 10",
        )
    return value


def _engine(ctx: Context) -> TemplateEngine:
    from mturkmake.mturk.preflight import template_engine

    return template_engine(ctx)


def prepare(
    ctx: Context, input_file: SourceFile, question: SourceFile, properties: SourceFile
) -> Prepared:
    """The preflight of the first ``preview_rows`` rows (the whole input is still checked,
    read as a stream: only the rows shown are kept; issue #17)."""
    from mturkmake.mturk.preflight import Prepared, PreparedHIT
    from mturkmake.mturk.preflight_stream import StreamedBatch

    stream = StreamedBatch(
        input_file,
        question,
        properties,
        engine=_engine(ctx),
        endpoint_kind=settings(ctx.config).kind,
        strict=str(ctx.config.get("strict_references", "formal") or "formal"),
        limit=preview_rows(ctx.config),
    )
    hits: list[PreparedHIT] = []
    checked = stream.check(on_hit=hits.append)
    for warning in checked.warnings:
        ctx.report(Event("warning", warning))
    return Prepared(
        header=checked.header,
        rows=(),
        hits=tuple(hits),
        referenced=checked.referenced,
        warnings=checked.warnings,
        checked=checked.checked,
        total=checked.total,
    )


def render_preview(prepared: Prepared, *, name: str) -> str:
    """The preview page of ``prepared``'s HITs (pure)."""
    from mturkmake.formats.question import parse_question
    from mturkmake.formats.question_html import FrameParams, esc, hit_header, page, render_question

    sections: list[str] = []
    total = max(prepared.total, len(prepared.rows))
    for hit in prepared.hits:
        props = hit.type_params
        row_at = f"{name} row {hit.index + 1} (line {hit.line})"
        question = parse_question(hit.question, source=row_at)
        header = hit_header(
            title=str(props.get("Title", "")),
            description=str(props.get("Description", "")),
            reward=props.get("Reward", ""),
            duration=props.get("AssignmentDurationInSeconds", ""),
            keywords=str(props.get("Keywords", "") or ""),
            extra=(("Assignments", str(hit.assignments)), ("Input", row_at)),
        )
        body = render_question(
            question,
            FrameParams(hit_id=f"{PREVIEW_HIT_PREFIX}{hit.index + 1}"),
            prefix=f"row{hit.index + 1}:",
        )
        sections.append(
            f'<article class="mm-hit" id="row-{hit.index + 1}" data-row="{hit.index + 1}">'
            f"{header}{body}</article>"
        )
    shown = len(prepared.hits)
    intro = (
        f"<h1>Preview of {esc(name)}</h1>"
        f'<p class="mm-note">The first {shown} of {total} rows, as workers will see their '
        "HITs. Nothing was sent to MTurk; answers given here go nowhere.</p>"
    )
    return page(f"Preview of {name}", intro + "".join(sections))


def write_preview(
    ctx: Context,
    input_file: SourceFile,
    question: SourceFile,
    properties: SourceFile,
    output: Path,
) -> int:
    """Preflight, render and write the page to ``output``; returns how many rows it shows.

    :raises MturkmakeError: the preflight's first error (nothing is written).
    """
    prepared = prepare(ctx, input_file, question, properties)
    text = render_preview(prepared, name=input_file.name)
    output.write_text(text, encoding="utf-8")
    return len(prepared.hits)


# --------------------------------------------------------------------------------------------
# Make mode: %.preview.html
# --------------------------------------------------------------------------------------------


def build_preview(job: Job) -> Outcome:
    """The ``%.preview.html`` action."""
    from mturkmake.mturk.preflight import SourceFile

    root, stem = job.context.root, job.stem
    names = {suffix: f"{stem}.{suffix}" for suffix in ("input", "question", "properties")}
    shown = write_preview(
        job.context,
        SourceFile(root / names["input"], names["input"]),
        SourceFile(root / names["question"], names["question"]),
        SourceFile(root / names["properties"], names["properties"]),
        job.outputs[job.target],
    )
    return Outcome(message=f"{shown} HITs previewed; nothing was sent")


# --------------------------------------------------------------------------------------------
# CLT mode: loadHITs -preview [-previewfile FILE]
# --------------------------------------------------------------------------------------------


def handle_preview(args: Mapping[str, Any], ctx: Context) -> int:
    """``loadHITs -preview``: write the preview page instead of creating HITs."""
    import os

    from mturkmake.core.fsio import temp_path_for
    from mturkmake.mturk.preflight import SourceFile

    cwd = Path.cwd()
    files = {flag: str(args[flag]) for flag in ("input", "question", "properties")}
    target = str(args.get("previewfile") or DEFAULT_FILE)
    if not target.strip():
        raise UsageError("-previewfile needs a file name", hint="e.g. -previewfile preview.html")
    output = cwd / target
    if not output.parent.is_dir():
        raise UsageError(
            f"-previewfile {target}: the folder {output.parent} does not exist; nothing was done",
            hint="create it first, or name a file in an existing folder",
        )
    for line in (  # the CLT's opening lines, as loadHITs prints them
        "--[Initializing]----------",
        f" Input: {files['input']}",
        f" Properties: {files['properties']}",
        f" Question File: {files['question']}",
        " Preview mode enabled",
        f" Preview file: {target}",
    ):
        ctx.report(Event("info", line))
    temp = temp_path_for(output)
    try:
        shown = write_preview(
            ctx,
            SourceFile(cwd / files["input"], files["input"]),
            SourceFile(cwd / files["question"], files["question"]),
            SourceFile(cwd / files["properties"], files["properties"]),
            temp,
        )
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)
    ctx.report(Event("info", f"Wrote a preview of {shown} HITs to {target}; nothing was sent."))
    return 0


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------


@hookimpl
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """``%.preview.html`` from ``%.input %.question %.properties``."""
    return (
        Rule(
            "%.preview.html",
            ("%.input", "%.question", "%.properties"),
            build_preview,
            name="loadHITs -preview",
        ),
    )


@hookimpl
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """``preview_rows``: how many rows the preview shows."""
    return (
        ConfigKey(
            "preview_rows",
            int,
            DEFAULT_ROWS,
            "how many input rows %.preview.html and loadHITs -preview show",
        ),
    )


__all__ = [
    "DEFAULT_ROWS",
    "build_preview",
    "handle_preview",
    "prepare",
    "preview_rows",
    "render_preview",
    "write_preview",
]
