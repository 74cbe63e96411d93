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
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mturkmake.errors import FormatError, MturkmakeError

# The readers of properties and questions load when a preflight runs, not when a plugin
# that may run one is registered: a no-op run imports this module (issue #17).
if TYPE_CHECKING:
    from mturkmake.formats.hit_properties import HitProperties
    from mturkmake.formats.inputfile import InputRow
    from mturkmake.formats.javaprops import Property
    from mturkmake.formats.qualification_requirements import EndpointKind
    from mturkmake.formats.question import ExternalQuestion
    from mturkmake.hookspecs import CompiledTemplate, Context, TemplateEngine
    from mturkmake.mturk.batch import RowKeys


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


#: How many merged property sets the streamed preflight remembers (equal rows parse once).
PROPERTY_CACHE = 256


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


@dataclass(frozen=True)
class Checked:
    """What the streamed preflight found (no row kept).

    :param checked: the rows merged and checked (the first ``limit``).
    :param total: the input's data rows.
    """

    header: tuple[str, ...]
    referenced: tuple[str, ...]
    warnings: tuple[str, ...]
    checked: int
    total: int


#: Characters a value may hold for its merged question to need no parse of its own (see
#: :class:`_QuestionShape`): no markup, nothing XML 1.0 forbids.
_PLAIN_VALUE = re.compile("[^<>&\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]*")
#: Elements whose text :func:`~mturkmake.formats.question.parse_question` only collects.
_FREE_TEXT = frozenset({"Text", "Title", "ListItem"})


class _QuestionShape:
    """Whether a row's merged question can skip its own parse (issue #17: the parse of
    every merged question was half of ``-n``'s time).

    When the template only inserts values (:attr:`VelocityTemplate.verbatim`), its merge
    with sentinel values parses as a QuestionForm, and every value lands in the text of a
    leaf ``<Text>``, ``<Title>`` or ``<ListItem>`` (read, never checked), then a row whose
    values hold no markup and nothing XML forbids merges to a question that parses the same
    way, with no warning: only its size is left to check. Any other row, or template, is
    parsed as before.
    """

    def __init__(self, question: CompiledTemplate, header: Sequence[str], columns: Sequence[str]):
        self.columns = tuple(columns)
        self.ok = bool(getattr(question, "verbatim", False)) and self._analyse(question, header)

    def _analyse(self, question: CompiledTemplate, header: Sequence[str]) -> bool:
        import xml.etree.ElementTree as ET

        from mturkmake.formats.question import QuestionForm, parse_question
        from mturkmake.formats.safexml import local_name

        sentinels = {column: f"mmvalue{n}x" for n, column in enumerate(header)}
        try:
            text = question.render(sentinels)
            if not isinstance(parse_question(text, source="sentinel"), QuestionForm):
                return False
            root = ET.fromstring(text)
        except (MturkmakeError, ET.ParseError):
            return False
        wanted = sum(text.count(s) for s in sentinels.values())
        found = 0
        for element in root.iter():
            if element.tail and any(s in element.tail for s in sentinels.values()):
                return False
            if any(any(s in v for s in sentinels.values()) for v in element.attrib.values()):
                return False
            inside = sum(element.text.count(s) for s in sentinels.values()) if element.text else 0
            if inside and (local_name(element) not in _FREE_TEXT or len(element)):
                return False
            found += inside
        return found == wanted

    def skips(self, values: Mapping[str, str], text: str) -> bool:
        """Whether ``text``, the merge of ``values``, needs no parse of its own."""
        from mturkmake.formats.safexml import MAX_XML_BYTES

        if not self.ok:
            return False
        match = _PLAIN_VALUE.fullmatch
        for column in self.columns:
            if match(values.get(column, "")) is None:
                return False
        return len(text) * 4 <= MAX_XML_BYTES or len(text.encode("utf-8")) <= MAX_XML_BYTES


