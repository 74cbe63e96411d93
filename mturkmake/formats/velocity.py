"""Velocity templates through airspeed's parse tree: references, bound names, syntax errors.

airspeed leaves an undefined ``${x}`` (and ``$x``) literal, as Velocity 1.5 did in the CLT, so
a typo in a column name silently reaches workers. :func:`scan` lists every reference with its
line, whether it was written formally (``${x}``, ``$!{x}``) or as shorthand (``$x``), and whether
it sits inside an XML comment; and it lists the names the template binds itself (``#set``,
``#foreach``, macro arguments …). The text is never searched with a regular expression for
references: only the parser knows that ``\\$x`` is escaped, ``$0.50`` is text and ``##`` starts
a Velocity comment. :func:`syntax_error` maps airspeed's syntax errors to the template's lines.

airspeed is imported inside :func:`scan` only, so importing this module stays cheap.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mturkmake.errors import FormatError

#: Names Velocity binds inside ``#foreach``. Velocity 1.5 had ``$velocityCount`` (from 1) and
#: ``$velocityHasNext``; airspeed also binds ``$foreach`` (Velocity 1.7), accepted here too.
LOOP_NAMES = frozenset({"velocityCount", "velocityHasNext", "foreach"})

#: ``$formatter`` methods that bind a new name in the context (VelocityFormatter).
_ALTERNATOR_MAKERS = frozenset({"makeAlternator", "makeAutoAlternator"})

# An unterminated comment runs to the end, as an XML parser would read it.
_XML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)


@dataclass(frozen=True)
class Reference:
    """One reference in a template.

    :param name: the first name of the reference: ``helper`` for ``$helper.urlencode($id)``.
    :param formal: written with braces (``${x}`` or ``$!{x}``), not as shorthand ``$x``.
    :param line: the 1-based line in the template's source file.
    :param in_comment: inside an XML comment ``<!-- … -->``.
    :param column: the 1-based column of the ``$``.
    """

    name: str
    formal: bool
    line: int
    in_comment: bool
    column: int = 1


@dataclass(frozen=True)
class TemplateNames:
    """What :func:`scan` found: every reference in source order, the names bound, and the
    ``#parse``/``#include`` directives (directive, line), which need files next to the template.
    """

    references: tuple[Reference, ...]
    defined: frozenset[str]
    file_directives: tuple[tuple[str, int], ...] = ()


class SourceMap:
    """Maps offsets in a template's text to lines, columns and XML comments."""

    def __init__(self, text: str, *, first_line: int = 1) -> None:
        self.text = text
        self.first_line = first_line
        self._newlines = [i for i, char in enumerate(text) if char == "\n"]
        spans = [(m.start(), m.end()) for m in _XML_COMMENT.finditer(text)]
        self._comment_starts = [start for start, _ in spans]
        self._comment_ends = [end for _, end in spans]

    def line(self, offset: int) -> int:
        """The line (counting from ``first_line``) holding ``offset``."""
        return self.first_line + bisect.bisect_left(self._newlines, offset)

    def column(self, offset: int) -> int:
        """The 1-based column of ``offset`` in its line."""
        index = bisect.bisect_left(self._newlines, offset)
        line_start = self._newlines[index - 1] + 1 if index else 0
        return offset - line_start + 1

    def in_comment(self, offset: int) -> bool:
        """Whether ``offset`` lies inside an XML comment."""
        index = bisect.bisect_right(self._comment_starts, offset) - 1
        return index >= 0 and offset < self._comment_ends[index]


def scan(root: Any, source_map: SourceMap) -> TemplateNames:
    """List the references and bound names of a parsed template.

    :param root: airspeed's parse tree (``airspeed.Template(...).root_element``).
    :param source_map: the template's text, for lines and XML comments.
    """
    import airspeed  # lazily: a run without templates never imports airspeed

    found: list[tuple[int, Reference]] = []
    defined: set[str] = set()
    file_directives: list[tuple[int, str]] = []
    for node, base in _walk(root, airspeed._Element):
        offset = base + node.start
        if isinstance(node, airspeed.FormalReference):
            expression = node.expression
            if expression is None:  # a lone ``$``, or ``$0.50``: text, not a reference
                continue
            formal = node.my_text().startswith(("${", "$!{"))
            reference = Reference(
                name=expression.part.name,
                formal=formal,
                line=source_map.line(offset),
                in_comment=source_map.in_comment(offset),
                column=source_map.column(offset),
            )
            found.append((offset, reference))
            defined.update(_alternator_names(expression, airspeed))
        elif isinstance(node, airspeed.SetDirective):
            defined.add(node.terms[0])
        elif isinstance(node, airspeed.ForeachDirective):
            defined.add(node.loop_var_name)
        elif isinstance(node, airspeed._FunctionDefinition):
            defined.update(node.arg_names)
            if isinstance(node, airspeed.DefineDefinition):
                defined.add(node.function_name)
        elif isinstance(node, airspeed.ParseDirective):
            file_directives.append((offset, "#parse"))
        elif isinstance(node, airspeed.IncludeDirective):
            file_directives.append((offset, "#include"))
    found.sort(key=lambda item: item[0])
    return TemplateNames(
        references=tuple(reference for _, reference in found),
        defined=frozenset(defined | LOOP_NAMES),
        file_directives=tuple(
            (directive, source_map.line(offset)) for offset, directive in sorted(file_directives)
        ),
    )


