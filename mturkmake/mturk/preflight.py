"""The preflight of DESIGN §6: every check a load can make before its cost line or first call.

In order, stopping at the first error with one line ``file:line: what is wrong — what to do``:

1. the whole input file (header, every row's width, encoding);
2. the HIT properties — syntax (``java.util.Properties`` and each value's template), then the
   API limits of every row's merged property set;
3. the question template (and the templated properties) against the input header;
4. every merged question: ≤ 65,535 bytes, well-formed (defusedxml), a known question type,
   and an ExternalURL the endpoint accepts (``http://`` is refused on sandbox and production,
   a warning on the local marketplace).

The result is the list of HITs ready to send, one per row, each with its HIT-type parameters
(rows with equal ones share a HIT type) and its own parameters.

Loads, ``-n`` and the preview read the input as a stream (issue #17):
:class:`~mturkmake.mturk.preflight_stream.StreamedBatch` makes the same checks in one pass
holding one row at a time (an error found early in the file that a later step of the list
above would report waits for the pass to end, so the first error is the same), and its later
passes re-read the file, stopping the run if it changed. Two shortcuts keep a pass fast
without changing any answer: rows whose merged properties differ only in their texts (title,
description, keywords, annotation) parse once, and a plain question template whose values
all land in ``<Text>``-like elements needs no parse per row. :func:`preflight` is the whole
version (every row and HIT kept): the reference the streamed one is tested against.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import FormatError

# The readers of properties and questions load when a preflight runs, not when a plugin
# that may run one is registered: a no-op run imports this module (issue #17).
if TYPE_CHECKING:
    from mturkmake.formats.hit_properties import HitProperties
    from mturkmake.formats.inputfile import InputRow
    from mturkmake.formats.javaprops import Property
    from mturkmake.formats.qualification_requirements import EndpointKind
    from mturkmake.formats.question import ExternalQuestion
    from mturkmake.hookspecs import CompiledTemplate, Context, TemplateEngine


@dataclass(frozen=True)
class SourceFile:
    """A file of the load: where to read it and how to name it in messages."""

    path: Path
    name: str


@dataclass(frozen=True)
class PreparedHIT:
    """One row, merged and checked, ready for CreateHITType + CreateHITWithHITType.

    :param index: the row's 0-based position among the data rows.
    :param line: the input line it starts on.
    :param values: its raw input values.
    :param type_params: CreateHITType's arguments (equal dicts share one HIT type).
    :param hit_params: CreateHITWithHITType's arguments without HITTypeId.
    """

    index: int
    line: int
    values: Mapping[str, str]
    type_params: Mapping[str, Any]
    hit_params: Mapping[str, Any]
    reward: Decimal
    assignments: int
    masters: bool = False

    @property
    def premium(self) -> Decimal:
        """The premium qualification fee per assignment its requirements add."""
        from mturkmake import fees

        requirements = self.type_params.get("QualificationRequirements") or []
        return fees.premium_fee(str(r.get("QualificationTypeId", "")) for r in requirements)

    @property
    def most_assignments(self) -> int:
        """The most assignments the HIT can reach: its own, or more when a review policy
        may extend it (the budget commits the extensions too)."""
        from mturkmake.mturk.review_policies import most_assignments

        return most_assignments(self.assignments, self.hit_params)

    @property
    def question(self) -> str:
        """The merged question."""
        return str(self.hit_params["Question"])

    @property
    def merged_sha(self) -> str:
        """A digest of everything merged for this row (question and properties)."""
        from mturkmake.mturk.batch import question_digest

        merged = json.dumps([self.type_params, self.hit_params], sort_keys=True, default=str)
        return question_digest(merged)

    @property
    def question_sha(self) -> str:
        """The digest recorded in the ledger and used by lookups."""
        from mturkmake.mturk.batch import question_digest

        return question_digest(self.question)


@dataclass(frozen=True)
class Prepared:
    """What the preflight found: every input row, the HITs to send and the warnings.

    :param rows: every data row of the input (keys need them all, even with ``-maxhits``).
    :param hits: the merged HITs of the rows to load (the first ``limit``), in input order.
    :param referenced: the columns the templates read (the default key columns).
    """

    header: tuple[str, ...]
    rows: tuple[InputRow, ...]
    hits: tuple[PreparedHIT, ...]
    referenced: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    #: how many rows were checked (``len(hits)``, also when they were not kept)
    checked: int = 0
    #: how many data rows the input has (``len(rows)``, also when they were not kept)
    total: int = 0


@contextlib.contextmanager
def _named(source: SourceFile) -> Iterator[None]:
    """Report errors under the file's display name rather than its absolute path."""
    try:
        yield
    except FormatError as exc:
        if exc.file in (None, str(source.path)):
            exc.file = source.name
        raise


