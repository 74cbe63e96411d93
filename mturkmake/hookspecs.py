"""Every hook mturkmake calls, and the frozen types plugins exchange with it.

Plugins implement hooks with :data:`hookimpl` (``from mturkmake import hookimpl``); nothing is
discovered by name prefix. Calls always use keyword arguments, so an implementation may take
*fewer* arguments than its spec; specs only ever gain arguments (a snapshot test pins them).

Phases: options and configuration (``add_options``, ``config_keys``, ``configure``), then
registration (``rules``, ``commands``, ``template_engines``, ``evaluators``,
``qualification_evaluators``), then service (``make_client``, ``simulate_answer``) and reporting
(``report``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import pluggy

PROJECT_NAME = "mturkmake"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------------------------
# Types plugins see. All frozen: a plugin cannot change what another plugin will see.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigKey:
    """A configuration key a plugin (or the core) accepts.

    :param name: the key as written in ``mturkmake.toml`` / ``[tool.mturkmake]``.
    :param type: the accepted Python type(s) after TOML parsing: ``str``, ``int``, ``float``,
        ``bool``, ``list`` or ``dict`` (a table, e.g. ``[tool.mturkmake.local]``).
    :param default: the value when nothing sets it.
    :param help: one line for ``mturkmake --help-config`` and error messages.
    :param env: whether ``MTURKMAKE_<NAME>`` (upper case) may set it; environment strings are
        converted to ``type`` (``int``, ``float``, ``bool`` as ``1/0/true/false``, ``list`` as
        comma separated). Tables cannot come from the environment.
    """

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    env: bool = True


#: The attribute that marks a command handler as a placeholder (:attr:`CommandSpec.implemented`).
PLACEHOLDER_MARK = "mturkmake_placeholder"

#: The directory at the project root that holds mturkmake's state (ledger, lock, caches).
STATE_DIR = ".mturkmake"


@dataclass(frozen=True)
class Config:
    """The final configuration of a run: every declared key's value and where it came from.

    :param root: the project root (DESIGN §2).
    :param values: every declared key's final value (``config.get("budget")``).
    :param sources: where each value came from (a file, a variable, a flag, ``default``).
    :param extras: what each config layer (``mturkmake_config_layers``) keeps beside its
        values, by layer name — e.g. credentials that must never become ordinary values.
    """

    root: Path
    values: Mapping[str, Any]
    sources: Mapping[str, str]
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        """``.mturkmake/`` at the project root."""
        return self.root / STATE_DIR

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (declared keys always have one), else ``default``."""
        return self.values.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


@dataclass(frozen=True)
class ConfigLayer:
    """Configuration read from a file of a plugin's own (the CLT's ``mturk.properties``).

    Layers rank below the project file, the environment and flags, above defaults.

    :param name: the layer's name (the key of its ``extra`` in :attr:`Config.extras`).
    :param source: the file it was read from, for messages.
    :param values: values of declared keys it sets.
    :param extra: anything else the plugin keeps for itself (never printed).
    """

    name: str
    source: str
    values: Mapping[str, Any] = field(default_factory=dict)
    extra: Any = None


