"""Pattern rules → a plan: which rule makes which target, in dependency order (DESIGN §2).

The choice follows GNU make's implicit-rule search: among the rules with a target pattern
that matches and whose prerequisites exist or can (recursively) be made, the one with the
shortest stem wins, ties going to the earlier rule. So ``skill.properties.success`` is made by
``%.properties.success`` (stem ``skill``), not ``%.success`` (stem ``skill.properties``).
As in make, a rule is used at most once in a chain (which keeps the search finite), and a
file that exists with no applicable rule is a leaf.

Targets are paths relative to the project root, ``/``-separated. A target pattern without a
``/`` matches the file name only, and the directory is put back in front of the
prerequisites (``sub/x.results`` needs ``sub/x.success``), as make does.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import NamedTuple

from mturkmake.errors import CycleError, NoRuleError, UsageError
from mturkmake.hookspecs import Rule


class Step(NamedTuple):
    """One run of one rule, making ``target`` and ``also_makes``.

    :param rule: the rule chosen.
    :param rule_index: its position in the rule list (tie-break, messages).
    :param stem: what ``%`` matched, directory included.
    :param target: the rule's main target.
    :param also_makes: the other targets the same run makes.
    :param prerequisites: the required prerequisites.
    :param optional_prerequisites: the optional prerequisites that exist or can be made.
    :param optional_candidates: every optional prerequisite name, present or not (so a
        disappeared one can be told apart from a rule change).
    """

    rule: Rule
    rule_index: int
    stem: str
    target: str
    also_makes: tuple[str, ...]
    prerequisites: tuple[str, ...]
    optional_prerequisites: tuple[str, ...]
    optional_candidates: tuple[str, ...]

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every target this step makes: ``target`` first, then ``also_makes``."""
        return (self.target, *self.also_makes)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Required prerequisites, then the optional ones present."""
        return (*self.prerequisites, *self.optional_prerequisites)


class Plan(NamedTuple):
    """What to consider, in dependency order.

    :param goals: the goals, normalised.
    :param steps: every step needed, each after the steps making its prerequisites.
    :param leaves: files that exist and that no rule applies to.
    :param producer: target name → the step that makes it.
    """

    goals: tuple[str, ...]
    steps: tuple[Step, ...]
    leaves: frozenset[str]
    producer: Mapping[str, Step]

    def dependencies(self, step: Step) -> tuple[Step, ...]:
        """The steps that make ``step``'s prerequisites (present optional ones included)."""
        seen: dict[str, Step] = {}
        for name in step.inputs:
            upstream = self.producer.get(name)
            if upstream is not None:
                seen.setdefault(upstream.target, upstream)
        return tuple(seen.values())


def match(pattern: str, name: str) -> str | None:
    """The stem if ``pattern`` (one ``%``) matches ``name``, else ``None``.

    A pattern without ``/`` matches the file name and the directory joins the stem.
    """
    directory = ""
    if "/" not in pattern and "/" in name:
        directory, name = name.rsplit("/", 1)
        directory += "/"
    prefix, _, suffix = pattern.partition("%")
    if len(name) <= len(prefix) + len(suffix):
        return None  # the stem must not be empty
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    return directory + name[len(prefix) : len(name) - len(suffix)]


def substitute(pattern: str, stem: str) -> str:
    """Put ``stem`` in place of ``%``; for a pattern without ``/``, the stem's directory first."""
    if "%" not in pattern:
        return pattern
    directory = ""
    if "/" not in pattern and "/" in stem:
        directory, stem = stem.rsplit("/", 1)
        directory += "/"
    return directory + pattern.replace("%", stem, 1)


