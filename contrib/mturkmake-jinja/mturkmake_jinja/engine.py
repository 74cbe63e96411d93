"""The ``jinja`` template engine: ``.question`` and templated HIT properties merged by Jinja2.

The row context is the Velocity engine's (``mturkmake.plugins.templating``), so a template
can be translated line by line and merge to the same bytes:

=======================  ==========================  ====================================
Velocity                 Jinja                       value
=======================  ==========================  ====================================
``${col}``               ``{{ col }}``               the value, ``&``, ``<``, ``>`` escaped
``${col_raw}``           ``{{ col_raw }}``           the raw value
``$helper.urlencode(x)`` ``{{ helper.urlencode(x) }}``  Java's ``URLEncoder.encode(x, "UTF-8")``
``$today``               ``{{ today }}``             a ``java.util.Date``, printed as Java does
=======================  ==========================  ====================================

Questions are rendered with XML autoescaping: ``col`` and ``col_raw`` are already what they
say (marked safe), and anything else an expression computes — a literal, a concatenation, a
filter's plain-string result — is escaped (``&``, ``<``, ``>``, ``"``, ``'``), so no value can
break the XML. HIT properties are merged raw, as the CLT did (no autoescaping).

Undefined names are errors, never empty strings: :meth:`JinjaTemplate.check` (preflight)
reports the first name that is neither a column, ``<column>_raw``, ``helper``, ``today``, a
name the template sets itself (``{% set %}``, loop variables, macros) nor a Jinja global
(``range``, ``loop`` …), with the template file and line and the existing columns; and a
name that still turns out undefined while rendering (an attribute of a value, say) fails
the merge with the line. ``strict_references = "off"`` skips the check; Jinja has no
"leave it literal" mode, so the merge still fails on such a name.

Jinja2 is imported inside :meth:`JinjaEngine.compile`: a run that renders nothing (or
renders with Velocity) never loads it.
"""

from __future__ import annotations

import difflib
import sys
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mturkmake.errors import ConfigError, FormatError

if TYPE_CHECKING:
    import jinja2

__all__ = ["HELPER_NAMES", "RAW_SUFFIX", "JinjaEngine", "JinjaTemplate", "clt_escape"]

#: The suffix of a column's unescaped value, as in the CLT's Velocity context.
RAW_SUFFIX = "_raw"
#: Names every context has besides the columns (columns override them, as in the CLT).
HELPER_NAMES = frozenset({"helper", "today"})
#: What marks a property value as a template (``{{ … }}``, ``{% … %}``, ``{# … #}``).
TEMPLATE_MARKERS = ("{{", "{%", "{#")
#: Values of ``strict_references`` (the core's setting, shared with Velocity).
STRICT_MODES = ("formal", "all", "off")
#: Errors a template's own code can raise while rendering (``{{ 1 / 0 }}``, ``x[5]`` …).
_RENDER_ERRORS = (ArithmeticError, LookupError, TypeError, ValueError, AttributeError)


def clt_escape(value: str) -> str:
    """Escape ``&``, ``<`` and ``>`` exactly as the CLT (and the Velocity engine) did."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class UrlHelper:
    """``helper``: ``helper.urlencode(x)`` is Java's ``URLEncoder.encode(x, "UTF-8")``."""

    def urlencode(self, value: object) -> str | None:
        """Space → ``+``; keeps ``.-*_``; encodes ``~`` (Java does, Python would not)."""
        import urllib.parse

        if value is None:
            return None
        return urllib.parse.quote_plus(str(value), safe="*").replace("~", "%7E")


class JinjaEngine:
    """The ``jinja`` engine (implements :class:`mturkmake.hookspecs.TemplateEngine`).

    :param today: the ``today`` of every template; by default the Velocity engine's
        (``SOURCE_DATE_EPOCH`` when set, else now), fixed when a template is compiled.
    """

    name: str = "jinja"

    def __init__(self, *, today: datetime | None = None) -> None:
        self.today = today

    def is_template(self, text: str) -> bool:
        """Whether a property value contains Jinja syntax (``{{``, ``{%`` or ``{#``)."""
        return any(marker in text for marker in TEMPLATE_MARKERS)

    def compile(
        self, text: str, *, source: str, first_line: int = 1, escape: bool = True
    ) -> JinjaTemplate:
        """Parse ``text`` (read from ``source``) once; render it for many rows.

        :param first_line: the line of ``source`` where ``text`` starts.
        :param escape: XML autoescaping and escaped column values (questions); ``False``
            merges raw values (HIT properties).
        :raises FormatError: a Jinja syntax error, with its line in ``source``.
        """
        import jinja2

        from mturkmake.plugins.templating import JavaDate, default_today

        environment = jinja2.Environment(
            # A loader that names the text after its file, so tracebacks point into it.
            loader=jinja2.FunctionLoader(lambda _name: (text, source, lambda: True)),
            autoescape=escape,
            undefined=jinja2.StrictUndefined,
            # Velocity keeps the text between directives byte for byte: so must we.
            keep_trailing_newline=True,
            newline_sequence="\r\n" if "\r\n" in text else "\n",
            auto_reload=False,
        )
        try:
            tree = environment.parse(text, name=source, filename=source)
            template = environment.get_template(source)
        except jinja2.TemplateSyntaxError as exc:
            raise FormatError(
                f"Jinja syntax error: {exc.message}",
                file=source,
                line=first_line - 1 + (exc.lineno or 1),
                hint="check the {{ }} / {% %} pairs and the {% end… %} of each block",
            ) from None
        when = self.today or default_today()
        return JinjaTemplate(
            template,
            tree,
            source=source,
            first_line=first_line,
            escape=escape,
            today=JavaDate(when),
            globals_=frozenset(environment.globals),
        )