@dataclass(frozen=True)
class Event:
    """Something worth telling the user: progress, a cost line, a warning, an outcome.

    :param kind: a dotted name, e.g. ``target.start``, ``target.done``, ``target.uptodate``,
        ``target.incomplete``, ``progress``, ``cost``, ``warning``, ``info``, ``error``.
    :param message: the text a plain reporter prints.
    :param target: the target concerned, if any.
    :param data: structured details (counts, ids) for richer reporters.
    """

    kind: str
    message: str = ""
    target: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What every action, command handler and evaluator may use.

    :param root: the project root (DESIGN §2).
    :param config: the final, frozen configuration.
    :param host: the typed facade over this run's plugin manager.
    :param options: the parsed global and command options, by destination name.
    :param interactive: whether stdin and stdout are terminals (confirmations may ask).
    """

    root: Path
    config: Config
    host: Host
    options: Mapping[str, Any] = field(default_factory=dict)
    interactive: bool = False

    def report(self, event: Event) -> None:
        """Send ``event`` to every ``mturkmake_report`` implementation."""
        self.host.report(event)


@dataclass(frozen=True)
class Outcome:
    """What a rule's action returns.

    :param complete: ``False`` makes the target *incomplete*: it is committed, but stale on
        the next run (remote work still pending, DESIGN §2).
    :param error: set when the action made side effects and then failed: the targets it
        wrote (a projection of what exists) are committed, marked incomplete, and the run
        exits 2 with this line. An action that fails *before* any side effect raises instead,
        and no target is left.
    :param message: a line to report with the result, e.g. ``"9/12 HITs done"``.
    """

    complete: bool = True
    error: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Job:
    """One execution of a rule for one target, handed to the rule's action.

    :param rule: the rule being run.
    :param target: the goal target, a path relative to the root (``/``-separated).
    :param also_makes: the other targets this run makes (multi-target rules).
    :param stem: what ``%`` matched.
    :param prerequisites: the required prerequisites, relative to the root.
    :param optional_prerequisites: the optional prerequisites that exist.
    :param outputs: for each target (goal and ``also_makes``), the temporary path the action
        writes. The engine commits them atomically after the action returns; an output the
        action does not write means "this target does not exist" (an old file is removed).
    :param context: the run's context.
    """

    rule: Rule
    target: str
    also_makes: tuple[str, ...]
    stem: str
    prerequisites: tuple[str, ...]
    optional_prerequisites: tuple[str, ...]
    outputs: Mapping[str, Path]
    context: Context

    def path(self, name: str) -> Path:
        """The absolute path of a target or prerequisite name."""
        return self.context.root / name


@dataclass(frozen=True)
class Rule:
    """A pattern rule, as GNU make has them: ``%.results: %.success``.

    :param target: the target pattern, with exactly one ``%``.
    :param prerequisites: prerequisite patterns; all must exist or be makeable.
    :param action: called to build the target; returns an :class:`Outcome`, raises a
        :class:`~mturkmake.errors.MturkmakeError` on a failure without side effects.
    :param optional_prerequisites: patterns used when they exist (or can be made from a file
        that exists); their changes make the target stale too.
    :param also_makes: further target patterns the same action writes (``%.failure``).
    :param name: shown by ``--explain`` and in messages, e.g. ``loadHITs``.
    :param preview: called instead of ``action`` under ``-n``; must not cause side effects.
        When ``None``, ``-n`` only reports that the target would be made.
    """

    target: str
    prerequisites: tuple[str, ...]
    action: Callable[[Job], Outcome]
    optional_prerequisites: tuple[str, ...] = ()
    also_makes: tuple[str, ...] = ()
    name: str = ""
    preview: Callable[[Job], None] | None = None


@dataclass(frozen=True)
class Flag:
    """One flag of a command.

    :param name: as the CLT spells it, without dashes (``input``, ``sandbox``); both
        ``-name`` and ``--name`` are accepted, never abbreviated.
    :param value: the metavar for a flag taking a value; ``None`` for a switch.
    :param help: one line for ``-help``.
    :param required: whether the command refuses to run without it.
    :param default: the value when absent.
    :param repeat: whether the flag may be given several times (values become a list).
    """

    name: str
    value: str | None = None
    help: str = ""
    required: bool = False
    default: Any = None
    repeat: bool = False


@dataclass(frozen=True)
class CommandSpec:
    """A CLT-style command (``loadHITs``) or a subcommand (``marketplace serve``).

    :param name: the command words; several words make a subcommand.
    :param flags: its flags.
    :param handler: ``handler(args, ctx) -> exit code``; ``args`` maps flag names (and
        positional names) to values.
    :param help: one line for the command list.
    :param confirms: the command asks before acting (``-force`` skips; without a terminal
        it refuses), as approveWork did in the CLT.
    :param spends_money: the command can move money (cost line, budget, production prompt).
    :param aliases: other accepted names, e.g. the snake_case ``load_hits``.
    :param positionals: positional arguments, in order (subcommands like ``unreject``).
    """

    name: str
    flags: tuple[Flag, ...]
    handler: Callable[[Mapping[str, Any], Context], int]
    help: str = ""
    confirms: bool = False
    spends_money: bool = False
    aliases: tuple[str, ...] = ()
    positionals: tuple[Flag, ...] = ()

    @property
    def implemented(self) -> bool:
        """``False`` for a CLT command's placeholder (it parses the flags, then says it is not
        implemented and exits 2): its handler carries the ``mturkmake_placeholder`` mark."""
        return getattr(self.handler, PLACEHOLDER_MARK, False) is not True


@dataclass(frozen=True)
class Assignment:
    """One assignment, as evaluators see it.

    :param answers: question identifier → answer text; selections ``|``-joined, as in
        ``.results``.
    :param inputs: the input row the HIT was made from (raw values), when known.
    :param row: every column of the ``.results`` (or ``.review``) row, including hand-made
        ``reject`` and ``feedback`` marks.
    """

    assignment_id: str
    hit_id: str
    worker_id: str
    status: str
    answers: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    row: Mapping[str, str] = field(default_factory=dict)
    accept_time: datetime | None = None
    submit_time: datetime | None = None
    auto_approval_time: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """An evaluator's decision on one assignment (or qualification request).

    A rejection must carry non-empty feedback (workers see it).
    """

    decision: Literal["approve", "reject"]
    feedback: str = ""
    evaluator: str = ""


@dataclass(frozen=True)
class QualificationRequest:
    """A worker's request for a qualification, with the test answers if there was a test."""

    request_id: str
    qualification_type_id: str
    worker_id: str
    answers: Mapping[str, str] = field(default_factory=dict)
    submit_time: datetime | None = None