def _read_input(source: SourceFile) -> tuple[tuple[str, ...], tuple[InputRow, ...]]:
    from mturkmake.formats.inputfile import open_input

    with _named(source):
        table = open_input(source.path)
        return table.header, tuple(table.rows())


def _compile_properties(
    source: SourceFile, engine: TemplateEngine
) -> list[tuple[Property, CompiledTemplate | None]]:
    from mturkmake.formats import javaprops

    with _named(source):
        props = javaprops.parse(javaprops.read_text(source.path), source=source.name)
    # qualification.N may name a qualification id file (skill.properties.success; issue 15).
    from mturkmake.mturk.exclusion import resolve_type_files

    props = resolve_type_files(props, source.path.parent, source.name)
    compiled: list[tuple[Property, CompiledTemplate | None]] = []
    for prop in props:
        template = None
        if engine.is_template(prop.value):
            # The CLT merged property values raw (no &,<,> escaping).
            template = engine.compile(
                prop.value, source=source.name, first_line=prop.line, escape=False
            )
        compiled.append((prop, template))
    return compiled


def _merge_properties(
    compiled: Sequence[tuple[Property, CompiledTemplate | None]],
    row: InputRow,
    *,
    source: SourceFile,
    input_name: str,
    endpoint_kind: EndpointKind,
    cache: dict[tuple[str, ...], HitProperties],
    merged: list[Property] | None = None,
) -> HitProperties:
    from mturkmake.formats.hit_properties import parse_hit_properties
    from mturkmake.formats.javaprops import Property

    if merged is None:
        merged = [
            prop if template is None else Property(prop.key, template.render(row.values), prop.line)
            for prop, template in compiled
        ]
    signature = tuple(p.value for p in merged)
    if signature in cache:
        return cache[signature]
    try:
        hit = parse_hit_properties(merged, source=source.name, endpoint_kind=endpoint_kind)
    except FormatError as exc:
        if any(template is not None for _, template in compiled):
            exc.message += f" (merged with {input_name}:{row.line})"
        raise
    cache[signature] = hit
    return hit


def _check_external(
    question: ExternalQuestion,
    *,
    endpoint_kind: EndpointKind,
    source: SourceFile,
    template_text: str,
    row_at: str,
) -> str | None:
    """Refuse a non-https ExternalURL off the local marketplace; return a warning on it."""
    if question.scheme == "https":
        return None
    line = next(
        (n for n, text in enumerate(template_text.splitlines(), 1) if "ExternalURL" in text), None
    )
    if endpoint_kind == "local":
        # One warning for the batch, not one per row: the rows differ only in the URL.
        return (
            f"{source.name}:{line}: warning: the ExternalURL is {question.scheme}://, not "
            "https://; sandbox and production would refuse it"
        )
    raise FormatError(
        f"ExternalURL '{question.url}' ({row_at}) is not https; MTurk refuses it on "
        f"{endpoint_kind}",
        file=source.name,
        line=line,
        hint="serve the page over https:// (the local marketplace accepts http:// for testing)",
    )


def _masters(hit: HitProperties) -> bool:
    from mturkmake.formats.hit_properties import MASTERS_IDS

    ids = set(MASTERS_IDS.values())
    return any(q.qualification_type_id in ids for q in hit.qualification_requirements)