class StreamedBatch:
    """The preflight over an input read as a stream: :meth:`check` is DESIGN §6's preflight
    in one pass (the same checks, errors and warnings as :func:`preflight`), holding one row
    at a time; :meth:`rows` reads the input again for a later pass and :meth:`merge` makes
    one row's HIT. Every pass checks that the file has not changed since the first one
    (issue #17: a second pass over the file is fine; an input that changed stops the run).
    """

    def __init__(
        self,
        input_file: SourceFile,
        question_file: SourceFile,
        properties_file: SourceFile,
        *,
        engine: TemplateEngine,
        endpoint_kind: EndpointKind,
        strict: str = "formal",
        limit: int | None = None,
    ) -> None:
        self.input = input_file
        self.question_file = question_file
        self.properties_file = properties_file
        self.engine = engine
        self.endpoint_kind = endpoint_kind
        self.strict = strict
        self.limit = None if limit is None else max(0, limit)
        self._stamp = _stamp(input_file)
        self._compiled: list[tuple[Property, CompiledTemplate | None]] = []
        self._question: CompiledTemplate | None = None
        self._template_text = ""
        self._cache: dict[tuple[str, ...], HitProperties] = {}
        self._masters_of: dict[int, tuple[Any, bool]] = {}
        self._shape: _QuestionShape | None = None
        self.result: Checked | None = None
        self.learned_keys: RowKeys | None = None

    # -- the passes ------------------------------------------------------------------------

    def rows(self, *, watch: bool = False, what: str = "the preflight") -> Iterator[InputRow]:
        """Every data row, read again; stops the run if the file changed since the first
        pass (checked before, after, and with ``watch`` before each row).

        :raises FormatError: the file changed (one line, exit 2).
        """
        from mturkmake.formats.inputfile import open_input

        self.verify(what)
        with _named(self.input):
            table = open_input(self.input.path)
            for row in table.rows():
                if watch:
                    self.verify(what)
                yield row
        self.verify(what)

    def verify(self, what: str = "the preflight") -> None:
        """Raise if the input file changed since the first pass."""
        if _stamp(self.input) != self._stamp:
            raise FormatError(
                f"the file changed while {what} read it",
                file=self.input.name,
                hint="run again once nothing writes to it",
            )

    def check(
        self, on_hit: Callable[[PreparedHIT], None] | None = None, *, learn_keys: bool = False
    ) -> Checked:
        """The preflight in one pass; ``on_hit`` sees each checked HIT (the first ``limit``).

        With ``learn_keys``, the pass also does the first pass of the row keys on the
        columns the templates reference (the default key columns): :attr:`learned_keys`,
        which saves a load of a new batch a pass over the input.

        Errors come in the preflight's order, as :func:`preflight` raises them: an error of
        the input file itself first (its reader stops at it), then the HIT properties
        (syntax, then each row's merge), then the question template against the header,
        then each merged question. Later kinds found earlier in the file wait for the pass
        to end.

        :raises FormatError: the first problem, as one line naming its file and line.
        """
        from mturkmake.formats import javaprops
        from mturkmake.formats.inputfile import open_input

        with _named(self.input):
            table = open_input(self.input.path)
        header = table.header
        property_error: FormatError | None = None
        question_error: FormatError | None = None
        merged_error: FormatError | None = None
        warnings: list[str] = []
        referenced: set[str] = set()
        try:
            self._compiled = _compile_properties(self.properties_file, self.engine)
        except FormatError as exc:
            property_error = exc
        try:
            with _named(self.question_file):
                self._template_text = javaprops.read_text(self.question_file.path)
            question = self.engine.compile(self._template_text, source=self.question_file.name)
            self._question = question
            warnings += question.check(header, strict=self.strict)
            if property_error is None:
                for _, template in self._compiled:
                    if template is not None:
                        warnings += template.check(header, strict=self.strict)
            referenced.update(_referenced(question, header))
            for _, template in self._compiled:
                if template is not None:
                    referenced.update(_referenced(template, header))
            self._shape = _QuestionShape(question, header, _referenced(question, header))
        except FormatError as exc:
            question_error = exc
        total = checked = 0
        learner = None
        if learn_keys and question_error is None and property_error is None:
            from mturkmake.mturk.batch import RowKeys

            learner = RowKeys([c for c in header if c in referenced])

        def read() -> Iterator[InputRow]:
            with _named(self.input):
                yield from table.rows()

        for row in read():
            index = total
            total += 1
            if learner is not None:
                learner.see(row.values)
            if self.limit is not None and index >= self.limit:
                continue
            if property_error is not None:
                continue  # the rest of the file is still read: its own errors come first
            try:
                props = self._properties(row)
            except FormatError as exc:
                property_error = exc
                continue
            if question_error is not None or merged_error is not None:
                continue
            try:
                hit = self._hit(index, row, props, warnings)
            except FormatError as exc:
                merged_error = exc
                continue
            checked += 1
            if on_hit is not None:
                on_hit(hit)
        for error in (property_error, question_error, merged_error):
            if error is not None:
                raise error
        self.verify()
        self.learned_keys = learner
        self.result = Checked(
            header=header,
            referenced=tuple(c for c in header if c in referenced),
            warnings=tuple(warnings),
            checked=checked,
            total=total,
        )
        return self.result

    def merge(self, index: int, row: InputRow) -> PreparedHIT:
        """The HIT of one row, merged (not checked again: :meth:`check` did it)."""
        if self._question is None:
            raise RuntimeError("StreamedBatch.merge before check")
        props = self._properties(row)
        return self._prepared(index, row, props, self._question.render(row.values))

    # -- one row ---------------------------------------------------------------------------

    def _properties(self, row: InputRow) -> HitProperties:
        from mturkmake.formats.hit_properties import TEXT_KEYS, with_texts

        compiled = self._compiled
        merged = self._merged(row)
        # Rows that differ only in text properties (an annotation per row) parse once.
        signature = tuple(p.value for p in merged if p.key not in TEXT_KEYS)
        known = self._cache.get(signature)
        if known is not None:
            try:
                return with_texts(known, merged)
            except FormatError as exc:
                if any(template is not None for _, template in compiled):
                    exc.message += f" (merged with {self.input.name}:{row.line})"
                raise
        if len(self._cache) >= PROPERTY_CACHE:
            self._cache.clear()
        hit = _merge_properties(
            compiled,
            row,
            source=self.properties_file,
            input_name=self.input.name,
            endpoint_kind=self.endpoint_kind,
            cache={},
            merged=merged,
        )
        self._cache[signature] = hit
        return hit

    def _merged(self, row: InputRow) -> list[Property]:
        from mturkmake.formats.javaprops import Property

        return [
            prop if template is None else Property(prop.key, template.render(row.values), prop.line)
            for prop, template in self._compiled
        ]

    def type_signature(self, row: InputRow) -> tuple[str, ...]:
        """The row's merged properties but the texts (title, description, keywords,
        annotation): rows with equal signatures have equal rewards, assignments, review
        policies and qualification requirements (what a HIT costs)."""
        from mturkmake.formats.hit_properties import TEXT_KEYS

        values = row.values
        return tuple(
            prop.value if template is None else template.render(values)
            for prop, template in self._compiled
            if prop.key not in TEXT_KEYS
        )

    def _hit(
        self, index: int, row: InputRow, props: HitProperties, warnings: list[str]
    ) -> PreparedHIT:
        assert self._question is not None
        assert self._shape is not None
        text = self._question.render(row.values)
        if not self._shape.skips(row.values, text):
            _check_merged(
                text,
                row_at=f"{self.input.name}:{row.line}",
                question_file=self.question_file,
                template_text=self._template_text,
                endpoint_kind=self.endpoint_kind,
                warnings=warnings,
            )
        return self._prepared(index, row, props, text)

    def _prepared(self, index: int, row: InputRow, props: HitProperties, text: str) -> PreparedHIT:
        return PreparedHIT(
            index=index,
            line=row.line,
            values=row.values,
            type_params=props.hit_type_params(),
            hit_params={**props.hit_params(), "Question": text},
            reward=props.reward,
            assignments=props.assignments,
            masters=self._masters(props),
        )

    def _masters(self, props: HitProperties) -> bool:
        # Rows parsed from one cached property set share its requirements (with_texts).
        requirements = props.qualification_requirements
        known = self._masters_of.get(id(requirements))
        if known is None or known[0] is not requirements:
            if len(self._masters_of) >= PROPERTY_CACHE:
                self._masters_of.clear()
            known = self._masters_of[id(requirements)] = (requirements, _masters(props))
        return known[1]


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


__all__ = ["Checked", "Prepared", "PreparedHIT", "SourceFile", "StreamedBatch", "preflight"]


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