def _walk(root: Any, element_type: type) -> Iterator[tuple[Any, int]]:
    """Every parse-tree element under ``root`` with the offset its positions are relative to.

    Generic on purpose: airspeed keeps children in attributes whose names differ per element,
    and some only inside a bound method (``ParenthesizedExpression.calculate`` is its inner
    expression's), so every attribute value is followed. An interpolated string literal parses
    its value as a separate text whose positions start at 0 after the opening quote.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, base = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node, base
        for attribute, value in vars(node).items():
            child_base = base
            if attribute == "block" and type(node).__name__ == "InterpolatedStringLiteral":
                child_base = base + node.start + 1
            for child in _children(value, element_type):
                stack.append((child, child_base))


def _children(value: Any, element_type: type) -> Iterator[Any]:
    if isinstance(value, element_type):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _children(item, element_type)
    elif isinstance(value, dict):  # DictionaryLiteral keeps key and value elements
        for key, item in value.items():
            yield from _children(key, element_type)
            yield from _children(item, element_type)
    elif isinstance(getattr(value, "__self__", None), element_type):  # a bound method
        yield value.__self__


def _alternator_names(expression: Any, airspeed: Any) -> list[str]:
    """Names bound by ``$formatter.makeAlternator("name", …)`` with a literal name."""
    sub = expression.subexpression
    if expression.part.name != "formatter" or sub is None:
        return []
    call = getattr(sub, "expression", None)
    part = getattr(call, "part", None)
    if part is None or part.name not in _ALTERNATOR_MAKERS or part.parameters is None:
        return []
    values = getattr(part.parameters.values, "values", [])
    if not values:
        return []
    first = values[0].expression
    if isinstance(first, airspeed.StringLiteral):  # also covers "…" literals
        return [str(first.value)]
    return []


def syntax_error(exc: Any, source: str, source_map: SourceMap) -> FormatError:
    """Map airspeed's ``TemplateSyntaxError`` to a :class:`FormatError` at the template's line."""
    message = str(exc)
    # airspeed's message starts with its own "line N, column M: "; we give file:line:col.
    detail = message.split(": ", 1)[1] if message.startswith("line ") else message
    detail = detail.split("\n", 1)[0].rstrip(" .")
    element = exc.element
    inner = element.full_text()
    base = 0 if inner is source_map.text else max(source_map.text.find(inner), 0)
    expected = detail.split(", got:", 1)[0]
    if "#end" in expected or expected.startswith("expected block in macro"):
        # An unclosed block fails at the end of the text; the useful line is its opening.
        kind = exc.element_name().split(" ", 1)[0]
        offset = base + element.start
        return FormatError(
            f"Velocity syntax error: this #{kind} has no #end",
            file=source,
            line=source_map.line(offset),
            column=source_map.column(offset),
            hint="add the missing #end (each #if, #foreach and #macro needs one)",
        )
    offset = base + element.end
    following = inner[element.end :]
    stray = re.match(r"#\{?(end|else|elseif)\b", following)
    if stray:
        opening = "#if, #foreach or #macro" if stray.group(1) == "end" else "#if"
        return FormatError(
            f"Velocity syntax error: #{stray.group(1)} without an opening {opening}",
            file=source,
            line=source_map.line(offset),
            column=source_map.column(offset),
            hint=r"remove it, or write \#" + stray.group(1) + " for the literal text",
        )
    return FormatError(
        f"Velocity syntax error: {detail}",
        file=source,
        line=source_map.line(offset),
        column=source_map.column(offset),
        hint=_syntax_hint(following),
    )


def _syntax_hint(following: str) -> str:
    if re.match(r"-[A-Za-z0-9_]", following):
        # Velocity 1.5 allowed "-" in names (${image-url}); airspeed does not.
        return "a name cannot contain '-' here: rename the input column with '_' instead"
    return r"fix the directive or reference; write \$ or \# for a literal $ or #"
