"""Every CLT command not implemented yet: parses its flags, answers ``-help``, then says so.

This built-in contributes, for each command of :data:`~mturkmake.plugins.clt_catalog.CLT_COMMANDS`,
a :class:`~mturkmake.hookspecs.CommandSpec` whose handler is a :class:`PlaceholderHandler`. The
handler runs only after ``cli.py`` parsed the flags (so a mistyped flag or a missing required
one is still a usage error), checks the ``one_of`` groups, then raises
:class:`~mturkmake.errors.NotImplementedCommand`: exit 2, one line, never a pretended success.

When a plugin implements a command, ``cli.py`` keeps its spec and drops the placeholder of the
same name. It recognises placeholders with :func:`is_placeholder`, or without importing this
module by the marker attribute ``spec.handler.mturkmake_placeholder is True``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mturkmake import __version__
from mturkmake.errors import NotImplementedCommand
from mturkmake.hookspecs import PLACEHOLDER_MARK, CommandSpec, Context, hookimpl
from mturkmake.plugins.clt_catalog import CLT_COMMANDS, CltCommand, check_one_of

__all__ = ["PlaceholderHandler", "mturkmake_commands", "placeholder_specs"]

#: The name of the attribute that marks a placeholder handler.
MARKER = PLACEHOLDER_MARK


class PlaceholderHandler:
    """A command handler that refuses honestly: ``<name> is not implemented yet``."""

    #: Read by ``cli.py`` (via :func:`is_placeholder`) to prefer a real implementation.
    mturkmake_placeholder = True

    def __init__(self, command: CltCommand) -> None:
        self.command = command

    def __call__(self, args: Mapping[str, Any], ctx: Context) -> int:
        """Validate the parsed flags like the real command would, then raise.

        :raises UsageError: an unmet ``one_of`` group (the user's mistake comes first).
        :raises NotImplementedCommand: always, otherwise.
        """
        check_one_of(self.command, args)
        name = self.command.name
        raise NotImplementedCommand(
            f"{name} is not implemented yet in mturkmake {__version__}",
            hint=f"nothing was done; 'mturkmake --help' lists the commands, '{name} -help' "
            "its flags",
        )

    def __repr__(self) -> str:
        return f"PlaceholderHandler({self.command.name!r})"


def placeholder_specs() -> tuple[CommandSpec, ...]:
    """A placeholder spec for every catalogue command, with the catalogue's flags."""
    return tuple(cmd.spec(PlaceholderHandler(cmd)) for cmd in CLT_COMMANDS)


@hookimpl(trylast=True)
def mturkmake_commands() -> Sequence[CommandSpec]:
    """Every CLT command, as a placeholder; real implementations win (see module doc)."""
    return placeholder_specs()
