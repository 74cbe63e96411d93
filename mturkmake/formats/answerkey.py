"""Answer keys: MTurk's AnswerKey XML (``.answer``) and the CLT's ``questionid=value`` file.

**AnswerKey XML** (2005-10-01) scores a qualification test automatically: each ``Question``
lists ``AnswerOption``\\ s (one or more ``SelectionIdentifier`` and an ``AnswerScore``) and an
optional ``DefaultScore``; the summed score becomes the qualification value through an
optional ``QualificationValueMapping`` (percentage, scale or ranges). An answer matches an
option when its selections are exactly the option's (order ignored); otherwise it scores the
default (0). Percentages and scaled values are rounded down, so 2 of 3 gives 66: a worker
never receives a value they did not fully earn.

**The CLT answer key file** (``evaluateQualificationRequests -answers``) is a properties
file of ``questionid=expected``; answers are compared case-insensitively, selections joined
by ``|``, an empty answer as the literal ``emptyanswer``; a question missing from the key
stops the run; one wrong answer fails the request.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeAlias

from mturkmake.errors import FormatError
from mturkmake.formats import javaprops
from mturkmake.formats.answers import Answer, AnswerValue
from mturkmake.formats.question import NS_PREFIX, Question, QuestionForm, SelectionSpec
from mturkmake.formats.safexml import (
    XmlDocument,
    child,
    children,
    int_text,
    local_name,
    parse_xml,
    required_text,
)

ANSWER_KEY_NS = NS_PREFIX + "2005-10-01/AnswerKey.xsd"


@dataclass(frozen=True)
class AnswerOption:
    """Selections that, chosen together and alone, earn ``score``."""

    selections: tuple[str, ...]
    score: int


@dataclass(frozen=True)
class KeyQuestion:
    """How one question scores."""

    identifier: str
    options: tuple[AnswerOption, ...] = ()
    default_score: int = 0
    line: int = field(default=0, compare=False)

    def score(self, chosen: Sequence[str]) -> int:
        """The score of an answer with these selection ids."""
        for option in self.options:
            if sorted(option.selections) == sorted(chosen):
                return option.score
        return self.default_score


@dataclass(frozen=True)
class PercentageMapping:
    """Value = summed score as a whole percentage of ``maximum_summed_score`` (rounded down)."""

    maximum_summed_score: int


@dataclass(frozen=True)
class ScaleMapping:
    """Value = summed score × ``multiplier`` (rounded down)."""

    multiplier: Decimal


@dataclass(frozen=True)
class ScoreRange:
    """Summed scores from ``lower`` to ``upper`` (inclusive) give ``value``."""

    lower: int
    upper: int
    value: int


@dataclass(frozen=True)
class RangeMapping:
    """The first range holding the summed score gives the value, else ``out_of_range_value``."""

    ranges: tuple[ScoreRange, ...]
    out_of_range_value: int


ValueMapping: TypeAlias = PercentageMapping | ScaleMapping | RangeMapping


@dataclass(frozen=True)
class AnswerKey:
    """A parsed AnswerKey document."""

    questions: tuple[KeyQuestion, ...]
    mapping: ValueMapping | None = None


def _selections_of(value: AnswerValue | Answer) -> tuple[str, ...]:
    if isinstance(value, Answer):
        value = value.value if value.kind != "OtherSelectionText" else value.selections
    return (value,) if isinstance(value, str) else tuple(value)


def score(answer_key: AnswerKey, answers: Mapping[str, AnswerValue] | Iterable[Answer]) -> int:
    """The qualification value a test submission earns under ``answer_key``.

    :param answers: ``{question id: value}`` as :func:`~mturkmake.formats.answers.parse_answers`
        gives, or :class:`~mturkmake.formats.answers.Answer` records. A free-text answer
        counts as a single selection id; an unanswered question scores its default.
    """
    if isinstance(answers, Mapping):
        chosen = {qid: _selections_of(value) for qid, value in answers.items()}
    else:
        chosen = {a.question_id: _selections_of(a) for a in answers}
    total = sum(q.score(chosen.get(q.identifier, ())) for q in answer_key.questions)
    mapping = answer_key.mapping
    if isinstance(mapping, PercentageMapping):
        return math.floor(total * 100 / mapping.maximum_summed_score)
    if isinstance(mapping, ScaleMapping):
        return math.floor(total * mapping.multiplier)
    if isinstance(mapping, RangeMapping):
        for span in mapping.ranges:
            if span.lower <= total <= span.upper:
                return span.value
        return mapping.out_of_range_value
    return total


def _required_int(doc: XmlDocument, element: ET.Element, name: str, minimum: int = 0) -> int:
    value = int_text(doc, element, name, minimum=minimum)
    if value is None:
        raise doc.error(
            element, f"<{local_name(element)}> needs <{name}>", f"add <{name}>…</{name}>"
        )
    return value


_ANY = -(2**63)  # scores and values may be negative; no lower bound


def _mapping(doc: XmlDocument, element: ET.Element) -> ValueMapping:
    kinds = children(element)
    if len(kinds) != 1:
        raise doc.error(
            element,
            "<QualificationValueMapping> needs exactly one mapping",
            "use <PercentageMapping>, <ScaleMapping> or <RangeMapping>",
        )
    kind = kinds[0]
    name = local_name(kind)
    if name == "PercentageMapping":
        return PercentageMapping(_required_int(doc, kind, "MaximumSummedScore", minimum=1))
    if name == "ScaleMapping":
        found = child(kind, "SummedScoreMultiplier")
        text = (found.text or "") if found is not None else ""
        try:
            multiplier = Decimal(text.strip())
        except InvalidOperation:
            raise doc.error(
                kind, f"SummedScoreMultiplier '{text.strip()}' is not a number", "write e.g. 2.5"
            ) from None
        return ScaleMapping(multiplier)
    if name == "RangeMapping":
        ranges: list[ScoreRange] = []
        for node in children(kind, "SummedScoreRange"):
            lower = _required_int(doc, node, "InclusiveLowerBound", minimum=_ANY)
            upper = _required_int(doc, node, "InclusiveUpperBound", minimum=_ANY)
            if lower > upper:
                raise doc.error(node, "the range's lower bound is above its upper", "swap them")
            ranges.append(ScoreRange(lower, upper, _required_int(doc, node, "QualificationValue")))
        if not ranges:
            raise doc.error(kind, "<RangeMapping> has no <SummedScoreRange>", "add one")
        out_of_range = _required_int(doc, kind, "OutOfRangeQualificationValue")
        return RangeMapping(tuple(ranges), out_of_range)
    raise doc.error(kind, f"unknown mapping <{name}>", "use Percentage-, Scale- or RangeMapping")


def parse_answer_key(text: str, *, source: str) -> AnswerKey:
    """Parse an AnswerKey document (after any template merging).

    :raises FormatError: bad XML, another root or namespace, a question without identifier,
        a repeated question, a non-integer score, an incomplete mapping.
    """
    doc = parse_xml(text, source=source)
    root = doc.root
    if local_name(root) != "AnswerKey" or doc.namespace != ANSWER_KEY_NS:
        raise doc.error(
            root,
            f"expected <AnswerKey> in the AnswerKey namespace, found <{local_name(root)}>",
            f'write <AnswerKey xmlns="{ANSWER_KEY_NS}">',
        )
    questions: list[KeyQuestion] = []
    mapping: ValueMapping | None = None
    for node in root:
        name = local_name(node)
        if name == "QualificationValueMapping":
            mapping = _mapping(doc, node)
            continue
        if name != "Question":
            raise doc.error(node, f"unexpected <{name}> in <AnswerKey>", "use <Question>")
        identifier = required_text(doc, node, "QuestionIdentifier")
        if any(q.identifier == identifier for q in questions):
            raise doc.error(node, f"question '{identifier}' appears twice", "merge its options")
        options: list[AnswerOption] = []
        for option in children(node, "AnswerOption"):
            ids = tuple((s.text or "").strip() for s in children(option, "SelectionIdentifier"))
            if not ids or not all(ids):
                raise doc.error(
                    option, "<AnswerOption> needs SelectionIdentifier(s)", "name the right choice"
                )
            options.append(AnswerOption(ids, _required_int(doc, option, "AnswerScore", _ANY)))
        default = int_text(doc, node, "DefaultScore", minimum=_ANY)
        questions.append(KeyQuestion(identifier, tuple(options), default or 0, doc.line(node)))
    if not questions:
        raise doc.error(root, "the AnswerKey has no <Question>", "add one per test question")
    return AnswerKey(tuple(questions), mapping)


def check_answer_key(answer_key: AnswerKey, test: Question, *, source: str) -> None:
    """Check that the key fits its test (createQualificationType's preflight).

    :param source: the answer key's file name, for the error.
    :raises FormatError: the test is not a QuestionForm, or the key names a question the test
        does not have, or a selection id that question does not offer.
    """
    if not isinstance(test, QuestionForm):
        raise FormatError(
            "a qualification test must be a QuestionForm",
            file=source,
            hint="write the test as <QuestionForm>; HTML and external questions cannot be tests",
        )
    offered = {q.identifier: q.answer for q in test.questions}
    for question in answer_key.questions:
        spec = offered.get(question.identifier)
        if spec is None:
            raise FormatError(
                f"the key scores question '{question.identifier}', which the test does not have",
                file=source,
                line=question.line,
                hint=f"use one of: {', '.join(offered)}",
            )
        if isinstance(spec, SelectionSpec):
            for option in question.options:
                unknown = [s for s in option.selections if s not in spec.identifiers]
                if unknown:
                    raise FormatError(
                        f"question '{question.identifier}' offers no selection '{unknown[0]}'",
                        file=source,
                        line=question.line,
                        hint=f"use one of: {', '.join(spec.identifiers)}",
                    )


def load_answer_key(path: str | Path) -> AnswerKey:
    """Read a UTF-8 AnswerKey file without template syntax and parse it."""
    return parse_answer_key(javaprops.read_text(path), source=str(path))


def _element(name: str, value: object) -> str:
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{name}>{text}</{name}>"


def build_answer_key(answer_key: AnswerKey) -> str:
    """Write an AnswerKey document that :func:`parse_answer_key` reads back unchanged."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<AnswerKey xmlns="{ANSWER_KEY_NS}">']
    for question in answer_key.questions:
        out.append("<Question>" + _element("QuestionIdentifier", question.identifier))
        for option in question.options:
            ids = "".join(_element("SelectionIdentifier", s) for s in option.selections)
            out.append(f"<AnswerOption>{ids}{_element('AnswerScore', option.score)}</AnswerOption>")
        if question.default_score:
            out.append(_element("DefaultScore", question.default_score))
        out.append("</Question>")
    mapping = answer_key.mapping
    if mapping is not None:
        out.append("<QualificationValueMapping>")
        if isinstance(mapping, PercentageMapping):
            inner = _element("MaximumSummedScore", mapping.maximum_summed_score)
            out.append(f"<PercentageMapping>{inner}</PercentageMapping>")
        elif isinstance(mapping, ScaleMapping):
            inner = _element("SummedScoreMultiplier", mapping.multiplier)
            out.append(f"<ScaleMapping>{inner}</ScaleMapping>")
        else:
            out.append("<RangeMapping>")
            for span in mapping.ranges:
                out.append(
                    "<SummedScoreRange>"
                    + _element("InclusiveLowerBound", span.lower)
                    + _element("InclusiveUpperBound", span.upper)
                    + _element("QualificationValue", span.value)
                    + "</SummedScoreRange>"
                )
            out.append(_element("OutOfRangeQualificationValue", mapping.out_of_range_value))
            out.append("</RangeMapping>")
        out.append("</QualificationValueMapping>")
    out.append("</AnswerKey>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------
# The CLT answer key file (evaluateQualificationRequests -answers)
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CltAnswerKey:
    """``questionid=expected`` pairs with their lines."""

    expected: Mapping[str, javaprops.Property]
    source: str = ""


def parse_clt_answer_key(text: str, *, source: str) -> CltAnswerKey:
    """Parse the properties-style answer key; an empty file is an error."""
    props = javaprops.parse(text, source=source)
    if not props:
        raise FormatError(
            "the answer key is empty",
            file=source,
            line=1,
            hint="write one 'questionid=expected answer' line per question",
        )
    return CltAnswerKey({p.key: p for p in props}, source)


def build_clt_answer_key(expected: Mapping[str, str]) -> str:
    """Write a CLT answer key file."""
    return javaprops.dump(expected.items())


def passes_clt_answer_key(key: CltAnswerKey, answers: Iterable[Answer]) -> bool:
    """The CLT's verdict: every answer equals the key (ignoring case), else fail.

    :raises FormatError: an answered question is missing from the key (the CLT stopped the
        whole run; so do we).
    """
    passed = True
    for answer in answers:
        expected = key.expected.get(answer.question_id)
        if expected is None:
            raise FormatError(
                f"question '{answer.question_id}' is not in the answer key",
                file=key.source,
                hint=f"add a line '{answer.question_id}=<expected answer>'",
            )
        given = answer.clt_value or "emptyanswer"
        if given.lower() != expected.value.lower():
            passed = False
    return passed


__all__ = [
    "ANSWER_KEY_NS",
    "AnswerKey",
    "AnswerOption",
    "CltAnswerKey",
    "KeyQuestion",
    "PercentageMapping",
    "RangeMapping",
    "ScaleMapping",
    "ScoreRange",
    "ValueMapping",
    "build_answer_key",
    "build_clt_answer_key",
    "check_answer_key",
    "load_answer_key",
    "parse_answer_key",
    "parse_clt_answer_key",
    "passes_clt_answer_key",
    "score",
]