class Evaluator(Protocol):
    """Decides a whole batch at once (so it can compare workers)."""

    name: str

    def evaluate(self, assignments: Sequence[Assignment], ctx: Context) -> Mapping[str, Verdict]:
        """Return a verdict per assignment id; an id left out is not decided by this one."""
        ...


class QualificationEvaluator(Protocol):
    """Decides qualification requests."""

    name: str

    def evaluate(
        self, requests: Sequence[QualificationRequest], ctx: Context
    ) -> Mapping[str, Verdict]:
        """Return a verdict per request id."""
        ...


class CompiledTemplate(Protocol):
    """A parsed template, ready to render rows."""

    def check(self, columns: Sequence[str], *, strict: str = "formal") -> list[str]:
        """Check references against the input ``columns``.

        Raises :class:`~mturkmake.errors.FormatError` (template file and line) for an error
        under ``strict`` (``formal``, ``all`` or ``off``); returns warning lines otherwise.
        """
        ...

    def render(self, row: Mapping[str, str]) -> str:
        """Merge one input row."""
        ...


class TemplateEngine(Protocol):
    """A named templating engine (``velocity`` is built in)."""

    name: str

    def is_template(self, text: str) -> bool:
        """Whether ``text`` (a property value) holds this engine's syntax; values without it
        are sent as written, never rendered."""
        ...

    def compile(
        self, text: str, *, source: str, first_line: int = 1, escape: bool = True
    ) -> CompiledTemplate:
        """Parse ``text`` (read from ``source``, used in error messages).

        :param first_line: the line of ``source`` where ``text`` starts (a templated
            property value sits on some line of the properties file).
        :param escape: whether plain references escape ``&``, ``<`` and ``>`` (questions:
            yes, as the CLT did; HIT properties: no, the CLT merged them raw).
        """
        ...


class Host(Protocol):
    """The run's plugin host as plugins see it (``ctx.host``): typed calls of the hooks."""

    def config_keys(self) -> list[ConfigKey]: ...
    def rules(self, config: Config) -> list[Rule]: ...
    def commands(self) -> list[CommandSpec]: ...
    def template_engines(self) -> dict[str, TemplateEngine]: ...
    def evaluators(self) -> dict[str, Evaluator]: ...
    def qualification_evaluators(self) -> dict[str, QualificationEvaluator]: ...
    def recoveries(self) -> list[Recovery]: ...
    def make_client(self, config: Config) -> Any: ...
    def simulate_answer(self, question: Any, worker: Any, truth: Any) -> Any: ...
    def report(self, event: Event) -> None: ...


@dataclass(frozen=True)
class Recovery:
    """How a pending intent of one side-effecting operation is resolved after a crash.

    A command that causes side effects declares one per operation it records
    (``mturkmake_recoveries``), so a third-party command gets crash recovery as the built-ins
    do (DESIGN §3).

    :param operation: the API operation (``CreateHIT``, ``SendBonus``).
    :param retry: ``retry(client, intent) -> Resolution``: re-send with the intent's token;
        used while the token is younger than 23 h.
    :param lookup: ``lookup(client, intent) -> Resolution``: find out remotely whether the
        call happened; the only way after 23 h.
    """

    operation: str
    retry: Callable[[Any, Any], Any] | None = None
    lookup: Callable[[Any, Any], Any] | None = None


# --------------------------------------------------------------------------------------------
# Options and configuration
# --------------------------------------------------------------------------------------------