class JinjaTemplate:
    """A compiled Jinja template (implements :class:`mturkmake.hookspecs.CompiledTemplate`)."""

    def __init__(
        self,
        template: jinja2.Template,
        tree: Any,
        *,
        source: str,
        first_line: int,
        escape: bool,
        today: object,
        globals_: frozenset[str],
    ) -> None:
        import jinja2.meta
        from jinja2 import nodes

        self._template = template
        self.source = source
        self._first_line = first_line
        self._escape = escape
        self.today = today
        self._globals = globals_
        self._undeclared = frozenset(jinja2.meta.find_undeclared_variables(tree))
        # The first line each name is read on, for messages (the tree's own line numbers).
        self._lines: dict[str, int] = {}
        for node in tree.find_all(nodes.Name):
            if node.ctx == "load" and node.name not in self._lines:
                self._lines[node.name] = node.lineno
        self._failure: type[Exception] = sys.modules["jinja2"].TemplateError
        self._markup: Any = sys.modules["markupsafe"].Markup

    def referenced_columns(self, columns: Sequence[str]) -> list[str]:
        """The ``columns`` the template reads (``col`` or ``col_raw``), in header order."""
        used = self._undeclared
        return [c for c in columns if c in used or c + RAW_SUFFIX in used]

    def check(self, columns: Sequence[str], *, strict: str = "formal") -> list[str]:
        """Refuse a name the context will not have (see the module docstring).

        :raises FormatError: the first unknown name, with its line and the input columns.
        :raises ConfigError: ``strict`` is not a known mode.
        """
        if strict not in STRICT_MODES:
            raise ConfigError(
                f"strict_references must be one of {', '.join(STRICT_MODES)}, not {strict!r}",
                hint='the default is "formal"',
            )
        if strict == "off":
            return []
        known = set(columns) | {c + RAW_SUFFIX for c in columns} | HELPER_NAMES | self._globals
        unknown = sorted((n for n in self._undeclared if n not in known), key=self._line_of)
        if unknown:
            name = unknown[0]
            raise FormatError(
                f"{{{{ {name} }}}} is not an input column, nor a name the template sets "
                "(Jinja would fail on it)",
                file=self.source,
                line=self._line_of(name),
                hint=_columns_hint(name, columns),
            )
        return []

    def _line_of(self, name: str) -> int:
        return self._first_line - 1 + self._lines.get(name, 1)

    def render(self, row: Mapping[str, str]) -> str:
        """Merge one input row (column → raw value).

        :raises FormatError: the template failed while rendering, with the line.
        """
        context: dict[str, Any] = {"helper": UrlHelper(), "today": self.today}
        if self._escape:
            # Already what they say: autoescaping must not escape them a second time.
            for key, value in row.items():
                context[key + RAW_SUFFIX] = self._markup(value)
            for key, value in row.items():
                context[key] = self._markup(clt_escape(value))
        else:
            for key, value in row.items():
                context[key + RAW_SUFFIX] = value
                context[key] = value
        try:
            return str(self._template.render(context))
        except (self._failure, *_RENDER_ERRORS) as exc:
            line = self._template_line(exc)
            if line is None and not isinstance(exc, self._failure):
                raise  # not the template's own code: a bug, with its traceback
            raise FormatError(
                f"the template failed: {type(exc).__name__}: {exc}",
                file=self.source,
                line=line,
                hint="check that the names, values and indexes it uses exist for every row",
            ) from None

    def _template_line(self, exc: BaseException) -> int | None:
        """The template line of the innermost frame of ``exc`` that is template code."""
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == self.source and frame.lineno is not None:
                line = self._first_line - 1 + frame.lineno
        return line


def _columns_hint(name: str, columns: Sequence[str]) -> str:
    if not columns:
        return "the input has no columns"
    hint = "the input columns are: " + ", ".join(columns)
    candidates = list(columns) + [c + RAW_SUFFIX for c in columns]
    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        hint += f"; did you mean {{{{ {close[0]} }}}}?"
    return hint
