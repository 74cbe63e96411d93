"""The console of the CLT's review commands: lines, the ENTER confirmation, the comment prompt.

approveWork, rejectWork and reviewResults print what the CLT printed (seed 003's Output
sections, the CLT 1.3.1 ``AbstractCmd``): ``To confirm this operation, please press ENTER (or
press Ctrl+C to abort):`` and the two-line comment prompt. As DESIGN §8 requires, ``-force``
(or ``--yes``) skips both, and without a terminal a command that must confirm refuses instead
of waiting for input that cannot come.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mturkmake.errors import ConfirmationRefused
from mturkmake.hookspecs import Context, Event

__all__ = ["CONFIRM_LINE", "ask_comment", "confirm", "error", "forced", "say"]

CONFIRM_LINE = "To confirm this operation, please press ENTER (or press Ctrl+C to abort): "
COMMENT_LINES = (
    "If you would like to supply a comment to the worker(s), please type it below then press "
    "ENTER.",
    "If not, just hit ENTER:",
)


def say(ctx: Context, line: str) -> None:
    """Print one console line (stdout)."""
    ctx.report(Event("info", line))


def error(ctx: Context, line: str) -> None:
    """Print one failure line (stderr)."""
    ctx.report(Event("error", line))


def forced(args: Mapping[str, Any], ctx: Context) -> bool:
    """Whether ``-force`` or the global ``--yes`` was given."""
    return bool(args.get("force") or ctx.options.get("force") or ctx.options.get("yes"))


def _read_line() -> str:
    try:
        return input()
    except EOFError:
        return ""


def confirm(ctx: Context, args: Mapping[str, Any], message: str) -> None:
    """Ask the CLT's ENTER confirmation, unless forced.

    :raises ConfirmationRefused: no terminal to ask on (nothing was sent).
    """
    if forced(args, ctx):
        return
    if not ctx.interactive:
        raise ConfirmationRefused(
            f"{message.rstrip('.')}: this needs a confirmation and there is no terminal; "
            "nothing was sent",
            hint="run again with -force",
        )
    say(ctx, message)
    say(ctx, CONFIRM_LINE)
    _read_line()


def ask_comment(ctx: Context, args: Mapping[str, Any]) -> str | None:
    """The CLT's comment prompt; ``None`` when forced (no comment, as the CLT)."""
    if forced(args, ctx) or not ctx.interactive:
        return None
    for line in COMMENT_LINES:
        say(ctx, line)
    return _read_line()