def normalize_goal(goal: str, root: Path) -> str:
    """A goal as a root-relative ``/``-separated path (``./a`` → ``a``, absolute → relative)."""
    path = PurePosixPath(goal.replace("\\", "/"))
    if path.is_absolute():
        try:
            path = PurePosixPath(Path(goal).resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            raise UsageError(
                f"target '{goal}' is outside the project root {root}",
                hint="run mturkmake from the project, or use -C",
            ) from None
    text = posixpath.normpath(path.as_posix())
    if text == ".." or text.startswith("../"):
        raise UsageError(
            f"target '{goal}' is outside the project root {root}",
            hint="run mturkmake from the project, or use -C",
        )
    return text


def check_rules(rules: Sequence[Rule]) -> None:
    """Refuse patterns without exactly one ``%`` (a plugin bug worth one clear line)."""
    for rule in rules:
        for pattern in (rule.target, *rule.also_makes):
            if pattern.count("%") != 1:
                raise UsageError(
                    f"rule '{rule.name or rule.target}': target pattern '{pattern}' must "
                    "contain exactly one '%'",
                    hint="fix the plugin's mturkmake_rules",
                )


class _Candidate:
    """A rule that matches a name, with its position and stem. A plain record: making a
    frozen dataclass costs every run about half a millisecond (#17)."""

    __slots__ = ("index", "rule", "stem")

    def __init__(self, rule: Rule, index: int, stem: str) -> None:
        self.rule = rule
        self.index = index
        self.stem = stem


class _Planner:
    def __init__(self, rules: Sequence[Rule], exists: Callable[[str], bool]) -> None:
        self.rules = tuple(rules)
        self.exists = exists
        self.producer: dict[str, Step] = {}
        self.leaves: set[str] = set()
        self.order: list[Step] = []
        self.done: set[str] = set()

    def candidates(self, name: str) -> list[_Candidate]:
        found: list[_Candidate] = []
        for index, rule in enumerate(self.rules):
            stems = [match(p, name) for p in (rule.target, *rule.also_makes)]
            stem = min((s for s in stems if s is not None), key=len, default=None)
            if stem is not None:
                found.append(_Candidate(rule, index, stem))
        # make: shortest stem first; the earlier rule on a tie (sorted() is stable).
        return sorted(found, key=lambda c: len(c.stem))

    def can_make(self, name: str, path: tuple[str, ...], used: frozenset[int]) -> bool:
        if self.exists(name) or name in self.producer:
            return True
        if name in path:
            # A cycle: say "yes" here so the walk reaches it and names it in a CycleError.
            return True
        return self.choose(name, path, used) is not None

    def choose(self, name: str, path: tuple[str, ...], used: frozenset[int]) -> _Candidate | None:
        for cand in self.candidates(name):
            if cand.index in used:
                continue
            below = (*path, name)
            inner = used | {cand.index}
            needs = [substitute(p, cand.stem) for p in cand.rule.prerequisites]
            if all(self.can_make(p, below, inner) for p in needs):
                return cand
        return None

    def no_rule(
        self, name: str, path: tuple[str, ...], used: frozenset[int], needed_by: str | None
    ) -> NoRuleError:
        """Name the deepest missing file: the one the user must create or fix.

        GNU make only names the target here; following the best-matching rule down to the
        missing file (``survey.input``) says what to do.
        """
        for cand in self.candidates(name):
            if cand.index in used:
                continue
            below, inner = (*path, name), used | {cand.index}
            for pattern in cand.rule.prerequisites:
                prerequisite = substitute(pattern, cand.stem)
                if not self.can_make(prerequisite, below, inner):
                    return self.no_rule(prerequisite, below, inner, name)
            break  # only the best-matching rule is followed
        if needed_by is None:
            return NoRuleError(f"No rule to make target '{name}'.")
        return NoRuleError(f"No rule to make target '{name}', needed by '{needed_by}'.")

    def resolve(
        self, name: str, path: tuple[str, ...], used: frozenset[int], needed_by: str | None
    ) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise CycleError(
                "circular dependency: " + " -> ".join(f"'{n}'" for n in cycle),
                hint="fix the rules so no target needs itself",
            )
        if name in self.done:
            return
        cand = self.choose(name, path, used)
        if cand is None:
            if self.exists(name):
                self.leaves.add(name)
                self.done.add(name)
                return
            raise self.no_rule(name, path, used, needed_by)
        rule, stem = cand.rule, cand.stem
        below = (*path, name)
        inner = used | {cand.index}
        prerequisites = tuple(substitute(p, stem) for p in rule.prerequisites)
        candidates = tuple(substitute(p, stem) for p in rule.optional_prerequisites)
        optional = tuple(p for p in candidates if self.can_make(p, below, inner))
        for prerequisite in (*prerequisites, *optional):
            self.resolve(prerequisite, below, inner, name)
        step = Step(
            rule=rule,
            rule_index=cand.index,
            stem=stem,
            target=substitute(rule.target, stem),
            also_makes=tuple(substitute(p, stem) for p in rule.also_makes),
            prerequisites=prerequisites,
            optional_prerequisites=optional,
            optional_candidates=candidates,
        )
        for output in step.outputs:
            self.producer.setdefault(output, step)
            self.done.add(output)
        self.order.append(step)


def plan(goals: Sequence[str], rules: Sequence[Rule], root: Path) -> Plan:
    """Resolve ``goals`` against ``rules`` in the project at ``root``.

    :raises NoRuleError: a missing file that no rule makes (make's words).
    :raises CycleError: the rules make a target need itself; the message names the cycle.
    """
    check_rules(rules)
    planner = _Planner(rules, lambda name: (root / name).exists())
    normalised = tuple(normalize_goal(g, root) for g in goals)
    for goal in normalised:
        planner.resolve(goal, (), frozenset(), None)
    return Plan(
        normalised,
        tuple(planner.order),
        frozenset(planner.leaves),
        MappingProxyType(dict(planner.producer)),
    )