@hookspec
def mturkmake_add_options(parser: argparse.ArgumentParser) -> None:
    """Add command-line options to the make-mode parser.

    Called once per run, before the command line is parsed.

    :param parser: the global :class:`argparse.ArgumentParser`.
    """


@hookspec
def mturkmake_config_keys() -> Sequence[ConfigKey]:
    """Declare the configuration keys a plugin accepts.

    Called before the configuration is read; a key that no plugin (and not the core)
    declares is an error naming the file and the key.

    :returns: the plugin's keys.
    """
    return ()


@hookspec
def mturkmake_config_layers(root: Path) -> Sequence[ConfigLayer]:
    """Read configuration files of a plugin's own (the CLT's ``mturk.properties``).

    Called once per run after the keys are declared, before the project file is applied;
    a layer's values rank below the project file, the environment and flags.

    :param root: the project root.
    :returns: the plugin's layers (none when its files are absent).
    """
    return ()


@hookspec
def mturkmake_configure(config: Config) -> None:
    """Read the final configuration.

    Called once per run, after the configuration is complete and frozen.

    :param config: the frozen configuration.
    """


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------


@hookspec
def mturkmake_rules(config: Config) -> Sequence[Rule]:
    """Contribute pattern rules (``%.results: %.success``).

    Called once per make-mode run. All results are collected; between overlapping patterns
    the graph chooses as GNU make does (shortest stem among rules that can apply).

    :param config: the frozen configuration.
    :returns: the plugin's rules.
    """
    return ()


@hookspec
def mturkmake_recoveries() -> Sequence[Recovery]:
    """Declare how pending intents of a plugin's side-effecting operations are resolved.

    Called before a run records or resolves intents. Every operation a plugin records in the
    ledger needs one, or a crash leaves an intent no run can resolve safely.

    :returns: one :class:`Recovery` per operation.
    """
    return ()


@hookspec
def mturkmake_commands() -> Sequence[CommandSpec]:
    """Contribute CLT-style commands and subcommands.

    Called once per run. Command names win over make targets of the same name.

    :returns: the plugin's commands.
    """
    return ()


@hookspec
def mturkmake_template_engines() -> Sequence[TemplateEngine]:
    """Contribute named template engines; config ``template_engine`` picks one.

    :returns: the plugin's engines.
    """
    return ()


@hookspec
def mturkmake_evaluators() -> Sequence[Evaluator]:
    """Contribute named assignment evaluators; config ``evaluators`` picks which run.

    Verdicts combine: any rejection rejects (feedback joined); otherwise, if some evaluator
    approved, approve. An assignment no evaluator decides stays undecided: neither approved
    nor rejected, ``%.approved`` stays incomplete, and MTurk approves it at its
    AutoApprovalTime (docs/plugins.md, "How verdicts combine").

    :returns: the plugin's evaluators.
    """
    return ()


@hookspec
def mturkmake_qualification_evaluators() -> Sequence[QualificationEvaluator]:
    """Contribute named evaluators of qualification requests.

    :returns: the plugin's evaluators.
    """
    return ()


# --------------------------------------------------------------------------------------------
# Service
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def mturkmake_make_client(config: Config, host: Host) -> Any:
    """Make the MTurk client (a boto3 ``mturk`` client or compatible) for the configured endpoint.

    firstresult: the first non-``None`` result is used. The core checks the client's
    endpoint against the batch's before every side effect.

    :param config: the frozen configuration.
    :param host: this run's plugin host (the local client wires the marketplace's simulated
        workers to :func:`mturkmake_simulate_answer` through it).
    :returns: a client, or ``None`` to let another plugin decide.
    """


@hookspec(firstresult=True)
def mturkmake_simulate_answer(question: Any, worker: Any, truth: Any) -> Any:
    """Answer ``question`` as the simulated ``worker`` would (local endpoint only).

    firstresult: the first non-``None`` result is used; the built-in crowd answers last.

    :param question: the parsed question (:mod:`mturkmake.formats` question record).
    :param worker: the simulated worker (id, accuracy, qualifications).
    :param truth: the HIT's true answers ``{question id: value}``, or ``None``.
    :returns: ``{question id: value or list of values}``, or ``None``.
    """


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


@hookspec
def mturkmake_report(event: Event) -> None:
    """Receive a progress or outcome event (all implementations are called).

    :param event: what happened.
    """
