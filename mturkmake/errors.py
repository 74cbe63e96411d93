"""The exception tree and the exit codes.

Two families (house style §12): :class:`MturkmakeError` and its subclasses are *expected*
errors — bad input, a refused confirmation, a service error — shown as one line and mapped
to exit code 2 by :mod:`mturkmake.cli`, never with a traceback. Anything else is a bug and
shows its traceback. Only ``cli.py`` maps exceptions to exit codes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, the same in make mode and CLT command mode.

    This departs from the CLT, which exited 0 or -1 (DESIGN §8): negative codes are not
    portable, and make's 0/1/2 convention lets mturkmake sit inside Makefiles and scripts.
    """

    #: Done. An incomplete target without ``--wait`` also exits 0 and says so.
    OK = 0
    #: ``-q`` (question mode) found a target that would be rebuilt.
    WORK_PENDING = 1
    #: An error: bad input, a refused confirmation, a failed build, a service error.
    ERROR = 2
    #: Interrupted by Ctrl-C (128 + SIGINT), as shells report it.
    INTERRUPTED = 130


class MturkmakeError(Exception):
    """An expected error: printed as one line, exit code 2, no traceback.

    :param message: what is wrong, in one sentence.
    :param file: the file at fault, if any (shown first, as compilers do).
    :param line: the 1-based line in ``file``.
    :param column: the 1-based column in ``file`` (or a column name, for tab files).
    :param hint: what to do about it; appended after an em dash.
    """

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The single line the user sees: ``file:line:col: message — hint``."""
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
                if isinstance(self.column, int):
                    where += f":{self.column}"
            where += ": "
        text = self.message
        if isinstance(self.column, str):
            text = f"column '{self.column}': {text}"
        if self.hint:
            text = f"{text} — {self.hint}"
        return f"{where}{text}"


class UsageError(MturkmakeError):
    """The command line is wrong: an unknown flag, a missing argument."""


class ConfigError(MturkmakeError):
    """A configuration file or variable is malformed, unknown or of the wrong type."""


class FormatError(MturkmakeError):
    """A file does not follow its format; carries file, line and (where it helps) column."""


class PluginError(MturkmakeError):
    """A plugin cannot be loaded or does not match the hook specifications."""


class NoRuleError(MturkmakeError):
    """No rule makes a target and it does not exist (GNU make's wording)."""


class CycleError(MturkmakeError):
    """The rules form a cycle."""


class BuildError(MturkmakeError):
    """A target's action failed; with ``-k`` other targets go on."""


class ServiceError(MturkmakeError):
    """MTurk answered with an error, retries ran out, or credentials are missing.

    :param operation: the API operation, e.g. ``CreateHIT``.
    :param turk_error_code: MTurk's ``TurkErrorCode`` when the service gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        turk_error_code: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.operation = operation
        self.turk_error_code = turk_error_code
        text = f"{operation}: {message}"
        if turk_error_code:
            text += f" ({turk_error_code})"
        super().__init__(text, hint=hint)


class FileError(MturkmakeError):
    """A file or directory cannot be read or written: permissions, a directory where a file
    belongs, a read-only or full disk. The machine's trouble, not a bug: one line, exit 2."""


class LockTimeout(MturkmakeError):
    """Another run holds the project lock for longer than ``--lock-timeout``."""


class StateError(MturkmakeError):
    """``.mturkmake/`` cannot be used: written by a newer mturkmake, or damaged."""


class LedgerError(MturkmakeError):
    """The ledger refuses an operation that could move money twice, or cannot resolve one."""


class BudgetExceeded(MturkmakeError):
    """A step would take the committed exposure past ``budget``; nothing was sent."""


class ConfirmationRefused(MturkmakeError):
    """A confirmation was declined, or needed but no terminal was there to ask."""


class EndpointError(MturkmakeError):
    """An endpoint is unknown, unsafe, or differs from the batch's."""


class NotImplementedCommand(MturkmakeError):
    """A documented CLT command that this version does not implement yet (exit 2, says so)."""


__all__ = [
    "BudgetExceeded",
    "BuildError",
    "ConfigError",
    "ConfirmationRefused",
    "CycleError",
    "EndpointError",
    "ExitCode",
    "FileError",
    "FormatError",
    "LedgerError",
    "LockTimeout",
    "MturkmakeError",
    "NoRuleError",
    "NotImplementedCommand",
    "PluginError",
    "ServiceError",
    "StateError",
    "UsageError",
]
