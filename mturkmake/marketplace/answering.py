"""What a simulated worker submits: a valid ``QuestionFormAnswers`` for any question type.

QuestionForm answers keep every constraint — selection counts, ``OtherSelection``, free text
within ``AnswerFormatRegex`` (strings are generated from the regex's parse tree), ``Length``
and ``IsNumeric`` bounds — and are checked with the formats parser's own ``problem()`` rules.
HTMLQuestion answers fill every form field by its kind; ExternalQuestion answers fill the
fields of its page (:mod:`mturkmake.marketplace.pages`).

Truth: for a question with a known true answer, the worker gives it with probability
``accuracy``, otherwise a *plausible wrong* answer (another valid option, a different valid
text). Every choice derives from (seed, HITId, WorkerId, question), never from call order.
"""

from __future__ import annotations

import importlib
import random
import re
import string
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mturkmake.errors import MturkmakeError
from mturkmake.formats.answers import Answer, build_answers
from mturkmake.formats.html_form import HTMLField
from mturkmake.formats.question import (
    ExternalQuestion,
    FileUploadSpec,
    FreeTextSpec,
    HTMLQuestion,
    Question,
    QuestionForm,
    SelectionSpec,
)
from mturkmake.marketplace import ids, questions

AnswerFn = Callable[..., "Mapping[str, object] | None"]
#: Reads an ExternalQuestion's page: the form fields to answer (None: use the fallback).
FieldSource = Callable[[str], "tuple[HTMLField, ...] | None"]

# The regex parser is private API; its parse tree is stable across 3.10–3.13.
_sre: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11) else "sre_parse")
_MAXREPEAT = int(_sre.MAXREPEAT)
_WORDS = (
    "cat",
    "dog",
    "house",
    "tree",
    "river",
    "blue",
    "green",
    "quick",
    "photo",
    "street",
    "yes",
    "no",
    "maybe",
    "car",
    "light",
    "table",
    "window",
    "happy",
    "music",
    "apple",
)
_PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " "
_CATEGORY_CHARS = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_SPACE": " ",
}


@dataclass(frozen=True)
class CrowdWorker:
    """A simulated worker as answer functions (``mturkmake_simulate_answer``) see it.

    :param accuracy: the chance of giving the true answer when the HIT has one.
    :param qualifications: system and granted qualification values by type id.
    """

    id: str
    accuracy: float
    qualifications: Mapping[str, object] = field(default_factory=dict)


def parsed_question(text: str) -> Question | None:
    """``text`` parsed (cached, shared with CreateHIT's check), None when unreadable."""
    found = questions.parsed(text)
    return None if isinstance(found, MturkmakeError) else found


def _rng(seed: int, *parts: object) -> random.Random:
    # random.Random seeded with a str is stable across runs and platforms (sha512 inside).
    return random.Random("\x1f".join(str(p) for p in (seed, *parts)))


# ----------------------------------------------------------------------------- regexes


def _in_choices(items: Sequence[tuple[Any, Any]]) -> tuple[bool, Callable[[str], bool], str]:
    """A character class: (negated, membership test, characters it lists)."""
    negate = False
    listed: list[str] = []
    ranges: list[tuple[int, int]] = []
    excluded: list[str] = []  # the characters of \D, \W, \S classes are "all but these"
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            listed.append(chr(arg))
            ranges.append((arg, arg))
        elif name == "RANGE":
            low, high = arg
            listed.extend(chr(c) for c in range(low, min(high, low + 200) + 1))
            ranges.append((low, high))
        elif name == "CATEGORY":
            category = str(arg)
            chars = _CATEGORY_CHARS.get(category.replace("CATEGORY_NOT_", "CATEGORY_"), "")
            if category.startswith("CATEGORY_NOT_"):
                excluded.append(chars)
                listed.extend(c for c in _PRINTABLE if c not in chars)
            else:
                listed.extend(chars)
                ranges.extend((ord(c), ord(c)) for c in chars)

    def member(char: str) -> bool:
        code = ord(char)
        return any(low <= code <= high for low, high in ranges) or any(
            char not in chars for chars in excluded
        )

    return negate, member, "".join(listed)


