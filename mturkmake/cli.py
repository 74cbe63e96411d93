"""The command line: make mode, CLT command mode and subcommands (DESIGN §8).

``mturkmake [global options] TARGET...`` builds targets; ``mturkmake [global options] COMMAND
[flags]`` runs a CLT-style command (``loadHITs -input …``) or a subcommand (``marketplace
serve``). Command names win over targets of the same name (``./init`` is a target). This
module parses and dispatches; the only place exceptions become exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mturkmake.errors import ExitCode, MturkmakeError, UsageError

if TYPE_CHECKING:
    from mturkmake.core.plugins import PluginHost
    from mturkmake.hookspecs import CommandSpec, Context

PROG = "mturkmake"


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, reading the terminal width as ``shutil.get_terminal_size`` does
    without importing shutil (and with it zlib, bz2 and lzma) on every run (#17)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of exiting."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"see '{self.prog} --help'")

    def _get_option_tuples(self, option_string: str) -> list[Any]:
        # CPython gh-104860: before 3.12, allow_abbrev=False still matched prefixes of
        # single-dash long options (-inp for -input). The CLT never abbreviated; neither do we.
        tuples: list[Any] = super()._get_option_tuples(option_string)
        return [t for t in tuples if len(t[1]) == 2]


def _global_parser(*, targets: bool) -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="make for Amazon Mechanical Turk batches",
        allow_abbrev=False,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--help-config",
        action="store_true",
        help="list every configuration key (plugins' included), its default and help",
    )
    parser.add_argument("-C", "--directory", metavar="DIR", help="change to DIR first")
    parser.add_argument(
        "-n",
        "--dry-run",
        "--just-print",
        action="store_true",
        help="print what would be done; change nothing, call nothing",
    )
    parser.add_argument(
        "-q",
        "--question",
        action="store_true",
        help="run nothing; exit 1 if a target is out of date, else 0",
    )
    parser.add_argument(
        "-B",
        "--always-make",
        action="store_true",
        help="rebuild targets (reconciles; never duplicates HITs)",
    )
    parser.add_argument(
        "-k", "--keep-going", action="store_true", help="keep going when a target fails"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run up to N independent steps, and N API calls of a step, at once",
    )
    parser.add_argument("--explain", action="store_true", help="say why each target is (not) made")
    parser.add_argument(
        "-p",
        dest="plugins",
        action="append",
        default=[],
        metavar="MODULE",
        help="load a plugin module; -p no:NAME blocks one",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="say more")
    parser.add_argument(
        "--endpoint", metavar="ENDPOINT", help="local, sandbox, production or a URL"
    )
    parser.add_argument("--sandbox", action="store_true", help="same as --endpoint sandbox")
    parser.add_argument(
        "--yes", action="store_true", help="answer yes to confirmations (never lifts the budget)"
    )
    parser.add_argument(
        "--wait",
        nargs="?",
        const="inf",
        default=None,
        metavar="TIMEOUT",
        help="poll until remote work is final; --wait=TIMEOUT (e.g. 2h) gives up after TIMEOUT",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds between polls with --wait (default 60)",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for another run's project lock",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show a traceback for expected errors too"
    )
    if targets:
        parser.add_argument("targets", nargs="*", metavar="TARGET")
    else:
        parser.add_argument("words", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run mturkmake; return the exit code (see :class:`~mturkmake.errors.ExitCode`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # --wait takes its TIMEOUT only as --wait=T: otherwise "--wait survey.results" would read
    # the target as the timeout (argparse's nargs="?" is greedy).
    args = ["--wait=inf" if arg == "--wait" else arg for arg in args]
    show_traceback = "--traceback" in args
    try:
        return int(_main(args))
    except MturkmakeError as exc:
        if show_traceback:
            _print_traceback()
        print(f"{PROG}: {exc.one_line()}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, as Python's docs recommend, and
        # point stdout at devnull so the flush at exit cannot raise again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.ERROR)
    except Exception as exc:
        line = _environment_error(exc)
        if line is None:
            raise  # a bug: show its traceback
        if show_traceback:
            _print_traceback()
        print(f"{PROG}: {line}", file=sys.stderr)
        return int(ExitCode.ERROR)


def _print_traceback() -> None:
    import traceback  # with textwrap: only when asked for

    traceback.print_exc()


#: OS errors that come from the machine, not from a bug: each with what to do about it.
_OS_HINTS: dict[int, str] = {
    errno.EACCES: "check the permissions of the file and its directory",
    errno.EPERM: "check the permissions of the file and its directory",
    errno.EROFS: "the file system is read-only; run in a writable directory",
    errno.ENOSPC: "free some disk space and run again (what was done so far is recorded)",
    errno.EDQUOT: "free some disk space and run again (what was done so far is recorded)",
    errno.EFBIG: "a file-size limit was reached (ulimit -f); raise it and run again",
    errno.EISDIR: "a directory is where a file belongs; move it away",
    errno.ENOTDIR: "a file is where a directory belongs; move it away",
    errno.ELOOP: "a symbolic link points to itself; fix the link",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.EIO: "the disk reported an error; check it and run again",
}

#: SQLite's messages for the same kind of trouble with ``.mturkmake/state.db``.
_SQLITE_TROUBLE = (
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
    "attempt to write a readonly database",
    "database is locked",
    "file is not a database",
)


def _environment_error(exc: BaseException) -> str | None:
    """One line for an error of the machine (permissions, a full disk…); ``None`` for a bug."""
    if isinstance(exc, OSError) and exc.errno in _OS_HINTS:
        name = str(exc.filename) if exc.filename is not None else "mturkmake"
        with contextlib.suppress(ValueError, OSError):
            relative = os.path.relpath(name)
            name = name if relative.startswith("..") else relative
        return f"{name}: {exc.strerror or exc} — {_OS_HINTS[exc.errno]}"
    if type(exc).__module__ == "sqlite3" and any(
        text in str(exc).lower() for text in _SQLITE_TROUBLE
    ):
        return (
            f".mturkmake/: {exc} (SQLite) — check that the project directory is writable and "
            "the disk has space, then run again (the ledger keeps what was done)"
        )
    return None


def _main(argv: list[str]) -> ExitCode | int:
    # A first pass finds -C, -p and the command words; plugin options are not known yet.
    boot, _unknown = _global_parser(targets=False).parse_known_args(argv)
    if boot.version:
        from mturkmake import __version__

        print(f"{PROG} {__version__}")
        return ExitCode.OK

    from mturkmake.core import config as config_module
    from mturkmake.core.lazy_plugins import first_words
    from mturkmake.core.plugins import (
        LOCAL_PLUGIN_FILE,
        PluginHost,
        blocked_from_env,
        command_names,
        make_plugin_manager,
    )
    from mturkmake.hookspecs import STATE_DIR

    start = Path(boot.directory) if boot.directory else Path.cwd()
    if not start.is_dir():
        raise UsageError(f"-C {boot.directory}: no such directory")
    root = config_module.find_root(start)
    table = config_module.read_project_table(root)

    blocked = [p[3:] for p in boot.plugins if p.startswith("no:")]
    blocked += blocked_from_env(os.environ)
    modules = config_module.project_plugins(table)
    option_modules = [p for p in boot.plugins if not p.startswith("no:")]
    reporter = _make_reporter(boot.verbose)
    pm = make_plugin_manager(
        modules=modules,
        option_modules=option_modules,
        blocked=blocked,
        local_file=root / LOCAL_PLUGIN_FILE,
        extra=[(reporter, "reporter")] if reporter is not None else [],
        cache_dir=root / STATE_DIR,
    )
    host = PluginHost(pm)

    if boot.help_config:
        _print_config_keys(host)
        return ExitCode.OK
    words: list[str] = boot.words
    # Only a word that starts a command's name needs the commands themselves: a target
    # leaves every command's module unimported (#17).
    names = command_names(pm)
    commands: list[CommandSpec] = []
    if boot.help or (words and words[0] in first_words(names)):
        commands = host.commands()
    spec, consumed = _match_command(commands, words)
    if spec is None and words:
        _refuse_mistyped_command(root, names, words[0])
    if boot.help and spec is None:
        parser = _global_parser(targets=True)
        host.add_options(parser)
        parser.print_help()
        _print_command_list(commands)
        return ExitCode.OK

    if spec is not None:
        # Global options come before the command name, or (double-dash) after it: the CLT's
        # flags are single-dash, so `getResults … --endpoint local` is unambiguous.
        prefix_parser = _global_parser(targets=False)
        host.add_options(prefix_parser)
        late, rest = _split_global_options(prefix_parser, spec, words[consumed:])
        options = prefix_parser.parse_args([*argv[: len(argv) - len(words)], *late])
        _check_options(options)
        command_args = _parse_command(spec, rest)
        if command_args is None:  # -help was printed
            return ExitCode.OK
        flags = _config_flags(options)
        if command_args.get("sandbox"):
            flags["endpoint"] = "sandbox"
        ctx = _context(root, host, table, flags, {**vars(options), **command_args})
        if (spec.spends_money or spec.confirms) and spec.implemented:
            with _project_lock(ctx):
                return spec.handler(command_args, ctx)
        return spec.handler(command_args, ctx)

    # Make mode: options may be interleaved with targets, as GNU make allows.
    parser = _global_parser(targets=True)
    host.add_options(parser)
    options = parser.parse_intermixed_args(argv)
    _check_options(options)
    if not options.targets:
        raise UsageError(
            "no targets specified",
            hint="name a target, e.g. 'mturkmake survey.results', or a command (--help)",
        )
    ctx = _context(root, host, table, _config_flags(options), vars(options))
    return _build(ctx, options)


def _check_options(options: argparse.Namespace) -> None:
    """Refuse bad numbers and durations before anything runs (issue #12), in both modes."""
    if options.jobs < 1:
        raise UsageError(f"-j {options.jobs}: give at least 1 job", hint="e.g. -j 4")
    if not (options.poll > 0 and math.isfinite(options.poll)):
        raise UsageError(
            f"--poll {options.poll:g}: give a positive number of seconds", hint="e.g. --poll 60"
        )
    timeout = options.lock_timeout
    if timeout is not None and not (timeout >= 0 and math.isfinite(timeout)):
        raise UsageError(
            f"--lock-timeout {timeout:g}: give seconds, 0 or more", hint="e.g. --lock-timeout 30"
        )
    text = str(options.wait).strip().lower() if options.wait is not None else "inf"
    if text not in ("", "inf", "forever"):
        from mturkmake.marketplace.clock import parse_duration

        try:
            parse_duration(text)
        except ValueError:
            raise UsageError(
                f"--wait={options.wait}: not a duration",
                hint="write seconds (90) or amounts with units d, h, m, s from the largest down "
                "(90s, 15m, 1h30m, 2d), or --wait alone to wait until done",
            ) from None


def _config_flags(options: argparse.Namespace) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    if options.endpoint:
        flags["endpoint"] = options.endpoint
    if options.sandbox:
        flags["endpoint"] = "sandbox"
    if options.lock_timeout is not None:
        flags["lock_timeout"] = options.lock_timeout
    return flags


def _context(
    root: Path,
    host: PluginHost,
    table: Any,
    flags: Mapping[str, Any],
    options: Mapping[str, Any],
) -> Context:
    from mturkmake.core.config import CORE_KEYS, build_config
    from mturkmake.hookspecs import Context

    config = build_config(
        root,
        keys=[*CORE_KEYS, *host.config_keys()],
        table=table,
        layers=host.config_layers(root),
        flags=flags,
    )
    host.configure(config)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    return Context(
        root=root, config=config, host=host, options=dict(options), interactive=interactive
    )


def _build(ctx: Context, options: argparse.Namespace) -> int:
    from mturkmake.core.state import StateDB

    # Targets are relative to -C DIR when given (make changes directory first), else the cwd.
    base = Path(options.directory) if options.directory else Path.cwd()
    goals = [_normalise_target(ctx.root, base, t) for t in options.targets]
    state = StateDB(ctx.config.state_dir / "state.db")
    if options.dry_run or options.question:
        return _run(ctx, state, options, goals)
    # A build may cause side effects: one run at a time per project (DESIGN §3).
    with _project_lock(ctx):
        return _run(ctx, state, options, goals)


def _project_lock(ctx: Context) -> Any:
    from mturkmake.core.fsio import ProjectLock

    return ProjectLock(
        ctx.config.state_dir / "lock",
        float(ctx.config.get("lock_timeout", 30.0)),
        " ".join([PROG, *sys.argv[1:]]),
    )


def _run(ctx: Context, state: Any, options: argparse.Namespace, goals: list[str]) -> int:
    from mturkmake.core.run import Runner
    from mturkmake.errors import NoRuleError

    runner = Runner(
        ctx,
        state,
        ctx.host.rules(ctx.config),
        dry_run=options.dry_run,
        question=options.question,
        always_make=options.always_make,
        keep_going=options.keep_going,
        jobs=max(1, options.jobs),
        explain=options.explain,
    )
    try:
        return int(runner.build(goals))
    except NoRuleError as exc:
        raise _with_suggestion(exc, ctx, goals) from None


def _normalise_target(root: Path, base: Path, target: str) -> str:
    """A target as a ``/``-separated path relative to the project root."""
    path = Path(target)
    absolute = path if path.is_absolute() else (base / path)
    try:
        return absolute.resolve().relative_to(root).as_posix()
    except ValueError:
        raise UsageError(
            f"target '{target}' is outside the project root {root}",
            hint="run mturkmake from inside the project, or use -C",
        ) from None


def _make_reporter(verbosity: int) -> object | None:
    from mturkmake.plugins.reporter import TerminalReporter

    return TerminalReporter(verbosity=verbosity)


# --------------------------------------------------------------------------------------------
# CLT command mode
# --------------------------------------------------------------------------------------------


def _match_command(
    commands: Sequence[CommandSpec], words: Sequence[str]
) -> tuple[CommandSpec | None, int]:
    """The command named by the first word(s) of ``words``; the longest name wins."""
    best: tuple[CommandSpec | None, int] = (None, 0)
    for spec in commands:
        for name in (spec.name, *spec.aliases):
            parts = name.split()
            if list(words[: len(parts)]) == parts and len(parts) > best[1]:
                best = (spec, len(parts))
    return best


def _parse_command(spec: CommandSpec, argv: Sequence[str]) -> dict[str, Any] | None:
    """Parse a command's flags (``-flag`` or ``--flag``, never abbreviated)."""
    parser = _Parser(
        prog=f"{PROG} {spec.name}", description=spec.help, allow_abbrev=False, add_help=False
    )
    parser.add_argument(
        "-h", "-help", "--help", dest="__help", action="store_true", help="show this help and exit"
    )
    for flag in spec.flags:
        names = [f"-{flag.name}", f"--{flag.name}"]
        if flag.value is None:
            parser.add_argument(*names, dest=flag.name, action="store_true", help=flag.help)
        elif flag.repeat:
            parser.add_argument(
                *names,
                dest=flag.name,
                metavar=flag.value,
                action="append",
                default=flag.default,
                help=flag.help,
            )
        else:
            parser.add_argument(
                *names, dest=flag.name, metavar=flag.value, default=flag.default, help=flag.help
            )
    for positional in spec.positionals:
        parser.add_argument(
            positional.name,
            metavar=positional.value or positional.name.upper(),
            nargs=("+" if positional.required else "*")
            if positional.repeat
            else (None if positional.required else "?"),
            default=positional.default,
            help=positional.help,
        )
    # Help first: a subcommand with required arguments still answers --help.
    if any(arg in ("-h", "-help", "--help") for arg in argv):
        parser.print_help()
        return None
    parsed = vars(parser.parse_args(list(argv)))
    if parsed.pop("__help"):
        parser.print_help()
        return None
    for flag in spec.flags:
        if flag.required and parsed.get(flag.name) in (None, []):
            raise UsageError(
                f"{spec.name}: missing required flag -{flag.name}",
                hint=f"see '{PROG} {spec.name} -help'",
            )
    return parsed


def _print_command_list(commands: Sequence[CommandSpec]) -> None:
    if not commands:
        return
    print("\ncommands:")
    for spec in sorted(commands, key=lambda s: s.name.lower()):
        later = "" if spec.implemented else " (not implemented yet)"
        print(f"  {spec.name:<34} {spec.help}{later}")


# --------------------------------------------------------------------------------------------
# Help for keys and typos
# --------------------------------------------------------------------------------------------


def _print_config_keys(host: PluginHost) -> None:
    """``--help-config``: every key the core and the loaded plugins declare."""
    from mturkmake.core.config import CORE_KEYS

    print("configuration keys (mturkmake.toml, [tool.mturkmake] in pyproject.toml):")
    for key in sorted([*CORE_KEYS, *host.config_keys()], key=lambda k: k.name):
        types = key.type if isinstance(key.type, tuple) else (key.type,)
        kind = " or ".join(t.__name__ for t in types)
        env = f", env MTURKMAKE_{key.name.upper()}" if key.env else ""
        default = "unset" if key.default is None else repr(key.default)
        print(f"  {key.name} ({kind}, default {default}{env})")
        if key.help:
            print(f"      {key.help}")


def _split_global_options(
    parser: argparse.ArgumentParser, spec: CommandSpec, words: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Take the double-dash global options (``--endpoint X``, ``--yes``) out of a CLT
    command's words; a command's own ``--flag`` of the same name stays the command's."""
    own = {f"--{flag.name}" for flag in (*spec.flags, *spec.positionals)} | {"--help"}
    takes_value = {
        option: action.nargs != 0
        for action in parser._actions  # argparse has no public list of its option strings
        for option in action.option_strings
        if option.startswith("--")
    }
    late: list[str] = []
    rest: list[str] = []
    items = iter(words)
    for word in items:
        name = word.split("=", 1)[0]
        if name in takes_value and name not in own:
            late.append(word)
            if takes_value[name] and "=" not in word:
                value = next(items, None)
                if value is not None:
                    late.append(value)
            continue
        rest.append(word)
    return late, rest


def _close(word: str, names: Sequence[str], cutoff: float) -> str | None:
    import difflib

    folded = {name.lower(): name for name in names}
    if word.lower() in folded:
        return folded[word.lower()]
    found = difflib.get_close_matches(word.lower(), list(folded), n=1, cutoff=cutoff)
    return folded[found[0]] if found else None


def _refuse_mistyped_command(root: Path, names: Sequence[str], word: str) -> None:
    """``approvework`` is no target (no dot, no such file): suggest the command."""
    if word.startswith("-") or "." in word or "/" in word or (root / word).exists():
        return
    suggestion = _close(word, [n.split()[0] for n in names], 0.75)
    if suggestion is not None:
        raise UsageError(f"unknown command '{word}'", hint=f"did you mean '{suggestion}'?")


def _with_suggestion(exc: MturkmakeError, ctx: Context, goals: Sequence[str]) -> MturkmakeError:
    """Add make-style ``did you mean 'senti.approved'?`` to "No rule to make target 'X'."."""
    goal = next((g for g in goals if exc.message == f"No rule to make target '{g}'."), None)
    if goal is None or exc.hint:
        return exc
    from mturkmake.core.graph import match, substitute
    from mturkmake.errors import NoRuleError

    rules = ctx.host.rules(ctx.config)
    folder = (ctx.root / goal).parent
    known = (
        {p.relative_to(ctx.root).as_posix() for p in folder.iterdir() if p.is_file()}
        if folder.is_dir()
        else set()
    )
    for _ in range(4):  # targets makeable from files, then from those targets (a chain)
        for rule in rules:
            for pattern in rule.prerequisites[:1]:
                for name in list(known):
                    stem = match(pattern, name)
                    if stem is not None:
                        known.add(substitute(rule.target, stem))
    suggestion = _close(goal, sorted(known), 0.6)
    if suggestion is None:
        return exc
    return NoRuleError(exc.message.rstrip("."), hint=f"did you mean '{suggestion}'?")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
