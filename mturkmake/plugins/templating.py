"""The built-in ``velocity`` template engine: the CLT's Velocity merge, through airspeed.

The context is the CLT's (SDK ``addon/HITQuestion.java``): for each input column ``k``,
``$k`` is the value with only ``&``, ``<`` and ``>`` escaped (in that order, so ``&lt;`` in the
input becomes ``&amp;lt;``), ``$k_raw`` the raw value; ``$helper.urlencode(x)`` is Java's
``URLEncoder.encode(x, "UTF-8")``; ``$formatter`` a VelocityFormatter; ``$today`` a
``java.util.Date``. Columns override the three helpers, as the CLT put them last.

Unlike the CLT, references are checked against the input header (DESIGN §6): a formal
``${x}`` outside XML comments that is neither a column nor a Velocity variable is an error; an
unknown shorthand ``$x`` a warning (``strict_references = "all"`` makes it an error, ``"off"``
checks nothing). Detection walks airspeed's parse tree (:mod:`.velocity_refs`).

airspeed is imported inside functions only: a run that renders nothing never loads it.
"""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ConfigError, FormatError
from mturkmake.hookspecs import ConfigKey, hookimpl

if TYPE_CHECKING:
    from mturkmake.formats.velocity import Reference, SourceMap, TemplateNames
    from mturkmake.hookspecs import Config, TemplateEngine

#: Values of ``strict_references``.
STRICT_MODES = ("formal", "all", "off")
#: The CLT's suffix for the unescaped value of a column.
RAW_SUFFIX = "_raw"
#: Names the CLT put in every context before the columns.
HELPER_NAMES = frozenset({"formatter", "helper", "today"})
#: Reproducible-builds convention: when set, ``$today`` is this Unix time (UTC).
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


# --------------------------------------------------------------------------------------------
# The CLT's context objects. Method names are Java's, since templates call them by those names.
# --------------------------------------------------------------------------------------------


class UrlHelper:
    """``$helper``: the CLT's HITQuestionHelper."""

    def urlencode(self, value: object) -> str | None:
        """Java's ``URLEncoder.encode(value, "UTF-8")``: space → ``+``; keeps ``.-*_``."""
        if value is None:
            return None
        # Python also keeps "~", which Java encodes; no other "~" can be left after quoting.
        return urllib.parse.quote_plus(str(value), safe="*").replace("~", "%7E")


_HELPER = UrlHelper()


class JavaDate:
    """``$today``: a ``java.util.Date`` (prints as ``Sun Nov 22 23:51:28 UTC 2026``).

    :param when: the moment; a naive datetime is taken as UTC.
    """

    def __init__(self, when: datetime) -> None:
        self.when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)

    def zone(self) -> str:
        """The zone as Java prints it (``UTC``, ``CET``, ``GMT+02:00``)."""
        name = self.when.tzname() or "UTC"
        return "GMT" + name[3:] if name.startswith("UTC") and len(name) > 3 else name

    def toString(self) -> str:
        """``EEE MMM dd HH:mm:ss zzz yyyy``, always in English, as Java's default locale."""
        w = self.when
        return (
            f"{_DAYS[w.weekday()]} {_MONTHS[w.month - 1][:3]} {w.day:02d} "
            f"{w.hour:02d}:{w.minute:02d}:{w.second:02d} {self.zone()} {w.year}"
        )

    __str__ = toString

    def getTime(self) -> int:
        """Milliseconds since the Unix epoch."""
        return int(self.when.timestamp() * 1000)

    def getYear(self) -> int:
        """The year minus 1900 (Java's deprecated getter)."""
        return self.when.year - 1900

    def getMonth(self) -> int:
        """The month, 0 = January."""
        return self.when.month - 1

    def getDate(self) -> int:
        """The day of the month."""
        return self.when.day

    def getDay(self) -> int:
        """The day of the week, 0 = Sunday."""
        return (self.when.weekday() + 1) % 7


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class Alternator:
    """VelocityAlternator: prints the current value; ``alternate()`` moves on."""

    def __init__(self, values: Sequence[object]) -> None:
        self.values = list(values)
        self.current = 0

    def alternate(self) -> str:
        """Move to the next value; prints nothing."""
        self.current = (self.current + 1) % len(self.values)
        return ""

    def __str__(self) -> str:
        return str(self.values[self.current])


class AutoAlternator(Alternator):
    """VelocityAutoAlternator: moves on each time it is printed."""

    def __str__(self) -> str:
        value = str(self.values[self.current])
        self.alternate()
        return value