def _emit(
    items: Any, rng: random.Random, out: list[str], groups: dict[int, str], extra: int
) -> None:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append(rng.choice([c for c in string.ascii_letters if c != chr(arg)]))
        elif name == "ANY":
            out.append(rng.choice(string.ascii_letters))
        elif name == "IN":
            negate, member, listed = _in_choices(arg)
            pool = [c for c in _PRINTABLE if not member(c)] if negate else list(listed)
            out.append(rng.choice(pool or ["x"]))
        elif name == "BRANCH":
            _emit(rng.choice(arg[1]), rng, out, groups, extra)
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            sub = arg[-1] if name == "SUBPATTERN" else arg
            start = len(out)
            _emit(sub, rng, out, groups, extra)
            if name == "SUBPATTERN" and arg[0] is not None:
                groups[int(arg[0])] = "".join(out[start:])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            high = low + extra if high == _MAXREPEAT else min(high, low + extra)
            for _ in range(rng.randint(low, max(low, high))):
                _emit(sub, rng, out, groups, extra)
        elif name == "GROUPREF":
            out.append(groups.get(int(arg), ""))
        elif name == "GROUPREF_EXISTS":
            group, yes, no = arg
            chosen = yes if int(group) in groups else no
            if chosen is not None:
                _emit(chosen, rng, out, groups, extra)
        # AT (anchors), ASSERT and ASSERT_NOT produce no text; the final check filters.


