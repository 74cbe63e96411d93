"""The preflight over an input read as a stream (issue #17): :class:`StreamedBatch`.

DESIGN §6's preflight (:mod:`.preflight`) in one pass, holding one row at a time, for loads,
``-n`` and the preview; later passes re-read the file and stop the run if it changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mturkmake.errors import FormatError, MturkmakeError
from mturkmake.mturk.preflight import (
    PreparedHIT,
    SourceFile,
    _check_merged,
    _compile_properties,
    _masters,
    _merge_properties,
    _named,
    _referenced,
    _stamp,
)

if TYPE_CHECKING:
    from mturkmake.formats.hit_properties import HitProperties
    from mturkmake.formats.inputfile import InputRow
    from mturkmake.formats.javaprops import Property
    from mturkmake.formats.qualification_requirements import EndpointKind
    from mturkmake.hookspecs import CompiledTemplate, TemplateEngine
    from mturkmake.mturk.batch import RowKeys

#: How many merged property sets the streamed preflight remembers (equal rows parse once).
PROPERTY_CACHE = 256


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
        #: After :meth:`check`: the checked rows by their properties but the texts (what a
        #: HIT costs): one HIT of each kind and how many rows have it; ``None`` when there
        #: were too many kinds to count.
        self.kinds: dict[tuple[str, ...], tuple[PreparedHIT, int]] | None = None
        self._signature: tuple[str, ...] = ()

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
        kinds: dict[tuple[str, ...], list[Any]] | None = {}
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
            if kinds is not None:
                kind = kinds.get(self._signature)
                if kind is not None:
                    kind[1] += 1
                elif len(kinds) < PROPERTY_CACHE:
                    kinds[self._signature] = [hit, 1]
                else:
                    kinds = None  # too many kinds to count here: the survey's pass will
            if on_hit is not None:
                on_hit(hit)
        for error in (property_error, question_error, merged_error):
            if error is not None:
                raise error
        self.verify()
        self.learned_keys = learner
        self.kinds = None if kinds is None else {k: (v[0], v[1]) for k, v in kinds.items()}
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
        self._signature = signature
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


__all__ = ["Checked", "StreamedBatch"]