def preflight(
    input_file: SourceFile,
    question_file: SourceFile,
    properties_file: SourceFile,
    *,
    engine: TemplateEngine,
    endpoint_kind: EndpointKind,
    strict: str = "formal",
    limit: int | None = None,
    keep: bool = True,
) -> Prepared:
    """Run DESIGN §6's preflight; return the HITs to send or raise at the first error.

    :param limit: ``-maxhits``: only the first ``limit`` rows are merged and sent (the whole
        input file is still checked).
    :param keep: ``False``: check every row, in the same order and with the same errors,
        but keep none (``rows`` and ``hits`` are empty, ``checked`` counts them): memory
        stays flat however long the input (``-n``, issue #17). Each step of the preflight
        then reads the input again; a file that changes between the passes stops it.
    :raises FormatError: the first problem, as one line naming its file and line.
    """
    if not keep:
        return _streamed(
            input_file,
            question_file,
            properties_file,
            engine=engine,
            endpoint_kind=endpoint_kind,
            strict=strict,
            limit=limit,
        )
    from mturkmake.formats import javaprops

    header, rows = _read_input(input_file)
    chosen = rows if limit is None else rows[: max(0, limit)]
    compiled = _compile_properties(properties_file, engine)
    cache: dict[tuple[str, ...], HitProperties] = {}
    merged_props = [
        _merge_properties(
            compiled,
            row,
            source=properties_file,
            input_name=input_file.name,
            endpoint_kind=endpoint_kind,
            cache=cache,
        )
        for row in chosen
    ]
    with _named(question_file):
        template_text = javaprops.read_text(question_file.path)
    question = engine.compile(template_text, source=question_file.name)
    warnings = list(question.check(header, strict=strict))
    for _, template in compiled:
        if template is not None:
            warnings += template.check(header, strict=strict)
    referenced = set(_referenced(question, header))
    for _, template in compiled:
        if template is not None:
            referenced.update(_referenced(template, header))
    hits: list[PreparedHIT] = []
    for index, (row, props) in enumerate(zip(chosen, merged_props, strict=True)):
        text = question.render(row.values)
        _check_merged(
            text,
            row_at=f"{input_file.name}:{row.line}",
            question_file=question_file,
            template_text=template_text,
            endpoint_kind=endpoint_kind,
            warnings=warnings,
        )
        hits.append(
            PreparedHIT(
                index=index,
                line=row.line,
                values=row.values,
                type_params=props.hit_type_params(),
                hit_params={**props.hit_params(), "Question": text},
                reward=props.reward,
                assignments=props.assignments,
                masters=_masters(props),
            )
        )
    return Prepared(
        header=header,
        rows=rows,
        hits=tuple(hits),
        referenced=tuple(c for c in header if c in referenced),
        warnings=tuple(warnings),
        checked=len(hits),
        total=len(rows),
    )


def _streamed(
    input_file: SourceFile,
    question_file: SourceFile,
    properties_file: SourceFile,
    *,
    engine: TemplateEngine,
    endpoint_kind: EndpointKind,
    strict: str,
    limit: int | None,
) -> Prepared:
    """:func:`preflight` in one pass over the input, holding one row at a time."""
    from mturkmake.mturk.preflight_stream import StreamedBatch

    batch = StreamedBatch(
        input_file,
        question_file,
        properties_file,
        engine=engine,
        endpoint_kind=endpoint_kind,
        strict=strict,
        limit=limit,
    )
    checked = batch.check()
    return Prepared(
        header=checked.header,
        rows=(),
        hits=(),
        referenced=checked.referenced,
        warnings=checked.warnings,
        checked=checked.checked,
        total=checked.total,
    )


def _stamp(source: SourceFile) -> tuple[int, int]:
    try:
        status = source.path.stat()
    except OSError:
        return (-1, -1)
    return (status.st_size, status.st_mtime_ns)


def _referenced(template: CompiledTemplate, header: Sequence[str]) -> list[str]:
    """The columns a template reads; every column when the engine cannot tell."""
    finder = getattr(template, "referenced_columns", None)
    if finder is None:
        return list(header)
    return list(finder(header))


__all__ = ["Prepared", "PreparedHIT", "SourceFile", "preflight"]


def template_engine(ctx: Context) -> TemplateEngine:
    """The configured template engine (``template_engine``, default velocity); one line
    naming the known engines when no plugin provides it."""
    from mturkmake.errors import ConfigError

    name = str(ctx.config.get("template_engine", "velocity") or "velocity")
    engines = ctx.host.template_engines()
    if name not in engines:
        raise ConfigError(
            f"template_engine '{name}' is not provided by any plugin",
            hint=f"known engines: {', '.join(sorted(engines)) or 'none'}",
        )
    return engines[name]


def _check_merged(
    text: str,
    *,
    row_at: str,
    question_file: SourceFile,
    template_text: str,
    endpoint_kind: EndpointKind,
    warnings: list[str],
) -> None:
    """Preflight step 4 for one merged question: well-formed, submittable, a safe external
    page; warnings not given yet are appended to ``warnings`` (shared by both preflights)."""
    from mturkmake.formats.question import ExternalQuestion, check_html_submit, parse_question

    parsed = parse_question(text, source=f"{question_file.name} merged with {row_at}")
    notes = check_html_submit(
        parsed, source=question_file.name, template_text=template_text, row_at=row_at
    )
    warnings += [note for note in notes if note not in warnings]
    if isinstance(parsed, ExternalQuestion):
        warning = _check_external(
            parsed,
            endpoint_kind=endpoint_kind,
            source=question_file,
            template_text=template_text,
            row_at=f"merged with {row_at}",
        )
        if warning is not None and warning not in warnings:
            warnings.append(warning)