def regex_samples(pattern: str, flags: int, rng: random.Random) -> Iterator[str]:
    """Strings generated from ``pattern`` (shortest repeats first, then longer ones)."""
    try:
        tree = _sre.parse(pattern, flags)
    except Exception:  # an exotic pattern: no samples, the caller falls back
        return
    for attempt in range(30):
        out: list[str] = []
        _emit(tree, rng, out, {}, extra=min(1 + attempt // 3, 12))
        yield "".join(out)


# ----------------------------------------------------------------------------- free text


def _words(rng: random.Random, low: int, high: int | None) -> str:
    text = rng.choice(_WORDS)
    while len(text) < low:
        text += " " + rng.choice(_WORDS)
    return text if high is None else text[:high].rstrip() or text[:high]


def _text_candidates(spec: FreeTextSpec, rng: random.Random, truth: str | None) -> Iterator[str]:
    low, high = spec.min_length or 0, spec.max_length
    if spec.is_numeric:
        lo = (
            spec.min_value
            if spec.min_value is not None
            else ((spec.max_value - 100) if spec.max_value is not None else 0)
        )
        hi = spec.max_value if spec.max_value is not None else lo + 100
        if truth is not None and truth.strip().lstrip("-").isdigit():
            number = int(truth)  # a near miss is the plausible wrong number
            for step in (1, -1, 2, -2, 5, -5, 10, -10):
                yield str(number + step)
        for _ in range(20):
            yield str(rng.randint(lo, hi))
        yield from (str(lo), str(hi), str(lo).zfill(low))
    for regex in spec.regexes[:1]:
        flags = re.IGNORECASE if "i" in regex.flags.lower() else 0
        for sample in regex_samples(regex.pattern, flags, rng):
            yield sample
            if len(sample) < low:
                yield sample + "x" * (low - len(sample))
    if spec.default_text and truth is None:
        yield spec.default_text
    for _ in range(10):
        yield _words(rng, low, high)
    yield from ("a" * max(low, 1), "1" * max(low, 1), "A" * max(low, 1))


def free_text(spec: FreeTextSpec, rng: random.Random, truth: str | None, honest: bool) -> str:
    """A free-text answer within ``spec``: the truth when honest, else a different valid text."""
    if truth is not None and honest and spec.problem(truth) is None:
        return truth
    fallback: str | None = None
    for candidate in _text_candidates(spec, rng, truth):
        if spec.problem(candidate) is None:
            if truth is None or candidate.strip().lower() != truth.strip().lower():
                return candidate
            fallback = fallback or candidate
    # Only the truth fits (or no simple answer fits an unusual regex): submit what we have.
    return fallback if fallback is not None else (truth or "answer")


# ----------------------------------------------------------------------------- selections


def truth_selection(spec: SelectionSpec, truth: object) -> tuple[tuple[str, ...], str | None]:
    """A true answer as (selection ids, other text): ids, ``a|b`` as in ``.results``, or a
    selection's text; a value matching nothing is the ``OtherSelection`` text when there is
    one."""
    values = [str(t) for t in truth] if isinstance(truth, (list, tuple)) else str(truth).split("|")
    by_text = {s.text.strip().lower(): s.identifier for s in spec.selections}
    chosen: list[str] = []
    other: str | None = None
    for value in (v.strip() for v in values if v.strip()):
        if value in spec.identifiers:
            chosen.append(value)
        elif value.lower() in by_text:
            chosen.append(by_text[value.lower()])
        else:
            other = value
    return tuple(chosen), other


def _random_selection(
    spec: SelectionSpec, rng: random.Random
) -> tuple[tuple[str, ...], str | None]:
    pool = list(spec.identifiers)
    choices = len(pool) + (1 if spec.other is not None else 0)
    low, high = spec.min_count, min(spec.max_count, choices)
    # an optional question (MinSelectionCount 0) is now and then left unanswered
    skip = low == 0 and rng.random() < 0.1
    count = 0 if skip else rng.randint(max(low, 1) if high >= 1 else 0, max(high, low))
    use_other = spec.other is not None and (count > len(pool) or rng.random() < 0.1) and count
    picked = rng.sample(pool, min(len(pool), count - (1 if use_other else 0)))
    ordered = tuple(i for i in spec.identifiers if i in picked)
    other = free_text(spec.other, rng, None, False) if use_other and spec.other else None
    return ordered, other


def selection(
    spec: SelectionSpec, rng: random.Random, truth: object | None, honest: bool
) -> tuple[tuple[str, ...], str | None]:
    """(selection ids, other text) within ``spec``; the truth when honest, else another valid
    choice."""
    wanted = truth_selection(spec, truth) if truth is not None else None
    if wanted is not None and honest and spec.problem(*wanted) is None:
        return wanted
    fallback: tuple[tuple[str, ...], str | None] | None = None
    for _ in range(25):
        picked = _random_selection(spec, rng)
        if spec.problem(*picked) is not None:
            continue
        if wanted is None or (set(picked[0]), picked[1]) != (set(wanted[0]), wanted[1]):
            return picked
        fallback = picked
    if fallback is not None:  # the only valid answer is the true one
        return fallback
    return spec.identifiers[: max(spec.min_count, 1)], None


# ----------------------------------------------------------------------------- HTML fields


def _kind_value(kind: str, rng: random.Random) -> str:
    n = rng.randint(1, 28)
    values = {
        "number": str(rng.randint(0, 10)),
        "range": str(rng.randint(0, 100)),
        "email": f"worker{n}@example.com",
        "url": f"https://example.com/{rng.choice(_WORDS)}",
        "tel": f"555-01{n:02d}",
        "date": f"2026-01-{n:02d}",
        "time": f"{n % 24:02d}:{n:02d}",
        "datetime-local": f"2026-01-{n:02d}T{n % 24:02d}:30",
        "month": f"2026-{n % 12 + 1:02d}",
        "week": f"2026-W{n:02d}",
        "color": f"#{rng.randrange(16**6):06x}",
        "crowd-slider": str(rng.randint(0, 100)),
    }
    return values.get(kind) or _words(rng, 1, None)


def html_value(spec: HTMLField, rng: random.Random, truth: object | None, honest: bool) -> str:
    """A value for one form field; checkbox groups join their checked values with ``|``."""
    wanted = None if truth is None else str(truth)
    if wanted is not None and honest:
        return wanted
    if spec.kind == "hidden":
        return spec.options[0] if spec.options else ""
    options = [o for o in spec.options if o != ""]
    for _ in range(20):
        if spec.kind == "checkbox" and len(options) > 1:
            picked = rng.sample(options, rng.randint(1, len(options)))
            value = "|".join(o for o in options if o in picked)
        elif spec.kind == "checkbox":
            value = options[0] if options else "on"
        elif (options and spec.kind in ("radio", "select")) or len(options) > 1:
            value = rng.choice(options)
        else:
            value = _kind_value(spec.kind, rng)
        if wanted is None or value.lower() != wanted.lower():
            return value
    return value


# ----------------------------------------------------------------------------- documents


def _is_honest(seed: int, hit_id: str, worker: CrowdWorker, qid: str) -> bool:
    return ids.fraction(seed, hit_id, worker.id, qid, "truth") < worker.accuracy


def _from_fn(given: Mapping[str, object], joined: bool) -> str:
    records: dict[str, str | list[str]] = {}
    for key, value in given.items():
        if isinstance(value, (list, tuple)):
            values = [str(x) for x in value]
            records[str(key)] = "|".join(values) if joined else values
        else:
            records[str(key)] = str(value)
    return build_answers(records)


def _field_answers(
    fields: Sequence[HTMLField],
    seed: int,
    hit_id: str,
    worker: CrowdWorker,
    truth: Mapping[str, object] | None,
) -> list[Answer]:
    records = []
    for spec in fields:
        rng = _rng(seed, hit_id, worker.id, spec.name)
        known = None if truth is None else truth.get(spec.name)
        value = html_value(spec, rng, known, _is_honest(seed, hit_id, worker, spec.name))
        records.append(Answer(spec.name, free_text=value))
    return records


def answer_xml(
    seed: int,
    hit_id: str,
    question: str,
    worker: CrowdWorker,
    *,
    truth: Mapping[str, object] | None,
    answer_fn: AnswerFn | None = None,
    fields_of: FieldSource | None = None,
    fallback_fields: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A valid QuestionFormAnswers document for ``question`` from ``worker``.

    :param truth: the HIT's true answers by question id (or None).
    :param answer_fn: tried first (``mturkmake_simulate_answer``); None lets the crowd answer.
    :param fields_of: reads an ExternalQuestion page's fields (None: never read pages).
    :param fallback_fields: an ExternalQuestion's fields when its page gives none
        (``local.external_fields``: name → the values it offers).
    """
    parsed = parsed_question(question)
    if answer_fn is not None:
        given = answer_fn(parsed, worker, truth)
        if given is not None:
            return _from_fn(given, joined=not isinstance(parsed, QuestionForm))
    records: list[Answer] = []
    if isinstance(parsed, QuestionForm):
        for q in parsed.questions:
            rng = _rng(seed, hit_id, worker.id, q.identifier)
            known = None if truth is None else truth.get(q.identifier)
            honest = _is_honest(seed, hit_id, worker, q.identifier)
            if isinstance(q.answer, SelectionSpec):
                chosen, other = selection(q.answer, rng, known, honest)
                records.append(Answer(q.identifier, selections=chosen, other_selection_text=other))
            elif isinstance(q.answer, FileUploadSpec):
                records.append(
                    Answer(
                        q.identifier,
                        uploaded_file_key=ids.derive(seed, "file", hit_id, worker.id, q.identifier),
                        uploaded_file_size=rng.randint(
                            q.answer.min_bytes or 1, max(q.answer.max_bytes, 1)
                        ),
                    )
                )
            else:
                text = free_text(q.answer, rng, None if known is None else str(known), honest)
                records.append(Answer(q.identifier, free_text=text))
        return build_answers(records)
    if isinstance(parsed, HTMLQuestion):
        return build_answers(_field_answers(parsed.fields, seed, hit_id, worker, truth))
    fields: tuple[HTMLField, ...] | None = None
    if isinstance(parsed, ExternalQuestion) and fields_of is not None:
        fields = fields_of(parsed.url)
    if not fields:
        fallback = fallback_fields or {"answer": ()}
        fields = tuple(
            HTMLField(name, "radio" if options else "text", tuple(options))
            for name, options in fallback.items()
        )
    return build_answers(_field_answers(fields, seed, hit_id, worker, truth))