class Formatter:
    """``$formatter``: Velocity 1.5's VelocityFormatter, with Java's en_US date styles."""

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def formatShortDate(self, date: JavaDate) -> str:
        """``DateFormat.SHORT``: ``11/22/26``."""
        w = date.when
        return f"{w.month}/{w.day}/{w.year % 100:02d}"

    def formatLongDate(self, date: JavaDate) -> str:
        """``DateFormat.LONG``: ``November 22, 2026``."""
        w = date.when
        return f"{_MONTHS[w.month - 1]} {w.day}, {w.year}"

    def formatShortDateTime(self, date: JavaDate) -> str:
        """SHORT date and time: ``11/22/26 11:51 PM``."""
        return f"{self.formatShortDate(date)} {_clock(date.when, seconds=False)}"

    def formatLongDateTime(self, date: JavaDate) -> str:
        """LONG date and time: ``November 22, 2026 11:51:28 PM UTC``."""
        clock = _clock(date.when, seconds=True)
        return f"{self.formatLongDate(date)} {clock} {date.zone()}"

    def formatArray(
        self, items: Sequence[object], delim: str | None = None, finaldelim: str | None = None
    ) -> str:
        """``A, B and C``; with ``delim`` only, ``delim`` also before the last item."""
        if delim is None:
            delim, finaldelim = ", ", " and "
        last = delim if finaldelim is None else finaldelim
        texts = [_java_str(item) for item in items]
        if len(texts) < 2:
            return "".join(texts)
        return delim.join(texts[:-1]) + last + texts[-1]

    formatVector = formatArray

    def limitLen(self, maxlen: int, string: str, suffix: str = "...") -> str:
        """``string`` cut to ``maxlen`` characters, ending in ``suffix`` when cut."""
        if len(string) <= maxlen:
            return string
        return string[: max(maxlen - len(suffix), 0)] + suffix

    def makeAlternator(self, name: str, *values: object) -> str:
        """Bind ``$name`` to an :class:`Alternator` over 2–4 values; prints nothing."""
        self._context[name] = Alternator(values)
        return ""

    def makeAutoAlternator(self, name: str, first: object, second: object) -> str:
        """Bind ``$name`` to an :class:`AutoAlternator`; prints nothing."""
        self._context[name] = AutoAlternator((first, second))
        return ""

    def isNull(self, value: object, default: object) -> object:
        """``default`` when ``value`` is null."""
        return default if value is None else value


def _clock(when: datetime, *, seconds: bool) -> str:
    hour = when.hour % 12 or 12
    text = f"{hour}:{when.minute:02d}" + (f":{when.second:02d}" if seconds else "")
    return text + (" PM" if when.hour >= 12 else " AM")


def _java_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def escape(value: str) -> str:
    """Escape ``&``, ``<`` and ``>`` exactly as the CLT did (no quotes, no other characters)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def default_today() -> datetime:
    """``SOURCE_DATE_EPOCH`` when set (so golden files are stable), else now, local time."""
    epoch = os.environ.get(SOURCE_DATE_EPOCH, "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return datetime.now().astimezone()


#: What makes a text a Velocity template: a reference or a directive.
VELOCITY_SYNTAX = re.compile(
    r"\$!?\{?[A-Za-z]|#\{?(?:set|if|elseif|else|end|foreach|macro|define|stop|break)\b"
)


class VelocityEngine:
    """The ``velocity`` engine (implements :class:`mturkmake.hookspecs.TemplateEngine`).

    :param today: the ``$today`` of every template this engine compiles; by default
        :func:`default_today` at compile time, so all rows of one load share one date.
    """

    name: str = "velocity"

    def __init__(self, *, today: datetime | None = None) -> None:
        self.today = today

    def is_template(self, text: str) -> bool:
        """Whether ``text`` holds a Velocity reference or directive. Anything else is sent as
        written, so a description with "C#" or "##" is never mangled by the comment syntax."""
        return VELOCITY_SYNTAX.search(text) is not None

    def compile(
        self,
        text: str,
        *,
        source: str,
        first_line: int = 1,
        escape: bool = True,
        today: datetime | None = None,
    ) -> VelocityTemplate:
        """Parse ``text`` once; render it for many rows.

        :param source: the file ``text`` came from, for messages.
        :param first_line: the line of ``source`` where ``text`` starts (a property's value).
        :param escape: ``False`` merges raw values into ``$k`` too, as the CLT did for the
            HIT properties (``annotation``, ``assignments`` …).
        :param today: overrides the engine's ``today``.
        :raises FormatError: a Velocity syntax error, with its line in ``source``.
        """
        import airspeed  # lazily, see the module docstring

        from mturkmake.formats.velocity import SourceMap, scan, syntax_error

        source_map = SourceMap(text, first_line=first_line)
        parsed = airspeed.Template(text, filename=source)
        try:
            parsed.ensure_compiled()
        except airspeed.TemplateSyntaxError as exc:
            raise syntax_error(exc, source, source_map) from None
        except (KeyError, IndexError, ValueError, RecursionError) as exc:
            # airspeed's parser fails this way on a few malformed inputs (a binary `not`).
            raise FormatError(
                f"cannot parse the Velocity template ({type(exc).__name__}: {exc})",
                file=source,
                hint="check the #if/#set expressions and the nesting of #foreach/#end",
            ) from None
        names = scan(parsed.root_element, source_map)
        if names.file_directives:
            directive, line = names.file_directives[0]
            raise FormatError(
                f"{directive} is not supported: templates are merged without other files",
                file=source,
                line=line,
                hint="paste the other file's content into this template",
            )
        when = today or self.today or default_today()
        return VelocityTemplate(
            parsed,
            names,
            source=source,
            source_map=source_map,
            escape=escape,
            today=JavaDate(when),
        )


class VelocityTemplate:
    """A compiled Velocity template (implements :class:`mturkmake.hookspecs.CompiledTemplate`).

    Made by :meth:`VelocityEngine.compile`; immutable and safe to render from several threads.
    """

    def __init__(
        self,
        parsed: Any,
        names: TemplateNames,
        *,
        source: str,
        source_map: SourceMap,
        escape: bool,
        today: JavaDate,
    ) -> None:
        self._parsed = parsed
        # airspeed's exception class, kept so render() need not import airspeed itself.
        self._failure: type[Exception] = sys.modules["airspeed"].TemplateExecutionError
        self._names = names
        self.source = source
        self._source_map = source_map
        self._escape = escape
        self.today = today
        # A template of text and plain references (no directive, call or index) renders
        # without airspeed's tree walk: the same output, several times faster per row.
        self._parts = _plain_parts(parsed)
        self._formatter = any(
            isinstance(p, tuple) and p[0] == "formatter" for p in self._parts or ()
        )

    @property
    def verbatim(self) -> bool:
        """Whether rendering only inserts values as they are (escaped for ``$k``): the
        template has text and plain references only, so rows differ only where a column's
        value is written (the preflight's per-row check can rely on it)."""
        return self._parts is not None

    def references(self) -> list[Reference]:
        """Every reference, in source order (comments included, marked ``in_comment``)."""
        return list(self._names.references)

    def velocity_names(self) -> frozenset[str]:
        """Names the template binds itself (``#set``, ``#foreach``, ``$velocityCount`` …)."""
        return self._names.defined

    def referenced_columns(self, columns: Sequence[str]) -> list[str]:
        """The ``columns`` the template reads (``$k`` or ``$k_raw``), in header order.

        Comments count: Velocity merges inside them too, so the question's text depends on
        them (the default key columns of a batch, DESIGN §2).
        """
        used = {reference.name for reference in self._names.references}
        return [c for c in columns if c in used or c + RAW_SUFFIX in used]

    def check(self, columns: Sequence[str], *, strict: str = "formal") -> list[str]:
        """Check every reference against the input ``columns``.

        :param strict: ``formal`` (unknown ``${x}`` is an error, unknown ``$x`` a warning),
            ``all`` (both are errors) or ``off`` (nothing is checked).
        :returns: warning lines, ``file:line: warning: …``.
        :raises FormatError: the first unknown reference that is an error under ``strict``.
        :raises ConfigError: ``strict`` is not one of :data:`STRICT_MODES`.
        """
        if strict not in STRICT_MODES:
            raise ConfigError(
                f"strict_references must be one of {', '.join(STRICT_MODES)}, not {strict!r}",
                hint='the default is "formal"',
            )
        if strict == "off":
            return []
        known = set(columns) | {c + RAW_SUFFIX for c in columns} | HELPER_NAMES
        known |= self._names.defined
        warnings: list[str] = []
        warned: set[tuple[str, int]] = set()
        for reference in self._names.references:
            if reference.in_comment or reference.name in known:
                continue
            what = _unknown(reference)
            hint = _columns_hint(reference.name, columns)
            if reference.formal or strict == "all":
                raise FormatError(
                    what,
                    file=self.source,
                    line=reference.line,
                    column=reference.column,
                    hint=f'{hint}; or set strict_references = "off" to leave it literal',
                )
            if (reference.name, reference.line) not in warned:
                warned.add((reference.name, reference.line))
                warnings.append(f"{self.source}:{reference.line}: warning: {what} — {hint}")
        return warnings

    def render(self, row: Mapping[str, str]) -> str:
        """Merge one input row (column → raw value).

        :raises FormatError: the template failed while rendering (a method call on a
            missing value, an index out of range …), with the line.
        """
        context: dict[str, Any] = {"helper": _HELPER, "today": self.today}
        if self._parts is None or self._formatter:
            context["formatter"] = Formatter(context)
        if self._escape:
            for key, value in row.items():
                context[key + RAW_SUFFIX] = value
            for key, value in row.items():
                context[key] = escape(value)
        else:
            for key, value in row.items():
                context[key + RAW_SUFFIX] = value
                context[key] = value
        if self._parts is not None:
            return _render_parts(self._parts, context)
        try:
            return str(self._parsed.merge(context))
        except self._failure as exc:
            raise self._execution_error(exc) from None

    def _execution_error(self, exc: Any) -> FormatError:
        element = exc.element
        line = None
        if element.full_text() is self._source_map.text:
            line = self._source_map.line(element.start)
        cause = exc.__cause__
        return FormatError(
            f"the template failed in {element.my_text().strip()!r}: "
            f"{type(cause).__name__}: {cause}",
            file=self.source,
            line=line,
            hint="check that the values and indexes it uses exist for every row",
        )


#: A plain reference: (name, silent ``$!``, its text, written when the name is unbound).
_PlainRef = tuple[str, bool, str]


def _plain_parts(parsed: Any) -> list[str | _PlainRef] | None:
    """The template as literal texts and plain references, or ``None`` when it has anything
    else (a directive, a method call, an index, a property, an alternate value).

    Rendering these parts writes what airspeed writes: ``str(value)`` of the bound name,
    else ``''`` for ``$!x``, else the reference's own text (issue #17: the per-row merge)."""
    airspeed = sys.modules["airspeed"]
    parts: list[str | _PlainRef] = []
    for node in parsed.root_element.block.children:
        kind = type(node)
        if kind in (airspeed.Text, airspeed.FallthroughHashText):
            parts.append(str(node.text))
        elif kind is airspeed.Comment:
            continue
        elif kind is airspeed.FormalReference:
            expression = node.expression
            if (
                type(expression) is not airspeed.VariableExpression
                or expression.subexpression is not None
                or node.alternate is not None
            ):
                return None
            part = expression.part
            if type(part) is not airspeed.NameOrCall or part.parameters or part.index:
                return None
            parts.append((str(part.name), bool(node.silent), str(node.my_text())))
        else:
            return None
    return parts


def _render_parts(parts: Sequence[str | _PlainRef], context: Mapping[str, Any]) -> str:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        name, silent, text = part
        value = context.get(name)
        if value is None:
            out.append("" if silent else text)
        else:
            out.append(str(value))
    return "".join(out)


def _unknown(reference: Reference) -> str:
    written = f"${{{reference.name}}}" if reference.formal else f"${reference.name}"
    return f"{written} is neither an input column nor a Velocity variable (it would stay literal)"


def _columns_hint(name: str, columns: Sequence[str]) -> str:
    import difflib

    if not columns:
        return "the input has no columns"
    hint = "the input columns are: " + ", ".join(columns)
    candidates = list(columns) + [c + RAW_SUFFIX for c in columns]
    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        hint += f"; did you mean ${{{close[0]}}}?"
    return hint


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------


@hookimpl
def mturkmake_template_engines() -> list[TemplateEngine]:
    """The built-in ``velocity`` engine."""
    return [VelocityEngine()]


@hookimpl
def mturkmake_config_keys() -> list[ConfigKey]:
    """``template_engine`` and ``strict_references``."""
    return [
        ConfigKey(
            "template_engine",
            str,
            "velocity",
            "the engine that merges input rows into .question and HIT properties",
        ),
        ConfigKey(
            "strict_references",
            str,
            "formal",
            "unknown template references: formal (${x} is an error, $x a warning), "
            "all (both are errors) or off",
        ),
    ]


@hookimpl
def mturkmake_configure(config: Config) -> None:
    """Refuse an unknown ``strict_references`` before anything runs."""
    value = config.get("strict_references", "formal")
    if value not in STRICT_MODES:
        source = config.sources.get("strict_references")
        raise ConfigError(
            f"strict_references must be one of {', '.join(STRICT_MODES)}, not {value!r}",
            file=source if source and source != "default" else None,
            hint='the default is "formal"',
        )
